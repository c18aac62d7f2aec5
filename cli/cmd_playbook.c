/*
 * cmd_playbook.c - fairlead playbook validate|test: a playbook file checked
 * by the server, and what it would do with given events (a dry run against
 * the server's devices). Neither changes anything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"

#define PLAYBOOK_FILE_MAX (256 * 1024)
#define EVENTS_FILE_MAX	  (8 * 1024 * 1024)

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static int read_file(struct fl_buf *b, struct cli_ctx *ctx, const char *path, size_t max,
		     struct fl_err *err)
{
	fl_buf_init(b, max);
	if (fl_fs_read(b, path, err) < 0)
		return cli_usage(ctx, err, "%s", err->msg);
	return 0;
}

static int cli_playbook_validate(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	struct fl_buf b = FL_BUF_INIT, target = FL_BUF_INIT;
	json_t *reply = NULL;
	int rc;

	if ((rc = read_file(&b, ctx, a->pos[0], PLAYBOOK_FILE_MAX, err)) < 0)
		goto cleanup;
	if ((rc = cli_target(&target, "/api/v1/playbooks/validate?file=", base_name(a->pos[0]),
			     NULL)) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api_raw(&reply, ctx, "POST", target.ptr, b.ptr, b.len, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON)
		rc = cli_out_json(ctx->out, json_object_get(reply, "playbook"));
	else
		fprintf(
		    ctx->out, "%s: playbook %s version %lld is valid\n", a->pos[0],
		    json_string_value(json_object_get(json_object_get(reply, "playbook"), "name")),
		    (long long)json_integer_value(
			json_object_get(json_object_get(reply, "playbook"), "version")));
cleanup:
	fl_buf_release(&b);
	fl_buf_release(&target);
	json_decref(reply);
	return rc;
}

/* One line per run: when, how many events, the devices and what was left out. */
static void print_runs(FILE *f, const json_t *reply)
{
	const json_t *events = json_object_get(reply, "events"),
		     *runs = json_object_get(reply, "runs");
	size_t i, j, matched = 0, counts[5] = {0};
	static const char *const verdicts[] = {"fired", "suppressed", "collected", "dropped",
					       "none"};
	json_t *e, *r, *s;

	json_array_foreach (events, i, e) {
		const char *v = json_string_value(json_object_get(e, "throttle"));

		matched += json_is_true(json_object_get(e, "matched"));
		for (j = 0; j < 5; j++)
			if (v && strcmp(v, verdicts[j]) == 0)
				counts[j]++;
	}
	fprintf(f,
		"%zu events, %zu matched: %zu fired, %zu suppressed, %zu collected, %zu dropped\n",
		json_array_size(events), matched, counts[0], counts[1], counts[2], counts[3]);
	fprintf(f, "%zu runs would start (nothing was done)\n", json_array_size(runs));
	json_array_foreach (runs, i, r) {
		const json_t *plan = json_object_get(r, "plan");
		const json_t *limits = json_object_get(plan, "limits");

		fprintf(
		    f,
		    "run %zu: %zu events, %zu devices (at most %lld, %lld at once), %zu left out, "
		    "plan %.12s\n",
		    i + 1, json_array_size(json_object_get(r, "events")),
		    json_array_size(json_object_get(plan, "devices")),
		    (long long)json_integer_value(json_object_get(limits, "max_devices")),
		    (long long)json_integer_value(json_object_get(limits, "concurrency")),
		    json_array_size(json_object_get(plan, "skipped")),
		    json_string_value(json_object_get(plan, "hash")));
		json_array_foreach (json_object_get(plan, "devices"), j, s)
			fprintf(f, "  device %s\n", json_string_value(s));
		json_array_foreach (json_object_get(plan, "skipped"), j, s)
			fprintf(f, "  left out %s: %s\n",
				json_string_value(json_object_get(s, "id")),
				json_string_value(json_object_get(s, "reason")));
		json_array_foreach (json_object_get(plan, "steps"), j, s)
			fprintf(f, "  step %s: %s\n", json_string_value(json_object_get(s, "name")),
				json_string_value(json_object_get(s, "action")));
	}
}

static int cli_playbook_test(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	const char *evpath = cli_args_get(a, "--event");
	struct fl_buf b = FL_BUF_INIT, eb = FL_BUF_INIT;
	json_t *events = NULL, *body = NULL, *reply = NULL;
	int rc;

	if (!evpath)
		return cli_usage(ctx, err, "--event FILE is required (one event or an array)");
	if ((rc = read_file(&b, ctx, a->pos[0], PLAYBOOK_FILE_MAX, err)) < 0 ||
	    (rc = read_file(&eb, ctx, evpath, EVENTS_FILE_MAX, err)) < 0)
		goto cleanup;
	if (fl_json_parse(&events, eb.ptr, eb.len, err) < 0) {
		rc = cli_usage(ctx, err, "%s: %s", evpath, err->msg);
		goto cleanup;
	}
	if (json_is_object(events)) {
		json_t *one = json_pack("[o]", events);

		events = one;
	}
	if (!json_is_array(events)) {
		rc = cli_usage(ctx, err, "%s: an event object or an array of them", evpath);
		goto cleanup;
	}
	if (!(body = json_pack("{s:s,s:s%,s:O}", "file", base_name(a->pos[0]), "playbook", b.ptr,
			       b.len, "events", events))) {
		rc = cli_usage(ctx, err, "%s: the file is not UTF-8 text", a->pos[0]);
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "POST", "/api/v1/playbooks/test", body, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON)
		rc = cli_out_json(ctx->out, reply);
	else
		print_runs(ctx->out, reply);
cleanup:
	fl_buf_release(&b);
	fl_buf_release(&eb);
	json_decref(events);
	json_decref(body);
	json_decref(reply);
	return rc;
}

static const struct cli_optspec test_opts[] = {
    {"--event", NULL, CLI_OPT_VALUE},
    {"--json", NULL, CLI_OPT_FLAG},
    {NULL, NULL, CLI_OPT_FLAG},
};
static const struct cli_optspec json_only[] = {
    {"--json", NULL, CLI_OPT_FLAG},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_cmd playbook_cmds[] = {
    {"validate", "FILE [--json]",
     "Checks a playbook file on the server; prints that it is valid, or the file, line and "
     "problem, and exits non-zero.",
     "-o json: the playbook in canonical JSON\n", json_only, 1, 1, cli_playbook_validate},
    {"test", "FILE --event EVENTS.json [--json]",
     "A dry run: which events the playbook takes, what its throttle does with them, and the "
     "plan of each run it would start (devices, what the blast radius leaves out, steps). "
     "Nothing is done.",
     "options:\n"
     "  --event FILE     one event object, or an array of them, in order\n"
     "-o json: the server's report\n",
     test_opts, 1, 1, cli_playbook_test},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct cli_family cli_playbook_family = {
    "playbook",
    "Playbooks: validate FILE, test FILE --event EVENTS.json (docs/playbooks.md).",
    playbook_cmds,
};

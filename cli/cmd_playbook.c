/*
 * cmd_playbook.c - fairlead playbook: validate|test, a playbook file checked
 * by the server and what it would do with given events (a dry run against
 * the server's devices), neither changing anything; and list|show|apply|
 * delete|enable|disable, the playbooks the server stores.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/util.h"

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

/* ---- stored playbooks ---- */

/* A playbook name as docs/playbooks.md has it: [a-z0-9][a-z0-9-]*, at most 63. */
static int check_name(struct cli_ctx *ctx, const char *name, struct fl_err *err)
{
	size_t len = strlen(name);

	if (len < 1 || len > 63 || name[0] == '-' ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != len)
		return cli_usage(ctx, err, "bad playbook name '%.64s' (use [a-z0-9][a-z0-9-]*)",
				 name);
	return 0;
}

/* METHOD /api/v1/playbooks/NAME[SUFFIX] into *reply. */
static int call_named(json_t **reply, struct cli_ctx *ctx, const char *method, const char *name,
		      const char *suffix, struct fl_err *err)
{
	struct fl_buf target = FL_BUF_INIT;
	int rc;

	*reply = NULL;
	if ((rc = check_name(ctx, name, err)) < 0)
		return rc;
	if (cli_target(&target, "/api/v1/playbooks/", name, suffix) < 0)
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
	else
		rc = cli_api(reply, ctx, method, target.ptr, NULL, err);
	fl_buf_release(&target);
	return rc;
}

static int cli_playbook_list(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	static const char *const headers[] = {"NAME",	"VERSION", "ENABLED",	 "TRIGGER",
					      "SOURCE", "UPDATED", "DESCRIPTION"};
	static const char *const keys[] = {"name",   "version",	   "enabled",	 "trigger",
					   "source", "updated_at", "description"};
	json_t *reply = NULL, *pbs;
	int rc;

	if ((rc = cli_api(&reply, ctx, "GET", "/api/v1/playbooks", NULL, err)) < 0)
		goto cleanup;
	if (!json_is_array(pbs = json_object_get(reply, "playbooks"))) {
		rc = fl_err_set(err, FL_ERROR, "the server's reply has no playbook list");
		goto cleanup;
	}
	rc = cli_out_list(ctx->out, ctx->format, pbs, FL_ARRAY_SIZE(keys), headers, keys);
cleanup:
	json_decref(reply);
	return rc;
}

static int cli_playbook_show(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	struct fl_buf when = FL_BUF_INIT;
	json_t *reply = NULL, *def, *step;
	size_t i;
	int rc;

	if ((rc = call_named(&reply, ctx, "GET", a->pos[0], NULL, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON) {
		rc = cli_out_json(ctx->out, reply);
		goto cleanup;
	}
	def = json_object_get(reply, "definition");
	if ((rc = cli_fmt_time(&when, json_object_get(reply, "updated_at"))) < 0)
		goto cleanup;
	fprintf(ctx->out, "name:         %s\n", json_string_value(json_object_get(reply, "name")));
	fprintf(ctx->out, "version:      %lld\n",
		(long long)json_integer_value(json_object_get(reply, "version")));
	fprintf(ctx->out, "enabled:      %s\n",
		json_is_true(json_object_get(reply, "enabled")) ? "yes" : "no");
	fprintf(ctx->out, "source:       %s\n",
		json_string_value(json_object_get(reply, "source")));
	fprintf(ctx->out, "updated:      %s\n", fl_buf_cstr(&when));
	if (json_is_string(json_object_get(def, "description")))
		fprintf(ctx->out, "description:  %s\n",
			json_string_value(json_object_get(def, "description")));
	fprintf(ctx->out, "trigger:      %s\n",
		json_string_value(json_object_get(json_object_get(def, "trigger"), "type")));
	fprintf(ctx->out, "steps:\n");
	json_array_foreach (json_object_get(def, "steps"), i, step)
		fprintf(ctx->out, "  %zu. %s: %s\n", i + 1,
			json_string_value(json_object_get(step, "name")),
			json_string_value(json_object_get(step, "action")));
	fprintf(ctx->out, "definition (canonical JSON):\n");
	rc = cli_out_json(ctx->out, def);
cleanup:
	fl_buf_release(&when);
	json_decref(reply);
	return rc;
}

/* The file is checked by the server first, which gives the name to PUT it
 * under (the file's own parse, not a guess of the CLI's), then stored. */
static int cli_playbook_apply(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	struct fl_buf b = FL_BUF_INIT, target = FL_BUF_INIT;
	json_t *checked = NULL, *reply = NULL, *pb;
	const char *file = base_name(a->pos[0]), *name, *result;
	int rc;

	if ((rc = read_file(&b, ctx, a->pos[0], PLAYBOOK_FILE_MAX, err)) < 0)
		goto cleanup;
	if (cli_target(&target, "/api/v1/playbooks/validate?file=", file, NULL) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api_raw(&checked, ctx, "POST", target.ptr, b.ptr, b.len, err)) < 0)
		goto cleanup;
	name = json_string_value(json_object_get(json_object_get(checked, "playbook"), "name"));
	if (!name) {
		rc = fl_err_set(err, FL_ERROR, "the server's reply names no playbook");
		goto cleanup;
	}
	fl_buf_clear(&target);
	if (cli_target(&target, "/api/v1/playbooks/", name, "?file=") < 0 ||
	    cli_target(&target, "", file, NULL) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api_raw(&reply, ctx, "PUT", target.ptr, b.ptr, b.len, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON) {
		rc = cli_out_json(ctx->out, reply);
		goto cleanup;
	}
	pb = json_object_get(reply, "playbook");
	result = json_string_value(json_object_get(reply, "result"));
	fprintf(ctx->out, "playbook %s version %lld %s\n", name,
		(long long)json_integer_value(json_object_get(pb, "version")),
		result ? result : "applied");
cleanup:
	fl_buf_release(&b);
	fl_buf_release(&target);
	json_decref(checked);
	json_decref(reply);
	return rc;
}

/* delete, enable and disable: one call, one line ("playbook NAME WHAT"). */
static int change(struct cli_ctx *ctx, const struct cli_args *a, const char *method,
		  const char *suffix, const char *what, struct fl_err *err)
{
	json_t *reply = NULL;
	int rc;

	if ((rc = call_named(&reply, ctx, method, a->pos[0], suffix, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON)
		rc = cli_out_json(ctx->out, reply);
	else
		fprintf(ctx->out, "playbook %s %s\n", a->pos[0], what);
cleanup:
	json_decref(reply);
	return rc;
}

static int cli_playbook_delete(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	return change(ctx, a, "DELETE", NULL, "deleted", err);
}

static int cli_playbook_enable(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	return change(ctx, a, "POST", "/enable", "enabled", err);
}

static int cli_playbook_disable(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	return change(ctx, a, "POST", "/disable", "disabled", err);
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
    {"list", "[--json]",
     "Lists the stored playbooks: name, version, enabled, trigger, source (api or file), "
     "updated, description.",
     "-o json: the array of GET /api/v1/playbooks\n", json_only, 0, 0, cli_playbook_list},
    {"show", "NAME [--json]",
     "Shows one stored playbook: version, enabled, source, trigger, steps and its canonical "
     "definition.",
     "-o json: the stored playbook, its canonical JSON under \"definition\"\n", json_only, 1, 1,
     cli_playbook_show},
    {"apply", "FILE [--json]",
     "Stores a playbook file (YAML or JSON) under the name it gives; prints whether it was "
     "created, updated or unchanged. A change needs a higher version; a playbook loaded from "
     "the server's playbook directory is changed there, not here.",
     "-o json: {\"result\", \"playbook\"}\n", json_only, 1, 1, cli_playbook_apply},
    {"delete", "NAME [--json]", "Deletes a stored playbook (its runs are kept).", NULL, json_only,
     1, 1, cli_playbook_delete},
    {"enable", "NAME [--json]", "Enables a playbook: events start runs of it again.", NULL,
     json_only, 1, 1, cli_playbook_enable},
    {"disable", "NAME [--json]",
     "Disables a playbook: no new run of it starts (also one loaded from the playbook "
     "directory).",
     NULL, json_only, 1, 1, cli_playbook_disable},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct cli_family cli_playbook_family = {
    "playbook",
    "Playbooks: validate FILE, test FILE --event EVENTS.json, list, show NAME, apply FILE, "
    "delete NAME, enable NAME, disable NAME (docs/playbooks.md).",
    playbook_cmds,
};

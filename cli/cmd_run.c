/*
 * cmd_run.c - `fairlead run`: the runs of playbooks. List and show them,
 * start a manual playbook, approve or deny the plan of a run that awaits
 * approval, cancel one. The server decides (docs/playbooks.md); these
 * commands send the request and draw the answer.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fairlead/json.h"
#include "fairlead/util.h"

static const struct cli_optspec list_opts[] = {
    {"--playbook", NULL, CLI_OPT_VALUE},
    {"--state", NULL, CLI_OPT_VALUE},
    {"--limit", NULL, CLI_OPT_VALUE},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec decide_opts[] = {
    {"--plan-hash", NULL, CLI_OPT_VALUE},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec start_opts[] = {
    {"--param", NULL, CLI_OPT_MULTI},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec no_opts[] = {
    {NULL, NULL, CLI_OPT_FLAG},
};

static int cli_run_list(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	static const char *const headers[] = {"ID",	 "PLAYBOOK", "VERSION", "STATE",
					      "CREATED", "ENDED",    "ERROR"};
	static const char *const keys[] = {"id",	 "playbook", "version", "state",
					   "created_at", "ended_at", "error"};
	struct fl_buf target = FL_BUF_INIT;
	const char *pb = cli_args_get(a, "--playbook"), *st = cli_args_get(a, "--state");
	const char *lim = cli_args_get(a, "--limit");
	json_t *reply = NULL, *list;
	char sep = '?';
	int64_t n;
	int rc;

	if (lim && (rc = cli_parse_count(&n, ctx, "--limit", lim, err)) < 0)
		return rc;
	if (fl_buf_addf(&target, "/api/v1/runs") < 0)
		goto oom;
	if (pb) {
		if (!fl_id_valid(pb))
			return cli_usage(ctx, err, "--playbook: bad name '%.64s'", pb);
		if (fl_buf_addf(&target, "%cplaybook=%s", sep, pb) < 0)
			goto oom;
		sep = '&';
	}
	if (st) {
		if (!fl_id_valid(st))
			return cli_usage(ctx, err, "--state: bad state '%.32s'", st);
		if (fl_buf_addf(&target, "%cstate=%s", sep, st) < 0)
			goto oom;
		sep = '&';
	}
	if (lim && fl_buf_addf(&target, "%climit=%s", sep, lim) < 0)
		goto oom;
	if ((rc = cli_api(&reply, ctx, "GET", target.ptr, NULL, err)) < 0)
		goto cleanup;
	if (!json_is_array(list = json_object_get(reply, "runs"))) {
		rc = fl_err_set(err, FL_ERROR, "the server's reply has no run list");
		goto cleanup;
	}
	rc = cli_out_list(ctx->out, ctx->format, list, FL_ARRAY_SIZE(keys), headers, keys);
cleanup:
	fl_buf_release(&target);
	json_decref(reply);
	return rc;
oom:
	fl_buf_release(&target);
	return fl_err_set(err, FL_ENOMEM, "out of memory");
}

static int get_run(json_t **out, struct cli_ctx *ctx, const char *id, struct fl_err *err)
{
	struct fl_buf target = FL_BUF_INIT;
	int rc;

	if (!fl_id_valid(id))
		return cli_usage(ctx, err, "bad run id '%.64s'", id);
	if (cli_target(&target, "/api/v1/runs/", id, NULL) < 0)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	rc = cli_api(out, ctx, "GET", target.ptr, NULL, err);
	fl_buf_release(&target);
	return rc;
}

/* A run as an operator reads it: what started it, the plan an approver
 * approves (its devices and steps, and its hash), and what each step did. */
static int draw_run(FILE *f, const json_t *r)
{
	const json_t *plan = json_object_get(r, "plan"), *v;
	const json_t *trig = json_object_get(r, "trigger");
	struct fl_buf b = FL_BUF_INIT;
	size_t i, ndev = json_array_size(json_object_get(plan, "devices"));
	int64_t ok = 0, bad = 0, open = 0;

	fprintf(f, "run %s  playbook %s v%lld  %s\n", json_string_value(json_object_get(r, "id")),
		json_string_value(json_object_get(r, "playbook")),
		(long long)json_integer_value(json_object_get(r, "version")),
		json_string_value(json_object_get(r, "state")));
	if (json_string_value(json_object_get(r, "error")))
		fprintf(f, "error:      %s\n", json_string_value(json_object_get(r, "error")));
	cli_fmt_time(&b, json_object_get(r, "created_at"));
	fprintf(f, "started:    %s by %s\n", b.ptr ? b.ptr : "-",
		json_string_value(json_object_get(r, "started_by")));
	fl_buf_release(&b);
	fprintf(f, "trigger:    %zu event(s), first %s\n",
		json_array_size(json_object_get(trig, "events")),
		json_string_value(
		    json_object_get(json_array_get(json_object_get(trig, "events"), 0), "kind")));
	fprintf(f, "plan:       %s\n", json_string_value(json_object_get(r, "plan_hash")));
	fprintf(f, "devices:    %zu", ndev);
	json_array_foreach (json_object_get(plan, "devices"), i, v) {
		if (i == 20) {
			fprintf(f, " ...");
			break;
		}
		fprintf(f, "%s%s", i ? ", " : " (", json_string_value(v));
	}
	fprintf(f, "%s\n", ndev ? ")" : "");
	if (json_array_size(json_object_get(plan, "skipped")) > 0)
		fprintf(f, "skipped:    %zu (blast radius, conditions)\n",
			json_array_size(json_object_get(plan, "skipped")));
	fprintf(f, "steps:\n");
	json_array_foreach (json_object_get(plan, "steps"), i, v)
		fprintf(f, "  %zu. %s: %s\n", i + 1, json_string_value(json_object_get(v, "name")),
			json_string_value(json_object_get(v, "action")));
	json_array_foreach (json_object_get(r, "approvals"), i, v)
		fprintf(f, "approval:   %s (%s) %s\n", json_string_value(json_object_get(v, "who")),
			json_string_value(json_object_get(v, "role")),
			json_string_value(json_object_get(v, "decision")));
	json_array_foreach (json_object_get(r, "actions"), i, v) {
		const char *st = json_string_value(json_object_get(v, "state"));

		if (strcmp(st, "ok") == 0)
			ok++;
		else if (strcmp(st, "error") == 0)
			bad++;
		else
			open++;
	}
	fprintf(f, "actions:    %lld ok, %lld failed, %lld under way\n", (long long)ok,
		(long long)bad, (long long)open);
	return 0;
}

static int cli_run_show(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	json_t *run = NULL;
	int rc;

	if ((rc = get_run(&run, ctx, a->pos[0], err)) < 0)
		return rc;
	rc = ctx->format == CLI_FMT_JSON ? cli_out_json(ctx->out, run) : draw_run(ctx->out, run);
	json_decref(run);
	return rc;
}

static int post(json_t **out, struct cli_ctx *ctx, const char *id, const char *what,
		const json_t *body, struct fl_err *err)
{
	struct fl_buf target = FL_BUF_INIT;
	int rc;

	if (cli_target(&target, "/api/v1/runs/", id, what) < 0)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	rc = cli_api(out, ctx, "POST", target.ptr, body, err);
	fl_buf_release(&target);
	return rc;
}

/* Without --plan-hash the plan is the one the server shows now, printed
 * with its hash before it is approved; the server re-plans and refuses an
 * approval when the fleet changed it since. */
static int decide(struct cli_ctx *ctx, const struct cli_args *a, const char *what,
		  struct fl_err *err)
{
	const char *hash = cli_args_get(a, "--plan-hash");
	json_t *run = NULL, *reply = NULL, *body = NULL;
	int rc;

	if (!hash) {
		if ((rc = get_run(&run, ctx, a->pos[0], err)) < 0)
			return rc;
		hash = json_string_value(json_object_get(run, "plan_hash"));
		if (ctx->format != CLI_FMT_JSON)
			draw_run(ctx->out, run);
	}
	if (!hash || !(body = json_pack("{s:s}", "plan_hash", hash))) {
		rc = fl_err_set(err, FL_ERROR, "no plan to decide on");
		goto cleanup;
	}
	if ((rc = post(&reply, ctx, a->pos[0], what, body, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON)
		rc = cli_out_json(ctx->out, reply);
	else
		fprintf(ctx->out, "run %s: %s (plan %s); now %s\n", a->pos[0],
			strcmp(what, "/approve") == 0 ? "approved" : "denied", hash,
			json_string_value(json_object_get(reply, "state")));
cleanup:
	json_decref(body);
	json_decref(reply);
	json_decref(run);
	return rc;
}

static int cli_run_approve(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	return decide(ctx, a, "/approve", err);
}

static int cli_run_deny(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	return decide(ctx, a, "/deny", err);
}

static int cli_run_cancel(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	json_t *reply = NULL;
	int rc;

	if (!fl_id_valid(a->pos[0]))
		return cli_usage(ctx, err, "bad run id '%.64s'", a->pos[0]);
	if ((rc = post(&reply, ctx, a->pos[0], "/cancel", NULL, err)) < 0)
		return rc;
	if (ctx->format == CLI_FMT_JSON)
		rc = cli_out_json(ctx->out, reply);
	else
		fprintf(ctx->out, "run %s cancelled\n", a->pos[0]);
	json_decref(reply);
	return rc;
}

static int cli_run_start(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	const char *words[CLI_MAX_ARGS];
	size_t n = cli_args_all(words, CLI_MAX_ARGS, a, "--param");
	struct fl_buf target = FL_BUF_INIT;
	json_t *params = NULL, *body = NULL, *reply = NULL;
	int rc;

	if (!fl_id_valid(a->pos[0]))
		return cli_usage(ctx, err, "bad playbook name '%.64s'", a->pos[0]);
	if ((rc = cli_labels_parse(&params, ctx, words, n, 0, err)) < 0)
		return rc;
	if (!(body = json_pack("{s:o}", "params", params)) ||
	    cli_target(&target, "/api/v1/playbooks/", a->pos[0], "/run") < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "POST", target.ptr, body, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON)
		rc = cli_out_json(ctx->out, reply);
	else
		rc = draw_run(ctx->out, reply);
cleanup:
	fl_buf_release(&target);
	json_decref(reply);
	json_decref(body);
	return rc;
}

static const struct cli_cmd run_cmds[] = {
    {"list", "[--playbook NAME] [--state STATE] [--limit N]", "Lists runs, newest first.",
     "options:\n"
     "  --playbook NAME  only the runs of this playbook\n"
     "  --state STATE    awaiting_approval, running, succeeded, failed, halted, cancelled,\n"
     "                   denied or expired\n"
     "  --limit N        at most N runs (default 100)\n",
     list_opts, 0, 0, cli_run_list},
    {"show", "ID", "Shows a run: its trigger, its plan and the plan's hash, approvals, actions.",
     NULL, no_opts, 1, 1, cli_run_show},
    {"start", "PLAYBOOK [--param K=V]...",
     "Starts a playbook whose trigger is manual (or a schedule) now; params are event.params.",
     NULL, start_opts, 1, 1, cli_run_start},
    {"approve", "ID [--plan-hash HASH]",
     "Approves the plan of a run that awaits approval: the plan shown, or the one with HASH. "
     "Refused when the plan changed since.",
     NULL, decide_opts, 1, 1, cli_run_approve},
    {"deny", "ID [--plan-hash HASH]", "Denies a run that awaits approval; it ends.", NULL,
     decide_opts, 1, 1, cli_run_deny},
    {"cancel", "ID", "Cancels a run: it takes no further action.", NULL, no_opts, 1, 1,
     cli_run_cancel},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct cli_family cli_run_family = {
    "run",
    "Playbook runs: list, show, start, approve, deny, cancel (docs/playbooks.md).",
    run_cmds,
};

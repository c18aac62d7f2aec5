/*
 * cmd_rollout.c - `fairlead rollout`: start a canary rollout, list them,
 * show one (once, or redrawn every second with --watch), pause, resume,
 * abort, promote. The server decides everything (docs/rollouts.md); these
 * commands only send the request and draw the answer.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/relref.h"
#include "fairlead/util.h"

#define MAX_SLOS 8

static const struct cli_optspec start_opts[] = {
    {"--selector", NULL, CLI_OPT_VALUE},
    {"--stages", NULL, CLI_OPT_VALUE},
    {"--bake", NULL, CLI_OPT_VALUE},
    {"--max-updating", NULL, CLI_OPT_VALUE},
    {"--min-devices", NULL, CLI_OPT_VALUE},
    {"--timeout", NULL, CLI_OPT_VALUE},
    {"--window", NULL, CLI_OPT_VALUE},
    {"--window-duration", NULL, CLI_OPT_VALUE},
    {"--tz", NULL, CLI_OPT_VALUE},
    {"--slo", NULL, CLI_OPT_MULTI},
    {"--gates", NULL, CLI_OPT_VALUE},
    {"--id", NULL, CLI_OPT_VALUE},
    {"--no-require-sli", NULL, CLI_OPT_FLAG},
    {"--json", NULL, CLI_OPT_FLAG},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec list_opts[] = {
    {"--state", NULL, CLI_OPT_VALUE},
    {"--json", NULL, CLI_OPT_FLAG},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec status_opts[] = {
    {"--watch", NULL, CLI_OPT_FLAG},
    {"--json", NULL, CLI_OPT_FLAG},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec json_opts[] = {
    {"--json", NULL, CLI_OPT_FLAG},
    {NULL, NULL, CLI_OPT_FLAG},
};

static int dur_opt(json_t *body, struct cli_ctx *ctx, const struct cli_args *a, const char *opt,
		   const char *key, struct fl_err *err)
{
	const char *s = cli_args_get(a, opt);
	int64_t v;

	if (!s)
		return 0;
	/* "0" is a valid bake: promote as soon as the stage's devices finish. */
	if (strcmp(s, "0") == 0)
		v = 0;
	else if (fl_duration_parse(&v, s, err) < 0)
		return cli_usage(ctx, err, "%s: bad duration '%.32s' (e.g. 90s, 10m, 1h)", opt, s);
	json_object_set_new(body, key, json_integer(v));
	return 0;
}

static int count_opt(json_t *body, struct cli_ctx *ctx, const struct cli_args *a, const char *opt,
		     const char *key, struct fl_err *err)
{
	const char *s = cli_args_get(a, opt);
	int64_t v;
	int rc;

	if (!s)
		return 0;
	if ((rc = cli_parse_count(&v, ctx, opt, s, err)) < 0)
		return rc;
	json_object_set_new(body, key, json_integer(v));
	return 0;
}

/* "1%,10%,50%,100%" -> ["1%","10%","50%","100%"]; the server checks each. */
static int stages_opt(json_t *body, struct cli_ctx *ctx, const char *s, struct fl_err *err)
{
	json_t *arr = json_array();
	const char *p = s;

	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == 0 || len > 16) {
			json_decref(arr);
			return cli_usage(ctx, err,
					 "--stages: a comma-separated list like 1%%,10%%,100%%");
		}
		json_array_append_new(arr, json_stringn(p, len));
		p += len + (comma ? 1 : 0);
		if (comma && !*p) {
			json_decref(arr);
			return cli_usage(ctx, err, "--stages: trailing comma");
		}
	}
	if (json_array_size(arr) == 0) {
		json_decref(arr);
		return cli_usage(ctx, err, "--stages must not be empty");
	}
	json_object_set_new(body, "stages", arr);
	return 0;
}

static int build_start(json_t **out, struct cli_ctx *ctx, const struct cli_args *a,
		       struct fl_err *err)
{
	const char *sel = cli_args_get(a, "--selector"), *s, *win = cli_args_get(a, "--window");
	const char *slos[MAX_SLOS + 1];
	json_t *body = json_object();
	size_t nslo, i;
	int rc = 0;

	*out = NULL;
	if (!sel) {
		rc = cli_usage(ctx, err, "--selector EXPR is required");
		goto cleanup;
	}
	json_object_set_new(body, "release", json_string(a->pos[0]));
	json_object_set_new(body, "selector", json_string(sel));
	if ((s = cli_args_get(a, "--id")))
		json_object_set_new(body, "id", json_string(s));
	if ((s = cli_args_get(a, "--stages")) && (rc = stages_opt(body, ctx, s, err)) < 0)
		goto cleanup;
	if ((rc = dur_opt(body, ctx, a, "--bake", "bake_s", err)) < 0 ||
	    (rc = dur_opt(body, ctx, a, "--timeout", "timeout_s", err)) < 0 ||
	    (rc = count_opt(body, ctx, a, "--max-updating", "max_updating", err)) < 0 ||
	    (rc = count_opt(body, ctx, a, "--min-devices", "min_devices", err)) < 0)
		goto cleanup;
	if (win) {
		const char *d = cli_args_get(a, "--window-duration"), *tz = cli_args_get(a, "--tz");
		int64_t secs;

		if (!d) {
			rc = cli_usage(ctx, err, "--window needs --window-duration DUR");
			goto cleanup;
		}
		if (fl_duration_parse(&secs, d, err) < 0) {
			rc = cli_usage(ctx, err, "--window-duration: bad duration '%.32s'", d);
			goto cleanup;
		}
		json_object_set_new(body, "windows",
				    json_pack("[{s:s,s:I,s:s}]", "cron", win, "duration_s",
					      (json_int_t)secs, "tz", tz ? tz : "UTC"));
	} else if (cli_args_get(a, "--window-duration") || cli_args_get(a, "--tz")) {
		rc = cli_usage(ctx, err, "--window-duration and --tz go with --window");
		goto cleanup;
	}
	nslo = cli_args_all(slos, MAX_SLOS + 1, a, "--slo");
	if (nslo > MAX_SLOS) {
		rc = cli_usage(ctx, err, "at most %d --slo", MAX_SLOS);
		goto cleanup;
	}
	if (nslo) {
		json_t *arr = json_array();

		for (i = 0; i < nslo; i++)
			json_array_append_new(arr, json_string(slos[i]));
		json_object_set_new(body, "slos", arr);
	}
	if (cli_args_has(a, "--no-require-sli"))
		json_object_set_new(body, "require_sli", json_false());
	if ((s = cli_args_get(a, "--gates"))) {
		struct fl_buf b = FL_BUF_INIT;
		json_t *g = NULL;

		if ((rc = fl_fs_read(&b, s, err)) < 0 ||
		    (rc = fl_json_parse_object(&g, (const char *)b.ptr, b.len, err)) < 0) {
			fl_buf_release(&b);
			fl_err_prefix(err, "--gates %s", s);
			rc = cli_usage(ctx, err, "%s", err->msg);
			goto cleanup;
		}
		fl_buf_release(&b);
		json_object_set_new(body, "gates", g);
	}
	*out = body;
	body = NULL; /* now owned by the caller */
cleanup:
	json_decref(body);
	return rc;
}

static int cli_rollout_start(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	json_t *body = NULL, *reply = NULL;
	struct fl_relref rr;
	int rc;

	if (fl_relref_parse(&rr, a->pos[0], err) < 0)
		return cli_usage(ctx, err, "%s", err->msg);
	if ((rc = build_start(&body, ctx, a, err)) < 0)
		return rc;
	if ((rc = cli_api(&reply, ctx, "POST", "/api/v1/rollouts", body, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON) {
		rc = cli_out_json(ctx->out, reply);
	} else {
		fprintf(ctx->out, "rollout %s started: %s to %lld devices (%zu skipped)\n",
			json_string_value(json_object_get(reply, "id")), a->pos[0],
			(long long)json_integer_value(json_object_get(reply, "targets")),
			json_array_size(json_object_get(reply, "skipped")));
	}
cleanup:
	json_decref(body);
	json_decref(reply);
	return rc;
}

static int cli_rollout_list(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	static const char *const headers[] = {"ID",    "RELEASE",  "STATE",
					      "STAGE", "SELECTOR", "CREATED"};
	static const char *const keys[] = {"id",    "release",	"state",
					   "stage", "selector", "created_at"};
	const char *state = cli_args_get(a, "--state");
	struct fl_buf target = FL_BUF_INIT;
	json_t *reply = NULL, *list;
	int rc;

	if (!state)
		state = "all";
	if (strcmp(state, "all") != 0 && strcmp(state, "active") != 0 &&
	    strcmp(state, "running") != 0 && strcmp(state, "paused") != 0 &&
	    strcmp(state, "done") != 0 && strcmp(state, "aborted") != 0)
		return cli_usage(ctx, err,
				 "--state must be all, active, running, paused, done or aborted");
	if (fl_buf_addf(&target, "/api/v1/rollouts?state=%s", state) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "GET", target.ptr, NULL, err)) < 0)
		goto cleanup;
	if (!json_is_array(list = json_object_get(reply, "rollouts"))) {
		rc = fl_err_set(err, FL_ERROR, "the server's reply has no rollout list");
		goto cleanup;
	}
	rc = cli_out_list(ctx->out, ctx->format, list, FL_ARRAY_SIZE(keys), headers, keys);
cleanup:
	fl_buf_release(&target);
	json_decref(reply);
	return rc;
}

static void fmt_num(char *out, size_t cap, const json_t *v)
{
	if (json_is_number(v))
		snprintf(out, cap, "%.4g", json_number_value(v));
	else
		snprintf(out, cap, "-");
}

/* The status view: stage, devices per state, each gate against its
 * threshold, the last decisions. */
static int draw_status(struct cli_ctx *ctx, const json_t *r)
{
	static const char *const headers[] = {"GATE",	  "VERDICT", "VALUE", "THRESHOLD",
					      "BASELINE", "P",	     "N",     "WHY"};
	const json_t *dev = json_object_get(r, "devices");
	const json_t *gates = json_object_get(json_object_get(r, "gates"), "gates");
	const json_t *hist = json_object_get(r, "history"), *g, *h;
	struct cli_table *t = NULL;
	size_t i, nh = json_array_size(hist);
	int rc = 0;

	fprintf(ctx->out, "rollout %s  %s  %s  stage %lld/%lld  cohort %lld of %lld\n",
		json_string_value(json_object_get(r, "id")),
		json_string_value(json_object_get(r, "release")),
		json_string_value(json_object_get(r, "state")),
		(long long)json_integer_value(json_object_get(r, "stage")) + 1,
		(long long)json_integer_value(json_object_get(r, "stages")),
		(long long)json_integer_value(json_object_get(r, "cohort")),
		(long long)json_integer_value(json_object_get(dev, "total")));
	fprintf(ctx->out, "selector: %s\n", json_string_value(json_object_get(r, "selector")));
	if (json_string_length(json_object_get(r, "reason")) > 0)
		fprintf(ctx->out, "reason:   %s\n",
			json_string_value(json_object_get(r, "reason")));
	fprintf(ctx->out,
		"devices:  pending %lld  updating %lld  committed %lld  failed %lld  "
		"rolled_back %lld\n",
		(long long)json_integer_value(json_object_get(dev, "pending")),
		(long long)json_integer_value(json_object_get(dev, "updating")),
		(long long)json_integer_value(json_object_get(dev, "committed")),
		(long long)json_integer_value(json_object_get(dev, "failed")),
		(long long)json_integer_value(json_object_get(dev, "rolled_back")));
	if (json_object_get(r, "gates")) {
		fprintf(ctx->out, "gates:    %s\n",
			json_string_value(json_object_get(json_object_get(r, "gates"), "verdict")));
		if ((rc = cli_table_new(&t, FL_ARRAY_SIZE(headers), headers)) < 0)
			return rc;
		json_array_foreach (gates, i, g) {
			char v[24], th[24], b[24], p[24], n[32];
			const char *cells[8];

			fmt_num(v, sizeof(v), json_object_get(g, "value"));
			fmt_num(th, sizeof(th), json_object_get(g, "threshold"));
			fmt_num(b, sizeof(b), json_object_get(g, "baseline"));
			fmt_num(p, sizeof(p), json_object_get(g, "p_value"));
			snprintf(n, sizeof(n), "%lld/%lld",
				 (long long)json_integer_value(json_object_get(g, "n_canary")),
				 (long long)json_integer_value(json_object_get(g, "n_baseline")));
			cells[0] = json_string_value(json_object_get(g, "name"));
			cells[1] = json_string_value(json_object_get(g, "verdict"));
			cells[2] = v;
			cells[3] = th;
			cells[4] = b;
			cells[5] = p;
			cells[6] = n;
			cells[7] = json_string_value(json_object_get(g, "why"));
			if ((rc = cli_table_row(t, cells)) < 0)
				goto cleanup;
		}
		if ((rc = cli_table_print(ctx->out, t)) < 0)
			goto cleanup;
	} else if (json_object_get(r, "gates_error")) {
		fprintf(ctx->out, "gates:    error: %s\n",
			json_string_value(json_object_get(r, "gates_error")));
	}
	fprintf(ctx->out, "history:\n");
	for (i = nh > 8 ? nh - 8 : 0; i < nh; i++) {
		struct fl_buf when = FL_BUF_INIT;

		h = json_array_get(hist, i);
		cli_fmt_time(&when, json_object_get(h, "at"));
		fprintf(ctx->out, "  %s  %-13s stage %lld  %s\n", when.ptr ? when.ptr : "-",
			json_string_value(json_object_get(h, "kind")),
			(long long)json_integer_value(json_object_get(h, "stage")) + 1,
			json_string_value(json_object_get(h, "actor")));
		fl_buf_release(&when);
	}
cleanup:
	cli_table_free(t);
	return rc;
}

static int cli_rollout_status(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	struct fl_buf target = FL_BUF_INIT;
	int watch = cli_args_has(a, "--watch"), tty = isatty(fileno(ctx->out));
	json_t *reply = NULL;
	int rc;

	if (!fl_id_valid(a->pos[0]))
		return cli_usage(ctx, err, "bad rollout id '%.64s'", a->pos[0]);
	if (cli_target(&target, "/api/v1/rollouts/", a->pos[0], NULL) < 0)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	for (;;) {
		const char *st;

		json_decref(reply);
		reply = NULL;
		if ((rc = cli_api(&reply, ctx, "GET", target.ptr, NULL, err)) < 0)
			break;
		if (ctx->format == CLI_FMT_JSON) {
			rc = cli_out_json(ctx->out, reply);
		} else {
			/* Redraw in place on a terminal; a pipe gets one view per second. */
			if (watch && tty)
				fputs("\033[H\033[2J", ctx->out);
			rc = draw_status(ctx, reply);
		}
		fflush(ctx->out);
		st = json_string_value(json_object_get(reply, "state"));
		if (rc < 0 || !watch || !st ||
		    (strcmp(st, "running") != 0 && strcmp(st, "paused") != 0))
			break;
		if (!tty && ctx->format != CLI_FMT_JSON)
			fputs("\n", ctx->out);
		sleep(1);
	}
	fl_buf_release(&target);
	json_decref(reply);
	return rc;
}

static int control(struct cli_ctx *ctx, const struct cli_args *a, const char *action,
		   const char *done, struct fl_err *err)
{
	struct fl_buf target = FL_BUF_INIT;
	json_t *reply = NULL, *body = json_object();
	char suffix[16];
	int rc;

	if (!fl_id_valid(a->pos[0])) {
		json_decref(body);
		return cli_usage(ctx, err, "bad rollout id '%.64s'", a->pos[0]);
	}
	snprintf(suffix, sizeof(suffix), "/%s", action);
	if (cli_target(&target, "/api/v1/rollouts/", a->pos[0], suffix) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "POST", target.ptr, body, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON)
		rc = cli_out_json(ctx->out, reply);
	else
		fprintf(ctx->out, "rollout %s %s (state %s, stage %lld)\n", a->pos[0], done,
			json_string_value(json_object_get(reply, "state")),
			(long long)json_integer_value(json_object_get(reply, "stage")) + 1);
cleanup:
	fl_buf_release(&target);
	json_decref(reply);
	json_decref(body);
	return rc;
}

static int cli_rollout_pause(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	return control(ctx, a, "pause", "paused", err);
}

static int cli_rollout_resume(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	return control(ctx, a, "resume", "resumed", err);
}

static int cli_rollout_abort(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	return control(ctx, a, "abort", "aborted; touched devices roll back", err);
}

static int cli_rollout_promote(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	return control(ctx, a, "promote", "promoted", err);
}

static const struct cli_cmd rollout_cmds[] = {
    {"start",
     "NAME@VERSION --selector EXPR [--stages 1%,10%,50%,100%] [--bake DUR] [--max-updating N] "
     "[--min-devices N] [--timeout DUR] [--window \"CRON\" --window-duration DUR [--tz ZONE]] "
     "[--slo NAME]... [--gates FILE] [--no-require-sli] [--id ID] [--json]",
     "Starts a canary rollout of a release to the devices the selector matches.",
     "options:\n"
     "  --selector EXPR         target devices (label selector, required)\n"
     "  --stages LIST           percentages P% or device counts N (default 1%,10%,50%,100%)\n"
     "  --bake DUR              time a stage is watched after its devices finished (10m)\n"
     "  --max-updating N        devices updating at once (50)\n"
     "  --min-devices N         at least N devices per stage (1)\n"
     "  --timeout DUR           wait for data after the bake before pausing (2x bake)\n"
     "  --window CRON           assign only in windows starting at CRON (5 fields)\n"
     "  --window-duration DUR   length of each window\n"
     "  --tz ZONE               the window's zone: UTC (default) or +HH:MM\n"
     "  --slo NAME              an SLO whose burn the canaries must keep (repeatable)\n"
     "  --gates FILE            JSON object of gate overrides (docs/rollouts.md)\n"
     "  --no-require-sli        comparison gates without data do not hold the rollout\n"
     "  --id ID                 the rollout's id (default ro-<hex>)\n",
     start_opts, 1, 1, cli_rollout_start},
    {"list", "[--state all|active|running|paused|done|aborted] [--json]",
     "Lists rollouts, newest first.", NULL, list_opts, 0, 0, cli_rollout_list},
    {"status", "ID [--watch] [--json]",
     "Shows a rollout: stage, devices per state, each gate against its threshold, history. "
     "--watch redraws every second until the rollout ends or Ctrl-C.",
     NULL, status_opts, 1, 1, cli_rollout_status},
    {"pause", "ID [--json]", "Pauses a running rollout.", NULL, json_opts, 1, 1, cli_rollout_pause},
    {"resume", "ID [--json]", "Resumes a paused rollout.", NULL, json_opts, 1, 1,
     cli_rollout_resume},
    {"abort", "ID [--json]",
     "Aborts a rollout: every device it touched is assigned its previous release (signed "
     "rollback).",
     NULL, json_opts, 1, 1, cli_rollout_abort},
    {"promote", "ID [--json]", "Skips the rest of the current stage's bake.", NULL, json_opts, 1, 1,
     cli_rollout_promote},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct cli_family cli_rollout_family = {
    "rollout",
    "Canary rollouts: start, list, status [--watch], pause, resume, abort, promote "
    "(docs/rollouts.md).",
    rollout_cmds,
};

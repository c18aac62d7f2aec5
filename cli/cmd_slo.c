/*
 * cmd_slo.c - `fairlead slo` (definitions, budgets, burn rates) and
 * `fairlead alerts` (burn-rate alerts).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/util.h"

/* Definition files are small; the server's body limit is 1 MiB. */
#define SLO_FILE_MAX (1u << 20)

static const struct cli_optspec json_opts[] = {
    {"--json", NULL, CLI_OPT_FLAG},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec alerts_opts[] = {
    {"--json", NULL, CLI_OPT_FLAG},
    {"--state", NULL, CLI_OPT_VALUE},
    {NULL, NULL, CLI_OPT_FLAG},
};

/* --json is a shorthand for -o json on these commands. */
/* digits significant digits, and a unit suffix ("" for none); "-" when
 * v is not a number. */
static void fmt_num(char *out, size_t cap, const json_t *v, int digits, const char *unit)
{
	if (json_is_number(v))
		snprintf(out, cap, "%.*g%s", digits, json_number_value(v), unit);
	else
		snprintf(out, cap, "-");
}

static int cli_slo_list(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	static const char *const headers[] = {"NAME",	     "KIND",   "OBJECTIVE", "PERIOD",
					      "BUDGET-LEFT", "FIRING", "SOURCE"};
	json_t *reply = NULL, *slos, *s;
	struct cli_table *t = NULL;
	size_t i;
	int rc;

	if ((rc = cli_api(&reply, ctx, "GET", "/api/v1/slos", NULL, err)) < 0)
		goto cleanup;
	if (!json_is_array(slos = json_object_get(reply, "slos"))) {
		rc = fl_err_set(err, FL_ERROR, "the server's reply has no SLO list");
		goto cleanup;
	}
	if (ctx->format == CLI_FMT_JSON) {
		rc = cli_out_json(ctx->out, slos);
		goto cleanup;
	}
	if ((rc = cli_table_new(&t, FL_ARRAY_SIZE(headers), headers)) < 0)
		goto cleanup;
	json_array_foreach (slos, i, s) {
		json_t *d = json_object_get(s, "definition");
		json_t *st = json_object_get(s, "status");
		char obj[32], budget[32], firing[16];
		const char *cells[7];

		fmt_num(obj, sizeof(obj), json_object_get(d, "objective"), 6, "");
		fmt_num(budget, sizeof(budget), json_object_get(st, "budget_remaining"), 3, "");
		snprintf(firing, sizeof(firing), "%zu",
			 json_array_size(json_object_get(s, "firing")));
		cells[0] = json_string_value(json_object_get(s, "name"));
		cells[1] = json_string_value(json_object_get(json_object_get(d, "sli"), "kind"));
		cells[2] = obj;
		cells[3] = json_string_value(json_object_get(d, "period"));
		cells[4] = budget;
		cells[5] = firing;
		cells[6] = json_string_value(json_object_get(s, "source"));
		if ((rc = cli_table_row(t, cells)) < 0)
			goto cleanup;
	}
	rc = cli_table_print(ctx->out, t);
cleanup:
	cli_table_free(t);
	json_decref(reply);
	return rc;
}

static int cli_slo_show(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	struct fl_buf target = FL_BUF_INIT;
	json_t *reply = NULL, *d, *st, *al;
	size_t i;
	int rc;

	if (!fl_id_valid(a->pos[0]))
		return cli_usage(ctx, err, "bad SLO name '%.64s'", a->pos[0]);
	if (cli_target(&target, "/api/v1/slos/", a->pos[0], NULL) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "GET", target.ptr, NULL, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON) {
		rc = cli_out_json(ctx->out, reply);
		goto cleanup;
	}
	d = json_object_get(reply, "definition");
	st = json_object_get(reply, "status");
	fprintf(ctx->out, "name:         %s\n", json_string_value(json_object_get(reply, "name")));
	fprintf(ctx->out, "description:  %s\n",
		json_string_value(json_object_get(d, "description")));
	fprintf(ctx->out, "sli:          ");
	{
		struct fl_buf b = FL_BUF_INIT;

		cli_fmt_cell(&b, json_object_get(d, "sli"));
		fprintf(ctx->out, "%s\n", fl_buf_cstr(&b));
		fl_buf_release(&b);
	}
	fprintf(ctx->out, "objective:    %.6g over %s (%s)\n",
		json_number_value(json_object_get(d, "objective")),
		json_string_value(json_object_get(d, "period")),
		json_string_value(json_object_get(d, "budgeting")));
	fprintf(ctx->out, "source:       %s\n",
		json_string_value(json_object_get(reply, "source")));
	if (!json_is_object(st)) {
		fprintf(ctx->out, "status:       not evaluated yet\n");
		goto cleanup;
	}
	fprintf(ctx->out, "budget left:  %.4f\n",
		json_number_value(json_object_get(st, "budget_remaining")));
	fprintf(ctx->out, "alerts:\n");
	json_array_foreach (json_object_get(st, "alerts"), i, al) {
		json_t *tte = json_object_get(al, "time_to_exhaustion_s");
		char tbuf[32];

		fmt_num(tbuf, sizeof(tbuf), tte, 6, "s");
		fprintf(ctx->out,
			"  %-6s %-9s factor %-7.4g burn long %-8.4g short %-8.4g spent %.4f "
			"exhaustion %s%s%s\n",
			json_string_value(json_object_get(al, "severity")),
			json_string_value(json_object_get(al, "pair")),
			json_number_value(json_object_get(al, "factor")),
			json_number_value(json_object_get(al, "burn_rate_long")),
			json_number_value(json_object_get(al, "burn_rate_short")),
			json_number_value(json_object_get(al, "budget_spent")), tbuf,
			json_is_true(json_object_get(al, "firing")) ? "  FIRING" : "",
			json_is_true(json_object_get(al, "guarded")) ? "  (too few events)" : "");
	}
cleanup:
	fl_buf_release(&target);
	json_decref(reply);
	return rc;
}

static int cli_slo_apply(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	struct fl_buf b = FL_BUF_INIT, target = FL_BUF_INIT;
	json_t *def = NULL, *reply = NULL;
	const char *p, *name;
	int rc;

	fl_buf_init(&b, SLO_FILE_MAX);
	if ((rc = fl_fs_read(&b, a->pos[0], err)) < 0) {
		rc = cli_usage(ctx, err, "%s", err->msg);
		goto cleanup;
	}
	for (p = fl_buf_cstr(&b); *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
		;
	if (*p == '{') {
		/* Our JSON format: PUT under the name it gives. */
		if ((rc = fl_json_parse_object(&def, b.ptr, b.len, err)) < 0) {
			rc = cli_usage(ctx, err, "%s: %s", a->pos[0], err->msg);
			goto cleanup;
		}
		name = json_string_value(json_object_get(def, "name"));
		if (!name || !fl_id_valid(name)) {
			rc = cli_usage(ctx, err, "%s: the definition needs a valid \"name\"",
				       a->pos[0]);
			goto cleanup;
		}
		if (cli_target(&target, "/api/v1/slos/", name, NULL) < 0) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
		if ((rc = cli_api(&reply, ctx, "PUT", target.ptr, def, err)) < 0)
			goto cleanup;
		if (ctx->format == CLI_FMT_JSON)
			rc = cli_out_json(ctx->out, reply);
		else
			fprintf(ctx->out, "slo %s applied\n", name);
	} else {
		/* Anything else is OpenSLO YAML, imported as a whole. */
		json_t *names;
		size_t i;

		if ((rc = cli_api_raw(&reply, ctx, "POST", "/api/v1/slos/openslo", b.ptr, b.len,
				      err)) < 0)
			goto cleanup;
		if (ctx->format == CLI_FMT_JSON) {
			rc = cli_out_json(ctx->out, reply);
			goto cleanup;
		}
		names = json_object_get(reply, "imported");
		for (i = 0; i < json_array_size(names); i++)
			fprintf(ctx->out, "slo %s applied (OpenSLO)\n",
				json_string_value(json_array_get(names, i)));
	}
cleanup:
	fl_buf_release(&b);
	fl_buf_release(&target);
	json_decref(def);
	json_decref(reply);
	return rc;
}

static int cli_slo_delete(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	struct fl_buf target = FL_BUF_INIT;
	json_t *reply = NULL;
	int rc;

	if (!fl_id_valid(a->pos[0]))
		return cli_usage(ctx, err, "bad SLO name '%.64s'", a->pos[0]);
	if (cli_target(&target, "/api/v1/slos/", a->pos[0], NULL) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "DELETE", target.ptr, NULL, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON)
		rc = cli_out_json(ctx->out, reply);
	else
		fprintf(ctx->out, "slo %s deleted\n", a->pos[0]);
cleanup:
	fl_buf_release(&target);
	json_decref(reply);
	return rc;
}

static int cli_alerts_list(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	static const char *const headers[] = {"ID",    "SLO",	  "SEVERITY", "PAIR",
					      "STATE", "STARTED", "RESOLVED"};
	static const char *const keys[] = {"id",    "slo",	  "severity",	"pair",
					   "state", "started_at", "resolved_at"};
	const char *state = cli_args_get(a, "--state");
	struct fl_buf target = FL_BUF_INIT;
	json_t *reply = NULL, *alerts;
	int rc;

	if (!state)
		state = "all";
	if (strcmp(state, "firing") != 0 && strcmp(state, "resolved") != 0 &&
	    strcmp(state, "all") != 0)
		return cli_usage(ctx, err, "--state must be firing, resolved or all");
	if (fl_buf_addf(&target, "/api/v1/alerts?state=%s", state) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "GET", target.ptr, NULL, err)) < 0)
		goto cleanup;
	if (!json_is_array(alerts = json_object_get(reply, "alerts"))) {
		rc = fl_err_set(err, FL_ERROR, "the server's reply has no alert list");
		goto cleanup;
	}
	rc = cli_out_list(ctx->out, ctx->format, alerts, FL_ARRAY_SIZE(keys), headers, keys);
cleanup:
	fl_buf_release(&target);
	json_decref(reply);
	return rc;
}

static const struct cli_cmd slo_cmds[] = {
    {"list", "[--json]", "Lists SLOs with their error budget left and firing alerts.", NULL,
     json_opts, 0, 0, cli_slo_list},
    {"show", "NAME [--json]",
     "Shows one SLO: definition, budget left, burn rates and each alert pair.", NULL, json_opts, 1,
     1, cli_slo_show},
    {"apply", "FILE [--json]",
     "Creates or replaces SLOs from FILE: our JSON format, or an OpenSLO v1 YAML file "
     "(detected by content; all SLOs of a YAML file or none).",
     NULL, json_opts, 1, 1, cli_slo_apply},
    {"delete", "NAME [--json]", "Deletes an SLO; its firing alerts resolve.", NULL, json_opts, 1, 1,
     cli_slo_delete},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct cli_family cli_slo_family = {
    "slo",
    "SLOs: list, show, apply FILE, delete (docs/slo.md).",
    slo_cmds,
};

static const struct cli_cmd alerts_cmds[] = {
    {"list", "[--state firing|resolved|all] [--json]",
     "Lists burn-rate alerts, newest first (default: all).",
     "options:\n"
     "  --state STATE    firing, resolved or all\n"
     "  --json           print JSON (same as -o json)\n",
     alerts_opts, 0, 0, cli_alerts_list},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct cli_family cli_alerts_family = {
    "alerts",
    "Burn-rate alerts of the SLOs: list.",
    alerts_cmds,
};

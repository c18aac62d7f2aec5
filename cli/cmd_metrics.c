/*
 * cmd_metrics.c - `fairlead metrics` (a device's or a cohort's SLIs) and
 * `fairlead drift` (a release's input drift per feature).
 */
#include <math.h>
#include <string.h>

#include "cli.h"
#include "fairlead/relref.h"
#include "fairlead/util.h"

/* Appends "&NAME=VALUE" (escaped) to b when value is set. */
static int add_param(struct fl_buf *b, const char *name, const char *value)
{
	int rc;

	if (!value)
		return 0;
	if ((rc = fl_buf_addf(b, "%s%s=", strchr(fl_buf_cstr(b), '?') ? "&" : "?", name)) < 0)
		return rc;
	return fl_url_escape(b, value);
}

static int check_since(struct cli_ctx *ctx, const char *since, struct fl_err *err)
{
	int64_t secs;

	if (since && fl_duration_parse(&secs, since, err) < 0)
		return cli_usage(ctx, err, "--since: %s", err->msg);
	return 0;
}

/* A number for a table: "-" for null, else %.*g. */
static void num(char *out, size_t cap, const json_t *v, int digits)
{
	if (!json_is_number(v))
		snprintf(out, cap, "-");
	else
		snprintf(out, cap, "%.*g", digits, json_number_value(v));
}

static void print_summary(FILE *f, const json_t *reply)
{
	const json_t *s = json_object_get(reply, "summary"),
		     *scope = json_object_get(reply, "scope");
	const json_t *lat = json_object_get(s, "latency_ms");
	char a[32], b[32], c[32];

	fprintf(f, "%-22s ", "scope:");
	if (json_is_string(json_object_get(scope, "device")))
		fprintf(f, "device %s", json_string_value(json_object_get(scope, "device")));
	else if (json_is_string(json_object_get(scope, "selector")))
		fprintf(f, "cohort %s", json_string_value(json_object_get(scope, "selector")));
	else
		fprintf(f, "fleet");
	if (json_is_string(json_object_get(scope, "release")))
		fprintf(f, ", release %s", json_string_value(json_object_get(scope, "release")));
	fprintf(f, "\n%-22s %lld s, step %lld s\n", "window:",
		(long long)(json_integer_value(json_object_get(reply, "to")) -
			    json_integer_value(json_object_get(reply, "from"))),
		(long long)json_integer_value(json_object_get(reply, "step")));
	fprintf(f, "%-22s %lld\n",
		"reports:", (long long)json_integer_value(json_object_get(s, "reports")));
	fprintf(f, "%-22s %lld\n",
		"inferences:", (long long)json_integer_value(json_object_get(s, "inferences")));
	num(a, sizeof(a), json_object_get(s, "error_ratio"), 4);
	fprintf(f, "%-22s %lld (ratio %s)\n",
		"errors:", (long long)json_integer_value(json_object_get(s, "errors")), a);
	num(a, sizeof(a), json_object_get(lat, "p50"), 4);
	num(b, sizeof(b), json_object_get(lat, "p90"), 4);
	num(c, sizeof(c), json_object_get(lat, "p99"), 4);
	fprintf(f, "%-22s p50 %s, p90 %s, p99 %s\n", "latency ms:", a, b, c);
	num(a, sizeof(a), json_object_get(s, "uptime_ratio"), 5);
	fprintf(f, "%-22s %s\n", "uptime ratio:", a);
	num(a, sizeof(a), json_object_get(s, "energy_j"), 6);
	num(b, sizeof(b), json_object_get(s, "energy_per_inference_j"), 4);
	fprintf(f, "%-22s %s J (%s J per inference)\n", "energy:", a, b);
	num(a, sizeof(a), json_object_get(s, "carbon_g"), 6);
	num(b, sizeof(b), json_object_get(s, "carbon_per_inference_g"), 4);
	fprintf(f, "%-22s %s gCO2e (%s g per inference, SCI)\n", "carbon:", a, b);
	fprintf(f, "%-22s %lld alarms in %lld checks\n",
		"drift:", (long long)json_integer_value(json_object_get(s, "drift_alarms")),
		(long long)json_integer_value(json_object_get(s, "drift_checks")));
	if (json_object_get(s, "dropped_reports"))
		fprintf(f, "%-22s %lld\n", "agent dropped reports:",
			(long long)json_integer_value(json_object_get(s, "dropped_reports")));
}

static int print_series(FILE *f, const json_t *series)
{
	static const char *const headers[] = {"TIME",	"INFERENCES", "ERRORS",	     "P50-MS",
					      "P99-MS", "UPTIME",     "CARBON-G/INF"};
	struct cli_table *t = NULL;
	struct fl_buf tb = FL_BUF_INIT;
	size_t i;
	json_t *p;
	int rc;

	if ((rc = cli_table_new(&t, FL_ARRAY_SIZE(headers), headers)) < 0)
		return rc;
	json_array_foreach (series, i, p) {
		char inf[24], errs[24], p50[24], p99[24], up[24], co[24];
		const json_t *lat = json_object_get(p, "latency_ms");
		const char *row[7];

		fl_buf_clear(&tb);
		if ((rc = cli_fmt_time(&tb, json_object_get(p, "ts"))) < 0)
			break;
		num(inf, sizeof(inf), json_object_get(p, "inferences"), 12);
		num(errs, sizeof(errs), json_object_get(p, "errors"), 12);
		num(p50, sizeof(p50), json_object_get(lat, "p50"), 4);
		num(p99, sizeof(p99), json_object_get(lat, "p99"), 4);
		num(up, sizeof(up), json_object_get(p, "uptime_ratio"), 4);
		num(co, sizeof(co), json_object_get(p, "carbon_per_inference_g"), 4);
		row[0] = fl_buf_cstr(&tb);
		row[1] = inf;
		row[2] = errs;
		row[3] = p50;
		row[4] = p99;
		row[5] = up;
		row[6] = co;
		if ((rc = cli_table_row(t, row)) < 0)
			break;
	}
	if (rc == 0)
		rc = cli_table_print(f, t);
	fl_buf_release(&tb);
	cli_table_free(t);
	return rc;
}

static int cli_metrics(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	const char *cohort = cli_args_get(a, "--cohort"), *rel = cli_args_get(a, "--release");
	const char *since = cli_args_get(a, "--since"), *dev = a->npos ? a->pos[0] : NULL;
	struct fl_buf target = FL_BUF_INIT;
	json_t *reply = NULL;
	int rc;

	if (!!dev == !!cohort)
		return cli_usage(ctx, err, "metrics needs a DEVICE or --cohort EXPR (not both)");
	if (dev && !fl_id_valid(dev))
		return cli_usage(ctx, err, "bad device id '%s'", dev);
	if ((rc = check_since(ctx, since, err)) < 0)
		return rc;
	if ((rc = fl_buf_puts(&target, "/api/v1/sli")) < 0 ||
	    (rc = add_param(&target, "device", dev)) < 0 ||
	    (rc = add_param(&target, "selector", cohort)) < 0 ||
	    (rc = add_param(&target, "release", rel)) < 0 ||
	    (rc = add_param(&target, "since", since)) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "GET", target.ptr, NULL, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON) {
		rc = cli_out_json(ctx->out, reply);
		goto cleanup;
	}
	print_summary(ctx->out, reply);
	if (json_array_size(json_object_get(reply, "series")) > 0) {
		fprintf(ctx->out, "\n");
		rc = print_series(ctx->out, json_object_get(reply, "series"));
	}
cleanup:
	fl_buf_release(&target);
	json_decref(reply);
	return rc;
}

static int cli_drift(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	static const char *const headers[] = {"FEATURE",   "SAMPLES", "PSI",	"JS",
					      "THRESHOLD", "JUDGED",  "DRIFTED"};
	static const char *const keys[] = {"feature",	"samples", "psi",    "js",
					   "threshold", "judged",  "drifted"};
	const char *cohort = cli_args_get(a, "--cohort"), *feat = cli_args_get(a, "--feature");
	const char *since = cli_args_get(a, "--since"), *rel = a->pos[0];
	struct fl_buf target = FL_BUF_INIT;
	json_t *reply = NULL;
	struct fl_relref rr;
	int rc;

	if (fl_relref_parse(&rr, rel, err) < 0)
		return cli_usage(ctx, err, "drift needs NAME@VERSION: %s", err->msg);
	if ((rc = check_since(ctx, since, err)) < 0)
		return rc;
	if ((rc = fl_buf_puts(&target, "/api/v1/drift")) < 0 ||
	    (rc = add_param(&target, "release", rel)) < 0 ||
	    (rc = add_param(&target, "selector", cohort)) < 0 ||
	    (rc = add_param(&target, "feature", feat)) < 0 ||
	    (rc = add_param(&target, "since", since)) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "GET", target.ptr, NULL, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON)
		rc = cli_out_json(ctx->out, reply);
	else
		rc = cli_out_list(ctx->out, ctx->format, json_object_get(reply, "features"),
				  FL_ARRAY_SIZE(keys), headers, keys);
cleanup:
	fl_buf_release(&target);
	json_decref(reply);
	return rc;
}

static const struct cli_optspec metrics_opts[] = {
    {"--cohort", NULL, CLI_OPT_VALUE}, {"--release", NULL, CLI_OPT_VALUE},
    {"--since", NULL, CLI_OPT_VALUE},  {"--json", NULL, CLI_OPT_FLAG},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_cmd metrics_cmds[] = {
    {"metrics", "DEVICE|--cohort EXPR [--release NAME[@VERSION]] [--since DURATION] [--json]",
     "Shows SLIs of a device or a label cohort: inferences, errors, latency quantiles, "
     "uptime, energy, carbon per inference (SCI), drift alarms, and the series per step.",
     "options:\n"
     "  --cohort EXPR      a label selector, e.g. site=berlin,hw in (rpi4)\n"
     "  --release REF      only windows of NAME or NAME@VERSION\n"
     "  --since DURATION   how far back (default 1h); the step follows (1m, 5m, 1h)\n"
     "  --json             the server's reply as JSON (same as -o json)\n",
     metrics_opts, 0, 1, cli_metrics},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct cli_family cli_metrics_family = {
    "metrics",
    "SLIs of a device or cohort: latency, errors, uptime, energy, carbon.",
    metrics_cmds,
};

static const struct cli_optspec drift_opts[] = {
    {"--cohort", NULL, CLI_OPT_VALUE}, {"--feature", NULL, CLI_OPT_VALUE},
    {"--since", NULL, CLI_OPT_VALUE},  {"--json", NULL, CLI_OPT_FLAG},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_cmd drift_cmds[] = {
    {"drift", "NAME@VERSION [--cohort EXPR] [--feature F] [--since DURATION] [--json]",
     "Shows the input drift of a release against the baseline in its signed metadata: per "
     "feature the samples, PSI, Jensen-Shannon distance, the sample-size-aware threshold and "
     "whether it drifted.",
     "options:\n"
     "  --cohort EXPR      only devices whose labels match the selector\n"
     "  --feature F        only this feature\n"
     "  --since DURATION   how far back (default 1h)\n"
     "  --json             the server's reply as JSON (same as -o json)\n",
     drift_opts, 1, 1, cli_drift},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct cli_family cli_drift_family = {
    "drift",
    "Input drift of a release per feature against its baseline.",
    drift_cmds,
};

/* test_slo.c - SLO definitions, budgets, burn-rate alerts at their
 * boundaries, and the engine's alert transitions, over a fake SLI source. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/slo.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/sketch.h"
#include "fl_test.h"
#include "store/store.h"

/* 2027-01-15T08:00:00Z: a multiple of 3600, so every window is aligned. */
#define NOW 1800000000LL

/* The fake source: gen fills the aggregate of [t, t + step). */
struct fake {
	void (*gen)(struct fake *f, struct cp_sli_agg *a, int64_t t, int64_t step);
	int64_t inf_per_min; /* inferences per minute */
	int64_t bad_per_min; /* failed per minute */
	int64_t bad_until;   /* bad only before this time (0: always) */
	int calls;
};

static int fake_source(void *ctx, struct cp_sli_agg **out, size_t *n,
		       const struct cp_sli_scope *scope, int64_t from, int64_t to, int64_t step,
		       struct fl_err *err)
{
	struct fake *f = ctx;
	size_t k = (size_t)((to - from) / step);

	(void)scope;
	(void)err;
	cr_assert_eq(from % step, 0);
	cr_assert_eq(to % step, 0);
	*out = calloc(k ? k : 1, sizeof(**out));
	cr_assert_not_null(*out);
	for (size_t i = 0; i < k; i++)
		f->gen(f, &(*out)[i], from + (int64_t)i * step, step);
	*n = k;
	f->calls++;
	return 0;
}

static void gen_errors(struct fake *f, struct cp_sli_agg *a, int64_t t, int64_t step)
{
	for (int64_t m = t; m < t + step; m += 60) {
		a->inferences += f->inf_per_min;
		if (!f->bad_until || m < f->bad_until)
			a->errors += f->bad_per_min;
	}
}

static json_t *def_errors(double objective, const char *period, const char *alerts_json)
{
	char buf[1024];
	json_t *d = NULL;

	snprintf(buf, sizeof(buf),
		 "{\"name\":\"anomaly-errors\",\"sli\":{\"kind\":\"errors\"},\"objective\":%.6g,"
		 "\"period\":\"%s\"%s%s}",
		 objective, period, alerts_json ? ",\"alerts\":" : "",
		 alerts_json ? alerts_json : "");
	cr_assert_eq(fl_json_parse_object(&d, buf, strlen(buf), NULL), 0, "%s", buf);
	return d;
}

static void parse_ok(struct cp_slo *slo, json_t *d)
{
	struct fl_err err = {0, ""};

	cr_assert_eq(cp_slo_parse(slo, d, &err), 0, "%s", err.msg);
	json_decref(d);
}

static int parse_fails(json_t *d, const char *needle)
{
	struct cp_slo slo;
	struct fl_err err = {0, ""};
	int rc = cp_slo_parse(&slo, d, &err);

	json_decref(d);
	cr_assert_eq(rc, FL_EINVAL, "expected refusal containing '%s'", needle);
	cr_assert_not_null(strstr(err.msg, needle), "message '%s' lacks '%s'", err.msg, needle);
	return 1;
}

Test(slo, factors_scale_to_the_period)
{
	struct cp_slo slo;

	cr_assert_float_eq(cp_slo_factor(2, 30 * 86400, 3600), 14.4, 1e-12);
	cr_assert_float_eq(cp_slo_factor(5, 30 * 86400, 6 * 3600), 6, 1e-12);
	cr_assert_float_eq(cp_slo_factor(10, 30 * 86400, 3 * 86400), 1, 1e-12);

	parse_ok(&slo, def_errors(0.999, "28d", NULL));
	cr_assert_eq(slo.npairs, 3);
	cr_assert_float_eq(slo.pairs[0].factor, 13.44, 1e-9);
	cr_assert_float_eq(slo.pairs[1].factor, 5.6, 1e-9);
	cr_assert_float_eq(slo.pairs[2].factor, 0.93333333333, 1e-9);
	cr_assert_str_eq(slo.pairs[0].severity, "page");
	cr_assert_str_eq(slo.pairs[2].severity, "ticket");

	parse_ok(&slo, def_errors(0.999, "7d", NULL));
	cr_assert_float_eq(slo.pairs[0].factor, 3.36, 1e-9);
	cr_assert_float_eq(slo.pairs[1].factor, 1.4, 1e-9);
	cr_assert_float_eq(slo.pairs[2].factor, 0.23333333333, 1e-9);

	/* a 1d period has no room for the 3d ticket window */
	parse_ok(&slo, def_errors(0.999, "1d", NULL));
	cr_assert_eq(slo.npairs, 2);
}

Test(slo, refuses_alerts_that_can_never_fire)
{
	/* At 90% the maximum burn rate is 10: the 14.4x page is impossible. */
	parse_fails(def_errors(0.9, "30d", NULL), "alert page 1h/5m");
	parse_fails(def_errors(0.9, "30d", NULL), "maximum burn rate is 10");
	/* an explicit factor at the maximum cannot fire either (strictly greater) */
	parse_fails(
	    def_errors(0.95, "30d",
		       "[{\"severity\":\"page\",\"long\":\"1h\",\"short\":\"5m\",\"factor\":"
		       "20}]"),
	    "can never fire");
	{
		struct cp_slo slo;

		/* without the impossible pairs 90% is fine */
		parse_ok(&slo, def_errors(0.9, "30d",
					  "[{\"severity\":\"ticket\",\"long\":\"3d\",\"short\":"
					  "\"6h\",\"budget_percent\":10}]"));
		cr_assert_eq(slo.npairs, 1);
	}
}

Test(slo, strict_validation)
{
	json_t *d;

	d = def_errors(0.99, "30d", NULL);
	json_object_set_new(d, "colour", json_string("red"));
	parse_fails(d, "colour");
	parse_fails(def_errors(99, "30d", NULL), "objective must be in (0, 1)");
	parse_fails(def_errors(0.99, "30x", NULL), "period");
	d = def_errors(0.99, "30d", NULL);
	json_object_set_new(d, "name", json_string("../etc"));
	parse_fails(d, "name");
	d = def_errors(0.99, "30d", NULL);
	json_object_set_new(d, "release", json_string("anomaly@notsemver"));
	parse_fails(d, "release");
	d = def_errors(0.99, "30d", NULL);
	json_object_set_new(d, "sli", json_pack("{s:s}", "kind", "latency"));
	parse_fails(d, "threshold_ms");
	d = def_errors(0.99, "30d", NULL);
	json_object_set_new(d, "sli", json_pack("{s:s,s:f}", "kind", "carbon", "threshold_g", 0.5));
	json_object_set_new(d, "budgeting", json_string("occurrences"));
	parse_fails(d, "timeslices");
	parse_fails(def_errors(0.99, "30d",
			       "[{\"severity\":\"page\",\"long\":\"5m\",\"short\":\"1h\","
			       "\"factor\":2}]"),
		    "shorter");
	parse_fails(def_errors(0.99, "30d",
			       "[{\"severity\":\"page\",\"long\":\"1h\",\"short\":\"5m\","
			       "\"factor\":2,\"budget_percent\":2}]"),
		    "exactly one");
	parse_fails(def_errors(0.99, "30d",
			       "[{\"severity\":\"warn\",\"long\":\"1h\",\"short\":\"5m\","
			       "\"factor\":2}]"),
		    "severity");
}

Test(slo, canonical_form_round_trips)
{
	struct cp_slo a, b;
	json_t *j = NULL, *j2 = NULL;

	parse_ok(&a, def_errors(0.995, "28d", NULL));
	cr_assert_eq(cp_slo_to_json(&j, &a), 0);
	parse_ok(&b, json_incref(j));
	cr_assert_eq(cp_slo_to_json(&j2, &b), 0);
	cr_assert(json_equal(j, j2));
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
	json_decref(j);
	json_decref(j2);
}

/* One page pair 1h/5m at factor 14.4 and 99%: the error-ratio threshold is
 * 0.144, i.e. 144 of 1000 inferences a minute. */
static void one_pair(struct cp_slo *slo, int64_t min_events)
{
	json_t *d = def_errors(0.99, "30d",
			       "[{\"severity\":\"page\",\"long\":\"1h\",\"short\":\"5m\","
			       "\"budget_percent\":2}]");

	json_object_set_new(d, "min_events", json_integer(min_events));
	parse_ok(slo, d);
	cr_assert_float_eq(slo->pairs[0].factor, 14.4, 1e-12);
}

static struct cp_slo_status eval(const struct cp_slo *slo, struct fake *f)
{
	struct cp_slo_status st;
	struct fl_err err = {0, ""};

	/* The last second of the step before NOW: windows include the current
	 * partial step, so they end exactly at NOW. */
	cr_assert_eq(cp_slo_evaluate(&st, slo, fake_source, f, NOW - 1, &err), 0, "%s", err.msg);
	return st;
}

Test(slo, burn_rate_alert_boundary_both_sides)
{
	struct cp_slo slo;
	struct fake f = {gen_errors, 1000, 144, 0, 0};
	struct cp_slo_status st;

	one_pair(&slo, 10);
	st = eval(&slo, &f);
	cr_assert_float_eq(st.pairs[0].lw.burn_rate, 14.4, 1e-9);
	cr_assert_float_eq(st.pairs[0].sw.burn_rate, 14.4, 1e-9);
	cr_assert_eq(st.pairs[0].firing, 0, "exactly at the factor does not fire");

	f.bad_per_min = 145;
	st = eval(&slo, &f);
	cr_assert_gt(st.pairs[0].lw.burn_rate, 14.4);
	cr_assert_eq(st.pairs[0].firing, 1, "just above the factor fires");
	/* the windows are the aligned [now - w, now) */
	cr_assert_eq(st.pairs[0].lw.from, NOW - 3600);
	cr_assert_eq(st.pairs[0].lw.to, NOW);
	cr_assert_eq(st.pairs[0].sw.from, NOW - 300);
	cr_assert_eq(st.pairs[0].lw.step, 60);
}

Test(slo, both_windows_must_burn)
{
	struct cp_slo slo;
	struct fake f = {gen_errors, 1000, 500, NOW - 300, 0};
	struct cp_slo_status st;

	one_pair(&slo, 10);
	/* a burst that stopped 5 minutes ago: the long window still burns,
	 * the short one is clean, so the alert has reset */
	st = eval(&slo, &f);
	cr_assert_gt(st.pairs[0].lw.burn_rate, 14.4);
	cr_assert_eq(st.pairs[0].sw.burn_rate, 0);
	cr_assert_eq(st.pairs[0].firing, 0);
	/* a fresh burst: the short window burns, the long not yet */
	f.bad_per_min = 1000;
	f.bad_until = 0;
	f.inf_per_min = 1000;
	{
		struct fake g = f;

		g.gen = gen_errors;
		st = eval(&slo, &g);
		cr_assert_eq(st.pairs[0].firing, 1);
	}
}

Test(slo, min_events_guard)
{
	struct cp_slo slo;
	struct fake f = {gen_errors, 1, 1, 0, 0}; /* one inference a minute, all failing */
	struct cp_slo_status st;

	one_pair(&slo, 10);
	st = eval(&slo, &f);
	cr_assert_float_eq(st.pairs[0].sw.events, 5, 1e-9);
	cr_assert_float_eq(st.pairs[0].sw.burn_rate, 100, 1e-6);
	cr_assert_eq(st.pairs[0].guarded, 1);
	cr_assert_eq(st.pairs[0].firing, 0, "5 events in the short window cannot fire");
	one_pair(&slo, 5);
	st = eval(&slo, &f);
	cr_assert_eq(st.pairs[0].guarded, 0);
	cr_assert_eq(st.pairs[0].firing, 1);
}

Test(slo, budget_remaining_and_time_to_exhaustion)
{
	struct cp_slo slo;
	struct fake f = {gen_errors, 1000, 5, 0, 0}; /* 0.5% errors at 99%: burn 0.5 */
	struct cp_slo_status st;

	parse_ok(&slo, def_errors(0.99, "30d", NULL));
	st = eval(&slo, &f);
	cr_assert_eq(st.period.step, 3600);
	cr_assert_eq(st.period.from, NOW - 30 * 86400);
	cr_assert_float_eq(st.period.burn_rate, 0.5, 1e-9);
	cr_assert_float_eq(st.budget_remaining, 0.5, 1e-9);
	/* half the budget left at half the sustainable rate: 30 more days */
	cr_assert_float_eq(st.pairs[0].tte_s, 30.0 * 86400, 1e-3);
	/* budget spent by the 1h window: 0.5 * 1h / 30d */
	cr_assert_float_eq(st.pairs[0].budget_spent, 0.5 / 720, 1e-12);
	/* the 6h/30m and 3d/6h pairs use 300 s steps, the period 3600 s: one
	 * series per step, not one per window */
	cr_assert_eq(f.calls, 3);
	f.bad_per_min = 0;
	st = eval(&slo, &f);
	cr_assert_float_eq(st.budget_remaining, 1, 1e-12);
	cr_assert_lt(st.pairs[0].tte_s, 0);
}

/* Latency through a real sketch: 98 fast and 2 slow inferences a minute. */
static void gen_latency(struct fake *f, struct cp_sli_agg *a, int64_t t, int64_t step)
{
	(void)f;
	(void)t;
	cr_assert_eq(fl_sketch_new(&a->latency_ms), 0);
	cr_assert_eq(fl_sketch_add_n(a->latency_ms, 10, (uint64_t)(98 * step / 60)), 0);
	cr_assert_eq(fl_sketch_add_n(a->latency_ms, 100, (uint64_t)(2 * step / 60)), 0);
	a->inferences = 100 * step / 60;
}

Test(slo, latency_kind_reads_the_sketch)
{
	struct cp_slo slo;
	struct fake f = {gen_latency, 0, 0, 0, 0};
	struct cp_slo_status st;
	json_t *d = NULL;
	const char *txt = "{\"name\":\"anomaly-latency\",\"sli\":{\"kind\":\"latency\","
			  "\"threshold_ms\":50},\"objective\":0.99,\"period\":\"30d\","
			  "\"release\":\"anomaly\",\"selector\":\"site=eu\"}";

	cr_assert_eq(fl_json_parse_object(&d, txt, strlen(txt), NULL), 0);
	parse_ok(&slo, d);
	st = eval(&slo, &f);
	cr_assert_float_eq(st.period.error_ratio, 0.02, 1e-9);
	cr_assert_float_eq(st.pairs[0].lw.burn_rate, 2, 1e-9);
	cr_assert_float_eq(st.budget_remaining, -1, 1e-9); /* burning twice the budget */
}

/* Carbon per inference: even hours 0.4 g, odd hours 0.6 g, every fourth
 * hour no inferences at all. */
static void gen_carbon(struct fake *f, struct cp_sli_agg *a, int64_t t, int64_t step)
{
	int64_t hour = t / 3600;

	(void)f;
	if (hour % 4 == 3)
		return;
	a->inferences = step / 60 * 10;
	a->carbon_g = (double)a->inferences * (hour % 2 == 0 ? 0.4 : 0.6);
}

Test(slo, carbon_is_judged_per_step)
{
	struct cp_slo slo;
	struct fake f = {gen_carbon, 0, 0, 0, 0};
	struct cp_slo_status st;
	json_t *d = NULL;
	const char *txt = "{\"name\":\"anomaly-carbon\",\"sli\":{\"kind\":\"carbon\","
			  "\"threshold_g\":0.5},\"objective\":0.9,\"period\":\"1d\",\"alerts\":[]}";

	cr_assert_eq(fl_json_parse_object(&d, txt, strlen(txt), NULL), 0);
	parse_ok(&slo, d);
	cr_assert_eq(slo.budgeting, CP_SLO_TIMESLICES);
	st = eval(&slo, &f);
	/* 24 hourly slices, 6 without inferences: 18 counted, of which the
	 * even hours (12) are good */
	cr_assert_float_eq(st.period.total, 18, 1e-9);
	cr_assert_float_eq(st.period.good, 12, 1e-9);
	cr_assert_float_eq(st.period.error_ratio, 6.0 / 18, 1e-9);
}

/* ---- the engine over a real store ---- */

static struct cp_store *open_store(void)
{
	struct cp_store *s = NULL;
	struct fl_err err = {0, ""};
	char path[512];

	snprintf(path, sizeof(path), "%s/fairlead.db", fl_test_tmpdir());
	cr_assert_eq(cp_store_open(&s, path, -1, &err), 0, "%s", err.msg);
	return s;
}

static json_t *events(struct cp_store *s)
{
	json_t *ev = NULL;

	cr_assert_eq(cp_store_events_list(&ev, s, 0, 100, NULL), 0);
	return ev;
}

Test(slo, engine_fires_and_resolves_with_events)
{
	struct cp_store *s = open_store();
	struct cp_slo_engine *e = NULL;
	struct fake f = {gen_errors, 1000, 200, 0, 0};
	struct fl_err err = {0, ""};
	struct cp_slo slo;
	json_t *canon = NULL, *defs, *ev, *alerts = NULL, *st, *expl;
	struct fl_buf prom = FL_BUF_INIT;

	one_pair(&slo, 10);
	cr_assert_eq(cp_slo_to_json(&canon, &slo), 0);
	defs = json_pack("[o]", canon);
	cr_assert_eq(cp_store_slos_put(s, defs, "api", NOW, NULL, &err), 0, "%s", err.msg);
	json_decref(defs);
	cr_assert_eq(cp_slo_engine_new(&e, s, fake_source, &f, &err), 0);

	cr_assert_eq(cp_slo_engine_eval(e, NOW, &err), 0, "%s", err.msg);
	ev = events(s);
	cr_assert_eq(json_array_size(ev), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(ev, 0), "kind")),
			 "alert.firing");
	json_decref(ev);
	cr_assert_eq(cp_store_alerts_list(&alerts, s, "firing", 10, NULL), 0);
	cr_assert_eq(json_array_size(alerts), 1);
	expl = json_object_get(json_array_get(alerts, 0), "explanation");
	cr_assert_float_eq(json_number_value(json_object_get(expl, "burn_rate_long")), 20, 1e-9);
	cr_assert_float_eq(json_number_value(json_object_get(expl, "budget_spent")), 20.0 / 720,
			   1e-9);
	cr_assert_neq(json_is_number(json_object_get(expl, "time_to_exhaustion_s")), 0);
	cr_assert_float_eq(json_number_value(json_object_get(expl, "factor")), 14.4, 1e-9);
	json_decref(alerts);

	/* still firing: no second event */
	cr_assert_eq(cp_slo_engine_eval(e, NOW + 60, &err), 0, "%s", err.msg);
	ev = events(s);
	cr_assert_eq(json_array_size(ev), 1);
	json_decref(ev);

	st = cp_slo_engine_status(e, "anomaly-errors");
	cr_assert_not_null(st);
	cr_assert_neq(json_is_number(json_object_get(json_object_get(st, "burn_rates"), "5m")), 0);
	json_decref(st);
	cr_assert_eq(cp_slo_prom(&prom, e), 0);
	cr_assert_not_null(strstr(prom.ptr, "fairlead_alerts_firing{slo=\"anomaly-errors\","
					    "severity=\"page\"} 1\n"));
	cr_assert_not_null(strstr(prom.ptr, "fairlead_slo_burn_rate{slo=\"anomaly-errors\","
					    "window=\"1h\"} 20\n"));
	cr_assert_not_null(strstr(prom.ptr, "fairlead_slo_objective{slo=\"anomaly-errors\"} 0.99"));
	fl_buf_release(&prom);

	/* the burn stops: resolved, with an event */
	f.bad_per_min = 0;
	cr_assert_eq(cp_slo_engine_eval(e, NOW + 120, &err), 0, "%s", err.msg);
	ev = events(s);
	cr_assert_eq(json_array_size(ev), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(ev, 1), "kind")),
			 "alert.resolved");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(ev, 1), "subject")),
			 "anomaly-errors");
	cr_assert_neq(json_is_integer(json_object_get(
			  json_object_get(json_array_get(ev, 1), "body"), "alert_id")),
		      0);
	json_decref(ev);
	cr_assert_eq(cp_store_alerts_list(&alerts, s, "resolved", 10, NULL), 0);
	cr_assert_eq(json_array_size(alerts), 1);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(alerts, 0), "resolved_at")),
		     NOW + 120);
	json_decref(alerts);

	/* fire again, then delete the SLO: the alert resolves with it */
	f.bad_per_min = 200;
	cr_assert_eq(cp_slo_engine_eval(e, NOW + 180, &err), 0);
	cr_assert_eq(cp_store_slo_delete(s, "anomaly-errors", NOW + 200, NULL, &err), 0);
	cr_assert_eq(cp_store_alerts_list(&alerts, s, "firing", 10, NULL), 0);
	cr_assert_eq(json_array_size(alerts), 0);
	json_decref(alerts);
	ev = events(s);
	cr_assert_eq(json_array_size(ev), 4);
	json_decref(ev);
	cr_assert_eq(cp_store_slo_delete(s, "anomaly-errors", NOW, NULL, &err), FL_ENOTFOUND);

	cp_slo_engine_free(e);
	cp_store_free(s);
}

Test(slo, engine_without_source_lists_and_never_fires)
{
	struct cp_store *s = open_store();
	struct cp_slo_engine *e = NULL;
	struct fl_err err = {0, ""};
	struct fl_buf prom = FL_BUF_INIT;
	struct cp_slo slo;
	json_t *canon = NULL, *defs;

	one_pair(&slo, 10);
	cr_assert_eq(cp_slo_to_json(&canon, &slo), 0);
	defs = json_pack("[o]", canon);
	cr_assert_eq(cp_store_slos_put(s, defs, "api", NOW, NULL, &err), 0);
	json_decref(defs);
	cr_assert_eq(cp_slo_engine_new(&e, s, NULL, NULL, &err), 0);
	cr_assert_eq(cp_slo_engine_start(e, 50, &err), 0);
	cp_slo_engine_kick(e);
	cr_assert_eq(cp_slo_engine_eval(e, NOW, &err), 0);
	cr_assert_null(cp_slo_engine_status(e, "anomaly-errors"));
	cr_assert_eq(cp_slo_prom(&prom, e), 0);
	cr_assert_not_null(strstr(prom.ptr, "fairlead_slo_objective{slo=\"anomaly-errors\"}"));
	cr_assert_null(strstr(prom.ptr, "fairlead_slo_error_budget_remaining{"));
	fl_buf_release(&prom);
	cp_slo_engine_free(e);
	cp_store_free(s);
}

/* ---- OpenSLO ---- */

static const char openslo_ok[] =
    "# two SLOs, one with an SLI document\n"
    "apiVersion: openslo/v1\n"
    "kind: SLI\n"
    "metadata:\n"
    "  name: anomaly-latency-sli\n"
    "spec:\n"
    "  thresholdMetric:\n"
    "    metricSource:\n"
    "      type: fairlead\n"
    "      spec: {kind: latency, release: anomaly, selector: \"site=eu\"}\n"
    "---\n"
    "apiVersion: openslo/v1\n"
    "kind: SLO\n"
    "metadata:\n"
    "  name: anomaly-latency\n"
    "  displayName: Anomaly latency\n"
    "spec:\n"
    "  description: 99% of inferences under 50 ms\n"
    "  service: anomaly\n"
    "  indicatorRef: anomaly-latency-sli\n"
    "  timeWindow:\n"
    "    - duration: 28d\n"
    "      isRolling: true\n"
    "  budgetingMethod: Occurrences\n"
    "  objectives:\n"
    "    - displayName: fast\n"
    "      op: lte\n"
    "      value: 50\n"
    "      target: 0.99\n"
    "---\n"
    "apiVersion: openslo/v1\n"
    "kind: SLO\n"
    "metadata:\n"
    "  name: anomaly-errors\n"
    "spec:\n"
    "  indicator:\n"
    "    metadata:\n"
    "      name: errs\n"
    "    spec:\n"
    "      ratioMetric:\n"
    "        counter: true\n"
    "        good:\n"
    "          metricSource: {type: fairlead, spec: {kind: errors}}\n"
    "        total:\n"
    "          metricSource: {type: fairlead, spec: {kind: errors}}\n"
    "  timeWindow: [{duration: 4w, isRolling: true}]\n"
    "  budgetingMethod: Timeslices\n"
    "  objectives:\n"
    "    - targetPercent: 99.5\n"
    "      timeSliceTarget: 0.95\n"
    "      timeSliceWindow: 1m\n";

Test(slo, openslo_maps_to_definitions)
{
	json_t *defs = NULL, *a, *b;
	struct fl_err err = {0, ""};

	cr_assert_eq(cp_slo_from_openslo(&defs, openslo_ok, strlen(openslo_ok), &err), 0, "%s",
		     err.msg);
	cr_assert_eq(json_array_size(defs), 2);
	a = json_array_get(defs, 0);
	cr_assert_str_eq(json_string_value(json_object_get(a, "name")), "anomaly-latency");
	cr_assert_str_eq(json_string_value(json_object_get(a, "period")), "28d");
	cr_assert_str_eq(json_string_value(json_object_get(a, "release")), "anomaly");
	cr_assert_str_eq(json_string_value(json_object_get(a, "selector")), "site=eu");
	cr_assert_float_eq(
	    json_number_value(json_object_get(json_object_get(a, "sli"), "threshold_ms")), 50, 0);
	cr_assert_float_eq(json_number_value(json_object_get(a, "objective")), 0.99, 1e-12);
	b = json_array_get(defs, 1);
	cr_assert_str_eq(json_string_value(json_object_get(b, "budgeting")), "timeslices");
	cr_assert_float_eq(json_number_value(json_object_get(b, "objective")), 0.995, 1e-12);
	cr_assert_float_eq(json_number_value(json_object_get(b, "timeslice_target")), 0.95, 1e-12);
	cr_assert_str_eq(json_string_value(json_object_get(b, "period")), "28d");
	json_decref(defs);
}

static void openslo_refused(const char *from, const char *to, const char *needle)
{
	char buf[sizeof(openslo_ok) + 256];
	const char *at = strstr(openslo_ok, from);
	json_t *defs = NULL;
	struct fl_err err = {0, ""};

	cr_assert_not_null(at, "%s", from);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - openslo_ok), openslo_ok, to,
		 at + strlen(from));
	cr_assert_eq(cp_slo_from_openslo(&defs, buf, strlen(buf), &err), FL_EINVAL, "accepted: %s",
		     to);
	cr_assert_null(defs);
	cr_assert_not_null(strstr(err.msg, needle), "'%s' lacks '%s'", err.msg, needle);
}

Test(slo, openslo_refusals_are_clear)
{
	openslo_refused("budgetingMethod: Timeslices", "budgetingMethod: RatioTimeslices",
			"RatioTimeslices is not supported");
	openslo_refused("[{duration: 4w, isRolling: true}]", "[{duration: 1M, isRolling: true}]",
			"calendar units");
	openslo_refused("[{duration: 4w, isRolling: true}]", "[{duration: 4w, isRolling: false}]",
			"calendar time windows are not supported");
	openslo_refused("type: fairlead\n      spec: {kind: latency",
			"type: prometheus\n      spec: {kind: latency",
			"metricSource.type 'prometheus' is unsupported");
	openslo_refused("indicatorRef: anomaly-latency-sli", "indicatorRef: nope", "names no SLI");
	openslo_refused("apiVersion: openslo/v1\nkind: SLI", "apiVersion: openslo/v2\nkind: SLI",
			"document 1: apiVersion");
	openslo_refused("kind: SLI\n", "kind: AlertPolicy\n", "AlertPolicy is not supported");
	openslo_refused("      target: 0.99\n", "      target: 0.9\n", "can never fire");
	openslo_refused("      op: lte\n", "      op: gte\n", "op lte");
}

Test(slo, parse_text_detects_json_and_yaml)
{
	json_t *defs = NULL;
	struct fl_err err = {0, ""};
	const char *js = "  {\"name\":\"x\",\"sli\":{\"kind\":\"uptime\"},\"objective\":0.999,"
			 "\"period\":\"30d\"}";

	cr_assert_eq(cp_slo_parse_text(&defs, js, strlen(js), &err), 0, "%s", err.msg);
	cr_assert_eq(json_array_size(defs), 1);
	cr_assert_eq(json_array_size(json_object_get(json_array_get(defs, 0), "alerts")), 3);
	json_decref(defs);
	cr_assert_eq(cp_slo_parse_text(&defs, openslo_ok, strlen(openslo_ok), &err), 0);
	cr_assert_eq(json_array_size(defs), 2);
	json_decref(defs);
	cr_assert_eq(cp_slo_parse_text(&defs, "{\"name\":", 8, &err), FL_EINVAL);
	cr_assert_eq(cp_slo_parse_text(&defs, "just: text\n", 11, &err), FL_EINVAL);
}

Test(slo, load_dir_names_the_bad_file)
{
	struct cp_store *s = open_store();
	struct fl_err err = {0, ""};
	char dir[600], path[700];
	json_t *rows = NULL;
	FILE *fp;

	snprintf(dir, sizeof(dir), "%s/slo.d", fl_test_tmpdir());
	cr_assert_eq(cp_slo_load_dir(s, dir, &err), 0, "a missing directory is no error");
	cr_assert_eq(fl_fs_mkdir_p(dir, 0700, &err), 0);
	snprintf(path, sizeof(path), "%s/a.yaml", dir);
	cr_assert_not_null(fp = fopen(path, "w"));
	fputs(openslo_ok, fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/b.json", dir);
	cr_assert_not_null(fp = fopen(path, "w"));
	fputs(
	    "{\"name\":\"up\",\"sli\":{\"kind\":\"uptime\"},\"objective\":0.999,\"period\":\"7d\"}",
	    fp);
	fclose(fp);
	cr_assert_eq(cp_slo_load_dir(s, dir, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_store_slos_list(&rows, s, NULL), 0);
	cr_assert_eq(json_array_size(rows), 3);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(rows, 0), "source")),
			 "file");
	json_decref(rows);

	snprintf(path, sizeof(path), "%s/c.json", dir);
	cr_assert_not_null(fp = fopen(path, "w"));
	fputs("{\"name\":\"bad\",\"objective\":2}", fp);
	fclose(fp);
	cr_assert_eq(cp_slo_load_dir(s, dir, &err), FL_EINVAL);
	cr_assert_not_null(strstr(err.msg, "c.json"), "%s", err.msg);
	remove(path);
	/* a removed file removes its SLOs */
	snprintf(path, sizeof(path), "%s/a.yaml", dir);
	remove(path);
	cr_assert_eq(cp_slo_load_dir(s, dir, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_store_slos_list(&rows, s, NULL), 0);
	cr_assert_eq(json_array_size(rows), 1);
	json_decref(rows);
	cp_store_free(s);
}

/* A source that records the scope and the longest span it was asked for. */
struct scoped {
	struct fake f;
	char release[160], selector[256];
	int64_t longest;
};

static int scoped_source(void *ctx, struct cp_sli_agg **out, size_t *n,
			 const struct cp_sli_scope *scope, int64_t from, int64_t to, int64_t step,
			 struct fl_err *err)
{
	struct scoped *s = ctx;

	snprintf(s->release, sizeof(s->release), "%s", scope->release ? scope->release : "");
	snprintf(s->selector, sizeof(s->selector), "%s", scope->selector ? scope->selector : "");
	if (to - from > s->longest)
		s->longest = to - from;
	return fake_source(&s->f, out, n, scope, from, to, step, err);
}

Test(slo, release_burn_reads_the_shortest_pair_for_the_release)
{
	struct cp_slo slo;
	struct fl_err err = {0, ""};
	struct scoped s = {{gen_errors, 1000, 50, 0, 0}, "", "", 0};
	json_t *d = def_errors(0.99, "30d",
			       "[{\"severity\":\"ticket\",\"long\":\"6h\",\"short\":\"30m\","
			       "\"factor\":6},{\"severity\":\"page\",\"long\":\"1h\",\"short\":"
			       "\"5m\",\"factor\":14.4}]");
	double b = 0;

	json_object_set_new(d, "selector", json_string("site=lab"));
	json_object_set_new(d, "release", json_string("det"));
	parse_ok(&slo, d);
	/* 5% errors at 99%: burn 5 in both windows */
	cr_assert_eq(cp_slo_release_burn(&b, &slo, "det@2.0.0", scoped_source, &s, NOW - 1, &err),
		     0, "%s", err.msg);
	cr_assert_float_eq(b, 5.0, 1e-9);
	cr_assert_str_eq(s.release, "det@2.0.0", "the release scope is the new release");
	cr_assert_str_eq(s.selector, "site=lab", "the SLO's selector is kept");
	cr_assert_eq(s.longest, 3600, "only the 1h/5m pair is read, not 6h or the period");
	/* errors that stopped 5 minutes ago: the short window is clean, and the
	 * burn is the smaller of the two */
	s.f.bad_until = NOW - 300;
	cr_assert_eq(cp_slo_release_burn(&b, &slo, "det@2.0.0", scoped_source, &s, NOW - 1, &err),
		     0);
	cr_assert_float_eq(b, 0.0, 1e-12);
	/* too few events: no burn rate (the gate waits) */
	s.f.inf_per_min = 0;
	s.f.bad_per_min = 0;
	cr_assert_eq(cp_slo_release_burn(&b, &slo, "det@2.0.0", scoped_source, &s, NOW - 1, &err),
		     0);
	cr_assert(isnan(b), "fewer than min_events gives NAN, got %g", b);
}

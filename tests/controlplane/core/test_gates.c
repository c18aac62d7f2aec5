/* test_gates.c - each gate at its boundaries, the verdict rules, the JSON
 * record, config overrides, and simulated rollouts: a good but noisy release
 * over 20 looks fails rarely (at most about alpha), a 3x slower one almost
 * always. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/gates.h"
#include "fairlead/json.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static double uniform01(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
	return sqrt(-2 * log(uniform01())) * cos(2 * M_PI * uniform01());
}

static void dev(struct cp_gate_device *d, int i, int canary, int outcome, double lat, double errs)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->id, sizeof(d->id), "%s%03d", canary ? "c" : "b", i);
	d->canary = canary;
	d->outcome = outcome;
	d->inferences = 1000;
	d->latency_q_ms = lat;
	d->error_ratio = errs;
	d->drift_ratio = NAN;
	d->carbon_per_inf_g = NAN;
}

static const struct cp_gate_result *gate(const struct cp_gate_eval *e, const char *name)
{
	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->r[i].name, name))
			return &e->r[i];
	cr_assert_fail("no gate %s", name);
	return NULL;
}

/* nc canaries (committed) at lat*factor, nb baseline devices at lat, with a
 * little deterministic spread. */
static size_t fleet(struct cp_gate_device *d, int nc, int nb, double factor)
{
	size_t n = 0;
	for (int i = 0; i < nc; i++, n++)
		dev(&d[n], i, 1, CP_GATE_COMMITTED, factor * (50 + i % 7), 0.01);
	for (int i = 0; i < nb; i++, n++)
		dev(&d[n], i, 0, CP_GATE_PENDING, 50 + i % 7, 0.01);
	return n;
}

Test(gates, defaults)
{
	struct cp_gate_config c;
	cp_gate_config_defaults(&c);
	cr_assert_eq(c.min_finished, 5);
	cr_assert_float_eq(c.max_failure_ratio, 0.2, 0);
	cr_assert_float_eq(c.latency_quantile, 0.95, 0);
	cr_assert_float_eq(c.max_latency_increase, 0.2, 0);
	cr_assert_float_eq(c.max_error_increase, 0.02, 0);
	cr_assert_float_eq(c.max_drift_increase, 0.1, 0);
	cr_assert_float_eq(c.max_carbon_increase, 0.2, 0);
	cr_assert_eq(c.min_devices, 5);
	cr_assert_eq(c.min_inferences, 20);
	cr_assert_float_eq(c.alpha, 0.05, 0);
	cr_assert_eq(c.max_looks, 20);
}

Test(gates, failure_ratio_waits_then_judges)
{
	struct cp_gate_device d[20];
	struct cp_gate_config c;
	struct cp_gate_eval e;
	size_t n = fleet(d, 10, 10, 1);

	cp_gate_config_defaults(&c);
	/* Four finished, one of them failed: not enough finished yet. */
	for (int i = 4; i < 10; i++)
		d[i].outcome = CP_GATE_UPDATING;
	d[0].outcome = CP_GATE_FAILED;
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, NULL, 0, 0, NULL), 0);
	cr_assert_eq(gate(&e, "failure_ratio")->verdict, CP_GATE_WAIT);
	cr_assert_eq(e.verdict, CP_GATE_WAIT);
	/* Five finished, one failed: 0.2 is not over 0.2. */
	d[4].outcome = CP_GATE_COMMITTED;
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, NULL, 0, 0, NULL), 0);
	cr_assert_eq(gate(&e, "failure_ratio")->verdict, CP_GATE_PASS);
	cr_assert_float_eq(gate(&e, "failure_ratio")->value, 0.2, 1e-12);
	/* Two of six: over. */
	d[5].outcome = CP_GATE_ROLLED_BACK;
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, NULL, 0, 0, NULL), 0);
	cr_assert_eq(gate(&e, "failure_ratio")->verdict, CP_GATE_FAIL);
	cr_assert_float_eq(gate(&e, "failure_ratio")->value, 2.0 / 6, 1e-12);
	cr_assert_eq(e.verdict, CP_GATE_FAIL);
}

Test(gates, failure_ratio_fails_early_when_certain)
{
	struct cp_gate_device d[10];
	struct cp_gate_config c;
	struct cp_gate_eval e;
	size_t n = fleet(d, 5, 5, 1);

	cp_gate_config_defaults(&c);
	/* 5 touched, 2 rolled back, 3 still updating: at best 2/5 = 0.4 > 0.2. */
	d[0].outcome = d[1].outcome = CP_GATE_ROLLED_BACK;
	d[2].outcome = d[3].outcome = d[4].outcome = CP_GATE_UPDATING;
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 1, NULL, 0, 0, NULL), 0);
	cr_assert_eq(gate(&e, "failure_ratio")->verdict, CP_GATE_FAIL);
	/* One rolled back of five: 0.2 could still hold. */
	d[1].outcome = CP_GATE_UPDATING;
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 1, NULL, 0, 0, NULL), 0);
	cr_assert_eq(gate(&e, "failure_ratio")->verdict, CP_GATE_WAIT);
}

Test(gates, comparisons_wait_for_devices_and_inferences)
{
	struct cp_gate_device d[20];
	struct cp_gate_config c;
	struct cp_gate_eval e;
	size_t n = fleet(d, 5, 10, 3);

	cp_gate_config_defaults(&c);
	d[0].inferences = 19; /* under min_inferences: 4 usable canaries */
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, NULL, 0, 0, NULL), 0);
	cr_assert_eq(gate(&e, "latency")->verdict, CP_GATE_WAIT);
	cr_assert_eq(gate(&e, "errors")->verdict, CP_GATE_WAIT);
	cr_assert(strstr(gate(&e, "latency")->why, "need 5"));
	cr_assert_eq(e.verdict, CP_GATE_WAIT);
	/* A rolled-back canary runs the old release: not a canary sample. */
	d[0].inferences = 1000;
	d[1].outcome = CP_GATE_ROLLED_BACK;
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, NULL, 0, 0, NULL), 0);
	cr_assert_eq(gate(&e, "latency")->verdict, CP_GATE_WAIT);
	d[1].outcome = CP_GATE_COMMITTED;
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, NULL, 0, 0, NULL), 0);
	cr_assert_eq(gate(&e, "latency")->verdict, CP_GATE_FAIL);
	cr_assert_eq(gate(&e, "latency")->n_canary, 5);
	cr_assert_eq(gate(&e, "latency")->n_baseline, 10);
	/* Nobody reports drift or carbon: nothing to judge, no waiting. */
	cr_assert_eq(gate(&e, "drift")->verdict, CP_GATE_PASS);
	cr_assert_eq(gate(&e, "carbon")->verdict, CP_GATE_PASS);
	/* Only the baseline reports drift: wait for the canaries. */
	for (size_t i = 5; i < n; i++)
		d[i].drift_ratio = 0;
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, NULL, 0, 0, NULL), 0);
	cr_assert_eq(gate(&e, "drift")->verdict, CP_GATE_WAIT);
}

Test(gates, latency_fails_beyond_tolerance_not_on_any_difference)
{
	struct cp_gate_device d[400];
	struct cp_gate_config c;
	struct cp_gate_eval e;
	size_t n;
	const struct cp_gate_result *r;

	cp_gate_config_defaults(&c);
	/* 3x slower, 10 against 30: fails, with the numbers recorded. */
	n = fleet(d, 10, 30, 3);
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, NULL, 0, 0, NULL), 0);
	r = gate(&e, "latency");
	cr_assert_eq(r->verdict, CP_GATE_FAIL);
	cr_assert_float_eq(r->value, 2.0, 0.1); /* +200% */
	cr_assert_float_eq(r->threshold, 0.2, 0);
	cr_assert_float_eq(r->baseline, 53, 0);
	cr_assert_lt(r->p_value, r->alpha_spent);
	cr_assert_float_eq(r->alpha_spent, (0.05 - 0.044338067953992866) / 4, 1e-12);
	cr_assert_eq(e.verdict, CP_GATE_FAIL);
	/* 10% slower on 200 devices a side: certainly different, within the 20%
	 * tolerated, so it passes. */
	n = fleet(d, 200, 200, 1.1);
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, NULL, 0, 0, NULL), 0);
	r = gate(&e, "latency");
	cr_assert_eq(r->verdict, CP_GATE_PASS);
	cr_assert_float_eq(r->value, 0.1, 0.03);
	cr_assert_eq(e.verdict, CP_GATE_PASS);
	/* 30% slower on the same: beyond the tolerance, fails. */
	n = fleet(d, 200, 200, 1.3);
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, NULL, 0, 0, NULL), 0);
	cr_assert_eq(gate(&e, "latency")->verdict, CP_GATE_FAIL);
	/* The first look spends almost nothing: the same data passes there. */
	n = fleet(d, 10, 30, 3);
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 1, NULL, 0, 0, NULL), 0);
	cr_assert_eq(gate(&e, "latency")->verdict, CP_GATE_PASS);
	cr_assert_lt(gate(&e, "latency")->alpha_spent, 1e-9);
}

Test(gates, errors_use_an_absolute_tolerance)
{
	struct cp_gate_device d[100];
	struct cp_gate_config c;
	struct cp_gate_eval e;
	size_t n = fleet(d, 30, 30, 1);

	cp_gate_config_defaults(&c);
	for (int i = 0; i < 30; i++)
		d[i].error_ratio = 0.025 + 0.001 * (i % 5); /* +1.7 points: within 2 */
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, NULL, 0, 0, NULL), 0);
	cr_assert_eq(gate(&e, "errors")->verdict, CP_GATE_PASS);
	cr_assert_float_eq(gate(&e, "errors")->value, 0.017, 1e-9);
	for (int i = 0; i < 30; i++)
		d[i].error_ratio = 0.1 + 0.001 * (i % 5);
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, NULL, 0, 0, NULL), 0);
	cr_assert_eq(gate(&e, "errors")->verdict, CP_GATE_FAIL);
	/* Drift the same way. */
	for (size_t i = 0; i < n; i++)
		d[i].drift_ratio = d[i].canary ? 0.5 : 0.0;
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, NULL, 0, 0, NULL), 0);
	cr_assert_eq(gate(&e, "drift")->verdict, CP_GATE_FAIL);
	for (size_t i = 0; i < n; i++)
		d[i].drift_ratio = d[i].canary ? 0.05 : 0.0;
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, NULL, 0, 0, NULL), 0);
	cr_assert_eq(gate(&e, "drift")->verdict, CP_GATE_PASS);
}

Test(gates, slo_burn)
{
	struct cp_gate_device d[20];
	struct cp_gate_config c;
	struct cp_gate_eval e;
	size_t n = fleet(d, 10, 10, 1);
	double ok[] = {0.5, 2.0}, bad[] = {0.5, 14.5}, unknown[] = {0.5, NAN};

	cp_gate_config_defaults(&c);
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, NULL, 0, 14.4, NULL), 0);
	cr_assert_eq(gate(&e, "slo_burn")->verdict, CP_GATE_PASS);
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, ok, 2, 14.4, NULL), 0);
	cr_assert_eq(gate(&e, "slo_burn")->verdict, CP_GATE_PASS);
	cr_assert_float_eq(gate(&e, "slo_burn")->value, 2.0, 0);
	cr_assert_eq(e.verdict, CP_GATE_PASS);
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, bad, 2, 14.4, NULL), 0);
	cr_assert_eq(gate(&e, "slo_burn")->verdict, CP_GATE_FAIL);
	cr_assert_eq(e.verdict, CP_GATE_FAIL);
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, unknown, 2, 14.4, NULL), 0);
	cr_assert_eq(gate(&e, "slo_burn")->verdict, CP_GATE_WAIT);
	cr_assert_eq(e.verdict, CP_GATE_WAIT);
}

Test(gates, bad_arguments)
{
	struct cp_gate_device d[4];
	struct cp_gate_config c;
	struct cp_gate_eval e;
	struct fl_err err = {0};
	size_t n = fleet(d, 2, 2, 1);

	cp_gate_config_defaults(&c);
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 0, NULL, 0, 0, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "look"));
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 1, NULL, 3, 1, &err), FL_EINVAL);
	c.alpha = 0;
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 1, NULL, 0, 0, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "alpha"));
	/* No devices at all: everything waits. */
	cp_gate_config_defaults(&c);
	cr_assert_eq(cp_gates_evaluate(&e, NULL, 0, &c, 1, NULL, 0, 0, &err), 0);
	cr_assert_eq(e.verdict, CP_GATE_WAIT);
	cr_assert_eq(e.n, 6);
}

Test(gates, json_record)
{
	struct cp_gate_device d[40];
	struct cp_gate_config c;
	struct cp_gate_eval e;
	json_t *j = NULL, *g;
	size_t n = fleet(d, 10, 30, 3);

	cp_gate_config_defaults(&c);
	cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, 20, NULL, 0, 0, NULL), 0);
	cr_assert_eq(cp_gate_eval_json(&j, &e), 0);
	cr_assert_str_eq(json_string_value(json_object_get(j, "verdict")), "fail");
	cr_assert_eq(json_array_size(json_object_get(j, "gates")), 6);
	g = json_array_get(json_object_get(j, "gates"), 1);
	cr_assert_str_eq(json_string_value(json_object_get(g, "name")), "latency");
	cr_assert_str_eq(json_string_value(json_object_get(g, "verdict")), "fail");
	cr_assert_float_eq(json_real_value(json_object_get(g, "threshold")), 0.2, 0);
	cr_assert_eq(json_integer_value(json_object_get(g, "n_canary")), 10);
	cr_assert(json_is_real(json_object_get(g, "p_value")));
	/* Numbers that do not exist are null, never NaN. */
	g = json_array_get(json_object_get(j, "gates"), 3); /* drift: not reported */
	cr_assert(json_is_null(json_object_get(g, "p_value")));
	char *s = fl_json_dumps(j);
	cr_assert_not_null(s);
	cr_assert_null(strstr(s, "nan"));
	free(s);
	json_decref(j);
}

Test(gates, config_overrides)
{
	struct cp_gate_config c, before;
	struct fl_err err = {0};
	json_t *j;

	cp_gate_config_defaults(&c);
	j = json_pack("{s:f, s:i, s:f, s:i}", "max_latency_increase", 0.5, "min_devices", 3,
		      "alpha", 0.01, "min_inferences", 100);
	cr_assert_eq(cp_gate_config_parse(&c, j, &err), 0, "%s", err.msg);
	json_decref(j);
	cr_assert_float_eq(c.max_latency_increase, 0.5, 0);
	cr_assert_eq(c.min_devices, 3);
	cr_assert_float_eq(c.alpha, 0.01, 0);
	cr_assert_eq(c.min_inferences, 100);
	cr_assert_eq(c.max_looks, 20);

	/* Unknown key, wrong type, out of range: refused, c untouched. */
	before = c;
	j = json_pack("{s:f, s:i}", "alpha", 0.02, "min_device", 3);
	cr_assert_eq(cp_gate_config_parse(&c, j, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "min_device"));
	json_decref(j);
	j = json_pack("{s:s}", "alpha", "0.05");
	cr_assert_eq(cp_gate_config_parse(&c, j, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "alpha"));
	json_decref(j);
	j = json_pack("{s:f, s:f}", "max_latency_increase", 0.3, "max_failure_ratio", 1.5);
	cr_assert_eq(cp_gate_config_parse(&c, j, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "max_failure_ratio"));
	json_decref(j);
	j = json_pack("{s:i}", "max_looks", 0);
	cr_assert_eq(cp_gate_config_parse(&c, j, &err), FL_EINVAL);
	json_decref(j);
	cr_assert_eq(memcmp(&c, &before, sizeof(c)), 0);
	j = json_array();
	cr_assert_eq(cp_gate_config_parse(&c, j, &err), FL_EINVAL);
	json_decref(j);
}

/* One simulated stage: nc canaries and nb baseline devices, each with a
 * persistent device effect (hardware, workload) and fresh noise at every
 * look; the canary's latency multiplied by slow. Returns 1 when any of the
 * 20 looks fails. Error ratios and carbon are noisy and equal on both sides. */
static int simulate_stage(int nc, int nb, double slow)
{
	struct cp_gate_device d[64];
	double eff[64];
	struct cp_gate_config c;
	struct cp_gate_eval e;
	size_t n = (size_t)(nc + nb);

	cp_gate_config_defaults(&c);
	for (size_t i = 0; i < n; i++)
		eff[i] = 0.3 * gauss();
	for (int look = 1; look <= c.max_looks; look++) {
		for (size_t i = 0; i < n; i++) {
			int canary = (int)i < nc;
			dev(&d[i], (int)i, canary, canary ? CP_GATE_COMMITTED : CP_GATE_PENDING,
			    50 * exp(eff[i] + 0.25 * gauss()) * (canary ? slow : 1), 0);
			d[i].inferences = 50 + (int64_t)(uniform01() * 1000);
			d[i].error_ratio = fmax(0, 0.01 + 0.01 * gauss());
			d[i].carbon_per_inf_g = 0.02 * exp(0.2 * gauss());
			d[i].drift_ratio = uniform01() < 0.9 ? 0 : 0.2;
		}
		cr_assert_eq(cp_gates_evaluate(&e, d, n, &c, look, NULL, 0, 0, NULL), 0);
		cr_assert_neq(e.verdict, CP_GATE_WAIT);
		if (e.verdict == CP_GATE_FAIL)
			return 1;
	}
	return 0;
}

Test(gates, simulation_good_noisy_release_rarely_fails)
{
	int fails = 0;
	for (int r = 0; r < 1000; r++)
		fails += simulate_stage(10, 40, 1.0);
	/* alpha = 0.05 is the bound over all 20 looks and all gates. */
	cr_assert_leq(fails, 50, "%d of 1000 good rollouts failed", fails);
}

Test(gates, simulation_three_times_slower_fails_almost_always)
{
	int fails = 0;
	for (int r = 0; r < 1000; r++)
		fails += simulate_stage(10, 40, 3.0);
	cr_assert_gt(fails, 990, "only %d of 1000 slow rollouts failed", fails);
}

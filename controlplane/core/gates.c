/* gates.c - the health gates of a rollout stage (contract in gates.h, the
 * reasoning in docs/rollouts.md "Gates" and "Statistics"). */
#include "core/gates.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"
#include "fairlead/stats.h"

/* The comparison gates share the alpha of a look equally (Bonferroni): the
 * chance that any of them fails a good release stays at most the look's
 * level, however the metrics are correlated. */
#define CP_GATE_NCOMPARE 4

void cp_gate_config_defaults(struct cp_gate_config *out)
{
	*out = (struct cp_gate_config){
	    .min_finished = 5,
	    .max_failure_ratio = 0.2,
	    .latency_quantile = 0.95,
	    .max_latency_increase = 0.2,
	    .max_error_increase = 0.02,
	    .max_drift_increase = 0.1,
	    .max_carbon_increase = 0.2,
	    .min_devices = 5,
	    .min_inferences = 20,
	    .alpha = 0.05,
	    .max_looks = 20,
	};
}

static int check_config(const struct cp_gate_config *c, struct fl_err *err)
{
	if (c->min_finished < 1)
		return fl_err_set(err, FL_EINVAL, "min_finished must be at least 1");
	if (!(c->max_failure_ratio >= 0 && c->max_failure_ratio <= 1))
		return fl_err_set(err, FL_EINVAL, "max_failure_ratio must be in [0, 1]");
	if (!(c->latency_quantile > 0 && c->latency_quantile <= 1))
		return fl_err_set(err, FL_EINVAL, "latency_quantile must be in (0, 1]");
	if (!(c->max_latency_increase >= 0 && c->max_latency_increase <= 100))
		return fl_err_set(err, FL_EINVAL, "max_latency_increase must be in [0, 100]");
	if (!(c->max_error_increase >= 0 && c->max_error_increase <= 1))
		return fl_err_set(err, FL_EINVAL, "max_error_increase must be in [0, 1]");
	if (!(c->max_drift_increase >= 0 && c->max_drift_increase <= 1))
		return fl_err_set(err, FL_EINVAL, "max_drift_increase must be in [0, 1]");
	if (!(c->max_carbon_increase >= 0 && c->max_carbon_increase <= 100))
		return fl_err_set(err, FL_EINVAL, "max_carbon_increase must be in [0, 100]");
	if (c->min_devices < 1 || c->min_devices > 1000000)
		return fl_err_set(err, FL_EINVAL, "min_devices must be in [1, 1000000]");
	if (c->min_inferences < 1)
		return fl_err_set(err, FL_EINVAL, "min_inferences must be at least 1");
	if (!(c->alpha > 0 && c->alpha <= 0.5))
		return fl_err_set(err, FL_EINVAL, "alpha must be in (0, 0.5]");
	if (c->max_looks < 1 || c->max_looks > 10000)
		return fl_err_set(err, FL_EINVAL, "max_looks must be in [1, 10000]");
	return 0;
}

static struct cp_gate_result *next_result(struct cp_gate_eval *e, const char *name)
{
	struct cp_gate_result *r = &e->r[e->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->value = r->threshold = r->baseline = r->p_value = r->alpha_spent = NAN;
	return r;
}

/* A device has finished when its outcome can no longer change within the
 * stage: committed (past its health window), failed or rolled back. */
static void gate_failures(struct cp_gate_eval *e, const struct cp_gate_device *devs, size_t n,
			  const struct cp_gate_config *cfg)
{
	struct cp_gate_result *r = next_result(e, "failure_ratio");
	size_t touched = 0, finished = 0, bad = 0;

	for (size_t i = 0; i < n; i++) {
		if (!devs[i].canary)
			continue;
		touched++;
		if (devs[i].outcome == CP_GATE_COMMITTED)
			finished++;
		else if (devs[i].outcome == CP_GATE_FAILED ||
			 devs[i].outcome == CP_GATE_ROLLED_BACK)
			finished++, bad++;
	}
	r->threshold = cfg->max_failure_ratio;
	r->n_canary = (int)finished;
	if (finished > 0)
		r->value = (double)bad / (double)finished;
	/* Certain already: even if every other touched device succeeds, the
	 * ratio stays above the threshold, so waiting cannot change the verdict. */
	if (touched > 0 && (double)bad / (double)touched > cfg->max_failure_ratio &&
	    (int)touched >= cfg->min_finished) {
		r->verdict = CP_GATE_FAIL;
		snprintf(r->why, sizeof(r->why),
			 "%zu of %zu touched devices failed or rolled back: over %.3g whatever "
			 "the rest do",
			 bad, touched, cfg->max_failure_ratio);
		return;
	}
	if ((int)finished < cfg->min_finished) {
		r->verdict = CP_GATE_WAIT;
		snprintf(r->why, sizeof(r->why), "%zu devices finished, need %d", finished,
			 cfg->min_finished);
		return;
	}
	r->verdict = r->value > cfg->max_failure_ratio ? CP_GATE_FAIL : CP_GATE_PASS;
	snprintf(r->why, sizeof(r->why),
		 "%zu of %zu finished devices failed or rolled back (%s %.3g)", bad, finished,
		 r->verdict == CP_GATE_FAIL ? "over" : "within", cfg->max_failure_ratio);
}

struct metric {
	const char *name;
	size_t off; /* of the double in struct cp_gate_device */
	int relative;
	double tol;
};

static double metric_of(const struct cp_gate_device *d, const struct metric *m)
{
	double v;
	memcpy(&v, (const char *)d + m->off, sizeof(v));
	return v;
}

/* A canary counts once it runs the new release (updating or committed); the
 * store query filters its SLIs by release, so data from before the switch
 * does not reach here. Devices that failed or rolled back run the old
 * release again and count in neither sample. */
static int counts_as_canary(const struct cp_gate_device *d)
{
	return d->canary && (d->outcome == CP_GATE_UPDATING || d->outcome == CP_GATE_COMMITTED);
}

static int gate_compare(struct cp_gate_eval *e, const struct cp_gate_device *devs, size_t n,
			const struct cp_gate_config *cfg, double level, const struct metric *m,
			double *cv, double *bv, struct fl_err *err)
{
	struct cp_gate_result *r = next_result(e, m->name);
	size_t ec = 0, eb = 0, nc = 0, nb = 0;
	struct fl_mwu mw;
	double shift, *xv;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const struct cp_gate_device *d = &devs[i];
		double v;
		if (d->inferences < cfg->min_inferences || (d->canary && !counts_as_canary(d)))
			continue;
		v = metric_of(d, m);
		if (d->canary) {
			ec++;
			if (isfinite(v))
				cv[nc++] = v;
		} else {
			eb++;
			if (isfinite(v))
				bv[nb++] = v;
		}
	}
	r->n_canary = (int)nc;
	r->n_baseline = (int)nb;
	r->threshold = m->tol;
	r->alpha_spent = level;
	if ((int)ec < cfg->min_devices || (int)eb < cfg->min_devices) {
		r->verdict = CP_GATE_WAIT;
		snprintf(r->why, sizeof(r->why),
			 "%zu canary and %zu baseline devices with %lld+ inferences, need %d each",
			 ec, eb, (long long)cfg->min_inferences, cfg->min_devices);
		return 0;
	}
	/* Enough devices, and none of them reports the metric (no drift
	 * baseline, no energy): nothing to judge, and waiting will not help. */
	if (nc == 0 && nb == 0) {
		r->verdict = CP_GATE_PASS;
		snprintf(r->why, sizeof(r->why), "not reported by any device");
		return 0;
	}
	if ((int)nc < cfg->min_devices || (int)nb < cfg->min_devices) {
		r->verdict = CP_GATE_WAIT;
		snprintf(r->why, sizeof(r->why),
			 "%zu canary and %zu baseline devices report %s, need %d each", nc, nb,
			 m->name, cfg->min_devices);
		return 0;
	}
	r->baseline = fl_median(bv, nb);
	if ((rc = fl_hodges_lehmann(&shift, cv, nc, bv, nb, err)))
		return rc;
	if (m->relative)
		r->value = r->baseline > 0 ? shift / r->baseline : (shift > 0 ? NAN : 0);
	else
		r->value = shift;
	/* H0: the canary is at most the tolerance worse. Moving the canary
	 * sample back by the tolerance and testing "greater" rejects only a
	 * regression beyond it. cv is not needed after the estimate above. */
	xv = cv;
	for (size_t i = 0; i < nc; i++)
		xv[i] = m->relative ? xv[i] / (1 + m->tol) : xv[i] - m->tol;
	if ((rc = fl_mann_whitney(&mw, xv, nc, bv, nb, err)))
		return rc;
	r->p_value = mw.p_greater;
	r->verdict = mw.p_greater <= level ? CP_GATE_FAIL : CP_GATE_PASS;
	if (m->relative)
		snprintf(r->why, sizeof(r->why),
			 "canary %+.1f%% vs baseline (tolerated +%.1f%%), p=%.3g %s %.3g",
			 100 * r->value, 100 * m->tol, mw.p_greater,
			 r->verdict == CP_GATE_FAIL ? "<=" : ">", level);
	else
		snprintf(r->why, sizeof(r->why),
			 "canary %+.4g vs baseline (tolerated +%.4g), p=%.3g %s %.3g", r->value,
			 m->tol, mw.p_greater, r->verdict == CP_GATE_FAIL ? "<=" : ">", level);
	return 0;
}

static void gate_slo_burn(struct cp_gate_eval *e, const double *burn, size_t nslo, double max_burn)
{
	struct cp_gate_result *r = next_result(e, "slo_burn");
	size_t known = 0, over = 0;
	double worst = NAN;

	r->threshold = max_burn;
	for (size_t i = 0; i < nslo; i++) {
		if (!isfinite(burn[i]))
			continue;
		known++;
		if (!(worst >= burn[i]))
			worst = burn[i];
		over += burn[i] > max_burn;
	}
	r->value = worst;
	r->n_canary = (int)known;
	if (nslo == 0) {
		r->verdict = CP_GATE_PASS;
		snprintf(r->why, sizeof(r->why), "no SLOs given");
	} else if (over > 0) {
		r->verdict = CP_GATE_FAIL;
		snprintf(r->why, sizeof(r->why),
			 "%zu of %zu SLOs burn faster than %.3g (worst %.3g)", over, nslo, max_burn,
			 worst);
	} else if (known < nslo) {
		r->verdict = CP_GATE_WAIT;
		snprintf(r->why, sizeof(r->why), "%zu of %zu SLOs have no burn rate yet",
			 nslo - known, nslo);
	} else {
		r->verdict = CP_GATE_PASS;
		snprintf(r->why, sizeof(r->why), "every SLO burns at most %.3g (worst %.3g)",
			 max_burn, worst);
	}
}

int cp_gates_evaluate(struct cp_gate_eval *out, const struct cp_gate_device *devs, size_t n,
		      const struct cp_gate_config *cfg, int look, const double *slo_burn,
		      size_t nslo, double slo_max_burn, struct fl_err *err)
{
	const struct metric metrics[CP_GATE_NCOMPARE] = {
	    {"latency", offsetof(struct cp_gate_device, latency_q_ms), 1,
	     cfg->max_latency_increase},
	    {"errors", offsetof(struct cp_gate_device, error_ratio), 0, cfg->max_error_increase},
	    {"drift", offsetof(struct cp_gate_device, drift_ratio), 0, cfg->max_drift_increase},
	    {"carbon", offsetof(struct cp_gate_device, carbon_per_inf_g), 1,
	     cfg->max_carbon_increase},
	};
	double *cv = NULL, *bv = NULL, level;
	int rc;

	memset(out, 0, sizeof(*out));
	out->verdict = CP_GATE_WAIT;
	if ((rc = check_config(cfg, err)))
		return rc;
	if (look < 1)
		return fl_err_set(err, FL_EINVAL, "look must be at least 1");
	if (nslo > 0 && !slo_burn)
		return fl_err_set(err, FL_EINVAL, "slo burn rates missing");
	if (!(slo_max_burn >= 0) && nslo > 0)
		return fl_err_set(err, FL_EINVAL, "slo_max_burn must be at least 0");
	cv = malloc((n ? n : 1) * sizeof(*cv));
	bv = malloc((n ? n : 1) * sizeof(*bv));
	if (!cv || !bv) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	gate_failures(out, devs, n, cfg);
	level = fl_obf_look_level(cfg->alpha, look, cfg->max_looks) / CP_GATE_NCOMPARE;
	for (size_t k = 0; k < CP_GATE_NCOMPARE; k++)
		if ((rc = gate_compare(out, devs, n, cfg, level, &metrics[k], cv, bv, err)))
			goto cleanup;
	gate_slo_burn(out, slo_burn, nslo, slo_max_burn);

	out->verdict = CP_GATE_PASS;
	for (size_t i = 0; i < out->n; i++)
		if (out->r[i].verdict == CP_GATE_FAIL)
			out->verdict = CP_GATE_FAIL;
		else if (out->r[i].verdict == CP_GATE_WAIT && out->verdict != CP_GATE_FAIL)
			out->verdict = CP_GATE_WAIT;
	rc = 0;
cleanup:
	free(cv);
	free(bv);
	return rc;
}

static const char *verdict_name(int v)
{
	return v == CP_GATE_PASS ? "pass" : v == CP_GATE_FAIL ? "fail" : "wait";
}

/* JSON has no NaN: a number that does not exist is null. */
static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

int cp_gate_eval_json(json_t **out, const struct cp_gate_eval *e)
{
	json_t *o = NULL, *gates = NULL;
	int rc = FL_ENOMEM;

	*out = NULL;
	o = json_object();
	gates = json_array();
	if (!o || !gates)
		goto cleanup;
	if (json_object_set_new(o, "verdict", json_string(verdict_name(e->verdict))))
		goto cleanup;
	for (size_t i = 0; i < e->n; i++) {
		const struct cp_gate_result *r = &e->r[i];
		json_t *g =
		    json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:i, s:i, s:s}", "name", r->name,
			      "verdict", verdict_name(r->verdict), "value", num(r->value),
			      "threshold", num(r->threshold), "baseline", num(r->baseline),
			      "p_value", num(r->p_value), "alpha_spent", num(r->alpha_spent),
			      "n_canary", r->n_canary, "n_baseline", r->n_baseline, "why", r->why);
		if (!g || json_array_append_new(gates, g))
			goto cleanup;
	}
	if (json_object_set_new(o, "gates", gates))
		goto cleanup;
	gates = NULL; /* now owned by o */
	*out = o;
	o = NULL;
	rc = 0;
cleanup:
	json_decref(gates);
	json_decref(o);
	return rc;
}

static int get_real(double *out, const json_t *j, const char *key, struct fl_err *err)
{
	json_t *v = json_object_get(j, key);
	if (!v)
		return 0;
	if (!json_is_number(v))
		return fl_err_set(err, FL_EINVAL, "%s must be a number", key);
	*out = json_number_value(v);
	return 0;
}

static int get_int(int *out, const json_t *j, const char *key, struct fl_err *err)
{
	int64_t v = *out;
	int rc = fl_json_int(&v, j, key, 0, err);
	if (rc)
		return rc;
	if (v < 0 || v > 1000000000)
		return fl_err_set(err, FL_EINVAL, "%s is out of range", key);
	*out = (int)v;
	return 0;
}

int cp_gate_config_parse(struct cp_gate_config *out, const json_t *j, struct fl_err *err)
{
	static const char *const keys[] = {"min_finished",	  "max_failure_ratio",
					   "latency_quantile",	  "max_latency_increase",
					   "max_error_increase",  "max_drift_increase",
					   "max_carbon_increase", "min_devices",
					   "min_inferences",	  "alpha",
					   "max_looks",		  NULL};
	struct cp_gate_config c = *out; /* out stays as it was on any error */
	int rc;

	if (!json_is_object(j))
		return fl_err_set(err, FL_EINVAL, "gates must be an object");
	if ((rc = fl_json_only(j, keys, err)) || (rc = get_int(&c.min_finished, j, keys[0], err)) ||
	    (rc = get_real(&c.max_failure_ratio, j, keys[1], err)) ||
	    (rc = get_real(&c.latency_quantile, j, keys[2], err)) ||
	    (rc = get_real(&c.max_latency_increase, j, keys[3], err)) ||
	    (rc = get_real(&c.max_error_increase, j, keys[4], err)) ||
	    (rc = get_real(&c.max_drift_increase, j, keys[5], err)) ||
	    (rc = get_real(&c.max_carbon_increase, j, keys[6], err)) ||
	    (rc = get_int(&c.min_devices, j, keys[7], err)) ||
	    (rc = fl_json_int(&c.min_inferences, j, keys[8], 0, err)) ||
	    (rc = get_real(&c.alpha, j, keys[9], err)) ||
	    (rc = get_int(&c.max_looks, j, keys[10], err)) || (rc = check_config(&c, err)))
		return rc;
	*out = c;
	return 0;
}

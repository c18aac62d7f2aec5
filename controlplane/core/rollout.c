/*
 * rollout.c - the canary rollout controller. See rollout.h for the model;
 * comments here say why.
 */
#include "core/rollout.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/assign.h"
#include "core/schedule.h"
#include "core/slo.h"
#include "fairlead/crypto.h"
#include "fairlead/json.h"
#include "fairlead/log.h"
#include "fairlead/map.h"
#include "fairlead/relref.h"
#include "fairlead/selector.h"
#include "fairlead/trust.h"
#include "fairlead/util.h"

/* Bits of the poke filter: a device of an active rollout sets its bit, so a
 * poke costs one hash and one atomic load. False positives only wake the
 * controller for nothing. */
#define POKE_BITS 4096

#define CP_ROLLOUT_TESTED_MAX 64

struct cp_rollout_ctl {
	struct cp_rollout_deps d;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	pthread_t thread;
	int running;
	int stop;
	int tick_ms;
	atomic_int poked;
	_Atomic int64_t pokes;
	_Atomic uint64_t filter[POKE_BITS / 64];
	int changed; /* a decision was committed (under mu) */
	/* The last look whose comparison tests may decide, per rollout and
	 * stage (under mu; see once_per_look). */
	struct tested {
		char id[72];
		int64_t stage, look;
	} tested[CP_ROLLOUT_TESTED_MAX];
	size_t ntested;
};

static int64_t now_of(struct cp_rollout_ctl *c)
{
	return c->d.now ? c->d.now(c->d.clock_ctx) : fl_now();
}

/* ---- cohorts ---------------------------------------------------------- */

void cp_rollout_rank_key(char out[65], const char *rollout_id, const char *device_id)
{
	struct fl_sha256_ctx h;
	uint8_t md[FL_SHA256_LEN];

	fl_sha256_begin(&h);
	fl_sha256_update(&h, rollout_id, strlen(rollout_id));
	fl_sha256_update(&h, "\n", 1);
	fl_sha256_update(&h, device_id, strlen(device_id));
	fl_sha256_end(&h, md);
	fl_hex_encode(out, md, sizeof(md));
}

static int64_t jint(const json_t *o, const char *k)
{
	return (int64_t)json_integer_value(json_object_get(o, k));
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

int64_t cp_rollout_cohort(const json_t *spec, size_t stage, int64_t n)
{
	const json_t *stages = json_object_get(spec, "stages");
	int64_t best = 0;
	size_t i;

	/* Cohorts only grow: a later stage never drops a device an earlier
	 * one updated, whatever sizes were configured. */
	for (i = 0; i <= stage && i < json_array_size(stages); i++) {
		const json_t *st = json_array_get(stages, i);
		double pct = json_number_value(json_object_get(st, "percent"));
		int64_t k =
		    pct > 0 ? (int64_t)ceil(pct * (double)n / 100.0 - 1e-9) : jint(st, "count");

		if (k < jint(st, "min_devices"))
			k = jint(st, "min_devices");
		if (k > n)
			k = n;
		if (k > best)
			best = k;
	}
	return best;
}

/* ---- spec ------------------------------------------------------------- */

static int dur_or_int(int64_t *out, const json_t *body, const char *key, int64_t min, int64_t max,
		      struct fl_err *err)
{
	const json_t *v = json_object_get(body, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return fl_err_set(err, FL_EINVAL, "%s must be an integer %lld..%lld", key,
				  (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 0;
}

/* One stage: "10%", "25" (devices) or {"size": ..., "bake_s", "min_devices",
 * "max_updating"}; *st gets the normalised object. */
static int parse_stage(json_t **st, const json_t *v, int64_t bake, int64_t mind, int64_t maxu,
		       struct fl_err *err)
{
	static const char *const allowed[] = {"size", "bake_s", "min_devices", "max_updating",
					      NULL};
	const char *size = json_string_value(v);
	const json_t *obj = NULL;
	char *end;
	double x;
	int rc;

	if (json_is_object(v)) {
		obj = v;
		if ((rc = fl_json_only(obj, allowed, err)) < 0 ||
		    (rc = fl_json_str(&size, obj, "size", 1, err)) < 0 ||
		    (rc = dur_or_int(&bake, obj, "bake_s", 0, 30 * 86400, err)) < 0 ||
		    (rc = dur_or_int(&mind, obj, "min_devices", 0, CP_ROLLOUT_MAX_TARGETS, err)) <
			0 ||
		    (rc = dur_or_int(&maxu, obj, "max_updating", 1, CP_ROLLOUT_MAX_TARGETS, err)) <
			0)
			return rc;
	}
	if (!size || !size[0])
		return fl_err_set(err, FL_EINVAL, "a stage is \"N%%\", \"N\" or an object");
	x = strtod(size, &end);
	if (end != size && strcmp(end, "%") == 0 && x > 0 && x <= 100)
		*st = json_pack("{s:f,s:I,s:I,s:I}", "percent", x, "bake_s", (json_int_t)bake,
				"min_devices", (json_int_t)mind, "max_updating", (json_int_t)maxu);
	else if (end != size && !*end && x >= 1 && x <= CP_ROLLOUT_MAX_TARGETS && x == floor(x))
		*st = json_pack("{s:I,s:I,s:I,s:I}", "count", (json_int_t)x, "bake_s",
				(json_int_t)bake, "min_devices", (json_int_t)mind, "max_updating",
				(json_int_t)maxu);
	else
		return fl_err_set(err, FL_EINVAL,
				  "bad stage '%.32s': a percentage 0<P<=100 like \"10%%\" or a "
				  "device count like \"25\"",
				  size);
	return *st ? 0 : fl_err_set(err, FL_ENOMEM, "out of memory");
}

/* Validates a start body into the stored spec. */
static int parse_spec(json_t **out, const json_t *body, struct fl_err *err)
{
	static const char *const def_stages[] = {"1%", "10%", "50%", "100%"};
	const json_t *stages = json_object_get(body, "stages"), *v;
	const json_t *windows = json_object_get(body, "windows"),
		     *gates = json_object_get(body, "gates");
	const json_t *slos = json_object_get(body, "slos");
	int64_t bake = CP_ROLLOUT_BAKE_DEFAULT, mind = 1, maxu = CP_ROLLOUT_MAX_UPDATING,
		timeout = 0;
	json_t *spec = NULL, *arr = NULL;
	double max_burn = CP_ROLLOUT_SLO_MAX_BURN;
	int require_sli = 1, rc;
	size_t i;

	*out = NULL;
	if ((rc = dur_or_int(&bake, body, "bake_s", 0, 30 * 86400, err)) < 0 ||
	    (rc = dur_or_int(&mind, body, "min_devices", 0, CP_ROLLOUT_MAX_TARGETS, err)) < 0 ||
	    (rc = dur_or_int(&maxu, body, "max_updating", 1, CP_ROLLOUT_MAX_TARGETS, err)) < 0 ||
	    (rc = dur_or_int(&timeout, body, "timeout_s", 0, 60 * 86400, err)) < 0 ||
	    (rc = fl_json_bool(&require_sli, body, "require_sli", 0, err)) < 0)
		return rc;
	if (!json_object_get(body, "require_sli"))
		require_sli = 1;
	if ((v = json_object_get(body, "slo_max_burn"))) {
		if (!json_is_number(v) || json_number_value(v) <= 0)
			return fl_err_set(err, FL_EINVAL, "slo_max_burn must be a number > 0");
		max_burn = json_number_value(v);
	}
	spec = json_object();
	arr = json_array();
	json_object_set_new(spec, "stages", arr);
	if (stages) {
		if (!json_is_array(stages) || json_array_size(stages) == 0 ||
		    json_array_size(stages) > CP_ROLLOUT_MAX_STAGES) {
			rc = fl_err_set(err, FL_EINVAL, "stages must be an array of 1..%d",
					CP_ROLLOUT_MAX_STAGES);
			goto cleanup;
		}
		json_array_foreach (stages, i, v) {
			json_t *st = NULL;

			if ((rc = parse_stage(&st, v, bake, mind, maxu, err)) < 0)
				goto cleanup;
			json_array_append_new(arr, st);
		}
	} else {
		for (i = 0; i < 4; i++) {
			json_t *st = NULL, *s = json_string(def_stages[i]);

			rc = parse_stage(&st, s, bake, mind, maxu, err);
			json_decref(s);
			if (rc < 0)
				goto cleanup;
			json_array_append_new(arr, st);
		}
	}
	json_object_set_new(spec, "timeout_s", json_integer(timeout));
	arr = json_array();
	json_object_set_new(spec, "windows", arr);
	if (windows) {
		if (!json_is_array(windows) || json_array_size(windows) > CP_ROLLOUT_MAX_WINDOWS) {
			rc = fl_err_set(err, FL_EINVAL, "windows must be an array of at most %d",
					CP_ROLLOUT_MAX_WINDOWS);
			goto cleanup;
		}
		json_array_foreach (windows, i, v) {
			static const char *const allowed[] = {"cron", "duration_s", "tz", NULL};
			const char *cron = NULL, *tz = "UTC";
			int64_t dur = 0;

			if (!json_is_object(v)) {
				rc = fl_err_set(err, FL_EINVAL, "a window is an object");
				goto cleanup;
			}
			if ((rc = fl_json_only(v, allowed, err)) < 0 ||
			    (rc = fl_json_str(&cron, v, "cron", 1, err)) < 0 ||
			    (rc = fl_json_str(&tz, v, "tz", 0, err)) < 0 ||
			    (rc = fl_json_int(&dur, v, "duration_s", 1, err)) < 0)
				goto cleanup;
			if (!tz)
				tz = "UTC";
			if ((rc = cp_sched_window_open(cron, dur, tz, 0, err)) < 0)
				goto cleanup;
			json_array_append_new(arr,
					      json_pack("{s:s,s:I,s:s}", "cron", cron, "duration_s",
							(json_int_t)dur, "tz", tz));
		}
	}
	if (gates) {
		struct cp_gate_config cfg;

		cp_gate_config_defaults(&cfg);
		if (!json_is_object(gates)) {
			rc = fl_err_set(err, FL_EINVAL, "gates must be an object");
			goto cleanup;
		}
		if ((rc = cp_gate_config_parse(&cfg, gates, err)) < 0) {
			fl_err_prefix(err, "gates");
			goto cleanup;
		}
		json_object_set_new(spec, "gates", json_deep_copy(gates));
	} else {
		json_object_set_new(spec, "gates", json_object());
	}
	arr = json_array();
	json_object_set_new(spec, "slos", arr);
	if (slos) {
		if (!json_is_array(slos) || json_array_size(slos) > CP_ROLLOUT_MAX_SLOS) {
			rc = fl_err_set(err, FL_EINVAL, "slos must be an array of at most %d names",
					CP_ROLLOUT_MAX_SLOS);
			goto cleanup;
		}
		json_array_foreach (slos, i, v) {
			if (!json_is_string(v) || !fl_id_valid(json_string_value(v))) {
				rc = fl_err_set(err, FL_EINVAL, "slos must hold SLO names");
				goto cleanup;
			}
			json_array_append_new(arr, json_string(json_string_value(v)));
		}
	}
	json_object_set_new(spec, "slo_max_burn", json_real(max_burn));
	json_object_set_new(spec, "require_sli", json_boolean(require_sli));
	*out = spec;
	spec = NULL; /* now owned by the caller */
	rc = 0;
cleanup:
	json_decref(spec);
	return rc;
}

static const json_t *stage_of(const json_t *spec, int64_t k)
{
	return json_array_get(json_object_get(spec, "stages"), (size_t)k);
}

static int64_t timeout_of(const json_t *spec, int64_t k)
{
	int64_t t = jint(spec, "timeout_s");

	/* Twice the bake, and never less than five minutes: a short bake must
	 * not leave devices with slow links no time to install. */
	if (t > 0)
		return t;
	t = 2 * jint(stage_of(spec, k), "bake_s");
	return t < 300 ? 300 : t;
}

/* ---- the poke filter ------------------------------------------------ */

static uint64_t poke_bit(const char *device_id)
{
	return fl_hash_str(device_id) % POKE_BITS;
}

void cp_rollout_poke(struct cp_rollout_ctl *c, const char *device_id)
{
	uint64_t b;

	if (!c || !device_id)
		return;
	b = poke_bit(device_id);
	if (!(atomic_load_explicit(&c->filter[b / 64], memory_order_relaxed) & (1ULL << (b % 64))))
		return;
	atomic_store(&c->poked, 1);
	atomic_fetch_add(&c->pokes, 1);
	/* Signalling does not need the mutex; a round that misses this signal
	 * sees the flag before it sleeps. */
	pthread_cond_signal(&c->cond);
}

int64_t cp_rollout_pokes(struct cp_rollout_ctl *c)
{
	return atomic_load(&c->pokes);
}

/* ---- one rollout's view ------------------------------------------- */

struct view {
	json_t *ro;   /* the rollout row */
	json_t *spec; /* borrowed from ro */
	json_t *devs; /* cp_store_rollout_devices */
	char ref[160];
	int64_t n, stage, cohort, assigned, updating, finished;
	int64_t counts[5]; /* by CP_GATE_* outcome */
	struct cp_gate_eval eval;
	int eval_rc;
	int baseline; /* devices in the comparison's baseline */
	int64_t look; /* the alpha-spending look of eval */
	struct fl_err eval_err;
};

static void view_release(struct view *v)
{
	json_decref(v->ro);
	json_decref(v->devs);
	memset(v, 0, sizeof(*v));
}

static int outcome_of(const json_t *d, const char *ref)
{
	const char *st = jstr(d, "state");
	const char *us = jstr(d, "update_state");

	if (strcmp(st, "pending") == 0)
		return CP_GATE_PENDING;
	/* A status about another release predates this assignment. */
	if (strcmp(jstr(d, "update_release"), ref) != 0)
		return CP_GATE_UPDATING;
	if (strcmp(us, "committed") == 0)
		return CP_GATE_COMMITTED;
	if (strcmp(us, "failed") == 0)
		return CP_GATE_FAILED;
	if (strcmp(us, "rolled_back") == 0)
		return CP_GATE_ROLLED_BACK;
	return CP_GATE_UPDATING;
}

static const char *const outcome_names[] = {"pending", "updating", "committed", "failed",
					    "rolled_back"};

static int is_comparison(const char *name)
{
	return strcmp(name, "latency") == 0 || strcmp(name, "errors") == 0 ||
	       strcmp(name, "drift") == 0 || strcmp(name, "carbon") == 0;
}

/* Fills one gate device from its SLI aggregate. */
static void gate_dev_fill(struct cp_gate_device *g, const struct cp_sli_agg *a, double q)
{
	g->inferences = a->inferences;
	g->latency_q_ms = a->latency_ms && fl_sketch_count(a->latency_ms) > 0
			      ? fl_sketch_quantile(a->latency_ms, q)
			      : NAN;
	g->error_ratio = a->inferences > 0 ? (double)a->errors / (double)a->inferences : NAN;
	g->drift_ratio =
	    a->drift_checks > 0 ? (double)a->drift_alarms / (double)a->drift_checks : NAN;
	g->carbon_per_inf_g = a->inferences > 0 ? a->carbon_g / (double)a->inferences : NAN;
}

/* The gates over the rollout's devices now: canaries are the devices it
 * assigned (their SLIs on the new release), the baseline the target devices
 * it has not touched yet (whatever they run: the previous release). */
static int evaluate(struct cp_rollout_ctl *c, struct view *v, int64_t now, struct fl_err *err)
{
	struct cp_gate_config cfg;
	struct cp_gate_device *gd = NULL;
	const char **can_ids = NULL, **base_ids = NULL;
	struct cp_sli_agg *can = NULL, *base = NULL;
	static const struct cp_sli_agg none = {0};
	size_t ncan = 0, nbase = 0, ic, ib, i;
	int64_t from, to, bake_start = jint(v->ro, "bake_started_at"), bake, look = 1;
	double burns[CP_ROLLOUT_MAX_SLOS];
	const char *slo_names[CP_ROLLOUT_MAX_SLOS];
	size_t nslo = 0;
	int rc;
	json_t *d;

	cp_gate_config_defaults(&cfg);
	if ((rc = cp_gate_config_parse(&cfg, json_object_get(v->spec, "gates"), err)) < 0)
		return rc;
	gd = calloc((size_t)v->n + 1, sizeof(*gd));
	can_ids = calloc((size_t)v->n + 1, sizeof(*can_ids));
	base_ids = calloc((size_t)v->n + 1, sizeof(*base_ids));
	if (!gd || !can_ids || !base_ids) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	json_array_foreach (v->devs, i, d) {
		int o = outcome_of(d, v->ref);

		if (o == CP_GATE_PENDING)
			base_ids[nbase++] = jstr(d, "device_id");
		else
			can_ids[ncan++] = jstr(d, "device_id");
	}
	/* The window covers the stage so far, in whole minutes (the store's
	 * resolution), the current minute included. */
	from = (jint(v->ro, "stage_started_at") / 60) * 60;
	to = (now / 60 + 1) * 60;
	if (ncan && c->d.sli &&
	    (rc = c->d.sli(c->d.sli_ctx, &can, can_ids, ncan, v->ref, from, to, err)) < 0)
		goto cleanup;
	if (nbase && c->d.sli &&
	    (rc = c->d.sli(c->d.sli_ctx, &base, base_ids, nbase, NULL, from, to, err)) < 0)
		goto cleanup;
	/* The aggregates come back in the order the ids were listed. */
	ic = ib = 0;
	json_array_foreach (v->devs, i, d) {
		struct cp_gate_device *g = &gd[i];
		const struct cp_sli_agg *a = &none;

		snprintf(g->id, sizeof(g->id), "%s", jstr(d, "device_id"));
		g->outcome = outcome_of(d, v->ref);
		g->canary = g->outcome != CP_GATE_PENDING;
		if (g->canary) {
			/* A canary still updating has no post-update SLIs yet. */
			if (can && g->outcome == CP_GATE_COMMITTED)
				a = &can[ic];
			ic++;
		} else {
			if (base)
				a = &base[ib];
			ib++;
		}
		gate_dev_fill(g, a, cfg.latency_quantile);
	}
	/* Alpha spending: the information fraction is the share of the bake
	 * elapsed, in max_looks steps; before the bake every look is the first
	 * (the strictest level). */
	bake = jint(stage_of(v->spec, v->stage), "bake_s");
	if (bake_start > 0 && cfg.max_looks > 0) {
		look = bake > 0 ? ((now - bake_start) * cfg.max_looks + bake - 1) / bake
				: cfg.max_looks;
		if (look < 1)
			look = 1;
		if (look > cfg.max_looks)
			look = cfg.max_looks;
	}
	json_array_foreach (json_object_get(v->spec, "slos"), i, d)
		if (nslo < CP_ROLLOUT_MAX_SLOS)
			slo_names[nslo++] = json_string_value(d);
	if (nslo && c->d.burn) {
		if ((rc = c->d.burn(c->d.burn_ctx, burns, slo_names, nslo, v->ref, now, err)) < 0)
			goto cleanup;
	} else {
		nslo = 0;
	}
	v->look = look;
	rc = c->d.gates(&v->eval, gd, (size_t)v->n, &cfg, (int)look, nslo ? burns : NULL, nslo,
			json_number_value(json_object_get(v->spec, "slo_max_burn")), err);
	if (rc < 0)
		goto cleanup;
	v->baseline = (int)nbase;
	/* Comparisons need a baseline; the last stage has none left, and some
	 * releases (firmware, config) produce no inference SLIs at all
	 * (require_sli false). A comparison that waits for those reasons does
	 * not hold the rollout: the earlier stages compared. */
	if (v->eval.verdict == CP_GATE_WAIT) {
		int wait = 0;

		for (i = 0; i < v->eval.n; i++) {
			struct cp_gate_result *r = &v->eval.r[i];

			if (r->verdict != CP_GATE_WAIT)
				continue;
			if (is_comparison(r->name) &&
			    (nbase == 0 ||
			     !json_is_true(json_object_get(v->spec, "require_sli")))) {
				r->verdict = CP_GATE_PASS;
				snprintf(r->why, sizeof(r->why), "%s",
					 nbase == 0 ? "no baseline left: compared in earlier stages"
						    : "not required (require_sli false)");
				continue;
			}
			wait = 1;
		}
		if (!wait)
			v->eval.verdict = CP_GATE_PASS;
	}
cleanup:
	if (can)
		cp_sli_aggs_free(can, ncan);
	if (base)
		cp_sli_aggs_free(base, nbase);
	free(gd);
	free(can_ids);
	free(base_ids);
	return rc;
}

static int view_load(struct cp_rollout_ctl *c, struct view *v, const char *id, int64_t now,
		     int with_eval, struct fl_err *err)
{
	size_t i;
	json_t *d;
	int rc;

	memset(v, 0, sizeof(*v));
	if ((rc = cp_store_rollout_get(&v->ro, c->d.store, id, err)) < 0 ||
	    (rc = cp_store_rollout_devices(&v->devs, c->d.store, id, err)) < 0)
		return rc;
	v->spec = json_object_get(v->ro, "spec");
	snprintf(v->ref, sizeof(v->ref), "%s", jstr(v->ro, "release"));
	v->n = (int64_t)json_array_size(v->devs);
	v->stage = jint(v->ro, "stage");
	v->cohort = cp_rollout_cohort(v->spec, (size_t)v->stage, v->n);
	json_array_foreach (v->devs, i, d) {
		int o = outcome_of(d, v->ref);

		v->counts[o]++;
		if (o != CP_GATE_PENDING)
			v->assigned++;
		if (o == CP_GATE_UPDATING)
			v->updating++;
		if (o >= CP_GATE_COMMITTED)
			v->finished++;
	}
	if (with_eval) {
		/* A gate error (bad data) is recorded, not fatal for the view. */
		v->eval_rc = evaluate(c, v, now, &v->eval_err);
	}
	return 0;
}

static json_t *counts_json(const struct view *v)
{
	json_t *o = json_object();
	int i;

	for (i = 0; i < 5; i++)
		json_object_set_new(o, outcome_names[i], json_integer(v->counts[i]));
	json_object_set_new(o, "total", json_integer(v->n));
	return o;
}

/* The numbers a decision used: counts, cohort and the gates. */
static json_t *evidence(const struct view *v)
{
	json_t *ev = NULL, *o;

	if (v->eval_rc == 0 && cp_gate_eval_json(&ev, &v->eval) < 0)
		ev = NULL;
	o = json_pack("{s:o,s:I,s:I,s:i}", "devices", counts_json(v), "cohort",
		      (json_int_t)v->cohort, "stage", (json_int_t)v->stage, "baseline",
		      v->baseline);
	if (ev)
		json_object_set_new(o, "gates", ev);
	else if (v->eval_rc < 0)
		json_object_set_new(o, "gates_error", json_string(v->eval_err.msg));
	return o;
}

/* ---- decisions -------------------------------------------------------- */

static void step_init(struct cp_rollout_step *st, const struct view *v, int64_t now)
{
	memset(st, 0, sizeof(*st));
	st->id = jstr(v->ro, "id");
	st->from_state = jstr(v->ro, "state");
	st->from_stage = v->stage;
	st->state = st->from_state;
	st->stage = v->stage;
	st->stage_started_at = jint(v->ro, "stage_started_at");
	st->bake_started_at = jint(v->ro, "bake_started_at");
	st->reason = jstr(v->ro, "reason");
	st->now = now;
}

static int commit_step(struct cp_rollout_ctl *c, struct cp_rollout_step *st, const char *action,
		       json_t *details, struct fl_err *err)
{
	struct cp_audit_rec a = {st->actor, action, st->id, details};
	size_t i;
	int rc;

	st->details = details;
	rc = cp_store_rollout_step(c->d.store, st, &a, err);
	if (rc == 0)
		c->changed = 1;
	if (rc == 0 && c->d.reg)
		for (i = 0; i < st->nassign; i++) {
			char ref[160];

			snprintf(ref, sizeof(ref), "%s@%s", st->assign[i].name,
				 st->assign[i].version);
			cp_registry_set_assigned(c->d.reg, st->assign[i].device_id, ref);
		}
	if (rc == 0)
		fl_log(FL_LOG_INFO, "rollout %s: %s (stage %lld, state %s)", st->id, st->kind,
		       (long long)st->stage, st->state);
	return rc;
}

/* Signed assignments of ref (rollback flag as given) to the devices; rows
 * and their envelopes are owned by the caller (assign_free). */
struct signed_set {
	struct cp_assignment_row *rows;
	struct fl_buf *envs;
	struct fl_relref *refs;
	size_t n;
};

static void assign_free(struct signed_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		fl_buf_release(&s->envs[i]);
	free(s->rows);
	free(s->envs);
	free(s->refs);
	memset(s, 0, sizeof(*s));
}

/* Signs one assignment per (device, ref) pair into s. */
static int sign_set(struct signed_set *s, struct cp_rollout_ctl *c, const char *const *devices,
		    const char *const *refs, size_t n, int rollback, int64_t now,
		    struct fl_err *err)
{
	json_t *rel = NULL;
	char last[160] = "";
	size_t i;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	if (n == 0)
		return 0;
	if (!c->d.director)
		return fl_err_set(err, FL_EAGAIN, "releases are not configured on this server");
	s->rows = calloc(n, sizeof(*s->rows));
	s->envs = calloc(n, sizeof(*s->envs));
	s->refs = calloc(n, sizeof(*s->refs));
	if (!s->rows || !s->envs || !s->refs) {
		assign_free(s);
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	for (i = 0; i < n; i++) {
		if ((rc = fl_relref_parse(&s->refs[i], refs[i], err)) < 0)
			break;
		if (strcmp(last, refs[i]) != 0) {
			json_decref(rel);
			rel = NULL;
			if ((rc = cp_store_release_get(&rel, c->d.store, s->refs[i].name,
						       s->refs[i].version, err)) < 0)
				break;
			snprintf(last, sizeof(last), "%s", refs[i]);
		}
		s->envs[i] = (struct fl_buf)FL_BUF_INIT;
		s->n = i + 1;
		if ((rc = cp_assign_sign(&s->rows[i], &s->envs[i], c->d.director, devices[i],
					 &s->refs[i], rel, rollback, now, err)) < 0)
			break;
	}
	json_decref(rel);
	if (rc < 0)
		assign_free(s);
	return rc;
}

/* Abort: every device the rollout assigned goes back to the release it ran
 * before, signed with the rollback flag so that agents accept the lower
 * counter. Devices that ran nothing of the release before cannot go back:
 * they are recorded as unrevertable. */
static int abort_rollout(struct cp_rollout_ctl *c, struct view *v, int64_t now, const char *kind,
			 const char *actor, const char *reason, struct fl_err *err)
{
	struct cp_rollout_step st;
	struct signed_set set = {0};
	const char **ids = calloc((size_t)v->n + 1, sizeof(char *));
	const char **refs = calloc((size_t)v->n + 1, sizeof(char *));
	const char **unrev = calloc((size_t)v->n + 1, sizeof(char *));
	size_t n = 0, nu = 0, i;
	json_t *d, *details = NULL, *reverted = json_array(), *unr = json_array();
	int rc;

	if (!ids || !refs || !unrev) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	json_array_foreach (v->devs, i, d) {
		if (strcmp(jstr(d, "state"), "assigned") != 0)
			continue;
		if (json_is_string(json_object_get(d, "prev_release"))) {
			ids[n] = jstr(d, "device_id");
			refs[n++] = jstr(d, "prev_release");
			json_array_append_new(reverted, json_string(jstr(d, "device_id")));
		} else {
			unrev[nu++] = jstr(d, "device_id");
			json_array_append_new(unr, json_string(jstr(d, "device_id")));
		}
	}
	if ((rc = sign_set(&set, c, ids, refs, n, 1, now, err)) < 0)
		goto cleanup;
	step_init(&st, v, now);
	st.state = "aborted";
	st.finished_at = now;
	st.reason = reason;
	st.assign = set.rows;
	st.nassign = set.n;
	st.dev_state = "reverted";
	st.unrevertable = unrev;
	st.nunrevertable = nu;
	st.kind = kind;
	st.actor = actor;
	details = evidence(v);
	json_object_set_new(details, "reason", json_string(reason));
	json_object_set_new(details, "rolled_back", reverted);
	json_object_set_new(details, "unrevertable", unr);
	reverted = unr = NULL;
	rc = commit_step(c, &st, "rollout.abort", details, err);
cleanup:
	assign_free(&set);
	json_decref(details);
	json_decref(reverted);
	json_decref(unr);
	free(ids);
	free(refs);
	free(unrev);
	return rc;
}

/* Whether new assignments may go out now (no windows: always). */
static int window_open(const json_t *spec, int64_t now)
{
	const json_t *ws = json_object_get(spec, "windows"), *w;
	size_t i;

	if (json_array_size(ws) == 0)
		return 1;
	json_array_foreach (ws, i, w)
		if (cp_sched_window_open(jstr(w, "cron"), jint(w, "duration_s"), jstr(w, "tz"), now,
					 NULL) == 1)
			return 1;
	return 0;
}

/* 1 when the device may receive rel now (cp_assign_check), 0 when not (or
 * it is gone), <0 on a store error. Every round asks again, hence debug. */
static int may_receive(struct cp_rollout_ctl *c, const struct view *v, const char *id,
		       const json_t *rel, struct fl_err *err)
{
	struct fl_err why = {0, ""};
	json_t *dev = NULL;
	int rc = cp_store_device_get(&dev, c->d.store, id, err);

	if (rc == FL_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	rc = cp_assign_check(dev, rel, &why) == 0;
	if (!rc)
		fl_log(FL_LOG_DEBUG, "rollout %s: %s not assigned: %s", jstr(v->ro, "id"), id,
		       why.msg);
	json_decref(dev);
	return rc;
}

/* Assigns the next devices of the cohort in rank order, keeping at most
 * max_updating unfinished. */
static int assign_more(struct cp_rollout_ctl *c, struct view *v, int64_t now, struct fl_err *err)
{
	int64_t cap = jint(stage_of(v->spec, v->stage), "max_updating") - v->updating;
	const char **ids, **refs;
	struct signed_set set = {0};
	struct cp_rollout_step st;
	struct fl_relref rr;
	json_t *d, *list = NULL, *details, *rel = NULL;
	size_t n = 0, i;
	int rc;

	if (cap <= 0 || v->assigned >= v->cohort || !window_open(v->spec, now))
		return 0;
	ids = calloc((size_t)cap, sizeof(char *));
	refs = calloc((size_t)cap, sizeof(char *));
	if (!ids || !refs) {
		free(ids);
		free(refs);
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	list = json_array();
	if ((rc = fl_relref_parse(&rr, v->ref, err)) < 0 ||
	    (rc = cp_store_release_get(&rel, c->d.store, rr.name, rr.version, err)) < 0)
		goto cleanup;
	json_array_foreach (v->devs, i, d) {
		if ((int64_t)i >= v->cohort || (int64_t)n >= cap)
			break;
		if (strcmp(jstr(d, "state"), "pending") != 0)
			continue;
		/* The rule held at the start; the device may have been revoked
		 * (or its hardware changed) since. It stays pending, unsigned. */
		if ((rc = may_receive(c, v, jstr(d, "device_id"), rel, err)) < 0)
			goto cleanup;
		if (rc == 0)
			continue;
		ids[n] = jstr(d, "device_id");
		refs[n++] = v->ref;
		json_array_append_new(list, json_string(jstr(d, "device_id")));
	}
	rc = sign_set(&set, c, ids, refs, n, 0, now, err);
	if (rc == 0 && n > 0) {
		step_init(&st, v, now);
		st.assign = set.rows;
		st.nassign = set.n;
		st.dev_state = "assigned";
		st.kind = "assign";
		st.actor = "controller";
		details =
		    json_pack("{s:O,s:I,s:I,s:I}", "devices", list, "cohort", (json_int_t)v->cohort,
			      "updating", (json_int_t)(v->updating + (int64_t)n), "max_updating",
			      (json_int_t)jint(stage_of(v->spec, v->stage), "max_updating"));
		rc = commit_step(c, &st, "rollout.assign", details, err);
		json_decref(details);
	}
cleanup:
	assign_free(&set);
	json_decref(list);
	json_decref(rel);
	free(ids);
	free(refs);
	return rc;
}

/* Next stage, or done after the last. */
static int advance(struct cp_rollout_ctl *c, struct view *v, int64_t now, const char *kind,
		   const char *actor, struct fl_err *err)
{
	struct cp_rollout_step st;
	json_t *details = evidence(v);
	int last = (size_t)v->stage + 1 >= json_array_size(json_object_get(v->spec, "stages"));
	int rc;

	step_init(&st, v, now);
	st.kind = kind;
	st.actor = actor;
	if (last) {
		st.state = "done";
		st.finished_at = now;
		st.reason = "every stage passed";
	} else {
		st.stage = v->stage + 1;
		st.stage_started_at = now;
		st.bake_started_at = 0;
		st.reason = "";
	}
	rc = commit_step(c, &st, last ? "rollout.done" : "rollout.stage", details, err);
	json_decref(details);
	return rc;
}

static int pause_rollout(struct cp_rollout_ctl *c, struct view *v, int64_t now, const char *kind,
			 const char *actor, const char *reason, struct fl_err *err)
{
	struct cp_rollout_step st;
	json_t *details = evidence(v);
	int rc;

	step_init(&st, v, now);
	st.state = "paused";
	st.reason = reason;
	st.kind = kind;
	st.actor = actor;
	json_object_set_new(details, "reason", json_string(reason));
	rc = commit_step(c, &st, "rollout.pause", details, err);
	json_decref(details);
	return rc;
}

/* Alpha spending gives look k its own level, and the union bound behind the
 * stated false-fail rate holds only if each look tests once. The controller
 * evaluates every tick and on every report, many times per look; so only the
 * first decision round of a look may fail on a comparison gate, and a later
 * round's comparison failure waits for the next look. (The failure-ratio and
 * SLO-burn gates are thresholds, not tests: they act at once.) Kept in
 * memory: a restart gives the current look one more test. */
static void once_per_look(struct cp_rollout_ctl *c, struct view *v, const char *id)
{
	struct tested *t = NULL;
	int fail = 0, wait = 0;
	size_t i;

	for (i = 0; i < c->ntested; i++)
		if (strcmp(c->tested[i].id, id) == 0)
			t = &c->tested[i];
	if (!t) {
		if (c->ntested == CP_ROLLOUT_TESTED_MAX) /* drop the oldest */
			memmove(&c->tested[0], &c->tested[1], --c->ntested * sizeof(c->tested[0]));
		t = &c->tested[c->ntested++];
		snprintf(t->id, sizeof(t->id), "%s", id);
		t->stage = -1;
	}
	if (t->stage == v->stage && t->look >= v->look) {
		for (i = 0; i < v->eval.n; i++) {
			struct cp_gate_result *r = &v->eval.r[i];

			if (r->verdict == CP_GATE_FAIL && is_comparison(r->name)) {
				r->verdict = CP_GATE_WAIT;
				snprintf(r->why, sizeof(r->why),
					 "look %lld already tested; the next test is at look %lld",
					 (long long)v->look, (long long)v->look + 1);
			}
		}
		for (i = 0; i < v->eval.n; i++) {
			fail |= v->eval.r[i].verdict == CP_GATE_FAIL;
			wait |= v->eval.r[i].verdict == CP_GATE_WAIT;
		}
		v->eval.verdict = fail ? CP_GATE_FAIL : wait ? CP_GATE_WAIT : CP_GATE_PASS;
	}
	t->stage = v->stage;
	t->look = v->look;
}

/* One running rollout, one step of its state machine. */
static int drive(struct cp_rollout_ctl *c, const char *id, int64_t now, struct fl_err *err)
{
	struct view v;
	int64_t bake, bake_start, timeout;
	int rc;

	if ((rc = view_load(c, &v, id, now, 1, err)) < 0)
		return rc;
	if (strcmp(jstr(v.ro, "state"), "running") != 0)
		goto cleanup;
	if (v.eval_rc == 0)
		once_per_look(c, &v, id);
	bake = jint(stage_of(v.spec, v.stage), "bake_s");
	bake_start = jint(v.ro, "bake_started_at");
	timeout = timeout_of(v.spec, v.stage);
	if (v.eval_rc == 0 && v.eval.verdict == CP_GATE_FAIL) {
		rc = abort_rollout(c, &v, now, "fail", "controller", "a gate failed", err);
		goto cleanup;
	}
	if (v.assigned < v.cohort) {
		rc = assign_more(c, &v, now, err);
		/* Installs that never finish must not hold a stage forever; outside
		 * maintenance windows nothing can progress, so no timeout runs. */
		if (rc == 0 && json_array_size(json_object_get(v.spec, "windows")) == 0 &&
		    now >= jint(v.ro, "stage_started_at") + bake + timeout) {
			view_release(&v);
			if ((rc = view_load(c, &v, id, now, 0, err)) < 0)
				return rc;
			rc = pause_rollout(c, &v, now, "stage_timeout", "controller",
					   "the stage's devices did not finish updating in time",
					   err);
		}
		goto cleanup;
	}
	if (bake_start == 0) {
		if (v.finished >= v.cohort) {
			struct cp_rollout_step st;
			json_t *details = evidence(&v);

			step_init(&st, &v, now);
			st.bake_started_at = now;
			st.kind = "bake";
			st.actor = "controller";
			rc = commit_step(c, &st, "rollout.bake", details, err);
			json_decref(details);
		} else if (json_array_size(json_object_get(v.spec, "windows")) == 0 &&
			   now >= jint(v.ro, "stage_started_at") + bake + timeout) {
			rc = pause_rollout(c, &v, now, "stage_timeout", "controller",
					   "the stage's devices did not finish updating in time",
					   err);
		}
		goto cleanup;
	}
	if (now < bake_start + bake)
		goto cleanup;
	if (v.eval_rc < 0) {
		if (now >= bake_start + bake + timeout)
			rc = pause_rollout(c, &v, now, "wait_timeout", "controller",
					   "the gates could not be evaluated", err);
		goto cleanup;
	}
	if (v.eval.verdict == CP_GATE_PASS)
		rc = advance(c, &v, now, "pass", "controller", err);
	else if (now >= bake_start + bake + timeout)
		rc = pause_rollout(c, &v, now, "wait_timeout", "controller",
				   "not enough data for the gates after the bake and its timeout",
				   err);
cleanup:
	view_release(&v);
	return rc;
}

/* Rebuilds the poke filter from the active rollouts' devices. */
static void filter_rebuild(struct cp_rollout_ctl *c, const json_t *active)
{
	uint64_t f[POKE_BITS / 64] = {0};
	size_t i, j;
	json_t *ro, *d;

	json_array_foreach (active, i, ro) {
		json_t *devs = NULL;

		if (cp_store_rollout_devices(&devs, c->d.store, jstr(ro, "id"), NULL) < 0)
			continue;
		json_array_foreach (devs, j, d) {
			uint64_t b = poke_bit(jstr(d, "device_id"));

			f[b / 64] |= 1ULL << (b % 64);
		}
		json_decref(devs);
	}
	for (i = 0; i < POKE_BITS / 64; i++)
		atomic_store_explicit(&c->filter[i], f[i], memory_order_relaxed);
}

static int round_locked(struct cp_rollout_ctl *c, struct fl_err *err)
{
	json_t *active = NULL, *ro;
	int64_t now = now_of(c);
	size_t i;
	int rc, first = 0;

	if ((rc = cp_store_rollouts_list(&active, c->d.store, "running", 1000, err)) < 0)
		return rc;
	/* Only a running rollout needs the batched writes now; otherwise the
	 * write-behind keeps its own interval. */
	if (c->d.settle && json_array_size(active) > 0)
		c->d.settle(c->d.settle_ctx);
	json_array_foreach (active, i, ro) {
		struct fl_err e = {0, ""};

		int k;

		/* A decision may enable the next one at once (finished -> bake ->
		 * pass with no bake time -> assign): follow it, a few steps. */
		for (k = 0, rc = 0; k < 8; k++) {
			c->changed = 0;
			if ((rc = drive(c, jstr(ro, "id"), now, &e)) < 0 || !c->changed)
				break;
		}
		/* One rollout's trouble does not stop the others. */
		if (rc < 0 && rc != FL_ECONFLICT) {
			fl_log(FL_LOG_WARN, "rollout %s: %s", jstr(ro, "id"), e.msg);
			if (!first && err)
				*err = e;
			first = first ? first : rc;
		}
	}
	json_decref(active);
	if (cp_store_rollouts_list(&active, c->d.store, "active", 1000, NULL) == 0)
		filter_rebuild(c, active);
	json_decref(active);
	return first;
}

int cp_rollout_round(struct cp_rollout_ctl *c, struct fl_err *err)
{
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = round_locked(c, err);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* ---- thread ------------------------------------------------------------ */

static void *ctl_main(void *arg)
{
	struct cp_rollout_ctl *c = arg;

	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		struct timespec ts;

		atomic_store(&c->poked, 0);
		round_locked(c, NULL);
		if (c->stop || atomic_load(&c->poked))
			continue;
		fl_timespec_after(&ts, CLOCK_REALTIME, c->tick_ms);
		while (!c->stop && !atomic_load(&c->poked))
			if (pthread_cond_timedwait(&c->cond, &c->mu, &ts) != 0)
				break;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int cp_rollout_ctl_new(struct cp_rollout_ctl **out, const struct cp_rollout_deps *deps,
		       struct fl_err *err)
{
	struct cp_rollout_ctl *c = calloc(1, sizeof(*c));
	json_t *active = NULL;

	*out = NULL;
	if (!c)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	if (!deps->store || !deps->gates) {
		free(c);
		return fl_err_set(err, FL_EINVAL, "rollout controller needs a store and gates");
	}
	c->d = *deps;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cond, NULL);
	/* Pokes work from the start, before the first round. */
	if (cp_store_rollouts_list(&active, c->d.store, "active", 1000, NULL) == 0)
		filter_rebuild(c, active);
	json_decref(active);
	*out = c;
	return 0;
}

int cp_rollout_ctl_start(struct cp_rollout_ctl *c, int tick_ms, struct fl_err *err)
{
	c->tick_ms = tick_ms > 0 ? tick_ms : CP_ROLLOUT_TICK_MS_DEFAULT;
	c->stop = 0;
	if (pthread_create(&c->thread, NULL, ctl_main, c) != 0)
		return fl_err_set(err, FL_ERROR, "cannot start the rollout controller");
	c->running = 1;
	return 0;
}

void cp_rollout_ctl_stop(struct cp_rollout_ctl *c)
{
	if (!c || !c->running)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	c->running = 0;
}

void cp_rollout_ctl_free(struct cp_rollout_ctl *c)
{
	if (!c)
		return;
	cp_rollout_ctl_stop(c);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* ---- start --------------------------------------------------------------- */

struct ranked {
	char key[65];
	char id[65];
	char prev[160];
};

static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	int r = strcmp(x->key, y->key);

	return r ? r : strcmp(x->id, y->id);
}

/* The release of name the device committed before: what its inventory says
 * it runs, when that release is known here. */
static void prev_release(char out[160], struct cp_store *s, const json_t *dev, const char *name)
{
	const char *v = json_string_value(
	    json_object_get(json_object_get(json_object_get(dev, "inventory"), "running"), name));
	json_t *rel = NULL;

	out[0] = '\0';
	if (!v || cp_store_release_get(&rel, s, name, v, NULL) < 0)
		return;
	snprintf(out, 160, "%s@%s", name, v);
	json_decref(rel);
}

/* Every SLO the spec names exists: a typo would otherwise leave the burn
 * gate waiting until the rollout pauses. */
static int slos_exist(struct cp_rollout_ctl *c, const json_t *spec, struct fl_err *err)
{
	const json_t *v;
	size_t i;
	int rc;

	json_array_foreach (json_object_get(spec, "slos"), i, v) {
		json_t *row = NULL;

		rc = cp_store_slo_get(&row, c->d.store, json_string_value(v), err);
		json_decref(row);
		if (rc == FL_ENOTFOUND)
			return fl_err_set(err, FL_EINVAL, "slos: no SLO '%s'",
					  json_string_value(v));
		if (rc < 0)
			return rc;
	}
	return 0;
}

int cp_rollout_store_burn(void *ctx, double *out, const char *const *names, size_t n,
			  const char *release, int64_t now, struct fl_err *err)
{
	struct cp_store *store = ctx;
	struct cp_slo *slo = malloc(sizeof(*slo));
	int rc = 0;

	if (!slo)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *row = NULL;

		out[i] = NAN;
		rc = cp_store_slo_get(&row, store, names[i], err);
		if (rc == FL_ENOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc == 0)
			rc = cp_slo_parse(slo, json_object_get(row, "definition"), err);
		json_decref(row);
		if (rc == 0)
			rc = cp_slo_release_burn(&out[i], slo, release, cp_store_sli_source, store,
						 now, err);
		if (rc < 0)
			break;
	}
	free(slo);
	return rc;
}

static int start_locked(json_t **out, struct cp_rollout_ctl *c, const json_t *body,
			const char *actor, struct fl_err *err)
{
	static const char *const allowed[] = {
	    "id",	   "release",	   "selector",	  "stages",  "bake_s",
	    "min_devices", "max_updating", "timeout_s",	  "windows", "gates",
	    "slos",	   "slo_max_burn", "require_sli", NULL};
	const char *ref = NULL, *expr = NULL, *id_in = NULL;
	struct fl_relref rr;
	char id[65];
	json_t *spec = NULL, *rel = NULL, *page = NULL, *skipped = json_array(), *busy = NULL;
	json_t *details = NULL, *dev;
	struct fl_selector *sel = NULL;
	struct ranked *rk = NULL;
	struct cp_rollout_target *targets = NULL;
	size_t n = 0, cap = 0, i;
	char after[80] = "";
	int more = 1, rc;
	int64_t now = now_of(c);

	*out = NULL;
	if (!c->d.director) {
		rc = fl_err_set(err, FL_EAGAIN, "releases are not configured on this server");
		goto cleanup;
	}
	if ((rc = fl_json_only(body, allowed, err)) < 0 ||
	    (rc = fl_json_str(&ref, body, "release", 1, err)) < 0 ||
	    (rc = fl_json_str(&expr, body, "selector", 1, err)) < 0 ||
	    (rc = fl_json_str(&id_in, body, "id", 0, err)) < 0)
		goto cleanup;
	if ((rc = fl_relref_parse(&rr, ref, err)) < 0)
		goto cleanup;
	if (!expr[0]) {
		rc = fl_err_set(err, FL_EINVAL, "selector must not be empty");
		goto cleanup;
	}
	if ((rc = fl_selector_parse(&sel, expr, err)) < 0 ||
	    (rc = parse_spec(&spec, body, err)) < 0 || (rc = slos_exist(c, spec, err)) < 0)
		goto cleanup;
	if (id_in) {
		if (!fl_id_valid(id_in)) {
			rc = fl_err_set(err, FL_EINVAL, "bad rollout id");
			goto cleanup;
		}
		snprintf(id, sizeof(id), "%s", id_in);
	} else {
		uint8_t r[6];
		char hex[13];

		fl_random(r, sizeof(r));
		fl_hex_encode(hex, r, sizeof(r));
		snprintf(id, sizeof(id), "ro-%s", hex);
	}
	if ((rc = cp_store_release_get(&rel, c->d.store, rr.name, rr.version, err)) < 0)
		goto cleanup;
	while (more) {
		if ((rc = cp_store_devices_page(&page, c->d.store, after, 500, err)) < 0)
			goto cleanup;
		more = json_array_size(page) == 500;
		json_array_foreach (page, i, dev) {
			const char *did = jstr(dev, "id");
			struct fl_err why = {0, ""};

			snprintf(after, sizeof(after), "%s", did);
			if (!fl_selector_match(sel, json_object_get(dev, "labels"),
					       jstr(dev, "state")))
				continue;
			if (cp_assign_check(dev, rel, &why) < 0) {
				json_array_append_new(
				    skipped, json_pack("{s:s,s:s}", "id", did, "reason", why.msg));
				continue;
			}
			if (n == CP_ROLLOUT_MAX_TARGETS) {
				rc = fl_err_set(err, FL_ETOOBIG, "over %d target devices",
						CP_ROLLOUT_MAX_TARGETS);
				goto cleanup;
			}
			if (n == cap) {
				size_t nc = cap ? 2 * cap : 256;
				struct ranked *t = realloc(rk, nc * sizeof(*rk));

				if (!t) {
					rc = fl_err_set(err, FL_ENOMEM, "out of memory");
					goto cleanup;
				}
				rk = t;
				cap = nc;
			}
			cp_rollout_rank_key(rk[n].key, id, did);
			snprintf(rk[n].id, sizeof(rk[n].id), "%s", did);
			prev_release(rk[n].prev, c->d.store, dev, rr.name);
			n++;
		}
		json_decref(page);
		page = NULL;
	}
	if (n == 0) {
		rc = fl_err_set(err, FL_EINVAL, "the selector matches no device that can take %s",
				ref);
		goto cleanup;
	}
	qsort(rk, n, sizeof(*rk), ranked_cmp);
	targets = calloc(n, sizeof(*targets));
	if (!targets) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < n; i++)
		targets[i] = (struct cp_rollout_target){rk[i].id, (int64_t)i,
							rk[i].prev[0] ? rk[i].prev : NULL};
	details =
	    json_pack("{s:s,s:s,s:I,s:O,s:I}", "release", ref, "selector", expr, "targets",
		      (json_int_t)n, "spec", spec, "skipped", (json_int_t)json_array_size(skipped));
	{
		struct cp_rollout_new r = {id,	 rr.name, rr.version, expr, actor,
					   spec, targets, n,	      now};
		struct cp_audit_rec a = {actor, "rollout.start", id, details};

		rc = cp_store_rollout_create(&busy, c->d.store, &r, details, &a, err);
	}
	if (rc == FL_ECONFLICT && busy) {
		/* Name the devices, as many as the message holds. */
		char msg[sizeof(err->msg)];
		size_t len;
		json_t *b;

		len = (size_t)snprintf(msg, sizeof(msg), "devices already in an active rollout:");
		json_array_foreach (busy, i, b) {
			int w = snprintf(msg + len, sizeof(msg) - len, "%s %s (%s)", i ? "," : "",
					 jstr(b, "device_id"), jstr(b, "rollout_id"));

			if (w < 0 || (size_t)w >= sizeof(msg) - len - 8) {
				snprintf(msg + len, sizeof(msg) - len, ", ...");
				break;
			}
			len += (size_t)w;
		}
		rc = fl_err_set(err, FL_ECONFLICT, "%s", msg);
		goto cleanup;
	}
	if (rc < 0)
		goto cleanup;
	if ((rc = cp_store_rollout_get(out, c->d.store, id, err)) < 0)
		goto cleanup;
	json_object_set_new(*out, "targets", json_integer((json_int_t)n));
	json_object_set(*out, "skipped", skipped);
	/* Its devices wake the controller from now on. */
	for (i = 0; i < n; i++) {
		uint64_t b = poke_bit(rk[i].id);

		atomic_fetch_or(&c->filter[b / 64], 1ULL << (b % 64));
	}
cleanup:
	fl_selector_free(sel);
	json_decref(spec);
	json_decref(rel);
	json_decref(page);
	json_decref(skipped);
	json_decref(busy);
	json_decref(details);
	free(rk);
	free(targets);
	return rc;
}

int cp_rollout_start(json_t **out, struct cp_rollout_ctl *c, const json_t *body, const char *actor,
		     struct fl_err *err)
{
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = start_locked(out, c, body, actor, err);
	pthread_mutex_unlock(&c->mu);
	if (rc == 0) {
		/* The first assignments go out now, not at the next tick. */
		atomic_store(&c->poked, 1);
		pthread_cond_signal(&c->cond);
	}
	return rc;
}

/* ---- manual control ------------------------------------------------------ */

static int control_locked(struct cp_rollout_ctl *c, const char *id, const char *action,
			  const char *actor, struct fl_err *err)
{
	int64_t now = now_of(c);
	const char *state;
	struct view v;
	int rc;

	if ((rc = view_load(c, &v, id, now, strcmp(action, "resume") != 0, err)) < 0)
		return rc;
	state = jstr(v.ro, "state");
	if (strcmp(action, "pause") == 0) {
		if (strcmp(state, "running") != 0)
			rc = fl_err_set(err, FL_ECONFLICT, "rollout '%s' is %s, not running", id,
					state);
		else
			rc =
			    pause_rollout(c, &v, now, "pause", actor, "paused by an operator", err);
	} else if (strcmp(action, "resume") == 0) {
		struct cp_rollout_step st;

		if (strcmp(state, "paused") != 0) {
			rc = fl_err_set(err, FL_ECONFLICT, "rollout '%s' is %s, not paused", id,
					state);
		} else {
			json_t *details = json_pack("{s:o}", "devices", counts_json(&v));

			/* The stage's timeouts start over, and so does a bake that ran:
			 * a human looked and wants the gates to see fresh data. */
			step_init(&st, &v, now);
			st.state = "running";
			st.reason = "";
			st.stage_started_at = now;
			if (st.bake_started_at)
				st.bake_started_at = now;
			st.kind = "resume";
			st.actor = actor;
			rc = commit_step(c, &st, "rollout.resume", details, err);
			json_decref(details);
		}
	} else if (strcmp(action, "abort") == 0) {
		if (strcmp(state, "running") != 0 && strcmp(state, "paused") != 0)
			rc = fl_err_set(err, FL_ECONFLICT, "rollout '%s' is %s already", id, state);
		else
			rc = abort_rollout(c, &v, now, "abort", actor, "aborted by an operator",
					   err);
	} else if (strcmp(action, "promote") == 0) {
		if (strcmp(state, "running") != 0)
			rc = fl_err_set(err, FL_ECONFLICT, "rollout '%s' is %s, not running", id,
					state);
		else if (v.eval_rc == 0 && v.eval.verdict == CP_GATE_FAIL)
			rc = fl_err_set(err, FL_ECONFLICT,
					"rollout '%s': a gate fails; it will abort, not promote",
					id);
		else
			rc = advance(c, &v, now, "promote", actor, err);
	} else {
		rc = fl_err_set(err, FL_EINVAL, "unknown action '%.32s'", action);
	}
	view_release(&v);
	return rc;
}

int cp_rollout_control(json_t **out, struct cp_rollout_ctl *c, const char *id, const char *action,
		       const char *actor, struct fl_err *err)
{
	int rc;

	*out = NULL;
	pthread_mutex_lock(&c->mu);
	rc = control_locked(c, id, action, actor, err);
	if (rc == 0)
		rc = cp_store_rollout_get(out, c->d.store, id, err);
	pthread_mutex_unlock(&c->mu);
	if (rc == 0) {
		atomic_store(&c->poked, 1);
		pthread_cond_signal(&c->cond);
	}
	return rc;
}

int cp_rollout_status(json_t **out, struct cp_rollout_ctl *c, const char *id, struct fl_err *err)
{
	int64_t now = now_of(c);
	json_t *hist = NULL, *o;
	struct view v;
	int active, rc;

	*out = NULL;
	pthread_mutex_lock(&c->mu);
	rc = view_load(c, &v, id, now, 1, err);
	pthread_mutex_unlock(&c->mu);
	if (rc < 0)
		return rc;
	if ((rc = cp_store_rollout_history(&hist, c->d.store, id, err)) < 0)
		goto cleanup;
	o = v.ro;
	active =
	    strcmp(jstr(o, "state"), "running") == 0 || strcmp(jstr(o, "state"), "paused") == 0;
	json_object_set_new(
	    o, "stages",
	    json_integer((json_int_t)json_array_size(json_object_get(v.spec, "stages"))));
	json_object_set_new(o, "devices", counts_json(&v));
	json_object_set_new(o, "cohort", json_integer(v.cohort));
	json_object_set_new(o, "baseline", json_integer(v.baseline));
	if (active) {
		json_t *ev = NULL;

		if (v.eval_rc == 0 && cp_gate_eval_json(&ev, &v.eval) == 0)
			json_object_set_new(o, "gates", ev);
		else
			json_object_set_new(o, "gates_error", json_string(v.eval_err.msg));
	}
	json_object_set_new(o, "history", hist);
	hist = NULL;
	*out = json_incref(o);
cleanup:
	json_decref(hist);
	view_release(&v);
	return rc;
}

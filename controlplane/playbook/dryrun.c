#include "playbook/dryrun.h"

#include <stdlib.h>
#include <string.h>

#include "playbook/match.h"
#include "playbook/plan.h"
#include "playbook/targets.h"
#include "playbook/throttle.h"

struct run_ctx {
	struct cp_store *store;
	const json_t *pb;
	json_t *runs;
	int64_t at;
	struct fl_err *err;
};

/* Plans one firing: the context of its first event, and the indexes of
 * the events it carries ("_index" was added to each). */
static int plan_firing(struct run_ctx *r, json_t *fired)
{
	json_t *first = json_array_get(fired, 0), *ctx, *cands = NULL, *plan = NULL, *idx, *e;
	size_t i;
	int rc;

	json_t *evs = json_array();

	if (!(idx = json_array()) || !evs) {
		json_decref(idx);
		json_decref(evs);
		return FL_ENOMEM;
	}
	json_array_foreach (fired, i, e) {
		json_array_append(idx, json_object_get(e, "_index"));
		json_array_append(evs, json_object_get(e, "event"));
	}
	/* a firing that carries several events shows them all to templates
	 * (root "events"); "event" is the first of them */
	ctx = json_pack("{s:O,s:o,s:I}", "event", json_object_get(first, "event"), "events", evs,
			"now", (json_int_t)r->at);
	if (!ctx) {
		json_decref(idx);
		return FL_ENOMEM;
	}
	if ((rc = cp_pb_targets_resolve(&cands, r->store, r->pb, ctx, r->err)) >= 0 &&
	    (rc = cp_pb_plan(&plan, r->pb, ctx, cands, r->err)) >= 0)
		rc = json_array_append_new(r->runs, json_pack("{s:o,s:I,s:o}", "events", idx, "at",
							      (json_int_t)r->at, "plan", plan));
	else
		json_decref(idx);
	json_decref(cands);
	json_decref(ctx);
	return rc < 0 ? rc : 0;
}

static int on_close(void *arg, const char *key, json_t *events, int64_t omitted)
{
	(void)key, (void)omitted;
	return plan_firing(arg, events);
}

int cp_pb_dryrun(json_t **out, struct cp_store *store, const json_t *pb, const json_t *events,
		 int64_t now, struct fl_err *err)
{
	struct cp_pb_matcher *m = NULL;
	struct cp_pb_throttle *th = NULL;
	struct run_ctx r = {store, pb, json_array(), now, err};
	json_t *report = json_array(), *ev;
	int64_t last = now;
	size_t i;
	int rc;

	*out = NULL;
	if (!r.runs || !report) {
		rc = FL_ENOMEM;
		goto cleanup;
	}
	if (!json_is_array(events) || json_array_size(events) > CP_PB_DRYRUN_MAX_EVENTS) {
		rc = fl_err_set(err, FL_EINVAL, "events must be an array of at most %d events",
				CP_PB_DRYRUN_MAX_EVENTS);
		goto cleanup;
	}
	if ((rc = cp_pb_matcher_new(&m, pb, err)) < 0 ||
	    (rc = cp_pb_throttle_for(&th, pb, err)) < 0)
		goto cleanup;
	json_array_foreach ((json_t *)(uintptr_t)events, i, ev) {
		const json_t *at = json_object_get(ev, "at");
		const char *verdict = "none";
		json_t *ctx, *fire = NULL;
		char *key = NULL;
		int yes = 0;

		if (!json_is_object(ev)) {
			rc = fl_err_set(err, FL_EINVAL, "events[%zu] must be an object", i);
			goto cleanup;
		}
		r.at = json_is_integer(at) ? json_integer_value(at) : now + (int64_t)i;
		if (r.at > last)
			last = r.at;
		/* the throttle keeps the event: "_index" says which it was */
		ctx = json_pack("{s:O,s:I,s:I}", "event", ev, "now", (json_int_t)r.at, "_index",
				(json_int_t)i);
		if (!ctx) {
			rc = FL_ENOMEM;
			goto cleanup;
		}
		/* a schedule's tick or a manual start, as the engine would make it */
		if ((rc = cp_pb_matcher_match(&yes, m, ctx, err)) < 0 ||
		    (!yes && (rc = cp_pb_matcher_match_own(&yes, m, ctx, err)) < 0)) {
			json_decref(ctx);
			goto cleanup;
		}
		if (yes && !th) {
			json_t *one = json_pack("[O]", ctx);

			verdict = "fired";
			rc = one ? plan_firing(&r, one) : FL_ENOMEM;
			json_decref(one);
		} else if (yes) {
			struct cp_pb_throttle_stats before, after;

			cp_pb_throttle_stats(&before, th);
			if ((rc = cp_pb_throttle_key(&key, pb, ctx)) >= 0)
				rc = cp_pb_throttle_offer(&fire, th, key, ctx, r.at, err);
			cp_pb_throttle_stats(&after, th);
			if (rc == FL_EAGAIN || rc == FL_ETOOBIG) {
				verdict = "dropped";
				rc = 0;
			} else if (fire) {
				verdict = "fired";
				rc = plan_firing(&r, fire);
			} else {
				verdict = after.suppressed > before.suppressed ? "suppressed"
									       : "collected";
			}
			json_decref(fire);
			free(key);
		}
		json_decref(ctx);
		if (rc < 0)
			goto cleanup;
		json_array_append_new(report,
				      json_pack("{s:I,s:b,s:s}", "index", (json_int_t)i, "matched",
						yes, "throttle", yes ? verdict : "none"));
	}
	/* once_after windows close at their end, after the last event */
	if (th) {
		r.at = last + CP_PB_WINDOW_MAX_S;
		if ((rc = cp_pb_throttle_tick(th, r.at, on_close, &r, err)) < 0)
			goto cleanup;
	}
	*out = json_pack("{s:O,s:O}", "events", report, "runs", r.runs);
	rc = *out ? 0 : FL_ENOMEM;
cleanup:
	json_decref(report);
	json_decref(r.runs);
	cp_pb_matcher_free(m);
	cp_pb_throttle_free(th);
	return rc;
}

/*
 * engine.c - the engine's thread, its playbooks, the intake of events into
 * runs, runs started by hand and the approvals of runs.
 */
#include <stdlib.h>
#include <string.h>

#include "core/schedule.h"
#include "fairlead/crypto.h"
#include "fairlead/log.h"
#include "fairlead/util.h"
#include "playbook/engine_int.h"
#include "playbook/match.h"
#include "playbook/plan.h"
#include "playbook/targets.h"
#include "playbook/throttle.h"
#include "store/store.h"

#define CURSOR		"playbooks"
#define ROUND_PAGES	20
#define OFFLINE_EVERY_S 10
#define OFFLINE_LIMIT	10000
/* Without new runs, the cursor and the throttles' states are written at
 * most this often: they can hold thousands of keys, and writing them every
 * round took more time than reading the events. A crash in between reads
 * the events since the last write again, with the states as they were
 * then, which makes the same decisions; a run is written with the cursor
 * and states that made it, so none is made twice. */
#define COMMIT_EVERY_S 5

int64_t pb_now(struct cp_pb_engine *e)
{
	return e->d.now ? e->d.now(e->d.clock_ctx) : fl_now();
}

void pb_count(struct cp_pb_engine *e, int64_t *field, int64_t n)
{
	pthread_mutex_lock(&e->slock);
	*field += n;
	pthread_mutex_unlock(&e->slock);
}

void cp_pb_engine_stats(struct cp_pb_engine_stats *out, struct cp_pb_engine *e)
{
	pthread_mutex_lock(&e->slock);
	*out = e->stats;
	pthread_mutex_unlock(&e->slock);
}

/* ---- the playbooks ---- */

static void loaded_release(struct pb_loaded *p)
{
	cp_pb_matcher_free(p->m);
	cp_pb_throttle_free(p->th);
	cp_sched_free(p->sched);
	json_decref(p->def);
	memset(p, 0, sizeof(*p));
}

static void unload(struct cp_pb_engine *e)
{
	for (size_t i = 0; i < e->npbs; i++)
		loaded_release(&e->pbs[i]);
	free(e->pbs);
	e->pbs = NULL;
	e->npbs = 0;
}

static int load_one(struct pb_loaded *p, const json_t *row, const json_t *states,
		    struct fl_err *err)
{
	const json_t *def = json_object_get(row, "definition"), *trig, *st, *saved;
	const char *name = json_string_value(json_object_get(row, "name"));
	const char *cond;
	int rc;

	snprintf(p->name, sizeof(p->name), "%s", name ? name : "");
	p->version = json_integer_value(json_object_get(row, "version"));
	p->def = json_incref((json_t *)(uintptr_t)def);
	trig = json_object_get(def, "trigger");
	cond = json_string_value(json_object_get(def, "condition"));
	p->reads_slo = cond && strstr(cond, "slo") != NULL;
	if ((rc = cp_pb_matcher_new(&p->m, p->def, err)) < 0 ||
	    (rc = cp_pb_throttle_for(&p->th, p->def, err)) < 0)
		return rc;
	if (strcmp(json_string_value(json_object_get(trig, "type")), "schedule") == 0 &&
	    (rc = cp_sched_parse(&p->sched, json_string_value(json_object_get(trig, "cron")),
				 json_string_value(json_object_get(trig, "tz")), err)) < 0)
		return rc;
	st = json_object_get(states, p->name);
	p->last_tick = json_integer_value(json_object_get(st, "last_tick"));
	saved = json_object_get(st, "throttle");
	if (p->th && json_is_object(saved)) {
		struct fl_err e2 = {0, ""};

		/* another throttle since (the playbook changed): start empty */
		if (cp_pb_throttle_load(p->th, saved, &e2) < 0) {
			fl_log(FL_LOG_INFO, "playbook %s: throttle state not kept: %s", p->name,
			       e2.msg);
			p->dirty = 1;
		}
	}
	return 0;
}

static int commit(struct cp_pb_engine *e, int64_t seq, struct fl_err *err);

static int reload(struct cp_pb_engine *e, struct fl_err *err)
{
	json_t *rows = NULL, *states = NULL, *row;
	struct pb_loaded *pbs = NULL;
	size_t i, n = 0;
	int64_t rev;
	int rc;

	if ((rc = cp_store_playbooks_rev(&rev, e->d.store, err)) < 0)
		return rc;
	if (e->loaded && rev == e->rev)
		return 0;
	/* what the old set decided is written before it goes */
	if ((e->loaded && (rc = commit(e, e->have_cursor ? e->read_seq : -1, err)) < 0) ||
	    (rc = cp_store_playbooks_list(&rows, e->d.store, err)) < 0 ||
	    (rc = cp_store_playbook_states(&states, e->d.store, err)) < 0)
		goto cleanup;
	if (!(pbs = calloc(json_array_size(rows) + 1, sizeof(*pbs)))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	json_array_foreach (rows, i, row) {
		struct fl_err e2 = {0, ""};

		/* A stored playbook was validated when it was stored; one that
		 * no longer compiles (an older server's) is skipped, loudly,
		 * rather than stopping the others. */
		if (load_one(&pbs[n], row, states, &e2) < 0) {
			fl_log(FL_LOG_ERROR, "playbook %s not loaded: %s", pbs[n].name, e2.msg);
			loaded_release(&pbs[n]);
			continue;
		}
		n++;
	}
	unload(e);
	e->pbs = pbs;
	e->npbs = n;
	pbs = NULL;
	e->rev = rev;
	e->loaded = 1;
	fl_log(FL_LOG_INFO, "playbooks: %zu loaded (revision %lld)", n, (long long)rev);
cleanup:
	free(pbs);
	json_decref(rows);
	json_decref(states);
	return rc;
}

/* ---- runs made by a round ---- */

static void run_id(char out[24])
{
	uint8_t r[8];

	fl_random(r, sizeof(r));
	out[0] = 'r';
	out[1] = '-';
	fl_hex_encode(out + 2, r, sizeof(r));
}

/* Plans one firing of p: ctxs is an array of event contexts ({"event",..}),
 * the first deciding. The run joins the round's pending ones. */
static int fire(struct cp_pb_engine *e, struct pb_loaded *p, json_t *ctxs, int64_t omitted,
		const char *started_by, json_t **made, struct fl_err *err)
{
	const json_t *appr = json_object_get(p->def, "approval");
	json_t *first = json_array_get(ctxs, 0), *events = json_array(), *ctx = NULL, *cands = NULL,
	       *plan = NULL, *run = NULL, *c;
	int64_t now = pb_now(e);
	struct fl_err perr = {0, ""};
	const char *state;
	char id[24];
	size_t i;
	int rc;

	if (!events)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	json_array_foreach (ctxs, i, c)
		json_array_append(events, json_object_get(c, "event"));
	ctx = json_pack("{s:O,s:O,s:I}", "event", json_object_get(first, "event"), "events", events,
			"now", (json_int_t)now);
	if (!ctx) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (p->reads_slo || json_object_get(p->def, "targets"))
		json_object_set(ctx, "slo", pb_slo_root(e));
	run_id(id);
	rc = cp_pb_targets_resolve(&cands, e->d.store, p->def, ctx, &perr);
	if (rc >= 0)
		rc = cp_pb_plan(&plan, p->def, ctx, cands, &perr);
	if (rc == FL_ENOMEM) {
		rc = fl_err_set(err, rc, "%s", perr.msg);
		goto cleanup;
	}
	/* A firing that cannot be planned (a template the event does not
	 * fill, too many targets) is a run that failed, kept with its reason:
	 * the operator sees why nothing happened. */
	state = rc < 0							    ? "failed"
		: json_integer_value(json_object_get(appr, "required")) > 0 ? "awaiting_approval"
									    : "running";
	if (rc < 0) {
		fl_log(FL_LOG_WARN, "playbook %s: cannot plan a run: %s", p->name, perr.msg);
		plan = json_pack("{s:s,s:I,s:[],s:[],s:[],s:s}", "playbook", p->name, "version",
				 (json_int_t)p->version, "devices", "skipped", "steps", "hash", "");
	}
	run = json_pack(
	    "{s:s,s:s,s:I,s:O,s:{s:O,s:I},s:o,s:s,s:s,s:I,s:s?}", "id", id, "playbook", p->name,
	    "version", (json_int_t)p->version, "definition", p->def, "trigger", "events", events,
	    "omitted", (json_int_t)omitted, "plan", plan, "state", state, "started_by", started_by,
	    "approval_expires_at",
	    (json_int_t)(strcmp(state, "awaiting_approval") == 0
			     ? now + json_integer_value(json_object_get(appr, "expires_s"))
			     : 0),
	    "error", rc < 0 ? perr.msg : NULL);
	plan = NULL;
	if (!run || json_array_append(e->pending, run) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (made)
		*made = json_incref(run);
	pb_count(e, &e->stats.runs, 1);
	rc = 0;
cleanup:
	json_decref(run);
	json_decref(plan);
	json_decref(cands);
	json_decref(ctx);
	json_decref(events);
	return rc;
}

/* The pending runs as the store takes them; they borrow from e->pending. */
static int pending_runs(struct cp_run_new **out, size_t *n, struct cp_pb_engine *e)
{
	size_t i;
	json_t *r;

	*n = json_array_size(e->pending);
	*out = NULL;
	if (*n == 0)
		return 0;
	if (!(*out = calloc(*n, sizeof(**out))))
		return FL_ENOMEM;
	json_array_foreach (e->pending, i, r) {
		struct cp_run_new *x = &(*out)[i];

		x->id = json_string_value(json_object_get(r, "id"));
		x->playbook = json_string_value(json_object_get(r, "playbook"));
		x->version = json_integer_value(json_object_get(r, "version"));
		x->definition = json_object_get(r, "definition");
		x->trigger = json_object_get(r, "trigger");
		x->plan = json_object_get(r, "plan");
		x->state = json_string_value(json_object_get(r, "state"));
		x->started_by = json_string_value(json_object_get(r, "started_by"));
		x->approval_expires_at =
		    json_integer_value(json_object_get(r, "approval_expires_at"));
		x->error = json_string_value(json_object_get(r, "error"));
	}
	return 0;
}

static int save_states(struct cp_pb_engine *e, int64_t seq, const struct cp_run_new *runs,
		       size_t nruns, struct fl_err *err)
{
	struct cp_pb_state *st = calloc(e->npbs + 1, sizeof(*st));
	json_t **saved = calloc(e->npbs + 1, sizeof(*saved));
	size_t n = 0;
	int rc = 0;

	if (!st || !saved) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < e->npbs && rc >= 0; i++) {
		struct pb_loaded *p = &e->pbs[i];

		if (!p->dirty)
			continue;
		if (p->th && (rc = cp_pb_throttle_save(&saved[n], p->th, err)) < 0)
			break;
		st[n].name = p->name;
		st[n].throttle = saved[n];
		st[n].last_tick = p->last_tick;
		n++;
	}
	if (rc >= 0 && (n > 0 || nruns > 0 || seq >= 0))
		rc = cp_store_engine_commit(e->d.store, CURSOR, seq, runs, nruns, st, n, pb_now(e),
					    err);
	if (rc >= 0)
		for (size_t i = 0; i < e->npbs; i++)
			e->pbs[i].dirty = 0;
cleanup:
	for (size_t i = 0; saved && i < n; i++)
		json_decref(saved[i]);
	free(saved);
	free(st);
	return rc;
}

/* Commits the round's runs with the states and the cursor; the pending
 * runs then become the executor's. On failure nothing of it is kept: the
 * round is read again from the store's cursor and states. */
static int commit(struct cp_pb_engine *e, int64_t seq, struct fl_err *err)
{
	struct cp_run_new *runs = NULL;
	size_t n;
	int rc;

	if (pending_runs(&runs, &n, e) < 0)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	rc = save_states(e, seq, runs, n, err);
	free(runs);
	json_array_clear(e->pending);
	if (rc < 0) {
		/* the throttles ran ahead of the store: load them again */
		e->loaded = 0;
		e->have_cursor = 0;
	} else {
		if (seq >= 0)
			e->cursor = seq;
		e->last_commit = pb_now(e);
	}
	return rc;
}

/* ---- intake ---- */

struct emit_ctx {
	struct cp_pb_engine *e;
	struct pb_loaded *p;
	struct fl_err *err;
};

static int on_window(void *arg, const char *key, json_t *events, int64_t omitted)
{
	struct emit_ctx *x = arg;

	(void)key;
	return fire(x->e, x->p, events, omitted, "engine", NULL, x->err);
}

/* Offers one event to one playbook. */
static int take(struct cp_pb_engine *e, struct pb_loaded *p, json_t *ctx, int64_t now,
		struct fl_err *err)
{
	json_t *fired = NULL;
	char *key = NULL;
	int yes = 0, rc;
	const char *from = json_string_value(
	    json_object_get(json_object_get(json_object_get(ctx, "event"), "alert"), "playbook"));

	/* an alert a playbook raised never starts that playbook again: a
	 * loop, not an incident (other playbooks may take it) */
	if (from && strcmp(from, p->name) == 0)
		return 0;
	if (p->reads_slo)
		json_object_set(ctx, "slo", pb_slo_root(e));
	if ((rc = cp_pb_matcher_match(&yes, p->m, ctx, err)) < 0) {
		/* a condition that fails on this event (a type error) is the
		 * event's problem, not the engine's */
		fl_log(FL_LOG_WARN, "playbook %s: %s", p->name, err->msg);
		return 0;
	}
	if (!yes)
		return 0;
	pb_count(e, &e->stats.matched, 1);
	if (!p->th) {
		json_t *one = json_pack("[O]", ctx);

		rc = one ? fire(e, p, one, 0, "engine", NULL, err)
			 : fl_err_set(err, FL_ENOMEM, "out of memory");
		json_decref(one);
		return rc;
	}
	p->dirty = 1;
	if ((rc = cp_pb_throttle_key(&key, p->def, ctx)) < 0)
		return fl_err_set(err, rc, "out of memory");
	rc = cp_pb_throttle_offer(&fired, p->th, key, ctx, now, err);
	free(key);
	if (rc == FL_EAGAIN || rc == FL_ETOOBIG)
		return 0; /* counted as dropped by the throttle */
	if (rc < 0)
		return rc;
	if (fired)
		rc = fire(e, p, fired, 0, "engine", NULL, err);
	json_decref(fired);
	return rc;
}

static int intake(struct cp_pb_engine *e, int64_t now, struct fl_err *err)
{
	json_t *rows = NULL, *row;
	int64_t seq;
	size_t i;
	int rc = 0;

	if (!e->have_cursor) {
		rc = cp_store_engine_cursor(&e->cursor, e->d.store, CURSOR, err);
		if (rc == FL_ENOTFOUND) {
			/* the first start: playbooks act on what happens from now */
			rc = cp_store_events_last(&e->cursor, e->d.store, err);
			if (rc >= 0)
				rc = save_states(e, e->cursor, NULL, 0, err);
		}
		if (rc < 0)
			return rc;
		e->have_cursor = 1;
		e->read_seq = e->cursor;
	}
	/* The round's pages are committed together: the throttles' states,
	 * which may hold thousands of keys, are written once a round, not once
	 * a page. */
	seq = e->read_seq;
	for (int page = 0; page < ROUND_PAGES; page++) {
		if ((rc = cp_store_events_list(&rows, e->d.store, seq, CP_PB_EVENTS_PAGE, err)) < 0)
			return rc;
		json_array_foreach (rows, i, row) {
			json_t *ev = NULL, *ctx;

			seq = json_integer_value(json_object_get(row, "seq"));
			if ((rc = pb_event_view(&ev, e, row, err)) < 0)
				break;
			ctx = json_pack("{s:o,s:I}", "event", ev, "now", (json_int_t)now);
			if (!ctx) {
				rc = fl_err_set(err, FL_ENOMEM, "out of memory");
				break;
			}
			for (size_t k = 0; k < e->npbs && rc >= 0; k++)
				rc = take(e, &e->pbs[k], ctx, now, err);
			json_decref(ctx);
			if (rc < 0)
				break;
		}
		pb_count(e, &e->stats.events, (int64_t)json_array_size(rows));
		i = json_array_size(rows);
		json_decref(rows);
		rows = NULL;
		if (rc < 0)
			return rc;
		if (i < CP_PB_EVENTS_PAGE)
			break;
	}
	e->read_seq = seq;
	return 0;
}

/* What the engine's own events (a schedule's tick, a start by hand) tell
 * of rollouts, so that a playbook can keep out of their way:
 * {"active": N, "ids": [...]} of the running and paused ones. */
static json_t *rollouts_view(struct cp_pb_engine *e)
{
	struct fl_err err = {0, ""};
	json_t *rows = NULL, *ids = json_array(), *r;
	size_t i;

	if (cp_store_rollouts_list(&rows, e->d.store, "active", 100, &err) == 0)
		json_array_foreach (rows, i, r)
			json_array_append(ids, json_object_get(r, "id"));
	json_decref(rows);
	return json_pack("{s:I,s:o}", "active", (json_int_t)json_array_size(ids), "ids", ids);
}

/* Due schedules and closed once_after windows. */
static int timers(struct cp_pb_engine *e, int64_t now, struct fl_err *err)
{
	int rc = 0;

	for (size_t i = 0; i < e->npbs && rc >= 0; i++) {
		struct pb_loaded *p = &e->pbs[i];
		struct emit_ctx x = {e, p, err};

		if (p->th) {
			struct cp_pb_throttle_stats before, after;

			cp_pb_throttle_stats(&before, p->th);
			rc = cp_pb_throttle_tick(p->th, now, on_window, &x, err);
			cp_pb_throttle_stats(&after, p->th);
			if (after.fired != before.fired || after.keys != before.keys)
				p->dirty = 1;
		}
		if (rc >= 0 && p->sched && json_is_true(json_object_get(p->def, "enabled"))) {
			int64_t next = 0, tick = 0;

			if (p->last_tick == 0) {
				/* from now on: a new schedule does not fire for the past */
				p->last_tick = now - now % 60;
				p->dirty = 1;
				continue;
			}
			/* missed ticks (the server was down) fire once, for the latest */
			while (cp_sched_next(&next, p->sched, tick ? tick : p->last_tick, err) ==
				   0 &&
			       next <= now)
				tick = next;
			if (tick) {
				json_t *ctxs = json_pack("[{s:{s:s,s:I,s:s,s:o},s:I}]", "event",
							 "kind", "schedule", "at", (json_int_t)tick,
							 "playbook", p->name, "rollouts",
							 rollouts_view(e), "now", (json_int_t)now);
				int yes = 0;

				p->last_tick = tick;
				p->dirty = 1;
				if (!ctxs)
					return fl_err_set(err, FL_ENOMEM, "out of memory");
				rc = cp_pb_matcher_match_own(&yes, p->m, json_array_get(ctxs, 0),
							     err);
				if (rc >= 0 && yes)
					rc = fire(e, p, ctxs, 0, "engine", NULL, err);
				json_decref(ctxs);
			}
		}
	}
	return rc;
}

/* Offline reports for each threshold an enabled playbook names. */
static int offline(struct cp_pb_engine *e, int64_t now, struct fl_err *err)
{
	int64_t done[64];
	size_t nd = 0;

	if (now - e->last_offline < OFFLINE_EVERY_S)
		return 0;
	e->last_offline = now;
	for (size_t i = 0; i < e->npbs; i++) {
		const json_t *t = json_object_get(e->pbs[i].def, "trigger");
		int64_t for_s = json_integer_value(json_object_get(t, "for_s"));
		int seen = 0, n = 0, rc;

		if (!json_is_true(json_object_get(e->pbs[i].def, "enabled")) || for_s <= 0 ||
		    strcmp(json_string_value(json_object_get(t, "type")), "device.offline") != 0)
			continue;
		for (size_t k = 0; k < nd; k++)
			seen |= done[k] == for_s;
		if (seen || nd == FL_ARRAY_SIZE(done))
			continue;
		done[nd++] = for_s;
		if ((rc = cp_store_offline_detect(&n, e->d.store, for_s, now, OFFLINE_LIMIT, err)) <
		    0)
			return rc;
		if (n > 0)
			fl_log(FL_LOG_INFO, "playbooks: %d devices offline for %llds", n,
			       (long long)for_s);
	}
	return 0;
}

int cp_pb_engine_round(struct cp_pb_engine *e, struct fl_err *err)
{
	int64_t now;
	int rc;

	pthread_mutex_lock(&e->lock);
	if (e->d.settle)
		e->d.settle(e->d.settle_ctx);
	now = pb_now(e);
	if ((rc = reload(e, err)) < 0 || (rc = offline(e, now, err)) < 0 ||
	    (rc = intake(e, now, err)) < 0 || (rc = timers(e, now, err)) < 0)
		goto cleanup;
	if ((json_array_size(e->pending) > 0 || now - e->last_commit >= COMMIT_EVERY_S) &&
	    (rc = commit(e, e->read_seq > e->cursor ? e->read_seq : -1, err)) < 0)
		goto cleanup;
	rc = pb_exec_round(e, err);
cleanup:
	json_array_clear(e->pending);
	pb_round_caches_drop(e);
	pb_count(e, &e->stats.rounds, 1);
	pthread_mutex_unlock(&e->lock);
	return rc;
}

/* ---- runs by hand, approvals ---- */

static struct pb_loaded *find(struct cp_pb_engine *e, const char *name)
{
	for (size_t i = 0; i < e->npbs; i++)
		if (strcmp(e->pbs[i].name, name) == 0)
			return &e->pbs[i];
	return NULL;
}

int cp_pb_run_start(json_t **out, struct cp_pb_engine *e, const char *playbook,
		    const json_t *params, const char *actor, struct fl_err *err)
{
	struct pb_loaded *p;
	json_t *ctxs = NULL, *run = NULL;
	const char *type;
	int64_t now;
	int yes = 0, rc;

	*out = NULL;
	pthread_mutex_lock(&e->lock);
	now = pb_now(e);
	if ((rc = reload(e, err)) < 0)
		goto cleanup;
	if (!(p = find(e, playbook))) {
		rc = fl_err_set(err, FL_ENOTFOUND, "playbook '%s' not found", playbook);
		goto cleanup;
	}
	type = json_string_value(json_object_get(json_object_get(p->def, "trigger"), "type"));
	if (strcmp(type, "manual") != 0 && strcmp(type, "schedule") != 0) {
		rc = fl_err_set(err, FL_ECONFLICT,
				"playbook '%s' is started by %s events, not by hand", playbook,
				type);
		goto cleanup;
	}
	if (!json_is_true(json_object_get(p->def, "enabled"))) {
		rc = fl_err_set(err, FL_ECONFLICT, "playbook '%s' is disabled", playbook);
		goto cleanup;
	}
	ctxs = json_pack("[{s:{s:s,s:I,s:s,s:s,s:o,s:o},s:I}]", "event", "kind", type, "at",
			 (json_int_t)now, "playbook", playbook, "actor", actor, "params",
			 params ? json_incref((json_t *)(uintptr_t)params) : json_object(),
			 "rollouts", rollouts_view(e), "now", (json_int_t)now);
	if (!ctxs) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cp_pb_matcher_match_own(&yes, p->m, json_array_get(ctxs, 0), err)) < 0)
		goto cleanup;
	if (!yes) {
		rc = fl_err_set(err, FL_ECONFLICT, "the condition of playbook '%s' does not hold",
				playbook);
		goto cleanup;
	}
	if ((rc = fire(e, p, ctxs, 0, actor, &run, err)) < 0 ||
	    (rc = commit(e, e->have_cursor ? e->read_seq : -1, err)) < 0)
		goto cleanup;
	rc = cp_store_run_get(out, e->d.store, json_string_value(json_object_get(run, "id")), err);
cleanup:
	json_array_clear(e->pending);
	pb_round_caches_drop(e);
	json_decref(run);
	json_decref(ctxs);
	pthread_mutex_unlock(&e->lock);
	if (rc >= 0)
		cp_pb_engine_kick(e);
	return rc;
}

static int role_may_approve(const json_t *def, const char *role)
{
	const json_t *roles = json_object_get(json_object_get(def, "approval"), "roles"), *r;
	size_t i;

	if (strcmp(role, "admin") == 0)
		return 1;
	json_array_foreach ((json_t *)(uintptr_t)roles, i, r)
		if (json_is_string(r) && strcmp(json_string_value(r), role) == 0)
			return 1;
	return 0;
}

/* The plan of run as it would be now: the same playbook version, the same
 * events, the store as it is. */
static int replan(json_t **out, struct cp_pb_engine *e, const json_t *run, struct fl_err *err)
{
	const json_t *def = json_object_get(run, "definition");
	const json_t *events = json_object_get(json_object_get(run, "trigger"), "events");
	json_t *ctx, *cands = NULL;
	int rc;

	*out = NULL;
	ctx = json_pack("{s:O,s:O,s:I,s:O}", "event", json_array_get(events, 0), "events", events,
			"now", (json_int_t)pb_now(e), "slo", pb_slo_root(e));
	if (!ctx)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	if ((rc = cp_pb_targets_resolve(&cands, e->d.store, def, ctx, err)) >= 0)
		rc = cp_pb_plan(out, def, ctx, cands, err);
	json_decref(cands);
	json_decref(ctx);
	return rc;
}

int cp_pb_run_decide(json_t **out, struct cp_pb_engine *e, const char *id, const char *who,
		     const char *role, const char *plan_hash, int approve, struct fl_err *err)
{
	json_t *run = NULL, *plan = NULL;
	struct cp_audit_rec a = {who, approve ? "run.approve" : "run.deny", id, NULL};
	struct cp_run_update u = {0};
	const char *hash;
	int64_t now, required;
	int n = 0, rc;

	*out = NULL;
	pthread_mutex_lock(&e->lock);
	now = pb_now(e);
	if ((rc = cp_store_run_get(&run, e->d.store, id, err)) < 0)
		goto cleanup;
	hash = json_string_value(json_object_get(run, "plan_hash"));
	if (strcmp(json_string_value(json_object_get(run, "state")), "awaiting_approval") != 0) {
		rc = fl_err_set(err, FL_ECONFLICT, "run '%s' is %s, not awaiting approval", id,
				json_string_value(json_object_get(run, "state")));
		goto cleanup;
	}
	if (!role_may_approve(json_object_get(run, "definition"), role)) {
		rc = fl_err_set(err, FL_EFORBIDDEN,
				"the %s role may not decide on runs of playbook '%s'", role,
				json_string_value(json_object_get(run, "playbook")));
		goto cleanup;
	}
	if (!plan_hash || strcmp(plan_hash, hash) != 0) {
		rc = fl_err_set(err, FL_ECONFLICT,
				"the plan of run '%s' is %s, not the one decided on (%s): review "
				"it again",
				id, hash, plan_hash ? plan_hash : "none");
		goto cleanup;
	}
	u.id = id;
	u.from_state = u.state = "awaiting_approval";
	u.now = now;
	u.approval_expires_at = -1;
	if (approve) {
		/* The plan as it would run now: when the fleet changed under it
		 * (other devices match, a device left), the approval was of
		 * another plan. The run takes the new one and asks again. */
		if ((rc = replan(&plan, e, run, err)) < 0)
			goto cleanup;
		if (strcmp(json_string_value(json_object_get(plan, "hash")), hash) != 0) {
			u.plan = plan;
			u.plan_hash = json_string_value(json_object_get(plan, "hash"));
			u.clear_approvals = 1;
			a.action = "run.replan";
			a.details = json_pack("{s:s,s:s}", "was", hash, "now", u.plan_hash);
			rc = cp_store_run_update(e->d.store, &u, &a, err);
			json_decref(a.details);
			if (rc >= 0)
				rc = fl_err_set(
				    err, FL_ECONFLICT,
				    "the plan of run '%s' changed since it was made (now "
				    "%s): approve the new plan",
				    id, u.plan_hash);
			goto cleanup;
		}
	}
	a.details = json_pack("{s:s,s:s}", "plan_hash", hash, "role", role);
	rc = cp_store_run_decide(&n, e->d.store, id, who, role, approve ? "approve" : "deny", hash,
				 now, &a, err);
	json_decref(a.details);
	if (rc < 0)
		goto cleanup;
	required = json_integer_value(json_object_get(
	    json_object_get(json_object_get(run, "definition"), "approval"), "required"));
	if (!approve || n >= required) {
		struct cp_audit_rec a2 = {who, approve ? "run.approved" : "run.denied", id, NULL};

		u.state = approve ? "running" : "denied";
		u.ended = !approve;
		u.error = approve ? NULL : "denied";
		if ((rc = cp_store_run_update(e->d.store, &u, &a2, err)) < 0)
			goto cleanup;
	}
	rc = cp_store_run_get(out, e->d.store, id, err);
cleanup:
	pb_round_caches_drop(e);
	json_decref(plan);
	json_decref(run);
	pthread_mutex_unlock(&e->lock);
	if (rc >= 0)
		cp_pb_engine_kick(e);
	return rc;
}

int cp_pb_run_cancel(json_t **out, struct cp_pb_engine *e, const char *id, const char *who,
		     struct fl_err *err)
{
	struct cp_audit_rec a = {who, "run.cancel", id, NULL};
	struct cp_run_update u = {0};
	json_t *run = NULL;
	const char *state;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&e->lock);
	if ((rc = cp_store_run_get(&run, e->d.store, id, err)) < 0)
		goto cleanup;
	state = json_string_value(json_object_get(run, "state"));
	if (strcmp(state, "running") != 0 && strcmp(state, "awaiting_approval") != 0) {
		rc = fl_err_set(err, FL_ECONFLICT, "run '%s' is %s already", id, state);
		goto cleanup;
	}
	u.id = id;
	u.from_state = state;
	u.state = "cancelled";
	u.error = "cancelled";
	u.ended = 1;
	u.now = pb_now(e);
	u.approval_expires_at = -1;
	if ((rc = cp_store_run_update(e->d.store, &u, &a, err)) >= 0)
		rc = cp_store_run_get(out, e->d.store, id, err);
cleanup:
	json_decref(run);
	pthread_mutex_unlock(&e->lock);
	return rc;
}

/* ---- the thread ---- */

int cp_pb_engine_new(struct cp_pb_engine **out, const struct cp_pb_engine_deps *deps,
		     struct fl_err *err)
{
	struct cp_pb_engine *e = calloc(1, sizeof(*e));
	pthread_condattr_t ca;

	*out = NULL;
	if (!e || !(e->pending = json_array())) {
		free(e);
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	e->d = *deps;
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->tlock, NULL);
	pthread_mutex_init(&e->slock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = e;
	return 0;
}

static void *engine_main(void *arg)
{
	struct cp_pb_engine *e = arg;

	pthread_mutex_lock(&e->tlock);
	while (!e->stop) {
		struct fl_err err = {0, ""};
		struct timespec ts;

		pthread_mutex_unlock(&e->tlock);
		if (cp_pb_engine_round(e, &err) < 0)
			fl_log(FL_LOG_ERROR, "playbook round failed: %s", err.msg);
		pthread_mutex_lock(&e->tlock);
		fl_timespec_after(&ts, CLOCK_MONOTONIC, e->tick_ms);
		while (!e->stop && !e->kicked)
			if (pthread_cond_timedwait(&e->cond, &e->tlock, &ts) != 0)
				break;
		e->kicked = 0;
	}
	pthread_mutex_unlock(&e->tlock);
	return NULL;
}

int cp_pb_engine_start(struct cp_pb_engine *e, int tick_ms, struct fl_err *err)
{
	e->tick_ms = tick_ms > 0 ? tick_ms : CP_PB_TICK_MS_DEFAULT;
	e->stop = 0;
	if (pthread_create(&e->thread, NULL, engine_main, e) != 0)
		return fl_err_set(err, FL_ERROR, "cannot start the playbook engine");
	e->running = 1;
	return 0;
}

void cp_pb_engine_kick(struct cp_pb_engine *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->tlock);
	e->kicked = 1;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->tlock);
}

void cp_pb_engine_stop(struct cp_pb_engine *e)
{
	if (!e || !e->running)
		return;
	pthread_mutex_lock(&e->tlock);
	e->stop = 1;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->tlock);
	pthread_join(e->thread, NULL);
	e->running = 0;
}

/* What was read since the last write is written on the way out, so that a
 * clean restart reads nothing again. */
static void final_commit(struct cp_pb_engine *e)
{
	struct fl_err err = {0, ""};

	pthread_mutex_lock(&e->lock);
	if (e->loaded && e->have_cursor && commit(e, e->read_seq, &err) < 0)
		fl_log(FL_LOG_WARN, "playbooks: the last state was not saved: %s", err.msg);
	pthread_mutex_unlock(&e->lock);
}

void cp_pb_engine_free(struct cp_pb_engine *e)
{
	if (!e)
		return;
	cp_pb_engine_stop(e);
	final_commit(e);
	unload(e);
	pb_round_caches_drop(e);
	json_decref(e->pending);
	pthread_mutex_destroy(&e->lock);
	pthread_mutex_destroy(&e->tlock);
	pthread_mutex_destroy(&e->slock);
	pthread_cond_destroy(&e->cond);
	free(e);
}

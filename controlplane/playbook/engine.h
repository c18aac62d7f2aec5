/*
 * engine.h - the playbook engine of fairleadd (docs/playbooks.md): events in,
 * runs out, and the executor that takes each run's steps.
 *
 * One thread, a round every tick and when kicked:
 *   1. reloads the playbooks when the store's revision changed (throttle
 *      states kept across the reload when the throttle is the same);
 *   2. reports devices offline for each threshold an enabled playbook names
 *      (one "device.offline" event per episode and threshold);
 *   3. reads the event log after its cursor, gives each event its context
 *      (an alert's SLO, SLI, labels, release, rollout; a device's labels,
 *      state and inventory), matches every enabled playbook, throttles and
 *      plans each firing; fires due schedules and closed once_after
 *      windows; then commits the new runs, the throttle states and the
 *      cursor in one transaction, so a crash neither loses nor repeats one;
 *   4. advances every active run (exec.c): expires approvals, halts on
 *      burn, and takes each step's actions as intents written before they
 *      act, so a run resumed after a crash never acts on a device twice.
 * Every entry point locks the engine: an API call never interleaves with a
 * round.
 */
#ifndef CP_PLAYBOOK_ENGINE_H
#define CP_PLAYBOOK_ENGINE_H

#include <jansson.h>
#include <stdint.h>

#include "fairlead/err.h"

struct cp_store;
struct cp_registry;
struct cp_director;
struct cp_rollout_ctl;
struct cp_slo_engine;

#define CP_PB_TICK_MS_DEFAULT 250
#define CP_PB_EVENTS_PAGE     1000 /* events read per page; a round reads at most 20 */
#define CP_PB_MAX_ACTIVE      1000 /* active runs the executor takes a round, oldest first */

struct cp_pb_engine_deps {
	struct cp_store *store;
	struct cp_registry *reg;
	struct cp_director *director;	 /* NULL: release.rollback fails */
	struct cp_rollout_ctl *rollouts; /* NULL: rollout actions fail */
	struct cp_slo_engine *slo;	 /* NULL: halt_on_burn and slo read nothing */
	/* Makes the check-in path's queued writes (last_seen, update and
	 * command statuses) visible in the store; may be NULL. */
	void (*settle)(void *ctx);
	void *settle_ctx;
	/* The clock (seconds); NULL: the wall clock. */
	int64_t (*now)(void *ctx);
	void *clock_ctx;
	/* The CA file webhooks' receivers are verified with (NULL: the
	 * system's). */
	const char *webhook_ca;
};

struct cp_pb_engine;

int cp_pb_engine_new(struct cp_pb_engine **out, const struct cp_pb_engine_deps *deps,
		     struct fl_err *err);
/* Stops the thread if running, then frees. NULL is a no-op. */
void cp_pb_engine_free(struct cp_pb_engine *e);
int cp_pb_engine_start(struct cp_pb_engine *e, int tick_ms, struct fl_err *err);
void cp_pb_engine_stop(struct cp_pb_engine *e);
/* Wakes the thread for a round now. NULL is a no-op. */
void cp_pb_engine_kick(struct cp_pb_engine *e);
/* One round (what the thread does; tests call it). */
int cp_pb_engine_round(struct cp_pb_engine *e, struct fl_err *err);

/* Starts playbook name by hand (its trigger must be "manual" or
 * "schedule"), with event (may be NULL) as event.params. *out is the run.
 * FL_ENOTFOUND, FL_ECONFLICT for another trigger or a disabled playbook. */
int cp_pb_run_start(json_t **out, struct cp_pb_engine *e, const char *playbook,
		    const json_t *params, const char *actor, struct fl_err *err);
/* An approver's decision on run id's plan (plan_hash as the approver saw
 * it): FL_ECONFLICT when the run does not await approval, when plan_hash
 * is not its plan's, or when the plan changed since (the run then holds the
 * new plan, its approvals dropped: approve that one); FL_EPERM when role is
 * not among the playbook's approver roles (admin always is); FL_EEXISTS
 * when who decided already. Enough approvals start the run; a deny ends it.
 * *out is the run afterwards. */
int cp_pb_run_decide(json_t **out, struct cp_pb_engine *e, const char *id, const char *who,
		     const char *role, const char *plan_hash, int approve, struct fl_err *err);
/* Cancels a run that is running or awaiting approval: no further action is
 * taken (commands already queued stay queued). */
int cp_pb_run_cancel(json_t **out, struct cp_pb_engine *e, const char *id, const char *who,
		     struct fl_err *err);

/* Counters since start, for bench and _stats. */
struct cp_pb_engine_stats {
	int64_t events, matched, runs, actions, rounds;
};
void cp_pb_engine_stats(struct cp_pb_engine_stats *out, struct cp_pb_engine *e);

#endif

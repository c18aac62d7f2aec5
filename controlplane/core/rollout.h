/*
 * rollout.h - the canary rollout controller (docs/rollouts.md).
 *
 * A rollout takes a release to the devices a selector matched at its start,
 * stage by stage. Its target devices are ordered once by a stable hash
 * (SHA-256 of rollout id and device id); stage k covers the first
 * max(ceil(percent * N), min_devices) of them (or a count). Within a stage
 * the controller issues signed assignments through the director, never more
 * than max_updating unfinished at once and only inside a maintenance window
 * when windows are set (cp_sched_window_open, core/schedule.h). When every
 * device of the stage has finished, the bake starts; gates (core/gates.h)
 * are evaluated on every round: FAIL aborts and rolls every touched device
 * back to the release it ran before (signed, rollback flag set); PASS after
 * the bake goes to the next stage or finishes at the last; WAIT after bake +
 * timeout pauses for a human.
 *
 * The whole state is in the store (store.h "rollouts"); a device's progress
 * is read from its stored update status each round. Every decision is one
 * store transaction with its history row holding the numbers it used and an
 * audit entry, so a restart, even after SIGKILL, resumes where the last
 * committed decision left it.
 *
 * One thread runs rounds every tick and when poked. All entry points lock
 * the controller, so manual control never interleaves with a round.
 */
#ifndef CP_ROLLOUT_H
#define CP_ROLLOUT_H

#include <jansson.h>
#include <stdint.h>

#include "core/director.h"
#include "core/gates.h"
#include "core/registry.h"
#include "core/sli.h"
#include "fairlead/err.h"
#include "store/store.h"

#define CP_ROLLOUT_MAX_STAGES	   16
#define CP_ROLLOUT_MAX_WINDOWS	   8
#define CP_ROLLOUT_MAX_SLOS	   8
#define CP_ROLLOUT_BAKE_DEFAULT	   600 /* seconds */
#define CP_ROLLOUT_MAX_UPDATING	   50
#define CP_ROLLOUT_MAX_TARGETS	   100000
#define CP_ROLLOUT_SLO_MAX_BURN	   1.0
#define CP_ROLLOUT_TICK_MS_DEFAULT 1000

/* The gates, as cp_gates_evaluate (a fake in tests). */
typedef int (*cp_rollout_gates_fn)(struct cp_gate_eval *out, const struct cp_gate_device *devs,
				   size_t n, const struct cp_gate_config *cfg, int look,
				   const double *slo_burn, size_t nslo, double slo_max_burn,
				   struct fl_err *err);
/* Per-device SLI aggregates over [from, to), as cp_store_sli_devices with
 * ctx the store (a fake in tests): out[i] is device_ids[i]'s aggregate,
 * caller frees with cp_sli_aggs_free(out, n). */
typedef int (*cp_rollout_sli_fn)(void *ctx, struct cp_sli_agg **out, const char *const *device_ids,
				 size_t n, const char *release, int64_t from, int64_t to,
				 struct fl_err *err);
/* The canary cohort's burn rates of the named SLOs at now (out[i] for
 * names[i]; NAN: no rate yet, the gate waits); optional. In fairleadd:
 * cp_rollout_store_burn. */
typedef int (*cp_rollout_burn_fn)(void *ctx, double *out, const char *const *names, size_t n,
				  const char *release, int64_t now, struct fl_err *err);

struct cp_rollout_deps {
	struct cp_store *store;
	struct cp_director *director; /* signs assignments; NULL: starts are refused */
	struct cp_registry *reg;      /* kept in step with assignments; may be NULL */
	cp_rollout_gates_fn gates;
	cp_rollout_sli_fn sli;
	void *sli_ctx;
	cp_rollout_burn_fn burn; /* NULL: the SLO burn gate gets no rates */
	void *burn_ctx;
	/* Called before a round that has running rollouts, so that update
	 * statuses the check-in path queued are in the store (the write-behind's
	 * flush); may be NULL. */
	void (*settle)(void *ctx);
	void *settle_ctx;
	/* The clock (seconds); NULL: the wall clock. */
	int64_t (*now)(void *ctx);
	void *clock_ctx;
};

struct cp_rollout_ctl;

int cp_rollout_ctl_new(struct cp_rollout_ctl **out, const struct cp_rollout_deps *deps,
		       struct fl_err *err);
/* Stops the thread if running, then frees. NULL is a no-op. */
void cp_rollout_ctl_free(struct cp_rollout_ctl *c);
/* Starts the controller thread: a round every tick_ms and right after a
 * poke. */
int cp_rollout_ctl_start(struct cp_rollout_ctl *c, int tick_ms, struct fl_err *err);
void cp_rollout_ctl_stop(struct cp_rollout_ctl *c);

/* A device reported an update status or SLIs: wake the controller when the
 * device may be in an active rollout. Constant time, never blocks, safe from
 * any thread; c NULL is a no-op. */
void cp_rollout_poke(struct cp_rollout_ctl *c, const char *device_id);
/* Number of pokes that woke the controller (for tests and _stats). */
int64_t cp_rollout_pokes(struct cp_rollout_ctl *c);

/* One round over every running rollout (what the thread does). */
int cp_rollout_round(struct cp_rollout_ctl *c, struct fl_err *err);

/* Starts a rollout from the API body (see docs/api.md): "release",
 * "selector", optional "stages", "bake_s", "min_devices", "max_updating",
 * "timeout_s", "windows", "gates", "slos", "slo_max_burn", "require_sli",
 * "id". *out is the stored rollout plus "targets" and "skipped".
 * FL_ECONFLICT naming the devices when a target is in an active rollout;
 * FL_EINVAL for a bad body; FL_ENOTFOUND for an unknown release. */
int cp_rollout_start(json_t **out, struct cp_rollout_ctl *c, const json_t *body, const char *actor,
		     struct fl_err *err);
/* "pause", "resume", "abort" (with rollback) or "promote". FL_ECONFLICT when
 * the rollout's state does not allow it; *out is the rollout afterwards. */
int cp_rollout_control(json_t **out, struct cp_rollout_ctl *c, const char *id, const char *action,
		       const char *actor, struct fl_err *err);
/* The rollout with "devices" (counts per state), "cohort", "gates" (a fresh
 * evaluation: each gate's value, threshold, verdict), "history". */
int cp_rollout_status(json_t **out, struct cp_rollout_ctl *c, const char *id, struct fl_err *err);

/* The burn hook of fairleadd, ctx the store: each SLO named is read from
 * the store and evaluated for release (its selector AND release) over the
 * stored SLI series with cp_slo_release_burn. An SLO deleted since the
 * start gives NAN (the gate waits, then the rollout pauses for a human). */
int cp_rollout_store_burn(void *ctx, double *out, const char *const *names, size_t n,
			  const char *release, int64_t now, struct fl_err *err);

/* The cohort order key of a device: hex SHA-256 of "ROLLOUT\nDEVICE". */
void cp_rollout_rank_key(char out[65], const char *rollout_id, const char *device_id);
/* Devices in stage k's cohort of n targets (spec as stored). */
int64_t cp_rollout_cohort(const json_t *spec, size_t stage, int64_t n);

#endif

/*
 * update.h - installing signed releases: verify, download into the inactive
 * slot, install, health window, commit or roll back (docs/agent.md).
 *
 * Files in the state directory, all written atomically:
 *   root.json      the trusted root envelope (root.h)
 *   releases.json  {"timestamp_version":N,"committed":{NAME:{"version","counter","kind"}},
 *                   "kinds":{KIND:VERSION},
 *                   "slots":{NAME:{"A":{"name","version"}|null,"B":...}}}
 *                  the trusted state: it changes only after every check passed
 *   update.json    {"release","name","state","progress","reason","slot","prev",
 *                   "envelope","issued","window_start"}: the update in progress
 *                  ("slot"/"prev" are slots of the pair of "name"); each
 *                  state is written BEFORE the step it names, so a restart
 *                  resumes or rolls back (see "Crash safety" in docs/agent.md)
 *
 * An offer is the check-in reply's "update" member; it is verified as a
 * whole (root rotation, assignment, timestamp, release, hardware, counter)
 * before anything on disk changes. A refused offer is reported as state
 * "failed" with the reason and installs nothing.
 */
#ifndef AG_UPDATE_H
#define AG_UPDATE_H

#include <jansson.h>
#include <stdint.h>

#include "agent/clock.h"
#include "agent/transport.h"
#include "fairlead/err.h"

#define AG_UPDATE_FILE		   "update.json"
#define AG_RELEASES_FILE	   "releases.json"
#define AG_UPDATE_HEALTH_TIMEOUT_S 300
#define AG_UPDATE_REPORT_S	   5

struct ag_update_opts {
	const char *dir;	  /* state directory */
	const char *device_id;	  /* assignments must name it */
	int max_attempts;	  /* download attempts per artifact; 0: default */
	int64_t backoff_ms;	  /* first download retry wait; 0: default */
	long low_speed_bps;	  /* 0: default; <0: off */
	long low_speed_s;	  /* 0: default */
	int64_t health_timeout_s; /* one run of the health command; 0: default */
	/* Live progress while downloading: called with {"release","state",
	 * "progress"} at most every AG_UPDATE_REPORT_S seconds of the clock and
	 * at each artifact boundary. FL_EFORBIDDEN (the device is no longer
	 * accepted) stops the download, which resumes later; other failures
	 * are ignored. NULL: no live reports. */
	int (*report)(void *ctx, const json_t *update, struct fl_err *err);
	void *report_ctx;
};

struct ag_update;

/* Loads the trusted root (absent: updates are refused and that is logged),
 * releases.json and update.json, creates the slots, and repairs what a
 * crash left: the "current" link of a finished update, a torn temp file.
 * t, clock and the strings in o are borrowed. */
int ag_update_open(struct ag_update **out, struct ag_transport *t, const struct ag_clock *clock,
		   const struct ag_update_opts *o, struct fl_err *err);
void ag_update_free(struct ag_update *u);

/* Takes the check-in reply's "update" member. Returns 0 when the offer was
 * taken or needs nothing; < 0 with the reason when it was refused (then
 * update.json says "failed" unless another update is mid-install). */
int ag_update_offer(struct ag_update *u, const json_t *offer, const char *hw_model,
		    struct fl_err *err);

/* Advances the current update as far as it can go now: to a final state, or
 * into the health window (see ag_update_wait_ms). Failures are recorded in
 * update.json and returned. */
int ag_update_step(struct ag_update *u, struct fl_err *err);

/* Milliseconds until the health window ends, -1 when nothing waits. */
int64_t ag_update_wait_ms(const struct ag_update *u);

/* {"release","state","progress","reason"} for the check-in, or NULL when no
 * update ever ran. Caller owns it. */
json_t *ag_update_report(const struct ag_update *u);
/* Adds "running" {NAME: VERSION} for every name whose current slot holds a
 * release, and "model_version"/"firmware_version" from the committed
 * releases of those kinds. */
int ag_update_inventory(const struct ag_update *u, json_t *inventory, struct fl_err *err);

/* Observers for tests: the state name ("" when none) and the reason. */
const char *ag_update_state(const struct ag_update *u);
const char *ag_update_reason(const struct ag_update *u);

#endif

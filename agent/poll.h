/*
 * poll.h - the check-in loop.
 *
 * Each check-in is a signed POST /api/v1/device/checkin carrying the
 * inventory, the reported twin {"config": desired as applied,
 * "applied_version": N} and every command result not yet acknowledged. On a
 * 2xx reply the sent results are dropped from results.json, a new desired
 * twin is persisted to desired.json (that is how it is applied), commands are
 * run and their results persisted before they are ever sent.
 *
 * Next check-in: the server's poll_interval +-10%; right away (once) when the
 * reply produced something new to report; on transport errors, 5xx and other
 * failures exponential backoff from 1 s, doubling, capped (300 s default),
 * +-10%; on 429/503 with Retry-After exactly that; on 401/403 (pending,
 * rejected, revoked, unknown key) the poll interval, since an operator may
 * accept the device later.
 *
 * Updates: the reply's "update" member goes to ag_update_offer() and the
 * update is advanced (ag_update_step) right away; every check-in carries the
 * update's state and, in the inventory, what the current slot runs. While a
 * health window is open the next check-in comes no later than its end.
 *
 * Commands (commands.h): a command whose result is pending is not run again
 * when the server lists it again. Hook commands run one at a time and at
 * most one per reply, so the loop waits for at most one hook's timeout; the
 * others come again with the next reply. results.json also keeps "ran", the
 * ids of the last AG_POLL_RAN_MAX hook commands (never run twice: one listed
 * again after its result was acknowledged is answered "error"), "running",
 * the command whose hook is running (written before the hook starts; found
 * at start, it becomes an "error" result: the hook is not run again), and
 * "reboot" {"id","args"}: a reboot answered "ok" {"rebooting":true} whose
 * hook runs after the check-in that delivered that answer, the marker
 * removed from disk first.
 *
 * SLI reports: after every accepted check-in the buffered reports go out
 * beside it (ag_reports_send, at most AG_POLL_REPORT_BATCHES batches), with
 * the key the check-in was signed with; their failures never fail the
 * check-in and follow their own Retry-After and backoff.
 *
 * Key rotation recovery: while device.key.new exists, a check-in is first
 * signed with the new key. Accepted (2xx, or 403: the key is known) promotes
 * it; 401 retries with the old key, and if the old key is accepted the new
 * one is discarded. Anything else decides nothing and both are kept.
 */
#ifndef AG_POLL_H
#define AG_POLL_H

#include <stdint.h>

#include "agent/clock.h"
#include "agent/commands.h"
#include "agent/reports.h"
#include "fairlead/err.h"
#include "agent/transport.h"

#define AG_POLL_DEFAULT_INTERVAL    30	   /* seconds, until the server says */
#define AG_POLL_DEFAULT_MAX_BACKOFF 300000 /* ms */
#define AG_POLL_JITTER_PCT	    10
#define AG_POLL_REPORT_BATCHES	    4
#define AG_POLL_RAN_MAX		    64

struct ag_poll_opts {
	const char *dir;	      /* state directory */
	const char *hw_model;	      /* NULL: detect */
	const char *firmware_version; /* NULL: detect */
	const char *inventory_root;   /* NULL: the real file system (tests) */
	int64_t max_backoff_ms;	      /* 0: AG_POLL_DEFAULT_MAX_BACKOFF */
	/* Updates (update.h); 0 picks each default. */
	int download_attempts;
	long low_speed_bps;
	long low_speed_s;
	int64_t health_timeout_s;
	/* SLI reports (reports.h) sent after each accepted check-in, a few
	 * batches at a time; NULL: none. Borrowed. */
	struct ag_reports *reports;
	/* Command hooks and their timeout; NULL: none (every type but ping
	 * is refused). Borrowed. */
	const struct ag_commands_opts *commands;
	/* Leaves the reply's commands and a due reboot to the check-in loop:
	 * for a one-off check-in (rotate-key's) that does not know the hooks. */
	int defer_commands;
};

struct ag_poll;

/* Loads identity, keys, desired twin and pending results from opts->dir.
 * t and the strings in opts are borrowed and must outlive the loop. */
int ag_poll_new(struct ag_poll **out, struct ag_transport *t, const struct ag_clock *clock,
		const struct ag_poll_opts *opts, struct fl_err *err);
void ag_poll_free(struct ag_poll *p);

/* One check-in. *delay_ms receives the wait before the next one (always set).
 * Returns 0 when the server answered 2xx and the reply was applied. */
int ag_poll_once(int64_t *delay_ms, struct ag_poll *p, struct fl_err *err);

/* Checks in until the clock's sleep reports a stop; returns 0 then. */
int ag_poll_run(struct ag_poll *p, struct fl_err *err);

/* Observers for tests and logs. */
int64_t ag_poll_interval_s(const struct ag_poll *p);
const char *ag_poll_keyid(const struct ag_poll *p);
const char *ag_poll_device_state(const struct ag_poll *p);

#endif

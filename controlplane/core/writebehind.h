/*
 * writebehind.h - check-in writes, batched off the request path.
 *
 * A check-in only records what changed (last seen, inventory, reported twin,
 * command results) in memory. A flusher thread writes the batch to the store
 * in one transaction every interval, and at once when a request waits in
 * cp_wb_wait() (a group commit: core/groupcommit.h); cp_wb_stop() writes what
 * is left. A batch that fails to write is kept and retried, never dropped.
 * Last seen, inventory and twin are not waited for: a crash may lose the
 * last interval of them, and the next check-in sends them again. Command
 * results are waited for before the check-in is acknowledged.
 */
#ifndef CP_WRITEBEHIND_H
#define CP_WRITEBEHIND_H

#include <stddef.h>
#include <stdint.h>

#include "core/groupcommit.h"
#include "fairlead/err.h"
#include "store/store.h"

struct cp_wb;

struct cp_wb_stats {
	size_t pending_devices; /* devices with unwritten changes */
	size_t pending_results; /* command results not yet written */
	int64_t flushes;	/* batches written */
	int64_t flush_errors;
	int64_t last_flush_ms;	   /* duration of the last batch */
	int64_t oldest_pending_ms; /* age of the oldest unwritten change (lag) */
};

int cp_wb_new(struct cp_wb **out, struct cp_store *store, int interval_ms, struct fl_err *err);
/* Starts the flusher thread. */
int cp_wb_start(struct cp_wb *wb, struct fl_err *err);
/* Stops the thread and flushes everything; returns the last flush's result. */
int cp_wb_stop(struct cp_wb *wb, struct fl_err *err);
void cp_wb_free(struct cp_wb *wb);

/* Records a check-in; inventory/reported/update are compact JSON or NULL (no
 * change) and are copied. update is the validated update status the agent
 * reported (store.h, struct cp_checkin_rec). */
int cp_wb_checkin(struct cp_wb *wb, const char *device_id, int64_t now, const char *inventory,
		  const char *reported, const char *update);
/* Records a command status change (delivered, ok, error); result is compact
 * JSON or NULL, copied. */
int cp_wb_command(struct cp_wb *wb, const char *device_id, const char *cmd_id, const char *status,
		  const char *result, int64_t now);
/* A ticket covering everything recorded before the call. */
uint64_t cp_wb_ticket(struct cp_wb *wb);
/* Waits until ticket's changes are committed: 0, or FL_EUNAVAIL when their
 * write failed or deadline_ms (fl_mono_ms()) passed; they stay queued. */
int cp_wb_wait(struct cp_wb *wb, uint64_t ticket, int64_t deadline_ms, struct fl_err *err);
/* Writes the current batch now (tests, shutdown). */
int cp_wb_flush(struct cp_wb *wb, struct fl_err *err);
void cp_wb_stats(struct cp_wb_stats *out, struct cp_wb *wb);

#endif

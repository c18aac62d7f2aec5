/*
 * ingest.h - the SLI report queue between POST /api/v1/device/reports and
 * the store.
 *
 * The handler validates a batch of reports and submits it here: reports at
 * or below the device's highest seq are counted as duplicates, the others
 * are tagged (device labels, site, hw_model from the inventory, release),
 * given their carbon (core/carbon.h) and queued in memory; nothing touches
 * SQLite on that path except the first sight of a device (its stored seq and
 * tags, then cached, tags refreshed after CP_INGEST_TAG_TTL seconds).
 *
 * The queue is bounded: a batch that does not fit is refused whole with
 * FL_EAGAIN (the agent keeps it and retries). A flusher thread writes the
 * queue in one transaction every interval, and at once when a request waits
 * in cp_ingest_wait() (a group commit: core/groupcommit.h), and applies
 * retention every minute. The handler answers only after that wait, so an
 * acknowledged report survives a crash; cp_ingest_stop() writes what is
 * left. A batch that fails to write is kept and retried, and its waiters get
 * FL_EUNAVAIL. The check-in path never waits on this module.
 */
#ifndef CP_INGEST_H
#define CP_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/carbon.h"
#include "core/groupcommit.h"
#include "fairlead/err.h"
#include "store/store.h"

#define CP_INGEST_TAG_TTL 60

struct cp_ingest_config {
	int flush_ms;		    /* interval of the flusher (default 1000) */
	size_t max_pending;	    /* reports queued at most (default 20000) */
	int64_t retention_minute_s; /* default 2 days */
	int64_t retention_5m_s;	    /* default 35 days */
	int64_t retention_1h_s;	    /* default 400 days */
};

void cp_ingest_config_defaults(struct cp_ingest_config *c);

struct cp_ingest;

/* carbon is borrowed and must outlive the queue. */
int cp_ingest_new(struct cp_ingest **out, struct cp_store *store, const struct cp_carbon *carbon,
		  const struct cp_ingest_config *cfg, struct fl_err *err);
int cp_ingest_start(struct cp_ingest *in, struct fl_err *err);
/* Stops the thread and writes everything queued (a few tries). */
int cp_ingest_stop(struct cp_ingest *in, struct fl_err *err);
void cp_ingest_free(struct cp_ingest *in);

/* One validated report, before tagging. */
struct cp_ingest_report {
	int64_t seq;
	int64_t start, end;
	char release[132]; /* "" for none */
	int64_t inferences, errors, drift_checks, drift_alarms;
	double up_s, expected_s, energy_j;
	struct fl_sketch *latency_ms; /* owned; taken by cp_ingest_submit when queued */
	struct cp_sli_drift *drift;   /* owned; taken likewise */
	size_t ndrift;
};
void cp_ingest_report_release(struct cp_ingest_report *r);

struct cp_ingest_result {
	int64_t accepted;
	int64_t duplicates;
	int64_t acked_seq; /* the highest seq now held for the device */
	uint64_t ticket;   /* for cp_ingest_wait() before acknowledging */
};

/* Submits a device's reports (seq strictly increasing) and its agent's
 * cumulative dropped count. Reports queued are emptied in place (their
 * sketches and histograms now belong to the queue). FL_EAGAIN when the queue
 * cannot take them all (nothing is queued then). */
int cp_ingest_submit(struct cp_ingest_result *res, struct cp_ingest *in, const char *device_id,
		     struct cp_ingest_report *reports, size_t n, int64_t dropped, int64_t now,
		     struct fl_err *err);

/* Waits until the reports of a submit (res->ticket) are committed: 0, or
 * FL_EUNAVAIL when their write failed or deadline_ms (fl_mono_ms()) passed;
 * the reports then stay queued and the client resends them. */
int cp_ingest_wait(struct cp_ingest *in, uint64_t ticket, int64_t deadline_ms, struct fl_err *err);

/* Writes the queue now (tests, shutdown). */
int cp_ingest_flush(struct cp_ingest *in, struct fl_err *err);

struct cp_ingest_stats {
	size_t pending;	    /* reports queued */
	size_t capacity;    /* max_pending */
	int64_t accepted;   /* reports queued since start */
	int64_t duplicates; /* reports refused as already held */
	int64_t refused;    /* reports refused because the queue was full */
	int64_t flushes, flush_errors;
	int64_t last_flush_ms;	   /* duration of the last write */
	int64_t oldest_pending_ms; /* age of the oldest queued report (lag) */
	size_t devices;		   /* devices with cached state */
};
void cp_ingest_stats(struct cp_ingest_stats *out, struct cp_ingest *in);
/* The device's agent-dropped count as last reported (cached or stored). */
int cp_ingest_dropped(int64_t *out, struct cp_ingest *in, const char *device_id,
		      struct fl_err *err);

#endif

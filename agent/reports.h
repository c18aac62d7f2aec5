/*
 * reports.h - the offline buffer of SLI reports (docs/agent.md, "SLIs and
 * drift"): every closed report is kept on disk until the server has it.
 *
 *   STATE/reports/SEQ.json  one report, with its "seq", written atomically
 *   STATE/reports/state.json {"next_seq":N,"dropped":D,"floor":F}
 *
 * seq is per device, strictly increasing and never reused, even across a
 * SIGKILL: state.json is written with next_seq advanced BEFORE the report
 * file, so a crash in between skips a number and never repeats one (on
 * open next_seq is also raised above every file found). The buffer is
 * bounded by count and bytes; at the bound the oldest report is dropped and
 * "dropped" (cumulative, sent in every request) counts it: state.json is
 * written first with the new count and floor = the dropped seq + 1, then the
 * file goes, and files below floor found at open are removed without being
 * counted again. Nothing is dropped silently.
 *
 * Sending: POST /api/v1/device/reports {"reports":[up to AG_REPORTS_BATCH
 * oldest],"dropped":D}. 200 {"acked_seq":S}: every report with seq <= S is
 * deleted; a crash before that only resends what the server deduplicates.
 * 429/503 with Retry-After: kept, nothing sent before then. Other failures:
 * kept, exponential backoff from 1 s to AG_REPORTS_MAX_BACKOFF_S.
 *
 * Thread-safe: reports are added by the SLI receiver while the check-in loop
 * sends; no lock is held over the network.
 */
#ifndef AG_REPORTS_H
#define AG_REPORTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/transport.h"
#include "fairlead/err.h"

#define AG_REPORTS_DIR		 "reports"
#define AG_REPORTS_STATE	 "state.json"
#define AG_REPORTS_TARGET	 "/api/v1/device/reports"
#define AG_REPORTS_BATCH	 64
#define AG_REPORTS_DEFAULT_MAX	 1440
#define AG_REPORTS_DEFAULT_BYTES (32 * 1024 * 1024)
#define AG_REPORTS_MAX_REPORT	 (512 * 1024) /* one report's JSON */
#define AG_REPORTS_MAX_BACKOFF_S 300
#define AG_REPORTS_MAX_RETRY_S	 86400

struct ag_reports;

/* Opens STATE/reports (created when absent), repairs what a crash left and
 * counts what is kept. max_count/max_bytes 0: the defaults. */
int ag_reports_open(struct ag_reports **out, const char *dir, size_t max_count, size_t max_bytes,
		    struct fl_err *err);
void ag_reports_free(struct ag_reports *r);

/* Keeps a copy of report with the next seq (dropping the oldest at the
 * bound). FL_ETOOBIG for a single report over AG_REPORTS_MAX_REPORT (it is
 * counted as dropped). Has the signature of ag_sli_emit_fn. */
int ag_reports_add(void *r, const json_t *report, struct fl_err *err);

/* Sends batches while the server keeps acknowledging, at most max_batches
 * (0: until the buffer is empty or a failure). Does nothing before the time
 * a Retry-After or the backoff set (now: wall clock seconds). Returns 0, or
 * the failure of the last attempt. */
int ag_reports_send(struct ag_reports *r, struct ag_transport *t, int64_t now, int max_batches,
		    struct fl_err *err);

/* Observers. */
size_t ag_reports_pending(struct ag_reports *r);
uint64_t ag_reports_dropped(struct ag_reports *r);
uint64_t ag_reports_next_seq(struct ag_reports *r);
/* When the next send may happen (0: now). */
int64_t ag_reports_not_before(struct ag_reports *r);

#endif

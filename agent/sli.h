/*
 * sli.h - the agent's end of the SLI line protocol: receive what inference
 * modules report, aggregate it in bounded memory per release name and close
 * a report per name and window (docs/agent.md, "SLIs and drift").
 *
 * Modules send datagrams to a Unix socket (STATE/sli.sock by default, mode
 * 0660, a stale one is unlinked at start). Each datagram holds lines
 *   inf model=NAME lat_ms=F [ok=1|0] [energy_j=F] [f.FEATURE=F ...]
 *   err model=NAME [code=WORD]
 *   hb model=NAME
 * Unknown keys are ignored; a malformed line, or one beyond a bound (more
 * than AG_SLI_MAX_NAMES names, FL_DRIFT_MAX_FEATURES features), is counted
 * in bad_lines and dropped.
 *
 * Per name and window the agent keeps: a latency sketch (fl_sketch) over
 * every inf line, inferences (inf + err lines), errors (inf ok=0 + err
 * lines), energy reported by the module, and the bin counts of each feature
 * on the bins of the drift baseline of the release installed for that name.
 * A window closes at a multiple of window_s of the clock (so the server can
 * merge by minute) and becomes one report per name seen in it, or one
 * "release": null report when no module spoke. A name whose installed
 * release changes mid-window (an update) gets its report closed at that
 * moment, and the new release starts with the baseline it shipped with. A
 * name with no installed release is not reported (counted in unmapped).
 *
 * Energy: module energy_j when any line of the window carried it
 * ("module"); else the CPU time (utime + stime) the sender processes used
 * in the window, learnt by SO_PASSCRED, times device_power_w ("estimated");
 * else "none".
 *
 * Uptime: the agent writes its heartbeat (STATE/heartbeat.json) at most
 * every AG_SLI_HEARTBEAT_S seconds. At start a heartbeat older than
 * AG_SLI_GAP_S is reported as a window [last heartbeat, now) with up_s 0
 * (capped at AG_SLI_GAP_MAX_S): power loss is downtime. Every report of a
 * window carries the agent's up_s and expected_s for it.
 */
#ifndef AG_SLI_H
#define AG_SLI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/clock.h"
#include "fairlead/drift.h"
#include "fairlead/err.h"

#define AG_SLI_SOCKET_FILE    "sli.sock"
#define AG_SLI_HEARTBEAT_FILE "heartbeat.json"
#define AG_SLI_BASELINE_DIR   "sli"
#define AG_SLI_LINE_MAX	      1024
#define AG_SLI_DGRAM_MAX      65536
#define AG_SLI_MAX_NAMES      8
#define AG_SLI_MAX_PIDS	      16 /* sender processes tracked per name */
#define AG_SLI_WINDOW_S	      60
#define AG_SLI_POWER_W	      2.0
#define AG_SLI_HEARTBEAT_S    5
#define AG_SLI_GAP_S	      (3 * AG_SLI_HEARTBEAT_S)
#define AG_SLI_GAP_MAX_S      (7 * 86400)

enum ag_sli_kind { AG_SLI_INF, AG_SLI_ERR, AG_SLI_HB };

/* One parsed line; strings point into the caller's buffer copy (see
 * ag_sli_parse_line). */
struct ag_sli_line {
	enum ag_sli_kind kind;
	char model[65];
	double lat_ms;
	int ok;
	double energy_j; /* < 0: not given */
	size_t nfeatures;
	struct {
		char name[FL_DRIFT_NAME_MAX + 1];
		double value;
	} f[FL_DRIFT_MAX_FEATURES];
};

/* Parses one line of n bytes (no '\n'; need not be NUL-terminated).
 * FL_EINVAL with the reason for anything outside the grammar. */
int ag_sli_parse_line(struct ag_sli_line *out, const char *line, size_t n, struct fl_err *err);

/* CPU time of a process in clock ticks (utime + stime) and its start time
 * (to tell a reused pid); 0, or < 0 when the process is gone. */
typedef int (*ag_sli_proc_fn)(void *ctx, pid_t pid, uint64_t *ticks, uint64_t *start);
/* Where a closed report goes (caller owns nothing: report is borrowed). */
typedef int (*ag_sli_emit_fn)(void *ctx, const json_t *report, struct fl_err *err);

struct ag_sli_opts {
	const char *dir;	 /* state directory */
	const char *socket_path; /* NULL: STATE/sli.sock */
	int64_t window_s;	 /* 0: AG_SLI_WINDOW_S */
	double device_power_w;	 /* 0: AG_SLI_POWER_W */
	ag_sli_emit_fn emit;
	void *emit_ctx;
	ag_sli_proc_fn proc; /* NULL: /proc/PID/stat */
	void *proc_ctx;
	long ticks_per_s; /* 0: sysconf(_SC_CLK_TCK) */
};

struct ag_sli_stats {
	uint64_t lines, bad_lines, unmapped, datagrams;
};

struct ag_sli;

/* Reads the heartbeat and emits the downtime report of a gap; no socket
 * yet (ag_sli_start). The clock and the strings in o are borrowed. */
int ag_sli_new(struct ag_sli **out, const struct ag_clock *clock, const struct ag_sli_opts *o,
	       struct fl_err *err);
/* Stops the receiver when running, closes the partial window as a report
 * (so a clean stop loses nothing) and writes the heartbeat. */
void ag_sli_free(struct ag_sli *s);

/* Feeds one datagram from process pid (0: unknown). */
void ag_sli_ingest(struct ag_sli *s, const char *data, size_t n, pid_t pid);
/* Housekeeping at the clock's now: follows release changes, closes due
 * windows (emitting their reports), writes the heartbeat when due. */
int ag_sli_tick(struct ag_sli *s, struct fl_err *err);

/* Binds the socket and starts the receiver thread, which ingests and ticks
 * about every second until ag_sli_free. */
int ag_sli_start(struct ag_sli *s, struct fl_err *err);

/* A copy of the counters (safe while the receiver runs). */
void ag_sli_stats(struct ag_sli_stats *out, struct ag_sli *s);

/* The default proc reader: /proc/PID/stat. */
int ag_sli_proc_stat(void *ctx, pid_t pid, uint64_t *ticks, uint64_t *start);

#endif

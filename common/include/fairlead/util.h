/*
 * util.h - time, durations and the validation of names that end up in paths,
 * SQL rows and log lines.
 */
#ifndef FAIRLEAD_UTIL_H
#define FAIRLEAD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fairlead/err.h"

#define FL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Wall clock, seconds since the epoch. Tests may shift it with
 * FAIRLEAD_TIME_OFFSET (seconds) to check clock-skew handling. */
int64_t fl_now(void);
/* Monotonic milliseconds, for timeouts and rates. */
int64_t fl_mono_ms(void);
/* *ts = now on clock + ms: the deadline a pthread_cond_timedwait on a
 * condition variable of that clock wants. */
void fl_timespec_after(struct timespec *ts, clockid_t clock, int64_t ms);
/* RFC 3339 UTC ("2026-11-24T20:55:16Z"); out holds 32 bytes. */
void fl_time_fmt(char out[32], int64_t t);

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1-12, d 1-31), for
 * any year: H. Hinnant's days_from_civil. Needs neither timegm nor TZ. */
int64_t fl_days_from_civil(int64_t y, int m, int d);
/* "90", "90s", "15m", "24h", "7d", "1h30m" -> seconds (> 0). */
int fl_duration_parse(int64_t *out, const char *s, struct fl_err *err);

/* Device ids, token ids: 1-64 of [A-Za-z0-9._-], not starting with '.' or
 * '-'. Rejects '/', "..", NUL and anything that could escape a path. */
int fl_id_valid(const char *id);
/* Label keys: 1-63 of [A-Za-z0-9._-/], starting alphanumeric;
 * values: 0-63 of [A-Za-z0-9._-]. */
int fl_label_key_valid(const char *k);
int fl_label_value_valid(const char *v);

/* Parses "K=V" into key and value copies within the given capacities. */
int fl_label_parse(char *key, size_t kcap, char *val, size_t vcap, const char *kv,
		   struct fl_err *err);

#endif

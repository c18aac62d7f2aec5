/*
 * schedule.h - 5-field cron expressions in a time zone: the maintenance
 * windows of rollouts (docs/rollouts.md) and the schedule trigger of
 * playbooks share this one copy.
 *
 * Fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of
 * week 0-7 (Sunday is 0 or 7); each is a star (any), a number, a range
 * "a-b", either of those with a step "/n" ("5/15" runs from 5 on), or a comma
 * list of those. When both day fields are restricted (neither is exactly a
 * star) either may match, as in Vixie cron.
 *
 * The zone is "UTC" (also "Z", "" or NULL), a fixed offset ("+HH:MM",
 * "-HH:MM", "+HH", at most 14 hours) or an IANA name from the system
 * database (fairlead/tz.h). The expression is matched against each UTC
 * minute converted with the offset in effect at that minute, so a local
 * time a DST change skips never matches (in Europe/Berlin "30 2 * * *" has
 * no match on the last Sunday of March) and one that repeats matches twice
 * (on the last Sunday of October it matches at 00:30 and at 01:30 UTC).
 *
 * A parsed schedule is immutable: any number of threads may use one.
 */
#ifndef CP_SCHEDULE_H
#define CP_SCHEDULE_H

#include <stdint.h>

#include "fairlead/err.h"

/* How far cp_sched_next looks: four years of 366 days, enough for every
 * expression that can match except Feb 29 across a century year. */
#define CP_SCHED_HORIZON_S (4LL * 366 * 86400)
/* Times accepted, UTC seconds: about +-34000 years around 1970. */
#define CP_SCHED_T_MAX (1LL << 40)
/* Bounds of cp_sched_window_open's duration. */
#define CP_SCHED_WINDOW_MIN_S 60
#define CP_SCHED_WINDOW_MAX_S (7 * 86400)

struct cp_sched;

/* Parses cron in zone tz. FL_EINVAL naming the problem for a bad expression
 * or a bad or unknown zone; FL_ENOMEM. */
int cp_sched_parse(struct cp_sched **out, const char *cron, const char *tz, struct fl_err *err);
/* NULL is a no-op. */
void cp_sched_free(struct cp_sched *s);

/* 1 when the minute that holds t (UTC seconds) matches, else 0. */
int cp_sched_match(const struct cp_sched *s, int64_t t);

/* *out is the first matching minute (a multiple of 60) strictly after t.
 * FL_ENOTFOUND when none comes within CP_SCHED_HORIZON_S ("0 0 31 2 *"),
 * FL_EINVAL when |t| > CP_SCHED_T_MAX. Skips whole days and hours that
 * cannot match: a few thousand steps at most. */
int cp_sched_next(int64_t *out, const struct cp_sched *s, int64_t t, struct fl_err *err);

/* The maintenance-window rule: 1 when t falls within duration_s after a
 * matching minute (a minute m with t - duration_s < m <= t), 0 when not,
 * FL_EINVAL for a bad expression, a duration outside 1m..7d or a bad zone.
 * Parses and loads the zone on every call. */
int cp_sched_window_open(const char *cron, int64_t duration_s, const char *tz, int64_t t,
			 struct fl_err *err);

#endif

/*
 * schedule.c - cron expressions in a time zone. See schedule.h for the
 * rules; comments here say why.
 */
#include "core/schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/tz.h"

#define CRON_EXPR_MAX 256

/* One cron field into a bit set over [lo, hi]. */
static int cron_field(uint64_t *bits, const char *f, int lo, int hi, struct fl_err *err)
{
	char buf[64], *save = NULL, *part;

	*bits = 0;
	if (strlen(f) >= sizeof(buf))
		return fl_err_set(err, FL_EINVAL, "cron field too long");
	snprintf(buf, sizeof(buf), "%s", f);
	for (part = strtok_r(buf, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
		long a = lo, b = hi, step = 1;
		char *slash = strchr(part, '/'), *end;

		if (slash) {
			*slash = '\0';
			step = strtol(slash + 1, &end, 10);
			if (*end || step < 1 || step > hi)
				return fl_err_set(err, FL_EINVAL, "bad cron step '%s'", slash + 1);
		}
		if (strcmp(part, "*") != 0) {
			a = strtol(part, &end, 10);
			if (end == part)
				return fl_err_set(err, FL_EINVAL, "bad cron field '%s'", f);
			b = a;
			if (*end == '-') {
				const char *p2 = end + 1;

				b = strtol(p2, &end, 10);
				if (end == p2)
					return fl_err_set(err, FL_EINVAL, "bad cron range in '%s'",
							  f);
			} else if (slash) {
				b = hi; /* "5/15": from 5 on */
			}
			if (*end || a < lo || b > hi || a > b)
				return fl_err_set(err, FL_EINVAL, "cron field '%s' out of %d-%d", f,
						  lo, hi);
		}
		for (long v = a; v <= b; v += step)
			*bits |= 1ULL << v;
	}
	if (!*bits)
		return fl_err_set(err, FL_EINVAL, "empty cron field");
	return 0;
}

struct cron {
	uint64_t min, hour, dom, mon, dow;
	int dom_star, dow_star;
};

static int cron_parse(struct cron *c, const char *expr, struct fl_err *err)
{
	char buf[CRON_EXPR_MAX], *save = NULL, *f[6];
	int n = 0, rc;

	if (!expr)
		return fl_err_set(err, FL_EINVAL, "cron expression missing");
	if (strlen(expr) >= sizeof(buf))
		return fl_err_set(err, FL_EINVAL, "cron expression too long");
	snprintf(buf, sizeof(buf), "%s", expr);
	for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == 5)
			return fl_err_set(err, FL_EINVAL, "cron needs 5 fields: '%s'", expr);
		f[n++] = t;
	}
	if (n != 5)
		return fl_err_set(err, FL_EINVAL, "cron needs 5 fields: '%s'", expr);
	if ((rc = cron_field(&c->min, f[0], 0, 59, err)) < 0 ||
	    (rc = cron_field(&c->hour, f[1], 0, 23, err)) < 0 ||
	    (rc = cron_field(&c->dom, f[2], 1, 31, err)) < 0 ||
	    (rc = cron_field(&c->mon, f[3], 1, 12, err)) < 0 ||
	    (rc = cron_field(&c->dow, f[4], 0, 7, err)) < 0)
		return rc;
	if (c->dow & (1ULL << 7))
		c->dow |= 1; /* 7 is Sunday too */
	c->dom_star = strcmp(f[2], "*") == 0;
	c->dow_star = strcmp(f[4], "*") == 0;
	return 0;
}

/* A local time broken down, computed here rather than with gmtime_r so that
 * every int64 day in range converts without time_t limits. */
struct lt {
	int64_t day; /* days since 1970-01-01 */
	int min, hour, mday, mon, wday;
};

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static void lt_of(struct lt *lt, int64_t local)
{
	int64_t sod, z, era, doe, yoe, doy, mp;

	lt->day = floor_div(local, 86400);
	sod = local - lt->day * 86400;
	lt->hour = (int)(sod / 3600);
	lt->min = (int)(sod % 3600 / 60);
	lt->wday = (int)(((lt->day % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
	/* Days to civil date (H. Hinnant's algorithm, proleptic Gregorian). */
	z = lt->day + 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	lt->mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	lt->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
}

static int day_match(const struct cron *c, const struct lt *lt)
{
	int dom = (c->dom >> lt->mday) & 1, dow = (c->dow >> lt->wday) & 1;

	if (!((c->mon >> lt->mon) & 1))
		return 0;
	/* Vixie cron: when both day fields are restricted, either may match. */
	return c->dom_star || c->dow_star ? dom && dow : dom || dow;
}

/* The lowest bit of bits at or above from, or -1. */
static int bit_from(uint64_t bits, int from)
{
	if (from > 63)
		return -1;
	bits &= ~0ULL << from;
	return bits ? __builtin_ctzll(bits) : -1;
}

/* A zone: a fixed offset or an IANA zone read from the system's TZif files
 * (fairlead/tz.h; the process-wide TZ variable is not thread-safe). */
struct zone {
	int64_t fixed;
	struct fl_tz *tz; /* NULL: fixed */
};

static int zone_open(struct zone *z, const char *tz, struct fl_err *err)
{
	int h = 0, m = 0, sign, rc;
	char tail;

	z->fixed = 0;
	z->tz = NULL;
	if (!tz || !tz[0] || strcmp(tz, "UTC") == 0 || strcmp(tz, "Z") == 0)
		return 0;
	if ((tz[0] == '+' || tz[0] == '-') &&
	    (sscanf(tz + 1, "%2d:%2d%c", &h, &m, &tail) == 2 ||
	     (sscanf(tz + 1, "%2d%c", &h, &tail) == 1 && strlen(tz) <= 3)) &&
	    h <= 14 && m < 60) {
		sign = tz[0] == '-' ? -1 : 1;
		z->fixed = sign * (h * 3600 + m * 60);
		return 0;
	}
	if (tz[0] == '+' || tz[0] == '-' || !fl_tz_name_valid(tz))
		return fl_err_set(err, FL_EINVAL,
				  "time zone '%.64s': use UTC, a fixed offset like +02:00 or an "
				  "IANA zone name like Europe/Berlin",
				  tz);
	rc = fl_tz_load(&z->tz, tz, err);
	/* An unknown zone is the caller's mistake (400), not a missing object. */
	return rc == FL_ENOTFOUND ? FL_EINVAL : rc;
}

static int64_t zone_offset(const struct zone *z, int64_t t)
{
	return z->tz ? fl_tz_offset(z->tz, t, NULL) : z->fixed;
}

struct cp_sched {
	struct cron c;
	struct zone z;
	char expr[CRON_EXPR_MAX]; /* for messages */
};

int cp_sched_parse(struct cp_sched **out, const char *cron, const char *tz, struct fl_err *err)
{
	struct cp_sched *s;
	int rc;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	if ((rc = cron_parse(&s->c, cron, err)) < 0 || (rc = zone_open(&s->z, tz, err)) < 0)
		goto exit;
	snprintf(s->expr, sizeof(s->expr), "%s", cron);
	*out = s;
	s = NULL;
exit:
	cp_sched_free(s);
	return rc;
}

void cp_sched_free(struct cp_sched *s)
{
	if (!s)
		return;
	fl_tz_free(s->z.tz);
	free(s);
}

static int match_minute(const struct cp_sched *s, int64_t m)
{
	struct lt lt;

	lt_of(&lt, m + zone_offset(&s->z, m));
	return day_match(&s->c, &lt) && ((s->c.hour >> lt.hour) & 1) && ((s->c.min >> lt.min) & 1);
}

int cp_sched_match(const struct cp_sched *s, int64_t t)
{
	if (t > CP_SCHED_T_MAX || t < -CP_SCHED_T_MAX)
		return 0;
	return match_minute(s, floor_div(t, 60) * 60);
}

/* The first matching minute m with t < m <= limit: 1 and *out, or 0.
 *
 * Each step converts the candidate minute m with its offset o and, when it
 * does not match, jumps to the local start of the next day, hour or minute
 * that may match, assuming o holds until there. The jump is checked: when
 * the offset at the last minute jumped over differs, the jump stops at the
 * change instead (bisection, to the minute), so that the minutes after it are
 * converted with their own offset: skipped local times are jumped over,
 * repeated ones are visited again. Jumps are at most a day, and an offset
 * that changes and changes back within one day (no zone of the tz database
 * does) is the one case this would miss. */
static int next_until(int64_t *out, const struct cp_sched *s, int64_t t, int64_t limit)
{
	const struct cron *c = &s->c;
	int64_t m = floor_div(t, 60) * 60 + 60;

	while (m <= limit) {
		int64_t o = zone_offset(&s->z, m), base, to, jump;
		struct lt lt;
		int h, mi;

		lt_of(&lt, m + o);
		base = lt.day * 86400;
		if (!day_match(c, &lt)) {
			to = base + 86400;
		} else if (!((c->hour >> lt.hour) & 1)) {
			h = bit_from(c->hour, lt.hour + 1);
			to = base + (h < 0 || h > 23 ? 86400 : h * 3600);
		} else if (!((c->min >> lt.min) & 1)) {
			mi = bit_from(c->min, lt.min + 1);
			to = base + lt.hour * 3600 + (mi < 0 || mi > 59 ? 3600 : mi * 60);
		} else {
			*out = m;
			return 1;
		}
		/* The first UTC minute whose local time is at or after to: to - o
		 * rounded up (an offset may hold seconds, as LMT does). It is
		 * past m because to is past m's local minute. */
		jump = -floor_div(-(to - o), 60) * 60;
		if (s->z.tz && jump > m + 60 && zone_offset(&s->z, jump - 60) != o) {
			int64_t lo = m, hi = jump - 60;

			while (hi - lo > 60) {
				int64_t mid = lo + (hi - lo) / 120 * 60;

				if (zone_offset(&s->z, mid) == o)
					lo = mid;
				else
					hi = mid;
			}
			jump = hi;
		}
		m = jump;
	}
	return 0;
}

int cp_sched_next(int64_t *out, const struct cp_sched *s, int64_t t, struct fl_err *err)
{
	if (t > CP_SCHED_T_MAX || t < -CP_SCHED_T_MAX)
		return fl_err_set(err, FL_EINVAL, "time %lld out of range", (long long)t);
	if (!next_until(out, s, t, t + CP_SCHED_HORIZON_S))
		return fl_err_set(err, FL_ENOTFOUND, "cron '%s' matches no minute within 4 years",
				  s->expr);
	return 0;
}

int cp_sched_window_open(const char *cron, int64_t duration_s, const char *tz, int64_t t,
			 struct fl_err *err)
{
	struct cp_sched s = {0};
	int64_t m;
	int rc;

	/* Checked in this order so that a window with several mistakes is
	 * refused with the same message as before this module existed. */
	if ((rc = cron_parse(&s.c, cron, err)) < 0)
		return rc;
	if (duration_s < CP_SCHED_WINDOW_MIN_S || duration_s > CP_SCHED_WINDOW_MAX_S)
		return fl_err_set(err, FL_EINVAL, "window duration must be 1m..7d");
	if (t > CP_SCHED_T_MAX || t < -CP_SCHED_T_MAX)
		return fl_err_set(err, FL_EINVAL, "time %lld out of range", (long long)t);
	if ((rc = zone_open(&s.z, tz, err)) < 0)
		return rc;
	/* Open when a window started at a matching minute within the last
	 * duration: the first match after t - duration_s is at most t. */
	rc = next_until(&m, &s, t - duration_s, t);
	fl_tz_free(s.z.tz);
	return rc;
}

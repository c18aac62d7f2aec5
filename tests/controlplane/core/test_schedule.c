/* test_schedule.c - cron expressions in a zone: parsing, matching, the next
 * matching minute (across DST, leap years, impossible dates), and the
 * maintenance-window rule of rollouts. */
#include <time.h>

#include "core/schedule.h"
#include "fl_test.h"

static struct cp_sched *parse_ok(const char *cron, const char *tz)
{
	struct fl_err err = {0, ""};
	struct cp_sched *s = NULL;

	cr_assert_eq(cp_sched_parse(&s, cron, tz, &err), 0, "'%s' in %s: %s", cron, tz, err.msg);
	return s;
}

static int64_t next_ok(const struct cp_sched *s, int64_t t)
{
	struct fl_err err = {0, ""};
	int64_t n = 0;

	cr_assert_eq(cp_sched_next(&n, s, t, &err), 0, "next after %lld: %s", (long long)t,
		     err.msg);
	return n;
}

/* Each time in want[] is the next after the one before, starting from t. */
static void expect_chain(const char *cron, const char *tz, int64_t t, const int64_t *want, size_t n)
{
	struct cp_sched *s = parse_ok(cron, tz);

	for (size_t i = 0; i < n; i++) {
		int64_t got = next_ok(s, t);

		cr_assert_eq(got, want[i], "'%s' in %s, #%zu after %lld: got %lld, want %lld", cron,
			     tz, i, (long long)t, (long long)got, (long long)want[i]);
		cr_assert_eq(cp_sched_match(s, got), 1);
		t = got;
	}
	cp_sched_free(s);
}

#define MON 1900022400LL /* 2030-03-18 00:00:00 UTC, a Monday */

Test(schedule, every_five_minutes)
{
	const int64_t from_mid[] = {MON + 300, MON + 600, MON + 900};
	const int64_t from_match[] = {MON + 600};

	expect_chain("*/5 * * * *", "UTC", MON + 190, from_mid, 3);
	/* strictly after: a time on a matching minute gives the one after */
	expect_chain("*/5 * * * *", "UTC", MON + 300, from_match, 1);
	expect_chain("*/5 * * * *", "UTC", MON + 359, from_match, 1);
}

Test(schedule, common_expressions)
{
	const int64_t daily[] = {MON + 2 * 3600, MON + 86400 + 2 * 3600};
	const int64_t hourly_list[] = {MON + 15 * 60, MON + 45 * 60, MON + 3600 + 15 * 60};
	/* from Friday 10:00 to Monday 09:00 */
	const int64_t weekdays[] = {MON + 7 * 86400 + 9 * 3600, MON + 8 * 86400 + 9 * 3600};
	const int64_t month_start[] = {1901232000LL};	  /* 2030-04-01 00:00 UTC */
	const int64_t fixed[] = {MON + 86400 - 2 * 3600}; /* 00:00 at +02:00 */

	expect_chain("0 2 * * *", "UTC", MON, daily, 2);
	expect_chain("15,45 * * * *", "UTC", MON, hourly_list, 3);
	expect_chain("0 9 * * 1-5", "UTC", MON + 4 * 86400 + 10 * 3600, weekdays, 2);
	expect_chain("0 0 1 * *", "UTC", MON, month_start, 1);
	expect_chain("0 0 * * *", "+02:00", MON, fixed, 1);
}

Test(schedule, weekly_monday_in_berlin_across_dst)
{
	/* 03:00 Berlin on Mondays: 02:00 UTC in winter, 01:00 UTC in summer */
	const int64_t march[] = {1774231200LL, 1774832400LL};	/* 2026-03-23, 03-30 */
	const int64_t october[] = {1792371600LL, 1792980000LL}; /* 2026-10-19, 10-26 */

	expect_chain("0 3 * * 1", "Europe/Berlin", 1774231200LL - 7 * 86400 + 60, march, 2);
	expect_chain("0 3 * * 1", "Europe/Berlin", 1792371600LL - 6 * 86400, october, 2);
}

Test(schedule, skipped_and_repeated_local_times)
{
	/* 2026-03-29 02:00-02:59 does not exist in Berlin: 02:30 comes next on
	 * the 30th (00:30 UTC, CEST). */
	const int64_t spring[] = {1774830600LL};
	/* 2026-10-25 02:00-02:59 happens twice: 00:30 UTC (CEST) and 01:30
	 * UTC (CET), then 01:30 UTC the day after. */
	const int64_t autumn[] = {1792888200LL, 1792891800LL, 1792978200LL};
	struct cp_sched *s = parse_ok("30 2 * * *", "Europe/Berlin");

	expect_chain("30 2 * * *", "Europe/Berlin", 1774699200LL, spring, 1);
	expect_chain("30 2 * * *", "Europe/Berlin", 1792843200LL, autumn, 3);
	/* no minute of the day of the spring change matches */
	for (int64_t t = 1774742400LL; t < 1774742400LL + 86400; t += 60)
		cr_assert_eq(cp_sched_match(s, t), 0, "%lld", (long long)t);
	cp_sched_free(s);
	/* the hour that repeats: each minute of it twice */
	s = parse_ok("* 2 25 10 *", "Europe/Berlin");
	{
		int n = 0;

		for (int64_t t = 1792843200LL; t < 1792843200LL + 86400; t += 60)
			n += cp_sched_match(s, t);
		cr_assert_eq(n, 120);
	}
	cp_sched_free(s);
}

Test(schedule, leap_days)
{
	const int64_t leap[] = {1835438400LL}; /* 2028-02-29 12:00 UTC */
	const int64_t leap0[] = {1835395200LL};
	struct fl_err err = {0, ""};
	struct cp_sched *s = parse_ok("0 12 29 2 *", "UTC");
	int64_t n = 0;

	expect_chain("0 12 29 2 *", "UTC", 1709251200LL, leap, 1); /* from 2024-03-01 */
	expect_chain("0 0 29 2 *", "UTC", 1798761600LL, leap0, 1); /* from 2027-01-01 */
	/* 2100 is no leap year: from 2096-03-01 the next is in 2104, beyond
	 * the horizon */
	cr_assert_eq(cp_sched_next(&n, s, 3981398400LL, &err), FL_ENOTFOUND);
	cp_sched_free(s);
}

Test(schedule, impossible_dates_are_not_found_fast)
{
	static const char *const never[] = {"0 0 31 2 *", "0 0 30 2 *", "* * 31 4,6,9,11 *",
					    "59 23 31 11 *"};
	struct fl_err err = {0, ""};
	clock_t c0 = clock();
	int64_t n = 0;

	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		struct cp_sched *s = parse_ok(never[i], "Europe/Berlin");

		for (int k = 0; k < 25; k++) {
			fl_err_clear(&err);
			cr_assert_eq(cp_sched_next(&n, s, MON + k * 86400, &err), FL_ENOTFOUND,
				     "'%s'", never[i]);
		}
		cr_assert(strstr(err.msg, never[i]) != NULL, "%s", err.msg);
		cp_sched_free(s);
	}
	/* 100 searches of four years each: testing every minute would take
	 * minutes of CPU time. */
	cr_assert_lt((double)(clock() - c0) / CLOCKS_PER_SEC, 2.0);
	/* with a day of week, Vixie cron's "either day field" makes it
	 * possible: any Monday in February */
	{
		const int64_t feb_monday[] = {1896393600LL}; /* 2030-02-04 00:00 UTC */

		expect_chain("0 0 31 2 1", "UTC", 1893456000LL, feb_monday, 1);
	}
}

/* next(t) matches, and no minute in between does: checked against
 * cp_sched_match over every minute of a range, from times on and between
 * minute boundaries. */
static void check_consistent(const char *cron, const char *tz, int64_t from, int64_t minutes)
{
	struct cp_sched *s = parse_ok(cron, tz);
	int64_t end = from + minutes * 60, brute = INT64_MAX;
	char *hit = calloc((size_t)minutes, 1);

	cr_assert_not_null(hit);
	for (int64_t i = 0; i < minutes; i++)
		hit[i] = (char)cp_sched_match(s, from + i * 60);
	/* walking back, brute is the first match after minute i */
	for (int64_t i = minutes - 1; i >= 0; i--) {
		int64_t m = from + i * 60;

		for (int64_t off = 0; off < 60; off += 37) {
			int64_t t = m + off, got = 0;
			int rc = cp_sched_next(&got, s, t, NULL);

			/* cr_assert only on a failure: it is slow, and this loop
			 * runs some 800000 times */
			if (rc != 0 || cp_sched_match(s, got) != 1 ||
			    (brute < end ? got != brute : got < end)) {
				cr_fatal("'%s' in %s after %lld: rc %d, got %lld, want %lld", cron,
					 tz, (long long)t, rc, (long long)got, (long long)brute);
			}
		}
		if (hit[i])
			brute = m;
	}
	free(hit);
	cp_sched_free(s);
}

Test(schedule, next_agrees_with_match)
{
	static const char *const exprs[] = {"*/5 * * * *",   "30 2 * * *",	    "0 3 * * 1",
					    "*/7 1-3 * * 0", "0,30 * 25-31 3,10 0", "15 2 * * *",
					    "59 23 * * *",   "0 0 1 * *",	    "* 2 * * *"};
	static const char *const zones[] = {"UTC", "Europe/Berlin", "America/New_York",
					    "Australia/Lord_Howe", "-03:30"};
	/* three days around each of Berlin's 2026 changes */
	const int64_t starts[] = {1774569600LL, 1792713600LL};

	for (size_t e = 0; e < sizeof(exprs) / sizeof(exprs[0]); e++)
		for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++)
			for (size_t k = 0; k < 2; k++)
				check_consistent(exprs[e], zones[z], starts[k], 3 * 1440);
	/* New York's and Lord Howe's own changes (2026-11-01, 2026-04-05) */
	for (size_t e = 0; e < sizeof(exprs) / sizeof(exprs[0]); e++) {
		check_consistent(exprs[e], "America/New_York", 1793404800LL, 2 * 1440);
		check_consistent(exprs[e], "Australia/Lord_Howe", 1775260800LL, 2 * 1440);
	}
}

Test(schedule, bad_expressions_are_refused_with_messages)
{
	static const struct {
		const char *cron, *tz, *msg;
	} bad[] = {
	    {"0 2 * *", "UTC", "cron needs 5 fields"},
	    {"0 2 * * * *", "UTC", "cron needs 5 fields"},
	    {"", "UTC", "cron needs 5 fields"},
	    {"61 2 * * *", "UTC", "cron field '61' out of 0-59"},
	    {"0 24 * * *", "UTC", "out of 0-23"},
	    {"0 0 0 * *", "UTC", "out of 1-31"},
	    {"0 0 * 13 *", "UTC", "out of 1-12"},
	    {"0 0 * * 8", "UTC", "out of 0-7"},
	    {"5-1 * * * *", "UTC", "out of 0-59"},
	    {"*/0 * * * *", "UTC", "bad cron step '0'"},
	    {"*/x * * * *", "UTC", "bad cron step"},
	    {"a b c d e", "UTC", "bad cron field 'a'"},
	    {"1- * * * *", "UTC", "bad cron range"},
	    {"0 2 * * *", "Mars/Olympus", "Mars/Olympus"},
	    {"0 2 * * *", "../../etc/passwd", "time zone"},
	    {"0 2 * * *", "+25:00", "time zone"},
	    {NULL, "UTC", "cron expression missing"},
	};
	char longexpr[300];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fl_err err = {0, ""};
		struct cp_sched *s = (struct cp_sched *)&err;

		cr_assert_eq(cp_sched_parse(&s, bad[i].cron, bad[i].tz, &err), FL_EINVAL, "'%s'",
			     bad[i].cron);
		cr_assert_null(s);
		cr_assert(strstr(err.msg, bad[i].msg) != NULL, "'%s': %s", bad[i].cron, err.msg);
	}
	memset(longexpr, '1', sizeof(longexpr) - 1);
	longexpr[sizeof(longexpr) - 1] = '\0';
	{
		struct fl_err err = {0, ""};
		struct cp_sched *s = NULL;

		cr_assert_eq(cp_sched_parse(&s, longexpr, "UTC", &err), FL_EINVAL);
		cr_assert(strstr(err.msg, "too long") != NULL, "%s", err.msg);
	}
	cp_sched_free(NULL);
}

Test(schedule, zones_accepted)
{
	static const char *const ok[] = {NULL,	   "",	     "UTC", "Z",
					 "+02:00", "-03:30", "+05", "Europe/Berlin"};
	const int64_t t = MON + 3600; /* 01:00 UTC */

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cp_sched_free(parse_ok("* * * * *", ok[i]));
	{
		struct cp_sched *s = parse_ok("0 6 * * *", "+05");

		cr_assert_eq(cp_sched_match(s, t), 1);
		cr_assert_eq(cp_sched_match(s, t + 59), 1);
		cr_assert_eq(cp_sched_match(s, t + 60), 0);
		cr_assert_eq(cp_sched_match(s, t - 1), 0);
		cp_sched_free(s);
	}
}

Test(schedule, window_matching)
{
	struct fl_err err = {0, ""};
	int64_t day = 1900022400LL; /* 2030-03-18 00:00:00 UTC, a Monday */

	cr_assert_eq(cp_sched_window_open("0 2 * * *", 3600, "UTC", day + 2 * 3600, &err), 1);
	cr_assert_eq(cp_sched_window_open("0 2 * * *", 3600, "UTC", day + 3 * 3600 - 1, &err), 1);
	cr_assert_eq(cp_sched_window_open("0 2 * * *", 3600, "UTC", day + 3 * 3600, &err), 0);
	cr_assert_eq(cp_sched_window_open("0 2 * * *", 3600, "UTC", day + 2 * 3600 - 1, &err), 0);
	/* 02:00 at +02:00 is 00:00 UTC */
	cr_assert_eq(cp_sched_window_open("0 2 * * *", 3600, "+02:00", day + 600, &err), 1);
	cr_assert_eq(cp_sched_window_open("0 2 * * *", 3600, "-01:00", day + 3 * 3600 + 5, &err),
		     1);
	/* day of week: Monday is 1 (and Sunday 0 or 7) */
	cr_assert_eq(cp_sched_window_open("*/30 1-3 * * 1", 600, "UTC", day + 3600 + 1805, &err),
		     1);
	cr_assert_eq(cp_sched_window_open("0 * * * 0,7", 3600, "UTC", day + 3600, &err), 0);
	cr_assert_eq(cp_sched_window_open("0 * * * 7", 3600, "UTC", day - 10, &err), 1);
	/* windows that cross midnight */
	cr_assert_eq(cp_sched_window_open("0 23 * * *", 7200, "UTC", day + 1800, &err), 1);
	/* bad input */
	cr_assert_eq(cp_sched_window_open("0 2 * * *", 3600, "../../etc/passwd", day, &err),
		     FL_EINVAL);
	cr_assert_eq(cp_sched_window_open("0 2 * * *", 3600, "Mars/Olympus", day, &err), FL_EINVAL);
	cr_assert_lt(cp_sched_window_open("0 2 * *", 3600, "UTC", day, &err), 0);
	cr_assert_lt(cp_sched_window_open("61 2 * * *", 3600, "UTC", day, &err), 0);
	cr_assert_lt(cp_sched_window_open("0 2 * * *", 30, "UTC", day, &err), 0);
	cr_assert_lt(cp_sched_window_open("0 2 * * *", 3600, "+25:00", day, &err), 0);
	cr_assert_lt(cp_sched_window_open("a b c d e", 3600, "UTC", day, &err), 0);
}

Test(schedule, windows_in_iana_zones_follow_dst)
{
	struct fl_err err = {0, ""};
	int64_t t;

	/* 02:00 in Berlin is 01:00 UTC in winter, 00:00 UTC in summer */
	cr_assert_eq(cp_sched_window_open("0 2 * * *", 3600, "Europe/Berlin", 1768440600, &err), 1,
		     "2026-01-15 01:30 UTC: %s", err.msg);
	cr_assert_eq(cp_sched_window_open("0 2 * * *", 3600, "Europe/Berlin", 1782865800, &err), 1,
		     "2026-07-01 00:30 UTC");
	cr_assert_eq(
	    cp_sched_window_open("0 2 * * *", 3600, "Europe/Berlin", 1768440600 - 3600, &err), 0);
	/* 2026-03-29: 02:00-02:59 does not exist in Berlin, the window never opens */
	for (t = 1774742400; t < 1774742400 + 86400; t += 300)
		cr_assert_eq(cp_sched_window_open("0 2 * * *", 3600, "Europe/Berlin", t, &err), 0,
			     "open at %lld on the day 02:00 is skipped", (long long)t);
	/* 2026-11-01: 01:30 happens twice in New York (EDT, then EST) */
	cr_assert_eq(cp_sched_window_open("30 1 * * *", 1800, "America/New_York", 1793511900, &err),
		     1);
	cr_assert_eq(cp_sched_window_open("30 1 * * *", 1800, "America/New_York", 1793515500, &err),
		     1);
	cr_assert_eq(cp_sched_window_open("30 1 * * *", 1800, "America/New_York", 1793519100, &err),
		     0);
}

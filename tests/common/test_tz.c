/*
 * test_tz.c - the TZif reader: DST transitions of real zones at known
 * instants (from the table and, past it, from the footer rule), footer
 * rules on built files, names that try to leave the database, and
 * malformed files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/tz.h"
#include "fl_test.h"

static struct fl_tz *load(const char *name)
{
	struct fl_err err = {0, ""};
	struct fl_tz *z = NULL;

	cr_assert_eq(fl_tz_load(&z, name, &err), 0, "%s: %s (is tzdata installed?)", name, err.msg);
	cr_assert_not_null(z);
	return z;
}

static void at(const struct fl_tz *z, int64_t t, int32_t want, int want_dst)
{
	int dst = -1;
	int32_t off = fl_tz_offset(z, t, &dst);

	cr_assert_eq(off, want, "offset at %lld: %d, want %d", (long long)t, off, want);
	cr_assert_eq(dst, want_dst, "dst at %lld", (long long)t);
}

Test(tz, berlin_transitions)
{
	struct fl_tz *z = load("Europe/Berlin");

	/* 2026-03-29 01:00 UTC: 02:00 CET becomes 03:00 CEST */
	at(z, 1774745999, 3600, 0);
	at(z, 1774746000, 7200, 1);
	/* 2026-10-25 01:00 UTC: 03:00 CEST becomes 02:00 CET */
	at(z, 1792889999, 7200, 1);
	at(z, 1792890000, 3600, 0);
	/* 2100, past any table: the footer rule CET-1CEST,M3.5.0,M10.5.0/3 */
	at(z, 4109878799, 3600, 0);
	at(z, 4109878800, 7200, 1);
	at(z, 4128627599, 7200, 1);
	at(z, 4128627600, 3600, 0);
	/* 1890: local mean time, +00:53:28, before the first transition */
	at(z, -2500000000LL, 3208, 0);
	fl_tz_free(z);
}

Test(tz, new_york_transitions)
{
	struct fl_tz *z = load("America/New_York");

	/* 2026-03-08 07:00 UTC: 02:00 EST becomes 03:00 EDT */
	at(z, 1772953199, -18000, 0);
	at(z, 1772953200, -14400, 1);
	/* 2026-11-01 06:00 UTC: 02:00 EDT becomes 01:00 EST */
	at(z, 1793512799, -14400, 1);
	at(z, 1793512800, -18000, 0);
	/* 2100 from the footer EST5EDT,M3.2.0,M11.1.0 */
	at(z, 4108690799, -18000, 0);
	at(z, 4108690800, -14400, 1);
	at(z, 4129250399, -14400, 1);
	at(z, 4129250400, -18000, 0);
	fl_tz_free(z);
}

/* A version 2 file with no transitions, one type (utoff) and footer. */
static size_t build(uint8_t *out, char version, int32_t utoff, const char *footer)
{
	size_t n = 0;

	for (int blk = 0; blk < 2; blk++) {
		static const uint8_t counts[24] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
						   0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4};

		memcpy(out + n, "TZif", 4);
		out[n + 4] = (uint8_t)version;
		memset(out + n + 5, 0, 15);
		memcpy(out + n + 20, counts, 24);
		n += 44;
		out[n++] = (uint8_t)((uint32_t)utoff >> 24);
		out[n++] = (uint8_t)((uint32_t)utoff >> 16);
		out[n++] = (uint8_t)((uint32_t)utoff >> 8);
		out[n++] = (uint8_t)utoff;
		out[n++] = 0; /* isdst */
		out[n++] = 0; /* desigidx */
		memcpy(out + n, "XYZ", 4);
		n += 4;
	}
	out[n++] = '\n';
	memcpy(out + n, footer, strlen(footer));
	n += strlen(footer);
	out[n++] = '\n';
	return n;
}

static struct fl_tz *parse_footer(const char *footer, int32_t utoff)
{
	uint8_t buf[512];
	size_t n = build(buf, '3', utoff, footer);
	struct fl_err err = {0, ""};
	struct fl_tz *z = NULL;

	cr_assert_eq(fl_tz_parse(&z, buf, n, &err), 0, "%s: %s", footer, err.msg);
	return z;
}

Test(tz, footer_rules)
{
	struct fl_tz *z;

	/* no DST, a quoted name and minutes */
	z = parse_footer("<+0530>-5:30", 19800);
	at(z, 1800000000, 19800, 0);
	fl_tz_free(z);
	/* southern hemisphere: DST from October to April, across the new year.
	 * Sydney 2026: DST ends 2026-04-05 03:00 AEDT (16:00 UTC the day before),
	 * starts 2026-10-04 02:00 AEST (16:00 UTC the day before). */
	z = parse_footer("AEST-10AEDT,M10.1.0,M4.1.0/3", 36000);
	at(z, 1767225600, 39600, 1); /* 2026-01-01 */
	at(z, 1775318399, 39600, 1);
	at(z, 1775318400, 36000, 0);
	at(z, 1791043199, 36000, 0);
	at(z, 1791043200, 39600, 1);
	fl_tz_free(z);
	/* permanent DST written as a rule (version 3 hours past 24) */
	z = parse_footer("EST5EDT,0/0,J365/25", -18000);
	at(z, 1767225600, -14400, 1);
	at(z, 1782864000, -14400, 1);
	at(z, 1798761599, -14400, 1);
	fl_tz_free(z);
	/* Jn skips February 29: J60 is March 1 also in a leap year (2028) */
	z = parse_footer("AAA0BBB,J60/0,J61/0", 0);
	at(z, 1835481600 - 1, 0, 0);	   /* 2028-02-29 23:59:59 */
	at(z, 1835481600, 3600, 1);	   /* 2028-03-01 00:00 */
	at(z, 1835568000 - 3601, 3600, 1); /* ends 2028-03-02 00:00 DST = 03-01 23:00 UTC */
	at(z, 1835568000 - 3600, 0, 0);
	fl_tz_free(z);
}

Test(tz, unsupported_footers_are_refused_by_name)
{
	static const char *const bad[] = {"EST5EDT",
					  "CET-1CEST,M3.5.0",
					  "AB-1",
					  "CET-25",
					  "CET-1CEST,M13.1.0,M10.5.0",
					  "CET-1CEST,M3.6.0,M10.5.0",
					  "CET-1CEST,M3.5.7,M10.5.0",
					  "CET-1CEST,J0,J100",
					  "CET-1CEST,366,J100",
					  "CET-1CEST,M3.5.0/168,M10.5.0",
					  "<AB>-1",
					  "CET-1 trailing",
					  "CET-1CEST,M3.5.0,M10.5.0x"};
	uint8_t buf[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fl_err err = {0, ""};
		struct fl_tz *z = NULL;
		size_t n = build(buf, '2', 0, bad[i]);

		cr_assert_eq(fl_tz_parse(&z, buf, n, &err), FL_EINVAL, "%s", bad[i]);
		cr_assert_null(z);
		cr_assert_not_null(strstr(err.msg, "footer"), "%s: %s", bad[i], err.msg);
	}
}

Test(tz, names_cannot_leave_the_database)
{
	static const char *const bad[] = {"",
					  "../etc/passwd",
					  "/etc/passwd",
					  "Europe/../../etc/passwd",
					  "Europe/./Berlin",
					  "Europe//Berlin",
					  "Europe/",
					  ".hidden",
					  "Europe/Ber lin",
					  "Europe\\Berlin",
					  "-x",
					  "A/B/C/D/E",
					  "Europe/Berlin\n"};
	static const char *const good[] = {"Europe/Berlin", "Etc/GMT+5", "Etc/GMT-14",
					   "America/Argentina/Buenos_Aires", "UTC"};
	char longname[200];
	struct fl_err err = {0, ""};
	struct fl_tz *z = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(fl_tz_name_valid(bad[i]), 0, "'%s'", bad[i]);
		cr_assert_eq(fl_tz_load(&z, bad[i], &err), FL_EINVAL, "'%s'", bad[i]);
		cr_assert_null(z);
	}
	memset(longname, 'A', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	cr_assert_eq(fl_tz_name_valid(longname), 0);
	cr_assert_eq(fl_tz_name_valid(NULL), 0);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert_eq(fl_tz_name_valid(good[i]), 1, "'%s'", good[i]);
	cr_assert_eq(fl_tz_load(&z, "Mars/Olympus", &err), FL_ENOTFOUND);
	cr_assert_not_null(strstr(err.msg, "Mars/Olympus"), "%s", err.msg);
	/* a directory of the database is not a zone */
	cr_assert_eq(fl_tz_load(&z, "Europe", &err), FL_EINVAL);
	cr_assert_null(z);
}

/* The bytes of a real zone file. */
static uint8_t *slurp(const char *name, size_t *len)
{
	char path[256];
	const char *dir = getenv("TZDIR");
	FILE *f;
	uint8_t *b = malloc(1 << 16);

	snprintf(path, sizeof(path), "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", name);
	cr_assert_not_null(b);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	*len = fread(b, 1, 1 << 16, f);
	fclose(f);
	return b;
}

Test(tz, malformed_files_are_refused_whole)
{
	size_t len, i;
	uint8_t *b = slurp("America/New_York", &len);
	struct fl_err err = {0, ""};
	struct fl_tz *z = NULL;

	cr_assert_eq(fl_tz_parse(&z, b, len, &err), 0, "%s", err.msg);
	fl_tz_free(z);
	/* every truncation fails cleanly (ASan sees any read past the end) */
	for (i = 0; i < len; i++) {
		uint8_t *cut = malloc(i ? i : 1);

		memcpy(cut, b, i);
		z = NULL;
		cr_assert_lt(fl_tz_parse(&z, cut, i, &err), 0, "a %zu-byte prefix parsed", i);
		cr_assert_null(z);
		free(cut);
	}
	/* bad magic, bad version, huge counts, a transition out of order */
	{
		uint8_t *m = malloc(len);

		memcpy(m, b, len);
		m[0] = 'X';
		cr_assert_eq(fl_tz_parse(&z, m, len, &err), FL_EINVAL);
		memcpy(m, b, len);
		m[4] = '9';
		cr_assert_eq(fl_tz_parse(&z, m, len, &err), FL_EINVAL);
		memcpy(m, b, len);
		m[32] = 0xff; /* timecnt of the first header */
		cr_assert_eq(fl_tz_parse(&z, m, len, &err), FL_EINVAL);
		memcpy(m, b, len);
		m[36] = 0x01; /* typecnt 2^24 */
		cr_assert_eq(fl_tz_parse(&z, m, len, &err), FL_EINVAL);
		free(m);
	}
	{
		/* the v2 block: swap its first two transitions */
		uint8_t *m = malloc(len);
		uint32_t timecnt =
		    (uint32_t)b[32] << 24 | (uint32_t)b[33] << 16 | (uint32_t)b[34] << 8 | b[35];
		size_t v1 =
		    44 + timecnt * 5 + (size_t)b[39] * 6 + b[43] + (size_t)b[27] + (size_t)b[23];
		size_t t0 = v1 + 44;
		uint8_t tmp[8];

		cr_assert_gt(timecnt, 2);
		memcpy(m, b, len);
		memcpy(tmp, m + t0, 8);
		memcpy(m + t0, m + t0 + 8, 8);
		memcpy(m + t0 + 8, tmp, 8);
		cr_assert_eq(fl_tz_parse(&z, m, len, &err), FL_EINVAL);
		cr_assert_not_null(strstr(err.msg, "order"), "%s", err.msg);
		free(m);
	}
	free(b);
}

Test(tz, version_1_file)
{
	/* The 32-bit block alone, as a v1 file: the table still answers. */
	size_t len;
	uint8_t *b = slurp("Europe/Berlin", &len);
	struct fl_err err = {0, ""};
	struct fl_tz *z = NULL;

	b[4] = 0;
	cr_assert_eq(fl_tz_parse(&z, b, len, &err), 0, "%s", err.msg);
	at(z, 1774745999, 3600, 0);
	at(z, 1774746000, 7200, 1);
	fl_tz_free(z);
	free(b);
}

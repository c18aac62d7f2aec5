#include "fairlead/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t time_offset(void)
{
	static int loaded;
	static int64_t off;

	/* Read once: tests set it before start; racing first calls compute the same value. */
	if (!loaded) {
		const char *s = getenv("FAIRLEAD_TIME_OFFSET");

		off = s ? strtoll(s, NULL, 10) : 0;
		loaded = 1;
	}
	return off;
}

int64_t fl_now(void)
{
	return (int64_t)time(NULL) + time_offset();
}

int64_t fl_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fl_timespec_after(struct timespec *ts, clockid_t clock, int64_t ms)
{
	clock_gettime(clock, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

void fl_time_fmt(char out[32], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int fl_duration_parse(int64_t *out, const char *s, struct fl_err *err)
{
	int64_t total = 0;
	const char *p = s;

	if (!s || !*s)
		return fl_err_set(err, FL_EINVAL, "empty duration");
	while (*p) {
		int64_t n = 0, mul;

		if (!isdigit((unsigned char)*p))
			return fl_err_set(err, FL_EINVAL, "bad duration '%s'", s);
		while (isdigit((unsigned char)*p)) {
			n = n * 10 + (*p - '0');
			if (n > 100000000)
				return fl_err_set(err, FL_EINVAL, "duration '%s' too long", s);
			p++;
		}
		switch (*p) {
		case '\0': mul = 1; break;
		case 's':
			mul = 1;
			p++;
			break;
		case 'm':
			mul = 60;
			p++;
			break;
		case 'h':
			mul = 3600;
			p++;
			break;
		case 'd':
			mul = 86400;
			p++;
			break;
		case 'w':
			mul = 7 * 86400;
			p++;
			break;
		default: return fl_err_set(err, FL_EINVAL, "bad duration unit in '%s'", s);
		}
		total += n * mul;
		if (total > (int64_t)100 * 365 * 86400)
			return fl_err_set(err, FL_EINVAL, "duration '%s' too long", s);
	}
	if (total <= 0)
		return fl_err_set(err, FL_EINVAL, "duration '%s' must be positive", s);
	*out = total;
	return 0;
}

static int id_char(int c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '-';
}

int fl_id_valid(const char *id)
{
	size_t n = 0;

	if (!id || !*id || id[0] == '.' || id[0] == '-')
		return 0;
	for (const char *p = id; *p; p++, n++)
		if (!id_char((unsigned char)*p) || n >= 64)
			return 0;
	return strstr(id, "..") == NULL;
}

int fl_label_key_valid(const char *k)
{
	size_t n = 0;

	if (!k || !isalnum((unsigned char)k[0]))
		return 0;
	for (const char *p = k; *p; p++, n++)
		if ((!id_char((unsigned char)*p) && *p != '/') || n >= 63)
			return 0;
	return 1;
}

int fl_label_value_valid(const char *v)
{
	size_t n = 0;

	if (!v)
		return 0;
	for (const char *p = v; *p; p++, n++)
		if (!id_char((unsigned char)*p) || n >= 63)
			return 0;
	return 1;
}

int fl_label_parse(char *key, size_t kcap, char *val, size_t vcap, const char *kv,
		   struct fl_err *err)
{
	const char *eq = strchr(kv, '=');
	size_t klen;

	if (!eq)
		return fl_err_set(err, FL_EINVAL, "label '%s' is not KEY=VALUE", kv);
	klen = (size_t)(eq - kv);
	if (klen == 0 || klen >= kcap || strlen(eq + 1) >= vcap)
		return fl_err_set(err, FL_EINVAL, "label '%s' is too long or empty", kv);
	memcpy(key, kv, klen);
	key[klen] = '\0';
	strcpy(val, eq + 1);
	if (!fl_label_key_valid(key))
		return fl_err_set(err, FL_EINVAL, "bad label key '%s'", key);
	if (!fl_label_value_valid(val))
		return fl_err_set(err, FL_EINVAL, "bad label value '%s'", val);
	return 0;
}

int64_t fl_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

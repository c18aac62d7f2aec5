/* test_util.c - durations, ids, label keys and values. */
#include <string.h>

#include "fairlead/util.h"
#include "fl_test.h"

static const struct {
	const char *in;
	int rc;
	int64_t secs;
} durations[] = {
    {"90", 0, 90},
    {"90s", 0, 90},
    {"15m", 0, 900},
    {"24h", 0, 86400},
    {"7d", 0, 604800},
    {"2w", 0, 1209600},
    {"1h30m", 0, 5400},
    {"1d2h3m4s", 0, 93784},
    {"1", 0, 1},
    {"0100s", 0, 100},
    {"36500d", 0, 36500LL * 86400},
    {"", FL_EINVAL, 0},
    {"0", FL_EINVAL, 0},
    {"0s", FL_EINVAL, 0},
    {"0h0m", FL_EINVAL, 0},
    {"h", FL_EINVAL, 0},
    {"-5m", FL_EINVAL, 0},
    {"+5m", FL_EINVAL, 0},
    {"5x", FL_EINVAL, 0},
    {"5 m", FL_EINVAL, 0},
    {" 5m", FL_EINVAL, 0},
    {"5m ", FL_EINVAL, 0},
    {"5M", FL_EINVAL, 0},
    {"1.5h", FL_EINVAL, 0},
    {"5mm", FL_EINVAL, 0},
    {"36501d", FL_EINVAL, 0},
    {"999999999999999999999", FL_EINVAL, 0},
    {"100000001", FL_EINVAL, 0},
};

Test(util, duration_table)
{
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		struct fl_err err = {0, ""};
		int64_t v = -1;
		int rc = fl_duration_parse(&v, durations[i].in, &err);

		cr_assert_eq(rc, durations[i].rc, "'%s': rc %d (%s)", durations[i].in, rc, err.msg);
		if (rc == 0)
			cr_assert_eq(v, durations[i].secs, "'%s': %lld", durations[i].in,
				     (long long)v);
		else
			cr_assert_eq(v, -1, "'%s' wrote the output on error", durations[i].in);
	}
	{
		int64_t v = -1;

		cr_assert_eq(fl_duration_parse(&v, NULL, NULL), FL_EINVAL);
	}
}

#define S64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct {
	const char *id;
	int valid;
} ids[] = {
    {"dev-1", 1}, {"a", 1},	  {"A.b_c-9", 1}, {"tok_AbC-xyz", 1}, {"1", 1},
    {"_x", 1},	  {"a.b", 1},	  {S64, 1},	  {S64 "a", 0},	      {"", 0},
    {"/", 0},	  {"a/b", 0},	  {"..", 0},	  {".", 0},	      {"a..b", 0},
    {"a..", 0},	  {".hidden", 0}, {"-rf", 0},	  {"-", 0},	      {"a b", 0},
    {"a\\b", 0},  {"a%2f", 0},	  {"a:b", 0},	  {"dev\n", 0},	      {"caf\xc3\xa9", 0},
};

Test(util, id_valid_table)
{
	cr_assert_eq(strlen(S64), 64);
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		cr_assert_eq(fl_id_valid(ids[i].id), ids[i].valid, "'%s' (len %zu)", ids[i].id,
			     strlen(ids[i].id));
	cr_assert_eq(fl_id_valid(NULL), 0);
}

#define S63 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

Test(util, label_key_and_value_validity)
{
	static const struct {
		const char *s;
		int key, value;
	} cases[] = {
	    {"site", 1, 1},  {"k8s.io/zone", 1, 0}, {"", 0, 1},	      {"-a", 0, 1},
	    {".a", 0, 1},    {"/a", 0, 0},	    {"a b", 0, 0},    {S63, 1, 1},
	    {S63 "b", 0, 0}, {"a=b", 0, 0},	    {"9lives", 1, 1}, {"_a", 0, 1},
	};

	cr_assert_eq(strlen(S63), 63);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(fl_label_key_valid(cases[i].s), cases[i].key, "key '%s'", cases[i].s);
		cr_assert_eq(fl_label_value_valid(cases[i].s), cases[i].value, "value '%s'",
			     cases[i].s);
	}
	cr_assert_eq(fl_label_key_valid(NULL), 0);
	cr_assert_eq(fl_label_value_valid(NULL), 0);
}

static const struct {
	const char *kv;
	int rc;
	const char *key, *val;
} labels[] = {
    {"site=berlin", 0, "site", "berlin"},
    {"k8s.io/zone=eu-1", 0, "k8s.io/zone", "eu-1"},
    {"empty=", 0, "empty", ""},
    {"a=b=c", FL_EINVAL, NULL, NULL},
    {"=v", FL_EINVAL, NULL, NULL},
    {"novalue", FL_EINVAL, NULL, NULL},
    {"", FL_EINVAL, NULL, NULL},
    {"-k=v", FL_EINVAL, NULL, NULL},
    {"k=v v", FL_EINVAL, NULL, NULL},
    {"k=a/b", FL_EINVAL, NULL, NULL},
    {S63 "=v", 0, S63, "v"},
    {S63 "b=v", FL_EINVAL, NULL, NULL},
    {"k=" S63, 0, "k", S63},
    {"k=" S63 "b", FL_EINVAL, NULL, NULL},
};

Test(util, label_parse_table)
{
	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		char k[64], v[64];
		struct fl_err err = {0, ""};
		int rc = fl_label_parse(k, sizeof(k), v, sizeof(v), labels[i].kv, &err);

		cr_assert_eq(rc, labels[i].rc, "'%s': rc %d (%s)", labels[i].kv, rc, err.msg);
		if (rc == 0) {
			cr_assert_str_eq(k, labels[i].key);
			cr_assert_str_eq(v, labels[i].val);
		} else {
			cr_assert_neq(err.msg[0], '\0');
		}
	}
}

Test(util, label_parse_respects_small_capacities)
{
	char k[4], v[4];

	cr_assert_eq(fl_label_parse(k, sizeof(k), v, sizeof(v), "abc=xyz", NULL), 0);
	cr_assert_str_eq(k, "abc");
	cr_assert_str_eq(v, "xyz");
	cr_assert_eq(fl_label_parse(k, sizeof(k), v, sizeof(v), "abcd=x", NULL), FL_EINVAL);
	cr_assert_eq(fl_label_parse(k, sizeof(k), v, sizeof(v), "a=wxyz", NULL), FL_EINVAL);
}

Test(util, time_format)
{
	char out[32];

	fl_time_fmt(out, 0);
	cr_assert_str_eq(out, "1970-01-01T00:00:00Z");
	fl_time_fmt(out, 1795553716);
	cr_assert_str_eq(out, "2026-11-24T20:55:16Z");
}

Test(util, clocks_move_forward)
{
	int64_t a = fl_mono_ms(), now = fl_now();

	cr_assert_gt(now, 1600000000);
	cr_assert_geq(fl_mono_ms(), a);
}

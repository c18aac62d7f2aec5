/* test_expr.c - playbook expressions: what they evaluate to, and what does not compile. */
#include <pthread.h>
#include <string.h>

#include "fl_test.h"
#include "playbook/expr.h"

/* big is 2^53 + 1: a double cannot hold it, comparisons must not round it. */
#define CTX                                                                                        \
	"{\"event\": {\"slo\": \"latency-api\", \"severity\": \"page\","                           \
	" \"alert\": {\"severity\": \"page\"},"                                                    \
	" \"device\": {\"id\": \"dev-1\", \"labels\": {\"site\": \"berlin\", \"hw-rev\": \"2\"}}," \
	" \"alerts\": [{\"labels\": {\"x\": \"y\"}}, {\"labels\": {}}],"                           \
	" \"n\": 3, \"r\": 0.5, \"one\": 1, \"onef\": 1.0, \"big\": 9007199254740993,"             \
	" \"zero\": 0, \"zerof\": 0.0, \"empty\": \"\", \"list\": [], \"obj\": {}, \"nul\": null," \
	" \"tags\": [\"a\", \"b\", 1], \"t\": true, \"f\": false,"                                 \
	" \"m\": {\"0\": \"z\", \"in\": \"kw\"},"                                                  \
	" \"o1\": {\"x\": 1, \"y\": [1, {\"z\": 2}]}, \"o2\": {\"y\": [1.0, {\"z\": 2.0}], "       \
	"\"x\": 1.0},"                                                                             \
	" \"o3\": {\"x\": 1, \"y\": [1, {\"z\": 3}]}},"                                            \
	" \"device\": {\"labels\": {\"hw\": \"v2\"}, \"inventory\": {\"sensors\": 2}},"            \
	" \"results\": {\"ok_ratio\": 0.95}, \"now\": 1767225600}"

static json_t *ctx(void)
{
	json_error_t je;
	json_t *c = json_loads(CTX, 0, &je);

	cr_assert_not_null(c, "context: %s at %d", je.text, je.position);
	return c;
}

/* The truth of src in CTX; a compile error fails the test. */
static int truth_of(const char *src, const json_t *c)
{
	struct cp_pb_expr *e = NULL;
	struct fl_err err = {0, ""};
	int truth = -1;

	cr_assert_eq(cp_pb_expr_compile(&e, src, &err), 0, "'%s': %s", src, err.msg);
	cr_assert_not_null(e);
	cr_assert_eq(cp_pb_expr_eval(&truth, e, c, &err), 0, "'%s': %s", src, err.msg);
	cp_pb_expr_free(e);
	return truth;
}

static const struct {
	const char *src;
	int truth;
} truth_cases[] = {
    /* The spec's examples. */
    {"event.alert.severity == \"page\" and not (event.slo in [\"a\", \"b\"])", 1},
    {"device.labels.hw == \"v2\" and device.inventory.sensors > 0", 1},
    {"results.ok_ratio >= 0.9", 1},
    /* Precedence: or < and < not < comparisons < unary minus. */
    {"true or true and false", 1},
    {"false and true or true", 1},
    {"true or false and false", 1},
    {"(true or true) and false", 0},
    {"not false and false", 0},
    {"not (false and false)", 1},
    {"not 1 == 2", 1},
    {"not event.n > 2 or true", 1},
    {"not event.n > 2 or false", 0},
    {"not not true", 1},
    {"false or false or false or true", 1},
    {"true and true and true and false", 0},
    {"-event.n == -3", 1},
    {"- -3 == 3", 1},
    {"-event.r < 0", 1},
    {"-\"a\" == null", 1},
    {"-event.nope is defined", 0},
    /* Truthiness: false, null, 0, "", [] and {} are false. */
    {"false", 0},
    {"null", 0},
    {"0", 0},
    {"0.0", 0},
    {"\"\"", 0},
    {"[]", 0},
    {"event.list", 0},
    {"event.obj", 0},
    {"event.zero", 0},
    {"event.zerof", 0},
    {"event.empty", 0},
    {"event.nul", 0},
    {"event.nope", 0},
    {"true", 1},
    {"1", 1},
    {"-0.25", 1},
    {"\"0\"", 1},
    {"[0]", 1},
    {"[null]", 1},
    {"event.alert", 1},
    {"event.tags", 1},
    {"event.slo", 1},
    /* Order: numbers with numbers, strings with strings (bytewise). */
    {"1 < 2", 1},
    {"2 < 1", 0},
    {"2 <= 2", 1},
    {"3 <= 2", 0},
    {"3 > 2", 1},
    {"2 > 2", 0},
    {"2 >= 2", 1},
    {"2 >= 3", 0},
    {"1 < 1.5", 1},
    {"1.5 > 1", 1},
    {"-1 < -0.5", 1},
    {"\"a\" < \"b\"", 1},
    {"\"a\" < \"ab\"", 1},
    {"\"ab\" > \"a\"", 1},
    {"\"B\" < \"a\"", 1},
    {"\"\xc3\xa9\" > \"z\"", 1},
    {"\"a\" <= \"a\"", 1},
    {"\"b\" >= \"c\"", 0},
    /* Mixed pairs are false, whichever way round. */
    {"1 < \"2\"", 0},
    {"1 > \"0\"", 0},
    {"\"2\" > 1", 0},
    {"1 >= \"1\"", 0},
    {"1 <= \"1\"", 0},
    {"null < 1", 0},
    {"null >= null", 0},
    {"true > false", 0},
    {"[1] < [2]", 0},
    {"event.nope < 1", 0},
    {"event.nope > 1", 0},
    /* Integers and reals compare exactly. */
    {"event.big > 9007199254740992.0", 1},
    {"event.big == 9007199254740992.0", 0},
    {"9007199254740992.0 < event.big", 1},
    {"event.n < 3.5", 1},
    {"event.n > 2.999", 1},
    {"event.n >= 3.0", 1},
    {"event.n < 1000000000000000000000.0", 1},
    {"event.n > -1000000000000000000000.0", 1},
    /* Equality is JSON equality, 1 == 1.0. */
    {"1 == 1.0", 1},
    {"1.0 == 1", 1},
    {"event.one == event.onef", 1},
    {"event.one != event.onef", 0},
    {"1 == \"1\"", 0},
    {"1 != \"1\"", 1},
    {"true == 1", 0},
    {"false == 0", 0},
    {"false == null", 0},
    {"\"\" == null", 0},
    {"null == null", 1},
    {"\"page\" == event.severity", 1},
    {"event.severity == 'page'", 1},
    {"event.severity != \"ticket\"", 1},
    {"[1, \"a\"] == [1.0, \"a\"]", 1},
    {"[1] == [1, 2]", 0},
    {"[1, 2] == [2, 1]", 0},
    {"[] == []", 1},
    {"[] == null", 0},
    {"[[1, [2]], null] == [[1.0, [2.0]], null]", 1},
    {"event.tags == [\"a\", \"b\", 1]", 1},
    {"event.tags == [\"a\", \"b\"]", 0},
    {"event.device.labels == event.device.labels", 1},
    {"event.o1 == event.o2", 1},
    {"event.o1 == event.o3", 0},
    {"event.o1 == event.alert", 0},
    {"event.obj == event.obj", 1},
    {"event.obj == event.list", 0},
    /* Missing paths are null, never an error. */
    {"event.nope == null", 1},
    {"event.x.y.z == null", 1},
    {"event.nul == null", 1},
    {"nope.nope == null", 1},
    {"event.nope != null", 0},
    {"event.slo != null", 1},
    {"event.nope == event.nul", 1},
    {"event.slo.x == null", 1},
    {"event.tags.a == null", 1},
    /* Brackets: arrays only, out of range is null. */
    {"event.alerts[0].labels.x == \"y\"", 1},
    {"event.alerts[1].labels.x == null", 1},
    {"event.alerts[2] == null", 1},
    {"event.alerts[2].labels.x == null", 1},
    {"event.alerts[99999999999999999999999] == null", 1},
    {"event.tags[2] == 1", 1},
    {"event.tags[0] == \"a\"", 1},
    {"event.slo[0] == null", 1},
    {"event.m[0] == null", 1},
    {"event.m.0 == \"z\"", 1},
    {"event.m.in == \"kw\"", 1},
    {"event.device.labels.hw-rev == \"2\"", 1},
    {"event.alerts.0 == null", 1},
    /* in: list membership (by equality) or substring. */
    {"\"a\" in event.tags", 1},
    {"1.0 in event.tags", 1},
    {"\"c\" in event.tags", 0},
    {"2 in [1, 2, 3]", 1},
    {"4 in [1, 2, 3]", 0},
    {"[1] in [[1], 2]", 1},
    {"null in [null]", 1},
    {"event.nope in [1, null]", 1},
    {"\"lat\" in event.slo", 1},
    {"\"api\" in \"latency-api\"", 1},
    {"\"API\" in \"latency-api\"", 0},
    {"\"\" in \"abc\"", 1},
    {"\"abcd\" in \"abc\"", 0},
    {"1 in \"123\"", 0},
    {"\"a\" in event.obj", 0},
    {"\"a\" in event.m", 0},
    {"\"a\" in null", 0},
    {"\"a\" in 5", 0},
    {"\"a\" in [event.slo, \"a\"]", 1},
    {"event.slo in [event.slo]", 1},
    {"event.slo in [\"a\", \"b\"]", 0},
    {"1 in []", 0},
    /* not in: the negation of in. */
    {"\"c\" not in event.tags", 1},
    {"\"a\" not in event.tags", 0},
    {"\"x\" not in \"abc\"", 1},
    {"\"b\" not in \"abc\"", 0},
    {"\"a\" not in 5", 1},
    {"not \"a\" not in event.tags", 1},
    /* contains: in, the other way round. */
    {"event.tags contains \"b\"", 1},
    {"event.tags contains \"z\"", 0},
    {"event.slo contains \"api\"", 1},
    {"event.slo contains \"xyz\"", 0},
    {"[1, 2] contains 2.0", 1},
    {"\"abc\" contains 1", 0},
    {"event.nope contains \"a\"", 0},
    {"\"\\\\\" contains \"\\\\\"", 1},
    {"\"line\\nbreak\" contains \"\\n\"", 1},
    /* matches: fnmatch globs, no FNM_PATHNAME, no FNM_PERIOD. */
    {"event.slo matches \"latency-*\"", 1},
    {"event.slo matches \"errors-*\"", 0},
    {"event.slo matches \"lat?ncy-[a-z]*\"", 1},
    {"event.slo matches \"latency-[!a]*\"", 0},
    {"event.slo matches \"latency\"", 0},
    {"event.slo matches \"*\"", 1},
    {"\"a/b/c\" matches \"a*c\"", 1},
    {"\".hidden\" matches \"*\"", 1},
    {"\"a*\" matches \"a\\\\*\"", 1},
    {"\"ab\" matches \"a\\\\*\"", 0},
    {"\"\" matches \"*\"", 1},
    {"1 matches \"*\"", 0},
    {"\"x\" matches 1", 0},
    {"event.nope matches \"*\"", 0},
    {"[\"a\"] matches \"*\"", 0},
    /* is defined: not null. */
    {"event.slo is defined", 1},
    {"event.nope is defined", 0},
    {"event.nul is defined", 0},
    {"event.list is defined", 1},
    {"event.f is defined", 1},
    {"event.nope is not defined", 1},
    {"event.slo is not defined", 0},
    {"event.alerts[0] is defined", 1},
    {"event.alerts[2] is defined", 0},
    {"not event.nope is defined", 1},
    {"1 is defined", 1},
    {"null is defined", 0},
    /* String escapes, either quote. */
    {"\"a\\\"b\" == 'a\"b'", 1},
    {"'a\\\"b' == \"a\\\"b\"", 1},
    {"'back\\\\slash' == \"back\\\\slash\"", 1},
    /* Whitespace is free, also newlines (YAML block scalars). */
    {"  event.n\n==\t3\r\n ", 1},
    {"(event.n==3)and(event.r<1)", 1},
    {"[1,2]==[1 , 2]", 1},
};

Test(pb_expr, truth_table)
{
	json_t *c = ctx();

	for (size_t i = 0; i < sizeof(truth_cases) / sizeof(truth_cases[0]); i++)
		cr_assert_eq(truth_of(truth_cases[i].src, c), truth_cases[i].truth,
			     "case %zu: '%s'", i, truth_cases[i].src);
	json_decref(c);
}

Test(pb_expr, no_context_makes_every_path_null)
{
	json_t *arr = json_array();

	cr_assert_eq(truth_of("event.slo == null and not event.n", NULL), 1);
	cr_assert_eq(truth_of("event is not defined", NULL), 1);
	/* A context that is not an object has no roots. */
	cr_assert_eq(truth_of("event is defined", arr), 0);
	cr_assert_eq(truth_of("1 in [1]", arr), 1);
	json_decref(arr);
}

static const struct {
	const char *src, *value; /* the value as JSON: types count (1 is not 1.0) */
} value_cases[] = {
    {"-event.n", "-3"},
    {"-event.r", "-0.5"},
    {"- -event.n", "3"},
    {"-0.25", "-0.25"},
    {"0.25", "0.25"},
    {"42", "42"},
    {"1.0", "1.0"},
    {"-9223372036854775808", "-9223372036854775808"},
    /* Negating the smallest integer cannot stay an integer. */
    {"-(-9223372036854775808)", "9223372036854775808.0"},
    {"-\"a\"", "null"},
    {"event.nope", "null"},
    {"event.x.y", "null"},
    {"event.slo", "\"latency-api\""},
    {"event.alerts[0]", "{\"labels\": {\"x\": \"y\"}}"},
    {"event.alerts[0].labels", "{\"x\": \"y\"}"},
    {"[1, event.n, [true, null], \"s\"]", "[1, 3, [true, null], \"s\"]"},
    {"[]", "[]"},
    {"1 == 1", "true"},
    {"1 == 2", "false"},
    {"event.n or 0", "true"},
    {"event.n and 0", "false"},
    {"not event.n", "false"},
    {"event.slo is defined", "true"},
    {"\"a\\\"b\\\\c\\nd\"", "\"a\\\"b\\\\c\\nd\""},
    {"'say \"hi\"'", "\"say \\\"hi\\\"\""},
    {"'\\\"'", "\"\\\"\""},
    {"\"it's\"", "\"it's\""},
    {"\"\xc3\xa9t\xc3\xa9\"", "\"\\u00e9t\\u00e9\""},
    {"((((event.n))))", "3"},
};

Test(pb_expr, values_keep_their_json_type)
{
	json_t *c = ctx();

	for (size_t i = 0; i < sizeof(value_cases) / sizeof(value_cases[0]); i++) {
		struct cp_pb_expr *e = NULL;
		struct fl_err err = {0, ""};
		json_error_t je;
		json_t *want = json_loads(value_cases[i].value, JSON_DECODE_ANY, &je), *got = NULL;
		char *s;

		cr_assert_not_null(want, "case %zu: %s", i, je.text);
		cr_assert_eq(cp_pb_expr_compile(&e, value_cases[i].src, &err), 0, "'%s': %s",
			     value_cases[i].src, err.msg);
		cr_assert_eq(cp_pb_expr_value(&got, e, c, &err), 0, "%s", err.msg);
		s = json_dumps(got, JSON_ENCODE_ANY);
		cr_assert(json_equal(got, want), "'%s' gave %s, not %s", value_cases[i].src, s,
			  value_cases[i].value);
		free(s);
		json_decref(got);
		json_decref(want);
		cp_pb_expr_free(e);
	}
	json_decref(c);
}

Test(pb_expr, value_is_a_copy_of_the_context)
{
	struct cp_pb_expr *e = NULL;
	json_t *c = ctx(), *v = NULL;

	cr_assert_eq(cp_pb_expr_compile(&e, "event.device.labels", NULL), 0);
	cr_assert_eq(cp_pb_expr_value(&v, e, c, NULL), 0);
	cr_assert_eq(json_object_set_new(v, "site", json_string("paris")), 0);
	cr_assert_str_eq(json_string_value(cp_pb_path_get(c, "event.device.labels.site")),
			 "berlin");
	json_decref(v);
	/* Values of literals are copies too: changing one leaves e alone. */
	cp_pb_expr_free(e);
	cr_assert_eq(cp_pb_expr_compile(&e, "42", NULL), 0);
	cr_assert_eq(cp_pb_expr_value(&v, e, c, NULL), 0);
	cr_assert_eq(json_integer_set(v, 7), 0);
	json_decref(v);
	cr_assert_eq(cp_pb_expr_value(&v, e, c, NULL), 0);
	cr_assert_eq(json_integer_value(v), 42);
	json_decref(v);
	cp_pb_expr_free(e);
	json_decref(c);
}

static const struct {
	const char *src;
	int column;
	const char *what;
} syntax_errors[] = {
    {"", 1, "expected an operand"},
    {"   ", 4, "expected an operand"},
    /* The spec's example: the column after the last byte. */
    {"event.x == 1 and", 17, "expected an operand"},
    {"a ==", 5, "expected an operand"},
    {"a == == b", 6, "expected an operand"},
    {"not", 4, "expected an operand"},
    {"or a", 1, "expected an operand"},
    {"in", 1, "expected an operand"},
    {"a and or b", 7, "expected an operand"},
    {"-", 2, "expected an operand"},
    {"()", 2, "expected an operand"},
    {"(a", 3, "expected ')'"},
    {"((a)", 5, "expected ')'"},
    {"(a]", 3, "expected ')'"},
    {"a)", 2, "unexpected ')'"},
    {"a b", 3, "unexpected 'b'"},
    {"a == 1 2", 8, "unexpected '2'"},
    {"a == 1 \"x\"", 8, "unexpected '\"x\"'"},
    {"true.x", 5, "unexpected character '.'"},
    {"[1, 2", 6, "expected ',' or ']'"},
    {"[1 2]", 4, "expected ',' or ']'"},
    {"[1,]", 4, "expected an operand"},
    {"[,]", 2, "expected an operand"},
    {"\"abc", 1, "unterminated string"},
    {"a == 'abc", 6, "unterminated string"},
    {"'abc\\", 1, "unterminated string"},
    {"'abc\"", 1, "unterminated string"},
    {"\"a\\qb\"", 3, "unknown escape '\\q'"},
    {"\"a\\'b\"", 3, "unknown escape '\\''"},
    {"\"a\\tb\"", 3, "unknown escape '\\t'"},
    {"\"a\\\x01\"", 3, "unknown escape"},
    {"\"\xff\"", 1, "string is not valid UTF-8"},
    {"a = 1", 3, "'=' is not an operator"},
    {"!a", 1, "'!' is not an operator"},
    {"a & b", 3, "unexpected character '&'"},
    {"a || b", 3, "unexpected character '|'"},
    {"a == 1 @", 8, "unexpected character '@'"},
    {"a + 1", 3, "unexpected character '+'"},
    {"a\x01", 2, "unexpected byte 0x01"},
    {"\xc3\xa9 == 1", 1, "unexpected byte 0xc3"},
    {"a.b. == 1", 4, "expected a name after '.'"},
    {"a..b", 2, "expected a name after '.'"},
    {"a[x]", 2, "expected an index"},
    {"a[1", 2, "expected an index"},
    {"a[-1]", 2, "expected an index"},
    {"1.2.3", 1, "bad number"},
    {"1.", 1, "bad number"},
    {"1.x", 1, "bad number"},
    {"1x", 1, "bad number"},
    {"1e5", 1, "bad number"},
    {"a == 01", 6, "bad number (leading zero)"},
    {"99999999999999999999", 1, "number out of range"},
    {"a == -9223372036854775809", 6, "number out of range"},
    {"a is b", 6, "expected 'defined'"},
    {"a is not", 9, "expected 'defined'"},
    {"a is", 5, "expected 'defined'"},
    {"a not b", 7, "expected 'in' after 'not'"},
    {"a not", 6, "expected 'in' after 'not'"},
    {"a == b == c", 8, "comparisons do not chain"},
    {"a < b < c", 7, "comparisons do not chain"},
    {"a in b is defined", 8, "comparisons do not chain"},
    {"a is defined == true", 14, "comparisons do not chain"},
    {"a == b not in c", 8, "comparisons do not chain"},
};

Test(pb_expr, syntax_errors_name_their_column)
{
	for (size_t i = 0; i < sizeof(syntax_errors) / sizeof(syntax_errors[0]); i++) {
		struct cp_pb_expr *e = (struct cp_pb_expr *)1;
		struct fl_err err = {0, ""};
		char want[256];

		snprintf(want, sizeof(want), "column %d: %s", syntax_errors[i].column,
			 syntax_errors[i].what);
		cr_assert_eq(cp_pb_expr_compile(&e, syntax_errors[i].src, &err), FL_EINVAL,
			     "case %zu: '%s' compiled", i, syntax_errors[i].src);
		cr_assert_null(e);
		cr_assert_eq(err.code, FL_EINVAL);
		cr_assert_eq(strncmp(err.msg, want, strlen(want)), 0, "case %zu: '%s': got '%s'", i,
			     syntax_errors[i].src, err.msg);
	}
}

Test(pb_expr, null_source_and_null_err)
{
	struct cp_pb_expr *e = NULL;

	cr_assert_eq(cp_pb_expr_compile(&e, NULL, NULL), FL_EINVAL);
	cr_assert_null(e);
	cr_assert_eq(cp_pb_expr_compile(&e, "a ==", NULL), FL_EINVAL);
	cp_pb_expr_free(NULL);
}

/* The source bound: 4096 bytes compile, 4097 do not. */
Test(pb_expr, source_bound)
{
	char src[CP_PB_EXPR_MAX_SRC + 2];
	struct cp_pb_expr *e = NULL;
	struct fl_err err = {0, ""};
	size_t n = CP_PB_EXPR_MAX_SRC;

	memset(src, 'x', n);
	memcpy(src, "a == '", 6);
	src[n - 1] = '\'';
	src[n] = '\0';
	cr_assert_eq(cp_pb_expr_compile(&e, src, &err), 0, "%s", err.msg);
	cp_pb_expr_free(e);
	src[n - 1] = 'x';
	src[n] = '\'';
	src[n + 1] = '\0';
	cr_assert_eq(cp_pb_expr_compile(&e, src, &err), FL_EINVAL);
	cr_assert_null(e);
	cr_assert_str_eq(err.msg, "expression longer than 4096 bytes");
}

/* A list of n literals is n + 1 nodes. */
static char *list_of(int n)
{
	char *s = malloc((size_t)n * 2 + 3);
	size_t k = 0;

	cr_assert_not_null(s);
	s[k++] = '[';
	for (int i = 0; i < n; i++) {
		if (i)
			s[k++] = ',';
		s[k++] = '1';
	}
	s[k++] = ']';
	s[k] = '\0';
	return s;
}

Test(pb_expr, node_bound)
{
	struct cp_pb_expr *e = NULL;
	struct fl_err err = {0, ""};
	char *src = list_of(CP_PB_EXPR_MAX_NODES - 1), or [2048] = "a";
	int truth = 0;

	cr_assert_eq(cp_pb_expr_compile(&e, src, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_pb_expr_eval(&truth, e, NULL, NULL), 0);
	cr_assert_eq(truth, 1);
	cp_pb_expr_free(e);
	free(src);
	src = list_of(CP_PB_EXPR_MAX_NODES);
	cr_assert_eq(cp_pb_expr_compile(&e, src, &err), FL_EINVAL);
	cr_assert_null(e);
	/* 256 literals fit; the list node, made last, is the 257th. */
	cr_assert_str_eq(err.msg, "column 1: more than 256 nodes");
	free(src);

	/* 255 paths in one or are 256 nodes, 256 paths 257. */
	for (int i = 1; i < CP_PB_EXPR_MAX_NODES - 1; i++)
		strcat(or, " or a");
	cr_assert_eq(cp_pb_expr_compile(&e, or, &err), 0, "%s", err.msg);
	cp_pb_expr_free(e);
	strcat(or, " or a");
	cr_assert_eq(cp_pb_expr_compile(&e, or, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "more than 256 nodes") != NULL, "%s", err.msg);
}

/* n times prefix, then middle, then n times suffix. */
static char *nest(int n, const char *prefix, const char *middle, const char *suffix)
{
	size_t len = (size_t)n * (strlen(prefix) + strlen(suffix)) + strlen(middle) + 1;
	char *s = malloc(len);

	cr_assert_not_null(s);
	s[0] = '\0';
	for (int i = 0; i < n; i++)
		strcat(s, prefix);
	strcat(s, middle);
	for (int i = 0; i < n; i++)
		strcat(s, suffix);
	return s;
}

static void depth_case(int n, const char *prefix, const char *middle, const char *suffix, int ok,
		       int truth)
{
	struct cp_pb_expr *e = NULL;
	struct fl_err err = {0, ""};
	char *src = nest(n, prefix, middle, suffix);
	int got = -1;

	if (ok) {
		cr_assert_eq(cp_pb_expr_compile(&e, src, &err), 0, "'%s': %s", src, err.msg);
		cr_assert_eq(cp_pb_expr_eval(&got, e, NULL, NULL), 0);
		cr_assert_eq(got, truth, "'%s'", src);
		cp_pb_expr_free(e);
	} else {
		cr_assert_eq(cp_pb_expr_compile(&e, src, &err), FL_EINVAL, "'%s' compiled", src);
		cr_assert_null(e);
		cr_assert(strstr(err.msg, "nested deeper than 32 levels") != NULL, "'%s': %s", src,
			  err.msg);
		cr_assert_eq(strncmp(err.msg, "column ", 7), 0, "%s", err.msg);
	}
	free(src);
}

Test(pb_expr, depth_bound)
{
	/* 31 operators over a leaf are 32 levels. */
	depth_case(31, "not ", "true", "", 1, 0);
	depth_case(32, "not ", "true", "", 0, 0);
	depth_case(31, "- ", "1", "", 1, 1);
	depth_case(32, "- ", "1", "", 0, 0);
	depth_case(31, "[", "1", "]", 1, 1);
	depth_case(32, "[", "1", "]", 0, 0);
	/* Parentheses make no node, but each is a level of the parser. */
	depth_case(32, "(", "true", ")", 1, 1);
	depth_case(33, "(", "true", ")", 0, 0);
	depth_case(4000 / 2, "(", "true", ")", 0, 0);
	depth_case(4000 / 4, "not ", "true", "", 0, 0);
	/* Few parentheses, yet each holds an and and an or: nodes 2 levels
	 * per parenthesis, past 32 at 16 of them. */
	depth_case(15, "true and (false or ", "true", ")", 1, 1);
	depth_case(16, "true and (false or ", "true", ")", 0, 0);
}

Test(pb_expr, deep_column_names_the_outer_operator)
{
	struct cp_pb_expr *e = NULL;
	struct fl_err err = {0, ""};
	char *src = nest(33, "(", "a", ")");

	cr_assert_eq(cp_pb_expr_compile(&e, src, &err), FL_EINVAL);
	cr_assert_str_eq(err.msg, "column 33: nested deeper than 32 levels");
	free(src);
}

/* Globs: pattern and subject at most 256 bytes each, else false. */
Test(pb_expr, glob_bounds)
{
	char subj[300], pat[300], src[700];
	json_t *c = json_object();

	memset(subj, 's', sizeof(subj));
	for (int len = CP_PB_GLOB_MAX; len <= CP_PB_GLOB_MAX + 1; len++) {
		json_object_set_new(c, "s", json_stringn(subj, (size_t)len));
		cr_assert_eq(truth_of("s matches \"*\"", c), len <= CP_PB_GLOB_MAX, "%d", len);
		cr_assert_eq(truth_of("s matches \"s*s\"", c), len <= CP_PB_GLOB_MAX, "%d", len);
		/* The pattern: 255 or 256 literal bytes and a star. */
		memset(pat, 's', (size_t)len - 1);
		pat[len - 1] = '*';
		pat[len] = '\0';
		snprintf(src, sizeof(src), "\"s\" matches \"%s\"", pat);
		cr_assert_eq(truth_of(src, c), 0, "%d", len);
		snprintf(src, sizeof(src), "s matches \"%s\"", pat);
		cr_assert_eq(truth_of(src, c), len <= CP_PB_GLOB_MAX, "%d", len);
	}
	/* 256 stars match anything, 257 nothing. */
	memset(pat, '*', sizeof(pat));
	for (int len = CP_PB_GLOB_MAX; len <= CP_PB_GLOB_MAX + 1; len++) {
		snprintf(src, sizeof(src), "\"s\" matches \"%.*s\"", len, pat);
		cr_assert_eq(truth_of(src, c), len <= CP_PB_GLOB_MAX, "%d", len);
	}
	/* A NUL inside a string is not matched (fnmatch would stop at it). */
	json_object_set_new(c, "s", json_stringn("a\0b", 3));
	cr_assert_eq(truth_of("s matches \"a*\"", c), 0);
	cr_assert_eq(truth_of("s == s and \"b\" in s", c), 1);
	json_decref(c);
}

/* Stars against a long subject that almost matches: fnmatch must not take
 * exponential time within the bounds (the test would time out). */
Test(pb_expr, glob_many_stars_is_quick, .timeout = 10)
{
	char subj[CP_PB_GLOB_MAX + 1], pat[CP_PB_GLOB_MAX + 1], src[700];
	json_t *c = json_object();
	size_t n = 0;

	memset(subj, 'a', CP_PB_GLOB_MAX);
	subj[CP_PB_GLOB_MAX] = '\0';
	json_object_set_new(c, "s", json_string(subj));
	while (n + 3 < 100) {
		pat[n++] = '*';
		pat[n++] = 'a';
	}
	pat[n++] = '*';
	pat[n++] = 'b';
	pat[n] = '\0';
	snprintf(src, sizeof(src), "s matches \"%s\"", pat);
	cr_assert_eq(truth_of(src, c), 0);
	json_decref(c);
}

Test(pb_expr, paths_read)
{
	struct cp_pb_expr *e = NULL;
	json_error_t je;
	json_t *got = NULL,
	       *want = json_loads("[\"event.a\", \"event.b[0].c\", \"device.x\", \"now\"]", 0, &je);

	cr_assert_eq(cp_pb_expr_compile(&e,
					"event.a == 1 and event.b[0].c in [event.a, device.x] or "
					"-now > 0 and event.a is defined",
					NULL),
		     0);
	cr_assert_eq(cp_pb_expr_paths(&got, e), 0);
	cr_assert(json_equal(got, want));
	json_decref(got);
	json_decref(want);
	cp_pb_expr_free(e);

	cr_assert_eq(cp_pb_expr_compile(&e, "1 == 1.0 and \"event.a\" == 'x'", NULL), 0);
	cr_assert_eq(cp_pb_expr_paths(&got, e), 0);
	cr_assert_eq(json_is_array(got) ? 1 : 0, 1);
	cr_assert_eq(json_array_size(got), 0);
	json_decref(got);
	cp_pb_expr_free(e);
}

Test(pb_expr, path_get)
{
	json_t *c = ctx();

	cr_assert_str_eq(json_string_value(cp_pb_path_get(c, "event.alerts[0].labels.x")), "y");
	cr_assert_str_eq(json_string_value(cp_pb_path_get(c, "event.device.labels.hw-rev")), "2");
	cr_assert_str_eq(json_string_value(cp_pb_path_get(c, "event.m.0")), "z");
	cr_assert_eq(json_integer_value(cp_pb_path_get(c, "event.tags[2]")), 1);
	cr_assert_eq(json_is_null(cp_pb_path_get(c, "event.nul")) ? 1 : 0, 1);
	cr_assert_eq(cp_pb_path_get(c, "event"), json_object_get(c, "event"));
	cr_assert_null(cp_pb_path_get(c, "event.alerts[2]"));
	cr_assert_null(cp_pb_path_get(c, "event.alerts.0"));
	cr_assert_null(cp_pb_path_get(c, "event.nope.x"));
	cr_assert_null(cp_pb_path_get(c, "event.slo[0]"));
	/* Not paths. */
	cr_assert_null(cp_pb_path_get(c, ""));
	cr_assert_null(cp_pb_path_get(c, NULL));
	cr_assert_null(cp_pb_path_get(c, "event."));
	cr_assert_null(cp_pb_path_get(c, "event..slo"));
	cr_assert_null(cp_pb_path_get(c, "event.alerts[0"));
	cr_assert_null(cp_pb_path_get(c, "event.alerts[x]"));
	cr_assert_null(cp_pb_path_get(c, " event"));
	cr_assert_null(cp_pb_path_get(c, "event "));
	cr_assert_null(cp_pb_path_get(c, "1event"));
	cr_assert_null(cp_pb_path_get(NULL, "event"));
	json_decref(c);

	cr_assert_eq(cp_pb_path_len("a.b[0]x"), 6);
	cr_assert_eq(cp_pb_path_len("a.b[0].c-d_e }}"), 12);
	cr_assert_eq(cp_pb_path_len("_x"), 2);
	cr_assert_eq(cp_pb_path_len("a."), 1);
	cr_assert_eq(cp_pb_path_len("a[]"), 1);
	cr_assert_eq(cp_pb_path_len("1a"), 0);
	cr_assert_eq(cp_pb_path_len("-a"), 0);
	cr_assert_eq(cp_pb_path_len(""), 0);
}

/* One compiled expression, evaluated from several threads at once. */
struct race {
	const struct cp_pb_expr *e;
	const json_t *ctx;
	int bad;
};

static void *race_main(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < 2000; i++) {
		json_t *v = NULL;
		int truth = -1;

		if (cp_pb_expr_eval(&truth, r->e, r->ctx, NULL) != 0 || truth != 1 ||
		    cp_pb_expr_value(&v, r->e, r->ctx, NULL) != 0 || !json_is_true(v))
			r->bad++;
		json_decref(v);
	}
	return NULL;
}

Test(pb_expr, evaluation_from_threads)
{
	struct cp_pb_expr *e = NULL;
	struct race r[4];
	pthread_t t[4];
	json_t *c = ctx();

	cr_assert_eq(
	    cp_pb_expr_compile(&e,
			       "event.slo matches 'latency-*' and [1, event.n] == [1.0, 3] "
			       "and \"b\" in event.tags and -event.n < 0",
			       NULL),
	    0);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct race){e, c, 0};
		cr_assert_eq(pthread_create(&t[i], NULL, race_main, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(pthread_join(t[i], NULL), 0);
		cr_assert_eq(r[i].bad, 0);
	}
	cp_pb_expr_free(e);
	json_decref(c);
}

/* test_json.c - strict JSON parsing and typed getters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"
#include "fairlead/util.h"
#include "fl_test.h"

static json_t *parse_ok(const char *s)
{
	struct fl_err err = {0, ""};
	json_t *v = NULL;

	cr_assert_eq(fl_json_parse(&v, s, strlen(s), &err), 0, "parse '%s': %s", s, err.msg);
	cr_assert_not_null(v);
	return v;
}

Test(json, duplicate_keys_rejected)
{
	static const char *const cases[] = {
	    "{\"a\":1,\"a\":2}",
	    "{\"state\":\"accepted\",\"state\":\"revoked\"}",
	    "{\"x\":{\"b\":1,\"b\":1}}",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fl_err err = {0, ""};
		json_t *v = (json_t *)1;

		cr_assert_eq(fl_json_parse(&v, cases[i], strlen(cases[i]), &err), FL_EINVAL, "%s",
			     cases[i]);
		cr_assert_null(v);
		cr_assert_eq(err.code, FL_EINVAL);
		cr_assert_neq(err.msg[0], '\0');
	}
}

Test(json, malformed_and_trailing_rejected)
{
	static const char *const cases[] = {"",	    "{",       "{\"a\":}",	    "{} x",
					    "[1,]", "{'a':1}", "{\"a\":1}{\"b\":2}"};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *v = NULL;

		cr_assert_eq(fl_json_parse(&v, cases[i], strlen(cases[i]), NULL), FL_EINVAL, "'%s'",
			     cases[i]);
		cr_assert_null(v);
	}
}

Test(json, parse_object_refuses_scalars_and_arrays)
{
	static const char *const cases[] = {"1", "\"s\"", "[]", "null", "true"};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fl_err err = {0, ""};
		json_t *v = NULL;

		cr_assert_eq(fl_json_parse_object(&v, cases[i], strlen(cases[i]), &err), FL_EINVAL,
			     "%s", cases[i]);
		cr_assert_null(v);
	}
	{
		json_t *v = NULL;

		cr_assert_eq(fl_json_parse_object(&v, "{}", 2, NULL), 0);
		cr_assert_eq(json_is_object(v), 1);
		json_decref(v);
	}
}

Test(json, only_names_unknown_field)
{
	static const char *const allowed[] = {"role", "name", NULL};
	struct fl_err err = {0, ""};
	json_t *ok = parse_ok("{\"role\":\"admin\",\"name\":\"x\"}");
	json_t *bad = parse_ok("{\"role\":\"admin\",\"nmae\":\"x\"}");
	json_t *empty = parse_ok("{}");

	cr_assert_eq(fl_json_only(ok, allowed, &err), 0);
	cr_assert_eq(fl_json_only(empty, allowed, &err), 0);
	cr_assert_eq(fl_json_only(bad, allowed, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "'nmae'") != NULL, "%s", err.msg);
	json_decref(ok);
	json_decref(bad);
	json_decref(empty);
}

/* key, getter kind (s i b o), required, expected rc */
static const struct {
	const char *key;
	char kind;
	int required;
	int rc;
} getter_cases[] = {
    {"s", 's', 1, 0},
    {"i", 'i', 1, 0},
    {"b", 'b', 1, 0},
    {"o", 'o', 1, 0},
    {"i", 's', 1, FL_EINVAL},
    {"s", 'i', 1, FL_EINVAL},
    {"f", 'i', 1, FL_EINVAL},
    {"s", 'b', 1, FL_EINVAL},
    {"i", 'b', 1, FL_EINVAL},
    {"a", 'o', 1, FL_EINVAL},
    {"s", 'o', 1, FL_EINVAL},
    {"o", 's', 1, FL_EINVAL},
    {"missing", 's', 1, FL_EINVAL},
    {"missing", 's', 0, 0},
    {"missing", 'i', 0, 0},
    {"missing", 'b', 0, 0},
    {"missing", 'o', 0, 0},
    {"n", 's', 1, FL_EINVAL},
    {"n", 's', 0, 0},
    {"i", 's', 0, FL_EINVAL},
};

Test(json, typed_getters_table)
{
	json_t *obj = parse_ok("{\"s\":\"str\",\"i\":7,\"b\":true,\"o\":{},\"f\":1.5,\"a\":[],"
			       "\"n\":null}");

	for (size_t i = 0; i < sizeof(getter_cases) / sizeof(getter_cases[0]); i++) {
		struct fl_err err = {0, ""};
		const char *s = "default";
		int64_t n = -99;
		int b = -99;
		json_t *o = NULL;
		int rc = 0;

		switch (getter_cases[i].kind) {
		case 's':
			rc = fl_json_str(&s, obj, getter_cases[i].key, getter_cases[i].required,
					 &err);
			break;
		case 'i':
			rc = fl_json_int(&n, obj, getter_cases[i].key, getter_cases[i].required,
					 &err);
			break;
		case 'b':
			rc = fl_json_bool(&b, obj, getter_cases[i].key, getter_cases[i].required,
					  &err);
			break;
		case 'o':
			rc = fl_json_obj(&o, obj, getter_cases[i].key, getter_cases[i].required,
					 &err);
			break;
		}
		cr_assert_eq(rc, getter_cases[i].rc, "case %zu: key %s kind %c: rc %d (%s)", i,
			     getter_cases[i].key, getter_cases[i].kind, rc, err.msg);
		if (rc < 0)
			cr_assert(strstr(err.msg, getter_cases[i].key) != NULL, "case %zu: %s", i,
				  err.msg);
		if (rc == 0 && strcmp(getter_cases[i].key, "missing") == 0) {
			/* Defaults untouched. */
			cr_assert_str_eq(s, "default");
			cr_assert_eq(n, -99);
			cr_assert_eq(b, -99);
			cr_assert_null(o);
		}
	}
	json_decref(obj);
}

Test(json, getter_values)
{
	json_t *obj =
	    parse_ok("{\"s\":\"str\",\"i\":-9007199254740993,\"b\":false,\"o\":{\"k\":1}}");
	const char *s = NULL;
	int64_t n = 0;
	int b = 1;
	json_t *o = NULL;

	cr_assert_eq(fl_json_str(&s, obj, "s", 1, NULL), 0);
	cr_assert_str_eq(s, "str");
	cr_assert_eq(fl_json_int(&n, obj, "i", 1, NULL), 0);
	cr_assert_eq(n, -9007199254740993LL);
	cr_assert_eq(fl_json_bool(&b, obj, "b", 1, NULL), 0);
	cr_assert_eq(b, 0);
	cr_assert_eq(fl_json_obj(&o, obj, "o", 1, NULL), 0);
	cr_assert_eq(json_integer_value(json_object_get(o, "k")), 1);
	json_decref(obj);
}

Test(json, nul_in_string_refused_by_str_getter)
{
	static const char doc[] = "{\"id\":\"dev\\u0000../etc\"}";
	struct fl_err err = {0, ""};
	const char *s = NULL;
	json_t *obj = parse_ok(doc);

	cr_assert_eq(fl_json_str(&s, obj, "id", 1, &err), FL_EINVAL);
	cr_assert_null(s);
	cr_assert(strstr(err.msg, "NUL") != NULL, "%s", err.msg);
	json_decref(obj);
}

Test(json, dump_is_compact_and_sorted)
{
	json_t *obj = parse_ok("{ \"b\" : 1 , \"a\" : [ true , null ] }");
	struct fl_buf b = FL_BUF_INIT;
	char *s;

	cr_assert_eq(fl_json_dump(&b, obj), 0);
	cr_assert_str_eq(fl_buf_cstr(&b), "{\"a\":[true,null],\"b\":1}");
	s = fl_json_dumps(obj);
	cr_assert_str_eq(s, "{\"a\":[true,null],\"b\":1}");
	free(s);
	fl_buf_release(&b);
	json_decref(obj);
}

Test(json, dump_into_capped_buffer_fails)
{
	json_t *obj = parse_ok("{\"key\":\"a long enough value\"}");
	struct fl_buf b;

	fl_buf_init(&b, 8);
	cr_assert_lt(fl_json_dump(&b, obj), 0);
	fl_buf_release(&b);
	json_decref(obj);
}

/* n opening brackets (alternating [ and {"k":), a 1, then the closers. */
static char *nested(int n)
{
	char *s = malloc((size_t)n * 6 + 2), *p = s;

	cr_assert_not_null(s);
	for (int i = 0; i < n; i++)
		p += i % 2 ? sprintf(p, "{\"k\":") : sprintf(p, "[");
	*p++ = '1';
	for (int i = n - 1; i >= 0; i--)
		*p++ = i % 2 ? '}' : ']';
	*p = '\0';
	return s;
}

Test(json, depth_limit)
{
	struct fl_err err = {0, ""};
	json_t *v = NULL;
	char *ok = nested(FL_JSON_MAX_DEPTH), *deep = nested(FL_JSON_MAX_DEPTH + 1);

	cr_assert_eq(FL_JSON_MAX_DEPTH, 64);
	cr_assert_eq(fl_json_parse(&v, ok, strlen(ok), &err), 0, "64 levels: %s", err.msg);
	json_decref(v);
	v = (json_t *)1;
	cr_assert_eq(fl_json_parse(&v, deep, strlen(deep), &err), FL_EINVAL);
	cr_assert_null(v);
	cr_assert_str_eq(err.msg, "JSON nested deeper than 64 levels");
	free(ok);
	free(deep);
}

Test(json, depth_refused_before_parsing)
{
	/* Far beyond what the parser would take on a small stack, and not even
	 * closed: refused by the count, not by the parser. */
	size_t n = 100000;
	char *s = malloc(n);
	struct fl_err err = {0, ""};
	json_t *v = NULL;

	cr_assert_not_null(s);
	memset(s, '[', n);
	cr_assert_eq(fl_json_parse_object(&v, s, n, &err), FL_EINVAL);
	cr_assert_str_eq(err.msg, "JSON nested deeper than 64 levels");
	free(s);
}

Test(json, brackets_in_strings_do_not_count)
{
	char buf[4096], *p = buf;
	json_t *v = NULL, *inner;
	struct fl_err err = {0, ""};

	/* 100 brackets inside a string, and escaped quotes and backslashes
	 * that must not end the string early. */
	p += sprintf(p, "{\"s\":\"");
	for (int i = 0; i < 50; i++)
		p += sprintf(p, "[{");
	p += sprintf(p, "\\\" [[[[ \\\\\",\"t\":\"\\\\\\\"{{{{\",\"u\":[[\"]]]]\"]]}");
	cr_assert_eq(fl_json_parse(&v, buf, strlen(buf), &err), 0, "%s: %s", buf, err.msg);
	inner = json_array_get(json_object_get(v, "u"), 0);
	cr_assert_str_eq(json_string_value(json_array_get(inner, 0)), "]]]]");
	json_decref(v);
}

Test(json, closers_in_strings_do_not_hide_depth)
{
	/* "]]]" inside strings must not pay for 65 real levels. */
	char buf[4096], *p = buf;
	struct fl_err err = {0, ""};
	json_t *v = NULL;

	for (int i = 0; i < FL_JSON_MAX_DEPTH + 1; i++)
		p += sprintf(p, "[\"]}\\\"]\",");
	p += sprintf(p, "1");
	for (int i = 0; i < FL_JSON_MAX_DEPTH + 1; i++)
		*p++ = ']';
	*p = '\0';
	cr_assert_eq(fl_json_parse(&v, buf, strlen(buf), &err), FL_EINVAL);
	cr_assert_str_eq(err.msg, "JSON nested deeper than 64 levels");
}

Test(json, doc_depth)
{
	struct fl_err err = {0, ""};
	char *ok = nested(FL_JSON_DOC_DEPTH), *deep = nested(FL_JSON_DOC_DEPTH + 1);
	json_t *a = NULL, *b = NULL, *s = json_string("x");

	cr_assert_eq(FL_JSON_DOC_DEPTH, 32);
	cr_assert_eq(fl_json_parse(&a, ok, strlen(ok), NULL), 0);
	cr_assert_eq(fl_json_parse(&b, deep, strlen(deep), NULL), 0);
	cr_assert_eq(fl_json_doc_check(a, "desired twin", &err), 0, "%s", err.msg);
	cr_assert_eq(fl_json_doc_check(s, "desired twin", &err), 0);
	cr_assert_eq(fl_json_doc_check(b, "desired twin", &err), FL_EINVAL);
	cr_assert_str_eq(err.msg, "desired twin nested deeper than 32 levels");
	json_decref(a);
	json_decref(b);
	json_decref(s);
	free(ok);
	free(deep);
}

static uint64_t hash_of(const char *text)
{
	json_t *v = NULL;
	uint64_t h;

	cr_assert_eq(fl_json_parse(&v, text, strlen(text), NULL), 0, "%s", text);
	h = fl_json_hash(v);
	json_decref(v);
	return h;
}

Test(json, hash_follows_content_not_key_order)
{
	/* The check-in writes an inventory only when this hash changes: equal
	 * documents must hash equal, and any change must show. */
	cr_assert_eq(hash_of("{\"a\":1,\"b\":[1,2],\"c\":{\"x\":\"y\",\"z\":null}}"),
		     hash_of("{\"c\":{\"z\":null,\"x\":\"y\"},\"b\":[1,2],\"a\":1}"));
	static const char *const differ[] = {"{\"a\":1,\"b\":[1,2]}",
					     "{\"a\":1,\"b\":[2,1]}",
					     "{\"a\":2,\"b\":[1,2]}",
					     "{\"b\":1,\"a\":[1,2]}",
					     "{\"a\":1.0,\"b\":[1,2]}",
					     "{\"a\":\"1\",\"b\":[1,2]}",
					     "{\"a\":1,\"b\":[1,2],\"c\":null}",
					     "{\"a\":1,\"b\":[1,[2]]}",
					     "{\"ab\":1,\"b\":[1,2]}",
					     "{\"a\":1,\"b\":[1,2,null]}",
					     "{\"a\":true,\"b\":[1,2]}",
					     "{\"a\":false,\"b\":[1,2]}",
					     "{}",
					     "[]",
					     "\"\"",
					     "null"};
	for (size_t i = 0; i < FL_ARRAY_SIZE(differ); i++)
		for (size_t j = i + 1; j < FL_ARRAY_SIZE(differ); j++)
			cr_assert_neq(hash_of(differ[i]), hash_of(differ[j]), "%s and %s",
				      differ[i], differ[j]);
	/* a key's bytes belong to its member: moving a character between a key
	 * and its value changes the hash */
	cr_assert_neq(hash_of("{\"ab\":\"c\"}"), hash_of("{\"a\":\"bc\"}"));
	/* two members swapping their values is a change */
	cr_assert_neq(hash_of("{\"a\":1,\"b\":2}"), hash_of("{\"a\":2,\"b\":1}"));
}

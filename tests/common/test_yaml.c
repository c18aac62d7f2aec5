/* test_yaml.c - the YAML subset: structure, typing, and refusals. */
#include <string.h>

#include "fairlead/json.h"
#include "fairlead/yaml.h"
#include "fl_test.h"

static json_t *parse(const char *y)
{
	json_t *out = NULL;
	struct fl_err err = {0, ""};

	cr_assert_eq(fl_yaml_parse(&out, y, strlen(y), &err), 0, "%s\n---\n%s", err.msg, y);
	return out;
}

/* The documents of y must equal the JSON text want (an array). */
static void same(const char *y, const char *want)
{
	json_t *got = parse(y), *w = NULL;
	char *g;

	cr_assert_eq(fl_json_parse(&w, want, strlen(want), NULL), 0, "%s", want);
	g = fl_json_dumps(got);
	cr_assert(json_equal(got, w), "got %s want %s", g, want);
	free(g);
	json_decref(got);
	json_decref(w);
}

static void refused(const char *y, const char *needle)
{
	json_t *out = NULL;
	struct fl_err err = {0, ""};

	cr_assert_eq(fl_yaml_parse(&out, y, strlen(y), &err), FL_EINVAL, "accepted: %s", y);
	cr_assert_null(out);
	cr_assert_not_null(strstr(err.msg, needle), "'%s' lacks '%s'", err.msg, needle);
}

Test(yaml, block_mappings_and_sequences)
{
	same("a: 1\nb:\n  c: x\n  d: [1, 2]\n", "[{\"a\":1,\"b\":{\"c\":\"x\",\"d\":[1,2]}}]");
	same("list:\n- a\n- b\nnext: 1\n", "[{\"list\":[\"a\",\"b\"],\"next\":1}]");
	same("list:\n  - name: x\n    v: 1\n  - name: y\n", "[{\"list\":[{\"name\":\"x\",\"v\":1},"
							    "{\"name\":\"y\"}]}]");
	same("- - a\n  - b\n- c\n", "[[[\"a\",\"b\"],\"c\"]]");
	same("a:\nb: ~\n", "[{\"a\":null,\"b\":null}]");
	same("-\n- 1\n", "[[null,1]]");
	same("# only\n\n  # comments\n", "[]");
}

Test(yaml, scalars_follow_the_core_schema)
{
	same(
	    "[1, -2, 0x1f, 0o17, 1.5, -1e3, .5, true, False, NULL, ~, yes, '1', \"true\", 1.2.3]",
	    "[[1,-2,31,15,1.5,-1000.0,0.5,true,false,null,null,\"yes\",\"1\",\"true\",\"1.2.3\"]]");
	same("s: it's plain # comment\nq: 'it''s' # c\nd: \"a\\tb\\u00e9\\\"\"\n",
	     "[{\"s\":\"it's plain\",\"q\":\"it's\",\"d\":\"a\\tb\\u00e9\\\"\"}]");
	same("url: http://x:80/a#frag\n", "[{\"url\":\"http://x:80/a#frag\"}]");
	same("\"quoted key\": 1\n", "[{\"quoted key\":1}]");
	same("big: 99999999999999999999\n", "[{\"big\":1e20}]");
	same("{a: {b: [x, 'y, z']}, c: }\n", "[{\"a\":{\"b\":[\"x\",\"y, z\"]},\"c\":null}]");
}

Test(yaml, documents)
{
	same("a: 1\n---\nb: 2\n...\n---\n# empty\n---\n- 3\n", "[{\"a\":1},{\"b\":2},[3]]");
	same("---\nx: 1\n", "[{\"x\":1}]");
	same("\r\na: 1\r\n", "[{\"a\":1}]");
}

Test(yaml, refusals_name_the_line)
{
	refused("a: 1\nb: &x 2\n", "line 2: anchors");
	refused("a: *x\n", "aliases");
	refused("a: !!str 1\n", "tags");
	refused("a: |\n  text\n", "block scalars");
	refused("a: >\n  text\n", "block scalars");
	refused("%YAML 1.2\n---\na: 1\n", "directives");
	refused("a: 1\na: 2\n", "line 2: duplicate key 'a'");
	refused("a: \"open\n", "unterminated");
	refused("a: plain\n  continued\n", "multi-line");
	refused("a:\n\tb: 1\n", "tab");
	refused("a: [1, 2\n", "flow collection");
	refused("a: b: c\n", "mapping cannot start");
	refused("a: - b\n", "sequence cannot start");
	refused("a: .inf\n", "infinite");
	refused("a: \"\\u0000\"\n", "NUL");
	refused("a: \"\\q\"\n", "unknown escape");
	refused("- a\nb: 1\n", "line 2");
	refused("a: 1\n- b\n", "sequence item");
	refused("? a\n", "complex keys");
	refused("a: 1\n   b: 2\n", "unexpected indentation");
	refused("a: \"\xff\"\n", "UTF-8");
}

Test(yaml, bounds)
{
	char deep[2 * FL_YAML_MAX_DEPTH + 16];
	json_t *out = NULL;
	struct fl_err err = {0, ""};
	size_t n = 0;

	for (int i = 0; i < FL_YAML_MAX_DEPTH + 2; i++)
		deep[n++] = '[';
	deep[n] = '\0';
	refused(deep, "too deep");
	{
		/* block nesting too */
		static char buf[8192];
		size_t m = 0;

		for (int i = 0; i < FL_YAML_MAX_DEPTH + 2; i++)
			m += (size_t)snprintf(buf + m, sizeof(buf) - m, "%*sk:\n", i * 2, "");
		refused(buf, "too deep");
	}
	{
		static char docs[FL_YAML_MAX_DOCS * 16 + 64];
		size_t m = 0;

		for (int i = 0; i <= FL_YAML_MAX_DOCS; i++)
			m += (size_t)snprintf(docs + m, sizeof(docs) - m, "---\na: 1\n");
		refused(docs, "documents");
	}
	cr_assert_eq(fl_yaml_parse(&out, "a", FL_YAML_MAX_BYTES + 1, &err), FL_ETOOBIG);
	cr_assert_eq(fl_yaml_parse(&out, "a: 1\0b: 2", 9, &err), FL_EINVAL);
}

/* ---- lines ---- */

static json_t *parse_lines(struct fl_yaml_lines **lines, const char *y)
{
	json_t *out = NULL;
	struct fl_err err = {0, ""};

	cr_assert_eq(fl_yaml_parse_lines(&out, lines, y, strlen(y), &err), 0, "%s\n---\n%s",
		     err.msg, y);
	cr_assert_not_null(*lines);
	return out;
}

Test(yaml_lines, block_values_and_nested_maps)
{
	const char *y = "# a comment\n"	 /* 1 */
			"name: x\n"	 /* 2 */
			"trigger:\n"	 /* 3 */
			"  type: t\n"	 /* 4 */
			"\n"		 /* 5 */
			"  labels:\n"	 /* 6 */
			"    stage: c\n" /* 7 */
			"  on: true\n"	 /* 8 */
			"  off:\n"	 /* 9 */
			"n: 3\n";	 /* 10 */
	struct fl_yaml_lines *l = NULL;
	json_t *docs = parse_lines(&l, y), *d = json_array_get(docs, 0);
	json_t *t = json_object_get(d, "trigger");

	cr_assert_eq(fl_yaml_line(l, d), 2);
	cr_assert_eq(fl_yaml_index_line(l, docs, 0), 2);
	cr_assert_eq(fl_yaml_line(l, json_object_get(d, "name")), 2);
	cr_assert_eq(fl_yaml_line(l, t), 3, "a block mapping has the line of its key");
	cr_assert_eq(fl_yaml_line(l, json_object_get(t, "type")), 4);
	cr_assert_eq(fl_yaml_line(l, json_object_get(t, "labels")), 6);
	cr_assert_eq(fl_yaml_line(l, json_object_get(json_object_get(t, "labels"), "stage")), 7);
	cr_assert_eq(fl_yaml_line(l, json_object_get(d, "n")), 10);
	/* shared values: only through their container */
	cr_assert_eq(fl_yaml_line(l, json_object_get(t, "on")), 0);
	cr_assert_eq(fl_yaml_key_line(l, t, "on"), 8);
	cr_assert_eq(fl_yaml_key_line(l, t, "off"), 9);
	cr_assert_eq(fl_yaml_key_line(l, t, "type"), 4);
	cr_assert_eq(fl_yaml_key_line(l, t, "absent"), 0);
	cr_assert_eq(fl_yaml_key_line(l, json_object_get(t, "type"), "x"), 0, "not an object");
	json_decref(docs);
	fl_yaml_lines_free(l);
}

Test(yaml_lines, sequences_of_maps_and_flow)
{
	const char *y = "steps:\n"			       /* 1 */
			"  - name: a\n"			       /* 2 */
			"    params: {url: u, n: [1, null]}\n" /* 3 */
			"  -\n"				       /* 4 */
			"    name: b\n"			       /* 5 */
			"  - null\n"			       /* 6 */
			"  - [x,\n"			       /* (refused below) */
			"";
	const char *y2 = "steps:\n"				/* 1 */
			 "  - name: a\n"			/* 2 */
			 "    params: {url: u, n: [1, null]}\n" /* 3 */
			 "  -\n"				/* 4 */
			 "    name: b\n"			/* 5 */
			 "  - ~\n"				/* 6 */
			 "list:\n"				/* 7 */
			 "- false\n"				/* 8 */
			 "- - deep\n";				/* 9 */
	struct fl_yaml_lines *l = NULL;
	json_t *out = NULL, *docs, *d, *steps, *p, *list;
	struct fl_err err = {0, ""};

	cr_assert_eq(fl_yaml_parse_lines(&out, &l, y, strlen(y), &err), FL_EINVAL);
	cr_assert_null(out);
	cr_assert_null(l, "no table on error");
	docs = parse_lines(&l, y2);
	d = json_array_get(docs, 0);
	steps = json_object_get(d, "steps");
	p = json_object_get(json_array_get(steps, 0), "params");
	list = json_object_get(d, "list");
	cr_assert_eq(fl_yaml_line(l, steps), 1);
	cr_assert_eq(fl_yaml_line(l, json_array_get(steps, 0)), 2);
	cr_assert_eq(fl_yaml_line(l, p), 3);
	cr_assert_eq(fl_yaml_line(l, json_object_get(p, "url")), 3);
	cr_assert_eq(fl_yaml_line(l, json_array_get(json_object_get(p, "n"), 0)), 3);
	cr_assert_eq(fl_yaml_index_line(l, json_object_get(p, "n"), 1), 3);
	cr_assert_eq(fl_yaml_line(l, json_array_get(steps, 1)), 4, "the line of its '-'");
	cr_assert_eq(fl_yaml_key_line(l, json_array_get(steps, 1), "name"), 5);
	cr_assert_eq(fl_yaml_index_line(l, steps, 2), 6);
	cr_assert_eq(fl_yaml_index_line(l, steps, 3), 0, "absent");
	cr_assert_eq(fl_yaml_line(l, list), 7);
	cr_assert_eq(fl_yaml_index_line(l, list, 0), 8);
	cr_assert_eq(fl_yaml_index_line(l, list, 1), 9);
	cr_assert_eq(fl_yaml_index_line(l, json_array_get(list, 1), 0), 9);
	json_decref(docs);
	fl_yaml_lines_free(l);
}

Test(yaml_lines, documents_and_a_plain_parse)
{
	const char *y = "a: 1\n"      /* 1 */
			"---\n"	      /* 2 */
			"# c\n"	      /* 3 */
			"b: {c: 2}\n" /* 4 */
			"...\n"	      /* 5 */
			"---\n"	      /* 6 */
			"- 3\n"	      /* 7 */
			"---\n"	      /* 8 */
			"true\n";     /* 9 */
	struct fl_yaml_lines *l = NULL;
	json_t *docs = parse_lines(&l, y), *plain_docs = parse(y);

	cr_assert(json_equal(docs, plain_docs), "the same values as fl_yaml_parse");
	cr_assert_eq(fl_yaml_line(l, json_array_get(docs, 0)), 1);
	cr_assert_eq(fl_yaml_line(l, json_array_get(docs, 1)), 4);
	cr_assert_eq(fl_yaml_line(l, json_object_get(json_array_get(docs, 1), "b")), 4);
	cr_assert_eq(fl_yaml_line(l, json_array_get(docs, 2)), 7);
	cr_assert_eq(fl_yaml_index_line(l, json_array_get(docs, 2), 0), 7);
	cr_assert_eq(fl_yaml_index_line(l, docs, 3), 9);
	cr_assert_eq(fl_yaml_line(l, plain_docs), 0, "another tree is unknown");
	cr_assert_eq(fl_yaml_line(NULL, docs), 0);
	cr_assert_eq(fl_yaml_line(l, NULL), 0);
	json_decref(docs);
	json_decref(plain_docs);
	fl_yaml_lines_free(l);
	fl_yaml_lines_free(NULL);
}

Test(yaml_lines, many_values_grow_the_table)
{
	static char buf[200000];
	struct fl_yaml_lines *l = NULL;
	json_t *docs, *d;
	size_t m = 0;
	int ok = 1;

	for (int i = 0; i < 5000; i++)
		m += (size_t)snprintf(buf + m, sizeof(buf) - m, "k%d: [%d, null, {x: true}]\n", i,
				      i);
	docs = parse_lines(&l, buf);
	d = json_array_get(docs, 0);
	for (int i = 0; i < 5000; i++) {
		char k[16];
		json_t *a;

		snprintf(k, sizeof(k), "k%d", i);
		a = json_object_get(d, k);
		ok &= fl_yaml_line(l, a) == i + 1 && fl_yaml_index_line(l, a, 1) == i + 1 &&
		      fl_yaml_key_line(l, json_array_get(a, 2), "x") == i + 1;
	}
	cr_assert(ok);
	json_decref(docs);
	fl_yaml_lines_free(l);
}

Test(yaml_lines, no_table_is_asked)
{
	json_t *out = NULL;
	struct fl_err err = {0, ""};

	cr_assert_eq(fl_yaml_parse_lines(&out, NULL, "a: 1\n", 5, &err), 0);
	cr_assert_not_null(out);
	json_decref(out);
	cr_assert_eq(fl_yaml_parse_lines(&out, NULL, "a", FL_YAML_MAX_BYTES + 1, &err), FL_ETOOBIG);
	{
		struct fl_yaml_lines *l = NULL;

		cr_assert_eq(fl_yaml_parse_lines(&out, &l, "a", FL_YAML_MAX_BYTES + 1, &err),
			     FL_ETOOBIG);
		cr_assert_null(out);
		cr_assert_null(l);
	}
}

/* test_template.c - playbook templates: typed and mixed rendering, trees, errors. */
#include <string.h>

#include "fl_test.h"
#include "playbook/template.h"

#define CTX                                                                                        \
	"{\"event\": {\"slo\": \"latency-api\", \"n\": 3, \"r\": 0.5, \"t\": true, \"nul\": null," \
	" \"device\": {\"id\": \"dev-1\", \"labels\": {\"site\": \"berlin\", \"stage\": "          \
	"\"canary\"}},"                                                                            \
	" \"tags\": [\"a\", 1], \"alerts\": [{\"labels\": {\"x\": \"y\"}}],"                       \
	" \"rollout\": {\"id\": 42}}}"

static json_t *ctx(void)
{
	json_error_t je;
	json_t *c = json_loads(CTX, 0, &je);

	cr_assert_not_null(c, "context: %s", je.text);
	return c;
}

static json_t *parse(const char *s)
{
	json_error_t je;
	json_t *v = json_loads(s, JSON_DECODE_ANY, &je);

	cr_assert_not_null(v, "'%s': %s", s, je.text);
	return v;
}

static const struct {
	const char *src, *value; /* the rendered value as JSON */
	int literal;
} render_cases[] = {
    /* Exactly one {{ PATH }}: the value with its JSON type. */
    {"{{ event.n }}", "3", 0},
    {"{{event.n}}", "3", 0},
    {"{{   event.r\t}}", "0.5", 0},
    {"{{ event.t }}", "true", 0},
    {"{{ event.slo }}", "\"latency-api\"", 0},
    {"{{ event.device.labels }}", "{\"site\": \"berlin\", \"stage\": \"canary\"}", 0},
    {"{{ event.tags }}", "[\"a\", 1]", 0},
    {"{{ event.alerts[0].labels.x }}", "\"y\"", 0},
    {"{{ event.rollout.id }}", "42", 0},
    /* Anything else: a string, each part the value's text. */
    {"site={{ event.device.labels.site }},stage=canary", "\"site=berlin,stage=canary\"", 0},
    {"site={{event.device.labels.site}},stage={{ event.device.labels.stage }}",
     "\"site=berlin,stage=canary\"", 0},
    {"n={{ event.n }} r={{ event.r }} t={{ event.t }}", "\"n=3 r=0.5 t=true\"", 0},
    {" {{ event.n }}", "\" 3\"", 0},
    {"{{ event.n }} ", "\"3 \"", 0},
    {"{{ event.n }}{{ event.n }}", "\"33\"", 0},
    {"tags: {{ event.tags }}", "\"tags: [\\\"a\\\",1]\"", 0},
    {"{{ event.device.labels }}!",
     "\"{\\\"site\\\":\\\"berlin\\\",\\\"stage\\\":\\\"canary\\\"}!\"", 0},
    {"rollout-{{ event.rollout.id }}", "\"rollout-42\"", 0},
    {"{{ event.slo }}}", "\"latency-api}\"", 0},
    /* No {{ }} part: literal text, }} and single braces included. */
    {"plain", "\"plain\"", 1},
    {"", "\"\"", 1},
    {"a }} b", "\"a }} b\"", 1},
    {"{ {event.n} }", "\"{ {event.n} }\"", 1},
    {"caf\xc3\xa9", "\"caf\\u00e9\"", 1},
};

Test(pb_template, render_table)
{
	json_t *c = ctx();

	for (size_t i = 0; i < sizeof(render_cases) / sizeof(render_cases[0]); i++) {
		struct cp_pb_tmpl *t = NULL;
		struct fl_err err = {0, ""};
		json_t *want = parse(render_cases[i].value), *got = NULL;
		char *s;

		cr_assert_eq(cp_pb_tmpl_compile(&t, render_cases[i].src, &err), 0, "'%s': %s",
			     render_cases[i].src, err.msg);
		cr_assert_eq(cp_pb_tmpl_is_literal(t), render_cases[i].literal, "'%s'",
			     render_cases[i].src);
		cr_assert_eq(cp_pb_tmpl_render(&got, t, c, &err), 0, "'%s': %s",
			     render_cases[i].src, err.msg);
		s = json_dumps(got, JSON_ENCODE_ANY);
		cr_assert(json_equal(got, want), "'%s' gave %s, not %s", render_cases[i].src, s,
			  render_cases[i].value);
		free(s);
		json_decref(got);
		json_decref(want);
		cp_pb_tmpl_free(t);
	}
	json_decref(c);
}

static const char *const undefined_cases[][2] = {
    {"{{ event.device.labels.site }}", "event.device.labels.site"},
    {"site={{ event.device.labels.site }},stage=canary", "event.device.labels.site"},
    {"{{ event.nul }}", "event.nul"},
    {"x{{ event.nul }}", "event.nul"},
    {"{{ event.n }}{{ event.alerts[1].labels }}", "event.alerts[1].labels"},
    {"{{ nope }}", "nope"},
};

/* A missing value, or null, is an error naming the path, never "". */
Test(pb_template, undefined_path_is_an_error)
{
	json_t *c = parse("{\"event\": {\"n\": 1, \"nul\": null, \"device\": {\"labels\": {}},"
			  " \"alerts\": [{}]}}");

	for (size_t i = 0; i < sizeof(undefined_cases) / sizeof(undefined_cases[0]); i++) {
		struct cp_pb_tmpl *t = NULL;
		struct fl_err err = {0, ""};
		json_t *got = (json_t *)1;
		char want[256];

		snprintf(want, sizeof(want), "template: %s is undefined", undefined_cases[i][1]);
		cr_assert_eq(cp_pb_tmpl_compile(&t, undefined_cases[i][0], &err), 0, "%s", err.msg);
		cr_assert_eq(cp_pb_tmpl_render(&got, t, c, &err), FL_EINVAL, "'%s'",
			     undefined_cases[i][0]);
		cr_assert_null(got);
		cr_assert_eq(err.code, FL_EINVAL);
		cr_assert_str_eq(err.msg, want);
		cp_pb_tmpl_free(t);
	}
	json_decref(c);
}

static const struct {
	const char *src, *msg;
} compile_errors[] = {
    {"{{", "column 1: unclosed '{{'"},
    {"a {{ b", "column 3: unclosed '{{'"},
    {"{{ event.n }", "column 1: unclosed '{{'"},
    {"ok {{ event.n }} {{ event.n", "column 18: unclosed '{{'"},
    {"{{ }}", "column 4: expected a path after '{{'"},
    {"{{}}", "column 3: expected a path after '{{'"},
    {"{{ 1 }}", "column 4: expected a path after '{{'"},
    {"{{ \"x\" }}", "column 4: expected a path after '{{'"},
    {"{{{ a }}", "column 3: expected a path after '{{'"},
    {"{{ a b }}", "column 6: expected '}}' after the path"},
    {"{{ a == 1 }}", "column 6: expected '}}' after the path"},
    {"{{ a. }}", "column 5: expected '}}' after the path"},
    {"{{ a[x] }}", "column 5: expected '}}' after the path"},
    {"x {{ a {{ b }} }}", "column 8: expected '}}' after the path"},
    {"caf\xc3", "template is not valid UTF-8"},
};

Test(pb_template, compile_errors_name_their_column)
{
	for (size_t i = 0; i < sizeof(compile_errors) / sizeof(compile_errors[0]); i++) {
		struct cp_pb_tmpl *t = (struct cp_pb_tmpl *)1;
		struct fl_err err = {0, ""};

		cr_assert_eq(cp_pb_tmpl_compile(&t, compile_errors[i].src, &err), FL_EINVAL,
			     "'%s' compiled", compile_errors[i].src);
		cr_assert_null(t);
		cr_assert_eq(err.code, FL_EINVAL);
		cr_assert_str_eq(err.msg, compile_errors[i].msg, "'%s'", compile_errors[i].src);
	}
	cp_pb_tmpl_free(NULL);
}

Test(pb_template, source_bound)
{
	char *src = malloc(CP_PB_TMPL_MAX + 2);
	struct cp_pb_tmpl *t = NULL;
	struct fl_err err = {0, ""};
	json_t *got = NULL;

	cr_assert_not_null(src);
	memset(src, 'x', CP_PB_TMPL_MAX);
	src[CP_PB_TMPL_MAX] = '\0';
	cr_assert_eq(cp_pb_tmpl_compile(&t, src, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_pb_tmpl_render(&got, t, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(json_string_length(got), CP_PB_TMPL_MAX);
	json_decref(got);
	cp_pb_tmpl_free(t);
	src[CP_PB_TMPL_MAX] = 'x';
	src[CP_PB_TMPL_MAX + 1] = '\0';
	cr_assert_eq(cp_pb_tmpl_compile(&t, src, &err), FL_EINVAL);
	cr_assert_null(t);
	cr_assert_str_eq(err.msg, "template longer than 65536 bytes");
	free(src);
}

/* What a template renders is bounded too: values can be large. */
Test(pb_template, rendered_bound)
{
	char *big = malloc(40001);
	struct cp_pb_tmpl *t = NULL;
	struct fl_err err = {0, ""};
	json_t *c, *got = (json_t *)1;

	cr_assert_not_null(big);
	memset(big, 'b', 40000);
	big[40000] = '\0';
	c = json_pack("{s:{s:s, s:[s, s]}}", "event", "big", big, "two", big, big);
	cr_assert_not_null(c);

	cr_assert_eq(cp_pb_tmpl_compile(&t, "{{ event.big }}", NULL), 0);
	cr_assert_eq(cp_pb_tmpl_render(&got, t, c, &err), 0, "%s", err.msg);
	json_decref(got);
	cp_pb_tmpl_free(t);

	cr_assert_eq(cp_pb_tmpl_compile(&t, "{{ event.big }}{{ event.big }}", NULL), 0);
	cr_assert_eq(cp_pb_tmpl_render(&got, t, c, &err), FL_ETOOBIG);
	cr_assert_null(got);
	cr_assert_str_eq(err.msg, "template: rendered value longer than 65536 bytes");
	cp_pb_tmpl_free(t);

	/* Typed: measured as compact JSON. */
	cr_assert_eq(cp_pb_tmpl_compile(&t, "{{ event.two }}", NULL), 0);
	cr_assert_eq(cp_pb_tmpl_render(&got, t, c, &err), FL_ETOOBIG);
	cr_assert_null(got);
	cp_pb_tmpl_free(t);
	json_decref(c);
	free(big);
}

Test(pb_template, typed_value_is_a_copy)
{
	struct cp_pb_tmpl *t = NULL;
	json_t *c = ctx(), *got = NULL;

	cr_assert_eq(cp_pb_tmpl_compile(&t, "{{ event.device.labels }}", NULL), 0);
	cr_assert_eq(cp_pb_tmpl_render(&got, t, c, NULL), 0);
	cr_assert_eq(json_object_set_new(got, "site", json_string("paris")), 0);
	json_decref(got);
	cr_assert_eq(cp_pb_tmpl_render(&got, t, c, NULL), 0);
	cr_assert_str_eq(json_string_value(json_object_get(got, "site")), "berlin");
	json_decref(got);
	cp_pb_tmpl_free(t);
	json_decref(c);
}

Test(pb_template, render_tree)
{
	json_t *c = ctx(), *got = NULL, *tree, *want, *before;
	struct fl_err err = {0, ""};
	char *s;

	tree =
	    parse("{\"rollout\": \"{{ event.rollout.id }}\", \"n\": 5, \"r\": 0.5, \"no\": null,"
		  " \"list\": [\"{{ event.n }}\", \"x-{{ event.slo }}\", null, true, [\"{{ event.t "
		  "}}\"]],"
		  " \"obj\": {\"k\": \"v {{ event.device.id }}\", \"{{ event.n }}\": \"key kept\"},"
		  " \"url\": \"https://example.com/hook\"}");
	want = parse("{\"rollout\": 42, \"n\": 5, \"r\": 0.5, \"no\": null,"
		     " \"list\": [3, \"x-latency-api\", null, true, [true]],"
		     " \"obj\": {\"k\": \"v dev-1\", \"{{ event.n }}\": \"key kept\"},"
		     " \"url\": \"https://example.com/hook\"}");
	before = json_deep_copy(tree);
	cr_assert_eq(cp_pb_tmpl_render_tree(&got, tree, c, &err), 0, "%s", err.msg);
	s = json_dumps(got, JSON_SORT_KEYS);
	cr_assert(json_equal(got, want), "got %s", s);
	free(s);
	/* A new tree: the input is left as it was, and shares nothing. */
	cr_assert(json_equal(tree, before));
	cr_assert_neq(got, tree);
	cr_assert_neq(json_object_get(got, "n"), json_object_get(tree, "n"));
	json_decref(got);
	json_decref(want);
	json_decref(before);
	json_decref(tree);

	/* A scalar or a string as the whole tree. */
	tree = json_string("{{ event.n }}");
	cr_assert_eq(cp_pb_tmpl_render_tree(&got, tree, c, &err), 0);
	cr_assert_eq(json_integer_value(got), 3);
	json_decref(got);
	json_decref(tree);
	json_decref(c);
}

Test(pb_template, render_tree_error_names_the_leaf)
{
	json_t *c = ctx(), *got = (json_t *)1, *tree;
	struct fl_err err = {0, ""};

	tree =
	    parse("{\"url\": \"https://x\", \"body\": {\"list\": [\"a\", \"{{ event.nope }}\"]}}");
	cr_assert_eq(cp_pb_tmpl_render_tree(&got, tree, c, &err), FL_EINVAL);
	cr_assert_null(got);
	cr_assert_str_eq(err.msg, "/body/list/1: template: event.nope is undefined");
	json_decref(tree);
	/* A bad template fails the rendering too. */
	tree = parse("{\"a\": \"{{ event.n\"}");
	cr_assert_eq(cp_pb_tmpl_render_tree(&got, tree, c, &err), FL_EINVAL);
	cr_assert_str_eq(err.msg, "/a: column 1: unclosed '{{'");
	json_decref(tree);
	/* The tree itself a string: no pointer. */
	tree = json_string("{{ event.nope }}");
	cr_assert_eq(cp_pb_tmpl_render_tree(&got, tree, c, &err), FL_EINVAL);
	cr_assert_str_eq(err.msg, "template: event.nope is undefined");
	json_decref(tree);
	json_decref(c);
}

Test(pb_template, check_tree)
{
	struct fl_err err = {0, ""};
	json_t *tree;

	tree = parse(
	    "{\"a\": \"ok {{ event.x }}\", \"b\": [\"x\", 1, {\"c\": \"{{ y }}\"}], \"d\": null}");
	cr_assert_eq(cp_pb_tmpl_check_tree(tree, &err), 0, "%s", err.msg);
	json_decref(tree);

	tree = parse("{\"a\": \"ok\", \"b\": [\"x\", \"{{ bad\"]}");
	cr_assert_eq(cp_pb_tmpl_check_tree(tree, &err), FL_EINVAL);
	cr_assert_eq(err.code, FL_EINVAL);
	cr_assert_str_eq(err.msg, "/b/1: column 1: unclosed '{{'");
	json_decref(tree);

	/* RFC 6901 escapes: ~ is ~0, / is ~1. */
	tree = parse("{\"a/b\": {\"c~d\": \"{{ 1 }}\"}}");
	cr_assert_eq(cp_pb_tmpl_check_tree(tree, &err), FL_EINVAL);
	cr_assert_str_eq(err.msg, "/a~1b/c~0d: column 4: expected a path after '{{'");
	json_decref(tree);

	tree = json_string("{{");
	cr_assert_eq(cp_pb_tmpl_check_tree(tree, &err), FL_EINVAL);
	cr_assert_str_eq(err.msg, "column 1: unclosed '{{'");
	json_decref(tree);

	tree = json_pack("{s:[s#]}", "a", "x\0{{ y }}", (size_t)9);
	cr_assert_eq(cp_pb_tmpl_check_tree(tree, &err), FL_EINVAL);
	cr_assert_str_eq(err.msg, "/a/0: NUL byte in a string");
	json_decref(tree);

	tree = json_integer(1);
	cr_assert_eq(cp_pb_tmpl_check_tree(tree, NULL), 0);
	json_decref(tree);
}

Test(pb_template, long_pointer_is_cut)
{
	struct fl_err err = {0, ""};
	char key[300];
	json_t *tree;

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	tree = json_pack("{s:{s:s}}", key, "x", "{{");
	cr_assert_eq(cp_pb_tmpl_check_tree(tree, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "...") != NULL, "%s", err.msg);
	cr_assert(strstr(err.msg, ": column 1: unclosed '{{'") != NULL, "%s", err.msg);
	cr_assert_eq(err.msg[0], '/');
	json_decref(tree);
}

Test(pb_template, tree_depth_bound)
{
	struct fl_err err = {0, ""};
	json_t *tree = json_string("{{ event.n }}"), *c = ctx(), *got = NULL;

	/* 64 arrays around the leaf are walked, 65 are not. */
	for (int i = 0; i < 64; i++)
		tree = json_pack("[o]", tree);
	cr_assert_eq(cp_pb_tmpl_check_tree(tree, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_pb_tmpl_render_tree(&got, tree, c, &err), 0, "%s", err.msg);
	json_decref(got);
	tree = json_pack("[o]", tree);
	cr_assert_eq(cp_pb_tmpl_check_tree(tree, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "nested deeper than 64 levels") != NULL, "%s", err.msg);
	cr_assert_eq(cp_pb_tmpl_render_tree(&got, tree, c, &err), FL_EINVAL);
	cr_assert_null(got);
	json_decref(tree);
	json_decref(c);
}

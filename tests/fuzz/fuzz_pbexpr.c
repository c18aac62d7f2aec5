/*
 * fuzz_pbexpr.c - playbook expressions and templates, which operators write
 * into playbook files and which the server compiles on load.
 *
 * An input is compiled both as an expression and as a template. What
 * compiles is evaluated against a fixed context with arrays, nested
 * objects, numbers and strings, and its value rendered, so the evaluator
 * and the renderer see everything the compiler accepts.
 */
#include <jansson.h>

#include "fuzz.h"
#include "playbook/expr.h"
#include "playbook/template.h"

static json_t *ctx;

static void init(void)
{
	/* The roots and keys that the seeds name. Kept for the life of the
	 * process: reachable, not leaked. */
	if (!ctx)
		ctx = json_pack("{s:{s:s, s:s, s:{s:s, s:{s:s, s:s}}, s:[{s:{s:s}}, {}], s:[i, f, "
				"s, n, b]}, s:{s:{s:s}, s:{s:i}}, s:{s:f, s:s}, s:i}",
				"event", "slo", "latency-api", "severity", "page", "device", "id",
				"dev-1", "labels", "site", "berlin", "stage", "canary", "alerts",
				"labels", "x", "y", "mixed", 1, 0.5, "a", 1, "device", "labels",
				"hw", "v2", "inventory", "sensors", 3, "results", "ok_ratio", 0.95,
				"state", "done", "now", 1767225600);
	if (!ctx)
		abort();
}

static void expr_one(const char *src)
{
	struct cp_pb_expr *e = NULL;
	struct fl_err err = {0, ""};
	json_t *v = NULL, *paths = NULL;
	int truth = -1;

	if (cp_pb_expr_compile(&e, src, &err) < 0) {
		FZ_CHECK(e == NULL);
		FZ_CHECK(err.code == FL_EINVAL && err.msg[0] != '\0');
		return;
	}
	FZ_CHECK(e != NULL);
	FZ_CHECK(cp_pb_expr_eval(&truth, e, ctx, &err) == 0);
	FZ_CHECK(truth == 0 || truth == 1);
	/* No context at all: every path is null, nothing fails. */
	FZ_CHECK(cp_pb_expr_eval(&truth, e, NULL, &err) == 0);
	if (cp_pb_expr_value(&v, e, ctx, &err) == 0) {
		char *s = json_dumps(v, JSON_ENCODE_ANY);

		/* Whatever the value, it is JSON that serialises. */
		FZ_CHECK(s != NULL);
		free(s);
		json_decref(v);
	}
	if (cp_pb_expr_paths(&paths, e) == 0) {
		for (size_t i = 0; i < json_array_size(paths); i++)
			(void)cp_pb_path_get(ctx, json_string_value(json_array_get(paths, i)));
		json_decref(paths);
	}
	cp_pb_expr_free(e);
}

static void tmpl_one(const char *src)
{
	struct cp_pb_tmpl *t = NULL;
	struct fl_err err = {0, ""};
	json_t *v = NULL;

	if (cp_pb_tmpl_compile(&t, src, &err) < 0) {
		FZ_CHECK(t == NULL);
		FZ_CHECK(err.msg[0] != '\0');
		return;
	}
	FZ_CHECK(t != NULL);
	if (cp_pb_tmpl_render(&v, t, ctx, &err) == 0) {
		FZ_CHECK(v != NULL);
		/* A template without {{ }} renders as a string. */
		FZ_CHECK(cp_pb_tmpl_is_literal(t) ? json_is_string(v) : 1);
		json_decref(v);
	} else {
		FZ_CHECK(v == NULL && err.msg[0] != '\0');
	}
	cp_pb_tmpl_free(t);
}

static int fuzz_one(const uint8_t *data, size_t size)
{
	char *src = fz_strndup(data, size);

	init();
	expr_one(src);
	tmpl_one(src);
	free(src);
	return 0;
}

FZ_TARGET(fuzz_one)

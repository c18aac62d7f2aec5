#include "playbook/match.h"

#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "playbook/expr.h"

/* A glob on a string field; bounded as the expressions bound theirs. */
static int glob_ok(const char *pattern, const json_t *v)
{
	const char *s = json_string_value(v);

	if (!s || strlen(pattern) > CP_PB_GLOB_MAX || strlen(s) > CP_PB_GLOB_MAX)
		return 0;
	return fnmatch(pattern, s, 0) == 0;
}

static int str_eq(const json_t *want, const json_t *v)
{
	return json_is_string(v) && strcmp(json_string_value(want), json_string_value(v)) == 0;
}

/* Every filter of the trigger holds for the event. */
static int filters_ok(const json_t *trig, const json_t *ev)
{
	const json_t *alert = json_object_get(ev, "alert"), *f, *v;
	const char *key;

	json_object_foreach ((json_t *)(uintptr_t)trig, key, f) {
		if (strcmp(key, "type") == 0 || strcmp(key, "tz") == 0 || strcmp(key, "cron") == 0)
			continue;
		if (strcmp(key, "slo") == 0) {
			if (!glob_ok(json_string_value(f), json_object_get(ev, "slo")))
				return 0;
		} else if (strcmp(key, "severity") == 0 || strcmp(key, "sli") == 0 ||
			   strcmp(key, "status") == 0) {
			if (!str_eq(f, json_object_get(alert, key)))
				return 0;
		} else if (strcmp(key, "alertname") == 0) {
			if (!glob_ok(
				json_string_value(f),
				json_object_get(json_object_get(alert, "labels"), "alertname")))
				return 0;
		} else if (strcmp(key, "from") == 0 || strcmp(key, "to") == 0) {
			if (!str_eq(f, json_object_get(ev, key)))
				return 0;
		} else if (strcmp(key, "for_s") == 0) {
			v = json_object_get(ev, "offline_s");
			if (!json_is_integer(v) || json_integer_value(v) < json_integer_value(f))
				return 0;
		} else if (strcmp(key, "labels") == 0) {
			const json_t *have = json_object_get(ev, "labels"), *want;
			const char *k;

			json_object_foreach ((json_t *)(uintptr_t)f, k, want)
				if (!str_eq(want, json_object_get(have, k)))
					return 0;
		} else {
			/* a filter this matcher does not know: never match rather
			 * than act on more than the author meant */
			return 0;
		}
	}
	return 1;
}

struct cp_pb_matcher {
	const json_t *pb;
	struct cp_pb_expr *cond; /* NULL: none */
};

int cp_pb_matcher_new(struct cp_pb_matcher **out, const json_t *pb, struct fl_err *err)
{
	const char *cond = json_string_value(json_object_get(pb, "condition"));
	struct cp_pb_matcher *m;
	int rc;

	*out = NULL;
	if (!(m = calloc(1, sizeof(*m))))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	m->pb = pb;
	if (cond && (rc = cp_pb_expr_compile(&m->cond, cond, err)) < 0) {
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void cp_pb_matcher_free(struct cp_pb_matcher *m)
{
	if (!m)
		return;
	cp_pb_expr_free(m->cond);
	free(m);
}

int cp_pb_matcher_match(int *yes, const struct cp_pb_matcher *m, const json_t *ctx,
			struct fl_err *err)
{
	const json_t *trig = json_object_get(m->pb, "trigger"), *ev = json_object_get(ctx, "event");
	const char *type = json_string_value(json_object_get(trig, "type"));
	const char *kind = json_string_value(json_object_get(ev, "kind"));

	*yes = 0;
	if (!type || !kind || !json_is_true(json_object_get(m->pb, "enabled")))
		return 0;
	if (strcmp(type, kind) != 0 || strcmp(type, "schedule") == 0 ||
	    strcmp(type, "manual") == 0 || !filters_ok(trig, ev))
		return 0;
	if (!m->cond) {
		*yes = 1;
		return 0;
	}
	return cp_pb_expr_eval(yes, m->cond, ctx, err);
}

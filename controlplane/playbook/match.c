#include "playbook/match.h"

#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/buf.h"
#include "fairlead/json.h"
#include "playbook/expr.h"
#include "playbook/throttle.h"

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
			/* The engine reports each offline episode once per threshold
			 * a playbook names (for_s): a playbook takes the report of
			 * its own threshold, never a later one of the same episode.
			 * An event without for_s (a dry run's) is judged by how long
			 * the device has been offline. */
			v = json_object_get(ev, "for_s");
			if (json_is_integer(v)) {
				if (json_integer_value(v) != json_integer_value(f))
					return 0;
			} else {
				v = json_object_get(ev, "offline_s");
				if (!json_is_integer(v) ||
				    json_integer_value(v) < json_integer_value(f))
					return 0;
			}
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

static int match(int *yes, const struct cp_pb_matcher *m, const json_t *ctx, int own,
		 struct fl_err *err)
{
	const json_t *trig = json_object_get(m->pb, "trigger"), *ev = json_object_get(ctx, "event");
	const char *type = json_string_value(json_object_get(trig, "type"));
	const char *kind = json_string_value(json_object_get(ev, "kind"));
	int engines;

	*yes = 0;
	if (!type || !kind || !json_is_true(json_object_get(m->pb, "enabled")))
		return 0;
	/* schedules and manual starts come from the engine, never the log */
	engines = strcmp(type, "schedule") == 0 || strcmp(type, "manual") == 0;
	if (strcmp(type, kind) != 0 || engines != own || (!own && !filters_ok(trig, ev)))
		return 0;
	if (!m->cond) {
		*yes = 1;
		return 0;
	}
	return cp_pb_expr_eval(yes, m->cond, ctx, err);
}

int cp_pb_matcher_match(int *yes, const struct cp_pb_matcher *m, const json_t *ctx,
			struct fl_err *err)
{
	return match(yes, m, ctx, 0, err);
}

int cp_pb_matcher_match_own(int *yes, const struct cp_pb_matcher *m, const json_t *ctx,
			    struct fl_err *err)
{
	return match(yes, m, ctx, 1, err);
}

int cp_pb_throttle_for(struct cp_pb_throttle **out, const json_t *pb, struct fl_err *err)
{
	const json_t *t = json_object_get(pb, "throttle"), *th;

	*out = NULL;
	if (!t)
		return 0;
	if (json_object_get(t, "once_within_s"))
		return cp_pb_throttle_new(out, CP_PB_ONCE_WITHIN,
					  json_integer_value(json_object_get(t, "once_within_s")),
					  0, err);
	if (json_object_get(t, "once_after_s"))
		return cp_pb_throttle_new(out, CP_PB_ONCE_AFTER,
					  json_integer_value(json_object_get(t, "once_after_s")), 0,
					  err);
	th = json_object_get(t, "threshold");
	return cp_pb_throttle_new(out, CP_PB_THRESHOLD,
				  json_integer_value(json_object_get(th, "within_s")),
				  (int)json_integer_value(json_object_get(th, "count")), err);
}

int cp_pb_throttle_key(char **out, const json_t *pb, const json_t *ctx)
{
	const json_t *keys = json_object_get(json_object_get(pb, "throttle"), "key"), *k;
	struct fl_buf b = FL_BUF_INIT;
	size_t i;
	int rc = 0;

	*out = NULL;
	json_array_foreach ((json_t *)(uintptr_t)keys, i, k) {
		const json_t *v = cp_pb_path_get(ctx, json_string_value(k));

		if ((i && (rc = fl_buf_put(&b, "\n", 1)) < 0) ||
		    (rc = v ? fl_json_dump(&b, v) : fl_buf_puts(&b, "null")) < 0)
			break;
	}
	if (rc == 0 && (rc = fl_buf_put(&b, "", 1)) == 0 && !(*out = fl_buf_detach(&b)))
		rc = FL_ENOMEM;
	fl_buf_release(&b);
	return rc;
}

/*
 * format_hooks.c - the checks of a playbook that other modules own:
 * expressions (condition, where, verify, throttle keys) compile with
 * playbook/expr.h, templates with playbook/template.h, cron with
 * core/schedule.h. The rest of the walk only calls pb_expr,
 * pb_template_check and pb_cron_check, so each grammar has one parser.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/schedule.h"
#include "fairlead/json.h"
#include "playbook/expr.h"
#include "playbook/format_int.h"
#include "playbook/template.h"

/* ---- templates ---- */

int pb_template_check(struct pbc *c, const json_t *s)
{
	size_t n = json_string_length(s);

	if (strlen(json_string_value(s)) != n)
		return pb_bad(c, "NUL byte in a string");
	if (n > PB_STR_MAX)
		return pb_bad(c, "longer than %d bytes", PB_STR_MAX);
	{
		struct cp_pb_tmpl *t = NULL;
		struct fl_err e = {0, ""};

		if (cp_pb_tmpl_compile(&t, json_string_value(s), &e) < 0)
			return pb_bad(c, "%s", e.msg);
		cp_pb_tmpl_free(t);
	}
	return 0;
}

/* ---- expressions ---- */

/* The roots an expression of each kind may read. */
static const char *const *roots_of(enum pb_expr_kind kind)
{
	static const char *const condition[] = {"event", "slo", "now", NULL};
	static const char *const where[] = {"device", "event", "slo", "now", NULL};
	static const char *const verify[] = {"results", "slo", "event", "now", NULL};

	return kind == PB_EXPR_WHERE ? where : kind == PB_EXPR_VERIFY ? verify : condition;
}

/* The expression s at the current place (its length already checked). */
int pb_expr_check(struct pbc *c, const char *s, enum pb_expr_kind kind)
{
	const char *const *roots = roots_of(kind);
	struct cp_pb_expr *e = NULL;
	struct fl_err err = {0, ""};
	json_t *paths = NULL, *p;
	size_t i;
	int rc = 0;

	if (kind == PB_EXPR_KEY) {
		/* one path under event, in the expressions' own path grammar */
		if (cp_pb_path_len(s) != strlen(s) || strncmp(s, "event", 5) != 0 ||
		    (s[5] && s[5] != '.' && s[5] != '['))
			return pb_bad(c,
				      "'%.64s' is not a path under event "
				      "(event.device.labels.site)",
				      s);
		return 0;
	}
	if (cp_pb_expr_compile(&e, s, &err) < 0)
		return pb_bad(c, "%s", err.msg);
	if (cp_pb_expr_paths(&paths, e) < 0) {
		cp_pb_expr_free(e);
		return FL_ENOMEM;
	}
	json_array_foreach (paths, i, p) {
		const char *path = json_string_value(p);
		size_t n = strcspn(path, ".["), k;

		for (k = 0; roots[k]; k++)
			if (strlen(roots[k]) == n && strncmp(path, roots[k], n) == 0)
				break;
		if (!roots[k]) {
			rc = pb_bad(c, "'%.*s' is not a root here (%s%s%s%s%s%s%s)", (int)n, path,
				    roots[0], roots[1] ? ", " : "", roots[1] ? roots[1] : "",
				    roots[2] ? ", " : "", roots[2] ? roots[2] : "",
				    roots[3] ? ", " : "", roots[3] ? roots[3] : "");
			break;
		}
	}
	json_decref(paths);
	cp_pb_expr_free(e);
	return rc;
}

int pb_expr(struct pbc *c, json_t *out, const json_t *in, const char *key, int flags,
	    enum pb_expr_kind kind)
{
	const char *s = NULL;
	struct pb_at a;
	int rc;

	if ((rc = pb_str(c, out, in, key, flags & PB_REQ, PB_STR_MAX, &s)) < 0 || !s)
		return rc;
	a = pb_key(c, in, key);
	if ((rc = pb_expr_check(c, s, kind)) < 0)
		return rc;
	pb_back(c, a);
	return 0;
}

/* ---- cron ---- */

int pb_cron_check(struct pbc *c, const char *expr)
{
	struct cp_sched *sc = NULL;
	struct fl_err err = {0, ""};

	/* the zone is checked on its own field */
	if (cp_sched_parse(&sc, expr, "UTC", &err) < 0)
		return pb_bad(c, "%s", err.msg);
	cp_sched_free(sc);
	return 0;
}

/* Every string of v is a template; recursion is bounded by the depth
 * checked before. */
static int free_strings(struct pbc *c, const json_t *v)
{
	const char *key;
	json_t *x;
	size_t i;
	int rc;

	if (json_is_string(v))
		return pb_template_check(c, v);
	if (json_is_array(v)) {
		json_array_foreach ((json_t *)(uintptr_t)v, i, x) {
			struct pb_at a = pb_idx(c, v, i);

			if ((rc = free_strings(c, x)) < 0)
				return rc;
			pb_back(c, a);
		}
	} else if (json_is_object(v)) {
		json_object_foreach ((json_t *)(uintptr_t)v, key, x) {
			struct pb_at a = pb_key(c, v, key);

			if ((rc = free_strings(c, x)) < 0)
				return rc;
			pb_back(c, a);
		}
	}
	return 0;
}

int pb_free_form(struct pbc *c, json_t *out, const json_t *in, const char *key)
{
	const json_t *x = NULL;
	struct pb_at a;
	int rc;

	if ((rc = pb_obj(c, in, key, 0, &x)) < 0 || !x)
		return rc;
	a = pb_key(c, in, key);
	if (fl_json_doc_check(x, "value", NULL) < 0)
		return pb_bad(c, "nested deeper than %d levels", FL_JSON_DOC_DEPTH);
	if ((rc = free_strings(c, x)) < 0 || (rc = pb_put(c, out, key, json_deep_copy(x))) < 0)
		return rc;
	pb_back(c, a);
	return 0;
}

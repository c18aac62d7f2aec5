/*
 * format_hooks.c - the checks of a playbook that other modules will own:
 * expressions (condition, where, verify, throttle keys), templates, cron.
 * Everything here is the one place where they are to be wired in; the rest
 * of the walk only calls pb_expr, pb_template_check and pb_cron_check.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fairlead/json.h"
#include "playbook/format_int.h"

/* ---- templates ---- */

int pb_template_check(struct pbc *c, const json_t *s)
{
	size_t n = json_string_length(s);

	if (strlen(json_string_value(s)) != n)
		return pb_bad(c, "NUL byte in a string");
	if (n > PB_STR_MAX)
		return pb_bad(c, "longer than %d bytes", PB_STR_MAX);
	/* HOOK (templates): the template parser checks the {{ PATH }} parts
	 * here once it exists; until then a template is stored as given. */
	return 0;
}

/* ---- expressions ----
 *
 * Only bounded here until controlplane/playbook/expr.h lands: pb_expr_check
 * is where its compile check goes (HOOK below). */

/* A throttle key: event(.name | [index])* with names of [A-Za-z0-9_-]. */
static int key_path_ok(const char *s)
{
	size_t i = 5;

	if (strncmp(s, "event", 5) != 0)
		return 0;
	while (s[i]) {
		if (s[i] == '.') {
			size_t a = ++i;

			while (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-')
				i++;
			if (i == a)
				return 0;
		} else if (s[i] == '[') {
			size_t a = ++i;

			while (s[i] >= '0' && s[i] <= '9')
				i++;
			if (i == a || s[i++] != ']')
				return 0;
		} else {
			return 0;
		}
	}
	return 1;
}

/* The expression s at the current place (its length already checked). */
int pb_expr_check(struct pbc *c, const char *s, enum pb_expr_kind kind)
{
	/* HOOK (expressions): compile s with expr.h here, for its roots: event
	 * (CONDITION), device (WHERE), results, slo and event (VERIFY); a KEY
	 * is one path under event. Until then only a key's form is checked. */
	if (kind == PB_EXPR_KEY && !key_path_ok(s))
		return pb_bad(c, "'%.64s' is not a path under event (event.device.labels.site)", s);
	return 0;
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

/* One cron field: a list of *, N or N-M, each with an optional /STEP. */
static int cron_field(const char *f, size_t n, int lo, int hi)
{
	size_t i = 0;

	while (i < n) {
		long a = lo, b = hi;

		if (f[i] == '*') {
			i++;
		} else {
			if (!isdigit((unsigned char)f[i]))
				return -1;
			for (a = 0; i < n && isdigit((unsigned char)f[i]) && a < 1000; i++)
				a = a * 10 + (f[i] - '0');
			b = a;
			if (i < n && f[i] == '-') {
				if (++i >= n || !isdigit((unsigned char)f[i]))
					return -1;
				for (b = 0; i < n && isdigit((unsigned char)f[i]) && b < 1000; i++)
					b = b * 10 + (f[i] - '0');
			}
			if (a < lo || b > hi || a > b)
				return -1;
		}
		if (i < n && f[i] == '/') {
			long st = 0;
			size_t d = ++i;

			for (; i < n && isdigit((unsigned char)f[i]) && st < 1000; i++)
				st = st * 10 + (f[i] - '0');
			if (i == d || st < 1 || st > hi)
				return -1;
		}
		if (i < n && f[i++] != ',')
			return -1;
		if (i == n && f[n - 1] == ',')
			return -1;
	}
	return n ? 0 : -1;
}

/* HOOK (cron): the grammar of core/rollout.c's static cron_parse (5 fields,
 * ranges and steps, no names), checked locally because that parser is being
 * moved into core/schedule.c; replace this body with a call to it then. */
int pb_cron_check(struct pbc *c, const char *expr)
{
	static const struct {
		const char *name;
		int lo, hi;
	} fields[5] = {{"minute", 0, 59},
		       {"hour", 0, 23},
		       {"day of month", 1, 31},
		       {"month", 1, 12},
		       {"day of week", 0, 7}};
	size_t i = 0, k = 0;

	while (expr[i]) {
		size_t a;

		while (expr[i] == ' ' || expr[i] == '\t')
			i++;
		if (!expr[i])
			break;
		if (k == 5)
			return pb_bad(c, "more than 5 fields (minute hour day month weekday)");
		for (a = i; expr[i] && expr[i] != ' ' && expr[i] != '\t'; i++)
			;
		if (cron_field(expr + a, i - a, fields[k].lo, fields[k].hi) < 0)
			return pb_bad(c,
				      "%s field '%.*s' is not *, N, N-M or a list of them (/STEP "
				      "optional) within %d-%d",
				      fields[k].name, (int)(i - a > 32 ? 32 : i - a), expr + a,
				      fields[k].lo, fields[k].hi);
		k++;
	}
	if (k != 5)
		return pb_bad(c, "needs 5 fields (minute hour day month weekday), has %zu", k);
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

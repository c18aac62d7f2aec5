/*
 * format_fields.c - the walk's helpers (format_int.h): paths and places,
 * errors that name them, and the typed fields.
 *
 * Every helper reads one field of an input object, checks it and writes its
 * canonical form; a duration is the one field spelt two ways (pb_dur).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "playbook/format_int.h"

/* ---- paths, places, errors ---- */

static void path_add(char *path, size_t *len, const char *s, size_t n)
{
	if (*len >= 3 && memcmp(path + *len - 3, "...", 3) == 0)
		return; /* already cut */
	if (*len + n + 4 > PB_PATH_MAX) {
		memcpy(path + *len, "...", 4);
		*len += 3;
		return;
	}
	memcpy(path + *len, s, n);
	*len += n;
	path[*len] = '\0';
}

void pb_path_key(char *path, size_t *len, const char *key)
{
	char part[72];
	size_t n = strlen(key);

	if (n > 64)
		n = 64;
	snprintf(part, sizeof(part), "%s%.*s", *len ? "." : "", (int)n, key);
	path_add(path, len, part, strlen(part));
}

void pb_path_idx(char *path, size_t *len, size_t i)
{
	char part[32];

	snprintf(part, sizeof(part), "[%zu]", i);
	path_add(path, len, part, strlen(part));
}

struct pb_at pb_key(struct pbc *c, const json_t *obj, const char *key)
{
	struct pb_at a = {c->plen, c->line};
	int line = fl_yaml_key_line(c->lines, obj, key);

	pb_path_key(c->path, &c->plen, key);
	if (line > 0)
		c->line = line; /* an absent key keeps its object's line */
	return a;
}

struct pb_at pb_idx(struct pbc *c, const json_t *arr, size_t i)
{
	struct pb_at a = {c->plen, c->line};
	int line = fl_yaml_index_line(c->lines, arr, i);

	pb_path_idx(c->path, &c->plen, i);
	if (line > 0)
		c->line = line;
	return a;
}

void pb_back(struct pbc *c, struct pb_at a)
{
	c->plen = a.plen;
	c->path[a.plen] = '\0';
	c->line = a.line;
}

int pb_bad(struct pbc *c, const char *fmt, ...)
{
	char what[224];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!c->plen)
		return fl_err_set(c->err, FL_EINVAL, "%s", what);
	return fl_err_set(c->err, FL_EINVAL, "%s: %s", c->path, what);
}

int pb_oom(struct pbc *c)
{
	return fl_err_set(c->err, FL_ENOMEM, "out of memory");
}

int pb_put(struct pbc *c, json_t *out, const char *key, json_t *v)
{
	if (!out) {
		json_decref(v);
		return 0;
	}
	return v && json_object_set_new(out, key, v) == 0 ? 0 : pb_oom(c);
}

/* What a value is, for "expected X, not Y". */
const char *pb_kind_of(const struct pbc *c, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return c->canon ? "an object" : "a mapping";
	case JSON_ARRAY: return "a list";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "empty (null)";
	}
}

int pb_wrong_type(struct pbc *c, const json_t *v, const char *want)
{
	int quote = !c->canon && !strcmp(want, "a string") && !json_is_null(v) &&
		    !json_is_object(v) && !json_is_array(v);

	return pb_bad(c, "expected %s, not %s%s", want, pb_kind_of(c, v),
		      quote ? " (quote it)" : "");
}

/* ---- fields ---- */

const char *pb_field(const struct pbc *c, const char *name, char *buf)
{
	size_t n = strlen(name);

	if (n == 0 || name[n - 1] != '~')
		return name;
	snprintf(buf, 64, "%.*s%s", (int)(n - 1), name, c->canon ? "_s" : "");
	return buf;
}

/* names as "a, b, c" in their spelling for this input. */
void pb_name_list(const struct pbc *c, char *out, size_t cap, const char *const *names)
{
	size_t len = 0;

	out[0] = '\0';
	for (const char *const *n = names; *n && len + 1 < cap; n++) {
		char buf[64];
		int w =
		    snprintf(out + len, cap - len, "%s%s", len ? ", " : "", pb_field(c, *n, buf));

		if (w < 0 || (size_t)w >= cap - len)
			break;
		len += (size_t)w;
	}
}

int pb_in_names(const struct pbc *c, const char *const *names, const char *key)
{
	for (const char *const *n = names; *n; n++) {
		char buf[64];

		if (!strcmp(pb_field(c, *n, buf), key))
			return 1;
	}
	return 0;
}

/* A hint for a duration spelt the other way ("timeout_s" in a file). */
const char *pb_spelling_hint(const struct pbc *c, const char *const *names, const char *key)
{
	size_t kl = strlen(key);

	for (const char *const *n = names; *n; n++) {
		size_t nl = strlen(*n);

		if (nl < 2 || (*n)[nl - 1] != '~')
			continue;
		if (c->canon && kl == nl - 1 && !strncmp(key, *n, kl))
			return " (canonical JSON gives durations in seconds, as NAME_s)";
		if (!c->canon && kl == nl + 1 && !strncmp(key, *n, nl - 1) &&
		    !strcmp(key + nl - 1, "_s"))
			return " (a playbook file writes durations as '30s', without _s)";
	}
	return "";
}

int pb_only(struct pbc *c, const json_t *obj, const char *const *names, const char *what)
{
	const char *key;
	json_t *v;

	json_object_foreach ((json_t *)(uintptr_t)obj, key, v) {
		char list[160];

		(void)v;
		if (pb_in_names(c, names, key))
			continue;
		pb_name_list(c, list, sizeof(list), names);
		pb_key(c, obj, key);
		if (!*names)
			return pb_bad(c, "unknown field (%s: none are allowed)", what);
		return pb_bad(c, "unknown field in %s%s (allowed: %s)", what,
			      pb_spelling_hint(c, names, key), list);
	}
	return 0;
}

int pb_missing(struct pbc *c, const char *key)
{
	return pb_bad(c, "missing field '%s'", key);
}

int pb_obj(struct pbc *c, const json_t *in, const char *key, int flags, const json_t **v)
{
	const json_t *x = json_object_get(in, key);
	struct pb_at a;

	if (!x)
		return flags & PB_REQ ? pb_missing(c, key) : 0;
	a = pb_key(c, in, key);
	if (!json_is_object(x))
		return pb_wrong_type(c, x, c->canon ? "an object" : "a mapping");
	pb_back(c, a);
	*v = x;
	return 0;
}

int pb_str(struct pbc *c, json_t *out, const json_t *in, const char *key, int flags, size_t max,
	   const char **v)
{
	const json_t *x = json_object_get(in, key);
	struct pb_at a;
	size_t n;
	int rc;

	if (!x)
		return flags & PB_REQ ? pb_missing(c, key) : 0;
	a = pb_key(c, in, key);
	if (!json_is_string(x))
		return pb_wrong_type(c, x, "a string");
	n = json_string_length(x);
	if (strlen(json_string_value(x)) != n)
		return pb_bad(c, "NUL byte in a string");
	if (n == 0 && !(flags & PB_EMPTY_OK))
		return pb_bad(c, "must not be empty");
	if (n > max)
		return pb_bad(c, "longer than %zu bytes", max);
	if ((flags & PB_TEMPLATE) && (rc = pb_template_check(c, x)) < 0)
		return rc;
	if ((rc = pb_put(c, out, key, json_string(json_string_value(x)))) < 0)
		return rc;
	pb_back(c, a);
	if (v)
		*v = json_string_value(x);
	return 0;
}

int pb_int(struct pbc *c, json_t *out, const json_t *in, const char *key, int flags, int64_t min,
	   int64_t max, int64_t *v)
{
	const json_t *x = json_object_get(in, key);
	struct pb_at a;
	json_int_t n;
	int rc;

	if (!x)
		return flags & PB_REQ ? pb_missing(c, key) : 0;
	a = pb_key(c, in, key);
	if (!json_is_integer(x))
		return pb_wrong_type(c, x, "an integer");
	n = json_integer_value(x);
	if (n < min || n > max)
		return pb_bad(c, "%lld is out of range %lld..%lld", (long long)n, (long long)min,
			      (long long)max);
	if ((rc = pb_put(c, out, key, json_integer(n))) < 0)
		return rc;
	pb_back(c, a);
	if (v)
		*v = n;
	return 0;
}

int pb_bool(struct pbc *c, json_t *out, const json_t *in, const char *key, int def)
{
	const json_t *x = json_object_get(in, key);
	struct pb_at a;
	int rc;

	if (!x)
		return pb_put(c, out, key, json_boolean(def));
	a = pb_key(c, in, key);
	if (!json_is_boolean(x))
		return pb_wrong_type(c, x, "true or false");
	if ((rc = pb_put(c, out, key, json_boolean(json_is_true(x)))) < 0)
		return rc;
	pb_back(c, a);
	return 0;
}

int pb_enum(struct pbc *c, json_t *out, const json_t *in, const char *key, int flags,
	    const char *const *names, const char *def, const char **v)
{
	const char *s = NULL;
	char list[160];
	int rc;

	if (!json_object_get(in, key)) {
		if (flags & PB_REQ)
			return pb_missing(c, key);
		if (def && (rc = pb_put(c, out, key, json_string(def))) < 0)
			return rc;
		if (v && def)
			*v = def;
		return 0;
	}
	if ((rc = pb_str(c, NULL, in, key, PB_EMPTY_OK, 128, &s)) < 0)
		return rc;
	for (const char *const *n = names; *n; n++)
		if (!strcmp(*n, s)) {
			if (v)
				*v = *n;
			return pb_put(c, out, key, json_string(*n));
		}
	pb_key(c, in, key);
	pb_name_list(c, list, sizeof(list), names);
	return pb_bad(c, "'%.64s' is not one of %s", s, list);
}

/* "90s", "10m", "2h", "7d" -> seconds; -1 when not of that form. */
static int64_t dur_parse(const char *s)
{
	int64_t n = 0, mul;
	size_t i = 0;

	/* an integer and one unit: "1h30m" and a bare "90" are not durations here */
	while (s[i] >= '0' && s[i] <= '9' && i < 9)
		n = n * 10 + (s[i++] - '0');
	if (i == 0 || !s[i] || s[i + 1])
		return -1;
	switch (s[i]) {
	case 's': mul = 1; break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	default: return -1;
	}
	return n * mul;
}

/* 90 -> "90s", 600 -> "10m", for messages in the file's spelling. */
static void dur_fmt(char out[24], int64_t s)
{
	if (s % 86400 == 0)
		snprintf(out, 24, "%lldd", (long long)(s / 86400));
	else if (s % 3600 == 0)
		snprintf(out, 24, "%lldh", (long long)(s / 3600));
	else if (s % 60 == 0)
		snprintf(out, 24, "%lldm", (long long)(s / 60));
	else
		snprintf(out, 24, "%llds", (long long)s);
}

int pb_dur(struct pbc *c, json_t *out, const json_t *in, const char *key, int flags, int64_t min,
	   int64_t max, int64_t def, int64_t *v)
{
	char ok[64], lo[24], hi[24];
	const json_t *x;
	struct pb_at a;
	int64_t s;
	int rc;

	snprintf(ok, sizeof(ok), "%s_s", key);
	x = json_object_get(in, c->canon ? ok : key);
	if (!x) {
		if (flags & PB_REQ)
			return pb_missing(c, c->canon ? ok : key);
		if (def > 0 && (rc = pb_put(c, out, ok, json_integer(def))) < 0)
			return rc;
		if (v && def > 0)
			*v = def;
		return 0;
	}
	a = pb_key(c, in, c->canon ? ok : key);
	dur_fmt(lo, min);
	dur_fmt(hi, max);
	if (c->canon) {
		if (!json_is_integer(x))
			return pb_wrong_type(c, x, "an integer (seconds)");
		s = json_integer_value(x);
		if (s < min || s > max)
			return pb_bad(c, "%lld is out of range %lld..%lld (%s..%s)", (long long)s,
				      (long long)min, (long long)max, lo, hi);
	} else {
		if (!json_is_string(x) || (s = dur_parse(json_string_value(x))) < 0)
			return pb_bad(c, "expected a duration such as 90s, 10m, 2h or 7d");
		if (s < min || s > max)
			return pb_bad(c, "%s is out of range %s..%s", json_string_value(x), lo, hi);
	}
	if ((rc = pb_put(c, out, ok, json_integer(s))) < 0)
		return rc;
	pb_back(c, a);
	if (v)
		*v = s;
	return 0;
}

#include "fairlead/json.h"

#include "fairlead/map.h"

#include <stdlib.h>
#include <string.h>

/* jansson recurses once per level of nesting and allows 2,048 levels, more
 * than a server worker's stack holds: count the levels first, in one pass
 * that does not recurse. Brackets inside strings do not count; input this
 * pass misreads is input jansson refuses at that same point. */
static int check_depth(const char *data, size_t len, struct fl_err *err)
{
	int depth = 0, in_string = 0;

	for (size_t i = 0; i < len; i++) {
		char c = data[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > FL_JSON_MAX_DEPTH)
				return fl_err_set(err, FL_EINVAL,
						  "JSON nested deeper than %d levels",
						  FL_JSON_MAX_DEPTH);
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return 0;
}

int fl_json_parse(json_t **out, const char *data, size_t len, struct fl_err *err)
{
	json_error_t je;
	json_t *v;
	int rc;

	*out = NULL;
	if ((rc = check_depth(data, len, err)) < 0)
		return rc;
	/* JSON_REJECT_DUPLICATES: two "state" keys must not mean "the last one". */
	v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (!v)
		return fl_err_set(err, FL_EINVAL, "malformed JSON at line %d column %d: %s",
				  je.line, je.column, je.text);
	*out = v;
	return 0;
}

int fl_json_parse_object(json_t **out, const char *data, size_t len, struct fl_err *err)
{
	int rc = fl_json_parse(out, data, len, err);

	if (rc < 0)
		return rc;
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return fl_err_set(err, FL_EINVAL, "request body must be a JSON object");
	}
	return 0;
}

/* 1 when v nests deeper than max. Recursion stops at max + 1 levels, and
 * parsed values are at most FL_JSON_MAX_DEPTH deep anyway. */
static int deeper_than(const json_t *v, int max)
{
	const char *key;
	json_t *x;
	size_t i;

	if (!json_is_array(v) && !json_is_object(v))
		return 0;
	if (max <= 0)
		return 1;
	if (json_is_array(v)) {
		json_array_foreach ((json_t *)(uintptr_t)v, i, x)
			if (deeper_than(x, max - 1))
				return 1;
	} else {
		json_object_foreach ((json_t *)(uintptr_t)v, key, x)
			if (deeper_than(x, max - 1))
				return 1;
	}
	return 0;
}

int fl_json_doc_check(const json_t *v, const char *what, struct fl_err *err)
{
	if (deeper_than(v, FL_JSON_DOC_DEPTH))
		return fl_err_set(err, FL_EINVAL, "%s nested deeper than %d levels", what,
				  FL_JSON_DOC_DEPTH);
	return 0;
}

int fl_json_only(const json_t *obj, const char *const *allowed, struct fl_err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach ((json_t *)(uintptr_t)obj, key, v) {
		const char *const *a;
		int ok = 0;

		(void)v;
		for (a = allowed; *a; a++)
			if (strcmp(*a, key) == 0) {
				ok = 1;
				break;
			}
		if (!ok)
			return fl_err_set(err, FL_EINVAL, "unknown field '%.64s'", key);
	}
	return 0;
}

static int missing(const char *key, int required, struct fl_err *err)
{
	if (required)
		return fl_err_set(err, FL_EINVAL, "field '%s' is required", key);
	return 0;
}

int fl_json_str(const char **out, const json_t *obj, const char *key, int required,
		struct fl_err *err)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v))
		return missing(key, required, err);
	if (!json_is_string(v))
		return fl_err_set(err, FL_EINVAL, "field '%s' must be a string", key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fl_err_set(err, FL_EINVAL, "field '%s' must not contain NUL", key);
	*out = json_string_value(v);
	return 0;
}

int fl_json_int(int64_t *out, const json_t *obj, const char *key, int required, struct fl_err *err)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v))
		return missing(key, required, err);
	if (!json_is_integer(v))
		return fl_err_set(err, FL_EINVAL, "field '%s' must be an integer", key);
	*out = json_integer_value(v);
	return 0;
}

int fl_json_bool(int *out, const json_t *obj, const char *key, int required, struct fl_err *err)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v))
		return missing(key, required, err);
	if (!json_is_boolean(v))
		return fl_err_set(err, FL_EINVAL, "field '%s' must be a boolean", key);
	*out = json_is_true(v);
	return 0;
}

int fl_json_obj(json_t **out, const json_t *obj, const char *key, int required, struct fl_err *err)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v))
		return missing(key, required, err);
	if (!json_is_object(v))
		return fl_err_set(err, FL_EINVAL, "field '%s' must be an object", key);
	*out = v;
	return 0;
}

static int dump_cb(const char *data, size_t size, void *ctx)
{
	return fl_buf_put(ctx, data, size) < 0 ? -1 : 0;
}

int fl_json_dump(struct fl_buf *b, const json_t *v)
{
	if (json_dump_callback(v, dump_cb, b, FL_JSON_FLAGS) != 0)
		return FL_ENOMEM;
	return 0;
}

char *fl_json_dumps(const json_t *v)
{
	return json_dumps(v, FL_JSON_FLAGS);
}

uint64_t fl_json_hash(const json_t *v)
{
	uint64_t h = FL_HASH_SEED, sum = 0;
	const char *key;
	json_t *item;
	size_t i;
	double d;
	int64_t n;
	char t = (char)('0' + json_typeof(v));

	h = fl_hash_bytes(h, &t, 1);
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		/* A sum of the members' hashes, so that the order of keys is not
		 * part of it; each member's hash binds its key to its value. */
		json_object_foreach ((json_t *)(uintptr_t)v, key, item) {
			uint64_t m = fl_hash_bytes(FL_HASH_SEED, key, strlen(key) + 1);
			uint64_t c = fl_json_hash(item);

			sum += fl_hash_bytes(m, &c, sizeof(c));
		}
		return fl_hash_bytes(h, &sum, sizeof(sum));
	case JSON_ARRAY:
		json_array_foreach (v, i, item) {
			uint64_t c = fl_json_hash(item);

			h = fl_hash_bytes(h, &c, sizeof(c));
		}
		return h;
	case JSON_STRING: return fl_hash_bytes(h, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		n = (int64_t)json_integer_value(v);
		return fl_hash_bytes(h, &n, sizeof(n));
	case JSON_REAL: d = json_real_value(v); return fl_hash_bytes(h, &d, sizeof(d));
	default: return h;
	}
}

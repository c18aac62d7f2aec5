/*
 * json.h - jansson helpers with the project's error contract.
 *
 * Parsing never accepts duplicate keys, bare scalars where an object is
 * wanted, or trailing bytes. Write endpoints call fl_json_only() so that an
 * unknown field is an error, not silently ignored. Nesting deeper than
 * FL_JSON_MAX_DEPTH is refused before the parser sees it.
 */
#ifndef FAIRLEAD_JSON_H
#define FAIRLEAD_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "fairlead/buf.h"
#include "fairlead/err.h"

/* Arrays and objects nest at most this deep in any JSON we parse. */
#define FL_JSON_MAX_DEPTH 64
/* Free-form documents an operator gives the server (the desired twin,
 * command arguments) nest at most this deep: they travel on inside other
 * JSON (check-in replies, audit entries, the agent's state and reported
 * twin), which must stay within FL_JSON_MAX_DEPTH for whoever parses it. */
#define FL_JSON_DOC_DEPTH 32

/* Parses len bytes into a new JSON value (caller owns *out). FL_EINVAL with
 * the position of the problem on malformed input, and "JSON nested deeper
 * than 64 levels" when [ and { nest past FL_JSON_MAX_DEPTH. */
int fl_json_parse(json_t **out, const char *data, size_t len, struct fl_err *err);
/* As fl_json_parse, and the value must be an object. */
int fl_json_parse_object(json_t **out, const char *data, size_t len, struct fl_err *err);

/* FL_EINVAL "WHAT nested deeper than 32 levels" when v nests deeper than
 * FL_JSON_DOC_DEPTH (a scalar is 0 levels, [] and {} 1). */
int fl_json_doc_check(const json_t *v, const char *what, struct fl_err *err);

/* FL_EINVAL naming the first key of obj that is not in the NULL-terminated
 * list allowed. */
int fl_json_only(const json_t *obj, const char *const *allowed, struct fl_err *err);

/* Typed getters. A missing key gives FL_EINVAL when required, else leaves *out
 * alone and returns 0 (so set the default first). A key of the wrong type is
 * always FL_EINVAL naming the key. Strings are borrowed from obj. */
int fl_json_str(const char **out, const json_t *obj, const char *key, int required,
		struct fl_err *err);
int fl_json_int(int64_t *out, const json_t *obj, const char *key, int required, struct fl_err *err);
int fl_json_bool(int *out, const json_t *obj, const char *key, int required, struct fl_err *err);
/* Borrowed object (must be a JSON object when present). */
int fl_json_obj(json_t **out, const json_t *obj, const char *key, int required, struct fl_err *err);

/* Compact, keys sorted, and reals with 15 significant digits: what an operator
 * typed as 0.8 is stored and shown as 0.8, not 0.80000000000000004. */
#define FL_JSON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))

/* Compact serialisation, keys sorted, appended to b. */
int fl_json_dump(struct fl_buf *b, const json_t *v);
/* Compact serialisation as a new string (free() it), NULL on OOM. */
char *fl_json_dumps(const json_t *v);
/* A 64-bit hash of a value's content, for telling whether it changed without
 * serialising it: the order of an object's keys does not count, an array's
 * order does. Values that serialise the same hash the same; a real and an
 * integer of one number do not. v must be a parsed document (depth-checked). */
uint64_t fl_json_hash(const json_t *v);

#endif

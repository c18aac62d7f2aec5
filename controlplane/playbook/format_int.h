/*
 * format_int.h - what the files of the playbook format share: the walk's
 * context and helpers (format_fields.c), the checks other modules will own
 * (format_hooks.c), the document (format.c) and the steps (format_steps.c).
 *
 * The walk reads one input object at a time and writes its canonical form
 * into an output object. It stops at the first problem, so the context's
 * path and line are then the problem's place; helpers that descend restore
 * them only on success.
 */
#ifndef CP_PLAYBOOK_FORMAT_INT_H
#define CP_PLAYBOOK_FORMAT_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fairlead/err.h"
#include "fairlead/yaml.h"

#define PB_PATH_MAX   192
#define PB_STR_MAX    4096 /* expressions, templates */
#define PB_NAME_MAX   63
#define PB_DUR_MAX_S  (30 * 86400)
#define PB_STEP_MAX_S (24 * 3600)

struct pbc {
	int canon;			   /* reading canonical JSON (NAME_s), not a file */
	const struct fl_yaml_lines *lines; /* YAML input: where each value is */
	struct fl_err *err;
	char path[PB_PATH_MAX]; /* of the value being read, "" at the top */
	size_t plen;
	int line;	 /* of that value, 0 when unknown */
	int has_targets; /* the playbook has targets (read before the steps) */
	json_t *names;	 /* step name -> the path of the step that has it */
};

/* A place to come back to. */
struct pb_at {
	size_t plen;
	int line;
};

/* Appends ".key" (or "key" at the start; keys cut at 64 bytes) or "[i]" to
 * a path of capacity PB_PATH_MAX; a path that would overflow ends in "...".
 * The JSON line finder builds paths with this too, so they compare equal. */
void pb_path_key(char *path, size_t *len, const char *key);
void pb_path_idx(char *path, size_t *len, size_t i);

/* Descends into obj's key or arr's item i; pb_back returns. */
struct pb_at pb_key(struct pbc *c, const json_t *obj, const char *key);
struct pb_at pb_idx(struct pbc *c, const json_t *arr, size_t i);
void pb_back(struct pbc *c, struct pb_at a);

/* FL_EINVAL "PATH: what" at the current place. */
int pb_bad(struct pbc *c, const char *fmt, ...) FL_PRINTF(2, 3);
int pb_oom(struct pbc *c);
/* Sets out[key] = v (a new reference; NULL is out of memory). */
int pb_put(struct pbc *c, json_t *out, const char *key, json_t *v);

/* "expected WANT, not a KIND" at the current place; what v is ("a list"). */
int pb_wrong_type(struct pbc *c, const json_t *v, const char *want);
const char *pb_kind_of(const struct pbc *c, const json_t *v);
/* "missing field 'KEY'" at the current place (the object's). */
int pb_missing(struct pbc *c, const char *key);

/* The fields of obj must be among names (NULL-terminated). A name ending in
 * '~' is a duration: NAME in a file, NAME_s in canonical JSON. what names
 * obj in the message ("the step", "webhook params"). */
int pb_only(struct pbc *c, const json_t *obj, const char *const *names, const char *what);
/* 1 when key is one of names; names as "a, b, c"; a hint when key is a
 * duration of names spelt the other input's way ("" when not). */
int pb_in_names(const struct pbc *c, const char *const *names, const char *key);
void pb_name_list(const struct pbc *c, char *out, size_t cap, const char *const *names);
const char *pb_spelling_hint(const struct pbc *c, const char *const *names, const char *key);
/* The key obj holds for field name: name, or name_s for a duration in
 * canonical JSON; buf holds 64 bytes. */
const char *pb_field(const struct pbc *c, const char *name, char *buf);

enum {
	PB_REQ = 1,	 /* the field must be present */
	PB_EMPTY_OK = 2, /* a string may be empty */
	PB_TEMPLATE = 4, /* a string may hold {{ PATH }} parts */
};

/* Typed fields of in, copied to out (canonical name; out NULL: not copied)
 * when present. Each returns 0 and leaves *v alone when the field is absent
 * and not PB_REQ. */
int pb_str(struct pbc *c, json_t *out, const json_t *in, const char *key, int flags, size_t max,
	   const char **v);
int pb_int(struct pbc *c, json_t *out, const json_t *in, const char *key, int flags, int64_t min,
	   int64_t max, int64_t *v);
int pb_bool(struct pbc *c, json_t *out, const json_t *in, const char *key, int def);
/* One of names (NULL-terminated); def is written when absent (NULL: none). */
int pb_enum(struct pbc *c, json_t *out, const json_t *in, const char *key, int flags,
	    const char *const *names, const char *def, const char **v);
/* A duration field "key" (in canonical JSON "key_s"), in [min, max] seconds;
 * def > 0 is written when absent. */
int pb_dur(struct pbc *c, json_t *out, const json_t *in, const char *key, int flags, int64_t min,
	   int64_t max, int64_t def, int64_t *v);
/* A borrowed object field (FL_EINVAL when present and not an object). */
int pb_obj(struct pbc *c, const json_t *in, const char *key, int flags, const json_t **v);

/* ---- the checks other modules will own (format_hooks.c) ---- */

enum pb_expr_kind {
	PB_EXPR_CONDITION, /* the playbook's condition: root event */
	PB_EXPR_WHERE,	   /* targets.where: root device */
	PB_EXPR_VERIFY,	   /* a step's verify.condition: roots results, slo, event */
	PB_EXPR_KEY,	   /* a throttle key: a path under event */
};

/* The expression s at the current place (a string of at most PB_STR_MAX). */
int pb_expr_check(struct pbc *c, const char *s, enum pb_expr_kind kind);
/* The expression or path field key of in, copied to out. */
int pb_expr(struct pbc *c, json_t *out, const json_t *in, const char *key, int flags,
	    enum pb_expr_kind kind);
/* The string s (a templated value) at the current place. */
int pb_template_check(struct pbc *c, const json_t *s);
/* A templated id field: checked as an id (util.h) when it holds no {{. */
int pb_templ_id(struct pbc *c, json_t *out, const json_t *in, const char *key, int flags,
		const char **v);
/* A 5-field cron expression at the current place. */
int pb_cron_check(struct pbc *c, const char *expr);
/* Every string of a free-form value (webhook body, command params) is a
 * template; the value nests at most FL_JSON_DOC_DEPTH deep. */
int pb_free_form(struct pbc *c, json_t *out, const json_t *in, const char *key);

/* ---- format_steps.c ---- */

/* The steps list of the playbook doc into out["steps"]. */
int pb_steps(struct pbc *c, json_t *out, const json_t *doc);

#endif

/*
 * expr.h - the expression language of playbooks (conditions, verify, where):
 *
 *   event.alert.severity == "page" and not (event.slo in ["a", "b"])
 *
 * Literals ("s", 's', -3, 0.25, true, false, null, [..]), paths
 * (event.alerts[0].labels.x, roots given by the caller in ctx), and, lowest to
 * highest: or; and; not; == != < <= > >= in, not in, contains, matches (glob),
 * is defined, is not defined; unary -; parentheses. A path that does not
 * resolve is null. and, or, not and the comparisons give true or false.
 *
 * Compiled expressions are immutable: one may be evaluated from several
 * threads at once. Evaluation allocates nothing but the value that
 * cp_pb_expr_value returns, and recurses at most CP_PB_EXPR_MAX_DEPTH deep.
 */
#ifndef CP_PLAYBOOK_EXPR_H
#define CP_PLAYBOOK_EXPR_H

#include <jansson.h>
#include <stddef.h>

#include "fairlead/err.h"

#define CP_PB_EXPR_MAX_SRC   4096 /* bytes of source */
#define CP_PB_EXPR_MAX_NODES 256  /* literals, paths, operators and lists */
#define CP_PB_EXPR_MAX_DEPTH 32	  /* levels of nodes, and of ( [ not - in the source */
#define CP_PB_GLOB_MAX	     256  /* bytes of a glob pattern and of its subject */

struct cp_pb_expr;

/* Compiles src. A syntax error is FL_EINVAL "column N: what" (N counts bytes
 * from 1); a bound passed is FL_EINVAL naming it. *out is caller-owned. */
int cp_pb_expr_compile(struct cp_pb_expr **out, const char *src, struct fl_err *err);
/* Evaluates e against ctx, a JSON object whose members are the roots (event,
 * device, slo, results, now...). *truth is 1 or 0, the JSON truthiness of the
 * value: false, null, 0, "", [] and {} are false. Errors only for resource
 * limits (none today: evaluation allocates nothing). */
int cp_pb_expr_eval(int *truth, const struct cp_pb_expr *e, const json_t *ctx, struct fl_err *err);
/* The value of e: a new value (caller decrefs) sharing nothing with ctx. */
int cp_pb_expr_value(json_t **out, const struct cp_pb_expr *e, const json_t *ctx,
		     struct fl_err *err);
/* The paths e reads, as written ("event.device.labels.site"), once each in
 * the order they appear: a new JSON array of strings. */
int cp_pb_expr_paths(json_t **out, const struct cp_pb_expr *e);
/* NULL: no-op. */
void cp_pb_expr_free(struct cp_pb_expr *e);

/* Resolves a path ("event.alerts[0].labels.x") in ctx: borrowed, NULL when
 * absent or when path is not a path. */
const json_t *cp_pb_path_get(const json_t *ctx, const char *path);
/* The length of the path s starts with: a root [A-Za-z_][A-Za-z0-9_-]*, then
 * any of .NAME ([A-Za-z0-9_-]+) and [INDEX] (decimal digits). 0: none. */
size_t cp_pb_path_len(const char *s);

#endif

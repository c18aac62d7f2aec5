/*
 * template.h - {{ PATH }} parts in the strings of a playbook (step params,
 * target selector and device):
 *
 *   site={{ event.device.labels.site }},stage=canary
 *
 * PATH is a path of expr.h (no expression); spaces around it are optional.
 * A string that is exactly one {{ PATH }} renders as the value with its JSON
 * type; otherwise each part becomes the value's text (a string as it is,
 * anything else in compact JSON). A path that is absent or null is an error.
 * Compiled templates are immutable and may be rendered from several threads.
 */
#ifndef CP_PLAYBOOK_TEMPLATE_H
#define CP_PLAYBOOK_TEMPLATE_H

#include <jansson.h>

#include "fairlead/err.h"

#define CP_PB_TMPL_MAX 65536 /* bytes of a template and of what it renders */

struct cp_pb_tmpl;

/* Compiles src (at most CP_PB_TMPL_MAX bytes of UTF-8). A {{ not followed by
 * a path and }} is FL_EINVAL "column N: what". *out is caller-owned. */
int cp_pb_tmpl_compile(struct cp_pb_tmpl **out, const char *src, struct fl_err *err);
/* 1 when the source has no {{ }} part at all. */
int cp_pb_tmpl_is_literal(const struct cp_pb_tmpl *t);
/* Renders t against ctx (roots as for expressions): a new value. A missing
 * value is FL_EINVAL "template: PATH is undefined"; a result over
 * CP_PB_TMPL_MAX bytes (as compact JSON when typed) is FL_ETOOBIG. */
int cp_pb_tmpl_render(json_t **out, const struct cp_pb_tmpl *t, const json_t *ctx,
		      struct fl_err *err);
/* NULL: no-op. */
void cp_pb_tmpl_free(struct cp_pb_tmpl *t);

/* Renders every string leaf of tree (object keys are left alone) into a new
 * tree; an error is prefixed with the JSON pointer of its leaf ("/url: "). */
int cp_pb_tmpl_render_tree(json_t **out, const json_t *tree, const json_t *ctx, struct fl_err *err);
/* Checks that every string leaf of tree compiles; err names the JSON pointer
 * of the first bad leaf ("/body/text: column 3: ..."). */
int cp_pb_tmpl_check_tree(const json_t *tree, struct fl_err *err);

#endif

#include "playbook/template.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/buf.h"
#include "fairlead/json.h"
#include "playbook/expr.h"

/* Text, or a {{ PATH }}. */
struct part {
	size_t off, len; /* in src */
	int path;	 /* src[off + len] is a NUL: a path is a C string in place */
};

struct cp_pb_tmpl {
	char *src;
	size_t nparts;
	struct part parts[];
};

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

static void emit(struct part *parts, size_t *n, size_t off, size_t len, int path)
{
	if (parts)
		parts[*n] = (struct part){off, len, path};
	(*n)++;
}

/* Splits src into parts. Run twice: first (parts NULL) to check and count,
 * then to fill parts and end each path with a NUL in copy, where the byte
 * after a path is a space or '}' that belongs to no text part. */
static int scan(struct part *parts, size_t *n, const char *src, char *copy, struct fl_err *err)
{
	size_t i = 0, text = 0, open, start, j, len;

	*n = 0;
	while (src[i]) {
		if (src[i] != '{' || src[i + 1] != '{') {
			i++;
			continue;
		}
		if (i > text)
			emit(parts, n, text, i - text, 0);
		open = i;
		for (j = i + 2; is_space(src[j]); j++)
			;
		start = j;
		len = cp_pb_path_len(src + start);
		if (len == 0) {
			if (!strstr(src + open + 2, "}}"))
				return fl_err_set(err, FL_EINVAL, "column %zu: unclosed '{{'",
						  open + 1);
			return fl_err_set(err, FL_EINVAL, "column %zu: expected a path after '{{'",
					  j + 1);
		}
		emit(parts, n, start, len, 1);
		for (j = start + len; is_space(src[j]); j++)
			;
		if (src[j] != '}' || src[j + 1] != '}') {
			if (!strstr(src + j, "}}"))
				return fl_err_set(err, FL_EINVAL, "column %zu: unclosed '{{'",
						  open + 1);
			return fl_err_set(err, FL_EINVAL,
					  "column %zu: expected '}}' after the path", j + 1);
		}
		if (copy)
			copy[start + len] = '\0';
		i = text = j + 2;
	}
	if (i > text)
		emit(parts, n, text, i - text, 0);
	return 0;
}

int cp_pb_tmpl_compile(struct cp_pb_tmpl **out, const char *src, struct fl_err *err)
{
	struct cp_pb_tmpl *t = NULL;
	json_t *utf8;
	size_t len, n;
	int rc;

	*out = NULL;
	if (!src)
		src = "";
	len = strnlen(src, CP_PB_TMPL_MAX + 1);
	if (len > CP_PB_TMPL_MAX)
		return fl_err_set(err, FL_EINVAL, "template longer than %d bytes", CP_PB_TMPL_MAX);
	/* Rendering makes JSON strings of the text: refuse what jansson would
	 * (NULL for invalid UTF-8, as yaml.c reads it) now, not at run time. */
	if (!(utf8 = json_stringn(src, len)))
		return fl_err_set(err, FL_EINVAL, "template is not valid UTF-8");
	json_decref(utf8);
	if ((rc = scan(NULL, &n, src, NULL, err)) < 0)
		return rc;
	if (!(t = calloc(1, sizeof(*t) + n * sizeof(t->parts[0]))) || !(t->src = strdup(src))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = scan(t->parts, &t->nparts, src, t->src, err)) < 0)
		goto cleanup;
	*out = t;
	t = NULL;
cleanup:
	cp_pb_tmpl_free(t);
	return rc;
}

int cp_pb_tmpl_is_literal(const struct cp_pb_tmpl *t)
{
	for (size_t i = 0; i < t->nparts; i++)
		if (t->parts[i].path)
			return 0;
	return 1;
}

void cp_pb_tmpl_free(struct cp_pb_tmpl *t)
{
	if (!t)
		return;
	free(t->src);
	free(t);
}

/* The value of a path part; null counts as missing, so that an unset label
 * never renders as "" or null into a selector or a command. */
static int lookup(const json_t **out, const struct cp_pb_tmpl *t, const struct part *p,
		  const json_t *ctx, struct fl_err *err)
{
	const char *path = t->src + p->off;

	*out = cp_pb_path_get(ctx, path);
	if (!*out || json_is_null(*out))
		return fl_err_set(err, FL_EINVAL, "template: %.200s is undefined", path);
	return 0;
}

static int too_big(struct fl_err *err)
{
	return fl_err_set(err, FL_ETOOBIG, "template: rendered value longer than %d bytes",
			  CP_PB_TMPL_MAX);
}

int cp_pb_tmpl_render(json_t **out, const struct cp_pb_tmpl *t, const json_t *ctx,
		      struct fl_err *err)
{
	struct fl_buf b = FL_BUF_INIT;
	const json_t *v;
	int rc = 0;

	*out = NULL;
	if (!t)
		return fl_err_set(err, FL_EINVAL, "template: none");
	if (t->nparts == 1 && t->parts[0].path) {
		if ((rc = lookup(&v, t, &t->parts[0], ctx, err)) < 0)
			return rc;
		/* json_dumpb with no buffer only measures. */
		if (json_dumpb(v, NULL, 0, FL_JSON_FLAGS) > CP_PB_TMPL_MAX)
			return too_big(err);
		/* A copy: the caller may change what it gets, ctx is shared. */
		if (!(*out = json_deep_copy(v)))
			return fl_err_set(err, FL_ENOMEM, "out of memory");
		return 0;
	}
	for (size_t i = 0; i < t->nparts; i++) {
		const struct part *p = &t->parts[i];

		if (!p->path) {
			rc = fl_buf_put(&b, t->src + p->off, p->len);
		} else if ((rc = lookup(&v, t, p, ctx, err)) < 0) {
			goto cleanup;
		} else if (json_is_string(v)) {
			rc = fl_buf_put(&b, json_string_value(v), json_string_length(v));
		} else {
			rc = fl_json_dump(&b, v);
		}
		if (rc < 0) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
		/* Checked after each part: at most one value past the bound
		 * is ever held. */
		if (b.len > CP_PB_TMPL_MAX) {
			rc = too_big(err);
			goto cleanup;
		}
	}
	if (!(*out = json_stringn(b.ptr ? b.ptr : "", b.len)))
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
cleanup:
	fl_buf_release(&b);
	return rc;
}

/* The JSON pointer (RFC 6901) of the leaf being walked, for messages. It
 * fits the 128 bytes fl_err_prefix gives a prefix; longer ends in "...". */
struct ptr {
	char s[120];
	size_t len;
};

static size_t ptr_push(struct ptr *p, const char *key, size_t klen)
{
	size_t old = p->len, room = sizeof(p->s) - 4; /* "..." and the NUL */

	if (p->len + 1 > room)
		return old;
	p->s[p->len++] = '/';
	for (size_t i = 0; i < klen; i++) {
		const char *esc = key[i] == '~' ? "~0" : key[i] == '/' ? "~1" : NULL;
		size_t n = esc ? 2 : 1;

		if (p->len + n > room) {
			memcpy(p->s + p->len, "...", 3);
			p->len += 3;
			break;
		}
		if (esc)
			memcpy(p->s + p->len, esc, 2);
		else
			p->s[p->len] = key[i];
		p->len += n;
	}
	p->s[p->len] = '\0';
	return old;
}

static void ptr_pop(struct ptr *p, size_t old)
{
	p->len = old;
	p->s[old] = '\0';
}

static int at(struct fl_err *err, const struct ptr *p, int rc)
{
	if (err && p->len)
		fl_err_prefix(err, "%s", p->s);
	return rc;
}

/* Renders (out != NULL) or checks (out == NULL) the tree v. Recurses per
 * level of v, at most FL_JSON_MAX_DEPTH: deeper than our parsers accept. */
static int walk(json_t **out, const json_t *v, const json_t *ctx, struct ptr *p, int depth,
		struct fl_err *err)
{
	struct cp_pb_tmpl *t = NULL;
	json_t *copy = NULL, *item = NULL;
	int rc = 0;

	if (out)
		*out = NULL;
	if (depth > FL_JSON_MAX_DEPTH) {
		rc = fl_err_set(err, FL_EINVAL, "nested deeper than %d levels", FL_JSON_MAX_DEPTH);
		return at(err, p, rc);
	}
	if (json_is_string(v)) {
		/* Templates are C strings: a NUL would cut one short unseen. */
		if (memchr(json_string_value(v), '\0', json_string_length(v)))
			return at(err, p, fl_err_set(err, FL_EINVAL, "NUL byte in a string"));
		if ((rc = cp_pb_tmpl_compile(&t, json_string_value(v), err)) < 0 ||
		    (out && (rc = cp_pb_tmpl_render(out, t, ctx, err)) < 0))
			rc = at(err, p, rc);
		cp_pb_tmpl_free(t);
		return rc;
	}
	if (json_is_array(v)) {
		char idx[24];

		if (out && !(copy = json_array()))
			goto oom;
		for (size_t i = 0; i < json_array_size(v); i++) {
			int n = snprintf(idx, sizeof(idx), "%zu", i);
			size_t old = ptr_push(p, idx, (size_t)n);

			rc = walk(out ? &item : NULL, json_array_get(v, i), ctx, p, depth + 1, err);
			ptr_pop(p, old);
			if (rc < 0)
				goto cleanup;
			if (out && json_array_append_new(copy, item) < 0)
				goto oom;
		}
	} else if (json_is_object(v)) {
		json_t *obj = (json_t *)(uintptr_t)v;

		if (out && !(copy = json_object()))
			goto oom;
		for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
			const char *key = json_object_iter_key(it);
			size_t klen = json_object_iter_key_len(it), old = ptr_push(p, key, klen);

			rc = walk(out ? &item : NULL, json_object_iter_value(it), ctx, p, depth + 1,
				  err);
			ptr_pop(p, old);
			if (rc < 0)
				goto cleanup;
			if (out && json_object_setn_new(copy, key, klen, item) < 0)
				goto oom;
		}
	} else if (out && !(copy = json_deep_copy(v))) {
		goto oom;
	}
	if (out) {
		*out = copy;
		copy = NULL;
	}
	goto cleanup;
oom:
	rc = fl_err_set(err, FL_ENOMEM, "out of memory");
cleanup:
	json_decref(copy);
	return rc;
}

int cp_pb_tmpl_render_tree(json_t **out, const json_t *tree, const json_t *ctx, struct fl_err *err)
{
	struct ptr p = {"", 0};

	*out = NULL;
	return walk(out, tree, ctx, &p, 0, err);
}

int cp_pb_tmpl_check_tree(const json_t *tree, struct fl_err *err)
{
	struct ptr p = {"", 0};

	return walk(NULL, tree, NULL, &p, 0, err);
}

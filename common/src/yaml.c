/*
 * yaml.c - the YAML subset of fairlead/yaml.h.
 *
 * Two passes: the input is split into logical lines (indentation, content,
 * line number; blank and comment-only lines dropped; document markers kept),
 * then a recursive descent over the lines builds each document. A block
 * collection's extent is its indentation; a value that starts on the line of
 * its key or dash ends on that line, so every scalar is parsed from one line
 * and nothing needs to backtrack. Recursion is bounded by FL_YAML_MAX_DEPTH.
 * When the caller asks for lines, each value's line is recorded as its
 * container takes it (so a block collection gets the line of its key).
 */
#include "fairlead/yaml.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/buf.h"

enum { YL_TEXT, YL_DOC_START, YL_DOC_END };

struct yline {
	int kind;
	int indent;
	const char *s; /* content after the indentation, not NUL-terminated */
	size_t len;    /* trailing blanks and '\r' dropped */
	int no;	       /* 1-based line number */
};

struct yp {
	struct fl_yaml_lines *tab; /* NULL: the caller wants no lines */
	struct yline *lines;
	size_t n;
	size_t i;   /* current line */
	size_t end; /* end of the current document's lines */
	int depth;
	struct fl_err *err;
};

static int perr(struct yp *p, int no, const char *what)
{
	return fl_err_set(p->err, FL_EINVAL, "yaml line %d: %s", no, what);
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* ---- the line table ----
 *
 * Open addressing over (container, key or index) and over value pointers.
 * A value the parser creates is a distinct jansson object except null, true
 * and false, which jansson shares; those are found through their container
 * (the key of a mapping, the index of a sequence) instead. */

struct lent {
	const json_t *c; /* the value itself (key NULL, idx NO_IDX) or its container */
	char *key;	 /* owned: the mapping key of a shared value */
	size_t idx;	 /* the sequence index of a shared value */
	int line;
};

#define NO_IDX ((size_t)-1)

struct fl_yaml_lines {
	struct lent *t;
	size_t cap; /* a power of two, or 0 */
	size_t n;
};

static int shared(const json_t *v)
{
	return json_is_null(v) || json_is_true(v) || json_is_false(v);
}

static size_t lhash(const json_t *c, const char *key, size_t idx)
{
	uint64_t h = (uint64_t)(uintptr_t)c * 0x9e3779b97f4a7c15ull ^ (uint64_t)idx;

	for (const unsigned char *k = (const unsigned char *)key; k && *k; k++)
		h = (h ^ *k) * 0x100000001b3ull;
	return (size_t)(h ^ (h >> 29));
}

static int lsame(const struct lent *e, const json_t *c, const char *key, size_t idx)
{
	if (e->c != c || e->idx != idx || !e->key != !key)
		return 0;
	return !key || strcmp(e->key, key) == 0;
}

static struct lent *lfind(const struct fl_yaml_lines *l, const json_t *c, const char *key,
			  size_t idx)
{
	if (!l || !l->cap || !c)
		return NULL;
	for (size_t i = lhash(c, key, idx) & (l->cap - 1);; i = (i + 1) & (l->cap - 1)) {
		struct lent *e = &l->t[i];

		if (!e->c)
			return NULL;
		if (lsame(e, c, key, idx))
			return e;
	}
}

/* Adds an entry (each value is recorded once, when its container takes it).
 * The table stays at most half full; its size is bounded by the number of
 * values, itself below the input's length. */
static int ladd(struct fl_yaml_lines *l, const json_t *c, const char *key, size_t idx, int line)
{
	struct lent *e;

	if (2 * (l->n + 1) > l->cap) {
		size_t ncap = l->cap ? 2 * l->cap : 256;
		struct lent *nt = calloc(ncap, sizeof(*nt));

		if (!nt)
			return FL_ENOMEM;
		for (size_t i = 0; i < l->cap; i++) {
			size_t j;

			if (!l->t[i].c)
				continue;
			j = lhash(l->t[i].c, l->t[i].key, l->t[i].idx) & (ncap - 1);
			while (nt[j].c)
				j = (j + 1) & (ncap - 1);
			nt[j] = l->t[i];
		}
		free(l->t);
		l->t = nt;
		l->cap = ncap;
	}
	if ((e = lfind(l, c, key, idx))) {
		e->line = line;
		return 0;
	}
	for (size_t i = lhash(c, key, idx) & (l->cap - 1);; i = (i + 1) & (l->cap - 1)) {
		if (l->t[i].c)
			continue;
		e = &l->t[i];
		break;
	}
	if (key && !(e->key = strdup(key)))
		return FL_ENOMEM;
	e->c = c;
	e->idx = idx;
	e->line = line;
	l->n++;
	return 0;
}

/* Records the line of v, which container c just took under key or at idx. */
static int record(struct yp *p, const json_t *c, const char *key, size_t idx, const json_t *v,
		  int line)
{
	int rc;

	if (!p->tab)
		return 0;
	rc = shared(v) ? ladd(p->tab, c, key, key ? NO_IDX : idx, line)
		       : ladd(p->tab, v, NULL, NO_IDX, line);
	return rc < 0 ? fl_err_set(p->err, FL_ENOMEM, "out of memory") : 0;
}

int fl_yaml_line(const struct fl_yaml_lines *l, const json_t *v)
{
	const struct lent *e = v && !shared(v) ? lfind(l, v, NULL, NO_IDX) : NULL;

	return e ? e->line : 0;
}

int fl_yaml_key_line(const struct fl_yaml_lines *l, const json_t *obj, const char *key)
{
	const json_t *v = json_is_object(obj) && key ? json_object_get(obj, key) : NULL;
	const struct lent *e;

	if (!v)
		return 0;
	if (!shared(v))
		return fl_yaml_line(l, v);
	e = lfind(l, obj, key, NO_IDX);
	return e ? e->line : 0;
}

int fl_yaml_index_line(const struct fl_yaml_lines *l, const json_t *arr, size_t i)
{
	const json_t *v = json_is_array(arr) ? json_array_get(arr, i) : NULL;
	const struct lent *e;

	if (!v)
		return 0;
	if (!shared(v))
		return fl_yaml_line(l, v);
	e = lfind(l, arr, NULL, i);
	return e ? e->line : 0;
}

void fl_yaml_lines_free(struct fl_yaml_lines *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->cap; i++)
		free(l->t[i].key);
	free(l->t);
	free(l);
}

/* ---- scalars ---- */

static int put_utf8(struct fl_buf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return fl_buf_put(b, u, n);
}

static int hexdigits(uint32_t *out, const char *s, size_t avail, size_t n)
{
	uint32_t v = 0;

	if (avail < n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;

		if (d < 0)
			return -1;
		v = v * 16 + (uint32_t)d;
	}
	*out = v;
	return 0;
}

/* A string value from bytes; jansson refuses invalid UTF-8 (NULL). */
static int mkstr(json_t **out, struct yp *p, int no, const char *s, size_t len)
{
	if (memchr(s, '\0', len))
		return perr(p, no, "NUL byte in a string");
	if (!(*out = json_stringn(s, len)))
		return perr(p, no, "invalid UTF-8 in a string");
	return 0;
}

/* A quoted scalar starting at s[0] (' or "); *used = bytes consumed. */
static int quoted(json_t **out, size_t *used, struct yp *p, int no, const char *s, size_t len)
{
	struct fl_buf b = FL_BUF_INIT;
	char q = s[0];
	size_t i = 1;
	int rc = 0;

	fl_buf_init(&b, FL_YAML_MAX_BYTES);
	for (;;) {
		if (i >= len) {
			rc = perr(p, no,
				  "unterminated quoted string (multi-line scalars are not "
				  "supported)");
			goto cleanup;
		}
		if (s[i] == q) {
			if (q == '\'' && i + 1 < len && s[i + 1] == '\'') {
				rc = fl_buf_put(&b, "'", 1);
				i += 2;
				if (rc < 0)
					goto cleanup;
				continue;
			}
			i++;
			break;
		}
		if (q == '"' && s[i] == '\\') {
			uint32_t cp = 0;
			char c = i + 1 < len ? s[i + 1] : '\0';
			size_t skip = 2;

			switch (c) {
			case '\\': cp = '\\'; break;
			case '"': cp = '"'; break;
			case '/': cp = '/'; break;
			case ' ': cp = ' '; break;
			case 't':
			case '\t': cp = '\t'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'e': cp = 0x1b; break;
			case 'x':
			case 'u':
			case 'U': {
				size_t n = c == 'x' ? 2 : c == 'u' ? 4 : 8;

				if (hexdigits(&cp, s + i + 2, len - i - 2, n) < 0) {
					rc = perr(p, no, "bad \\x, \\u or \\U escape");
					goto cleanup;
				}
				skip += n;
				break;
			}
			default:
				rc = perr(p, no, "unknown escape in a double-quoted string");
				goto cleanup;
			}
			if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
				rc = perr(p, no, "escape is NUL, a surrogate or out of range");
				goto cleanup;
			}
			if ((rc = put_utf8(&b, cp)) < 0)
				goto cleanup;
			i += skip;
			continue;
		}
		if ((rc = fl_buf_put(&b, s + i, 1)) < 0)
			goto cleanup;
		i++;
	}
	*used = i;
	rc = mkstr(out, p, no, b.ptr ? b.ptr : "", b.len);
cleanup:
	if (rc == FL_ETOOBIG || rc == FL_ENOMEM)
		rc = fl_err_set(p->err, rc, "yaml line %d: string too large", no);
	fl_buf_release(&b);
	return rc;
}

static int all_digits(const char *s, size_t n, int base)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int ok = base == 8    ? (c >= '0' && c <= '7')
			 : base == 10 ? (c >= '0' && c <= '9')
				      : ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
					 (c >= 'A' && c <= 'F'));

		if (!ok)
			return 0;
	}
	return 1;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int is_float(const char *s, size_t n)
{
	size_t i = 0, digits = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, digits++;
	}
	if (!digits)
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t e = 0;

		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, e++;
		if (!e)
			return 0;
	}
	return i == n;
}

static int eq(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && memcmp(s, w, n) == 0;
}

/* A plain scalar typed by the YAML 1.2 core schema. */
static int plain(json_t **out, struct yp *p, int no, const char *s, size_t n)
{
	char tmp[64];
	size_t sign = n > 0 && (s[0] == '-' || s[0] == '+');

	*out = NULL;
	if (n == 0 || eq(s, n, "~") || eq(s, n, "null") || eq(s, n, "Null") || eq(s, n, "NULL"))
		*out = json_null();
	else if (eq(s, n, "true") || eq(s, n, "True") || eq(s, n, "TRUE"))
		*out = json_true();
	else if (eq(s, n, "false") || eq(s, n, "False") || eq(s, n, "FALSE"))
		*out = json_false();
	else if (n - sign >= 4 && s[sign] == '.' &&
		 (eq(s + sign + 1, n - sign - 1, "inf") || eq(s + sign + 1, n - sign - 1, "Inf") ||
		  eq(s + sign + 1, n - sign - 1, "INF") || eq(s + sign + 1, n - sign - 1, "nan") ||
		  eq(s + sign + 1, n - sign - 1, "NaN") || eq(s + sign + 1, n - sign - 1, "NAN")))
		return perr(p, no, "infinite and NaN numbers are not supported");
	else if (n < sizeof(tmp) &&
		 ((all_digits(s + sign, n - sign, 10)) ||
		  (n > 2 && s[0] == '0' && s[1] == 'o' && all_digits(s + 2, n - 2, 8)) ||
		  (n > 2 && s[0] == '0' && s[1] == 'x' && all_digits(s + 2, n - 2, 16)))) {
		int base = s[0] == '0' && n > 2 && s[1] == 'o'	 ? 8
			   : s[0] == '0' && n > 2 && s[1] == 'x' ? 16
								 : 10;
		long long v;

		memcpy(tmp, s, n);
		tmp[n] = '\0';
		errno = 0;
		v = strtoll(base == 10 ? tmp : tmp + 2, NULL, base);
		if (errno == ERANGE) {
			if (base != 10)
				return perr(p, no, "integer out of range");
			*out = json_real(strtod(tmp, NULL));
		} else {
			*out = json_integer(v);
		}
	} else if (n < sizeof(tmp) && is_float(s, n)) {
		double d;

		memcpy(tmp, s, n);
		tmp[n] = '\0';
		d = strtod(tmp, NULL);
		if (!isfinite(d))
			return perr(p, no, "number out of range");
		*out = json_real(d);
	} else {
		return mkstr(out, p, no, s, n);
	}
	return *out ? 0 : fl_err_set(p->err, FL_ENOMEM, "out of memory");
}

/* Refuses the indicators this subset does not implement, with their names. */
static int indicator_check(struct yp *p, int no, char c)
{
	switch (c) {
	case '&': return perr(p, no, "anchors (&) are not supported");
	case '*': return perr(p, no, "aliases (*) are not supported");
	case '!': return perr(p, no, "tags (!) are not supported");
	case '|':
	case '>': return perr(p, no, "block scalars (| and >) are not supported");
	case '?': return perr(p, no, "complex keys (?) are not supported");
	case '%':
	case '@':
	case '`': return perr(p, no, "reserved indicator at the start of a scalar");
	default: return 0;
	}
}

/* ---- flow collections (one line) ---- */

static size_t skip_blanks(const char *s, size_t i, size_t n)
{
	while (i < n && is_blank(s[i]))
		i++;
	return i;
}

static int flow_node(json_t **out, struct yp *p, int no, const char *s, size_t n, size_t *i);

/* A scalar inside a flow collection: quoted, or plain up to , ] } or ": ". */
static int flow_scalar(json_t **out, struct yp *p, int no, const char *s, size_t n, size_t *i,
		       int as_key)
{
	size_t a = *i, e;
	int rc;

	if (a < n && (s[a] == '"' || s[a] == '\'')) {
		size_t used;

		if ((rc = quoted(out, &used, p, no, s + a, n - a)) < 0)
			return rc;
		*i = a + used;
		return 0;
	}
	if (a < n && (rc = indicator_check(p, no, s[a])) < 0)
		return rc;
	for (e = a; e < n; e++) {
		if (s[e] == ',' || s[e] == ']' || s[e] == '}' || s[e] == '[' || s[e] == '{')
			break;
		if (s[e] == ':' && (e + 1 == n || is_blank(s[e + 1]) || s[e + 1] == ',' ||
				    s[e + 1] == '}' || s[e + 1] == ']')) {
			if (!as_key)
				return perr(p, no, "':' inside a flow value (quote it)");
			break;
		}
		if (s[e] == '#' && e > a && is_blank(s[e - 1]))
			return perr(p, no, "comment inside a flow collection");
	}
	*i = e;
	while (e > a && is_blank(s[e - 1]))
		e--;
	if (as_key)
		return mkstr(out, p, no, s + a, e - a);
	return plain(out, p, no, s + a, e - a);
}

static int flow_node(json_t **out, struct yp *p, int no, const char *s, size_t n, size_t *i)
{
	char open, close;
	json_t *c = NULL, *k = NULL, *v = NULL;
	int rc = 0;

	*out = NULL;
	*i = skip_blanks(s, *i, n);
	if (*i >= n || (s[*i] != '[' && s[*i] != '{'))
		return flow_scalar(out, p, no, s, n, i, 0);
	if (++p->depth > FL_YAML_MAX_DEPTH) {
		rc = perr(p, no, "nesting too deep");
		goto cleanup;
	}
	open = s[*i];
	close = open == '[' ? ']' : '}';
	c = open == '[' ? json_array() : json_object();
	if (!c) {
		rc = fl_err_set(p->err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	(*i)++;
	for (;;) {
		*i = skip_blanks(s, *i, n);
		if (*i >= n) {
			rc = perr(p, no,
				  "unterminated flow collection (multi-line flow is not "
				  "supported)");
			goto cleanup;
		}
		if (s[*i] == close) {
			(*i)++;
			break;
		}
		if (open == '[') {
			if ((rc = flow_node(&v, p, no, s, n, i)) < 0)
				goto cleanup;
			if (json_array_append_new(c, v) < 0) {
				v = NULL;
				rc = fl_err_set(p->err, FL_ENOMEM, "out of memory");
				goto cleanup;
			}
			rc = record(p, c, NULL, json_array_size(c) - 1, v, no);
			v = NULL;
			if (rc < 0)
				goto cleanup;
		} else {
			if (s[*i] == '[' || s[*i] == '{') {
				rc = perr(p, no, "complex keys are not supported");
				goto cleanup;
			}
			if ((rc = flow_scalar(&k, p, no, s, n, i, 1)) < 0)
				goto cleanup;
			if (!json_is_string(k)) {
				rc = perr(p, no, "mapping keys must be strings");
				goto cleanup;
			}
			*i = skip_blanks(s, *i, n);
			if (*i < n && s[*i] == ':') {
				(*i)++;
				if ((rc = flow_node(&v, p, no, s, n, i)) < 0)
					goto cleanup;
			} else {
				v = json_null();
			}
			if (json_object_get(c, json_string_value(k))) {
				rc = perr(p, no, "duplicate key");
				goto cleanup;
			}
			if (json_object_set_new(c, json_string_value(k), v) < 0) {
				v = NULL;
				rc = fl_err_set(p->err, FL_ENOMEM, "out of memory");
				goto cleanup;
			}
			rc = record(p, c, json_string_value(k), NO_IDX, v, no);
			v = NULL;
			if (rc < 0)
				goto cleanup;
			json_decref(k);
			k = NULL;
		}
		*i = skip_blanks(s, *i, n);
		if (*i < n && s[*i] == ',') {
			(*i)++;
			continue;
		}
		if (*i < n && s[*i] == close)
			continue;
		rc = perr(p, no, "expected ',' or the end of the flow collection");
		goto cleanup;
	}
	p->depth--;
	*out = c;
	c = NULL;
cleanup:
	json_decref(k);
	json_decref(v);
	json_decref(c);
	return rc;
}

/* Only blanks or a comment may follow position i. */
static int rest_empty(struct yp *p, int no, const char *s, size_t n, size_t i)
{
	i = skip_blanks(s, i, n);
	if (i < n && s[i] != '#')
		return perr(p, no, "unexpected text after a value");
	return 0;
}

/* A value that starts and ends on this line (after "key:" or "- "). */
static int inline_value(json_t **out, struct yp *p, int no, const char *s, size_t n)
{
	size_t i = skip_blanks(s, 0, n), e;
	int rc;

	*out = NULL;
	if (i < n && (rc = indicator_check(p, no, s[i])) < 0)
		return rc;
	if (i < n && (s[i] == '[' || s[i] == '{')) {
		if ((rc = flow_node(out, p, no, s, n, &i)) < 0)
			return rc;
		goto rest;
	}
	if (i < n && (s[i] == '"' || s[i] == '\'')) {
		size_t used;

		if ((rc = quoted(out, &used, p, no, s + i, n - i)) < 0)
			return rc;
		i += used;
		goto rest;
	}
	if (i < n && s[i] == '-' && (i + 1 == n || is_blank(s[i + 1])))
		return perr(p, no, "a sequence cannot start on the line of its key");
	for (e = i; e < n; e++) {
		if (s[e] == '#' && e > i && is_blank(s[e - 1]))
			break;
		if (s[e] == ':' && (e + 1 == n || is_blank(s[e + 1])))
			return perr(p, no,
				    "a mapping cannot start on the line of its key (or quote "
				    "the value)");
	}
	while (e > i && is_blank(s[e - 1]))
		e--;
	return plain(out, p, no, s + i, e - i);
rest:
	if ((rc = rest_empty(p, no, s, n, i)) < 0) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

/* ---- block structure ---- */

static int is_seq_item(const struct yline *l)
{
	return l->s[0] == '-' && (l->len == 1 || is_blank(l->s[1]));
}

/* Finds "key:" at the start of l; *key is the key, *vpos the value's
 * offset. 1 found, 0 not a key line, < 0 error. */
static int find_key(json_t **key, size_t *vpos, struct yp *p, const struct yline *l)
{
	const char *s = l->s;
	size_t n = l->len, e;
	int rc;

	*key = NULL;
	if (s[0] == '"' || s[0] == '\'') {
		size_t used, j;

		if ((rc = quoted(key, &used, p, l->no, s, n)) < 0)
			return rc;
		j = skip_blanks(s, used, n);
		if (j < n && s[j] == ':' && (j + 1 == n || is_blank(s[j + 1]))) {
			*vpos = j + 1;
			return 1;
		}
		json_decref(*key);
		*key = NULL;
		return 0;
	}
	if (s[0] == '[' || s[0] == '{' || s[0] == '#')
		return 0;
	for (e = 0; e < n; e++) {
		if (s[e] == '#' && e > 0 && is_blank(s[e - 1]))
			return 0;
		if (s[e] == ':' && (e + 1 == n || is_blank(s[e + 1])))
			break;
	}
	if (e == n)
		return 0;
	if ((rc = indicator_check(p, l->no, s[0])) < 0)
		return rc;
	*vpos = e + 1;
	while (e > 0 && is_blank(s[e - 1]))
		e--;
	if (e == 0)
		return perr(p, l->no, "empty mapping key");
	if ((rc = mkstr(key, p, l->no, s, e)) < 0)
		return rc;
	return 1;
}

static int block(json_t **out, struct yp *p);

/* After a collection entry: a deeper line here would be a continuation. */
static int no_deeper(struct yp *p, int col)
{
	if (p->i < p->end && p->lines[p->i].indent > col)
		return perr(p, p->lines[p->i].no,
			    "unexpected indentation (multi-line scalars are not supported)");
	return 0;
}

static int seq(json_t **out, struct yp *p, int col)
{
	json_t *arr = json_array(), *v = NULL;
	int rc = 0;

	if (!arr)
		return fl_err_set(p->err, FL_ENOMEM, "out of memory");
	while (p->i < p->end && p->lines[p->i].indent == col && is_seq_item(&p->lines[p->i])) {
		struct yline *l = &p->lines[p->i];
		size_t r = skip_blanks(l->s, 1, l->len);
		int no = l->no;

		if (r == l->len || l->s[r] == '#') {
			p->i++;
			if (p->i < p->end && p->lines[p->i].indent > col)
				rc = block(&v, p);
			else
				v = json_null();
		} else {
			/* "- rest": the rest is a node whose column is where it starts. */
			l->indent = col + (int)r;
			l->s += r;
			l->len -= r;
			rc = block(&v, p);
		}
		if (rc < 0 || (rc = no_deeper(p, col)) < 0)
			goto cleanup;
		if (!v || json_array_append_new(arr, v) < 0) {
			v = NULL;
			rc = fl_err_set(p->err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
		rc = record(p, arr, NULL, json_array_size(arr) - 1, v, no);
		v = NULL;
		if (rc < 0)
			goto cleanup;
	}
	*out = arr;
	arr = NULL;
cleanup:
	json_decref(v);
	json_decref(arr);
	return rc;
}

static int map(json_t **out, struct yp *p, int col)
{
	json_t *obj = json_object(), *k = NULL, *v = NULL;
	int rc = 0;

	if (!obj)
		return fl_err_set(p->err, FL_ENOMEM, "out of memory");
	while (p->i < p->end && p->lines[p->i].indent == col) {
		struct yline *l = &p->lines[p->i];
		size_t vpos = 0;

		if (is_seq_item(l)) {
			rc = perr(p, l->no, "a sequence item where a mapping key was expected");
			goto cleanup;
		}
		if ((rc = find_key(&k, &vpos, p, l)) < 0)
			goto cleanup;
		if (rc == 0) {
			rc = perr(p, l->no, "expected 'key: value'");
			goto cleanup;
		}
		if (json_object_get(obj, json_string_value(k))) {
			rc = fl_err_set(p->err, FL_EINVAL, "yaml line %d: duplicate key '%.64s'",
					l->no, json_string_value(k));
			goto cleanup;
		}
		vpos = skip_blanks(l->s, vpos, l->len);
		if (vpos == l->len || l->s[vpos] == '#') {
			p->i++;
			if (p->i < p->end && p->lines[p->i].indent > col)
				rc = block(&v, p);
			else if (p->i < p->end && p->lines[p->i].indent == col &&
				 is_seq_item(&p->lines[p->i]))
				rc = seq(&v, p, col); /* "key:\n- a": the usual style */
			else
				v = json_null();
		} else {
			rc = inline_value(&v, p, l->no, l->s + vpos, l->len - vpos);
			p->i++;
		}
		if (rc < 0 || (rc = no_deeper(p, col)) < 0)
			goto cleanup;
		if (!v || json_object_set_new(obj, json_string_value(k), v) < 0) {
			v = NULL;
			rc = fl_err_set(p->err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
		rc = record(p, obj, json_string_value(k), NO_IDX, v, l->no);
		v = NULL;
		if (rc < 0)
			goto cleanup;
		json_decref(k);
		k = NULL;
	}
	*out = obj;
	obj = NULL;
cleanup:
	json_decref(k);
	json_decref(v);
	json_decref(obj);
	return rc;
}

/* The node starting at the current line, at that line's indentation. */
static int block(json_t **out, struct yp *p)
{
	struct yline *l = &p->lines[p->i];
	json_t *key = NULL;
	size_t vpos;
	int rc;

	*out = NULL;
	if (++p->depth > FL_YAML_MAX_DEPTH)
		return perr(p, l->no, "nesting too deep");
	if (is_seq_item(l)) {
		rc = seq(out, p, l->indent);
	} else if ((rc = find_key(&key, &vpos, p, l)) < 0) {
		return rc;
	} else if (rc == 1) {
		json_decref(key);
		rc = map(out, p, l->indent);
	} else {
		rc = inline_value(out, p, l->no, l->s, l->len);
		p->i++;
	}
	p->depth--;
	return rc;
}

/* ---- lines and documents ---- */

static int split_lines(struct yp *p, const char *data, size_t len)
{
	size_t cap = 0, pos = 0;
	int no = 0;

	while (pos < len) {
		const char *line = data + pos, *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos, ind = 0;
		struct yline l;

		pos += n + (nl ? 1 : 0);
		no++;
		if (memchr(line, '\0', n))
			return perr(p, no, "NUL byte");
		while (n > 0 && (line[n - 1] == '\r' || is_blank(line[n - 1])))
			n--;
		while (ind < n && line[ind] == ' ')
			ind++;
		if (ind == n || line[ind] == '#')
			continue;
		if (line[ind] == '\t')
			return perr(p, no, "tab in indentation (use spaces)");
		memset(&l, 0, sizeof(l));
		l.kind = YL_TEXT;
		l.indent = (int)ind;
		l.s = line + ind;
		l.len = n - ind;
		l.no = no;
		if (ind == 0 && n >= 3 && memcmp(line, "---", 3) == 0 &&
		    (n == 3 || is_blank(line[3]))) {
			size_t r = skip_blanks(line, 3, n);

			if (r < n && line[r] != '#')
				return perr(p, no, "content after '---' is not supported");
			l.kind = YL_DOC_START;
		} else if (ind == 0 && n >= 3 && memcmp(line, "...", 3) == 0 &&
			   (n == 3 || is_blank(line[3]))) {
			l.kind = YL_DOC_END;
		} else if (ind == 0 && line[0] == '%') {
			return perr(p, no, "directives (%) are not supported");
		}
		if (p->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct yline *nl2 = realloc(p->lines, ncap * sizeof(*nl2));

			if (!nl2)
				return fl_err_set(p->err, FL_ENOMEM, "out of memory");
			p->lines = nl2;
			cap = ncap;
		}
		p->lines[p->n++] = l;
	}
	return 0;
}

int fl_yaml_parse_lines(json_t **out, struct fl_yaml_lines **lines, const char *data, size_t len,
			struct fl_err *err)
{
	struct yp p;
	json_t *docs = NULL, *v = NULL;
	int rc;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	p.err = err;
	if (lines) {
		*lines = NULL;
		if (!(p.tab = calloc(1, sizeof(*p.tab))))
			return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	if (len > FL_YAML_MAX_BYTES) {
		fl_yaml_lines_free(p.tab);
		return fl_err_set(err, FL_ETOOBIG, "yaml document larger than %u bytes",
				  FL_YAML_MAX_BYTES);
	}
	if (!(docs = json_array())) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = split_lines(&p, data ? data : "", data ? len : 0)) < 0)
		goto cleanup;
	while (p.i < p.n) {
		size_t start;

		if (p.lines[p.i].kind != YL_TEXT) {
			p.i++;
			continue;
		}
		start = p.i;
		for (p.end = start; p.end < p.n && p.lines[p.end].kind == YL_TEXT; p.end++)
			;
		if (json_array_size(docs) >= FL_YAML_MAX_DOCS) {
			rc = fl_err_set(err, FL_EINVAL, "more than %d yaml documents",
					FL_YAML_MAX_DOCS);
			goto cleanup;
		}
		p.depth = 0;
		if ((rc = block(&v, &p)) < 0)
			goto cleanup;
		if (p.i < p.end) {
			rc = perr(&p, p.lines[p.i].no,
				  p.lines[p.i].indent < p.lines[start].indent
				      ? "less indented than the document's first line"
				      : "unexpected indentation or structure");
			goto cleanup;
		}
		if (json_array_append_new(docs, v) < 0) {
			v = NULL;
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
		rc = record(&p, docs, NULL, json_array_size(docs) - 1, v, p.lines[start].no);
		v = NULL;
		if (rc < 0)
			goto cleanup;
	}
	*out = docs;
	docs = NULL;
	if (lines) {
		*lines = p.tab;
		p.tab = NULL;
	}
	rc = 0;
cleanup:
	json_decref(v);
	json_decref(docs);
	fl_yaml_lines_free(p.tab);
	free(p.lines);
	return rc;
}

int fl_yaml_parse(json_t **out, const char *data, size_t len, struct fl_err *err)
{
	return fl_yaml_parse_lines(out, NULL, data, len, err);
}

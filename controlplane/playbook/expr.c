#define _GNU_SOURCE /* memmem */
#include "playbook/expr.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"

enum op {
	OP_LIT,
	OP_PATH,
	OP_LIST,
	OP_OR,
	OP_AND,
	OP_NOT,
	OP_NEG,
	OP_EQ,
	OP_NE,
	OP_LT,
	OP_LE,
	OP_GT,
	OP_GE,
	OP_IN,
	OP_NOTIN,
	OP_CONTAINS,
	OP_MATCHES,
	OP_DEFINED,
	OP_UNDEFINED,
};

/* One node of the tree, children by index. OR, AND and LIST hold a chain of
 * operands (a, then each one's next), so that "a or b or c" is one node two
 * levels deep, not a tree as deep as it is long: the evaluator recurses on
 * the depth of the tree, and the compiler bounds it. */
struct node {
	uint8_t op;
	uint8_t depth;	   /* levels of the subtree rooted here, 1 for a leaf */
	int16_t a, b;	   /* operands, -1 when none */
	int16_t next;	   /* the next operand in a chain, -1 at its end */
	uint16_t off, len; /* PATH: its text in src */
	json_t *lit;	   /* LIT: the value (owned; true, false and null are singletons) */
};

struct cp_pb_expr {
	int nnodes;
	int root;
	struct node nodes[CP_PB_EXPR_MAX_NODES];
	char src[]; /* the source: PATH nodes are spans of it */
};

/* ---- paths ---- */

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* The bytes of a name after the first (ASCII only: no locale). */
static int is_name(int c)
{
	return is_alpha(c) || is_digit(c) || c == '_' || c == '-';
}

size_t cp_pb_path_len(const char *s)
{
	size_t i = 1, j;

	if (!s || !(is_alpha((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	while (is_name((unsigned char)s[i]))
		i++;
	for (;;) {
		if (s[i] == '.' && is_name((unsigned char)s[i + 1])) {
			i += 2;
			while (is_name((unsigned char)s[i]))
				i++;
		} else if (s[i] == '[' && is_digit((unsigned char)s[i + 1])) {
			for (j = i + 1; is_digit((unsigned char)s[j]); j++)
				;
			if (s[j] != ']')
				break;
			i = j + 1;
		} else {
			break;
		}
	}
	return i;
}

/* Resolves the len bytes at s, which cp_pb_path_len accepted. Keys are
 * looked up by length (json_object_getn), so the path needs no NUL of its
 * own: an expression resolves spans of its source in place. */
static const json_t *path_resolve(const json_t *ctx, const char *s, size_t len)
{
	const json_t *cur = ctx;
	size_t i = 0, j;

	for (j = 1; j < len && is_name((unsigned char)s[j]); j++)
		;
	cur = json_is_object(cur) ? json_object_getn(cur, s, j) : NULL;
	i = j;
	while (cur && i < len) {
		if (s[i] == '.') {
			for (j = ++i; j < len && is_name((unsigned char)s[j]); j++)
				;
			cur = json_is_object(cur) ? json_object_getn(cur, s + i, j - i) : NULL;
			i = j;
		} else {
			size_t idx = 0;

			/* An index too large for size_t saturates: it is out of
			 * range of any array, so the path is null. */
			for (i++; is_digit((unsigned char)s[i]); i++) {
				size_t d = (size_t)(s[i] - '0');

				idx = idx > (SIZE_MAX - d) / 10 ? SIZE_MAX : idx * 10 + d;
			}
			i++; /* ']' */
			cur = json_is_array(cur) ? json_array_get(cur, idx) : NULL;
		}
	}
	return cur;
}

const json_t *cp_pb_path_get(const json_t *ctx, const char *path)
{
	size_t n = cp_pb_path_len(path);

	if (n == 0 || path[n] != '\0')
		return NULL;
	return path_resolve(ctx, path, n);
}

/* ---- the lexer ---- */

enum tok_kind {
	T_END,
	T_NUM,
	T_STR,
	T_PATH,
	T_LPAREN,
	T_RPAREN,
	T_LBRACK,
	T_RBRACK,
	T_COMMA,
	T_EQ,
	T_NE,
	T_LT,
	T_LE,
	T_GT,
	T_GE,
	T_MINUS,
	T_AND,
	T_OR,
	T_NOT,
	T_IN,
	T_CONTAINS,
	T_MATCHES,
	T_IS,
	T_DEFINED,
	T_TRUE,
	T_FALSE,
	T_NULL,
};

static const struct {
	const char *word;
	enum tok_kind kind;
} keywords[] = {
    {"and", T_AND},	      {"or", T_OR},	      {"not", T_NOT},	{"in", T_IN},
    {"contains", T_CONTAINS}, {"matches", T_MATCHES}, {"is", T_IS},	{"defined", T_DEFINED},
    {"true", T_TRUE},	      {"false", T_FALSE},     {"null", T_NULL},
};

struct tok {
	enum tok_kind kind;
	size_t off, len;
};

struct parser {
	struct cp_pb_expr *e;
	const char *src;
	size_t pos; /* where the lexer goes on */
	struct tok tok;
	int nest; /* ( [ not and - entered: each one is a level of recursion */
	struct fl_err *err;
};

static int bad(struct parser *p, size_t off, const char *fmt, ...) FL_PRINTF(3, 4);

/* A syntax error: FL_EINVAL "column N: what", N counting bytes from 1. */
static int bad(struct parser *p, size_t off, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return fl_err_set(p->err, FL_EINVAL, "column %zu: %s", off + 1, what);
}

/* A string literal from its opening quote to its closing one. Only the
 * escapes of the spec: what a playbook means must not depend on guesses. */
static int lex_string(struct parser *p, size_t i)
{
	const char *s = p->src;
	char q = s[i];
	size_t j = i + 1;

	for (;;) {
		if (!s[j])
			return bad(p, i, "unterminated string");
		if (s[j] == '\\') {
			char c = s[j + 1];

			if (!c)
				return bad(p, i, "unterminated string");
			if (c != '"' && c != '\\' && c != 'n') {
				if (c > ' ' && c < 0x7f)
					return bad(p, j, "unknown escape '\\%c'", c);
				return bad(p, j, "unknown escape");
			}
			j += 2;
			continue;
		}
		if (s[j++] == q)
			break;
	}
	p->tok.kind = T_STR;
	p->tok.len = j - i;
	return 0;
}

/* A number in JSON's form without an exponent: -?(0|[1-9][0-9]*)(.[0-9]+)? */
static int lex_number(struct parser *p, size_t i)
{
	const char *s = p->src;
	size_t j = i;

	if (s[j] == '-')
		j++;
	if (s[j] == '0' && is_digit((unsigned char)s[j + 1]))
		return bad(p, i, "bad number (leading zero)");
	while (is_digit((unsigned char)s[j]))
		j++;
	if (s[j] == '.') {
		if (!is_digit((unsigned char)s[++j]))
			return bad(p, i, "bad number");
		while (is_digit((unsigned char)s[j]))
			j++;
	}
	if (is_name((unsigned char)s[j]) || s[j] == '.')
		return bad(p, i, "bad number");
	p->tok.kind = T_NUM;
	p->tok.len = j - i;
	return 0;
}

static int lex_word(struct parser *p, size_t i)
{
	const char *s = p->src;
	size_t j = i + 1, n;

	while (is_name((unsigned char)s[j]))
		j++;
	for (size_t k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++)
		if (strlen(keywords[k].word) == j - i &&
		    memcmp(keywords[k].word, s + i, j - i) == 0) {
			p->tok.kind = keywords[k].kind;
			p->tok.len = j - i;
			return 0;
		}
	n = cp_pb_path_len(s + i);
	/* What stopped the path, when it touches it, is a broken path: say so
	 * rather than "unexpected '.'" at the next token. */
	if (s[i + n] == '.')
		return bad(p, i + n, "expected a name after '.'");
	if (s[i + n] == '[')
		return bad(p, i + n, "expected an index [0-9]+ and ']'");
	p->tok.kind = T_PATH;
	p->tok.len = n;
	return 0;
}

/* Reads the next token into p->tok. */
static int lex(struct parser *p)
{
	const char *s = p->src;
	size_t i = p->pos;
	unsigned char c;
	int rc = 0;

	while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
		i++;
	c = (unsigned char)s[i];
	p->tok.off = i;
	p->tok.len = 1;
	switch (c) {
	case '\0':
		p->tok.kind = T_END;
		p->tok.len = 0;
		break;
	case '(': p->tok.kind = T_LPAREN; break;
	case ')': p->tok.kind = T_RPAREN; break;
	case '[': p->tok.kind = T_LBRACK; break;
	case ']': p->tok.kind = T_RBRACK; break;
	case ',': p->tok.kind = T_COMMA; break;
	case '"':
	case '\'': rc = lex_string(p, i); break;
	case '=':
		if (s[i + 1] != '=')
			return bad(p, i, "'=' is not an operator (use '==')");
		p->tok.kind = T_EQ;
		p->tok.len = 2;
		break;
	case '!':
		if (s[i + 1] != '=')
			return bad(p, i, "'!' is not an operator (use 'not' or '!=')");
		p->tok.kind = T_NE;
		p->tok.len = 2;
		break;
	case '<':
	case '>':
		if (s[i + 1] == '=') {
			p->tok.kind = c == '<' ? T_LE : T_GE;
			p->tok.len = 2;
		} else {
			p->tok.kind = c == '<' ? T_LT : T_GT;
		}
		break;
	case '-':
		if (is_digit((unsigned char)s[i + 1]))
			rc = lex_number(p, i);
		else
			p->tok.kind = T_MINUS;
		break;
	default:
		if (is_digit(c))
			rc = lex_number(p, i);
		else if (is_alpha(c) || c == '_')
			rc = lex_word(p, i);
		else if (c > ' ' && c < 0x7f)
			return bad(p, i, "unexpected character '%c'", c);
		else
			return bad(p, i, "unexpected byte 0x%02x", c);
	}
	if (rc < 0)
		return rc;
	p->pos = i + p->tok.len;
	return 0;
}

/* ---- the parser ---- */

static int is_chain(int op)
{
	return op == OP_OR || op == OP_AND || op == OP_LIST;
}

/* Appends a node; a and b are operands (for a chain, a is its first). The
 * node bound and the depth bound are both checked here, where nodes are
 * made. lit is consumed, also on failure. */
static int add(struct parser *p, int *out, int op, size_t off, int a, int b, json_t *lit)
{
	struct cp_pb_expr *e = p->e;
	struct node *n;
	int depth = 0;

	if (e->nnodes >= CP_PB_EXPR_MAX_NODES) {
		json_decref(lit);
		return bad(p, off, "more than %d nodes", CP_PB_EXPR_MAX_NODES);
	}
	if (is_chain(op)) {
		for (int c = a; c >= 0; c = e->nodes[c].next)
			if (e->nodes[c].depth > depth)
				depth = e->nodes[c].depth;
	} else {
		if (a >= 0)
			depth = e->nodes[a].depth;
		if (b >= 0 && e->nodes[b].depth > depth)
			depth = e->nodes[b].depth;
	}
	if (depth + 1 > CP_PB_EXPR_MAX_DEPTH) {
		json_decref(lit);
		return bad(p, off, "nested deeper than %d levels", CP_PB_EXPR_MAX_DEPTH);
	}
	n = &e->nodes[e->nnodes];
	n->op = (uint8_t)op;
	n->depth = (uint8_t)(depth + 1);
	n->a = (int16_t)a;
	n->b = (int16_t)b;
	n->next = -1;
	n->lit = lit;
	*out = e->nnodes++;
	return 0;
}

/* Entering a construct that recurses: ( [ not -. Parentheses make no node,
 * so the node depth alone would not bound the parser's own recursion. */
static int enter(struct parser *p)
{
	if (++p->nest > CP_PB_EXPR_MAX_DEPTH)
		return bad(p, p->tok.off, "nested deeper than %d levels", CP_PB_EXPR_MAX_DEPTH);
	return 0;
}

static int parse_or(struct parser *p, int *out);

/* A string literal's bytes without its quotes and escapes. */
static int string_lit(struct parser *p, json_t **out)
{
	const char *s = p->src + p->tok.off;
	char buf[CP_PB_EXPR_MAX_SRC];
	size_t n = 0;

	for (size_t i = 1; i + 1 < p->tok.len; i++) {
		if (s[i] == '\\') {
			i++;
			buf[n++] = s[i] == 'n' ? '\n' : s[i];
		} else {
			buf[n++] = s[i];
		}
	}
	/* As in yaml.c: jansson refuses invalid UTF-8 with NULL. */
	if (!(*out = json_stringn(buf, n)))
		return bad(p, p->tok.off, "string is not valid UTF-8");
	return 0;
}

static int parse_list(struct parser *p, int *out)
{
	size_t off = p->tok.off;
	int first = -1, last = -1, item, rc;

	if ((rc = enter(p)) < 0 || (rc = lex(p)) < 0)
		return rc;
	if (p->tok.kind != T_RBRACK) {
		for (;;) {
			if ((rc = parse_or(p, &item)) < 0)
				return rc;
			if (last < 0)
				first = item;
			else
				p->e->nodes[last].next = (int16_t)item;
			last = item;
			if (p->tok.kind == T_RBRACK)
				break;
			if (p->tok.kind != T_COMMA)
				return bad(p, p->tok.off, "expected ',' or ']'");
			if ((rc = lex(p)) < 0)
				return rc;
		}
	}
	p->nest--;
	if ((rc = add(p, out, OP_LIST, off, first, -1, NULL)) < 0)
		return rc;
	return lex(p);
}

static int parse_primary(struct parser *p, int *out)
{
	size_t off = p->tok.off;
	json_t *lit = NULL;
	json_error_t je;
	int rc;

	switch (p->tok.kind) {
	case T_NUM:
		/* The lexer checked the form; jansson gives the JSON value
		 * (integer or real) and refuses what does not fit. */
		if (!(lit = json_loadb(p->src + off, p->tok.len, JSON_DECODE_ANY, &je)))
			return bad(p, off, "number out of range");
		break;
	case T_STR:
		if ((rc = string_lit(p, &lit)) < 0)
			return rc;
		break;
	case T_TRUE: lit = json_true(); break;
	case T_FALSE: lit = json_false(); break;
	case T_NULL: lit = json_null(); break;
	case T_PATH:
		if ((rc = add(p, out, OP_PATH, off, -1, -1, NULL)) < 0)
			return rc;
		p->e->nodes[*out].off = (uint16_t)off;
		p->e->nodes[*out].len = (uint16_t)p->tok.len;
		return lex(p);
	case T_LPAREN:
		if ((rc = enter(p)) < 0 || (rc = lex(p)) < 0 || (rc = parse_or(p, out)) < 0)
			return rc;
		if (p->tok.kind != T_RPAREN)
			return bad(p, p->tok.off, "expected ')'");
		p->nest--;
		return lex(p);
	case T_LBRACK: return parse_list(p, out);
	default: return bad(p, off, "expected an operand");
	}
	if ((rc = add(p, out, OP_LIT, off, -1, -1, lit)) < 0)
		return rc;
	return lex(p);
}

static int parse_unary(struct parser *p, int *out)
{
	size_t off = p->tok.off;
	int a, rc;

	if (p->tok.kind != T_MINUS)
		return parse_primary(p, out);
	if ((rc = enter(p)) < 0 || (rc = lex(p)) < 0 || (rc = parse_unary(p, &a)) < 0)
		return rc;
	p->nest--;
	return add(p, out, OP_NEG, off, a, -1, NULL);
}

static int is_cmp(enum tok_kind k)
{
	return (k >= T_EQ && k <= T_GE) || k == T_IN || k == T_CONTAINS || k == T_MATCHES ||
	       k == T_IS || k == T_NOT;
}

static int parse_cmp(struct parser *p, int *out)
{
	size_t off;
	int a, b = -1, op, rc;

	if ((rc = parse_unary(p, &a)) < 0)
		return rc;
	off = p->tok.off;
	switch (p->tok.kind) {
	case T_EQ: op = OP_EQ; break;
	case T_NE: op = OP_NE; break;
	case T_LT: op = OP_LT; break;
	case T_LE: op = OP_LE; break;
	case T_GT: op = OP_GT; break;
	case T_GE: op = OP_GE; break;
	case T_IN: op = OP_IN; break;
	case T_CONTAINS: op = OP_CONTAINS; break;
	case T_MATCHES: op = OP_MATCHES; break;
	case T_NOT:
		/* After an operand, "not" can only begin "not in". */
		if ((rc = lex(p)) < 0)
			return rc;
		if (p->tok.kind != T_IN)
			return bad(p, p->tok.off, "expected 'in' after 'not'");
		op = OP_NOTIN;
		break;
	case T_IS:
		if ((rc = lex(p)) < 0)
			return rc;
		op = OP_DEFINED;
		if (p->tok.kind == T_NOT) {
			op = OP_UNDEFINED;
			if ((rc = lex(p)) < 0)
				return rc;
		}
		if (p->tok.kind != T_DEFINED)
			return bad(p, p->tok.off, "expected 'defined'");
		break;
	default: *out = a; return 0;
	}
	if ((rc = lex(p)) < 0)
		return rc;
	if (op != OP_DEFINED && op != OP_UNDEFINED && (rc = parse_unary(p, &b)) < 0)
		return rc;
	if ((rc = add(p, out, op, off, a, b, NULL)) < 0)
		return rc;
	/* "a < b < c" would compare a boolean with c: refuse it. */
	if (is_cmp(p->tok.kind))
		return bad(p, p->tok.off, "comparisons do not chain (use 'and')");
	return 0;
}

static int parse_not(struct parser *p, int *out)
{
	size_t off = p->tok.off;
	int a, rc;

	if (p->tok.kind != T_NOT)
		return parse_cmp(p, out);
	if ((rc = enter(p)) < 0 || (rc = lex(p)) < 0 || (rc = parse_not(p, &a)) < 0)
		return rc;
	p->nest--;
	return add(p, out, OP_NOT, off, a, -1, NULL);
}

/* One level of "x OP y OP z" for OP and or or, as one chain node. */
static int parse_chain(struct parser *p, int *out, enum tok_kind kind, int op,
		       int (*operand)(struct parser *, int *))
{
	size_t off;
	int first, last, item, rc;

	if ((rc = operand(p, &first)) < 0)
		return rc;
	if (p->tok.kind != kind) {
		*out = first;
		return 0;
	}
	off = p->tok.off;
	last = first;
	while (p->tok.kind == kind) {
		if ((rc = lex(p)) < 0 || (rc = operand(p, &item)) < 0)
			return rc;
		p->e->nodes[last].next = (int16_t)item;
		last = item;
	}
	return add(p, out, op, off, first, -1, NULL);
}

static int parse_and(struct parser *p, int *out)
{
	return parse_chain(p, out, T_AND, OP_AND, parse_not);
}

static int parse_or(struct parser *p, int *out)
{
	return parse_chain(p, out, T_OR, OP_OR, parse_and);
}

int cp_pb_expr_compile(struct cp_pb_expr **out, const char *src, struct fl_err *err)
{
	struct parser p = {0};
	struct cp_pb_expr *e;
	size_t len;
	int rc;

	*out = NULL;
	if (!src)
		src = "";
	len = strnlen(src, CP_PB_EXPR_MAX_SRC + 1);
	if (len > CP_PB_EXPR_MAX_SRC)
		return fl_err_set(err, FL_EINVAL, "expression longer than %d bytes",
				  CP_PB_EXPR_MAX_SRC);
	e = calloc(1, sizeof(*e) + len + 1);
	if (!e)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	memcpy(e->src, src, len + 1);
	p.e = e;
	p.src = e->src;
	p.err = err;
	if ((rc = lex(&p)) < 0 || (rc = parse_or(&p, &e->root)) < 0)
		goto cleanup;
	if (p.tok.kind != T_END) {
		rc = bad(&p, p.tok.off, "unexpected '%.*s'", (int)(p.tok.len > 20 ? 20 : p.tok.len),
			 p.src + p.tok.off);
		goto cleanup;
	}
	*out = e;
	e = NULL;
cleanup:
	cp_pb_expr_free(e);
	return rc;
}

void cp_pb_expr_free(struct cp_pb_expr *e)
{
	if (!e)
		return;
	for (int i = 0; i < e->nnodes; i++)
		json_decref(e->nodes[i].lit);
	free(e);
}

/* ---- evaluation ---- */

/* A value during evaluation. Nothing is allocated: JSON values are borrowed
 * (from ctx or from the literals of e), computed scalars are held here, and
 * a list literal stays its node until something reads its elements. */
enum vkind { V_JSON, V_INT, V_REAL, V_BOOL, V_LIST };

struct val {
	enum vkind k;
	const json_t *j; /* V_JSON, never NULL: a missing path is json_null() */
	json_int_t i;	 /* V_INT */
	double r;	 /* V_REAL */
	int b;		 /* V_BOOL */
	int list;	 /* V_LIST: the LIST node */
};

enum ty { TY_NULL, TY_BOOL, TY_NUM, TY_STR, TY_ARR, TY_OBJ };

struct ev {
	const struct cp_pb_expr *e;
	const json_t *ctx;
};

static void eval(const struct ev *ev, int idx, struct val *out);

static void set_json(struct val *v, const json_t *j)
{
	v->k = V_JSON;
	v->j = j ? j : json_null();
}

static void set_bool(struct val *v, int b)
{
	v->k = V_BOOL;
	v->b = b != 0;
}

static enum ty ty(const struct val *v)
{
	switch (v->k) {
	case V_INT:
	case V_REAL: return TY_NUM;
	case V_BOOL: return TY_BOOL;
	case V_LIST: return TY_ARR;
	case V_JSON: break;
	}
	switch (json_typeof(v->j)) {
	case JSON_OBJECT: return TY_OBJ;
	case JSON_ARRAY: return TY_ARR;
	case JSON_STRING: return TY_STR;
	case JSON_INTEGER:
	case JSON_REAL: return TY_NUM;
	case JSON_TRUE:
	case JSON_FALSE: return TY_BOOL;
	case JSON_NULL: break;
	}
	return TY_NULL;
}

static int bool_of(const struct val *v)
{
	return v->k == V_BOOL ? v->b : json_is_true(v->j);
}

struct num {
	int is_int;
	json_int_t i;
	double r;
};

static struct num num_of(const struct val *v)
{
	struct num n = {0, 0, 0};

	if (v->k == V_INT || (v->k == V_JSON && json_is_integer(v->j))) {
		n.is_int = 1;
		n.i = v->k == V_INT ? v->i : json_integer_value(v->j);
	} else {
		n.r = v->k == V_REAL ? v->r : json_real_value(v->j);
	}
	return n;
}

/* i against d exactly: converting i to double would make 2^53 + 1 equal
 * 2^53. A double that fits is split into its integer part and fraction. */
static int cmp_int_real(json_int_t i, double d)
{
	json_int_t t;
	double frac;

	if (d >= 9223372036854775808.0)
		return -1;
	if (d < -9223372036854775808.0)
		return 1;
	t = (json_int_t)d;
	if (i != t)
		return i < t ? -1 : 1;
	frac = d - (double)t;
	return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

static int num_cmp(const struct val *a, const struct val *b)
{
	struct num x = num_of(a), y = num_of(b);

	if (x.is_int && y.is_int)
		return (x.i > y.i) - (x.i < y.i);
	if (x.is_int)
		return cmp_int_real(x.i, y.r);
	if (y.is_int)
		return -cmp_int_real(y.i, x.r);
	return (x.r > y.r) - (x.r < y.r);
}

/* Bytewise, as memcmp orders unsigned bytes; a prefix sorts first. */
static int str_cmp(const json_t *a, const json_t *b)
{
	size_t la = json_string_length(a), lb = json_string_length(b);
	int c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);

	return c ? (c > 0) - (c < 0) : (la > lb) - (la < lb);
}

static int truthy(const struct ev *ev, const struct val *v)
{
	switch (ty(v)) {
	case TY_NULL: return 0;
	case TY_BOOL: return bool_of(v);
	case TY_NUM: {
		struct num n = num_of(v);

		return n.is_int ? n.i != 0 : n.r != 0;
	}
	case TY_STR: return json_string_length(v->j) > 0;
	case TY_ARR:
		if (v->k == V_LIST)
			return ev->e->nodes[v->list].a >= 0;
		return json_array_size(v->j) > 0;
	case TY_OBJ: return json_object_size(v->j) > 0;
	}
	return 0;
}

/* The elements of an array value, JSON or a list literal, in order. */
struct cur {
	const struct val *v;
	size_t i;
	int node;
};

static void cur_init(const struct ev *ev, struct cur *c, const struct val *v)
{
	c->v = v;
	c->i = 0;
	c->node = v->k == V_LIST ? ev->e->nodes[v->list].a : -1;
}

static int cur_next(const struct ev *ev, struct cur *c, struct val *out)
{
	if (c->v->k == V_LIST) {
		if (c->node < 0)
			return 0;
		eval(ev, c->node, out);
		c->node = ev->e->nodes[c->node].next;
		return 1;
	}
	if (c->i >= json_array_size(c->v->j))
		return 0;
	set_json(out, json_array_get(c->v->j, c->i++));
	return 1;
}

/* JSON equality, except that numbers compare by value (1 == 1.0). It
 * recurses on the nesting of the values compared; past what our parsers
 * accept (FL_JSON_MAX_DEPTH) values are unequal rather than a deep stack. */
static int eq(const struct ev *ev, const struct val *a, const struct val *b, int depth)
{
	enum ty t = ty(a);

	if (t != ty(b))
		return 0;
	switch (t) {
	case TY_NULL: return 1;
	case TY_BOOL: return bool_of(a) == bool_of(b);
	case TY_NUM: return num_cmp(a, b) == 0;
	case TY_STR: return str_cmp(a->j, b->j) == 0;
	case TY_ARR: {
		struct cur ca, cb;
		struct val x, y;

		if (depth >= FL_JSON_MAX_DEPTH)
			return 0;
		cur_init(ev, &ca, a);
		cur_init(ev, &cb, b);
		for (;;) {
			int ha = cur_next(ev, &ca, &x), hb = cur_next(ev, &cb, &y);

			if (ha != hb)
				return 0;
			if (!ha)
				return 1;
			if (!eq(ev, &x, &y, depth + 1))
				return 0;
		}
	}
	case TY_OBJ: {
		json_t *ja = (json_t *)(uintptr_t)a->j;

		if (depth >= FL_JSON_MAX_DEPTH || json_object_size(a->j) != json_object_size(b->j))
			return 0;
		for (void *it = json_object_iter(ja); it; it = json_object_iter_next(ja, it)) {
			const json_t *other = json_object_getn(b->j, json_object_iter_key(it),
							       json_object_iter_key_len(it));
			struct val x, y;

			if (!other)
				return 0;
			set_json(&x, json_object_iter_value(it));
			set_json(&y, other);
			if (!eq(ev, &x, &y, depth + 1))
				return 0;
		}
		return 1;
	}
	}
	return 0;
}

/* needle in hay: an element of a list, or a substring of a string. */
static int member(const struct ev *ev, const struct val *needle, const struct val *hay)
{
	enum ty t = ty(hay);

	if (t == TY_ARR) {
		struct cur c;
		struct val x;

		cur_init(ev, &c, hay);
		while (cur_next(ev, &c, &x))
			if (eq(ev, &x, needle, 1))
				return 1;
		return 0;
	}
	if (t == TY_STR && ty(needle) == TY_STR)
		return memmem(json_string_value(hay->j), json_string_length(hay->j),
			      json_string_value(needle->j), json_string_length(needle->j)) != NULL;
	return 0;
}

/* fnmatch(3) works on C strings: a string with a NUL in it is not matched,
 * and neither are long ones, which bound the work of a pattern of stars. */
static int glob_match(const struct val *subject, const struct val *pattern)
{
	const json_t *s = subject->j, *g = pattern->j;

	if (ty(subject) != TY_STR || ty(pattern) != TY_STR)
		return 0;
	if (json_string_length(s) > CP_PB_GLOB_MAX || json_string_length(g) > CP_PB_GLOB_MAX)
		return 0;
	if (memchr(json_string_value(s), '\0', json_string_length(s)) ||
	    memchr(json_string_value(g), '\0', json_string_length(g)))
		return 0;
	return fnmatch(json_string_value(g), json_string_value(s), 0) == 0;
}

/* Order: numbers with numbers, strings with strings; *ok 0 for other pairs. */
static int order(const struct val *a, const struct val *b, int *ok)
{
	enum ty t = ty(a);

	*ok = 0;
	if (t != ty(b) || (t != TY_NUM && t != TY_STR))
		return 0;
	*ok = 1;
	return t == TY_NUM ? num_cmp(a, b) : str_cmp(a->j, b->j);
}

/* Recurses once per level of the tree, which the compiler bounded to
 * CP_PB_EXPR_MAX_DEPTH. */
static void eval(const struct ev *ev, int idx, struct val *out)
{
	const struct node *n = &ev->e->nodes[idx];
	struct val a, b;
	int c, ok;

	switch ((enum op)n->op) {
	case OP_LIT: set_json(out, n->lit); return;
	case OP_PATH: set_json(out, path_resolve(ev->ctx, ev->e->src + n->off, n->len)); return;
	case OP_LIST:
		out->k = V_LIST;
		out->list = idx;
		return;
	case OP_OR:
	case OP_AND:
		/* Short-circuit: "x is defined and x.y > 1" reads x.y only
		 * when x is there (not that it matters: paths cannot fail). */
		for (c = n->a; c >= 0; c = ev->e->nodes[c].next) {
			eval(ev, c, &a);
			if (truthy(ev, &a) == (n->op == OP_OR)) {
				set_bool(out, n->op == OP_OR);
				return;
			}
		}
		set_bool(out, n->op == OP_AND);
		return;
	case OP_NOT:
		eval(ev, n->a, &a);
		set_bool(out, !truthy(ev, &a));
		return;
	case OP_NEG:
		eval(ev, n->a, &a);
		if (ty(&a) != TY_NUM) {
			set_json(out, NULL);
		} else {
			struct num x = num_of(&a);

			if (x.is_int && x.i != (json_int_t)INT64_MIN) {
				out->k = V_INT;
				out->i = -x.i;
			} else {
				out->k = V_REAL;
				out->r = x.is_int ? -(double)x.i : -x.r;
			}
		}
		return;
	case OP_DEFINED:
	case OP_UNDEFINED:
		eval(ev, n->a, &a);
		set_bool(out, (ty(&a) != TY_NULL) == (n->op == OP_DEFINED));
		return;
	default: break;
	}
	eval(ev, n->a, &a);
	eval(ev, n->b, &b);
	switch ((enum op)n->op) {
	case OP_EQ: set_bool(out, eq(ev, &a, &b, 0)); break;
	case OP_NE: set_bool(out, !eq(ev, &a, &b, 0)); break;
	case OP_LT:
	case OP_LE:
	case OP_GT:
	case OP_GE:
		c = order(&a, &b, &ok);
		if (n->op == OP_LT)
			ok = ok && c < 0;
		else if (n->op == OP_LE)
			ok = ok && c <= 0;
		else if (n->op == OP_GT)
			ok = ok && c > 0;
		else
			ok = ok && c >= 0;
		set_bool(out, ok);
		break;
	case OP_IN: set_bool(out, member(ev, &a, &b)); break;
	case OP_NOTIN: set_bool(out, !member(ev, &a, &b)); break;
	case OP_CONTAINS: set_bool(out, member(ev, &b, &a)); break;
	case OP_MATCHES: set_bool(out, glob_match(&a, &b)); break;
	default: set_json(out, NULL); break;
	}
}

int cp_pb_expr_eval(int *truth, const struct cp_pb_expr *e, const json_t *ctx, struct fl_err *err)
{
	struct ev ev = {e, ctx};
	struct val v;

	*truth = 0;
	if (!e)
		return fl_err_set(err, FL_EINVAL, "expression: none");
	eval(&ev, e->root, &v);
	*truth = truthy(&ev, &v);
	return 0;
}

/* A new JSON value for v. Lists recurse per level of the tree, as eval. */
static json_t *to_json(const struct ev *ev, const struct val *v)
{
	json_t *arr, *item;
	struct cur c;
	struct val x;

	switch (v->k) {
	case V_JSON: return json_deep_copy(v->j);
	case V_INT: return json_integer(v->i);
	case V_REAL: return json_real(v->r);
	case V_BOOL: return json_boolean(v->b);
	case V_LIST: break;
	}
	if (!(arr = json_array()))
		return NULL;
	cur_init(ev, &c, v);
	while (cur_next(ev, &c, &x))
		if (!(item = to_json(ev, &x)) || json_array_append_new(arr, item) < 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

int cp_pb_expr_value(json_t **out, const struct cp_pb_expr *e, const json_t *ctx,
		     struct fl_err *err)
{
	struct ev ev = {e, ctx};
	struct val v;

	*out = NULL;
	if (!e)
		return fl_err_set(err, FL_EINVAL, "expression: none");
	eval(&ev, e->root, &v);
	if (!(*out = to_json(&ev, &v)))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	return 0;
}

int cp_pb_expr_paths(json_t **out, const struct cp_pb_expr *e)
{
	json_t *arr = json_array(), *s;
	int rc = FL_ENOMEM;

	*out = NULL;
	if (!arr)
		return FL_ENOMEM;
	/* Nodes are made as the parser meets them: PATH nodes are in the
	 * order of the source. */
	for (int i = 0; e && i < e->nnodes; i++) {
		const struct node *n = &e->nodes[i];
		size_t k, seen = 0;

		if (n->op != OP_PATH)
			continue;
		for (k = 0; k < json_array_size(arr) && !seen; k++) {
			const json_t *x = json_array_get(arr, k);

			seen = json_string_length(x) == n->len &&
			       memcmp(json_string_value(x), e->src + n->off, n->len) == 0;
		}
		if (seen)
			continue;
		if (!(s = json_stringn(e->src + n->off, n->len)) ||
		    json_array_append_new(arr, s) < 0)
			goto cleanup;
	}
	*out = arr;
	arr = NULL;
	rc = 0;
cleanup:
	json_decref(arr);
	return rc;
}

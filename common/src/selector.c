#include "fairlead/selector.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/util.h"

enum term_op { OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_EXISTS, OP_ABSENT };

#define MAX_TERMS  32
#define MAX_VALUES 32

struct term {
	enum term_op op;
	int on_state; /* the device state, not a label */
	char key[64];
	int nvalues;
	char values[MAX_VALUES][64];
};

struct fl_selector {
	int nterms;
	struct term terms[MAX_TERMS];
};

static const char *const states[] = {"pending",	    "accepted", "rejected",
				     "quarantined", "revoked",	"decommissioned"};

int fl_device_state_valid(const char *name)
{
	for (size_t i = 0; i < FL_ARRAY_SIZE(states); i++)
		if (strcmp(name, states[i]) == 0)
			return 1;
	return 0;
}

static void skip_ws(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

static int word_char(int c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '-' || c == '/';
}

/* Reads a key or value word into out; empty words are allowed only for values. */
static int read_word(char *out, size_t cap, const char **p)
{
	size_t n = 0;

	while (word_char((unsigned char)**p)) {
		if (n + 1 >= cap)
			return -1;
		out[n++] = *(*p)++;
	}
	out[n] = '\0';
	return (int)n;
}

static int bad(struct fl_err *err, const char *expr, const char *why)
{
	return fl_err_set(err, FL_EINVAL, "bad selector '%.100s': %s", expr, why);
}

static int parse_term(struct term *t, const char **pp, const char *expr, struct fl_err *err)
{
	const char *p = *pp;

	memset(t, 0, sizeof(*t));
	skip_ws(&p);
	if (*p == '!') {
		p++;
		skip_ws(&p);
		if (read_word(t->key, sizeof(t->key), &p) <= 0)
			return bad(err, expr, "'!' must be followed by a key");
		t->op = OP_ABSENT;
		goto done;
	}
	if (read_word(t->key, sizeof(t->key), &p) <= 0)
		return bad(err, expr, "expected a key");
	skip_ws(&p);
	if (p[0] == '=' || (p[0] == '!' && p[1] == '=')) {
		t->op = p[0] == '=' ? OP_EQ : OP_NE;
		p += (p[0] == '!' || p[1] == '=') ? 2 : 1;
		skip_ws(&p);
		if (read_word(t->values[0], sizeof(t->values[0]), &p) < 0)
			return bad(err, expr, "value too long");
		t->nvalues = 1;
	} else if (strncmp(p, "in", 2) == 0 || strncmp(p, "notin", 5) == 0) {
		t->op = p[0] == 'i' ? OP_IN : OP_NOTIN;
		p += t->op == OP_IN ? 2 : 5;
		skip_ws(&p);
		if (*p++ != '(')
			return bad(err, expr, "expected '(' after in/notin");
		for (;;) {
			skip_ws(&p);
			if (t->nvalues >= MAX_VALUES)
				return bad(err, expr, "too many values");
			if (read_word(t->values[t->nvalues], sizeof(t->values[0]), &p) <= 0)
				return bad(err, expr, "expected a value in the list");
			t->nvalues++;
			skip_ws(&p);
			if (*p == ',') {
				p++;
				continue;
			}
			if (*p++ != ')')
				return bad(err, expr, "expected ')' to close the list");
			break;
		}
	} else {
		t->op = OP_EXISTS;
	}
done:
	if (strcmp(t->key, "state") == 0) {
		t->on_state = 1;
		if (t->op == OP_EXISTS || t->op == OP_ABSENT)
			return bad(err, expr, "'state' needs a comparison");
		for (int i = 0; i < t->nvalues; i++)
			if (!fl_device_state_valid(t->values[i]))
				return bad(err, expr, "unknown device state");
	} else if ((t->op == OP_EXISTS || t->op == OP_ABSENT) && fl_device_state_valid(t->key)) {
		/* "!decommissioned" reads as "state != decommissioned". */
		t->on_state = 1;
		memcpy(t->values[0], t->key, sizeof(t->values[0]));
		t->nvalues = 1;
		t->op = t->op == OP_EXISTS ? OP_EQ : OP_NE;
	} else if (!fl_label_key_valid(t->key)) {
		return bad(err, expr, "bad label key");
	}
	skip_ws(&p);
	*pp = p;
	return 0;
}

int fl_selector_parse(struct fl_selector **out, const char *expr, struct fl_err *err)
{
	struct fl_selector *s;
	const char *p = expr ? expr : "";
	int rc = 0;

	*out = NULL;
	if (strlen(p) > 2048)
		return bad(err, "...", "expression too long");
	s = calloc(1, sizeof(*s));
	if (!s)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	skip_ws(&p);
	while (*p) {
		if (s->nterms >= MAX_TERMS) {
			rc = bad(err, expr, "too many terms");
			goto fail;
		}
		if ((rc = parse_term(&s->terms[s->nterms++], &p, expr, err)) < 0)
			goto fail;
		if (*p == ',') {
			p++;
			if (!*p) {
				rc = bad(err, expr, "trailing ','");
				goto fail;
			}
		} else if (*p) {
			rc = bad(err, expr, "unexpected character");
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	free(s);
	return rc;
}

static int in_values(const struct term *t, const char *v)
{
	for (int i = 0; i < t->nvalues; i++)
		if (strcmp(t->values[i], v) == 0)
			return 1;
	return 0;
}

json_t *fl_selector_labels(const struct fl_selector *s)
{
	json_t *out = json_object();

	for (int i = 0; out && s && i < s->nterms; i++)
		if (s->terms[i].op == OP_EQ && !s->terms[i].on_state &&
		    json_object_set_new(out, s->terms[i].key, json_string(s->terms[i].values[0])) <
			0) {
			json_decref(out);
			return NULL;
		}
	return out;
}

int fl_selector_match(const struct fl_selector *s, const json_t *labels, const char *state)
{
	if (!s)
		return 1;
	for (int i = 0; i < s->nterms; i++) {
		const struct term *t = &s->terms[i];
		const char *v;

		if (t->on_state) {
			v = state ? state : "";
		} else {
			json_t *j = json_object_get(labels, t->key);

			v = json_is_string(j) ? json_string_value(j) : NULL;
		}
		switch (t->op) {
		case OP_EQ:
			if (!v || strcmp(v, t->values[0]) != 0)
				return 0;
			break;
		case OP_NE:
			if (v && strcmp(v, t->values[0]) == 0)
				return 0;
			break;
		case OP_IN:
			if (!v || !in_values(t, v))
				return 0;
			break;
		case OP_NOTIN:
			if (v && in_values(t, v))
				return 0;
			break;
		case OP_EXISTS:
			if (!v)
				return 0;
			break;
		case OP_ABSENT:
			if (v)
				return 0;
			break;
		}
	}
	return 1;
}

void fl_selector_free(struct fl_selector *s)
{
	free(s);
}

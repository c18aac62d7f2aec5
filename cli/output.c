/*
 * output.c - what the CLI prints: JSON for scripts, aligned tables and
 * key/value blocks for people.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fairlead/json.h"
#include "fairlead/util.h"

int cli_out_json(FILE *f, const json_t *v)
{
	/* Insertion order, as the server sent it; indented so that a person can
	 * read it and jq still parses it. */
	if (json_dumpf(v, f, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15)) != 0 ||
	    fputc('\n', f) == EOF)
		return FL_ERROR;
	return 0;
}

struct cli_table {
	size_t ncols;
	size_t nrows; /* the header included */
	size_t cap;   /* rows allocated */
	char **cells; /* nrows * ncols */
};

/* Device-supplied strings (inventory, reported values) reach an operator's
 * terminal: control bytes could move the cursor or rewrite earlier lines, so
 * tables show them as '?'. */
static char *cell_dup(const char *s)
{
	char *c = strdup(s ? s : "-");

	for (char *p = c; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return c;
}

int cli_table_new(struct cli_table **out, size_t ncols, const char *const *headers)
{
	struct cli_table *t = calloc(1, sizeof(*t));
	int rc;

	*out = NULL;
	if (!t)
		return FL_ENOMEM;
	t->ncols = ncols;
	if ((rc = cli_table_row(t, headers)) < 0) {
		cli_table_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int cli_table_row(struct cli_table *t, const char *const *cells)
{
	size_t base;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **p = realloc(t->cells, cap * t->ncols * sizeof(*p));

		if (!p)
			return FL_ENOMEM;
		t->cells = p;
		t->cap = cap;
	}
	base = t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		if (!(t->cells[base + i] = cell_dup(cells[i]))) {
			while (i-- > 0)
				free(t->cells[base + i]);
			return FL_ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

int cli_table_print(FILE *f, const struct cli_table *t)
{
	size_t width[32] = {0};
	size_t ncols = t->ncols < FL_ARRAY_SIZE(width) ? t->ncols : FL_ARRAY_SIZE(width);

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < ncols; c++) {
			size_t n = strlen(t->cells[r * t->ncols + c]);

			if (n > width[c])
				width[c] = n;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];

			/* The last column is not padded: no trailing blanks. */
			if (c + 1 == ncols)
				fprintf(f, "%s\n", cell);
			else
				fprintf(f, "%-*s  ", (int)width[c], cell);
		}
	}
	return ferror(f) ? FL_ERROR : 0;
}

void cli_table_free(struct cli_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* k=v,k=v with keys sorted, so that the same labels always print alike. */
static int fmt_object(struct fl_buf *b, const json_t *obj)
{
	size_t n = json_object_size(obj), i = 0;
	const char **keys;
	const char *k;
	json_t *v;
	int rc = 0;

	if (n == 0)
		return fl_buf_puts(b, "-");
	if (!(keys = calloc(n, sizeof(*keys))))
		return FL_ENOMEM;
	json_object_foreach ((json_t *)(uintptr_t)obj, k, v)
		keys[i++] = k;
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (i = 0; i < n && rc == 0; i++) {
		v = json_object_get(obj, keys[i]);
		rc = fl_buf_addf(b, "%s%s=", i ? "," : "", keys[i]);
		if (rc == 0 && json_is_string(v))
			rc = fl_buf_puts(b, json_string_value(v));
		else if (rc == 0 && !json_is_null(v))
			rc = fl_json_dump(b, v);
	}
	free(keys);
	return rc;
}

int cli_fmt_cell(struct fl_buf *b, const json_t *v)
{
	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_STRING: return fl_buf_puts(b, json_string_value(v));
	case JSON_INTEGER: return fl_buf_addf(b, "%lld", (long long)json_integer_value(v));
	case JSON_REAL: return fl_buf_addf(b, "%g", json_real_value(v));
	case JSON_TRUE: return fl_buf_puts(b, "yes");
	case JSON_FALSE: return fl_buf_puts(b, "no");
	case JSON_OBJECT: return fmt_object(b, v);
	case JSON_ARRAY: {
		size_t i;
		json_t *e;
		int rc = json_array_size(v) ? 0 : fl_buf_puts(b, "-");

		json_array_foreach (v, i, e) {
			if (rc == 0 && i)
				rc = fl_buf_puts(b, ",");
			if (rc == 0)
				rc = cli_fmt_cell(b, e);
		}
		return rc;
	}
	default: return fl_buf_puts(b, "-");
	}
}

int cli_fmt_time(struct fl_buf *b, const json_t *v)
{
	char t[32];

	if (!json_is_integer(v))
		return cli_fmt_cell(b, v);
	fl_time_fmt(t, json_integer_value(v));
	return fl_buf_puts(b, t);
}

static int is_time_key(const char *key)
{
	size_t n = strlen(key);

	return strcmp(key, "ts") == 0 || strcmp(key, "last_seen") == 0 ||
	       (n > 3 && strcmp(key + n - 3, "_at") == 0);
}

int cli_out_list(FILE *f, enum cli_format fmt, const json_t *items, size_t ncols,
		 const char *const *headers, const char *const *keys)
{
	struct cli_table *t = NULL;
	struct fl_buf cell[16];
	const char *row[16];
	size_t i;
	json_t *item;
	int rc;

	if (fmt == CLI_FMT_JSON)
		return cli_out_json(f, items);
	if (ncols > FL_ARRAY_SIZE(cell))
		return FL_EINVAL;
	for (size_t c = 0; c < ncols; c++)
		fl_buf_init(&cell[c], 0);
	if ((rc = cli_table_new(&t, ncols, headers)) < 0)
		goto cleanup;
	json_array_foreach (items, i, item) {
		for (size_t c = 0; c < ncols && rc == 0; c++) {
			const json_t *v = json_object_get(item, keys[c]);

			fl_buf_clear(&cell[c]);
			rc = is_time_key(keys[c]) ? cli_fmt_time(&cell[c], v)
						  : cli_fmt_cell(&cell[c], v);
			row[c] = fl_buf_cstr(&cell[c]);
		}
		if (rc == 0)
			rc = cli_table_row(t, row);
		if (rc < 0)
			goto cleanup;
	}
	rc = cli_table_print(f, t);
cleanup:
	for (size_t c = 0; c < ncols; c++)
		fl_buf_release(&cell[c]);
	cli_table_free(t);
	return rc;
}

int cli_out_devices(FILE *f, enum cli_format fmt, const json_t *devices)
{
	static const char *const headers[] = {"ID", "STATE", "ONLINE", "LAST-SEEN", "LABELS"};
	static const char *const keys[] = {"id", "state", "online", "last_seen", "labels"};

	return cli_out_list(f, fmt, devices, FL_ARRAY_SIZE(keys), headers, keys);
}

/* A nested JSON value under a heading: indented two spaces, one line per
 * member for objects of scalars, pretty JSON otherwise. */
static int print_block(FILE *f, const char *heading, const json_t *v)
{
	char *text;
	const char *line;

	if (!v || json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0)) {
		fprintf(f, "%-16s -\n", heading);
		return 0;
	}
	if (!(text = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))))
		return FL_ENOMEM;
	fprintf(f, "%s\n", heading);
	for (line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		fputs("  ", f);
		for (const char *p = line; *p; p++)
			fputc((unsigned char)*p < 0x20 ? '?' : *p, f);
		fputc('\n', f);
	}
	free(text);
	return 0;
}

static int print_kv(FILE *f, struct fl_buf *b, const char *label, const json_t *v, int is_time)
{
	int rc;

	fl_buf_clear(b);
	if ((rc = is_time ? cli_fmt_time(b, v) : cli_fmt_cell(b, v)) < 0)
		return rc;
	fprintf(f, "%-16s ", label);
	for (const char *p = fl_buf_cstr(b); *p; p++)
		fputc((unsigned char)*p < 0x20 ? '?' : *p, f);
	fputc('\n', f);
	return 0;
}

int cli_out_device(FILE *f, enum cli_format fmt, const json_t *d)
{
	struct fl_buf b = FL_BUF_INIT;
	int rc = 0;

	if (fmt == CLI_FMT_JSON)
		return cli_out_json(f, d);
	if ((rc = print_kv(f, &b, "id:", json_object_get(d, "id"), 0)) < 0 ||
	    (rc = print_kv(f, &b, "state:", json_object_get(d, "state"), 0)) < 0 ||
	    (rc = print_kv(f, &b, "online:", json_object_get(d, "online"), 0)) < 0 ||
	    (rc = print_kv(f, &b, "last seen:", json_object_get(d, "last_seen"), 1)) < 0 ||
	    (rc = print_kv(f, &b, "enrolled at:", json_object_get(d, "enrolled_at"), 1)) < 0 ||
	    (rc = print_kv(f, &b, "key id:", json_object_get(d, "keyid"), 0)) < 0 ||
	    (rc = print_kv(f, &b, "labels:", json_object_get(d, "labels"), 0)) < 0 ||
	    (rc = print_kv(f, &b, "desired version:", json_object_get(d, "desired_version"), 0)) <
		0 ||
	    (rc = print_block(f, "inventory:", json_object_get(d, "inventory"))) < 0 ||
	    (rc = print_block(f, "desired:", json_object_get(d, "desired"))) < 0 ||
	    (rc = print_block(f, "reported:", json_object_get(d, "reported"))) < 0)
		goto cleanup;
	/* twin_delta lists keys (an array) or maps them to values (an object):
	 * print keys inline, values as a block. */
	if (json_is_object(json_object_get(d, "twin_delta")) &&
	    json_object_size(json_object_get(d, "twin_delta")) > 0)
		rc = print_block(f, "twin delta:", json_object_get(d, "twin_delta"));
	else
		rc = print_kv(f, &b, "twin delta:", json_object_get(d, "twin_delta"), 0);
	if (rc == 0 && ferror(f))
		rc = FL_ERROR;
cleanup:
	fl_buf_release(&b);
	return rc;
}

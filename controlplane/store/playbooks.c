/*
 * playbooks.c - stored playbooks: their canonical JSON, where each came from
 * (the API or the playbook directory), and the one revision counter every
 * change bumps in its own transaction, so an engine on any replica notices a
 * change by reading one row.
 *
 * A playbook's version names its content: a stored version never changes
 * meaning, because runs record the (name, version) they ran. Only "enabled"
 * may change without a new version; it is the operator's switch, not content.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "fairlead/json.h"

#define ROW_COLS "name, version, enabled, source, definition, updated_at"

/* definition back to a JSON value, enabled to a boolean. */
static void row_fix(json_t *row)
{
	json_t *d = json_object_get(row, "definition"), *parsed = NULL;

	if (json_is_string(d) &&
	    fl_json_parse(&parsed, json_string_value(d), json_string_length(d), NULL) == 0)
		json_object_set_new(row, "definition", parsed);
	json_object_set_new(row, "enabled",
			    json_boolean(json_integer_value(json_object_get(row, "enabled"))));
}

static int bump_rev(sqlite3 *db, struct fl_err *err)
{
	int rc = cp_db_exec(db, err, "UPDATE playbooks_rev SET rev = rev + 1 WHERE id = 1", "");

	return rc < 0 ? rc : 0;
}

/* 1 when a and b are equal but for "enabled". */
static int same_content(const json_t *a, const json_t *b)
{
	json_t *oa = (json_t *)(uintptr_t)a, *ob = (json_t *)(uintptr_t)b, *v;
	const char *k;
	size_t na = 0, nb = 0;

	if (!json_is_object(a) || !json_is_object(b))
		return 0;
	json_object_foreach (oa, k, v) {
		if (strcmp(k, "enabled") == 0)
			continue;
		na++;
		if (!json_equal(v, json_object_get(b, k)))
			return 0;
	}
	json_object_foreach (ob, k, v)
		nb += strcmp(k, "enabled") != 0;
	return na == nb;
}

/* Whether def (from source) replaces the stored row: *write 1 or 0, or
 * FL_ECONFLICT by the version rule. keep_enabled: a row of the same source
 * and content keeps its enabled (a file loaded again keeps an operator's
 * enable or disable). */
static int judge(int *write, const json_t *row, const json_t *def, const char *source,
		 int keep_enabled, struct fl_err *err)
{
	const char *name = json_string_value(json_object_get(def, "name"));
	json_int_t v = json_integer_value(json_object_get(def, "version"));
	json_int_t sv = json_integer_value(json_object_get(row, "version"));
	const json_t *stored = json_object_get(row, "definition");
	int same_source = strcmp(json_string_value(json_object_get(row, "source")), source) == 0;

	*write = 0;
	if (v < sv)
		return fl_err_set(err, FL_ECONFLICT,
				  "playbook '%s' is stored at version %lld: version %lld is older "
				  "(a change takes a higher version)",
				  name, (long long)sv, (long long)v);
	if (v > sv) {
		*write = 1;
		return 0;
	}
	if (!same_content(stored, def))
		return fl_err_set(err, FL_ECONFLICT,
				  "playbook '%s' version %lld is stored with another definition "
				  "(a change takes a higher version)",
				  name, (long long)v);
	if (!same_source)
		*write = 1;
	else if (!keep_enabled)
		*write = !json_equal(json_object_get(stored, "enabled"),
				     json_object_get(def, "enabled"));
	return 0;
}

static int upsert_in_tx(sqlite3 *db, const json_t *def, const char *source, int64_t now,
			struct fl_err *err)
{
	const char *name = json_string_value(json_object_get(def, "name"));
	json_int_t v = json_integer_value(json_object_get(def, "version"));
	/* canonical JSON always has it; absent means the default, true, and
	 * the stored definition says so too, as the engine reads it there */
	int64_t enabled = !json_is_false(json_object_get(def, "enabled"));
	json_t *d = (json_t *)(uintptr_t)def, *copy = NULL;
	int rc;

	if (!json_object_get(def, "enabled")) {
		if (!(copy = json_copy(d)) ||
		    json_object_set_new(copy, "enabled", json_true()) < 0) {
			json_decref(copy);
			return fl_err_set(err, FL_ENOMEM, "out of memory");
		}
		d = copy;
	}
	rc = cp_db_exec(db, err,
			"INSERT INTO playbooks (name, version, enabled, source, definition, "
			"updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
			"version = excluded.version, enabled = excluded.enabled, source = "
			"excluded.source, definition = excluded.definition, updated_at = "
			"excluded.updated_at",
			"siisji", name, (int64_t)v, enabled, source, d, now);
	json_decref(copy);
	return rc < 0 ? rc : 0;
}

static int check_def(const json_t *def, struct fl_err *err)
{
	const char *name = json_string_value(json_object_get(def, "name"));
	const json_t *v = json_object_get(def, "version");

	if (!json_is_object(def) || !name || !name[0])
		return fl_err_set(err, FL_EINVAL, "a playbook needs a name");
	if (!json_is_integer(v) || json_integer_value(v) < 1)
		return fl_err_set(err, FL_EINVAL, "playbook '%s' needs an integer version >= 1",
				  name);
	return 0;
}

/* The stored row of name inside the transaction, definition parsed; NULL
 * in *out when there is none. */
static int row_in_tx(json_t **out, sqlite3 *db, const char *name, struct fl_err *err)
{
	json_t *rows = NULL;
	int rc;

	*out = NULL;
	rc = cp_db_query(&rows, db, err, "SELECT " ROW_COLS " FROM playbooks WHERE name = ?", "s",
			 name);
	if (rc < 0)
		return rc;
	if (json_array_size(rows)) {
		*out = json_incref(json_array_get(rows, 0));
		row_fix(*out);
	}
	json_decref(rows);
	return 0;
}

int cp_store_playbooks_rev(int64_t *rev, struct cp_store *s, struct fl_err *err)
{
	json_t *row = NULL;
	int rc = cp_db_row(&row, s, err, "SELECT rev FROM playbooks_rev WHERE id = 1", "");

	*rev = 0;
	if (rc == FL_ENOTFOUND)
		return fl_err_set(err, FL_ERROR, "the playbook revision row is missing");
	if (rc < 0)
		return rc;
	*rev = json_integer_value(json_object_get(row, "rev"));
	json_decref(row);
	return 0;
}

int cp_store_playbook_put(int *changed, struct cp_store *s, const json_t *def, const char *source,
			  int64_t now, const struct cp_audit_rec *a, struct fl_err *err)
{
	json_t *row = NULL;
	sqlite3 *db;
	int rc, write = 1;

	*changed = 0;
	if ((rc = check_def(def, err)) < 0)
		return rc;
	if (!source || (strcmp(source, "api") != 0 && strcmp(source, "file") != 0))
		return fl_err_set(err, FL_EINVAL, "a playbook's source is api or file");
	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = row_in_tx(&row, db, json_string_value(json_object_get(def, "name")), err);
	if (rc >= 0 && row)
		rc = judge(&write, row, def, source, 0, err);
	if (rc >= 0 && write)
		rc = upsert_in_tx(db, def, source, now, err);
	if (rc >= 0 && write)
		rc = bump_rev(db, err);
	json_decref(row);
	/* the same definition again changes nothing, so nothing is audited */
	rc = cp_db_finish(db, rc, write ? a : NULL, err);
	if (rc == 0)
		*changed = write;
	return rc;
}

static const json_t *def_named(const json_t *defs, const char *name)
{
	const json_t *d;
	size_t i;

	for (i = 0; i < json_array_size(defs); i++) {
		const char *n;

		d = json_array_get(defs, i);
		n = json_string_value(json_object_get(d, "name"));
		if (n && strcmp(n, name) == 0)
			return d;
	}
	return NULL;
}

/* Deletes the file-sourced rows whose name defs lacks; *n counts them. */
static int drop_missing_in_tx(int *n, sqlite3 *db, const json_t *defs, struct fl_err *err)
{
	json_t *old = NULL, *row;
	size_t i;
	int rc;

	rc = cp_db_query(&old, db, err, "SELECT name FROM playbooks WHERE source = 'file'", "");
	json_array_foreach (old, i, row) {
		const char *name = json_string_value(json_object_get(row, "name"));

		if (rc < 0)
			break;
		if (def_named(defs, name))
			continue;
		rc = cp_db_exec(db, err, "DELETE FROM playbooks WHERE name = ?", "s", name);
		(*n)++;
	}
	json_decref(old);
	return rc < 0 ? rc : 0;
}

int cp_store_playbooks_replace_files(struct cp_store *s, json_t *defs, int64_t now,
				     struct fl_err *err)
{
	sqlite3 *db;
	json_t *d;
	size_t i;
	int rc, n = 0;

	if (!json_is_array(defs))
		return fl_err_set(err, FL_EINVAL, "playbooks must be an array");
	json_array_foreach (defs, i, d) {
		if ((rc = check_def(d, err)) < 0)
			return rc;
		if (def_named(defs, json_string_value(json_object_get(d, "name"))) != d)
			return fl_err_set(err, FL_EINVAL, "playbook '%s' is given twice",
					  json_string_value(json_object_get(d, "name")));
	}
	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = drop_missing_in_tx(&n, db, defs, err);
	json_array_foreach (defs, i, d) {
		json_t *row = NULL;
		int write = 1;

		if (rc < 0)
			break;
		rc = row_in_tx(&row, db, json_string_value(json_object_get(d, "name")), err);
		if (rc >= 0 && row)
			rc = judge(&write, row, d, "file", 1, err);
		if (rc >= 0 && write) {
			rc = upsert_in_tx(db, d, "file", now, err);
			n++;
		}
		json_decref(row);
	}
	/* a start that finds the files as they were changes nothing */
	if (rc >= 0 && n)
		rc = bump_rev(db, err);
	return cp_db_finish(db, rc, NULL, err);
}

int cp_store_playbook_get(json_t **out, struct cp_store *s, const char *name, struct fl_err *err)
{
	int rc =
	    cp_db_row(out, s, err, "SELECT " ROW_COLS " FROM playbooks WHERE name = ?", "s", name);

	if (rc == FL_ENOTFOUND)
		return fl_err_set(err, rc, "no playbook '%s'", name);
	if (rc == 0)
		row_fix(*out);
	return rc;
}

int cp_store_playbooks_list(json_t **out, struct cp_store *s, struct fl_err *err)
{
	json_t *row;
	sqlite3 *db;
	size_t i;
	int rc;

	CP_DB_CONN(db, s, err);
	rc = cp_db_query(out, db, err, "SELECT " ROW_COLS " FROM playbooks ORDER BY name", "");
	if (rc == 0)
		json_array_foreach (*out, i, row)
			row_fix(row);
	return rc;
}

int cp_store_playbook_delete(struct cp_store *s, const char *name, int64_t now,
			     const struct cp_audit_rec *a, struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = cp_db_exec(db, err, "DELETE FROM playbooks WHERE name = ?", "s", name);
	if (rc == 0)
		rc = fl_err_set(err, FL_ENOTFOUND, "no playbook '%s'", name);
	if (rc >= 0)
		rc = bump_rev(db, err);
	return cp_db_finish(db, rc, a, err);
}

int cp_store_playbook_set_enabled(struct cp_store *s, const char *name, int enabled, int64_t now,
				  const struct cp_audit_rec *a, struct fl_err *err)
{
	json_t *row = NULL, *def;
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = row_in_tx(&row, db, name, err);
	if (rc >= 0 && !row)
		rc = fl_err_set(err, FL_ENOTFOUND, "no playbook '%s'", name);
	if (rc < 0)
		goto finish;
	def = json_object_get(row, "definition");
	/* already so: nothing changes, but the request is audited */
	if (json_is_true(json_object_get(row, "enabled")) == (enabled != 0))
		goto finish;
	if (!json_is_object(def)) {
		rc = fl_err_set(err, FL_ERROR, "playbook '%s': stored definition is not an object",
				name);
		goto finish;
	}
	if (json_object_set_new(def, "enabled", json_boolean(enabled)) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto finish;
	}
	rc = cp_db_exec(db, err,
			"UPDATE playbooks SET enabled = ?, definition = ?, updated_at = ? WHERE "
			"name = ?",
			"ijis", (int64_t)(enabled != 0), def, now, name);
	if (rc >= 0)
		rc = bump_rev(db, err);
finish:
	json_decref(row);
	return cp_db_finish(db, rc, a, err);
}

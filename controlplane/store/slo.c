/*
 * slo.c - SLO definitions, burn-rate alerts and the append-only event log.
 * Every alert transition and its event land in one transaction, so a
 * consumer of the event log never sees a state the alerts table lacks.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "fairlead/json.h"

/* Columns holding JSON text come back as values, not strings. */
static void parse_col(json_t *rows, const char *col)
{
	const char *cols[] = {col, NULL};

	cp_db_parse_json_cols(rows, cols);
}

/* Resolves the firing alerts of slo inside the caller's transaction. */
static int resolve_firing_in_tx(sqlite3 *db, const char *slo, int64_t now, const char *why,
				struct fl_err *err)
{
	json_t *rows = NULL, *row;
	size_t i;
	int rc;

	rc = cp_db_query(&rows, db, err,
			 "SELECT id, slo, severity, pair FROM alerts WHERE state = 'firing' AND "
			 "slo = ?",
			 "s", slo);
	if (rc < 0)
		return rc;
	json_array_foreach (rows, i, row) {
		json_int_t id = json_integer_value(json_object_get(row, "id"));
		json_t *body =
		    json_pack("{s:I,s:s,s:s,s:s,s:s}", "alert_id", id, "slo", slo, "severity",
			      json_string_value(json_object_get(row, "severity")), "pair",
			      json_string_value(json_object_get(row, "pair")), "reason", why);

		if (!body) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			break;
		}
		rc = cp_db_exec(
		    db, err, "UPDATE alerts SET state = 'resolved', resolved_at = ? WHERE id = ?",
		    "ii", now, (int64_t)id);
		if (rc >= 0)
			rc = cp_db_event_in_tx(NULL, db, "alert.resolved", slo, body, now, err);
		json_decref(body);
		if (rc < 0)
			break;
	}
	json_decref(rows);
	return rc < 0 ? rc : 0;
}

static int put_in_tx(sqlite3 *db, json_t *defs, const char *source, int64_t now, struct fl_err *err)
{
	size_t i;
	json_t *d;
	int rc = 0;

	if (!json_is_array(defs))
		return fl_err_set(err, FL_EINVAL, "definitions must be an array");
	json_array_foreach (defs, i, d) {
		const char *name = json_string_value(json_object_get(d, "name"));

		if (!name)
			return fl_err_set(err, FL_EINVAL, "definition %zu has no name", i);
		rc =
		    cp_db_exec(db, err,
			       "INSERT INTO slos (name, definition, source, updated_at) VALUES (?, "
			       "?, ?, ?) ON CONFLICT (name) DO UPDATE SET definition = "
			       "excluded.definition, source = excluded.source, updated_at = "
			       "excluded.updated_at",
			       "sjsi", name, d, source, now);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int cp_store_slos_put(struct cp_store *s, json_t *defs, const char *source, int64_t now,
		      const struct cp_audit_rec *a, struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = put_in_tx(db, defs, source, now, err);
	return cp_db_finish(db, rc, a, err);
}

int cp_store_slos_replace_files(struct cp_store *s, json_t *defs, int64_t now, struct fl_err *err)
{
	json_t *old = NULL, *row;
	sqlite3 *db;
	size_t i, j;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = cp_db_query(&old, db, err, "SELECT name FROM slos WHERE source = 'file'", "");
	json_array_foreach (old, i, row) {
		const char *name = json_string_value(json_object_get(row, "name"));
		json_t *d;
		int kept = 0;

		if (rc < 0)
			break;
		json_array_foreach (defs, j, d) {
			const char *n = json_string_value(json_object_get(d, "name"));

			if (n && strcmp(n, name) == 0)
				kept = 1;
		}
		if (kept)
			continue;
		rc = resolve_firing_in_tx(db, name, now, "slo file removed", err);
		if (rc >= 0)
			rc = cp_db_exec(db, err, "DELETE FROM slos WHERE name = ?", "s", name);
	}
	json_decref(old);
	if (rc >= 0)
		rc = put_in_tx(db, defs, "file", now, err);
	return cp_db_finish(db, rc, NULL, err);
}

int cp_store_slo_get(json_t **out, struct cp_store *s, const char *name, struct fl_err *err)
{
	int rc = cp_db_row(out, s, err,
			   "SELECT name, definition, source, updated_at FROM slos WHERE name = ?",
			   "s", name);

	if (rc == FL_ENOTFOUND)
		return fl_err_set(err, rc, "no SLO '%s'", name);
	if (rc == 0) {
		json_t *d = json_object_get(*out, "definition"), *parsed = NULL;

		if (json_is_string(d) &&
		    fl_json_parse(&parsed, json_string_value(d), json_string_length(d), NULL) == 0)
			json_object_set_new(*out, "definition", parsed);
	}
	return rc;
}

int cp_store_slos_list(json_t **out, struct cp_store *s, struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	rc = cp_db_query(out, db, err,
			 "SELECT name, definition, source, updated_at FROM slos ORDER BY name", "");
	if (rc == 0)
		parse_col(*out, "definition");
	return rc;
}

int cp_store_slo_delete(struct cp_store *s, const char *name, int64_t now,
			const struct cp_audit_rec *a, struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = cp_db_exec(db, err, "DELETE FROM slos WHERE name = ?", "s", name);
	if (rc == 0)
		rc = fl_err_set(err, FL_ENOTFOUND, "no SLO '%s'", name);
	if (rc >= 0)
		rc = resolve_firing_in_tx(db, name, now, "slo deleted", err);
	return cp_db_finish(db, rc, a, err);
}

static json_t *alert_body(int64_t id, const char *slo, const char *severity, const char *pair,
			  json_t *explanation)
{
	return json_pack("{s:I,s:s,s:s,s:s,s:O}", "alert_id", (json_int_t)id, "slo", slo,
			 "severity", severity, "pair", pair, "explanation",
			 explanation ? explanation : json_null());
}

int cp_store_alert_open(int64_t *id, struct cp_store *s, const char *slo, const char *severity,
			const char *pair, int64_t now, json_t *explanation, struct fl_err *err)
{
	json_t *body = NULL;
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = cp_db_exec(db, err,
			"INSERT INTO alerts (slo, severity, pair, state, started_at, explanation) "
			"VALUES (?, ?, ?, 'firing', ?, ?)",
			"sssij", slo, severity, pair, now, explanation);
	if (rc >= 0) {
		*id = sqlite3_last_insert_rowid(db);
		if (!(body = alert_body(*id, slo, severity, pair, explanation)))
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		else
			rc = cp_db_event_in_tx(NULL, db, "alert.firing", slo, body, now, err);
	}
	json_decref(body);
	return cp_db_finish(db, rc, NULL, err);
}

int cp_store_alert_update(struct cp_store *s, int64_t id, json_t *explanation, struct fl_err *err)
{
	return cp_db_mutate(s, NULL, err,
			    "UPDATE alerts SET explanation = ? WHERE id = ? AND state = 'firing'",
			    "ji", explanation, id);
}

int cp_store_alert_resolve(struct cp_store *s, int64_t id, int64_t now, json_t *explanation,
			   struct fl_err *err)
{
	json_t *row = NULL, *body = NULL;
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = cp_db_exec(db, err,
			"UPDATE alerts SET state = 'resolved', resolved_at = ?, explanation = ? "
			"WHERE id = ? AND state = 'firing'",
			"iji", now, explanation, id);
	if (rc == 0)
		rc = fl_err_set(err, FL_ENOTFOUND, "no firing alert %lld", (long long)id);
	if (rc >= 0)
		rc = cp_db_query(&row, db, err,
				 "SELECT slo, severity, pair FROM alerts WHERE id = ?", "i", id);
	if (rc >= 0) {
		json_t *r = json_array_get(row, 0);
		const char *slo = json_string_value(json_object_get(r, "slo"));

		if (!(body =
			  alert_body(id, slo, json_string_value(json_object_get(r, "severity")),
				     json_string_value(json_object_get(r, "pair")), explanation)))
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		else
			rc = cp_db_event_in_tx(NULL, db, "alert.resolved", slo, body, now, err);
	}
	json_decref(body);
	json_decref(row);
	return cp_db_finish(db, rc, NULL, err);
}

int cp_store_alerts_list(json_t **out, struct cp_store *s, const char *state, int limit,
			 struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	rc = cp_db_query(out, db, err,
			 "SELECT id, slo, severity, pair, state, started_at, resolved_at, "
			 "explanation FROM alerts WHERE ? IS NULL OR state = ? ORDER BY id DESC "
			 "LIMIT ?",
			 "ssi", state, state, (int64_t)limit);
	if (rc == 0)
		parse_col(*out, "explanation");
	return rc;
}

int cp_store_event_append(int64_t *seq, struct cp_store *s, const char *kind, const char *subject,
			  json_t *body, int64_t now, struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = cp_db_event_in_tx(seq, db, kind, subject, body, now, err);
	return cp_db_finish(db, rc, NULL, err);
}

int cp_store_events_append(struct cp_store *s, const char *kind, const char *const *subjects,
			   json_t *const *bodies, size_t n, int64_t now,
			   const struct cp_audit_rec *a, struct fl_err *err)
{
	sqlite3 *db;
	int rc = 0;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	for (size_t i = 0; i < n && rc >= 0; i++)
		rc = cp_db_event_in_tx(NULL, db, kind, subjects[i], bodies[i], now, err);
	return cp_db_finish(db, rc, a, err);
}

int cp_store_events_list(json_t **out, struct cp_store *s, int64_t after, int limit,
			 struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	rc = cp_db_query(out, db, err,
			 "SELECT seq, at, kind, subject, body FROM events WHERE seq > ? ORDER BY "
			 "seq LIMIT ?",
			 "ii", after, (int64_t)limit);
	if (rc == 0)
		parse_col(*out, "body");
	return rc;
}

int cp_store_events_last(int64_t *seq, struct cp_store *s, struct fl_err *err)
{
	json_t *row = NULL;
	int rc = cp_db_row(&row, s, err, "SELECT COALESCE(MAX(seq), 0) AS seq FROM events", "");

	*seq = 0;
	if (rc < 0)
		return rc;
	*seq = json_integer_value(json_object_get(row, "seq"));
	json_decref(row);
	return 0;
}

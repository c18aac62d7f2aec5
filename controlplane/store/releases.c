/*
 * releases.c - the release tables: the root chain, pushed releases, director
 * assignments, reported update status and the signed timestamps. Envelopes
 * are TEXT holding the exact bytes that are served and hashed.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "fairlead/json.h"

/* How many timestamps to keep: the newest is served, a few older ones help
 * when reading a log of what was served. */
#define TIMESTAMPS_KEPT 16

/* Copies the text column `col` of the first row into a new string. */
static int first_text(char **out, json_t *rows, const char *col)
{
	const char *v = json_string_value(json_object_get(json_array_get(rows, 0), col));

	if (!v)
		return FL_ENOTFOUND;
	if (!(*out = strdup(v)))
		return FL_ENOMEM;
	return 0;
}

int cp_store_root_get(char **out, int64_t *out_version, struct cp_store *s, int64_t version,
		      struct fl_err *err)
{
	sqlite3 *db;
	json_t *rows = NULL;
	int rc;

	*out = NULL;
	CP_DB_CONN(db, s, err);
	if (version > 0)
		rc = cp_db_query(&rows, db, err,
				 "SELECT version, envelope FROM roots WHERE version = ?", "i",
				 version);
	else
		rc = cp_db_query(&rows, db, err,
				 "SELECT version, envelope FROM roots ORDER BY version DESC "
				 "LIMIT 1",
				 "");
	if (rc < 0)
		return rc;
	rc = first_text(out, rows, "envelope");
	if (rc == FL_ENOTFOUND)
		rc = version > 0 ? fl_err_set(err, rc, "no root version %lld", (long long)version)
				 : fl_err_set(err, rc, "no root yet: PUT /api/v1/root first");
	else if (rc < 0)
		rc = fl_err_set(err, rc, "out of memory");
	else if (out_version)
		*out_version =
		    json_integer_value(json_object_get(json_array_get(rows, 0), "version"));
	json_decref(rows);
	return rc;
}

int cp_store_root_add(struct cp_store *s, int64_t version, const char *envelope, int64_t now,
		      const struct cp_audit_rec *a, struct fl_err *err)
{
	/* The INSERT ... SELECT inserts only when version is the next one (any
	 * version into an empty table: the first root is trusted on first use),
	 * so two racing PUTs of the same version cannot both land. */
	int rc = cp_db_mutate(s, a, err,
			      "INSERT INTO roots (version, envelope, created_at) "
			      "SELECT ?, ?, ? WHERE ? = (SELECT COALESCE(MAX(version) + 1, ?4) "
			      "FROM roots)",
			      "isii", version, envelope, now, version);

	if (rc == FL_ENOTFOUND)
		rc = fl_err_set(err, FL_ECONFLICT, "root version %lld is not the next version",
				(long long)version);
	else if (rc == FL_EEXISTS)
		rc = fl_err_set(err, rc, "root version %lld already exists", (long long)version);
	return rc;
}

int cp_store_release_max_counter(int64_t *out, struct cp_store *s, const char *name,
				 struct fl_err *err)
{
	sqlite3 *db;
	json_t *rows = NULL;
	int rc;

	CP_DB_CONN(db, s, err);
	rc = cp_db_query(&rows, db, err,
			 "SELECT COALESCE(MAX(counter), 0) AS c FROM releases WHERE name = ?", "s",
			 name);
	if (rc < 0)
		return rc;
	*out = json_integer_value(json_object_get(json_array_get(rows, 0), "c"));
	json_decref(rows);
	return 0;
}

int cp_store_release_add(struct cp_store *s, const struct cp_release_row *r,
			 const struct cp_audit_rec *a, struct fl_err *err)
{
	/* The counter check is part of the INSERT, so it holds under the write
	 * lock even when two pushes of one name race. */
	int rc = cp_db_mutate(
	    s, a, err,
	    "INSERT INTO releases (name, version, kind, counter, hardware, commit_id, sha256, "
	    "envelope, created_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 "
	    "WHERE ?4 > (SELECT COALESCE(MAX(counter), 0) FROM releases WHERE name = ?1) "
	    /* a known name@version goes on to hit the primary key: FL_EEXISTS */
	    "OR EXISTS (SELECT 1 FROM releases WHERE name = ?1 AND version = ?2)",
	    "sssijsssi", r->name, r->version, r->kind, r->counter, r->hardware, r->commit,
	    r->sha256, r->envelope, r->created_at);

	if (rc == FL_ENOTFOUND)
		rc = fl_err_set(err, FL_ECONFLICT,
				"release counter %lld of '%s' is not above every earlier one",
				(long long)r->counter, r->name);
	else if (rc == FL_EEXISTS)
		rc = fl_err_set(err, rc, "release %s@%s already exists", r->name, r->version);
	return rc;
}

#define RELEASE_SUMMARY "name, version, kind, counter, commit_id AS \"commit\", sha256, created_at"

int cp_store_releases_list(json_t **out, struct cp_store *s, struct fl_err *err)
{
	sqlite3 *db;

	CP_DB_CONN(db, s, err);
	return cp_db_query(out, db, err,
			   "SELECT " RELEASE_SUMMARY " FROM releases ORDER BY name, counter", "");
}

int cp_store_release_get(json_t **out, struct cp_store *s, const char *name, const char *version,
			 struct fl_err *err)
{
	json_t *row = NULL, *hw = NULL;
	int rc;

	*out = NULL;
	rc = cp_db_row(&row, s, err,
		       "SELECT " RELEASE_SUMMARY ", hardware, envelope FROM releases "
		       "WHERE name = ? AND version = ?",
		       "ss", name, version);
	if (rc == FL_ENOTFOUND)
		return fl_err_set(err, FL_ENOTFOUND, "release %s@%s not found", name, version);
	if (rc < 0)
		return rc;
	/* hardware is not one of cp_db_query's JSON columns: parse it here. */
	if (fl_json_parse(&hw, json_string_value(json_object_get(row, "hardware")),
			  strlen(json_string_value(json_object_get(row, "hardware"))), NULL) < 0)
		hw = json_array();
	json_object_set_new(row, "hardware", hw);
	*out = row; /* now owned by the caller */
	return 0;
}

int cp_store_release_digests(json_t **out, struct cp_store *s, struct fl_err *err)
{
	sqlite3 *db;
	json_t *rows = NULL, *row, *map;
	size_t i;
	int rc;

	*out = NULL;
	CP_DB_CONN(db, s, err);
	rc = cp_db_query(&rows, db, err,
			 "SELECT name || '@' || version AS id, sha256 FROM releases", "");
	if (rc < 0)
		return rc;
	map = json_object();
	json_array_foreach (rows, i, row)
		json_object_set(map, json_string_value(json_object_get(row, "id")),
				json_object_get(row, "sha256"));
	json_decref(rows);
	*out = map;
	return map ? 0 : fl_err_set(err, FL_ENOMEM, "out of memory");
}

int cp_store_timestamp_latest(char **out, int64_t *version, int64_t *expires, struct cp_store *s,
			      struct fl_err *err)
{
	sqlite3 *db;
	json_t *rows = NULL, *row;
	int rc;

	*out = NULL;
	CP_DB_CONN(db, s, err);
	rc = cp_db_query(&rows, db, err,
			 "SELECT version, envelope, expires_at FROM timestamps ORDER BY version "
			 "DESC LIMIT 1",
			 "");
	if (rc < 0)
		return rc;
	row = json_array_get(rows, 0);
	rc = first_text(out, rows, "envelope");
	if (rc == 0) {
		*version = json_integer_value(json_object_get(row, "version"));
		*expires = json_integer_value(json_object_get(row, "expires_at"));
	} else if (rc == FL_ENOTFOUND) {
		fl_err_set(err, rc, "no timestamp yet");
	} else {
		fl_err_set(err, rc, "out of memory");
	}
	json_decref(rows);
	return rc;
}

int cp_store_timestamp_add(struct cp_store *s, int64_t version, const char *envelope,
			   int64_t expires, int64_t now, struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = cp_db_exec(db, err,
			"INSERT INTO timestamps (version, envelope, expires_at, created_at) "
			"SELECT ?1, ?2, ?3, ?4 WHERE ?1 > (SELECT COALESCE(MAX(version), 0) "
			"FROM timestamps)",
			"isii", version, envelope, expires, now);
	if (rc == 0)
		rc = fl_err_set(err, FL_EEXISTS, "timestamp version %lld is not the newest",
				(long long)version);
	if (rc >= 0)
		rc = cp_db_exec(db, err, "DELETE FROM timestamps WHERE version <= ?", "i",
				version - TIMESTAMPS_KEPT);
	return cp_db_finish(db, rc, NULL, err);
}

int cp_store_assignment_set(struct cp_store *s, const struct cp_assignment_row *r,
			    const struct cp_audit_rec *a, struct fl_err *err)
{
	/* The SELECT yields no row for an unknown device or release. */
	int rc = cp_db_mutate(s, a, err, CP_SQL_ASSIGNMENT_UPSERT, CP_SQL_ASSIGNMENT_ARGS(r));

	if (rc == FL_ENOTFOUND)
		rc = fl_err_set(err, rc, "device '%s' or release %s@%s not found", r->device_id,
				r->name, r->version);
	return rc;
}

#define ASSIGNMENT_COLUMNS                                                                         \
	"a.device_id, a.release_name, a.release_version, a.counter, a.rollback, a.issued_at, "     \
	"a.expires_at"

int cp_store_assignment_get(json_t **out, struct cp_store *s, const char *device_id,
			    struct fl_err *err)
{
	json_t *row = NULL;
	int rc;

	*out = NULL;
	rc = cp_db_row(&row, s, err,
		       "SELECT " ASSIGNMENT_COLUMNS ", a.envelope, r.envelope AS "
		       "release_envelope, r.sha256 AS release_sha256 FROM assignments a "
		       "JOIN releases r ON r.name = a.release_name AND "
		       "r.version = a.release_version WHERE a.device_id = ?",
		       "s", device_id);
	if (rc == FL_ENOTFOUND)
		return fl_err_set(err, FL_ENOTFOUND, "device '%s' has no assignment", device_id);
	if (rc < 0)
		return rc;
	json_object_set_new(row, "rollback",
			    json_boolean(json_integer_value(json_object_get(row, "rollback"))));
	*out = row; /* now owned by the caller */
	return 0;
}

int cp_store_assignments_expiring(json_t **out, struct cp_store *s, int64_t before, int limit,
				  struct fl_err *err)
{
	sqlite3 *db;

	CP_DB_CONN(db, s, err);
	return cp_db_query(out, db, err,
			   "SELECT " ASSIGNMENT_COLUMNS ", r.sha256 AS release_sha256 "
			   "FROM assignments a JOIN releases r ON r.name = a.release_name AND "
			   "r.version = a.release_version WHERE a.expires_at < ? "
			   "ORDER BY a.expires_at LIMIT ?",
			   "ii", before, (int64_t)limit);
}

int cp_store_assignment_resign(struct cp_store *s, const struct cp_assignment_row *r,
			       struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	rc = cp_db_exec(db, err,
			"UPDATE assignments SET issued_at = ?, expires_at = ?, envelope = ? "
			"WHERE device_id = ? AND release_name = ? AND release_version = ? AND "
			"counter = ? AND rollback = ?",
			"iissssii", r->issued_at, r->expires_at, r->envelope, r->device_id, r->name,
			r->version, r->counter, (int64_t)r->rollback);
	return rc < 0 ? rc : 0;
}

int cp_store_device_update_get(json_t **out, struct cp_store *s, const char *device_id,
			       struct fl_err *err)
{
	json_t *row = NULL;
	int rc;

	*out = NULL;
	rc = cp_db_row(&row, s, err,
		       "SELECT release, state, progress, reason, updated_at FROM "
		       "device_updates WHERE device_id = ?",
		       "s", device_id);
	if (rc == FL_ENOTFOUND)
		return FL_ENOTFOUND;
	if (rc < 0)
		return rc;
	*out = row; /* now owned by the caller */
	return 0;
}

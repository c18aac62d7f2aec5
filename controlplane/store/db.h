/*
 * db.h - internals shared by the store's files: the per-thread connection,
 * transactions, and two helpers that bind parameters from a format string.
 *
 * Format characters: 's' text (NULL binds NULL), 'i' int64, 'n' int64 where 0
 * binds NULL, 'j' json_t* stored as compact JSON text (NULL binds '{}').
 */
#ifndef CP_STORE_DB_H
#define CP_STORE_DB_H

#include <sqlite3.h>

#include "store.h"

sqlite3 *cp_db_conn(struct cp_store *s, struct fl_err *err);
/* Translates the connection's last error once, here. */
int cp_db_error(sqlite3 *db, struct fl_err *err);

int cp_db_begin(sqlite3 *db, struct fl_err *err);
int cp_db_commit(sqlite3 *db, struct fl_err *err);
void cp_db_rollback(sqlite3 *db);

/* Runs one statement; returns the number of changed rows, or a negative code
 * (FL_EEXISTS on a UNIQUE or PRIMARY KEY violation). */
int cp_db_exec(sqlite3 *db, struct fl_err *err, const char *sql, const char *fmt, ...);
/* Runs a query and returns its rows as a JSON array of objects keyed by
 * column name. Columns named labels, inventory, desired, reported, details,
 * args or result are parsed back into JSON values; revoked and auto_accept
 * become booleans. */
int cp_db_query(json_t **out, sqlite3 *db, struct fl_err *err, const char *sql, const char *fmt,
		...);

/* In each row of rows, each column named in cols (NULL-terminated) that
 * holds JSON text becomes the value it holds (left as text when it does
 * not parse). */
void cp_db_parse_json_cols(json_t *rows, const char *const *cols);

/* Sets db to the thread's connection or returns the error from the caller. */
#define CP_DB_CONN(db, s, err)                                                                     \
	do {                                                                                       \
		if (!((db) = cp_db_conn((s), (err))))                                              \
			return (err) ? (err)->code : FL_ERROR;                                     \
	} while (0)

/* Ends a transaction opened with cp_db_begin: when rc >= 0 appends the audit
 * entry a (if any) and commits; otherwise, or if that fails, rolls back.
 * Returns 0 or the first negative code. */
int cp_db_finish(sqlite3 *db, int rc, const struct cp_audit_rec *a, struct fl_err *err);

/* One row of a query that finds at most one (a new reference in *out), or
 * FL_ENOTFOUND (the caller words the message). Columns as in cp_db_query. */
int cp_db_row(json_t **out, struct cp_store *s, struct fl_err *err, const char *sql,
	      const char *fmt, ...);

/* The common mutation: one statement and its audit entry a (may be NULL) in
 * one transaction. A statement that changes no row is FL_ENOTFOUND (the
 * caller words the message) and rolls back, so nothing is audited for it. */
int cp_db_mutate(struct cp_store *s, const struct cp_audit_rec *a, struct fl_err *err,
		 const char *sql, const char *fmt, ...);

/* Appends an event to the event log inside the caller's open transaction
 * (*seq its sequence number when seq is not NULL); body NULL stores {}. */
int cp_db_event_in_tx(int64_t *seq, sqlite3 *db, const char *kind, const char *subject,
		      json_t *body, int64_t now, struct fl_err *err);

/* Appends an audit entry inside the caller's open transaction. */
int cp_db_audit_append(sqlite3 *db, const struct cp_audit_rec *a, struct fl_err *err);

/* One device's signed assignment, inserted or replaced (releases.c, and the
 * rollout controller inside its decision's transaction). No row changes for
 * an unknown device or release. Bound from a struct cp_assignment_row *r. */
#define CP_SQL_ASSIGNMENT_UPSERT                                                                   \
	"INSERT INTO assignments (device_id, release_name, release_version, counter, "             \
	"rollback, issued_at, expires_at, envelope) SELECT d.id, r.name, r.version, ?4, ?5, "      \
	"?6, ?7, ?8 FROM devices d, releases r WHERE d.id = ?1 AND r.name = ?2 AND "               \
	"r.version = ?3 ON CONFLICT (device_id) DO UPDATE SET "                                    \
	"release_name = excluded.release_name, release_version = excluded.release_version, "       \
	"counter = excluded.counter, rollback = excluded.rollback, "                               \
	"issued_at = excluded.issued_at, expires_at = excluded.expires_at, "                       \
	"envelope = excluded.envelope"
#define CP_SQL_ASSIGNMENT_ARGS(r)                                                                  \
	"sssiiiis", (r)->device_id, (r)->name, (r)->version, (r)->counter, (int64_t)(r)->rollback, \
	    (r)->issued_at, (r)->expires_at, (r)->envelope

#endif

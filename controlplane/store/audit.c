/*
 * audit.c - the append-only, hash-chained audit log (see fairlead/audit.h).
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "fairlead/audit.h"
#include "fairlead/json.h"
#include "fairlead/util.h"

int cp_db_audit_append(sqlite3 *db, const struct cp_audit_rec *a, struct fl_err *err)
{
	json_t *rows = NULL, *last;
	char prev[65], hash[65];
	char *details = NULL;
	int64_t seq, ts = fl_now();
	int rc;

	/* Inside the caller's IMMEDIATE transaction: nobody can append between
	 * reading the head and inserting after it. */
	rc = cp_db_query(&rows, db, err,
			 "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", "");
	if (rc < 0)
		return rc;
	last = json_array_get(rows, 0);
	seq = last ? json_integer_value(json_object_get(last, "seq")) + 1 : 1;
	snprintf(prev, sizeof(prev), "%s",
		 last ? json_string_value(json_object_get(last, "hash")) : FL_AUDIT_GENESIS);
	json_decref(rows);

	details = a->details ? fl_json_dumps(a->details) : strdup("{}");
	if (!details)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	fl_audit_hash(hash, prev, seq, ts, a->actor, a->action, a->target, details);
	rc = cp_db_exec(db, err,
			"INSERT INTO audit_log (seq, ts, actor, action, target, details, "
			"prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			"iissssss", seq, ts, a->actor ? a->actor : "", a->action,
			a->target ? a->target : "", details, prev, hash);
	free(details);
	return rc < 0 ? rc : 0;
}

int cp_store_audit_append(struct cp_store *s, const struct cp_audit_rec *a, struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	return cp_db_finish(db, 0, a, err);
}

int cp_store_audit_list(json_t **out, struct cp_store *s, int64_t after, int limit,
			struct fl_err *err)
{
	sqlite3 *db;

	CP_DB_CONN(db, s, err);
	return cp_db_query(out, db, err,
			   "SELECT seq, ts, actor, action, target, details, prev_hash, hash "
			   "FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
			   "ii", after, (int64_t)limit);
}

int cp_store_audit_head(int64_t *seq, char hash[65], struct cp_store *s, struct fl_err *err)
{
	sqlite3 *db;
	json_t *rows = NULL, *last;
	int rc;

	CP_DB_CONN(db, s, err);
	rc = cp_db_query(&rows, db, err,
			 "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", "");
	if (rc < 0)
		return rc;
	last = json_array_get(rows, 0);
	*seq = last ? json_integer_value(json_object_get(last, "seq")) : 0;
	snprintf(hash, 65, "%s",
		 last ? json_string_value(json_object_get(last, "hash")) : FL_AUDIT_GENESIS);
	json_decref(rows);
	return 0;
}

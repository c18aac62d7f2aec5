/*
 * replay.c - the nonces of accepted signatures dated in the future, kept
 * across restarts (core/replay.h says why only those).
 */
#include "db.h"

int cp_store_replay_put(struct cp_store *s, const char *keyid, const char *nonce, int64_t created,
			int64_t expires, int64_t now, struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	/* Such rows are rare: pruning on each insert keeps the table tiny. */
	rc = cp_db_exec(db, err, "DELETE FROM replay_nonces WHERE expires <= ?", "i", now);
	if (rc >= 0)
		rc = cp_db_exec(db, err,
				"INSERT INTO replay_nonces (keyid, nonce, created, expires) "
				"VALUES (?, ?, ?, ?)",
				"ssii", keyid, nonce, created, expires);
	return cp_db_finish(db, rc, NULL, err);
}

int cp_store_replay_load(json_t **out, struct cp_store *s, int64_t now, struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	*out = NULL;
	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_exec(db, err, "DELETE FROM replay_nonces WHERE expires <= ?", "i", now)) <
	    0)
		return rc;
	return cp_db_query(out, db, err,
			   "SELECT keyid, nonce, expires FROM replay_nonces WHERE expires > ?", "i",
			   now);
}

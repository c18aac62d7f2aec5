/*
 * gendb.c - registers preloaded devices directly in a server's database: the
 * simulator's only SQLite user.
 *
 * A bench with a million registered devices cannot enroll them one by one
 * through the API in its time budget. Their keys derive from a seed
 * (sim_derive_key), so the simulator can later sign as any of them; this
 * writes the same rows an enrollment would (devices + the active key in
 * device_keys, schema from migrations/0001_init.sql) in large transactions,
 * into a database that `fairleadd init` created and that no server has open.
 * No audit entries: these devices were never enrolled, they are a fixture.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "fairlead/util.h"
#include "sim.h"

#define BATCH 20000

static int db_fail(sqlite3 *db, const char *what, struct fl_err *err)
{
	return fl_err_set(err, FL_ERROR, "%s: %s", what, db ? sqlite3_errmsg(db) : "no database");
}

int sim_gendb(const struct sim_gendb_opts *o, struct fl_err *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *dev = NULL, *key = NULL, *chk = NULL;
	int64_t now = fl_now();
	int rc = 0, in_tx = 0;

	if (sqlite3_open_v2(o->db, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		rc = db_fail(db, "cannot open the database (run fairleadd init first)", err);
		goto cleanup;
	}
	sqlite3_busy_timeout(db, 10000);
	if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM schema_migrations", -1, &chk, NULL) !=
		SQLITE_OK ||
	    sqlite3_step(chk) != SQLITE_ROW) {
		rc = db_fail(db, "not a fairleadd database", err);
		goto cleanup;
	}
	sqlite3_finalize(chk);
	chk = NULL;
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;", NULL, NULL,
			 NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "INSERT INTO devices (id, state, labels, enrolled_at) "
			       "VALUES (?, 'accepted', ?, ?)",
			       -1, &dev, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "INSERT INTO device_keys (keyid, device_id, pubkey, active, "
			       "created_at) VALUES (?, ?, ?, 1, ?)",
			       -1, &key, NULL) != SQLITE_OK) {
		rc = db_fail(db, "prepare", err);
		goto cleanup;
	}
	for (long i = 0; i < o->count; i++) {
		uint8_t pk[FL_ED25519_PK_LEN], sk[FL_ED25519_SK_LEN];
		char id[80], keyid[FL_KEYID_LEN + 1], b64[48];
		long idx = o->first + i;

		if (!in_tx) {
			if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
				rc = db_fail(db, "begin", err);
				goto cleanup;
			}
			in_tx = 1;
		}
		sim_derive_key(pk, sk, o->seed, idx);
		memset(sk, 0, sizeof(sk));
		fl_keyid(keyid, pk);
		fl_b64_encode(b64, pk, sizeof(pk));
		snprintf(id, sizeof(id), "%s%07ld", o->id_prefix, idx);
		sqlite3_bind_text(dev, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(dev, 2, o->labels_json ? o->labels_json : "{}", -1,
				  SQLITE_STATIC);
		sqlite3_bind_int64(dev, 3, now);
		sqlite3_bind_text(key, 1, keyid, -1, SQLITE_STATIC);
		sqlite3_bind_text(key, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(key, 3, b64, -1, SQLITE_STATIC);
		sqlite3_bind_int64(key, 4, now);
		if (sqlite3_step(dev) != SQLITE_DONE || sqlite3_step(key) != SQLITE_DONE) {
			rc = db_fail(db, id, err);
			goto cleanup;
		}
		sqlite3_reset(dev);
		sqlite3_reset(key);
		if ((i + 1) % BATCH == 0 || i + 1 == o->count) {
			if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
				rc = db_fail(db, "commit", err);
				goto cleanup;
			}
			in_tx = 0;
		}
	}
	sqlite3_finalize(dev);
	sqlite3_finalize(key);
	dev = key = NULL;
	if (sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
		rc = db_fail(db, "checkpoint", err);
cleanup:
	if (in_tx)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_finalize(chk);
	sqlite3_finalize(dev);
	sqlite3_finalize(key);
	sqlite3_close(db);
	return rc;
}

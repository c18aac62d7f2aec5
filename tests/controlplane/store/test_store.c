/* test_store.c - the SQLite store on real files: schema and upgrades,
 * enrollment, keys, tokens, the audit chain, check-in batches, concurrency. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/audit.h"
#include "fairlead/crypto.h"
#include "fairlead/json.h"
#include "fl_test.h"
#include "store/store.h"

#define NOW 1700000000LL

static void init(void)
{
	cr_assert_eq(fl_crypto_init(), 0);
}

TestSuite(store, .init = init, .timeout = 60);

static const char *db_path(void)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/fairlead.db", fl_test_tmpdir());
	return path;
}

static struct cp_store *open_store(const char *path, int version)
{
	struct cp_store *s = NULL;
	struct fl_err err = {0, ""};

	cr_assert_eq(cp_store_open(&s, path, version, &err), 0, "open: %s", err.msg);
	cr_assert_not_null(s);
	return s;
}

/* Raw SQL on a separate connection; returns the sqlite3 result code. */
static int raw_exec(const char *path, const char *stmt, char *errbuf, size_t cap)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	int rc;

	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	rc = sqlite3_exec(db, stmt, NULL, NULL, &msg);
	if (errbuf)
		snprintf(errbuf, cap, "%s", msg ? msg : "");
	sqlite3_free(msg);
	sqlite3_close(db);
	return rc;
}

static int64_t raw_int(const char *path, const char *query)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v;

	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, query, -1, &st, NULL), SQLITE_OK, "%s: %s", query,
		     sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", query);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Recomputes the whole chain from the raw rows; returns the number of rows. */
static int64_t verify_chain(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char prev[65] = FL_AUDIT_GENESIS, h[65];
	int64_t expect = 1;

	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(
	    sqlite3_prepare_v2(db,
			       "SELECT seq, ts, actor, action, target, details, prev_hash, "
			       "hash FROM audit_log ORDER BY seq",
			       -1, &st, NULL),
	    SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(st, 0);

		cr_assert_eq(seq, expect, "gap in the chain: %lld after %lld", (long long)seq,
			     (long long)expect - 1);
		cr_assert_str_eq((const char *)sqlite3_column_text(st, 6), prev,
				 "prev_hash of %lld", (long long)seq);
		fl_audit_hash(h, prev, seq, sqlite3_column_int64(st, 1),
			      (const char *)sqlite3_column_text(st, 2),
			      (const char *)sqlite3_column_text(st, 3),
			      (const char *)sqlite3_column_text(st, 4),
			      (const char *)sqlite3_column_text(st, 5));
		cr_assert_str_eq((const char *)sqlite3_column_text(st, 7), h, "hash of %lld",
				 (long long)seq);
		memcpy(prev, h, sizeof(prev));
		expect++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return expect - 1;
}

static int64_t audit_count(struct cp_store *s)
{
	int64_t seq = -1;
	char hash[65];

	cr_assert_eq(cp_store_audit_head(&seq, hash, s, NULL), 0);
	return seq;
}

struct key {
	uint8_t pk[FL_ED25519_PK_LEN], sk[FL_ED25519_SK_LEN];
	char b64[64];
	char keyid[FL_KEYID_LEN + 1];
};

static void new_key(struct key *k)
{
	fl_ed25519_keypair(k->pk, k->sk);
	fl_b64_encode(k->b64, k->pk, sizeof(k->pk));
	fl_keyid(k->keyid, k->pk);
}

static void add_etoken(struct cp_store *s, const char *id, const char *hash, int64_t uses,
		       int64_t expires_at)
{
	struct cp_enroll_token t;
	struct cp_audit_rec a = {"token:admin (admin)", "enroll_token.create", id, NULL};
	struct fl_err err = {0, ""};

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%s", id);
	t.max_uses = t.uses_left = uses;
	t.labels = json_pack("{s:s}", "site", "berlin");
	t.created_at = NOW;
	t.expires_at = expires_at;
	cr_assert_eq(cp_store_enroll_token_add(s, &t, hash, &a, &err), 0, "%s", err.msg);
	json_decref(t.labels);
}

static int enroll(struct cp_store *s, const char *id, const struct key *k, const char *token,
		  int64_t now, struct fl_err *err)
{
	struct cp_enrollment e;
	struct cp_audit_rec a = {"device:x", "device.enroll", id, NULL};
	json_t *labels = json_pack("{s:s}", "site", "berlin");
	int rc;

	memset(&e, 0, sizeof(e));
	e.device_id = id;
	e.pubkey_b64 = k->b64;
	e.keyid = k->keyid;
	e.state = "pending";
	e.labels = labels;
	e.token_id = token;
	e.now = now;
	rc = cp_store_device_enroll(s, &e, &a, err);
	json_decref(labels);
	return rc;
}

/* ---------------------------------------------------------------------- */

Test(store, open_creates_schema_at_latest_version)
{
	const char *path = db_path();
	struct cp_store *s = open_store(path, -1);
	int v = -1;

	cr_assert_geq(cp_store_latest_version(), 2);
	cr_assert_eq(cp_store_version(&v, s, NULL), 0);
	cr_assert_eq(v, cp_store_latest_version());
	cr_assert_eq(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
				   "name IN ('devices', 'device_keys', 'preauthorized', "
				   "'api_tokens', 'enroll_tokens', 'audit_log', 'commands', "
				   "'roots', 'releases', 'assignments', 'device_updates', "
				   "'timestamps')"),
		     12);
	cr_assert_eq(raw_int(path, "SELECT COUNT(*) FROM schema_migrations"),
		     cp_store_latest_version());
	cr_assert_eq(audit_count(s), 0);
	cp_store_free(s);

	/* Reopening is a no-op. */
	s = open_store(path, -1);
	cr_assert_eq(cp_store_version(&v, s, NULL), 0);
	cr_assert_eq(v, cp_store_latest_version());
	cr_assert_eq(cp_store_checkpoint(s, NULL), 0);
	cp_store_free(s);
	cr_assert_eq(raw_int(path, "SELECT COUNT(*) FROM schema_migrations"),
		     cp_store_latest_version());
}

/* Representative rows for the tables each version introduced, in that
 * version's own schema. */
static const struct {
	int version; /* the schema version that has these tables */
	const char *sql;
} seed_rows[] = {
    {1, "INSERT INTO devices (id, state, labels, inventory, enrolled_at, last_seen) VALUES "
	"('dev-old', 'accepted', '{\"site\":\"berlin\"}', '{\"os\":\"linux\"}', 1600000000, "
	"1600000100);"
	"INSERT INTO device_keys (keyid, device_id, pubkey, active, created_at) VALUES "
	"('%s', 'dev-old', '%s', 1, 1600000000);"
	"INSERT INTO preauthorized (device_id, pubkey, labels, created_at) VALUES "
	"('dev-pre', 'cHJl', '{}', 1600000000);"
	"INSERT INTO api_tokens (id, hash, role, name, created_at) VALUES "
	"('tok-old', 'hash-old', 'viewer', 'old', 1600000000);"
	"INSERT INTO enroll_tokens (id, hash, max_uses, uses_left, labels, auto_accept, "
	"created_at, expires_at) VALUES ('et-old', 'ehash-old', 5, 4, '{}', 0, 1600000000, "
	"4000000000);"
	"INSERT INTO audit_log (seq, ts, actor, action, target, details, prev_hash, hash) "
	"VALUES (1, 1600000000, 'token:tok-old (admin)', 'device.accept', 'dev-old', '{}', "
	"'" FL_AUDIT_GENESIS "', '%s');"},
    {2, "INSERT INTO commands (id, device_id, type, args, status, created_at) VALUES "
	"('cmd-old', 'dev-old', 'ping', '{}', 'queued', 1600000200);"},
    {3, "INSERT INTO roots (version, envelope, created_at) VALUES (1, '{}', 1600000300);"
	"INSERT INTO releases (name, version, kind, counter, commit_id, sha256, envelope, "
	"created_at) VALUES ('det', '1.0.0', 'model', 1, 'c0', 's0', '{}', 1600000300);"
	"INSERT INTO assignments (device_id, release_name, release_version, counter, rollback, "
	"issued_at, expires_at, envelope) VALUES ('dev-old', 'det', '1.0.0', 1, 0, 1600000300, "
	"1600086700, '{}');"},
};

Test(store, upgrade_from_every_earlier_version_preserves_data)
{
	int latest = cp_store_latest_version();
	struct key k;

	new_key(&k);
	for (int v = 0; v < latest; v++) {
		const char *path = db_path();
		struct cp_store *s = open_store(path, v);
		char errbuf[256], audit_hash[65];
		struct fl_err err = {0, ""};
		int have = -1;

		cr_assert_eq(cp_store_version(&have, s, NULL), 0);
		cr_assert_eq(have, v, "opened at %d, schema is %d", v, have);
		cp_store_free(s);
		fl_audit_hash(audit_hash, FL_AUDIT_GENESIS, 1, 1600000000, "token:tok-old (admin)",
			      "device.accept", "dev-old", "{}");
		for (size_t i = 0; i < sizeof(seed_rows) / sizeof(seed_rows[0]); i++) {
			char stmt[4096];

			if (seed_rows[i].version > v)
				continue;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
			snprintf(stmt, sizeof(stmt), seed_rows[i].sql, k.keyid, k.b64, audit_hash);
#pragma GCC diagnostic pop
			cr_assert_eq(raw_exec(path, stmt, errbuf, sizeof(errbuf)), SQLITE_OK,
				     "seed v%d: %s", seed_rows[i].version, errbuf);
		}

		s = open_store(path, -1);
		cr_assert_eq(cp_store_version(&have, s, NULL), 0);
		cr_assert_eq(have, latest, "upgrade from %d reached %d", v, have);
		if (v >= 1) {
			json_t *dev = NULL, *cmds = NULL;
			struct cp_token t;
			struct cp_enroll_token et;
			char pre[64];
			json_t *pre_labels = NULL;

			cr_assert_eq(cp_store_device_get(&dev, s, "dev-old", &err), 0, "%s",
				     err.msg);
			cr_assert_str_eq(json_string_value(json_object_get(dev, "state")),
					 "accepted");
			cr_assert_str_eq(json_string_value(json_object_get(dev, "keyid")), k.keyid);
			cr_assert_str_eq(json_string_value(json_object_get(
					     json_object_get(dev, "labels"), "site")),
					 "berlin");
			cr_assert_eq(json_integer_value(json_object_get(dev, "last_seen")),
				     1600000100);
			json_decref(dev);
			cr_assert_eq(cp_store_token_by_hash(&t, s, "hash-old", NULL), 0);
			cr_assert_str_eq(t.id, "tok-old");
			cr_assert_str_eq(t.role, "viewer");
			cr_assert_eq(cp_store_enroll_token_by_hash(&et, s, "ehash-old", NULL), 0);
			cr_assert_eq(et.uses_left, 4);
			cp_enroll_token_release(&et);
			cr_assert_eq(cp_store_preauth_get(pre, &pre_labels, s, "dev-pre", NULL), 0);
			cr_assert_str_eq(pre, "cHJl");
			json_decref(pre_labels);
			cr_assert_eq(verify_chain(path), 1);
			/* The new tables work with the old rows. */
			cr_assert_eq(cp_store_commands_list(&cmds, s, "dev-old", 0, 0, NULL), 0);
			cr_assert_eq(json_array_size(cmds), v >= 2 ? 1 : 0);
			if (v >= 2) {
				/* rebuilt by 0008: the row, its status and its args kept;
				 * no deadline, so it never reads as expired */
				json_t *c0 = json_array_get(cmds, 0);

				cr_assert_str_eq(json_string_value(json_object_get(c0, "type")),
						 "ping");
				cr_assert_str_eq(json_string_value(json_object_get(c0, "status")),
						 "queued");
				cr_assert_eq(json_is_null(json_object_get(c0, "deliver_by")), 1);
			}
			json_decref(cmds);
			cr_assert_eq(cp_store_command_add(s, "cmd-new", "dev-old", "ping", NULL,
							  NOW, NULL, &err),
				     0, "%s", err.msg);
			/* The triggers came along too. */
			cr_assert_neq(raw_exec(path, "DELETE FROM audit_log", NULL, 0), SQLITE_OK);
		}
		cp_store_free(s);
	}
}

Test(store, database_newer_than_binary_is_refused)
{
	const char *path = db_path();
	struct cp_store *s = open_store(path, -1);
	struct fl_err err = {0, ""};
	char stmt[256];

	cp_store_free(s);
	snprintf(stmt, sizeof(stmt),
		 "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%d, "
		 "'9999_future.sql', 0)",
		 cp_store_latest_version() + 1);
	cr_assert_eq(raw_exec(path, stmt, NULL, 0), SQLITE_OK);
	s = (struct cp_store *)1;
	cr_assert_eq(cp_store_open(&s, path, -1, &err), FL_ECONFLICT);
	cr_assert_null(s);
	cr_assert(strstr(err.msg, "newer") != NULL, "%s", err.msg);
}

/* A corrupt page is found at start rather than served; the message names the
 * file and the first problem. */
Test(store, quick_check_refuses_a_corrupt_page)
{
	const char *path = db_path();
	struct cp_store *s = open_store(path, -1);
	struct fl_err err = {0, ""};
	char junk[4096];
	FILE *f;
	long size;

	cp_store_free(s);
	cr_assert_eq(cp_store_check(path, &err), 0, "sound database: %s", err.msg);
	f = fopen(path, "r+b");
	cr_assert_not_null(f);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	cr_assert_gt(size, 8 * 4096L, "the schema alone spans pages");
	memset(junk, 0xa5, sizeof(junk));
	/* The page in the middle, whole: a b-tree page no more. */
	cr_assert_eq(fseek(f, (size / 4096 / 2) * 4096, SEEK_SET), 0);
	cr_assert_eq(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(cp_store_check(path, &err), FL_ERROR);
	cr_assert(strstr(err.msg, path) != NULL, "%s", err.msg);
	cr_assert(strstr(err.msg, "quick_check") != NULL, "%s", err.msg);
	cr_assert(strstr(err.msg, "Page ") != NULL, "names the page: %s", err.msg);
}

Test(store, enrollment_consumes_token_uses)
{
	const char *path = db_path();
	struct cp_store *s = open_store(path, -1);
	struct key k1, k2, k3;
	struct cp_enroll_token et;
	struct fl_err err = {0, ""};
	int64_t before;

	new_key(&k1);
	new_key(&k2);
	new_key(&k3);
	add_etoken(s, "et-one", "h-one", 1, NOW + 3600);
	add_etoken(s, "et-old", "h-old", 5, NOW - 1);
	cr_assert_eq(enroll(s, "dev-1", &k1, "et-one", NOW, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_store_enroll_token_by_hash(&et, s, "h-one", NULL), 0);
	cr_assert_eq(et.uses_left, 0);
	cr_assert_eq(et.max_uses, 1);
	cr_assert_str_eq(json_string_value(json_object_get(et.labels, "site")), "berlin");
	cp_enroll_token_release(&et);

	before = audit_count(s);
	cr_assert_eq(enroll(s, "dev-2", &k2, "et-one", NOW, &err), FL_EGONE);
	cr_assert_eq(err.code, FL_EGONE);
	/* Expired: the token's expiry is checked in the same statement. */
	cr_assert_eq(enroll(s, "dev-3", &k3, "et-old", NOW, &err), FL_EGONE);
	cr_assert_eq(enroll(s, "dev-3", &k3, "et-missing", NOW, &err), FL_EGONE);
	cr_assert_eq(audit_count(s), before, "a failed enrollment wrote an audit entry");
	cr_assert_eq(raw_int(path, "SELECT COUNT(*) FROM devices"), 1);
	cr_assert_eq(raw_int(path, "SELECT COUNT(*) FROM device_keys"), 1);
	cr_assert_eq(raw_int(path, "SELECT uses_left FROM enroll_tokens WHERE id = 'et-old'"), 5);

	/* A revoked token is gone too. */
	add_etoken(s, "et-rev", "h-rev", 3, NOW + 3600);
	cr_assert_eq(cp_store_enroll_token_revoke(s, "et-rev", NOW, NULL, NULL), 0);
	cr_assert_eq(cp_store_enroll_token_revoke(s, "et-rev", NOW, NULL, NULL), FL_ENOTFOUND);
	cr_assert_eq(enroll(s, "dev-4", &k3, "et-rev", NOW, &err), FL_EGONE);
	cp_store_free(s);
}

struct race {
	struct cp_store *s;
	int idx;
	int rc;
};

static void *race_enroll(void *arg)
{
	struct race *r = arg;
	struct key k;
	char id[32];

	new_key(&k);
	snprintf(id, sizeof(id), "race-%d", r->idx);
	r->rc = enroll(r->s, id, &k, "et-race", NOW, NULL);
	return NULL;
}

Test(store, racing_enrollments_take_exactly_the_available_uses)
{
	const char *path = db_path();
	struct cp_store *s = open_store(path, -1);
	struct race r[8];
	pthread_t th[8];
	int ok = 0, gone = 0;

	add_etoken(s, "et-race", "h-race", 3, NOW + 3600);
	for (int i = 0; i < 8; i++) {
		r[i].s = s;
		r[i].idx = i;
		r[i].rc = 1;
		cr_assert_eq(pthread_create(&th[i], NULL, race_enroll, &r[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ok += r[i].rc == 0;
		gone += r[i].rc == FL_EGONE;
	}
	cr_assert_eq(ok, 3);
	cr_assert_eq(gone, 5);
	cr_assert_eq(raw_int(path, "SELECT uses_left FROM enroll_tokens WHERE id = 'et-race'"), 0);
	cr_assert_eq(raw_int(path, "SELECT COUNT(*) FROM devices"), 3);
	cr_assert_eq(verify_chain(path), 1 + 3);
	cp_store_free(s);
}

Test(store, duplicate_device_or_key_is_exists_and_rolls_back)
{
	const char *path = db_path();
	struct cp_store *s = open_store(path, -1);
	struct key k1, k2;
	struct fl_err err = {0, ""};
	int64_t before;

	new_key(&k1);
	new_key(&k2);
	add_etoken(s, "et-5", "h-5", 5, NOW + 3600);
	cr_assert_eq(enroll(s, "dev-1", &k1, "et-5", NOW, &err), 0, "%s", err.msg);
	before = audit_count(s);
	cr_assert_eq(enroll(s, "dev-1", &k2, "et-5", NOW, &err), FL_EEXISTS);
	cr_assert(strstr(err.msg, "dev-1") != NULL, "%s", err.msg);
	/* Same key under another id. */
	cr_assert_eq(enroll(s, "dev-2", &k1, "et-5", NOW, &err), FL_EEXISTS);
	/* Neither failure used up the token nor wrote the log. */
	cr_assert_eq(raw_int(path, "SELECT uses_left FROM enroll_tokens WHERE id = 'et-5'"), 4);
	cr_assert_eq(audit_count(s), before);
	cr_assert_eq(raw_int(path, "SELECT COUNT(*) FROM devices"), 1);
	cp_store_free(s);
}

struct loaded {
	int n;
	char keyid[FL_KEYID_LEN + 1];
	uint8_t pk[FL_ED25519_PK_LEN];
	char state[16];
	int open_commands;
	char site[16];
};

static int load_cb(const struct cp_device_core *d, void *ctx)
{
	struct loaded *l = ctx;

	l->n++;
	memcpy(l->keyid, d->keyid, sizeof(l->keyid));
	memcpy(l->pk, d->pk, sizeof(l->pk));
	memcpy(l->state, d->state, sizeof(l->state));
	l->open_commands = d->open_commands;
	snprintf(l->site, sizeof(l->site), "%s",
		 json_string_value(json_object_get(d->labels, "site")));
	return 0;
}

Test(store, one_active_key_per_device_and_rotation)
{
	const char *path = db_path();
	struct cp_store *s = open_store(path, -1);
	struct key k1, k2, k3;
	struct fl_err err = {0, ""};
	struct loaded l;
	char stmt[512], errbuf[256];
	json_t *dev = NULL;

	new_key(&k1);
	new_key(&k2);
	new_key(&k3);
	add_etoken(s, "et", "h", 5, NOW + 3600);
	cr_assert_eq(enroll(s, "dev-1", &k1, "et", NOW, &err), 0, "%s", err.msg);

	/* The database itself refuses a second active key. */
	snprintf(stmt, sizeof(stmt),
		 "INSERT INTO device_keys (keyid, device_id, pubkey, active, created_at) VALUES "
		 "('%s', 'dev-1', '%s', 1, 1)",
		 k3.keyid, k3.b64);
	cr_assert_neq(raw_exec(path, stmt, errbuf, sizeof(errbuf)), SQLITE_OK);
	cr_assert(strstr(errbuf, "UNIQUE") != NULL, "%s", errbuf);

	/* Rotation with the wrong old key changes nothing. */
	cr_assert_eq(
	    cp_store_device_rotate_key(s, "dev-1", k2.keyid, k2.keyid, k2.b64, NOW + 1, NULL, &err),
	    FL_ECONFLICT);
	cr_assert_eq(
	    cp_store_device_rotate_key(s, "dev-1", k1.keyid, k2.keyid, k2.b64, NOW + 1, NULL, &err),
	    0, "%s", err.msg);
	cr_assert_eq(raw_int(path, "SELECT COUNT(*) FROM device_keys WHERE device_id = 'dev-1' "
				   "AND active = 1"),
		     1);
	cr_assert_eq(raw_int(path, "SELECT COUNT(*) FROM device_keys WHERE device_id = 'dev-1' "
				   "AND active = 0 AND retired_at = 1700000001"),
		     1);
	cr_assert_eq(cp_store_device_get(&dev, s, "dev-1", NULL), 0);
	cr_assert_str_eq(json_string_value(json_object_get(dev, "keyid")), k2.keyid);
	json_decref(dev);
	memset(&l, 0, sizeof(l));
	cr_assert_eq(cp_store_devices_load(s, load_cb, &l, NULL), 0);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.keyid, k2.keyid);
	cr_assert_eq(memcmp(l.pk, k2.pk, sizeof(l.pk)), 0);
	cr_assert_str_eq(l.state, "pending");
	cr_assert_str_eq(l.site, "berlin");

	/* The retired key cannot rotate again, nor come back. */
	cr_assert_eq(
	    cp_store_device_rotate_key(s, "dev-1", k1.keyid, k3.keyid, k3.b64, NOW + 2, NULL, &err),
	    FL_ECONFLICT);
	cr_assert_eq(
	    cp_store_device_rotate_key(s, "dev-1", k2.keyid, k1.keyid, k1.b64, NOW + 2, NULL, &err),
	    FL_EEXISTS);
	/* ... and that failure left k2 active. */
	cr_assert_eq(raw_int(path, "SELECT COUNT(*) FROM device_keys WHERE active = 1"), 1);
	cp_store_free(s);
}

Test(store, audit_chain_follows_mutations_and_is_append_only)
{
	const char *path = db_path();
	struct cp_store *s = open_store(path, -1);
	struct key k1;
	struct cp_token t;
	struct cp_audit_rec a = {"token:tok-1 (admin)", "x.test", "target", NULL};
	struct fl_err err = {0, ""};
	json_t *labels = json_pack("{s:s}", "tier", "gold"), *desired = json_pack("{s:i}", "v", 3);
	json_t *list = NULL, *e;
	int64_t version = 0, seq;
	char hash[65], errbuf[256];

	new_key(&k1);
	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "tok-1");
	snprintf(t.role, sizeof(t.role), "admin");
	snprintf(t.name, sizeof(t.name), "first");
	t.created_at = NOW;
	a.action = "token.create";
	cr_assert_eq(cp_store_token_add(s, &t, "thash", &a, &err), 0, "%s", err.msg);
	add_etoken(s, "et", "h", 5, NOW + 3600);
	cr_assert_eq(enroll(s, "dev-1", &k1, "et", NOW, &err), 0, "%s", err.msg);
	a.action = "device.accept";
	a.details = json_pack("{s:s,s:s}", "to", "accepted", "from", "pending");
	cr_assert_eq(cp_store_device_set_state(s, "dev-1", "accepted", "ok", NOW, &a, &err), 0);
	json_decref(a.details);
	a.details = NULL;
	a.action = "device.label";
	cr_assert_eq(cp_store_device_set_labels(s, "dev-1", labels, &a, &err), 0);
	a.action = "device.desire";
	cr_assert_eq(cp_store_device_set_desired(&version, s, "dev-1", desired, &a, &err), 0);
	cr_assert_eq(version, 1);
	cr_assert_eq(cp_store_device_set_desired(&version, s, "dev-1", desired, &a, &err), 0);
	cr_assert_eq(version, 2);
	a.action = "device.command";
	cr_assert_eq(cp_store_command_add(s, "cmd-1", "dev-1", "ping", NULL, NOW, &a, &err), 0);
	a.action = "token.revoke";
	cr_assert_eq(cp_store_token_revoke(s, "tok-1", NOW, &a, &err), 0);

	cr_assert_eq(verify_chain(path), 9);
	cr_assert_eq(cp_store_audit_head(&seq, hash, s, NULL), 0);
	cr_assert_eq(seq, 9);
	cr_assert_eq(cp_store_audit_list(&list, s, 2, 3, NULL), 0);
	cr_assert_eq(json_array_size(list), 3);
	e = json_array_get(list, 0);
	cr_assert_eq(json_integer_value(json_object_get(e, "seq")), 3);
	cr_assert_str_eq(json_string_value(json_object_get(e, "action")), "device.enroll");
	e = json_array_get(list, 1);
	cr_assert_str_eq(json_string_value(json_object_get(e, "action")), "device.accept");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "details"), "to")),
			 "accepted");
	cr_assert_str_eq(json_string_value(json_object_get(e, "actor")), "token:tok-1 (admin)");
	json_decref(list);
	/* Details are stored compact with sorted keys, as hashed. */
	cr_assert_eq(raw_int(path, "SELECT COUNT(*) FROM audit_log WHERE seq = 4 AND details = "
				   "'{\"from\":\"pending\",\"to\":\"accepted\"}'"),
		     1);

	/* The triggers refuse edits, even on a raw connection. */
	cr_assert_neq(raw_exec(path, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", errbuf,
			       sizeof(errbuf)),
		      SQLITE_OK);
	cr_assert(strstr(errbuf, "append-only") != NULL, "%s", errbuf);
	cr_assert_neq(raw_exec(path, "DELETE FROM audit_log WHERE seq = 8", errbuf, sizeof(errbuf)),
		      SQLITE_OK);
	cr_assert(strstr(errbuf, "append-only") != NULL, "%s", errbuf);
	cr_assert_eq(verify_chain(path), 9);
	json_decref(labels);
	json_decref(desired);
	cp_store_free(s);
}

Test(store, failed_mutations_write_no_audit_entry)
{
	const char *path = db_path();
	struct cp_store *s = open_store(path, -1);
	struct cp_audit_rec a = {"token:t (admin)", "x", "dev-missing", NULL};
	struct fl_err err = {0, ""};
	struct cp_token t;
	json_t *obj = json_object();
	int64_t version = -7;

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "tok-1");
	snprintf(t.role, sizeof(t.role), "viewer");
	cr_assert_eq(cp_store_token_add(s, &t, "h1", &a, &err), 0, "%s", err.msg);
	cr_assert_eq(audit_count(s), 1);

	cr_assert_eq(cp_store_device_set_state(s, "dev-missing", "accepted", NULL, NOW, &a, &err),
		     FL_ENOTFOUND);
	cr_assert_eq(cp_store_device_set_labels(s, "dev-missing", obj, &a, &err), FL_ENOTFOUND);
	cr_assert_eq(cp_store_device_set_desired(&version, s, "dev-missing", obj, &a, &err),
		     FL_ENOTFOUND);
	cr_assert_eq(cp_store_command_add(s, "c", "dev-missing", "ping", NULL, NOW, &a, &err),
		     FL_ENOTFOUND);
	cr_assert_eq(cp_store_token_revoke(s, "tok-missing", NOW, &a, &err), FL_ENOTFOUND);
	cr_assert_eq(cp_store_token_add(s, &t, "h2", &a, &err), FL_EEXISTS);
	snprintf(t.id, sizeof(t.id), "tok-2");
	cr_assert_eq(cp_store_token_add(s, &t, "h1", &a, &err), FL_EEXISTS);
	/* The schema's CHECK: an unknown role is a conflict, not a crash. */
	snprintf(t.role, sizeof(t.role), "root");
	cr_assert_lt(cp_store_token_add(s, &t, "h3", &a, &err), 0);
	cr_assert_eq(audit_count(s), 1);
	cr_assert_eq(raw_int(path, "SELECT COUNT(*) FROM api_tokens"), 1);
	/* The store still works after all those rollbacks. */
	cr_assert_eq(cp_store_audit_append(s, &a, &err), 0, "%s", err.msg);
	cr_assert_eq(verify_chain(path), 2);
	json_decref(obj);
	cp_store_free(s);
}

Test(store, tokens_by_hash_list_revoke)
{
	const char *path = db_path();
	struct cp_store *s = open_store(path, -1);
	struct cp_token t, got;
	json_t *list = NULL;

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "tok-a");
	snprintf(t.role, sizeof(t.role), "release-manager");
	snprintf(t.name, sizeof(t.name), "ci");
	t.created_at = NOW;
	t.expires_at = NOW + 60;
	cr_assert_eq(cp_store_token_add(s, &t, "hash-a", NULL, NULL), 0);
	cr_assert_eq(cp_store_token_by_hash(&got, s, "hash-a", NULL), 0);
	cr_assert_str_eq(got.id, "tok-a");
	cr_assert_str_eq(got.role, "release-manager");
	cr_assert_str_eq(got.name, "ci");
	cr_assert_eq(got.created_at, NOW);
	cr_assert_eq(got.expires_at, NOW + 60);
	cr_assert_eq(got.revoked_at, 0);
	cr_assert_eq(cp_store_token_by_hash(&got, s, "hash-b", NULL), FL_ENOTFOUND);
	cr_assert_eq(cp_store_token_revoke(s, "tok-a", NOW + 5, NULL, NULL), 0);
	cr_assert_eq(cp_store_token_by_hash(&got, s, "hash-a", NULL), 0);
	cr_assert_eq(got.revoked_at, NOW + 5);
	cr_assert_eq(cp_store_tokens_list(&list, s, NULL), 0);
	cr_assert_eq(json_array_size(list), 1);
	cr_assert_eq(json_is_true(json_object_get(json_array_get(list, 0), "revoked")), 1);
	json_decref(list);
	(void)path;
	cp_store_free(s);
}

Test(store, checkins_apply_updates_devices_and_commands)
{
	const char *path = db_path();
	struct cp_store *s = open_store(path, -1);
	struct key k1, k2;
	struct fl_err err = {0, ""};
	struct cp_checkin_rec recs[2];
	struct cp_command_result res[3];
	json_t *dev = NULL, *cmds = NULL, *c;
	struct loaded l;

	new_key(&k1);
	new_key(&k2);
	add_etoken(s, "et", "h", 5, NOW + 3600);
	cr_assert_eq(enroll(s, "dev-1", &k1, "et", NOW, &err), 0, "%s", err.msg);
	cr_assert_eq(enroll(s, "dev-2", &k2, "et", NOW, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_store_command_add(s, "cmd-1", "dev-1", "ping", NULL, NOW, NULL, NULL), 0);
	cr_assert_eq(cp_store_command_add(s, "cmd-2", "dev-1", "ping", NULL, NOW + 1, NULL, NULL),
		     0);
	cr_assert_eq(cp_store_command_add(s, "cmd-3", "dev-2", "ping", NULL, NOW, NULL, NULL), 0);

	memset(recs, 0, sizeof(recs));
	memset(res, 0, sizeof(res));
	snprintf(recs[0].device_id, sizeof(recs[0].device_id), "dev-1");
	recs[0].last_seen = NOW + 10;
	recs[0].inventory = "{\"os\":\"linux\"}";
	recs[0].reported = "{\"config\":{\"v\":1}}";
	snprintf(recs[1].device_id, sizeof(recs[1].device_id), "dev-2");
	recs[1].last_seen = NOW + 20;
	snprintf(res[0].id, sizeof(res[0].id), "cmd-1");
	snprintf(res[0].device_id, sizeof(res[0].device_id), "dev-1");
	snprintf(res[0].status, sizeof(res[0].status), "delivered");
	res[0].at = NOW + 10;
	snprintf(res[1].id, sizeof(res[1].id), "cmd-2");
	snprintf(res[1].device_id, sizeof(res[1].device_id), "dev-1");
	snprintf(res[1].status, sizeof(res[1].status), "ok");
	res[1].result = "{\"pong\":true}";
	res[1].at = NOW + 11;
	/* A device cannot complete another device's command. */
	snprintf(res[2].id, sizeof(res[2].id), "cmd-3");
	snprintf(res[2].device_id, sizeof(res[2].device_id), "dev-1");
	snprintf(res[2].status, sizeof(res[2].status), "error");
	res[2].at = NOW + 11;
	cr_assert_eq(cp_store_checkins_apply(s, recs, 2, res, 3, &err), 0, "%s", err.msg);

	cr_assert_eq(cp_store_device_get(&dev, s, "dev-1", NULL), 0);
	cr_assert_eq(json_integer_value(json_object_get(dev, "last_seen")), NOW + 10);
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(dev, "inventory"), "os")), "linux");
	cr_assert_eq(json_integer_value(json_object_get(
			 json_object_get(json_object_get(dev, "reported"), "config"), "v")),
		     1);
	json_decref(dev);
	cr_assert_eq(cp_store_device_get(&dev, s, "dev-2", NULL), 0);
	cr_assert_eq(json_integer_value(json_object_get(dev, "last_seen")), NOW + 20);
	cr_assert_eq(json_object_size(json_object_get(dev, "inventory")), 0);
	json_decref(dev);

	cr_assert_eq(cp_store_commands_list(&cmds, s, "dev-1", 0, 0, NULL), 0);
	cr_assert_eq(json_array_size(cmds), 2);
	c = json_array_get(cmds, 0); /* newest first */
	cr_assert_str_eq(json_string_value(json_object_get(c, "id")), "cmd-2");
	cr_assert_str_eq(json_string_value(json_object_get(c, "status")), "ok");
	cr_assert_eq(json_is_true(json_object_get(json_object_get(c, "result"), "pong")), 1);
	cr_assert_eq(json_integer_value(json_object_get(c, "completed_at")), NOW + 11);
	c = json_array_get(cmds, 1);
	cr_assert_str_eq(json_string_value(json_object_get(c, "status")), "delivered");
	cr_assert_eq(json_integer_value(json_object_get(c, "delivered_at")), NOW + 10);
	json_decref(cmds);
	cr_assert_eq(cp_store_commands_list(&cmds, s, "dev-2", 1, 0, NULL), 0);
	cr_assert_eq(json_array_size(cmds), 1, "cmd-3 was completed by the wrong device");
	json_decref(cmds);
	cr_assert_eq(cp_store_commands_list(&cmds, s, "dev-1", 1, 0, NULL), 0);
	cr_assert_eq(json_array_size(cmds), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cmds, 0), "id")),
			 "cmd-1");
	json_decref(cmds);

	/* A late, older batch neither moves last_seen back nor clears fields. */
	recs[0].last_seen = NOW + 1;
	recs[0].inventory = NULL;
	recs[0].reported = NULL;
	cr_assert_eq(cp_store_checkins_apply(s, recs, 1, NULL, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_store_device_get(&dev, s, "dev-1", NULL), 0);
	cr_assert_eq(json_integer_value(json_object_get(dev, "last_seen")), NOW + 10);
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(dev, "inventory"), "os")), "linux");
	json_decref(dev);

	/* Open commands are counted for the registry. */
	memset(&l, 0, sizeof(l));
	cr_assert_eq(cp_store_devices_load(s, load_cb, &l, NULL), 0);
	cr_assert_eq(l.n, 2);
	/* check-ins write no audit entries */
	cr_assert_eq(verify_chain(path), 3);
	cp_store_free(s);
}

#define THREADS	   8
#define PER_THREAD 200

struct appender {
	struct cp_store *s;
	int idx;
	int failures;
};

static void *append_many(void *arg)
{
	struct appender *ap = arg;
	char actor[32], target[32];

	snprintf(actor, sizeof(actor), "thread:%d", ap->idx);
	for (int i = 0; i < PER_THREAD; i++) {
		struct cp_audit_rec a = {actor, "test.append", target, NULL};
		struct fl_err err = {0, ""};

		snprintf(target, sizeof(target), "n-%d", i);
		if (cp_store_audit_append(ap->s, &a, &err) < 0)
			ap->failures++;
	}
	return NULL;
}

Test(store, concurrent_audit_appends_make_one_valid_chain)
{
	const char *path = db_path();
	struct cp_store *s = open_store(path, -1);
	struct appender ap[THREADS];
	pthread_t th[THREADS];
	int64_t seq;
	char hash[65];

	for (int i = 0; i < THREADS; i++) {
		ap[i].s = s;
		ap[i].idx = i;
		ap[i].failures = 0;
		cr_assert_eq(pthread_create(&th[i], NULL, append_many, &ap[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(ap[i].failures, 0, "thread %d: %d appends failed", i, ap[i].failures);
	}
	cr_assert_eq(verify_chain(path), THREADS * PER_THREAD);
	cr_assert_eq(cp_store_audit_head(&seq, hash, s, NULL), 0);
	cr_assert_eq(seq, THREADS * PER_THREAD);
	for (int i = 0; i < THREADS; i++) {
		char q[128];

		snprintf(q, sizeof(q), "SELECT COUNT(*) FROM audit_log WHERE actor = 'thread:%d'",
			 i);
		cr_assert_eq(raw_int(path, q), PER_THREAD);
	}
	cp_store_free(s);
}

Test(store, devices_page_and_missing_device)
{
	struct cp_store *s = open_store(db_path(), -1);
	struct fl_err err = {0, ""};
	json_t *dev = NULL, *page = NULL;
	int64_t version = 0;
	struct key k;
	char id[16];

	add_etoken(s, "et", "h", 100, NOW + 3600);
	for (int i = 0; i < 5; i++) {
		new_key(&k);
		snprintf(id, sizeof(id), "dev-%d", i);
		cr_assert_eq(enroll(s, id, &k, "et", NOW, &err), 0, "%s", err.msg);
	}
	cr_assert_eq(cp_store_device_get(&dev, s, "nope", &err), FL_ENOTFOUND);
	cr_assert_null(dev);
	cr_assert_eq(cp_store_device_desired(&dev, &version, s, "nope", NULL), FL_ENOTFOUND);
	cr_assert_eq(cp_store_devices_page(&page, s, "dev-1", 2, NULL), 0);
	cr_assert_eq(json_array_size(page), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(page, 0), "id")),
			 "dev-2");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(page, 1), "id")),
			 "dev-3");
	json_decref(page);
	cr_assert_eq(cp_store_devices_page(&page, s, NULL, 100, NULL), 0);
	cr_assert_eq(json_array_size(page), 5);
	json_decref(page);
	cp_store_free(s);
}

/* ---------------------------------------------------------------------- */

static void enroll_dev(struct cp_store *s, const char *id)
{
	struct key k;
	struct cp_enrollment e = {0};
	struct fl_err err = {0, ""};
	json_t *labels = json_object();

	new_key(&k);
	e.device_id = id;
	e.pubkey_b64 = k.b64;
	e.keyid = k.keyid;
	e.state = "accepted";
	e.labels = labels;
	e.now = NOW;
	cr_assert_eq(cp_store_device_enroll(s, &e, NULL, &err), 0, "%s", err.msg);
	json_decref(labels);
}

Test(store, roots_follow_versions)
{
	struct cp_store *s = open_store(db_path(), -1);
	char *env = NULL;
	int64_t v = 0;

	cr_assert_eq(cp_store_root_get(&env, &v, s, 0, NULL), FL_ENOTFOUND);
	/* the first root may start at any version (trust on first use) */
	cr_assert_eq(cp_store_root_add(s, 3, "{\"v\":3}", NOW, NULL, NULL), 0);
	cr_assert_eq(cp_store_root_add(s, 3, "{}", NOW, NULL, NULL), FL_ECONFLICT);
	cr_assert_eq(cp_store_root_add(s, 5, "{}", NOW, NULL, NULL), FL_ECONFLICT);
	cr_assert_eq(cp_store_root_add(s, 4, "{\"v\":4}", NOW, NULL, NULL), 0);
	cr_assert_eq(cp_store_root_get(&env, &v, s, 0, NULL), 0);
	cr_assert_eq(v, 4);
	cr_assert_str_eq(env, "{\"v\":4}");
	free(env);
	cr_assert_eq(cp_store_root_get(&env, NULL, s, 3, NULL), 0);
	cr_assert_str_eq(env, "{\"v\":3}");
	free(env);
	cr_assert_eq(cp_store_root_get(&env, NULL, s, 9, NULL), FL_ENOTFOUND);
	cp_store_free(s);
}

Test(store, releases_counters_assignments_and_updates)
{
	struct cp_store *s = open_store(db_path(), -1);
	json_t *hw = json_array(), *rows = NULL, *row = NULL;
	struct cp_release_row r = {"det", "1.0.0", "model", 5, NULL, "c1", "s1", "E1\n", NOW};
	struct cp_assignment_row a = {"dev-1", "det", "1.0.0", 5, 0, NOW, NOW + 86400, "A1"};
	struct cp_audit_rec au = {"token:t (admin)", "release.push", "det", NULL};
	struct cp_checkin_rec c = {0};
	int64_t max = -1;

	r.hardware = hw;
	enroll_dev(s, "dev-1");
	cr_assert_eq(cp_store_release_add(s, &r, &au, NULL), 0);
	cr_assert_eq(audit_count(s), 1);
	cr_assert_eq(cp_store_release_add(s, &r, &au, NULL), FL_EEXISTS);
	r.version = "1.1.0";
	r.sha256 = "s2";
	cr_assert_eq(cp_store_release_add(s, &r, &au, NULL), FL_ECONFLICT, "same counter");
	r.counter = 6;
	cr_assert_eq(cp_store_release_add(s, &r, &au, NULL), 0);
	cr_assert_eq(audit_count(s), 2, "refused pushes are not audited");
	cr_assert_eq(cp_store_release_max_counter(&max, s, "det", NULL), 0);
	cr_assert_eq(max, 6);
	cr_assert_eq(cp_store_release_max_counter(&max, s, "other", NULL), 0);
	cr_assert_eq(max, 0);
	cr_assert_eq(cp_store_releases_list(&rows, s, NULL), 0);
	cr_assert_eq(json_array_size(rows), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(rows, 0), "commit")),
			 "c1");
	json_decref(rows);
	cr_assert_eq(cp_store_release_digests(&rows, s, NULL), 0);
	cr_assert_str_eq(json_string_value(json_object_get(rows, "det@1.1.0")), "s2");
	json_decref(rows);

	cr_assert_eq(cp_store_assignment_set(s, &a, NULL, NULL), 0);
	a.device_id = "nope";
	cr_assert_eq(cp_store_assignment_set(s, &a, NULL, NULL), FL_ENOTFOUND);
	a.device_id = "dev-1";
	cr_assert_eq(cp_store_assignment_get(&row, s, "dev-1", NULL), 0);
	cr_assert_str_eq(json_string_value(json_object_get(row, "envelope")), "A1");
	cr_assert_str_eq(json_string_value(json_object_get(row, "release_envelope")), "E1\n");
	cr_assert_str_eq(json_string_value(json_object_get(row, "release_sha256")), "s1");
	json_decref(row);
	cr_assert_eq(cp_store_assignments_expiring(&rows, s, NOW + 86401, 10, NULL), 0);
	cr_assert_eq(json_array_size(rows), 1);
	json_decref(rows);
	a.envelope = "A2";
	a.issued_at = NOW + 100;
	cr_assert_eq(cp_store_assignment_resign(s, &a, NULL), 0);
	cr_assert_eq(cp_store_assignment_get(&row, s, "dev-1", NULL), 0);
	cr_assert_str_eq(json_string_value(json_object_get(row, "envelope")), "A2");
	json_decref(row);

	/* the write-behind's update status lands in device_updates, twice */
	snprintf(c.device_id, sizeof(c.device_id), "dev-1");
	c.last_seen = NOW + 5;
	c.update = "{\"release\":\"det@1.0.0\",\"state\":\"downloading\",\"progress\":0.5}";
	cr_assert_eq(cp_store_checkins_apply(s, &c, 1, NULL, 0, NULL), 0);
	c.update = "{\"release\":\"det@1.0.0\",\"state\":\"failed\",\"reason\":\"hash\"}";
	cr_assert_eq(cp_store_checkins_apply(s, &c, 1, NULL, 0, NULL), 0);
	cr_assert_eq(cp_store_device_update_get(&row, s, "dev-1", NULL), 0);
	cr_assert_str_eq(json_string_value(json_object_get(row, "state")), "failed");
	cr_assert_str_eq(json_string_value(json_object_get(row, "reason")), "hash");
	cr_assert_eq(json_is_null(json_object_get(row, "progress")), 1);
	json_decref(row);

	cr_assert_eq(cp_store_timestamp_add(s, 1, "T1", NOW + 3600, NOW, NULL), 0);
	cr_assert_eq(cp_store_timestamp_add(s, 1, "T1", NOW + 3600, NOW, NULL), FL_EEXISTS);
	json_decref(hw);
	cp_store_free(s);
}

Test(store, slos_alerts_and_append_only_events)
{
	const char *path = db_path();
	struct cp_store *s = open_store(path, -1);
	struct fl_err err = {0, ""};
	json_t *defs = json_pack("[{s:s,s:f},{s:s,s:f}]", "name", "a", "objective", 0.99, "name",
				 "b", "objective", 0.9);
	json_t *bad = json_pack("[{s:s},{s:f}]", "name", "c", "objective", 0.5);
	json_t *rows = NULL, *row = NULL, *expl = json_pack("{s:f}", "burn_rate_long", 20.0);
	struct cp_audit_rec a = {"test", "slo.put", "a", NULL};
	char errbuf[256];
	int64_t id = 0;

	cr_assert_eq(cp_store_slos_put(s, defs, "api", 100, &a, &err), 0, "%s", err.msg);
	/* all or nothing: the second definition has no name */
	cr_assert_eq(cp_store_slos_put(s, bad, "api", 100, NULL, &err), FL_EINVAL);
	cr_assert_eq(cp_store_slos_list(&rows, s, NULL), 0);
	cr_assert_eq(json_array_size(rows), 2);
	json_decref(rows);
	cr_assert_eq(cp_store_slo_get(&row, s, "a", NULL), 0);
	cr_assert_float_eq(
	    json_number_value(json_object_get(json_object_get(row, "definition"), "objective")),
	    0.99, 1e-12);
	json_decref(row);
	cr_assert_eq(cp_store_slo_get(&row, s, "zz", &err), FL_ENOTFOUND);

	cr_assert_eq(cp_store_alert_open(&id, s, "a", "page", "1h/5m", 200, expl, &err), 0, "%s",
		     err.msg);
	/* one firing alert per pair */
	cr_assert_eq(cp_store_alert_open(&id, s, "a", "page", "1h/5m", 201, expl, &err),
		     FL_EEXISTS);
	cr_assert_eq(cp_store_alert_resolve(s, id, 300, expl, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_store_alert_resolve(s, id, 301, expl, &err), FL_ENOTFOUND);
	cr_assert_eq(cp_store_alerts_list(&rows, s, "resolved", 10, NULL), 0);
	cr_assert_eq(json_array_size(rows), 1);
	cr_assert_float_eq(
	    json_number_value(json_object_get(
		json_object_get(json_array_get(rows, 0), "explanation"), "burn_rate_long")),
	    20, 1e-12);
	json_decref(rows);
	cr_assert_eq(cp_store_events_list(&rows, s, 0, 10, NULL), 0);
	cr_assert_eq(json_array_size(rows), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(rows, 1), "kind")),
			 "alert.resolved");
	json_decref(rows);
	cr_assert_eq(cp_store_events_list(&rows, s, 1, 10, NULL), 0);
	cr_assert_eq(json_array_size(rows), 1);
	json_decref(rows);
	cr_assert_neq(raw_exec(path, "DELETE FROM events", errbuf, sizeof(errbuf)), SQLITE_OK);
	cr_assert_neq(raw_exec(path, "UPDATE events SET kind = 'x'", errbuf, sizeof(errbuf)),
		      SQLITE_OK);
	cr_assert_eq(cp_store_slo_delete(s, "a", 400, NULL, &err), 0);
	cr_assert_eq(cp_store_slo_delete(s, "a", 400, NULL, &err), FL_ENOTFOUND);
	cr_assert_eq(raw_int(path, "SELECT COUNT(*) FROM audit_log WHERE action = 'slo.put'"), 1);
	json_decref(defs);
	json_decref(bad);
	json_decref(expl);
	cp_store_free(s);
}

Test(store, commands_expire_unless_delivered_and_keys_make_one)
{
	const char *path = db_path();
	struct cp_store *s = open_store(path, -1);
	struct fl_err err = {0, ""};
	struct key k;
	json_t *c = NULL, *c2 = NULL, *cmds = NULL, *args = json_pack("{s:s}", "module", "m");
	int created = -1;
	struct cp_command_new n = {.id = "cmd-a",
				   .device_id = "dev-1",
				   .type = "calibrate",
				   .args = args,
				   .deliver_by = NOW + 60,
				   .idem_key = "run-1:0",
				   .now = NOW};

	new_key(&k);
	add_etoken(s, "et", "h", 5, NOW + 3600);
	cr_assert_eq(enroll(s, "dev-1", &k, "et", NOW, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_store_command_create(&c, &created, s, &n, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(created, 1);
	cr_assert_str_eq(json_string_value(json_object_get(c, "status")), "queued");
	cr_assert_eq(json_integer_value(json_object_get(c, "deliver_by")), NOW + 60);
	/* the same key again: the first command, nothing new */
	n.id = "cmd-b";
	cr_assert_eq(cp_store_command_create(&c2, &created, s, &n, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(created, 0);
	cr_assert_str_eq(json_string_value(json_object_get(c2, "id")), "cmd-a");
	json_decref(c2);
	/* the key with other args is refused */
	n.args = NULL;
	cr_assert_eq(cp_store_command_create(&c2, &created, s, &n, NULL, &err), FL_ECONFLICT);
	cr_assert_null(c2);
	cr_assert(strstr(err.msg, "run-1:0") != NULL, "%s", err.msg);
	/* an unknown device */
	n.device_id = "dev-none";
	n.idem_key = NULL;
	cr_assert_eq(cp_store_command_create(&c2, &created, s, &n, NULL, &err), FL_ENOTFOUND);

	/* delivered until its deadline, expired from it on, and never delivered then */
	cr_assert_eq(cp_store_commands_list(&cmds, s, "dev-1", 1, NOW + 59, NULL), 0);
	cr_assert_eq(json_array_size(cmds), 1);
	json_decref(cmds);
	cr_assert_eq(cp_store_commands_list(&cmds, s, "dev-1", 1, NOW + 60, NULL), 0);
	cr_assert_eq(json_array_size(cmds), 0);
	json_decref(cmds);
	json_decref(c);
	cr_assert_eq(cp_store_command_get(&c, s, "dev-1", "cmd-a", NOW + 60, &err), 0);
	cr_assert_str_eq(json_string_value(json_object_get(c, "status")), "expired");
	json_decref(c);
	cr_assert_eq(cp_store_command_get(&c, s, "dev-1", "cmd-a", NOW + 59, &err), 0);
	cr_assert_str_eq(json_string_value(json_object_get(c, "status")), "queued");
	json_decref(c);
	cr_assert_eq(cp_store_command_get(&c, s, "dev-1", "cmd-zz", NOW, &err), FL_ENOTFOUND);

	/* delivered in time, it stays open past the deadline and its result,
	 * "refused" among them, is recorded */
	{
		struct cp_command_result res[2];

		memset(res, 0, sizeof(res));
		snprintf(res[0].id, sizeof(res[0].id), "cmd-a");
		snprintf(res[0].device_id, sizeof(res[0].device_id), "dev-1");
		snprintf(res[0].status, sizeof(res[0].status), "delivered");
		res[0].at = NOW + 30;
		cr_assert_eq(cp_store_checkins_apply(s, NULL, 0, res, 1, &err), 0, "%s", err.msg);
		cr_assert_eq(cp_store_commands_list(&cmds, s, "dev-1", 1, NOW + 600, NULL), 0);
		cr_assert_eq(json_array_size(cmds), 1);
		json_decref(cmds);
		snprintf(res[1].id, sizeof(res[1].id), "cmd-a");
		snprintf(res[1].device_id, sizeof(res[1].device_id), "dev-1");
		snprintf(res[1].status, sizeof(res[1].status), "refused");
		res[1].at = NOW + 700;
		cr_assert_eq(cp_store_checkins_apply(s, NULL, 0, res + 1, 1, &err), 0, "%s",
			     err.msg);
		cr_assert_eq(cp_store_command_get(&c, s, "dev-1", "cmd-a", NOW + 800, &err), 0);
		cr_assert_str_eq(json_string_value(json_object_get(c, "status")), "refused");
		json_decref(c);
	}
	json_decref(args);
	cp_store_free(s);
}

/* kinds of the events after seq, space-separated */
static char *event_kinds(struct cp_store *s, int64_t after)
{
	static char buf[512];
	json_t *evs = NULL, *e;
	size_t i, n = 0;

	buf[0] = '\0';
	cr_assert_eq(cp_store_events_list(&evs, s, after, 100, NULL), 0);
	json_array_foreach (evs, i, e)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? " " : "",
				      json_string_value(json_object_get(e, "kind")));
	json_decref(evs);
	return buf;
}

Test(store, state_changes_and_failed_updates_are_events_once)
{
	const char *path = db_path();
	struct cp_store *s = open_store(path, -1);
	struct fl_err err = {0, ""};
	struct cp_audit_rec a = {"token:t (admin)", "device.quarantine", "dev-1", NULL};
	struct cp_checkin_rec rec;
	json_t *evs = NULL, *body;
	struct key k;

	new_key(&k);
	add_etoken(s, "et", "h", 5, NOW + 3600);
	cr_assert_eq(enroll(s, "dev-1", &k, "et", NOW, &err), 0, "%s", err.msg);
	cr_assert_str_eq(event_kinds(s, 0), "");
	cr_assert_eq(
	    cp_store_device_set_state(s, "dev-1", "quarantined", "bad sensor", NOW + 5, &a, &err),
	    0, "%s", err.msg);
	/* the same state again is no change */
	cr_assert_eq(
	    cp_store_device_set_state(s, "dev-1", "quarantined", "again", NOW + 6, &a, &err), 0,
	    "%s", err.msg);
	cr_assert_str_eq(event_kinds(s, 0), "device.state_changed");
	cr_assert_eq(cp_store_events_list(&evs, s, 0, 10, NULL), 0);
	body = json_object_get(json_array_get(evs, 0), "body");
	cr_assert_str_eq(json_string_value(json_object_get(body, "from")), "pending");
	cr_assert_str_eq(json_string_value(json_object_get(body, "to")), "quarantined");
	cr_assert_str_eq(json_string_value(json_object_get(body, "reason")), "bad sensor");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(body, "device"), "id")),
			 "dev-1");
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(evs, 0), "at")), NOW + 5);
	json_decref(evs);

	/* an update status: installing is no event, failed is one, repeated
	 * failed is not, a rollback is one, and failing another release is one */
	memset(&rec, 0, sizeof(rec));
	snprintf(rec.device_id, sizeof(rec.device_id), "dev-1");
	rec.last_seen = NOW + 10;
	rec.update = "{\"release\":\"m@1.1.0\",\"state\":\"installing\"}";
	cr_assert_eq(cp_store_checkins_apply(s, &rec, 1, NULL, 0, &err), 0, "%s", err.msg);
	rec.update = "{\"release\":\"m@1.1.0\",\"state\":\"failed\",\"reason\":\"hash\"}";
	cr_assert_eq(cp_store_checkins_apply(s, &rec, 1, NULL, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_store_checkins_apply(s, &rec, 1, NULL, 0, &err), 0, "%s", err.msg);
	rec.update = "{\"release\":\"m@1.1.0\",\"state\":\"rolled_back\"}";
	cr_assert_eq(cp_store_checkins_apply(s, &rec, 1, NULL, 0, &err), 0, "%s", err.msg);
	rec.update = "{\"release\":\"m@1.2.0\",\"state\":\"rolled_back\"}";
	cr_assert_eq(cp_store_checkins_apply(s, &rec, 1, NULL, 0, &err), 0, "%s", err.msg);
	cr_assert_str_eq(event_kinds(s, 1),
			 "device.update_failed device.rolled_back device.rolled_back");
	cr_assert_eq(cp_store_events_list(&evs, s, 1, 10, NULL), 0);
	body = json_object_get(json_array_get(evs, 0), "body");
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(body, "update"), "reason")), "hash");
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(body, "device"), "state")),
	    "quarantined");
	json_decref(evs);
	cp_store_free(s);
}

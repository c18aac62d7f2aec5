/*
 * devices.c - the device registry's rows, keys and the write-behind batch.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "fairlead/json.h"
#include "fairlead/util.h"

int cp_store_devices_load(struct cp_store *s, cp_device_core_cb cb, void *ctx, struct fl_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	int rc;

	CP_DB_CONN(db, s, err);
	rc = sqlite3_prepare_v2(db,
				"SELECT d.id, d.state, d.labels, d.desired_version, "
				"COALESCE(d.last_seen, 0), k.keyid, k.pubkey, "
				"(SELECT COUNT(*) FROM commands c WHERE c.device_id = d.id AND "
				"c.status IN ('queued', 'delivered')), "
				"a.release_name || '@' || a.release_version "
				"FROM devices d LEFT JOIN device_keys k "
				"ON k.device_id = d.id AND k.active = 1 "
				"LEFT JOIN assignments a ON a.device_id = d.id",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return cp_db_error(db, err);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cp_device_core d;
		const char *pub = (const char *)sqlite3_column_text(st, 6);
		size_t n = 0;
		int stop;

		memset(&d, 0, sizeof(d));
		snprintf(d.id, sizeof(d.id), "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(d.state, sizeof(d.state), "%s", (const char *)sqlite3_column_text(st, 1));
		if (fl_json_parse(&d.labels, (const char *)sqlite3_column_text(st, 2),
				  (size_t)sqlite3_column_bytes(st, 2), NULL) < 0)
			d.labels = json_object();
		d.desired_version = sqlite3_column_int64(st, 3);
		d.last_seen = sqlite3_column_int64(st, 4);
		if (sqlite3_column_type(st, 5) != SQLITE_NULL) {
			snprintf(d.keyid, sizeof(d.keyid), "%s",
				 (const char *)sqlite3_column_text(st, 5));
			if (fl_b64_decode(d.pk, sizeof(d.pk), &n, pub, strlen(pub)) < 0 ||
			    n != sizeof(d.pk))
				d.keyid[0] = '\0';
		}
		d.open_commands = sqlite3_column_int(st, 7);
		if (sqlite3_column_type(st, 8) != SQLITE_NULL)
			snprintf(d.assigned, sizeof(d.assigned), "%s",
				 (const char *)sqlite3_column_text(st, 8));
		stop = cb(&d, ctx);
		json_decref(d.labels);
		if (stop)
			break;
	}
	rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : cp_db_error(db, err);
	sqlite3_finalize(st);
	return rc;
}

#define DEVICE_COLUMNS                                                                             \
	"d.id, d.state, d.state_reason, d.labels, d.inventory, d.desired_version, "                \
	"d.enrolled_at, d.last_seen, (SELECT keyid FROM device_keys k WHERE "                      \
	"k.device_id = d.id AND k.active = 1) AS keyid"

int cp_store_device_get(json_t **out, struct cp_store *s, const char *id, struct fl_err *err)
{
	sqlite3 *db;
	json_t *rows = NULL;
	int rc;

	*out = NULL;
	CP_DB_CONN(db, s, err);
	rc = cp_db_query(&rows, db, err,
			 "SELECT " DEVICE_COLUMNS ", d.desired, d.reported FROM devices d "
			 "WHERE d.id = ?",
			 "s", id);
	if (rc < 0)
		return rc;
	if (json_array_size(rows) == 0) {
		json_decref(rows);
		return fl_err_set(err, FL_ENOTFOUND, "device '%s' not found", id);
	}
	*out = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return 0;
}

int cp_store_devices_page(json_t **out, struct cp_store *s, const char *after, int limit,
			  struct fl_err *err)
{
	sqlite3 *db;

	CP_DB_CONN(db, s, err);
	return cp_db_query(out, db, err,
			   "SELECT " DEVICE_COLUMNS " FROM devices d WHERE d.id > ? "
			   "ORDER BY d.id LIMIT ?",
			   "si", after ? after : "", (int64_t)limit);
}

int cp_store_device_enroll(struct cp_store *s, const struct cp_enrollment *e,
			   const struct cp_audit_rec *a, struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	if (e->token_id) {
		/* The use is taken atomically: of 50 racing enrollments on a one-use token,
		 * exactly one sees a changed row. */
		rc = cp_db_exec(db, err,
				"UPDATE enroll_tokens SET uses_left = uses_left - 1 WHERE id = ? "
				"AND uses_left > 0 AND revoked_at IS NULL AND expires_at > ?",
				"si", e->token_id, e->now);
		if (rc == 0)
			rc = fl_err_set(err, FL_EGONE, "enrollment token expired or used up");
		if (rc < 0)
			goto done;
	}
	if (e->preauth_id) {
		rc = cp_db_exec(db, err, "DELETE FROM preauthorized WHERE device_id = ?", "s",
				e->preauth_id);
		if (rc == 0)
			rc = fl_err_set(err, FL_ECONFLICT, "preauthorization was withdrawn");
		if (rc < 0)
			goto done;
	}
	rc = cp_db_exec(db, err,
			"INSERT INTO devices (id, state, labels, inventory, enrolled_at) "
			"VALUES (?, ?, ?, ?, ?)",
			"ssjji", e->device_id, e->state, e->labels, e->inventory, e->now);
	if (rc == FL_EEXISTS)
		rc = fl_err_set(err, FL_EEXISTS, "device '%s' already exists", e->device_id);
	if (rc < 0)
		goto done;
	rc = cp_db_exec(db, err,
			"INSERT INTO device_keys (keyid, device_id, pubkey, active, created_at) "
			"VALUES (?, ?, ?, 1, ?)",
			"sssi", e->keyid, e->device_id, e->pubkey_b64, e->now);
	if (rc == FL_EEXISTS)
		rc = fl_err_set(err, FL_EEXISTS, "this key is already enrolled");
done:
	return cp_db_finish(db, rc, a, err);
}

int cp_store_device_set_state(struct cp_store *s, const char *id, const char *state,
			      const char *reason, int64_t now, const struct cp_audit_rec *a,
			      struct fl_err *err)
{
	json_t *rows = NULL;
	const char *was;
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	if ((rc = cp_db_query(&rows, db, err, "SELECT state FROM devices WHERE id = ?", "s", id)) <
	    0)
		goto cleanup;
	if (!(was = json_string_value(json_object_get(json_array_get(rows, 0), "state")))) {
		rc = fl_err_set(err, FL_ENOTFOUND, "device '%s' not found", id);
		goto cleanup;
	}
	rc = cp_db_exec(db, err, "UPDATE devices SET state = ?, state_reason = ? WHERE id = ?",
			"sss", state, reason, id);
	/* The change and its event in one transaction: a consumer of the event
	 * log (playbooks) sees every change once, never one the table lacks. */
	if (rc >= 0 && strcmp(was, state) != 0)
		rc = cp_db_exec(db, err,
				"INSERT INTO events (at, kind, subject, body) SELECT ?1, "
				"'device.state_changed', id, json_object('device', "
				"json_object('id', id, 'labels', json(labels), 'state', state), "
				"'from', ?2, 'to', state, 'reason', ?3) FROM devices WHERE id = ?4",
				"isss", now, was, reason ? reason : "", id);
cleanup:
	rc = cp_db_finish(db, rc < 0 ? rc : 0, a, err);
	json_decref(rows);
	return rc;
}

int cp_store_device_set_labels(struct cp_store *s, const char *id, json_t *labels,
			       const struct cp_audit_rec *a, struct fl_err *err)
{
	int rc =
	    cp_db_mutate(s, a, err, "UPDATE devices SET labels = ? WHERE id = ?", "js", labels, id);

	if (rc == FL_ENOTFOUND)
		fl_err_set(err, rc, "device '%s' not found", id);
	return rc;
}

int cp_store_device_set_desired(int64_t *version, struct cp_store *s, const char *id,
				json_t *desired, const struct cp_audit_rec *a, struct fl_err *err)
{
	sqlite3 *db;
	json_t *rows = NULL;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = cp_db_exec(db, err,
			"UPDATE devices SET desired = ?, desired_version = desired_version + 1 "
			"WHERE id = ?",
			"js", desired, id);
	if (rc == 0)
		rc = fl_err_set(err, FL_ENOTFOUND, "device '%s' not found", id);
	if (rc >= 0)
		rc = cp_db_query(&rows, db, err, "SELECT desired_version FROM devices WHERE id = ?",
				 "s", id);
	if (rc >= 0)
		*version =
		    json_integer_value(json_object_get(json_array_get(rows, 0), "desired_version"));
	json_decref(rows);
	return cp_db_finish(db, rc, a, err);
}

int cp_store_device_desired(json_t **out, int64_t *version, struct cp_store *s, const char *id,
			    struct fl_err *err)
{
	json_t *row = NULL;
	int rc;

	*out = NULL;
	rc = cp_db_row(&row, s, err, "SELECT desired, desired_version FROM devices WHERE id = ?",
		       "s", id);
	if (rc == FL_ENOTFOUND)
		return fl_err_set(err, FL_ENOTFOUND, "device '%s' not found", id);
	if (rc < 0)
		return rc;
	*out = json_incref(json_object_get(row, "desired"));
	*version = json_integer_value(json_object_get(row, "desired_version"));
	json_decref(row);
	return 0;
}

int cp_store_device_rotate_key(struct cp_store *s, const char *id, const char *old_keyid,
			       const char *new_keyid, const char *new_pubkey_b64, int64_t now,
			       const struct cp_audit_rec *a, struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = cp_db_exec(db, err,
			"UPDATE device_keys SET active = 0, retired_at = ? "
			"WHERE keyid = ? AND device_id = ? AND active = 1",
			"iss", now, old_keyid, id);
	if (rc == 0)
		rc = fl_err_set(err, FL_ECONFLICT, "key '%s' is not the active key", old_keyid);
	if (rc >= 0)
		rc = cp_db_exec(db, err,
				"INSERT INTO device_keys (keyid, device_id, pubkey, active, "
				"created_at) VALUES (?, ?, ?, 1, ?)",
				"sssi", new_keyid, id, new_pubkey_b64, now);
	if (rc == FL_EEXISTS)
		rc = fl_err_set(err, FL_EEXISTS, "the new key was used before");
	return cp_db_finish(db, rc, a, err);
}

int cp_store_checkins_apply(struct cp_store *s, const struct cp_checkin_rec *recs, size_t n,
			    const struct cp_command_result *res, size_t nres, struct fl_err *err)
{
	sqlite3 *db;
	int rc = 0;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	for (size_t i = 0; i < n && rc >= 0; i++) {
		const struct cp_checkin_rec *r = &recs[i];

		/* MAX() keeps a late batch from moving last_seen backwards. */
		rc = cp_db_exec(db, err,
				"UPDATE devices SET last_seen = MAX(COALESCE(last_seen, 0), ?), "
				"inventory = COALESCE(?, inventory), "
				"reported = COALESCE(?, reported) WHERE id = ?",
				"isss", r->last_seen, r->inventory, r->reported, r->device_id);
		/* An update that ends in failure or a rollback is an event, once per
		 * change of release or state (an agent repeats its status), written
		 * before the row moves on. */
		if (rc >= 0 && r->update)
			rc = cp_db_exec(
			    db, err,
			    "INSERT INTO events (at, kind, subject, body) SELECT ?2, CASE "
			    "json_extract(?1, '$.state') WHEN 'failed' THEN 'device.update_failed' "
			    "ELSE 'device.rolled_back' END, d.id, json_object('device', "
			    "json_object('id', d.id, 'labels', json(d.labels), 'state', d.state), "
			    "'update', json(?1)) FROM devices d LEFT JOIN device_updates u ON "
			    "u.device_id = d.id WHERE d.id = ?3 AND json_extract(?1, '$.state') IN "
			    "('failed', 'rolled_back') AND (u.state IS NULL OR u.state IS NOT "
			    "json_extract(?1, '$.state') OR u.release IS NOT json_extract(?1, "
			    "'$.release'))",
			    "sis", r->update, r->last_seen, r->device_id);
		/* json_extract reads the fields back from the validated record, so
		 * one statement serves every shape of it. */
		if (rc >= 0 && r->update)
			rc = cp_db_exec(
			    db, err,
			    "INSERT INTO device_updates (device_id, release, state, progress, "
			    "reason, updated_at) SELECT id, json_extract(?1, '$.release'), "
			    "json_extract(?1, '$.state'), json_extract(?1, '$.progress'), "
			    "json_extract(?1, '$.reason'), ?2 FROM devices WHERE id = ?3 "
			    "ON CONFLICT (device_id) DO UPDATE SET release = excluded.release, "
			    "state = excluded.state, progress = excluded.progress, "
			    "reason = excluded.reason, updated_at = excluded.updated_at",
			    "sis", r->update, r->last_seen, r->device_id);
	}
	for (size_t i = 0; i < nres && rc >= 0; i++) {
		const struct cp_command_result *c = &res[i];

		if (strcmp(c->status, "delivered") == 0)
			rc =
			    cp_db_exec(db, err,
				       "UPDATE commands SET status = 'delivered', delivered_at = ? "
				       "WHERE id = ? AND device_id = ? AND status = 'queued'",
				       "iss", c->at, c->id, c->device_id);
		else
			rc = cp_db_exec(db, err,
					"UPDATE commands SET status = ?, result = ?, "
					"completed_at = ? WHERE id = ? AND device_id = ? AND "
					"status IN ('queued', 'delivered')",
					"ssiss", c->status, c->result ? c->result : "{}", c->at,
					c->id, c->device_id);
	}
	return cp_db_finish(db, rc, NULL, err);
}

int cp_store_preauth_add(struct cp_store *s, const char *id, const char *pubkey_b64, json_t *labels,
			 int64_t now, const struct cp_audit_rec *a, struct fl_err *err)
{
	sqlite3 *db;
	json_t *rows = NULL;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = cp_db_query(&rows, db, err, "SELECT 1 FROM devices WHERE id = ?", "s", id);
	if (rc >= 0 && json_array_size(rows) > 0) {
		rc = fl_err_set(err, FL_EEXISTS, "device '%s' already exists", id);
	} else if (rc >= 0) {
		rc = cp_db_exec(db, err,
				"INSERT INTO preauthorized (device_id, pubkey, labels, created_at) "
				"VALUES (?, ?, ?, ?)",
				"ssji", id, pubkey_b64, labels, now);
		if (rc == FL_EEXISTS)
			rc =
			    fl_err_set(err, FL_EEXISTS, "device '%s' is already preauthorized", id);
	}
	json_decref(rows);
	return cp_db_finish(db, rc, a, err);
}

int cp_store_preauth_get(char pubkey_b64[64], json_t **labels, struct cp_store *s, const char *id,
			 struct fl_err *err)
{
	json_t *row = NULL;
	int rc;

	*labels = NULL;
	rc = cp_db_row(&row, s, err, "SELECT pubkey, labels FROM preauthorized WHERE device_id = ?",
		       "s", id);
	if (rc == FL_ENOTFOUND)
		return fl_err_set(err, FL_ENOTFOUND, "device '%s' is not preauthorized", id);
	if (rc < 0)
		return rc;
	snprintf(pubkey_b64, 64, "%s", json_string_value(json_object_get(row, "pubkey")));
	*labels = json_incref(json_object_get(row, "labels"));
	json_decref(row);
	return 0;
}

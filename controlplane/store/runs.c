/*
 * runs.c - playbook runs, their approvals and actions, and what the engine
 * keeps across restarts. The runs an engine round makes, the throttle states
 * that made them and the event cursor land in one transaction: a restart
 * reads the events after the cursor again with the throttles as they were,
 * so no event starts a run twice and none is lost.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "fairlead/json.h"

#define RUN_SUMMARY                                                                                \
	"id, playbook, version, state, plan_hash, error, started_by, created_at, updated_at, "     \
	"approval_expires_at, ended_at"
#define RUN_FULL RUN_SUMMARY ", trigger, plan, cursor"

static const char *const run_json_cols[] = {"trigger", "plan", "cursor", "definition", NULL};

static int run_event(sqlite3 *db, const char *id, const char *playbook, const char *state,
		     const char *error, int64_t now, struct fl_err *err)
{
	char kind[40];
	json_t *body = json_pack("{s:s,s:s,s:s?}", "run", id, "playbook", playbook, "error", error);
	int rc;

	if (!body)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	snprintf(kind, sizeof(kind), "run.%s", state);
	rc = cp_db_event_in_tx(NULL, db, kind, id, body, now, err);
	json_decref(body);
	return rc;
}

int cp_store_engine_commit(struct cp_store *s, const char *cursor, int64_t seq,
			   const struct cp_run_new *runs, size_t nruns,
			   const struct cp_pb_state *st, size_t nst, int64_t now,
			   struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	for (size_t i = 0; i < nruns && rc >= 0; i++) {
		const struct cp_run_new *r = &runs[i];
		const char *hash = json_string_value(json_object_get(r->plan, "hash"));
		struct cp_audit_rec a = {r->started_by, "run.start", r->id, NULL};

		rc = cp_db_exec(
		    db, err,
		    "INSERT INTO runs (id, playbook, version, definition, state, trigger, "
		    "plan, plan_hash, started_by, created_at, updated_at, "
		    "approval_expires_at, error, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, "
		    "?, ?, ?, ?, ?, ?, ?)",
		    "ssijsjjssiinsn", r->id, r->playbook, r->version, r->definition, r->state,
		    r->trigger, r->plan, hash ? hash : "", r->started_by, now, now,
		    r->approval_expires_at, r->error, r->error ? now : (int64_t)0);
		if (rc >= 0) {
			a.details =
			    json_pack("{s:s,s:I,s:s,s:s?}", "playbook", r->playbook, "version",
				      (json_int_t)r->version, "state", r->state, "plan_hash", hash);
			rc = cp_db_audit_append(db, &a, err);
			json_decref(a.details);
		}
		if (rc >= 0)
			rc = run_event(db, r->id, r->playbook, r->error ? "failed" : "started",
				       r->error, now, err);
	}
	for (size_t i = 0; i < nst && rc >= 0; i++)
		rc =
		    cp_db_exec(db, err,
			       "INSERT INTO playbook_state (name, throttle, last_tick, updated_at) "
			       "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
			       "throttle = excluded.throttle, last_tick = excluded.last_tick, "
			       "updated_at = excluded.updated_at",
			       "sjni", st[i].name, st[i].throttle, st[i].last_tick, now);
	if (rc >= 0 && seq >= 0)
		rc = cp_db_exec(db, err,
				"INSERT INTO engine_cursor (name, seq) VALUES (?, ?) "
				"ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
				"si", cursor, seq);
	return cp_db_finish(db, rc, NULL, err);
}

int cp_store_engine_cursor(int64_t *seq, struct cp_store *s, const char *cursor, struct fl_err *err)
{
	json_t *row = NULL;
	int rc =
	    cp_db_row(&row, s, err, "SELECT seq FROM engine_cursor WHERE name = ?", "s", cursor);

	if (rc == FL_ENOTFOUND)
		return fl_err_set(err, rc, "no cursor '%s'", cursor);
	if (rc < 0)
		return rc;
	*seq = json_integer_value(json_object_get(row, "seq"));
	json_decref(row);
	return 0;
}

int cp_store_playbook_states(json_t **out, struct cp_store *s, struct fl_err *err)
{
	static const char *const cols[] = {"throttle", NULL};
	json_t *rows = NULL, *row, *res = json_object();
	size_t i;
	sqlite3 *db;
	int rc;

	*out = NULL;
	if (!res)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	if (!(db = cp_db_conn(s, err))) {
		json_decref(res);
		return err ? err->code : FL_ERROR;
	}
	rc = cp_db_query(&rows, db, err,
			 "SELECT name, throttle, COALESCE(last_tick, 0) AS last_tick FROM "
			 "playbook_state",
			 "");
	if (rc < 0) {
		json_decref(res);
		return rc;
	}
	cp_db_parse_json_cols(rows, cols);
	json_array_foreach (rows, i, row) {
		json_t *name = json_incref(json_object_get(row, "name"));

		json_object_del(row, "name");
		json_object_set(res, json_string_value(name), row);
		json_decref(name);
	}
	json_decref(rows);
	*out = res;
	return 0;
}

int cp_store_run_actions(json_t **out, struct cp_store *s, const char *run_id, const char *step,
			 struct fl_err *err)
{
	sqlite3 *db;

	CP_DB_CONN(db, s, err);
	/* result is parsed back by cp_db_query (its column name) */
	return cp_db_query(out, db, err,
			   "SELECT step, device_id, attempt, state, key, ref, result, started_at, "
			   "next_at, ended_at FROM run_actions WHERE run_id = ?1 AND "
			   "(?2 IS NULL OR step = ?2) ORDER BY step, device_id",
			   "ss", run_id, step);
}

static int run_approvals(json_t **out, sqlite3 *db, const char *id, struct fl_err *err)
{
	return cp_db_query(out, db, err,
			   "SELECT who, role, decision, plan_hash, at FROM run_approvals WHERE "
			   "run_id = ? ORDER BY at, who",
			   "s", id);
}

int cp_store_run_get(json_t **out, struct cp_store *s, const char *id, struct fl_err *err)
{
	json_t *rows = NULL, *run, *appr = NULL, *acts = NULL;
	sqlite3 *db;
	int rc;

	*out = NULL;
	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_query(&rows, db, err,
			      "SELECT " RUN_FULL ", definition FROM runs WHERE id = ?", "s", id)) <
	    0)
		return rc;
	if (!(run = json_array_get(rows, 0))) {
		json_decref(rows);
		return fl_err_set(err, FL_ENOTFOUND, "run '%s' not found", id);
	}
	cp_db_parse_json_cols(rows, run_json_cols);
	if ((rc = run_approvals(&appr, db, id, err)) >= 0 &&
	    (rc = cp_store_run_actions(&acts, s, id, NULL, err)) >= 0) {
		json_object_set_new(run, "approvals", appr);
		json_object_set_new(run, "actions", acts);
		*out = json_incref(run);
		rc = 0;
	} else {
		json_decref(appr);
	}
	json_decref(rows);
	return rc;
}

int cp_store_runs_list(json_t **out, struct cp_store *s, const char *playbook, const char *state,
		       int limit, struct fl_err *err)
{
	sqlite3 *db;

	CP_DB_CONN(db, s, err);
	return cp_db_query(out, db, err,
			   "SELECT " RUN_SUMMARY " FROM runs WHERE (?1 IS NULL OR playbook = ?1) "
			   "AND (?2 IS NULL OR state = ?2) ORDER BY created_at DESC, id DESC "
			   "LIMIT ?3",
			   "ssi", playbook, state, (int64_t)limit);
}

int cp_store_runs_active(json_t **out, struct cp_store *s, int limit, struct fl_err *err)
{
	json_t *rows = NULL, *row;
	sqlite3 *db;
	size_t i;
	int rc;

	*out = NULL;
	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_query(&rows, db, err,
			      "SELECT " RUN_FULL ", definition FROM runs WHERE state IN "
			      "('running', 'awaiting_approval') ORDER BY created_at, id LIMIT ?",
			      "i", (int64_t)limit)) < 0)
		return rc;
	cp_db_parse_json_cols(rows, run_json_cols);
	json_array_foreach (rows, i, row) {
		json_t *appr = NULL;

		if ((rc = run_approvals(&appr, db, json_string_value(json_object_get(row, "id")),
					err)) < 0) {
			json_decref(rows);
			return rc;
		}
		json_object_set_new(row, "approvals", appr);
	}
	*out = rows;
	return 0;
}

int cp_store_run_update(struct cp_store *s, const struct cp_run_update *u,
			const struct cp_audit_rec *a, struct fl_err *err)
{
	json_t *rows = NULL;
	const char *playbook;
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = cp_db_query(&rows, db, err, "SELECT playbook FROM runs WHERE id = ? AND state = ?",
			 "ss", u->id, u->from_state);
	if (rc >= 0 && json_array_size(rows) == 0)
		rc =
		    fl_err_set(err, FL_ECONFLICT, "run '%s' is no longer %s", u->id, u->from_state);
	if (rc >= 0)
		rc = cp_db_exec(
		    db, err,
		    "UPDATE runs SET state = ?2, plan_hash = COALESCE(?3, plan_hash), "
		    "error = COALESCE(?4, error), updated_at = ?5, approval_expires_at = "
		    "CASE WHEN ?6 < 0 THEN approval_expires_at WHEN ?6 = 0 THEN NULL "
		    "ELSE ?6 END, ended_at = CASE WHEN ?7 THEN ?5 ELSE ended_at END "
		    "WHERE id = ?1",
		    "ssssiii", u->id, u->state, u->plan_hash, u->error, u->now,
		    u->approval_expires_at, (int64_t)u->ended);
	/* the JSON fields apart: 'j' binds {} for NULL, never "unchanged" */
	if (rc >= 0 && u->cursor)
		rc = cp_db_exec(db, err, "UPDATE runs SET cursor = ? WHERE id = ?", "js", u->cursor,
				u->id);
	if (rc >= 0 && u->plan)
		rc = cp_db_exec(db, err, "UPDATE runs SET plan = ? WHERE id = ?", "js", u->plan,
				u->id);
	if (rc >= 0 && u->clear_approvals)
		rc = cp_db_exec(db, err, "DELETE FROM run_approvals WHERE run_id = ?", "s", u->id);
	if (rc >= 0 && strcmp(u->from_state, u->state) != 0) {
		playbook = json_string_value(json_object_get(json_array_get(rows, 0), "playbook"));
		rc = run_event(db, u->id, playbook, u->state, u->error, u->now, err);
	}
	json_decref(rows);
	return cp_db_finish(db, rc, a, err);
}

int cp_store_run_decide(int *approvals, struct cp_store *s, const char *id, const char *who,
			const char *role, const char *decision, const char *plan_hash, int64_t now,
			const struct cp_audit_rec *a, struct fl_err *err)
{
	json_t *rows = NULL;
	sqlite3 *db;
	int rc;

	*approvals = 0;
	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = cp_db_exec(db, err,
			"INSERT INTO run_approvals (run_id, who, role, decision, plan_hash, at) "
			"VALUES (?, ?, ?, ?, ?, ?)",
			"sssssi", id, who, role, decision, plan_hash, now);
	if (rc == FL_EEXISTS)
		rc = fl_err_set(err, FL_EEXISTS, "%s already decided on run '%s'", who, id);
	if (rc >= 0)
		rc = cp_db_query(&rows, db, err,
				 "SELECT count(*) AS n FROM run_approvals WHERE run_id = ? AND "
				 "decision = 'approve' AND plan_hash = ?",
				 "ss", id, plan_hash);
	if (rc >= 0)
		*approvals = (int)json_integer_value(json_object_get(json_array_get(rows, 0), "n"));
	json_decref(rows);
	return cp_db_finish(db, rc, a, err);
}

int cp_store_run_action_put(struct cp_store *s, const struct cp_run_action *x,
			    const struct cp_audit_rec *a, struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = cp_db_exec(
	    db, err,
	    "INSERT INTO run_actions (run_id, step, device_id, attempt, state, key, ref, "
	    "result, started_at, next_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
	    "?, ?) ON CONFLICT (run_id, step, device_id) DO UPDATE SET "
	    "attempt = excluded.attempt, state = excluded.state, key = excluded.key, "
	    "ref = excluded.ref, result = excluded.result, "
	    "started_at = excluded.started_at, next_at = excluded.next_at, "
	    "ended_at = excluded.ended_at",
	    "sssisssjinn", x->run_id, x->step, x->device_id, x->attempt, x->state, x->key, x->ref,
	    x->result ? x->result : json_null(), x->started_at, x->next_at, x->ended_at);
	return cp_db_finish(db, rc, a, err);
}

int cp_store_offline_detect(int *n, struct cp_store *s, int64_t for_s, int64_t now, int limit,
			    struct fl_err *err)
{
	json_t *rows = NULL, *row;
	sqlite3 *db;
	size_t i;
	int rc;

	*n = 0;
	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = cp_db_query(&rows, db, err,
			 "SELECT d.id, d.labels, d.state, d.last_seen FROM devices d LEFT JOIN "
			 "offline_reported o ON o.device_id = d.id AND o.for_s = ?1 WHERE "
			 "d.state = 'accepted' AND d.last_seen IS NOT NULL AND d.last_seen > 0 "
			 "AND d.last_seen <= ?2 AND (o.last_seen IS NULL OR o.last_seen != "
			 "d.last_seen) ORDER BY d.id LIMIT ?3",
			 "iii", for_s, now - for_s, (int64_t)limit);
	json_array_foreach (rows, i, row) {
		const char *id = json_string_value(json_object_get(row, "id"));
		int64_t seen = json_integer_value(json_object_get(row, "last_seen"));
		json_t *body;

		if (rc < 0)
			break;
		rc = cp_db_exec(db, err,
				"INSERT INTO offline_reported (device_id, for_s, last_seen) VALUES "
				"(?, ?, ?) ON CONFLICT (device_id, for_s) DO UPDATE SET "
				"last_seen = excluded.last_seen",
				"sii", id, for_s, seen);
		if (rc < 0)
			break;
		body = json_pack("{s:O,s:I,s:I}", "device", row, "for_s", (json_int_t)for_s,
				 "offline_s", (json_int_t)(now - seen));
		rc = body ? cp_db_event_in_tx(NULL, db, "device.offline", id, body, now, err)
			  : fl_err_set(err, FL_ENOMEM, "out of memory");
		json_decref(body);
		if (rc >= 0)
			(*n)++;
	}
	json_decref(rows);
	rc = cp_db_finish(db, rc, NULL, err);
	if (rc < 0)
		*n = 0;
	return rc;
}

int cp_store_device_prev_release(char **out, struct cp_store *s, const char *device_id,
				 struct fl_err *err)
{
	json_t *row = NULL;
	const char *v = NULL;
	int rc;

	*out = NULL;
	rc = cp_db_row(&row, s, err,
		       "SELECT prev_release FROM rollout_devices WHERE device_id = ? AND "
		       "assigned_at > 0 ORDER BY assigned_at DESC LIMIT 1",
		       "s", device_id);
	if (rc == FL_ENOTFOUND ||
	    (rc == 0 && !(v = json_string_value(json_object_get(row, "prev_release"))))) {
		json_decref(row);
		return fl_err_set(err, FL_ENOTFOUND, "no release known that '%s' ran before",
				  device_id);
	}
	if (rc < 0)
		return rc;
	*out = strdup(v);
	json_decref(row);
	return *out ? 0 : fl_err_set(err, FL_ENOMEM, "out of memory");
}

int cp_store_devices_label_count(int64_t *total, int64_t *offline, struct cp_store *s,
				 const char *key, const char *value, int64_t offline_before,
				 struct fl_err *err)
{
	json_t *row = NULL;
	int rc;

	*total = *offline = 0;
	rc = cp_db_row(&row, s, err,
		       "SELECT count(*) AS total, COALESCE(SUM(COALESCE(last_seen, 0) <= ?3), 0) "
		       "AS offline FROM devices WHERE state = 'accepted' AND EXISTS (SELECT 1 "
		       "FROM json_each(labels) WHERE key = ?1 AND value = ?2)",
		       "ssi", key, value, offline_before);
	if (rc < 0)
		return rc;
	*total = json_integer_value(json_object_get(row, "total"));
	*offline = json_integer_value(json_object_get(row, "offline"));
	json_decref(row);
	return 0;
}

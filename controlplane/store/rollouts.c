/*
 * rollouts.c - canary rollouts: the rollout rows, their device snapshots and
 * their history. Every decision of the controller lands in one transaction
 * with its history row, its audit entry and the signed assignments it
 * issues, so that a crash leaves either all of a decision or none of it.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "fairlead/json.h"

#define ROLLOUT_COLUMNS                                                                            \
	"id, release_name || '@' || release_version AS release, selector, spec, state, stage, "    \
	"stage_started_at, bake_started_at, reason, created_by, created_at, updated_at, "          \
	"finished_at"

/* The spec column holds JSON text; callers get it as a value. */
static void parse_spec(json_t *rows)
{
	size_t i;
	json_t *row;

	json_array_foreach (rows, i, row) {
		json_t *v = json_object_get(row, "spec"), *parsed = NULL;

		if (json_is_string(v) &&
		    fl_json_parse(&parsed, json_string_value(v), json_string_length(v), NULL) == 0)
			json_object_set_new(row, "spec", parsed);
	}
}

static int history_in_tx(sqlite3 *db, const char *id, int64_t now, const char *kind, int64_t stage,
			 const char *actor, json_t *details, struct fl_err *err)
{
	return cp_db_exec(db, err,
			  "INSERT INTO rollout_history (rollout_id, seq, at, kind, stage, actor, "
			  "details) SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4, ?5, ?6 FROM "
			  "rollout_history WHERE rollout_id = ?1",
			  "sisisj", id, now, kind, stage, actor, details);
}

int cp_store_rollout_create(json_t **busy, struct cp_store *s, const struct cp_rollout_new *r,
			    json_t *details, const struct cp_audit_rec *a, struct fl_err *err)
{
	json_t *clash = NULL;
	sqlite3 *db;
	size_t i;
	int rc;

	*busy = NULL;
	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = cp_db_exec(db, err,
			"INSERT INTO rollouts (id, release_name, release_version, selector, spec, "
			"state, stage, stage_started_at, created_by, created_at, updated_at) "
			"VALUES (?1, ?2, ?3, ?4, ?5, 'running', 0, ?6, ?7, ?6, ?6)",
			"ssssjis", r->id, r->release_name, r->release_version, r->selector, r->spec,
			r->now, r->created_by);
	for (i = 0; rc >= 0 && i < r->ntargets; i++)
		rc = cp_db_exec(db, err,
				"INSERT INTO rollout_devices (rollout_id, device_id, rank, "
				"prev_release, state) VALUES (?, ?, ?, ?, 'pending')",
				"ssis", r->id, r->targets[i].device_id, r->targets[i].rank,
				r->targets[i].prev_release);
	/* One active rollout per device, checked inside the write lock that
	 * cp_db_begin took, so two racing starts cannot both pass. */
	if (rc >= 0)
		rc = cp_db_query(
		    &clash, db, err,
		    "SELECT o.device_id, o.rollout_id FROM rollout_devices m "
		    "JOIN rollout_devices o ON o.device_id = m.device_id AND "
		    "o.rollout_id != m.rollout_id JOIN rollouts r ON r.id = o.rollout_id "
		    "WHERE m.rollout_id = ? AND r.state IN ('running', 'paused') "
		    "ORDER BY o.device_id LIMIT 50",
		    "s", r->id);
	if (rc >= 0 && json_array_size(clash) > 0) {
		json_t *first = json_array_get(clash, 0);

		rc = fl_err_set(err, FL_ECONFLICT,
				"%zu%s target device(s) are in an active rollout, e.g. '%s' in %s",
				json_array_size(clash), json_array_size(clash) == 50 ? "+" : "",
				json_string_value(json_object_get(first, "device_id")),
				json_string_value(json_object_get(first, "rollout_id")));
		*busy = clash;
		clash = NULL; /* now owned by the caller */
	}
	if (rc >= 0)
		rc = history_in_tx(db, r->id, r->now, "start", 0, r->created_by, details, err);
	json_decref(clash);
	if (rc == FL_EEXISTS)
		rc = fl_err_set(err, FL_EEXISTS, "rollout '%s' exists", r->id);
	return cp_db_finish(db, rc < 0 ? rc : 0, a, err);
}

int cp_store_rollouts_list(json_t **out, struct cp_store *s, const char *state, int limit,
			   struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	*out = NULL;
	CP_DB_CONN(db, s, err);
	if (state && strcmp(state, "active") == 0)
		rc = cp_db_query(out, db, err,
				 "SELECT " ROLLOUT_COLUMNS " FROM rollouts WHERE state IN "
				 "('running', 'paused') ORDER BY created_at DESC, id DESC LIMIT ?",
				 "i", (int64_t)limit);
	else
		rc = cp_db_query(out, db, err,
				 "SELECT " ROLLOUT_COLUMNS " FROM rollouts WHERE ?1 IS NULL OR "
				 "state = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2",
				 "si", state, (int64_t)limit);
	if (rc < 0)
		return rc;
	parse_spec(*out);
	return 0;
}

int cp_store_rollout_get(json_t **out, struct cp_store *s, const char *id, struct fl_err *err)
{
	json_t *row = NULL, *rows;
	int rc;

	*out = NULL;
	rc = cp_db_row(&row, s, err, "SELECT " ROLLOUT_COLUMNS " FROM rollouts WHERE id = ?", "s",
		       id);
	if (rc == FL_ENOTFOUND)
		return fl_err_set(err, rc, "rollout '%s' not found", id);
	if (rc < 0)
		return rc;
	rows = json_pack("[o]", row);
	parse_spec(rows);
	*out = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return 0;
}

int cp_store_rollout_devices(json_t **out, struct cp_store *s, const char *id, struct fl_err *err)
{
	sqlite3 *db;

	*out = NULL;
	CP_DB_CONN(db, s, err);
	return cp_db_query(out, db, err,
			   "SELECT d.device_id, d.rank, d.prev_release, d.state, d.assigned_at, "
			   "u.release AS update_release, u.state AS update_state, "
			   "u.reason AS update_reason, u.updated_at FROM rollout_devices d "
			   "LEFT JOIN device_updates u ON u.device_id = d.device_id "
			   "WHERE d.rollout_id = ? ORDER BY d.rank",
			   "s", id);
}

int cp_store_rollout_history(json_t **out, struct cp_store *s, const char *id, struct fl_err *err)
{
	sqlite3 *db;

	*out = NULL;
	CP_DB_CONN(db, s, err);
	return cp_db_query(out, db, err,
			   "SELECT seq, at, kind, stage, actor, details FROM rollout_history "
			   "WHERE rollout_id = ? ORDER BY seq",
			   "s", id);
}

/* cp_store_assignment_set's statement, inside the caller's transaction. */
static int assignment_in_tx(sqlite3 *db, const struct cp_assignment_row *r, struct fl_err *err)
{
	int rc = cp_db_exec(db, err, CP_SQL_ASSIGNMENT_UPSERT, CP_SQL_ASSIGNMENT_ARGS(r));

	if (rc == 0)
		rc = fl_err_set(err, FL_ENOTFOUND, "device '%s' or release %s@%s not found",
				r->device_id, r->name, r->version);
	return rc;
}

/* The events a decision appends, in its transaction: a failed gate first,
 * then the state the decision leaves the rollout in. The body is the row
 * as the decision left it, with the decision's details. */
static int rollout_events_in_tx(sqlite3 *db, const struct cp_rollout_step *st, struct fl_err *err)
{
	const char *kinds[2];
	size_t n = 0;
	int rc = 0;

	if (st->kind && strcmp(st->kind, "fail") == 0)
		kinds[n++] = "rollout.gate_failed";
	if (strcmp(st->state, st->from_state) != 0) {
		if (strcmp(st->state, "aborted") == 0)
			kinds[n++] = "rollout.aborted";
		else if (strcmp(st->state, "paused") == 0)
			kinds[n++] = "rollout.paused";
		else if (strcmp(st->state, "done") == 0)
			kinds[n++] = "rollout.completed";
		else if (strcmp(st->state, "running") == 0)
			kinds[n++] = "rollout.resumed";
	}
	for (size_t i = 0; i < n && rc >= 0; i++)
		rc = cp_db_exec(
		    db, err,
		    "INSERT INTO events (at, kind, subject, body) SELECT ?1, ?2, id, "
		    "json_object('rollout', json_object('id', id, 'release', release_name || '@' "
		    "|| release_version, 'selector', selector, 'stage', ?3, 'state', state, "
		    "'reason', reason), 'details', json(?4)) FROM rollouts WHERE id = ?5",
		    "isijs", st->now, kinds[i], st->from_stage, st->details, st->id);
	return rc;
}

int cp_store_rollout_step(struct cp_store *s, const struct cp_rollout_step *st,
			  const struct cp_audit_rec *a, struct fl_err *err)
{
	sqlite3 *db;
	size_t i;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	rc = cp_db_exec(db, err,
			"UPDATE rollouts SET state = ?3, stage = ?4, stage_started_at = ?5, "
			"bake_started_at = ?6, reason = ?7, updated_at = ?8, finished_at = ?9 "
			"WHERE id = ?1 AND state = ?2 AND stage = ?10",
			"sssiiisiii", st->id, st->from_state, st->state, st->stage,
			st->stage_started_at, st->bake_started_at, st->reason ? st->reason : "",
			st->now, st->finished_at, st->from_stage);
	if (rc == 0)
		rc = fl_err_set(err, FL_ECONFLICT, "rollout '%s' is no longer %s at stage %lld",
				st->id, st->from_state, (long long)st->from_stage);
	for (i = 0; rc >= 0 && i < st->nassign; i++) {
		rc = assignment_in_tx(db, &st->assign[i], err);
		if (rc >= 0)
			rc = cp_db_exec(db, err,
					"UPDATE rollout_devices SET state = ?, assigned_at = "
					"CASE WHEN assigned_at = 0 THEN ? ELSE assigned_at END "
					"WHERE rollout_id = ? AND device_id = ?",
					"siss", st->dev_state, st->now, st->id,
					st->assign[i].device_id);
	}
	for (i = 0; rc >= 0 && i < st->nunrevertable; i++)
		rc = cp_db_exec(db, err,
				"UPDATE rollout_devices SET state = 'unrevertable' WHERE "
				"rollout_id = ? AND device_id = ?",
				"ss", st->id, st->unrevertable[i]);
	if (rc >= 0 && st->kind)
		rc = history_in_tx(db, st->id, st->now, st->kind, st->from_stage, st->actor,
				   st->details, err);
	if (rc >= 0)
		rc = rollout_events_in_tx(db, st, err);
	return cp_db_finish(db, rc < 0 ? rc : 0, a, err);
}

/*
 * commands.c - commands queued for agents. Status moves queued -> delivered
 * -> ok|error|refused; the last two steps arrive with check-ins
 * (write-behind). A command still queued at its deliver_by reads as
 * "expired": derived at every read from the one clock the caller passes, so
 * that delivery (which skips it from the same instant on) and what an
 * operator sees never disagree, and no sweeper has to run for an offline
 * device.
 */
#include <string.h>

#include "db.h"

/* The status as read: queued past its deadline is expired. ?1 is now. */
#define STATUS_SQL                                                                                 \
	"CASE WHEN status = 'queued' AND deliver_by IS NOT NULL AND deliver_by <= ?1 "             \
	"THEN 'expired' ELSE status END AS status"
#define COLUMNS_SQL                                                                                \
	"id, device_id, type, args, " STATUS_SQL ", result, created_at, delivered_at, "            \
	"completed_at, deliver_by, idem_key"

int cp_store_command_add(struct cp_store *s, const char *id, const char *device_id,
			 const char *type, json_t *args, int64_t now, const struct cp_audit_rec *a,
			 struct fl_err *err)
{
	struct cp_command_new c = {
	    .id = id, .device_id = device_id, .type = type, .args = args, .now = now};

	return cp_store_command_create(NULL, NULL, s, &c, a, err);
}

int cp_store_command_create(json_t **out, int *created, struct cp_store *s,
			    const struct cp_command_new *c, const struct cp_audit_rec *a,
			    struct fl_err *err)
{
	json_t *rows = NULL, *old;
	sqlite3 *db;
	int rc;

	if (out)
		*out = NULL;
	if (created)
		*created = 0;
	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	/* The key's command, if any, inside the write lock: two requests with
	 * one key make one command. */
	if (c->idem_key &&
	    (rc = cp_db_query(&rows, db, err,
			      "SELECT " COLUMNS_SQL " FROM commands WHERE device_id = ?2 AND "
			      "idem_key = ?3",
			      "iss", c->now, c->device_id, c->idem_key)) < 0)
		goto cleanup;
	if ((old = json_array_get(rows, 0))) {
		/* The same key for another command is the caller's mistake, never
		 * a silent second meaning of the first. */
		json_t *was = json_object_get(old, "args");

		if (strcmp(json_string_value(json_object_get(old, "type")), c->type) != 0 ||
		    !(c->args ? json_equal(was, c->args) : json_object_size(was) == 0))
			rc = fl_err_set(err, FL_ECONFLICT,
					"idempotency key '%s' was used for another command",
					c->idem_key);
		else if (out)
			*out = json_incref(old);
		a = NULL; /* nothing new to audit */
		goto cleanup;
	}
	/* INSERT ... SELECT inserts nothing for an unknown device: FL_ENOTFOUND. */
	rc = cp_db_exec(db, err,
			"INSERT INTO commands (id, device_id, type, args, status, created_at, "
			"deliver_by, idem_key) SELECT ?, id, ?, ?, 'queued', ?, ?, ? FROM devices "
			"WHERE id = ?",
			"ssjinss", c->id, c->type, c->args, c->now, c->deliver_by, c->idem_key,
			c->device_id);
	if (rc == 0) {
		rc = fl_err_set(err, FL_ENOTFOUND, "device '%s' not found", c->device_id);
		goto cleanup;
	}
	if (rc < 0)
		goto cleanup;
	if (created)
		*created = 1;
	json_decref(rows);
	rows = NULL;
	if (out &&
	    (rc = cp_db_query(&rows, db, err, "SELECT " COLUMNS_SQL " FROM commands WHERE id = ?2",
			      "is", c->now, c->id)) >= 0)
		*out = json_incref(json_array_get(rows, 0));
cleanup:
	json_decref(rows);
	rc = cp_db_finish(db, rc < 0 ? rc : 0, a, err);
	if (rc < 0 && out) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

int cp_store_commands_list(json_t **out, struct cp_store *s, const char *device_id, int open_only,
			   int64_t now, struct fl_err *err)
{
	sqlite3 *db;

	CP_DB_CONN(db, s, err);
	if (open_only)
		return cp_db_query(out, db, err,
				   "SELECT id, type, args FROM commands WHERE device_id = ?2 AND "
				   "(status = 'delivered' OR (status = 'queued' AND "
				   "(deliver_by IS NULL OR deliver_by > ?1))) "
				   "ORDER BY created_at, id LIMIT 16",
				   "is", now, device_id);
	return cp_db_query(out, db, err,
			   "SELECT " COLUMNS_SQL " FROM commands WHERE device_id = ?2 "
			   "ORDER BY created_at DESC, id DESC LIMIT 200",
			   "is", now, device_id);
}

int cp_store_command_get(json_t **out, struct cp_store *s, const char *device_id, const char *id,
			 int64_t now, struct fl_err *err)
{
	int rc = cp_db_row(out, s, err,
			   "SELECT " COLUMNS_SQL " FROM commands WHERE device_id = ?2 AND id = ?3",
			   "iss", now, device_id, id);

	if (rc == FL_ENOTFOUND)
		fl_err_set(err, rc, "command '%s' of device '%s' not found", id, device_id);
	return rc;
}

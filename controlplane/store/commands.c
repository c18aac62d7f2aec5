/*
 * commands.c - commands queued for agents. Status moves queued -> delivered
 * -> ok|error; the last two steps arrive with check-ins (write-behind).
 */
#include "db.h"

int cp_store_command_add(struct cp_store *s, const char *id, const char *device_id,
			 const char *type, json_t *args, int64_t now, const struct cp_audit_rec *a,
			 struct fl_err *err)
{
	/* INSERT ... SELECT inserts nothing for an unknown device: FL_ENOTFOUND. */
	int rc =
	    cp_db_mutate(s, a, err,
			 "INSERT INTO commands (id, device_id, type, args, status, created_at) "
			 "SELECT ?, id, ?, ?, 'queued', ? FROM devices WHERE id = ?",
			 "ssjis", id, type, args, now, device_id);

	if (rc == FL_ENOTFOUND)
		fl_err_set(err, rc, "device '%s' not found", device_id);
	return rc;
}

int cp_store_commands_list(json_t **out, struct cp_store *s, const char *device_id, int open_only,
			   struct fl_err *err)
{
	sqlite3 *db;

	CP_DB_CONN(db, s, err);
	if (open_only)
		return cp_db_query(out, db, err,
				   "SELECT id, type, args FROM commands WHERE device_id = ? AND "
				   "status IN ('queued', 'delivered') ORDER BY created_at, id "
				   "LIMIT 16",
				   "s", device_id);
	return cp_db_query(out, db, err,
			   "SELECT id, type, args, status, result, created_at, delivered_at, "
			   "completed_at FROM commands WHERE device_id = ? "
			   "ORDER BY created_at DESC, id DESC LIMIT 200",
			   "s", device_id);
}

/*
 * tokens.c - operator API tokens and enrollment tokens. Only SHA-256 hashes
 * of the secrets are stored: they are random (256 bits for API tokens, 192
 * for enrollment tokens), so a slow hash adds nothing, and a stolen database
 * yields no usable token.
 */
#include <string.h>

#include "db.h"

int cp_store_token_add(struct cp_store *s, const struct cp_token *t, const char *hash_hex,
		       const struct cp_audit_rec *a, struct fl_err *err)
{
	return cp_db_mutate(s, a, err,
			    "INSERT INTO api_tokens (id, hash, role, name, created_at, expires_at) "
			    "VALUES (?, ?, ?, ?, ?, ?)",
			    "ssssin", t->id, hash_hex, t->role, t->name, t->created_at,
			    t->expires_at);
}

int cp_store_token_by_hash(struct cp_token *out, struct cp_store *s, const char *hash_hex,
			   struct fl_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	CP_DB_CONN(db, s, err);
	if (sqlite3_prepare_v2(db,
			       "SELECT id, role, name, created_at, COALESCE(expires_at, 0), "
			       "COALESCE(revoked_at, 0) FROM api_tokens WHERE hash = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return cp_db_error(db, err);
	sqlite3_bind_text(st, 1, hash_hex, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out->id, sizeof(out->id), "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(out->role, sizeof(out->role), "%s",
			 (const char *)sqlite3_column_text(st, 1));
		snprintf(out->name, sizeof(out->name), "%s",
			 (const char *)sqlite3_column_text(st, 2));
		out->created_at = sqlite3_column_int64(st, 3);
		out->expires_at = sqlite3_column_int64(st, 4);
		out->revoked_at = sqlite3_column_int64(st, 5);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = fl_err_set(err, FL_ENOTFOUND, "unknown token");
	} else {
		rc = cp_db_error(db, err);
	}
	sqlite3_finalize(st);
	return rc;
}

int cp_store_tokens_list(json_t **out, struct cp_store *s, struct fl_err *err)
{
	sqlite3 *db;

	CP_DB_CONN(db, s, err);
	return cp_db_query(
	    out, db, err,
	    "SELECT id, role, name, created_at, expires_at, revoked_at, "
	    "revoked_at IS NOT NULL AS revoked FROM api_tokens ORDER BY created_at, id",
	    "");
}

int cp_store_token_revoke(struct cp_store *s, const char *id, int64_t now,
			  const struct cp_audit_rec *a, struct fl_err *err)
{
	int rc = cp_db_mutate(
	    s, a, err, "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
	    "is", now, id);

	if (rc == FL_ENOTFOUND)
		fl_err_set(err, rc, "no live token '%s'", id);
	return rc;
}

void cp_enroll_token_release(struct cp_enroll_token *t)
{
	json_decref(t->labels);
	t->labels = NULL;
}

int cp_store_enroll_token_add(struct cp_store *s, const struct cp_enroll_token *t,
			      const char *hash_hex, const struct cp_audit_rec *a,
			      struct fl_err *err)
{
	return cp_db_mutate(s, a, err,
			    "INSERT INTO enroll_tokens (id, hash, max_uses, uses_left, labels, "
			    "auto_accept, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			    "ssiijiii", t->id, hash_hex, t->max_uses, t->max_uses, t->labels,
			    (int64_t)t->auto_accept, t->created_at, t->expires_at);
}

int cp_store_enroll_token_by_hash(struct cp_enroll_token *out, struct cp_store *s,
				  const char *hash_hex, struct fl_err *err)
{
	json_t *row = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = cp_db_row(&row, s, err,
		       "SELECT id, max_uses, uses_left, labels, auto_accept, created_at, "
		       "expires_at, COALESCE(revoked_at, 0) AS revoked_at FROM enroll_tokens "
		       "WHERE hash = ?",
		       "s", hash_hex);
	if (rc == FL_ENOTFOUND)
		return fl_err_set(err, FL_EUNAUTH, "unknown enrollment token");
	if (rc < 0)
		return rc;
	snprintf(out->id, sizeof(out->id), "%s", json_string_value(json_object_get(row, "id")));
	out->max_uses = json_integer_value(json_object_get(row, "max_uses"));
	out->uses_left = json_integer_value(json_object_get(row, "uses_left"));
	out->labels = json_incref(json_object_get(row, "labels"));
	out->auto_accept = json_is_true(json_object_get(row, "auto_accept"));
	out->created_at = json_integer_value(json_object_get(row, "created_at"));
	out->expires_at = json_integer_value(json_object_get(row, "expires_at"));
	out->revoked_at = json_integer_value(json_object_get(row, "revoked_at"));
	json_decref(row);
	return 0;
}

int cp_store_enroll_tokens_list(json_t **out, struct cp_store *s, struct fl_err *err)
{
	sqlite3 *db;

	CP_DB_CONN(db, s, err);
	return cp_db_query(out, db, err,
			   "SELECT id, max_uses, uses_left, labels, auto_accept, created_at, "
			   "expires_at, revoked_at FROM enroll_tokens ORDER BY created_at, id",
			   "");
}

int cp_store_enroll_token_revoke(struct cp_store *s, const char *id, int64_t now,
				 const struct cp_audit_rec *a, struct fl_err *err)
{
	int rc = cp_db_mutate(s, a, err,
			      "UPDATE enroll_tokens SET revoked_at = ? WHERE id = ? AND "
			      "revoked_at IS NULL",
			      "is", now, id);

	if (rc == FL_ENOTFOUND)
		fl_err_set(err, rc, "no live enrollment token '%s'", id);
	return rc;
}

#include "db.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"
#include "fairlead/log.h"
#include "fairlead/util.h"
#include "migrations.h"

/*
 * Prepared statements are kept per connection, a few per thread. Preparing
 * the write-behind's UPDATE cost more than running it: about 64k
 * instructions for each device flushed, a tenth of the Ed25519 verification
 * of the check-in that caused it. A slot is chosen by the statement's
 * address and matched by its text, so that SQL built in a buffer is never
 * mistaken for what the buffer held before; a statement in use is busy,
 * and a second user of the same text gets its own, finalized after use.
 */
#define STMT_SLOTS 16

struct db_stmt_slot {
	char *sql; /* a copy: the key outlives the caller's buffer */
	sqlite3_stmt *st;
	int busy;
};

/* A thread's connection to one store, and its statements. */
struct db_conn {
	sqlite3 *db;
	struct db_conn *next; /* the thread's other connections (other stores) */
	struct db_stmt_slot slots[STMT_SLOTS];
};

struct cp_store {
	char *path;
	pthread_key_t conn_key;
	struct db_conn *main_conn; /* the opening thread's, closed by cp_store_free */
};

/* The calling thread's connections: prepare() finds a statement cache from
 * the sqlite3 handle it is given. Only the owning thread touches it. */
static __thread struct db_conn *tl_conns;

/* Runs on the thread that owns c: at its exit, or in cp_store_free. */
static void conn_close(void *p)
{
	struct db_conn *c = p, **pp;

	if (!c)
		return;
	for (pp = &tl_conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	for (size_t i = 0; i < STMT_SLOTS; i++) {
		sqlite3_finalize(c->slots[i].st);
		free(c->slots[i].sql);
	}
	sqlite3_close_v2(c->db);
	free(c);
}

int cp_db_error(sqlite3 *db, struct fl_err *err)
{
	int ext = sqlite3_extended_errcode(db);

	if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		return fl_err_set(err, FL_EEXISTS, "already exists");
	if ((ext & 0xff) == SQLITE_BUSY || (ext & 0xff) == SQLITE_LOCKED)
		return fl_err_set(err, FL_EAGAIN, "database busy: %s", sqlite3_errmsg(db));
	if ((ext & 0xff) == SQLITE_CONSTRAINT)
		return fl_err_set(err, FL_ECONFLICT, "constraint failed: %s", sqlite3_errmsg(db));
	return fl_err_set(err, FL_ERROR, "database error: %s", sqlite3_errmsg(db));
}

static int open_conn(sqlite3 **out, const char *path, struct fl_err *err)
{
	/* busy_timeout first: the journal_mode pragma itself takes a lock, and a
	 * connection opened while others write must wait for it, not fail. */
	static const char *const pragmas =
	    "PRAGMA busy_timeout=10000;"
	    "PRAGMA journal_mode=WAL;"
	    /* NORMAL in WAL mode is durable across process crashes; only a power
	     * cut may lose the last commits, never corrupt the file. */
	    "PRAGMA synchronous=NORMAL;"
	    "PRAGMA foreign_keys=ON;";
	sqlite3 *db = NULL;
	char *msg = NULL;

	*out = NULL;
	if (sqlite3_open_v2(path, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		int rc = fl_err_set(err, FL_ERROR, "cannot open database '%s': %s", path,
				    db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close_v2(db);
		return rc;
	}
	if (sqlite3_exec(db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
		int rc = fl_err_set(err, FL_ERROR, "cannot configure database '%s': %s", path,
				    msg ? msg : "?");
		sqlite3_free(msg);
		sqlite3_close_v2(db);
		return rc;
	}
	*out = db;
	return 0;
}

sqlite3 *cp_db_conn(struct cp_store *s, struct fl_err *err)
{
	struct db_conn *c = pthread_getspecific(s->conn_key);

	if (c)
		return c->db;
	if (!(c = calloc(1, sizeof(*c)))) {
		fl_err_set(err, FL_ENOMEM, "out of memory");
		return NULL;
	}
	if (open_conn(&c->db, s->path, err) < 0) {
		free(c);
		return NULL;
	}
	if (pthread_setspecific(s->conn_key, c) != 0) {
		sqlite3_close_v2(c->db);
		free(c);
		fl_err_set(err, FL_ENOMEM, "cannot keep database connection");
		return NULL;
	}
	c->next = tl_conns;
	tl_conns = c;
	return c->db;
}

static int bind_args(sqlite3_stmt *st, const char *fmt, va_list ap)
{
	int i = 1;

	for (const char *f = fmt ? fmt : ""; *f; f++, i++) {
		int rc = SQLITE_OK;

		switch (*f) {
		case 's': {
			const char *v = va_arg(ap, const char *);

			rc = v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT)
			       : sqlite3_bind_null(st, i);
			break;
		}
		case 'i': rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t)); break;
		case 'n': {
			int64_t v = va_arg(ap, int64_t);

			rc = v ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
			break;
		}
		case 'j': {
			json_t *v = va_arg(ap, json_t *);
			char *txt = v ? fl_json_dumps(v) : NULL;

			rc = sqlite3_bind_text(st, i, txt ? txt : "{}", -1, SQLITE_TRANSIENT);
			free(txt);
			break;
		}
		default: return SQLITE_MISUSE;
		}
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

/* A statement taken from its connection's cache (slot set) or prepared for
 * this use alone (slot NULL); given back with stmt_put. */
struct db_stmt {
	sqlite3_stmt *st;
	struct db_stmt_slot *slot;
};

static struct db_stmt_slot *stmt_slot(sqlite3 *db, const char *sql)
{
	struct db_conn *c;

	for (c = tl_conns; c && c->db != db; c = c->next)
		;
	if (!c)
		return NULL;
	return &c->slots[((uintptr_t)sql >> 3) % STMT_SLOTS];
}

static void stmt_put(struct db_stmt *s)
{
	if (!s->st)
		return;
	if (s->slot) {
		/* reset ends the statement's read of the database; bindings are
		 * copies (SQLITE_TRANSIENT), cleared so that none outlives its use */
		sqlite3_reset(s->st);
		sqlite3_clear_bindings(s->st);
		s->slot->busy = 0;
	} else {
		sqlite3_finalize(s->st);
	}
	s->st = NULL;
	s->slot = NULL;
}

static int stmt_get(struct db_stmt *out, sqlite3 *db, const char *sql, struct fl_err *err)
{
	struct db_stmt_slot *slot = stmt_slot(db, sql);
	char *copy;

	out->st = NULL;
	out->slot = NULL;
	if (slot && !slot->busy && slot->st && strcmp(slot->sql, sql) == 0) {
		slot->busy = 1;
		*out = (struct db_stmt){slot->st, slot};
		return 0;
	}
	if (!slot || slot->busy) {
		if (sqlite3_prepare_v2(db, sql, -1, &out->st, NULL) != SQLITE_OK)
			return cp_db_error(db, err);
		return 0;
	}
	/* the slot holds another statement, or none: replace it */
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &out->st, NULL) != SQLITE_OK)
		return cp_db_error(db, err);
	if (!(copy = strdup(sql)))
		return 0; /* used once, uncached */
	sqlite3_finalize(slot->st);
	free(slot->sql);
	*slot = (struct db_stmt_slot){copy, out->st, 1};
	out->slot = slot;
	return 0;
}

static int prepare(struct db_stmt *st, sqlite3 *db, const char *sql, const char *fmt, va_list ap,
		   struct fl_err *err)
{
	int rc;

	if ((rc = stmt_get(st, db, sql, err)) < 0)
		return rc;
	if (bind_args(st->st, fmt, ap) != SQLITE_OK) {
		rc = cp_db_error(db, err);
		stmt_put(st);
		return rc;
	}
	return 0;
}

static int vexec(sqlite3 *db, struct fl_err *err, const char *sql, const char *fmt, va_list ap)
{
	struct db_stmt st;
	int rc;

	rc = prepare(&st, db, sql, fmt, ap, err);
	if (rc < 0)
		return rc;
	rc = sqlite3_step(st.st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		rc = sqlite3_changes(db);
	else
		rc = cp_db_error(db, err);
	stmt_put(&st);
	return rc;
}

int cp_db_exec(sqlite3 *db, struct fl_err *err, const char *sql, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vexec(db, err, sql, fmt, ap);
	va_end(ap);
	return rc;
}

int cp_db_mutate(struct cp_store *s, const struct cp_audit_rec *a, struct fl_err *err,
		 const char *sql, const char *fmt, ...)
{
	sqlite3 *db;
	va_list ap;
	int rc;

	CP_DB_CONN(db, s, err);
	if ((rc = cp_db_begin(db, err)) < 0)
		return rc;
	va_start(ap, fmt);
	rc = vexec(db, err, sql, fmt, ap);
	va_end(ap);
	if (rc == 0)
		rc = fl_err_set(err, FL_ENOTFOUND, "not found");
	return cp_db_finish(db, rc, a, err);
}

static int json_column(const char *name)
{
	static const char *const cols[] = {"labels",  "inventory", "desired", "reported",
					   "details", "args",	   "result"};

	for (size_t i = 0; i < FL_ARRAY_SIZE(cols); i++)
		if (strcmp(name, cols[i]) == 0)
			return 1;
	return 0;
}

/* SQLite has no boolean: these 0/1 columns become JSON true/false. */
static int bool_column(const char *name)
{
	return strcmp(name, "revoked") == 0 || strcmp(name, "auto_accept") == 0;
}

static int vquery(json_t **out, sqlite3 *db, struct fl_err *err, const char *sql, const char *fmt,
		  va_list ap)
{
	struct db_stmt stmt;
	sqlite3_stmt *st;
	json_t *rows = NULL;
	int rc;

	*out = NULL;
	rc = prepare(&stmt, db, sql, fmt, ap, err);
	if (rc < 0)
		return rc;
	st = stmt.st;
	rows = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *row = json_object();

		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const char *name = sqlite3_column_name(st, c);
			json_t *v = NULL;

			switch (sqlite3_column_type(st, c)) {
			case SQLITE_INTEGER:
				v = bool_column(name) ? json_boolean(sqlite3_column_int64(st, c))
						      : json_integer(sqlite3_column_int64(st, c));
				break;
			case SQLITE_FLOAT: v = json_real(sqlite3_column_double(st, c)); break;
			case SQLITE_NULL: v = json_null(); break;
			default: {
				const char *t = (const char *)sqlite3_column_text(st, c);
				size_t len = (size_t)sqlite3_column_bytes(st, c);

				if (!json_column(name) || fl_json_parse(&v, t, len, NULL) < 0)
					v = json_stringn(t, len);
			}
			}
			json_object_set_new(row, name, v);
		}
		json_array_append_new(rows, row);
	}
	if (rc != SQLITE_DONE) {
		rc = cp_db_error(db, err);
		json_decref(rows);
	} else {
		rc = 0;
		*out = rows;
	}
	stmt_put(&stmt);
	return rc;
}

int cp_db_query(json_t **out, sqlite3 *db, struct fl_err *err, const char *sql, const char *fmt,
		...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vquery(out, db, err, sql, fmt, ap);
	va_end(ap);
	return rc;
}

int cp_db_row(json_t **out, struct cp_store *s, struct fl_err *err, const char *sql,
	      const char *fmt, ...)
{
	json_t *rows = NULL;
	sqlite3 *db;
	va_list ap;
	int rc;

	*out = NULL;
	CP_DB_CONN(db, s, err);
	va_start(ap, fmt);
	rc = vquery(&rows, db, err, sql, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return rc;
	if (json_array_size(rows) == 0)
		rc = fl_err_set(err, FL_ENOTFOUND, "not found");
	else
		*out = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return rc;
}

int cp_db_begin(sqlite3 *db, struct fl_err *err)
{
	/* IMMEDIATE takes the write lock now: the audit append reads the chain head
	 * and must not race another writer between that read and its insert. */
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return cp_db_error(db, err);
	return 0;
}

int cp_db_commit(sqlite3 *db, struct fl_err *err)
{
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		int rc = cp_db_error(db, err);

		cp_db_rollback(db);
		return rc;
	}
	return 0;
}

void cp_db_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int cp_db_finish(sqlite3 *db, int rc, const struct cp_audit_rec *a, struct fl_err *err)
{
	if (rc >= 0 && a)
		rc = cp_db_audit_append(db, a, err);
	if (rc >= 0)
		rc = cp_db_commit(db, err);
	if (rc < 0)
		cp_db_rollback(db);
	return rc < 0 ? rc : 0;
}

/* --- migrations ------------------------------------------------------ */

static int current_version(int *out, sqlite3 *db, struct fl_err *err)
{
	json_t *rows = NULL;
	int rc;

	rc = cp_db_exec(db, err,
			"CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY "
			"KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
			"");
	if (rc < 0)
		return rc;
	rc = cp_db_query(&rows, db, err,
			 "SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations", "");
	if (rc < 0)
		return rc;
	*out = (int)json_integer_value(json_object_get(json_array_get(rows, 0), "v"));
	json_decref(rows);
	return 0;
}

static int migrate(sqlite3 *db, int target, struct fl_err *err)
{
	int have, rc;

	if ((rc = current_version(&have, db, err)) < 0)
		return rc;
	if (have > cp_migrations_count)
		return fl_err_set(err, FL_ECONFLICT,
				  "database schema version %d is newer than this server (%d)", have,
				  cp_migrations_count);
	for (int i = have; i < target; i++) {
		const struct cp_migration *m = &cp_migrations[i];
		char *msg = NULL;

		if ((rc = cp_db_begin(db, err)) < 0)
			return rc;
		if (sqlite3_exec(db, m->sql, NULL, NULL, &msg) != SQLITE_OK) {
			rc = fl_err_set(err, FL_ERROR, "migration %s failed: %s", m->name,
					msg ? msg : "?");
			sqlite3_free(msg);
			cp_db_rollback(db);
			return rc;
		}
		rc = cp_db_exec(db, err,
				"INSERT INTO schema_migrations (version, name, applied_at) "
				"VALUES (?, ?, ?)",
				"isi", (int64_t)m->version, m->name, fl_now());
		if (rc < 0 || (rc = cp_db_commit(db, err)) < 0) {
			cp_db_rollback(db);
			return rc;
		}
		fl_log(FL_LOG_INFO, "applied migration %s", m->name);
	}
	return 0;
}

int cp_store_latest_version(void)
{
	return cp_migrations_count;
}

int cp_store_check(const char *path, struct fl_err *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char what[200];
	int rc = 0;

	if ((rc = open_conn(&db, path, err)) < 0)
		return rc;
	/* quick_check(1): the first problem is enough to refuse, and bounds the
	 * message. quick_check reads every page but skips the index-to-table
	 * cross-checks of integrity_check, which cost minutes on big tables. */
	if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = fl_err_set(err, FL_ERROR, "database '%s': PRAGMA quick_check failed: %s", path,
				sqlite3_errmsg(db));
		goto cleanup;
	}
	snprintf(what, sizeof(what), "%s",
		 sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "?");
	if (strcmp(what, "ok") != 0) {
		/* "*** in database main ***\nPage 22: ..." on one line. */
		for (char *p = what; *p; p++)
			if (*p == '\n')
				*p = ' ';
		rc = fl_err_set(err, FL_ERROR, "database '%s' is damaged: PRAGMA quick_check: %s",
				path, what);
	}
cleanup:
	sqlite3_finalize(st);
	sqlite3_close_v2(db);
	return rc;
}

int cp_store_open(struct cp_store **out, const char *path, int target_version, struct fl_err *err)
{
	struct cp_store *s;
	int rc;

	*out = NULL;
	if (target_version < 0 || target_version > cp_migrations_count)
		target_version = cp_migrations_count;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	if (pthread_key_create(&s->conn_key, conn_close) != 0) {
		free(s->path);
		free(s);
		return fl_err_set(err, FL_ERROR, "cannot create thread key");
	}
	if (!cp_db_conn(s, err)) {
		rc = err ? err->code : FL_ERROR;
		goto fail;
	}
	s->main_conn = pthread_getspecific(s->conn_key);
	if ((rc = migrate(s->main_conn->db, target_version, err)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	cp_store_free(s);
	return rc;
}

void cp_store_free(struct cp_store *s)
{
	if (!s)
		return;
	if (s->main_conn) {
		pthread_setspecific(s->conn_key, NULL);
		conn_close(s->main_conn);
	}
	pthread_key_delete(s->conn_key);
	free(s->path);
	free(s);
}

int cp_store_version(int *out, struct cp_store *s, struct fl_err *err)
{
	sqlite3 *db = cp_db_conn(s, err);

	if (!db)
		return err ? err->code : FL_ERROR;
	return current_version(out, db, err);
}

int cp_store_checkpoint(struct cp_store *s, struct fl_err *err)
{
	sqlite3 *db = cp_db_conn(s, err);

	if (!db)
		return err ? err->code : FL_ERROR;
	if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) !=
	    SQLITE_OK)
		return cp_db_error(db, err);
	return 0;
}

int cp_db_event_in_tx(int64_t *seq, sqlite3 *db, const char *kind, const char *subject,
		      json_t *body, int64_t now, struct fl_err *err)
{
	int rc =
	    cp_db_exec(db, err, "INSERT INTO events (at, kind, subject, body) VALUES (?, ?, ?, ?)",
		       "issj", now, kind, subject, body);

	if (rc < 0)
		return rc;
	if (seq)
		*seq = sqlite3_last_insert_rowid(db);
	return 0;
}

void cp_db_parse_json_cols(json_t *rows, const char *const *cols)
{
	size_t i;
	json_t *row;

	json_array_foreach (rows, i, row) {
		for (const char *const *c = cols; *c; c++) {
			json_t *v = json_object_get(row, *c), *parsed = NULL;

			if (json_is_string(v) && fl_json_parse(&parsed, json_string_value(v),
							       json_string_length(v), NULL) == 0)
				json_object_set_new(row, *c, parsed);
		}
	}
}

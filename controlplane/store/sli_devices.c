/* sli_devices.c - one SLI aggregate per device over a window, for the
 * rollout gates (contract in store.h). The device is the gates' statistical
 * unit, so this reads device minutes, never the cohort rollups. */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store.h"

/* The primary key (device_id, minute, series_id) makes this a range scan per
 * device; the series join only tags the release. A release without '@'
 * matches every version: "NAME@" <= release < "NAME@" with '@' + 1 = 'A'. */
#define DEV_SQL                                                                                    \
	"SELECT m.reports, m.inferences, m.errors, m.up_s, m.expected_s, m.energy_j, m.carbon_g, " \
	"m.drift_checks, m.drift_alarms, m.latency FROM sli_minute m JOIN sli_series s ON s.id = " \
	"m.series_id WHERE m.device_id = ?1 AND m.minute >= ?2 AND m.minute < ?3 AND (?4 IS NULL " \
	"OR s.release = ?4 OR (instr(?4, '@') = 0 AND s.release > ?4 || '@' AND s.release < ?4 "   \
	"|| 'A'))"

static int add_row(struct cp_sli_agg *a, sqlite3_stmt *st, struct fl_err *err)
{
	struct fl_sketch *lat = NULL;
	int rc;

	a->reports += sqlite3_column_int64(st, 0);
	a->inferences += sqlite3_column_int64(st, 1);
	a->errors += sqlite3_column_int64(st, 2);
	a->up_s += sqlite3_column_double(st, 3);
	a->expected_s += sqlite3_column_double(st, 4);
	a->energy_j += sqlite3_column_double(st, 5);
	a->carbon_g += sqlite3_column_double(st, 6);
	a->drift_checks += sqlite3_column_int64(st, 7);
	a->drift_alarms += sqlite3_column_int64(st, 8);
	if (sqlite3_column_type(st, 9) != SQLITE_BLOB)
		return 0;
	rc = fl_sketch_decode(&lat, sqlite3_column_blob(st, 9), (size_t)sqlite3_column_bytes(st, 9),
			      err);
	if (rc < 0)
		return fl_err_prefix(err, "stored latency sketch");
	if (!a->latency_ms) {
		a->latency_ms = lat;
		lat = NULL; /* now owned by a */
		return 0;
	}
	rc = fl_sketch_merge(a->latency_ms, lat);
	fl_sketch_free(lat);
	return rc < 0 ? fl_err_set(err, rc, "cannot merge latency sketches") : 0;
}

int cp_store_sli_devices(struct cp_sli_agg **out, const char *const *device_ids, size_t n,
			 struct cp_store *s, const char *release, int64_t from, int64_t to,
			 struct fl_err *err)
{
	struct cp_sli_agg *a = NULL;
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int rc;

	*out = NULL;
	if (to < from)
		return fl_err_set(err, FL_EINVAL, "window ends before it starts");
	if (release && !*release)
		release = NULL;
	CP_DB_CONN(db, s, err);
	if (!(a = calloc(n ? n : 1, sizeof(*a))))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	if (sqlite3_prepare_v2(db, DEV_SQL, -1, &st, NULL) != SQLITE_OK) {
		rc = cp_db_error(db, err);
		goto cleanup;
	}
	/* One read transaction: every device is seen at the same instant. */
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		rc = cp_db_error(db, err);
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, device_ids[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, from);
		sqlite3_bind_int64(st, 3, to);
		if (release)
			sqlite3_bind_text(st, 4, release, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 4);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			if ((rc = add_row(&a[i], st, err)) < 0)
				break;
		if (rc < 0)
			break;
		if (rc != SQLITE_DONE) {
			rc = cp_db_error(db, err);
			break;
		}
		rc = 0;
	}
	sqlite3_reset(st);
	if (rc < 0)
		cp_db_rollback(db);
	else if ((rc = cp_db_commit(db, err)) < 0)
		cp_db_rollback(db);
	if (rc == 0) {
		*out = a;
		a = NULL; /* now owned by the caller */
	}
cleanup:
	sqlite3_finalize(st);
	cp_sli_aggs_free(a, n);
	return rc;
}

/*
 * sli.c - SLI time series: device minutes, the series (cohort) tags, the
 * 5-minute and hourly rollups, and the queries the SLO engine, the metrics
 * API and /metrics read.
 *
 * A batch from the ingest queue is merged in memory first (per device
 * minute, per series and rollup bucket) so that a flush touches each row
 * once, then each row is read, merged with what is stored and written back:
 * late and repeated minutes add up instead of replacing each other.
 *
 * Stored blobs: latency with fl_sketch_encode; drift bin counts as
 *   varint nfeatures, then per feature: varint namelen, name, varint nbins,
 *   nbins varint counts.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "fairlead/json.h"
#include "fairlead/map.h"
#include "fairlead/selector.h"
#include "fairlead/util.h"

#define STEP_5M 300
#define STEP_1H 3600
/* A query may ask for at most this many steps (a year of hours, a week of
 * minutes): the reply is built in memory. */
#define MAX_STEPS 20000

/* ---- rows in memory ---------------------------------------------------- */

struct row {
	struct cp_sli_agg a;
	struct cp_sli_drift *drift;
	size_t ndrift;
};

static void agg_release(struct cp_sli_agg *a)
{
	fl_sketch_free(a->latency_ms);
	memset(a, 0, sizeof(*a));
}

static void row_release(struct row *r)
{
	agg_release(&r->a);
	free(r->drift);
	memset(r, 0, sizeof(*r));
}

/* Adds histograms feature by feature; a feature whose bin count differs from
 * the one held is left out (different baselines never merge). */
static int drift_merge(struct cp_sli_drift **dst, size_t *ndst, const struct cp_sli_drift *src,
		       size_t nsrc)
{
	for (size_t i = 0; i < nsrc; i++) {
		struct cp_sli_drift *d = NULL;

		for (size_t j = 0; j < *ndst; j++)
			if (strcmp((*dst)[j].feature, src[i].feature) == 0)
				d = &(*dst)[j];
		if (!d) {
			void *p;

			if (*ndst >= FL_DRIFT_MAX_FEATURES)
				continue;
			if (!(p = realloc(*dst, (*ndst + 1) * sizeof(**dst))))
				return FL_ENOMEM;
			*dst = p;
			(*dst)[(*ndst)++] = src[i];
			continue;
		}
		if (d->nbins != src[i].nbins)
			continue;
		for (size_t b = 0; b < d->nbins; b++)
			d->counts[b] += src[i].counts[b];
	}
	return 0;
}

static int row_merge(struct row *dst, const struct row *src)
{
	int rc = cp_sli_agg_add(&dst->a, &src->a);

	return rc < 0 ? rc : drift_merge(&dst->drift, &dst->ndrift, src->drift, src->ndrift);
}

void cp_sli_sample_release(struct cp_sli_sample *x)
{
	if (!x)
		return;
	free(x->labels);
	fl_sketch_free(x->latency_ms);
	free(x->drift);
	x->labels = NULL;
	x->latency_ms = NULL;
	x->drift = NULL;
	x->ndrift = 0;
}

/* ---- the drift blob ------------------------------------------------------ */

static int drift_encode(struct fl_buf *b, const struct cp_sli_drift *d, size_t n)
{
	int rc = fl_buf_put_uvarint(b, n);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		size_t len = strlen(d[i].feature);

		if ((rc = fl_buf_put_uvarint(b, len)) < 0 ||
		    (rc = fl_buf_put(b, d[i].feature, len)) < 0 ||
		    (rc = fl_buf_put_uvarint(b, d[i].nbins)) < 0)
			break;
		for (size_t k = 0; rc == 0 && k < d[i].nbins; k++)
			rc = fl_buf_put_uvarint(b, d[i].counts[k]);
	}
	return rc;
}

static int drift_decode(struct cp_sli_drift **out, size_t *nout, const void *blob, size_t len,
			struct fl_err *err)
{
	const uint8_t *p = blob, *end = p + len;
	struct cp_sli_drift *d = NULL;
	uint64_t n, v;

	*out = NULL;
	*nout = 0;
	if (fl_uvarint_get(&n, &p, end) < 0 || n > FL_DRIFT_MAX_FEATURES)
		goto bad;
	if (n && !(d = calloc(n, sizeof(*d))))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (fl_uvarint_get(&v, &p, end) < 0 || v == 0 || v > FL_DRIFT_NAME_MAX ||
		    v > (uint64_t)(end - p))
			goto bad;
		memcpy(d[i].feature, p, v);
		p += v;
		if (fl_uvarint_get(&v, &p, end) < 0 || v > FL_DRIFT_MAX_BINS)
			goto bad;
		d[i].nbins = v;
		for (size_t k = 0; k < d[i].nbins; k++)
			if (fl_uvarint_get(&d[i].counts[k], &p, end) < 0)
				goto bad;
	}
	if (p != end)
		goto bad;
	*out = d;
	*nout = n;
	return 0;
bad:
	free(d);
	return fl_err_set(err, FL_ERROR, "corrupt drift counts in the SLI tables");
}

/* ---- reading and writing rows ------------------------------------------- */

#define AGG_COLS                                                                                   \
	"reports, inferences, errors, up_s, expected_s, energy_j, carbon_g, drift_checks, "        \
	"drift_alarms, latency, drift"

/* Fills r from the AGG_COLS columns starting at column c0. */
static int row_from_stmt(struct row *r, sqlite3_stmt *st, int c0, int want_drift,
			 struct fl_err *err)
{
	int rc = 0;

	memset(r, 0, sizeof(*r));
	r->a.reports = sqlite3_column_int64(st, c0 + 0);
	r->a.inferences = sqlite3_column_int64(st, c0 + 1);
	r->a.errors = sqlite3_column_int64(st, c0 + 2);
	r->a.up_s = sqlite3_column_double(st, c0 + 3);
	r->a.expected_s = sqlite3_column_double(st, c0 + 4);
	r->a.energy_j = sqlite3_column_double(st, c0 + 5);
	r->a.carbon_g = sqlite3_column_double(st, c0 + 6);
	r->a.drift_checks = sqlite3_column_int64(st, c0 + 7);
	r->a.drift_alarms = sqlite3_column_int64(st, c0 + 8);
	if (sqlite3_column_type(st, c0 + 9) == SQLITE_BLOB) {
		rc = fl_sketch_decode(&r->a.latency_ms, sqlite3_column_blob(st, c0 + 9),
				      (size_t)sqlite3_column_bytes(st, c0 + 9), err);
		if (rc < 0) {
			fl_err_prefix(err, "stored latency sketch");
			return rc;
		}
	}
	if (want_drift && sqlite3_column_type(st, c0 + 10) == SQLITE_BLOB)
		rc = drift_decode(&r->drift, &r->ndrift, sqlite3_column_blob(st, c0 + 10),
				  (size_t)sqlite3_column_bytes(st, c0 + 10), err);
	if (rc < 0)
		row_release(r);
	return rc;
}

/* Binds the row's values to parameters first.. first+10. */
static int row_bind(sqlite3_stmt *st, int first, const struct row *r, struct fl_buf *lat,
		    struct fl_buf *dr)
{
	int i = first;

	fl_buf_clear(lat);
	fl_buf_clear(dr);
	if (r->a.latency_ms && fl_sketch_encode(lat, r->a.latency_ms) < 0)
		return FL_ENOMEM;
	if (r->ndrift && drift_encode(dr, r->drift, r->ndrift) < 0)
		return FL_ENOMEM;
	if (sqlite3_bind_int64(st, i++, r->a.reports) != SQLITE_OK ||
	    sqlite3_bind_int64(st, i++, r->a.inferences) != SQLITE_OK ||
	    sqlite3_bind_int64(st, i++, r->a.errors) != SQLITE_OK ||
	    sqlite3_bind_double(st, i++, r->a.up_s) != SQLITE_OK ||
	    sqlite3_bind_double(st, i++, r->a.expected_s) != SQLITE_OK ||
	    sqlite3_bind_double(st, i++, r->a.energy_j) != SQLITE_OK ||
	    sqlite3_bind_double(st, i++, r->a.carbon_g) != SQLITE_OK ||
	    sqlite3_bind_int64(st, i++, r->a.drift_checks) != SQLITE_OK ||
	    sqlite3_bind_int64(st, i++, r->a.drift_alarms) != SQLITE_OK)
		return FL_ERROR;
	if ((lat->len ? sqlite3_bind_blob(st, i, lat->ptr, (int)lat->len, SQLITE_STATIC)
		      : sqlite3_bind_null(st, i)) != SQLITE_OK)
		return FL_ERROR;
	i++;
	if ((dr->len ? sqlite3_bind_blob(st, i, dr->ptr, (int)dr->len, SQLITE_STATIC)
		     : sqlite3_bind_null(st, i)) != SQLITE_OK)
		return FL_ERROR;
	return 0;
}

/* A row to merge: key -> struct pending (one map per level). */
struct pending {
	char device_id[65]; /* minute level only */
	int64_t series_id;
	int64_t ts;
	struct row r;
};

static void pending_free(struct fl_map *m)
{
	const char *k;
	void *v;

	for (size_t i = 0; fl_map_next(m, &i, &k, &v);) {
		struct pending *p = v;

		row_release(&p->r);
		free(p);
	}
	fl_map_release(m);
}

static int pending_add(struct fl_map *m, const char *device_id, int64_t series_id, int64_t ts,
		       const struct row *r)
{
	struct pending *p;
	char key[128];

	snprintf(key, sizeof(key), "%s/%lld/%lld", device_id ? device_id : "", (long long)series_id,
		 (long long)ts);
	if (!(p = fl_map_get(m, key))) {
		if (!(p = calloc(1, sizeof(*p))))
			return FL_ENOMEM;
		snprintf(p->device_id, sizeof(p->device_id), "%s", device_id ? device_id : "");
		p->series_id = series_id;
		p->ts = ts;
		if (fl_map_put(m, key, p, NULL) < 0) {
			free(p);
			return FL_ENOMEM;
		}
	}
	return row_merge(&p->r, r);
}

/* Reads the stored row of p (if any), merges p into it and writes it back. */
static int flush_pending(sqlite3 *db, const char *table, const struct pending *p,
			 struct fl_err *err)
{
	char sel[256], ins[512];
	sqlite3_stmt *st = NULL;
	struct fl_buf lat = FL_BUF_INIT, dr = FL_BUF_INIT;
	struct row stored = {0};
	int minute = strcmp(table, "sli_minute") == 0, rc, k = 1;

	if (minute) {
		snprintf(sel, sizeof(sel),
			 "SELECT " AGG_COLS " FROM sli_minute WHERE device_id = ? AND minute = ? "
			 "AND series_id = ?");
		snprintf(
		    ins, sizeof(ins),
		    "INSERT OR REPLACE INTO sli_minute (device_id, minute, series_id, " AGG_COLS
		    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	} else {
		snprintf(sel, sizeof(sel),
			 "SELECT " AGG_COLS " FROM %s WHERE series_id = ? AND ts = ?", table);
		snprintf(ins, sizeof(ins),
			 "INSERT OR REPLACE INTO %s (series_id, ts, " AGG_COLS
			 ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			 table);
	}
	if (sqlite3_prepare_v2(db, sel, -1, &st, NULL) != SQLITE_OK)
		return cp_db_error(db, err);
	if (minute)
		sqlite3_bind_text(st, k++, p->device_id, -1, SQLITE_STATIC);
	if (minute) {
		sqlite3_bind_int64(st, k++, p->ts);
		sqlite3_bind_int64(st, k++, p->series_id);
	} else {
		sqlite3_bind_int64(st, k++, p->series_id);
		sqlite3_bind_int64(st, k++, p->ts);
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = row_from_stmt(&stored, st, 0, 1, err);
	else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = cp_db_error(db, err);
	sqlite3_finalize(st);
	st = NULL;
	if (rc < 0)
		goto cleanup;
	if ((rc = row_merge(&stored, &p->r)) < 0) {
		rc = fl_err_set(err, rc, "cannot merge SLI rows");
		goto cleanup;
	}
	if (sqlite3_prepare_v2(db, ins, -1, &st, NULL) != SQLITE_OK) {
		rc = cp_db_error(db, err);
		goto cleanup;
	}
	k = 1;
	if (minute) {
		sqlite3_bind_text(st, k++, p->device_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, k++, p->ts);
	} else {
		sqlite3_bind_int64(st, k++, p->series_id);
		sqlite3_bind_int64(st, k++, p->ts);
	}
	if (minute)
		sqlite3_bind_int64(st, k++, p->series_id);
	if ((rc = row_bind(st, k, &stored, &lat, &dr)) < 0) {
		rc = rc == FL_ENOMEM ? fl_err_set(err, rc, "out of memory") : cp_db_error(db, err);
		goto cleanup;
	}
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : cp_db_error(db, err);
cleanup:
	sqlite3_finalize(st);
	fl_buf_release(&lat);
	fl_buf_release(&dr);
	row_release(&stored);
	return rc;
}

/* The id of the series (release, labels, hw), created when new. */
static int series_id(int64_t *out, sqlite3 *db, const struct cp_sli_sample *x, int64_t now,
		     struct fl_err *err)
{
	json_t *rows = NULL;
	int rc;

	rc = cp_db_query(&rows, db, err,
			 "SELECT id FROM sli_series WHERE release = ? AND labels = ? AND hw = ?",
			 "sss", x->release, x->labels ? x->labels : "{}", x->hw);
	if (rc < 0)
		return rc;
	if (json_array_size(rows) == 0) {
		json_decref(rows);
		rc = cp_db_exec(db, err,
				"INSERT INTO sli_series (release, labels, site, hw, created_at) "
				"VALUES (?, ?, ?, ?, ?)",
				"ssssi", x->release, x->labels ? x->labels : "{}", x->site, x->hw,
				now);
		if (rc < 0)
			return rc;
		*out = sqlite3_last_insert_rowid(db);
		return 0;
	}
	*out = json_integer_value(json_object_get(json_array_get(rows, 0), "id"));
	json_decref(rows);
	return 0;
}

static int64_t floor_to(int64_t t, int64_t step)
{
	int64_t r = t % step;

	return r < 0 ? t - r - step : t - r;
}

static void row_view(struct row *r, const struct cp_sli_sample *x)
{
	memset(r, 0, sizeof(*r));
	r->a.reports = 1;
	r->a.inferences = x->inferences;
	r->a.errors = x->errors;
	r->a.up_s = x->up_s;
	r->a.expected_s = x->expected_s;
	r->a.energy_j = x->energy_j;
	r->a.carbon_g = x->carbon_g;
	r->a.drift_checks = x->drift_checks;
	r->a.drift_alarms = x->drift_alarms;
	r->a.latency_ms = x->latency_ms; /* borrowed: never released */
	r->drift = x->drift;
	r->ndrift = x->ndrift;
}

int cp_store_sli_write(struct cp_store *s, const struct cp_sli_sample *samples, size_t n,
		       const struct cp_sli_dev_state *states, size_t nstates, int64_t now,
		       struct fl_err *err)
{
	struct fl_map ids, minutes, m5, h1;
	struct fl_map *levels[3] = {&minutes, &m5, &h1};
	static const char *const tables[3] = {"sli_minute", "sli_5m", "sli_1h"};
	const char *k;
	void *v;
	sqlite3 *db;
	int rc = 0;

	CP_DB_CONN(db, s, err);
	fl_map_init(&ids);
	fl_map_init(&minutes);
	fl_map_init(&m5);
	fl_map_init(&h1);
	if ((rc = cp_db_begin(db, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct cp_sli_sample *x = &samples[i];
		struct fl_buf key = FL_BUF_INIT;
		int64_t *id;
		struct row r;

		if (fl_buf_addf(&key, "%s\x1f%s\x1f%s", x->release, x->labels ? x->labels : "{}",
				x->hw) < 0) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			break;
		}
		if (!(id = fl_map_get(&ids, key.ptr))) {
			if (!(id = malloc(sizeof(*id))) ||
			    (rc = series_id(id, db, x, now, err)) < 0 ||
			    (rc = fl_map_put(&ids, key.ptr, id, NULL)) < 0) {
				if (rc == 0 || rc == FL_ENOMEM)
					rc = fl_err_set(err, FL_ENOMEM, "out of memory");
				free(id);
				fl_buf_release(&key);
				break;
			}
		}
		fl_buf_release(&key);
		row_view(&r, x);
		if ((rc = pending_add(&minutes, x->device_id, *id, floor_to(x->minute, 60), &r)) <
			0 ||
		    (rc = pending_add(&m5, NULL, *id, floor_to(x->minute, STEP_5M), &r)) < 0 ||
		    (rc = pending_add(&h1, NULL, *id, floor_to(x->minute, STEP_1H), &r)) < 0)
			rc = fl_err_set(err, FL_ENOMEM, "cannot merge SLI rows");
	}
	for (int l = 0; l < 3 && rc == 0; l++)
		for (size_t i = 0; rc == 0 && fl_map_next(levels[l], &i, &k, &v);)
			rc = flush_pending(db, tables[l], v, err);
	/* cp_db_exec returns the rows changed (1 here), not 0: the loop goes on
	 * while that is not negative, or only the first device's seq would be
	 * stored and the others' resends after a restart stored twice. */
	for (size_t i = 0; i < nstates && rc >= 0; i++)
		rc = cp_db_exec(db, err,
				"INSERT INTO sli_ingest (device_id, seq, dropped, updated_at) "
				"VALUES (?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET "
				"seq = MAX(seq, excluded.seq), dropped = MAX(dropped, "
				"excluded.dropped), updated_at = excluded.updated_at",
				"siii", states[i].device_id, states[i].seq, states[i].dropped, now);
	rc = cp_db_finish(db, rc < 0 ? rc : 0, NULL, err);
cleanup:
	for (size_t i = 0; fl_map_next(&ids, &i, &k, &v);)
		free(v);
	fl_map_release(&ids);
	pending_free(&minutes);
	pending_free(&m5);
	pending_free(&h1);
	return rc;
}

int cp_store_sli_state(struct cp_sli_dev_state *out, struct cp_store *s, const char *device_id,
		       struct fl_err *err)
{
	json_t *row = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(out->device_id, sizeof(out->device_id), "%s", device_id);
	rc = cp_db_row(&row, s, err, "SELECT seq, dropped FROM sli_ingest WHERE device_id = ?", "s",
		       device_id);
	if (rc == FL_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	out->seq = json_integer_value(json_object_get(row, "seq"));
	out->dropped = json_integer_value(json_object_get(row, "dropped"));
	json_decref(row);
	return 0;
}

int cp_store_sli_dropped_total(int64_t *out, struct cp_store *s, struct fl_err *err)
{
	json_t *row = NULL;
	int rc;

	*out = 0;
	rc = cp_db_row(&row, s, err, "SELECT COALESCE(SUM(dropped), 0) AS n FROM sli_ingest", "");
	if (rc < 0)
		return rc;
	*out = json_integer_value(json_object_get(row, "n"));
	json_decref(row);
	return 0;
}

/* ---- queries -------------------------------------------------------------- */

/* The ids of the series in scope, as a map "ID" -> the series' row in rows
 * (which the caller keeps alive). */
static int scope_series(struct fl_map *ids, json_t **rows, sqlite3 *db,
			const struct cp_sli_scope *scope, struct fl_err *err)
{
	struct fl_selector *sel = NULL;
	const char *want = scope && scope->release && *scope->release ? scope->release : NULL;
	size_t i;
	json_t *r;
	int rc;

	*rows = NULL;
	if (scope && scope->selector && *scope->selector &&
	    (rc = fl_selector_parse(&sel, scope->selector, err)) < 0)
		return rc;
	if ((rc = cp_db_query(rows, db, err, "SELECT id, release, labels FROM sli_series", "")) < 0)
		goto cleanup;
	json_array_foreach (*rows, i, r) {
		const char *rel = json_string_value(json_object_get(r, "release"));
		char key[24];

		if (want) {
			size_t wl = strlen(want);

			/* "NAME" matches every version; "NAME@VERSION" only itself. */
			if (strchr(want, '@') ? strcmp(rel, want) != 0
					      : strncmp(rel, want, wl) != 0 || rel[wl] != '@')
				continue;
		}
		if (sel && !fl_selector_match(sel, json_object_get(r, "labels"), NULL))
			continue;
		snprintf(key, sizeof(key), "%lld",
			 (long long)json_integer_value(json_object_get(r, "id")));
		if (fl_map_put(ids, key, r, NULL) < 0) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
cleanup:
	fl_selector_free(sel);
	return rc;
}

/* Runs sql (binding its text and int parameters from fmt) and calls cb with
 * each row's series id, time and row (columns: series_id, ts, AGG_COLS). */
typedef int (*row_cb)(void *ctx, int64_t series, int64_t ts, struct row *r);

static int scan(sqlite3 *db, const char *sql, const char *dev, int64_t from, int64_t to,
		int want_drift, row_cb cb, void *ctx, struct fl_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc, k = 1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return cp_db_error(db, err);
	if (dev)
		sqlite3_bind_text(st, k++, dev, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, k++, from);
	sqlite3_bind_int64(st, k++, to);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct row r;

		if ((rc = row_from_stmt(&r, st, 2, want_drift, err)) < 0)
			goto cleanup;
		rc = cb(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), &r);
		row_release(&r);
		if (rc < 0) {
			fl_err_set(err, rc, "cannot merge SLI rows");
			goto cleanup;
		}
	}
	rc = rc == SQLITE_DONE ? 0 : cp_db_error(db, err);
cleanup:
	sqlite3_finalize(st);
	return rc;
}

/* The statement reading [from, to) at a granularity: device minutes, all
 * minutes, or a rollup. */
static const char *scan_sql(const char *dev, int64_t gran)
{
	if (dev)
		return "SELECT series_id, minute, " AGG_COLS " FROM sli_minute WHERE device_id = ? "
		       "AND minute >= ? AND minute < ?";
	if (gran == STEP_1H)
		return "SELECT series_id, ts, " AGG_COLS " FROM sli_1h WHERE ts >= ? AND ts < ?";
	if (gran == STEP_5M)
		return "SELECT series_id, ts, " AGG_COLS " FROM sli_5m WHERE ts >= ? AND ts < ?";
	return "SELECT series_id, minute, " AGG_COLS " FROM sli_minute WHERE minute >= ? AND "
	       "minute < ?";
}

struct series_ctx {
	struct fl_map *ids; /* NULL: every series */
	struct cp_sli_agg *out;
	size_t n;
	int64_t from, step;
};

static int in_scope(struct fl_map *ids, int64_t series)
{
	char key[24];

	if (!ids)
		return 1;
	snprintf(key, sizeof(key), "%lld", (long long)series);
	return fl_map_get(ids, key) != NULL;
}

static int series_cb(void *ctx, int64_t series, int64_t ts, struct row *r)
{
	struct series_ctx *c = ctx;
	int64_t i;

	if (!in_scope(c->ids, series) || ts < c->from)
		return 0;
	i = (ts - c->from) / c->step;
	if (i < 0 || (size_t)i >= c->n)
		return 0;
	return cp_sli_agg_add(&c->out[i], &r->a);
}

static void aggs_free(struct cp_sli_agg *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++)
		agg_release(&a[i]);
	free(a);
}

int cp_store_sli_series(struct cp_sli_agg **out, size_t *n, struct cp_store *s,
			const struct cp_sli_scope *scope, int64_t from, int64_t to, int64_t step,
			struct fl_err *err)
{
	const char *dev = scope && scope->device_id && *scope->device_id ? scope->device_id : NULL;
	struct series_ctx c = {0};
	struct fl_map ids;
	json_t *rows = NULL;
	sqlite3 *db;
	int rc;

	*out = NULL;
	*n = 0;
	if (step != 60 && step != STEP_5M && step != STEP_1H)
		return fl_err_set(err, FL_EINVAL, "step must be 60, 300 or 3600");
	if (from % step || to % step || to < from || (to - from) / step > MAX_STEPS)
		return fl_err_set(err, FL_EINVAL,
				  "range must be whole steps (at most %d) with from <= to",
				  MAX_STEPS);
	CP_DB_CONN(db, s, err);
	fl_map_init(&ids);
	c.n = (size_t)((to - from) / step);
	c.from = from;
	c.step = step;
	if (c.n && !(c.out = calloc(c.n, sizeof(*c.out)))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = scope_series(&ids, &rows, db, scope, err)) < 0)
		goto cleanup;
	c.ids = &ids;
	if (c.n)
		rc = scan(db, scan_sql(dev, dev ? 60 : step), dev, from, to, 0, series_cb, &c, err);
	if (rc == 0) {
		*out = c.out;
		*n = c.n;
		c.out = NULL;
	}
cleanup:
	aggs_free(c.out, c.n);
	fl_map_release(&ids);
	json_decref(rows);
	return rc;
}

int cp_store_sli_source(void *ctx, struct cp_sli_agg **out, size_t *n,
			const struct cp_sli_scope *scope, int64_t from, int64_t to, int64_t step,
			struct fl_err *err)
{
	return cp_store_sli_series(out, n, ctx, scope, from, to, step, err);
}

struct rel_ctx {
	struct fl_map *ids;
	struct cp_sli_release_agg *out;
	size_t n;
};

static int rel_cb(void *ctx, int64_t series, int64_t ts, struct row *r)
{
	struct rel_ctx *c = ctx;
	const char *rel;
	json_t *row;
	char key[24];
	size_t i;
	void *p;

	(void)ts;
	snprintf(key, sizeof(key), "%lld", (long long)series);
	if (!(row = fl_map_get(c->ids, key)) ||
	    !(rel = json_string_value(json_object_get(row, "release"))) || !*rel)
		return 0;
	for (i = 0; i < c->n; i++)
		if (strcmp(c->out[i].release, rel) == 0)
			return cp_sli_agg_add(&c->out[i].agg, &r->a);
	if (!(p = realloc(c->out, (c->n + 1) * sizeof(*c->out))))
		return FL_ENOMEM;
	c->out = p;
	memset(&c->out[c->n], 0, sizeof(c->out[c->n]));
	snprintf(c->out[c->n].release, sizeof(c->out[c->n].release), "%s", rel);
	return cp_sli_agg_add(&c->out[c->n++].agg, &r->a);
}

void cp_store_sli_releases_free(struct cp_sli_release_agg *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++)
		agg_release(&a[i].agg);
	free(a);
}

int cp_store_sli_releases(struct cp_sli_release_agg **out, size_t *n, struct cp_store *s,
			  int64_t from, int64_t to, struct fl_err *err)
{
	struct rel_ctx c = {0};
	struct fl_map ids;
	json_t *rows = NULL;
	sqlite3 *db;
	int rc;

	*out = NULL;
	*n = 0;
	if (from % 60 || to % 60 || to < from)
		return fl_err_set(err, FL_EINVAL, "range must be whole minutes");
	CP_DB_CONN(db, s, err);
	fl_map_init(&ids);
	c.ids = &ids;
	if ((rc = scope_series(&ids, &rows, db, NULL, err)) < 0)
		goto cleanup;
	rc = scan(db, scan_sql(NULL, from % STEP_5M == 0 && to % STEP_5M == 0 ? STEP_5M : 60), NULL,
		  from, to, 0, rel_cb, &c, err);
	if (rc == 0) {
		*out = c.out;
		*n = c.n;
		c.out = NULL;
	}
cleanup:
	cp_store_sli_releases_free(c.out, c.n);
	fl_map_release(&ids);
	json_decref(rows);
	return rc;
}

struct drift_ctx {
	struct fl_map *ids;
	struct cp_sli_drift *out;
	size_t n;
};

static int drift_cb(void *ctx, int64_t series, int64_t ts, struct row *r)
{
	struct drift_ctx *c = ctx;

	(void)ts;
	if (!in_scope(c->ids, series))
		return 0;
	return drift_merge(&c->out, &c->n, r->drift, r->ndrift);
}

int cp_store_sli_drift(struct cp_sli_drift **out, size_t *n, struct cp_store *s,
		       const struct cp_sli_scope *scope, int64_t from, int64_t to,
		       struct fl_err *err)
{
	const char *dev = scope && scope->device_id && *scope->device_id ? scope->device_id : NULL;
	struct drift_ctx c = {0};
	struct fl_map ids;
	json_t *rows = NULL;
	int64_t gran = 60;
	sqlite3 *db;
	int rc;

	*out = NULL;
	*n = 0;
	if (from % 60 || to % 60 || to < from)
		return fl_err_set(err, FL_EINVAL, "range must be whole minutes");
	CP_DB_CONN(db, s, err);
	fl_map_init(&ids);
	c.ids = &ids;
	if ((rc = scope_series(&ids, &rows, db, scope, err)) < 0)
		goto cleanup;
	/* The coarsest table that covers the range exactly. */
	if (from % STEP_1H == 0 && to % STEP_1H == 0)
		gran = STEP_1H;
	else if (from % STEP_5M == 0 && to % STEP_5M == 0)
		gran = STEP_5M;
	rc = scan(db, scan_sql(dev, gran), dev, from, to, 1, drift_cb, &c, err);
	if (rc == 0) {
		*out = c.out;
		*n = c.n;
		c.out = NULL;
	}
cleanup:
	free(c.out);
	fl_map_release(&ids);
	json_decref(rows);
	return rc;
}

int cp_store_sli_retain(struct cp_store *s, int64_t minute_before, int64_t m5_before,
			int64_t h1_before, struct fl_err *err)
{
	sqlite3 *db;
	int rc;

	CP_DB_CONN(db, s, err);
	/* One statement per table, each its own transaction: readers and the
	 * ingest flusher interleave between them. */
	if ((rc = cp_db_exec(db, err, "DELETE FROM sli_minute WHERE minute < ?", "i",
			     minute_before)) < 0 ||
	    (rc = cp_db_exec(db, err, "DELETE FROM sli_5m WHERE ts < ?", "i", m5_before)) < 0 ||
	    (rc = cp_db_exec(db, err, "DELETE FROM sli_1h WHERE ts < ?", "i", h1_before)) < 0)
		return rc;
	return 0;
}

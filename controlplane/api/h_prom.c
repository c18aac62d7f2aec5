/*
 * h_prom.c - GET /metrics in the Prometheus text format 0.0.4: server
 * internals (requests by route and status class, latency histograms, the
 * write-behind and the SLI ingest queue) and the fleet's SLIs per release
 * over the current and the previous 5-minute rollup (so a scrape always
 * sees at least five whole minutes).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fairlead/buf.h"
#include "fairlead/log.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A label value with \, " and newline escaped. */
static void esc(struct fl_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fl_buf_addf(b, "\\%c", *s);
		else if (*s == '\n')
			fl_buf_addf(b, "\\n");
		else
			fl_buf_addf(b, "%c", *s);
	}
}

static void family(struct fl_buf *b, const char *name, const char *type, const char *help)
{
	fl_buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_i(struct fl_buf *b, const char *name, int64_t v)
{
	fl_buf_addf(b, "%s %lld\n", name, (long long)v);
}

static void sample_d(struct fl_buf *b, const char *name, double v)
{
	if (isnan(v))
		fl_buf_addf(b, "%s NaN\n", name);
	else
		fl_buf_addf(b, "%s %.17g\n", name, v);
}

static void route_labels(struct fl_buf *b, size_t i)
{
	if (i < cp_routes_count) {
		fl_buf_addf(b, "method=\"%s\",route=\"", cp_routes[i].method);
		esc(b, cp_routes[i].pattern);
		fl_buf_addf(b, "\"");
	} else {
		fl_buf_addf(b, "method=\"\",route=\"unmatched\"");
	}
}

static void http_metrics(struct fl_buf *b)
{
	static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
	size_t idx[CP_ROUTE_STATS_MAX];
	size_t n = 0;

	for (size_t i = 0; i < cp_routes_count; i++)
		idx[n++] = i;
	idx[n++] = CP_ROUTE_STATS_MAX - 1;
	family(b, "fairlead_http_requests_total", "counter",
	       "HTTP requests by route and status class.");
	for (size_t j = 0; j < n; j++) {
		struct cp_route_stats *st = &cp_route_stats[idx[j]];

		for (int c = 0; c < 5; c++) {
			int64_t v = atomic_load_explicit(&st->by_class[c], memory_order_relaxed);

			if (!v)
				continue;
			fl_buf_addf(b, "fairlead_http_requests_total{");
			route_labels(b, idx[j]);
			fl_buf_addf(b, ",code=\"%s\"} %lld\n", classes[c], (long long)v);
		}
	}
	family(b, "fairlead_http_request_duration_seconds", "histogram",
	       "Time from routing to the reply, by route.");
	for (size_t j = 0; j < n; j++) {
		struct cp_route_stats *st = &cp_route_stats[idx[j]];
		int64_t cum = 0, counts[CP_LATENCY_BUCKETS + 1];

		for (int k = 0; k <= CP_LATENCY_BUCKETS; k++)
			counts[k] = atomic_load_explicit(&st->buckets[k], memory_order_relaxed);
		for (int k = 0; k <= CP_LATENCY_BUCKETS; k++)
			cum += counts[k];
		if (!cum)
			continue;
		cum = 0;
		for (int k = 0; k <= CP_LATENCY_BUCKETS; k++) {
			cum += counts[k];
			fl_buf_addf(b, "fairlead_http_request_duration_seconds_bucket{");
			route_labels(b, idx[j]);
			if (k < CP_LATENCY_BUCKETS)
				fl_buf_addf(b, ",le=\"%g\"} %lld\n", cp_latency_bounds[k],
					    (long long)cum);
			else
				fl_buf_addf(b, ",le=\"+Inf\"} %lld\n", (long long)cum);
		}
		fl_buf_addf(b, "fairlead_http_request_duration_seconds_sum{");
		route_labels(b, idx[j]);
		fl_buf_addf(b, "} %.6f\n",
			    (double)atomic_load_explicit(&st->sum_us, memory_order_relaxed) / 1e6);
		fl_buf_addf(b, "fairlead_http_request_duration_seconds_count{");
		route_labels(b, idx[j]);
		fl_buf_addf(b, "} %lld\n", (long long)cum);
	}
}

static void server_metrics(struct fl_buf *b, struct cp_app *app, int64_t now)
{
	struct cp_counters *c = &app->counters;
	struct cp_wb_stats wb;
	struct cp_ingest_stats in;

	cp_wb_stats(&wb, app->wb);
	cp_ingest_stats(&in, app->ingest);
	family(b, "fairlead_uptime_seconds", "gauge", "Seconds since the server started.");
	sample_i(b, "fairlead_uptime_seconds", now - app->started_at);
	family(b, "fairlead_devices", "gauge", "Devices in the registry.");
	sample_i(b, "fairlead_devices", (int64_t)cp_registry_count(app->reg));
	family(b, "fairlead_checkins_total", "counter", "Device check-ins answered.");
	sample_i(b, "fairlead_checkins_total", atomic_load(&c->checkins));
	family(b, "fairlead_rate_limited_total", "counter", "Requests refused by rate limits.");
	sample_i(b, "fairlead_rate_limited_total", atomic_load(&c->rate_limited));
	family(b, "fairlead_replays_total", "counter", "Device requests refused as replays.");
	sample_i(b, "fairlead_replays_total", atomic_load(&c->replays));
	family(b, "fairlead_http_connections", "gauge", "Client connections open.");
	sample_i(b, "fairlead_http_connections", atomic_load(&c->connections));
	family(b, "fairlead_http_deadline_closed_total", "counter",
	       "Connections closed for missing the header or body deadline.");
	sample_i(b, "fairlead_http_deadline_closed_total", atomic_load(&c->closed_deadline));
	family(b, "fairlead_http_shed_total", "counter",
	       "Requests answered 503 because the workers were saturated.");
	sample_i(b, "fairlead_http_shed_total", atomic_load(&c->shed));

	family(b, "fairlead_writebehind_pending_devices", "gauge",
	       "Devices with check-in changes not yet written.");
	sample_i(b, "fairlead_writebehind_pending_devices", (int64_t)wb.pending_devices);
	family(b, "fairlead_writebehind_pending_results", "gauge",
	       "Command results not yet written.");
	sample_i(b, "fairlead_writebehind_pending_results", (int64_t)wb.pending_results);
	family(b, "fairlead_writebehind_lag_seconds", "gauge",
	       "Age of the oldest unwritten check-in change.");
	sample_d(b, "fairlead_writebehind_lag_seconds", (double)wb.oldest_pending_ms / 1000.0);
	family(b, "fairlead_writebehind_flushes_total", "counter", "Write-behind batches written.");
	sample_i(b, "fairlead_writebehind_flushes_total", wb.flushes);
	family(b, "fairlead_writebehind_flush_errors_total", "counter",
	       "Write-behind batches that failed (and were retried).");
	sample_i(b, "fairlead_writebehind_flush_errors_total", wb.flush_errors);

	family(b, "fairlead_ingest_queue_depth", "gauge", "SLI reports queued, not yet written.");
	sample_i(b, "fairlead_ingest_queue_depth", (int64_t)in.pending);
	family(b, "fairlead_ingest_queue_capacity", "gauge",
	       "SLI reports the queue holds before answering 503.");
	sample_i(b, "fairlead_ingest_queue_capacity", (int64_t)in.capacity);
	family(b, "fairlead_ingest_lag_seconds", "gauge", "Age of the oldest queued SLI report.");
	sample_d(b, "fairlead_ingest_lag_seconds", (double)in.oldest_pending_ms / 1000.0);
	family(b, "fairlead_ingest_reports_accepted_total", "counter",
	       "SLI reports accepted since start.");
	sample_i(b, "fairlead_ingest_reports_accepted_total", in.accepted);
	family(b, "fairlead_ingest_reports_duplicate_total", "counter",
	       "SLI reports refused as already held (seq at or below the device's).");
	sample_i(b, "fairlead_ingest_reports_duplicate_total", in.duplicates);
	family(b, "fairlead_ingest_reports_refused_total", "counter",
	       "SLI reports refused with 503 because the queue was full.");
	sample_i(b, "fairlead_ingest_reports_refused_total", in.refused);
	family(b, "fairlead_ingest_flushes_total", "counter", "SLI batches written.");
	sample_i(b, "fairlead_ingest_flushes_total", in.flushes);
	family(b, "fairlead_ingest_flush_errors_total", "counter",
	       "SLI batches that failed (and were retried).");
	sample_i(b, "fairlead_ingest_flush_errors_total", in.flush_errors);
}

/* One gauge family over the releases; v picks the value. */
static void per_release(struct fl_buf *b, const struct cp_sli_release_agg *r, size_t n,
			const char *name, const char *help, double (*v)(const struct cp_sli_agg *a))
{
	family(b, name, "gauge", help);
	for (size_t i = 0; i < n; i++) {
		double x = v(&r[i].agg);

		fl_buf_addf(b, "%s{release=\"", name);
		esc(b, r[i].release);
		if (isnan(x))
			fl_buf_addf(b, "\"} NaN\n");
		else
			fl_buf_addf(b, "\"} %.17g\n", x);
	}
}

static double v_inferences(const struct cp_sli_agg *a)
{
	return (double)a->inferences;
}
static double v_errors(const struct cp_sli_agg *a)
{
	return (double)a->errors;
}
static double v_uptime(const struct cp_sli_agg *a)
{
	return a->expected_s > 0 ? a->up_s / a->expected_s : NAN;
}
static double v_energy(const struct cp_sli_agg *a)
{
	return a->energy_j;
}
static double v_carbon_inf(const struct cp_sli_agg *a)
{
	return a->inferences ? a->carbon_g / (double)a->inferences : NAN;
}
static double v_drift_checks(const struct cp_sli_agg *a)
{
	return (double)a->drift_checks;
}
static double v_drift_alarms(const struct cp_sli_agg *a)
{
	return (double)a->drift_alarms;
}

static int fleet_metrics(struct fl_buf *b, struct cp_app *app, int64_t now, struct fl_err *err)
{
	static const double qs[] = {0.5, 0.9, 0.99};
	struct cp_sli_release_agg *r = NULL;
	int64_t to = (now / 300 + 1) * 300, dropped = 0;
	size_t n = 0;
	int rc;

	if ((rc = cp_store_sli_releases(&r, &n, app->store, to - 600, to, err)) < 0 ||
	    (rc = cp_store_sli_dropped_total(&dropped, app->store, err)) < 0)
		goto cleanup;
	per_release(b, r, n, "fairlead_sli_inferences",
		    "Inferences reported per release, last 5-10 minutes.", v_inferences);
	per_release(b, r, n, "fairlead_sli_errors",
		    "Failed inferences per release, last 5-10 minutes.", v_errors);
	family(b, "fairlead_sli_latency_seconds", "summary",
	       "Inference latency per release (merged sketches, 1% relative error), last 5-10 "
	       "minutes.");
	for (size_t i = 0; i < n; i++) {
		const struct fl_sketch *s = r[i].agg.latency_ms;

		if (!s || fl_sketch_count(s) == 0)
			continue;
		for (size_t q = 0; q < sizeof(qs) / sizeof(qs[0]); q++) {
			fl_buf_addf(b, "fairlead_sli_latency_seconds{release=\"");
			esc(b, r[i].release);
			fl_buf_addf(b, "\",quantile=\"%g\"} %.17g\n", qs[q],
				    fl_sketch_quantile(s, qs[q]) / 1000.0);
		}
		fl_buf_addf(b, "fairlead_sli_latency_seconds_sum{release=\"");
		esc(b, r[i].release);
		fl_buf_addf(b, "\"} %.17g\n", fl_sketch_sum(s) / 1000.0);
		fl_buf_addf(b, "fairlead_sli_latency_seconds_count{release=\"");
		esc(b, r[i].release);
		fl_buf_addf(b, "\"} %llu\n", (unsigned long long)fl_sketch_count(s));
	}
	per_release(b, r, n, "fairlead_sli_uptime_ratio",
		    "Heartbeat uptime over expected time per release, last 5-10 minutes.",
		    v_uptime);
	per_release(b, r, n, "fairlead_sli_energy_joules", "Energy per release, last 5-10 minutes.",
		    v_energy);
	per_release(b, r, n, "fairlead_sli_carbon_grams_per_inference",
		    "SCI: gCO2e per inference ((E*I + M) / R) per release, last 5-10 minutes.",
		    v_carbon_inf);
	per_release(b, r, n, "fairlead_sli_drift_checks",
		    "Feature windows judged for drift per release, last 5-10 minutes.",
		    v_drift_checks);
	per_release(b, r, n, "fairlead_sli_drift_alarms",
		    "Feature windows over their drift threshold per release, last 5-10 minutes.",
		    v_drift_alarms);
	family(b, "fairlead_agent_dropped_reports_total", "counter",
	       "Reports agents dropped at their disk bound, as they last reported.");
	sample_i(b, "fairlead_agent_dropped_reports_total", dropped);
cleanup:
	cp_store_sli_releases_free(r, n);
	return rc;
}

int cp_h_metrics(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	struct fl_buf b = FL_BUF_INIT;
	int rc;

	server_metrics(&b, req->app, req->now);
	http_metrics(&b);
	if ((rc = fleet_metrics(&b, req->app, req->now, err)) < 0)
		goto cleanup;
	if ((rc = cp_slo_prom(&b, req->app->slo)) < 0)
		goto cleanup;
	if (!b.ptr) {
		rc = FL_ENOMEM;
		goto cleanup;
	}
	cp_resp_release(resp);
	resp->status = 200;
	resp->raw_len = b.len;
	resp->raw = fl_buf_detach(&b);
	resp->content_type = PROM_CONTENT_TYPE;
cleanup:
	fl_buf_release(&b);
	return rc;
}

/*
 * h_sli.c - SLI reports from agents, and the SLI and drift queries.
 *
 * POST /api/v1/device/reports validates the whole batch before anything is
 * queued (one bad report refuses the request, nothing stored) and hands it
 * to the ingest queue (core/ingest.h), then answers once the queue's next
 * commit holds it (a group commit shared by every request in the meantime).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fairlead/drift.h"
#include "fairlead/envelope.h"
#include "fairlead/json.h"
#include "fairlead/relref.h"
#include "fairlead/trust.h"
#include "fairlead/util.h"

#define MAX_REPORTS   64
#define MAX_WINDOW_S  3600
#define FUTURE_SLACK  600 /* seconds a window may end after the server's now */
#define MAX_SINCE     (400LL * 86400)
#define DEFAULT_SINCE 3600

/* ---- POST /api/v1/device/reports ---------------------------------------- */

static int num_field(double *out, const json_t *o, const char *key, double max, int idx,
		     struct fl_err *err)
{
	const json_t *v = json_object_get(o, key);
	double d;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return fl_err_set(err, FL_EINVAL, "reports[%d].%s must be a number", idx, key);
	d = json_number_value(v);
	if (!isfinite(d) || d < 0 || d > max)
		return fl_err_set(err, FL_EINVAL, "reports[%d].%s must be 0..%g", idx, key, max);
	*out = d;
	return 0;
}

static int int_field(int64_t *out, const json_t *o, const char *key, int required, int64_t min,
		     int idx, struct fl_err *err)
{
	const json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v)) {
		if (required)
			return fl_err_set(err, FL_EINVAL, "reports[%d].%s is required", idx, key);
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min)
		return fl_err_set(err, FL_EINVAL, "reports[%d].%s must be an integer >= %lld", idx,
				  key, (long long)min);
	*out = json_integer_value(v);
	return 0;
}

static int feature_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > FL_DRIFT_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static int take_drift(struct cp_ingest_report *r, const json_t *arr, int idx, struct fl_err *err)
{
	static const char *const allowed[] = {"feature",   "counts", "psi",	"js",
					      "threshold", "judged", "drifted", NULL};
	size_t i;
	json_t *f;

	if (!json_is_array(arr) || json_array_size(arr) > FL_DRIFT_MAX_FEATURES)
		return fl_err_set(err, FL_EINVAL,
				  "reports[%d].drift must be an array of at most %d", idx,
				  FL_DRIFT_MAX_FEATURES);
	if (json_array_size(arr) == 0)
		return 0;
	if (!(r->drift = calloc(json_array_size(arr), sizeof(*r->drift))))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	json_array_foreach (arr, i, f) {
		struct cp_sli_drift *d = &r->drift[i];
		const char *name = NULL;
		json_t *counts, *c;
		int judged = 0, drifted = 0, rc;
		size_t k;
		double x = 0;

		if (!json_is_object(f))
			return fl_err_set(err, FL_EINVAL,
					  "reports[%d].drift[%zu] must be an object", idx, i);
		if ((rc = fl_json_only(f, allowed, err)) < 0 ||
		    (rc = fl_json_str(&name, f, "feature", 1, err)) < 0 ||
		    (rc = fl_json_bool(&judged, f, "judged", 0, err)) < 0 ||
		    (rc = fl_json_bool(&drifted, f, "drifted", 0, err)) < 0) {
			fl_err_prefix(err, "reports[%d].drift[%zu]", idx, i);
			return rc;
		}
		if ((rc = num_field(&x, f, "psi", 1e9, idx, err)) < 0 ||
		    (rc = num_field(&x, f, "js", 1, idx, err)) < 0 ||
		    (rc = num_field(&x, f, "threshold", 1e9, idx, err)) < 0)
			return rc;
		if (!feature_name_valid(name))
			return fl_err_set(err, FL_EINVAL,
					  "reports[%d].drift[%zu].feature: use 1-%d of A-Z a-z "
					  "0-9 . _ -",
					  idx, i, FL_DRIFT_NAME_MAX);
		for (size_t j = 0; j < i; j++)
			if (strcmp(r->drift[j].feature, name) == 0)
				return fl_err_set(err, FL_EINVAL,
						  "reports[%d].drift: feature '%s' twice", idx,
						  name);
		counts = json_object_get(f, "counts");
		if (!json_is_array(counts) || json_array_size(counts) < 2 ||
		    json_array_size(counts) > FL_DRIFT_MAX_BINS)
			return fl_err_set(err, FL_EINVAL,
					  "reports[%d].drift[%zu].counts must be an array of 2..%d",
					  idx, i, FL_DRIFT_MAX_BINS);
		snprintf(d->feature, sizeof(d->feature), "%s", name);
		d->nbins = json_array_size(counts);
		json_array_foreach (counts, k, c) {
			if (!json_is_integer(c) || json_integer_value(c) < 0)
				return fl_err_set(err, FL_EINVAL,
						  "reports[%d].drift[%zu].counts must be integers "
						  ">= 0",
						  idx, i);
			d->counts[k] = (uint64_t)json_integer_value(c);
		}
		if (drifted && !judged)
			return fl_err_set(err, FL_EINVAL,
					  "reports[%d].drift[%zu]: drifted without judged", idx, i);
		r->drift_checks += judged;
		r->drift_alarms += judged && drifted;
		r->ndrift++;
	}
	return 0;
}

static int take_report(struct cp_ingest_report *r, const json_t *o, int idx, int64_t now,
		       struct fl_err *err)
{
	static const char *const allowed[] = {
	    "seq",	     "start",	   "end",    "release",	   "up_s",
	    "expected_s",    "inferences", "errors", "latency_ms", "energy_j",
	    "energy_source", "drift",	   NULL};
	const json_t *rel, *lat, *drift;
	const char *src = NULL;
	double window;
	int rc;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(o))
		return fl_err_set(err, FL_EINVAL, "reports[%d] must be an object", idx);
	if ((rc = fl_json_only(o, allowed, err)) < 0) {
		fl_err_prefix(err, "reports[%d]", idx);
		return rc;
	}
	if ((rc = int_field(&r->seq, o, "seq", 1, 1, idx, err)) < 0 ||
	    (rc = int_field(&r->start, o, "start", 1, 1, idx, err)) < 0 ||
	    (rc = int_field(&r->end, o, "end", 1, 1, idx, err)) < 0 ||
	    (rc = int_field(&r->inferences, o, "inferences", 0, 0, idx, err)) < 0 ||
	    (rc = int_field(&r->errors, o, "errors", 0, 0, idx, err)) < 0)
		return rc;
	if (r->end <= r->start || r->end - r->start > MAX_WINDOW_S)
		return fl_err_set(err, FL_EINVAL,
				  "reports[%d]: end must be after start, within %d s", idx,
				  MAX_WINDOW_S);
	if (r->end > now + FUTURE_SLACK)
		return fl_err_set(err, FL_EINVAL, "reports[%d]: window ends in the future", idx);
	window = (double)(r->end - r->start);
	if (r->errors > r->inferences)
		return fl_err_set(err, FL_EINVAL, "reports[%d]: errors over inferences", idx);
	if ((rc = num_field(&r->up_s, o, "up_s", window, idx, err)) < 0 ||
	    (rc = num_field(&r->expected_s, o, "expected_s", window, idx, err)) < 0 ||
	    (rc = num_field(&r->energy_j, o, "energy_j", 1e12, idx, err)) < 0)
		return rc;
	if (r->up_s > r->expected_s)
		return fl_err_set(err, FL_EINVAL, "reports[%d]: up_s over expected_s", idx);
	if ((rc = fl_json_str(&src, o, "energy_source", 0, err)) < 0)
		return rc;
	if (src && strcmp(src, "module") != 0 && strcmp(src, "estimated") != 0 &&
	    strcmp(src, "none") != 0)
		return fl_err_set(err, FL_EINVAL,
				  "reports[%d].energy_source must be module, estimated or none",
				  idx);
	rel = json_object_get(o, "release");
	if (rel && !json_is_null(rel)) {
		struct fl_relref rr;

		if (!json_is_string(rel) || fl_relref_parse(&rr, json_string_value(rel), NULL) < 0)
			return fl_err_set(err, FL_EINVAL,
					  "reports[%d].release must be NAME@VERSION or null", idx);
		snprintf(r->release, sizeof(r->release), "%s", json_string_value(rel));
	}
	lat = json_object_get(o, "latency_ms");
	if (lat && !json_is_null(lat)) {
		if ((rc = fl_sketch_from_json(&r->latency_ms, lat, err)) < 0) {
			fl_err_prefix(err, "reports[%d].latency_ms", idx);
			return rc;
		}
		if ((int64_t)fl_sketch_count(r->latency_ms) > r->inferences)
			return fl_err_set(err, FL_EINVAL,
					  "reports[%d]: more latencies than inferences", idx);
		if (fl_sketch_count(r->latency_ms) == 0) {
			fl_sketch_free(r->latency_ms);
			r->latency_ms = NULL;
		}
	}
	drift = json_object_get(o, "drift");
	if (drift && !json_is_null(drift)) {
		if (!r->release[0] && json_array_size(drift) > 0)
			return fl_err_set(err, FL_EINVAL, "reports[%d]: drift without a release",
					  idx);
		if ((rc = take_drift(r, drift, idx, err)) < 0)
			return rc;
	}
	return 0;
}

/* 503 with Retry-After: the agent keeps its reports and comes back. */
static int busy_reply(struct cp_resp *resp, const char *msg)
{
	int rc = cp_reply(
	    resp, 503,
	    json_pack("{s:{s:s,s:s}}", "error", "code", fl_err_name(FL_EAGAIN), "message", msg));

	resp->retry_after = 2;
	return rc;
}

int cp_h_reports(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const char *const allowed[] = {"reports", "dropped", NULL};
	struct cp_ingest_report *reps = NULL;
	struct cp_ingest_result res;
	json_t *body = NULL, *arr, *o;
	int64_t dropped = 0;
	size_t n = 0, i;
	int rc;

	if ((rc = cp_body_object(&body, req, allowed, err)) < 0)
		return rc;
	arr = json_object_get(body, "reports");
	if (!json_is_array(arr) || json_array_size(arr) > MAX_REPORTS) {
		rc = fl_err_set(err, FL_EINVAL, "reports must be an array of at most %d",
				MAX_REPORTS);
		goto cleanup;
	}
	if ((rc = fl_json_int(&dropped, body, "dropped", 0, err)) < 0)
		goto cleanup;
	if (dropped < 0) {
		rc = fl_err_set(err, FL_EINVAL, "dropped must be 0 or more");
		goto cleanup;
	}
	if (json_array_size(arr) && !(reps = calloc(json_array_size(arr), sizeof(*reps)))) {
		rc = FL_ENOMEM;
		goto cleanup;
	}
	json_array_foreach (arr, i, o) {
		rc = take_report(&reps[i], o, (int)i, req->now, err);
		n = i + 1;
		if (rc < 0)
			goto cleanup;
		if (i > 0 && reps[i].seq <= reps[i - 1].seq) {
			rc = fl_err_set(err, FL_EINVAL, "reports[%zu]: seq must rise strictly", i);
			goto cleanup;
		}
	}
	rc = cp_ingest_submit(&res, req->app->ingest, req->who.id, reps, n, dropped, req->now, err);
	if (rc == FL_EAGAIN) {
		rc = busy_reply(resp, err->msg);
		goto cleanup;
	}
	if (rc < 0)
		goto cleanup;
	/* Acknowledged means stored: the agent deletes its copy on a 200. On a
	 * 503 the reports stay queued here and the agent's resend is a duplicate
	 * that waits for them again. */
	if ((rc = cp_ingest_wait(req->app->ingest, res.ticket, fl_mono_ms() + CP_GC_WAIT_MS, err)) <
	    0)
		goto cleanup;
	/* New SLIs may decide a rollout's gates: wake its controller. */
	if (res.accepted > 0)
		cp_rollout_poke(req->app->rollouts, req->who.id);
	rc =
	    cp_reply(resp, 200,
		     json_pack("{s:I,s:I,s:I}", "accepted", (json_int_t)res.accepted, "duplicates",
			       (json_int_t)res.duplicates, "acked_seq", (json_int_t)res.acked_seq));
cleanup:
	for (i = 0; i < n; i++)
		cp_ingest_report_release(&reps[i]);
	free(reps);
	json_decref(body);
	return rc;
}

/* ---- shared query parameters ---------------------------------------------- */

static int opt_param(char *out, size_t cap, struct cp_req *req, const char *name,
		     struct fl_err *err)
{
	int rc = cp_query_param(out, cap, req, name, err);

	if (rc == FL_ENOTFOUND) {
		out[0] = '\0';
		return 0;
	}
	return rc;
}

/* "NAME" or "NAME@VERSION" (need_version: only the latter). */
static int release_param(char *out, size_t cap, struct cp_req *req, int need_version,
			 struct fl_err *err)
{
	int rc = opt_param(out, cap, req, "release", err);
	struct fl_relref rr;

	if (rc < 0 || !out[0])
		return rc;
	rc = need_version ? fl_relref_parse(&rr, out, NULL) : fl_relref_parse_any(&rr, out, NULL);
	if (rc < 0)
		return fl_err_set(err, FL_EINVAL,
				  need_version ? "release must be NAME@VERSION"
					       : "release must be NAME or NAME@VERSION");
	return 0;
}

static int since_param(int64_t *out, struct cp_req *req, struct fl_err *err)
{
	char buf[32];
	int rc = opt_param(buf, sizeof(buf), req, "since", err);

	*out = DEFAULT_SINCE;
	if (rc < 0 || !buf[0])
		return rc;
	if (fl_duration_parse(out, buf, err) < 0 || *out > MAX_SINCE)
		return fl_err_set(err, FL_EINVAL, "since must be a duration up to 400d");
	return 0;
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : NAN;
}

/* A number, or null when it is not one (no data). */
static json_t *jnum(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *agg_json(const struct cp_sli_agg *a)
{
	const struct fl_sketch *s = a->latency_ms;
	json_t *o = json_object();

	json_object_set_new(o, "reports", json_integer(a->reports));
	json_object_set_new(o, "inferences", json_integer(a->inferences));
	json_object_set_new(o, "errors", json_integer(a->errors));
	json_object_set_new(o, "error_ratio",
			    jnum(ratio((double)a->errors, (double)a->inferences)));
	json_object_set_new(o, "latency_ms",
			    json_pack("{s:I,s:o,s:o,s:o,s:o}", "count",
				      (json_int_t)(s ? fl_sketch_count(s) : 0), "p50",
				      jnum(s ? fl_sketch_quantile(s, 0.5) : NAN), "p90",
				      jnum(s ? fl_sketch_quantile(s, 0.9) : NAN), "p99",
				      jnum(s ? fl_sketch_quantile(s, 0.99) : NAN), "max",
				      jnum(s ? fl_sketch_max(s) : NAN)));
	json_object_set_new(o, "up_s", json_real(a->up_s));
	json_object_set_new(o, "expected_s", json_real(a->expected_s));
	json_object_set_new(o, "uptime_ratio", jnum(ratio(a->up_s, a->expected_s)));
	json_object_set_new(o, "energy_j", json_real(a->energy_j));
	json_object_set_new(o, "energy_per_inference_j",
			    jnum(ratio(a->energy_j, (double)a->inferences)));
	json_object_set_new(o, "carbon_g", json_real(a->carbon_g));
	json_object_set_new(o, "carbon_per_inference_g",
			    jnum(ratio(a->carbon_g, (double)a->inferences)));
	json_object_set_new(o, "drift_checks", json_integer(a->drift_checks));
	json_object_set_new(o, "drift_alarms", json_integer(a->drift_alarms));
	return o;
}

/* ---- GET /api/v1/sli --------------------------------------------------------- */

int cp_h_sli(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	char dev[128], sel[512], rel[132], stepb[16];
	struct cp_sli_scope scope = {0};
	struct cp_sli_agg *aggs = NULL, total = {0};
	int64_t since, step = 0, from, to;
	json_t *reply = NULL, *series = NULL, *summary;
	size_t n = 0;
	int rc;

	if ((rc = opt_param(dev, sizeof(dev), req, "device", err)) < 0 ||
	    (rc = opt_param(sel, sizeof(sel), req, "selector", err)) < 0 ||
	    (rc = release_param(rel, sizeof(rel), req, 0, err)) < 0 ||
	    (rc = since_param(&since, req, err)) < 0 ||
	    (rc = opt_param(stepb, sizeof(stepb), req, "step", err)) < 0)
		return rc;
	if (dev[0] && !fl_id_valid(dev))
		return fl_err_set(err, FL_EINVAL, "bad device id");
	if (dev[0] && sel[0])
		return fl_err_set(err, FL_EINVAL, "give device or selector, not both");
	if (stepb[0] && strcmp(stepb, "auto") != 0) {
		step = strcmp(stepb, "60") == 0	    ? 60
		       : strcmp(stepb, "300") == 0  ? 300
		       : strcmp(stepb, "3600") == 0 ? 3600
						    : 0;
		if (!step)
			return fl_err_set(err, FL_EINVAL, "step must be 60, 300, 3600 or auto");
	}
	if (!step)
		step = since <= 2 * 3600 ? 60 : since <= 2 * 86400 ? 300 : 3600;
	if (dev[0]) {
		struct cp_dev d;

		if (cp_registry_by_id(&d, req->app->reg, dev) < 0)
			return fl_err_set(err, FL_ENOTFOUND, "device '%s' not found", dev);
	}
	/* Whole steps, the current (partial) one included. */
	to = (req->now / step + 1) * step;
	from = to - ((since + step - 1) / step) * step;
	scope.device_id = dev;
	scope.selector = sel;
	scope.release = rel;
	if ((rc = cp_store_sli_series(&aggs, &n, req->app->store, &scope, from, to, step, err)) < 0)
		return rc;
	series = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *p;

		if (cp_sli_agg_add(&total, &aggs[i]) < 0) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
		if (aggs[i].reports == 0)
			continue;
		p = agg_json(&aggs[i]);
		json_object_set_new(p, "ts", json_integer(from + (int64_t)i * step));
		json_array_append_new(series, p);
	}
	summary = agg_json(&total);
	if (dev[0]) {
		int64_t dropped = 0;

		if ((rc = cp_ingest_dropped(&dropped, req->app->ingest, dev, err)) < 0) {
			json_decref(summary);
			goto cleanup;
		}
		json_object_set_new(summary, "dropped_reports", json_integer(dropped));
	}
	reply = json_pack("{s:{s:s?,s:s?,s:s?},s:I,s:I,s:I,s:o,s:o}", "scope", "device",
			  dev[0] ? dev : NULL, "selector", sel[0] ? sel : NULL, "release",
			  rel[0] ? rel : NULL, "from", (json_int_t)from, "to", (json_int_t)to,
			  "step", (json_int_t)step, "summary", summary, "series", series);
	series = NULL;
	rc = cp_reply(resp, 200, reply);
cleanup:
	json_decref(series);
	cp_sli_agg_release(&total);
	cp_sli_aggs_free(aggs, n);
	return rc;
}

/* ---- GET /api/v1/drift -------------------------------------------------------- */

/* The parsed baseline of release NAME@VERSION from its signed metadata. */
static int release_baseline(struct fl_drift_baseline *out, struct cp_req *req, const char *ref,
			    struct fl_err *err)
{
	struct fl_envelope env = {0};
	json_t *row = NULL, *meta = NULL;
	struct fl_relref rr;
	const char *text;
	int rc;

	if ((rc = fl_relref_parse(&rr, ref, err)) < 0)
		return rc;
	if ((rc = cp_store_release_get(&row, req->app->store, rr.name, rr.version, err)) < 0) {
		if (rc == FL_ENOTFOUND)
			fl_err_set(err, rc, "release '%s' not found", ref);
		return rc;
	}
	text = json_string_value(json_object_get(row, "envelope"));
	if ((rc = fl_envelope_parse(&env, text, strlen(text), err)) < 0 ||
	    (rc = fl_json_parse(&meta, (const char *)env.payload, env.payload_len, err)) < 0)
		goto cleanup;
	rc = fl_drift_baseline_parse(out, json_object_get(meta, "baseline"), err);
	if (rc < 0)
		fl_err_prefix(err, "baseline of %s", ref);
cleanup:
	json_decref(meta);
	json_decref(row);
	fl_envelope_release(&env);
	return rc;
}

static json_t *feature_json(const struct fl_drift_feature *f, const struct cp_sli_drift *d)
{
	json_t *o = json_object(), *counts = json_array();
	uint64_t m = 0;
	uint64_t zero[FL_DRIFT_MAX_BINS] = {0};
	const uint64_t *c = d && d->nbins == f->nbins ? d->counts : zero;
	int judged;
	double psi, js, thr;

	for (size_t b = 0; b < f->nbins; b++) {
		m += c[b];
		json_array_append_new(counts, json_integer((json_int_t)c[b]));
	}
	json_object_set_new(o, "feature", json_string(f->name));
	json_object_set_new(o, "bins", json_integer((json_int_t)f->nbins));
	json_object_set_new(o, "counts", counts);
	json_object_set_new(o, "samples", json_integer((json_int_t)m));
	json_object_set_new(o, "baseline_n", json_integer(f->n));
	if (m == 0) {
		json_object_set_new(o, "psi", json_null());
		json_object_set_new(o, "js", json_null());
		json_object_set_new(o, "threshold", json_null());
		json_object_set_new(o, "judged", json_false());
		json_object_set_new(o, "drifted", json_false());
		return o;
	}
	psi = fl_drift_psi(f->p, c, f->nbins);
	js = fl_drift_js(f->p, c, f->nbins);
	thr = fl_drift_psi_threshold(f->nbins, f->n, m, FL_DRIFT_ALPHA);
	judged = fl_drift_judgeable(f->nbins, m);
	json_object_set_new(o, "psi", jnum(psi));
	json_object_set_new(o, "js", jnum(js));
	json_object_set_new(o, "threshold", jnum(thr));
	json_object_set_new(o, "judged", json_boolean(judged));
	json_object_set_new(o, "drifted", json_boolean(judged && psi > thr));
	return o;
}

int cp_h_drift(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	char rel[132], sel[512], dev[128], feat[FL_DRIFT_NAME_MAX + 2];
	struct fl_drift_baseline *base = NULL;
	struct cp_sli_scope scope = {0};
	struct cp_sli_drift *d = NULL;
	json_t *features = NULL;
	int64_t since, from, to;
	size_t n = 0;
	int rc;

	if ((rc = release_param(rel, sizeof(rel), req, 1, err)) < 0 ||
	    (rc = opt_param(sel, sizeof(sel), req, "selector", err)) < 0 ||
	    (rc = opt_param(dev, sizeof(dev), req, "device", err)) < 0 ||
	    (rc = opt_param(feat, sizeof(feat), req, "feature", err)) < 0 ||
	    (rc = since_param(&since, req, err)) < 0)
		return rc;
	if (!rel[0])
		return fl_err_set(err, FL_EINVAL, "release=NAME@VERSION is required");
	if (dev[0] && !fl_id_valid(dev))
		return fl_err_set(err, FL_EINVAL, "bad device id");
	if (feat[0] && !feature_name_valid(feat))
		return fl_err_set(err, FL_EINVAL, "bad feature name");
	if (!(base = calloc(1, sizeof(*base))))
		return FL_ENOMEM;
	if ((rc = release_baseline(base, req, rel, err)) < 0)
		goto cleanup;
	if (feat[0] && !fl_drift_baseline_find(base, feat)) {
		rc = fl_err_set(err, FL_ENOTFOUND, "feature '%s' is not in the baseline of %s",
				feat, rel);
		goto cleanup;
	}
	to = (req->now / 60 + 1) * 60;
	from = to - ((since + 59) / 60) * 60;
	scope.release = rel;
	scope.selector = sel;
	scope.device_id = dev;
	if ((rc = cp_store_sli_drift(&d, &n, req->app->store, &scope, from, to, err)) < 0)
		goto cleanup;
	features = json_array();
	for (size_t i = 0; i < base->nfeatures; i++) {
		const struct fl_drift_feature *f = &base->f[i];
		const struct cp_sli_drift *got = NULL;

		if (feat[0] && strcmp(feat, f->name) != 0)
			continue;
		for (size_t j = 0; j < n; j++)
			if (strcmp(d[j].feature, f->name) == 0)
				got = &d[j];
		json_array_append_new(features, feature_json(f, got));
	}
	rc = cp_reply(resp, 200,
		      json_pack("{s:s,s:s?,s:s?,s:I,s:I,s:f,s:o}", "release", rel, "selector",
				sel[0] ? sel : NULL, "device", dev[0] ? dev : NULL, "from",
				(json_int_t)from, "to", (json_int_t)to, "alpha", FL_DRIFT_ALPHA,
				"features", features));
	features = NULL;
cleanup:
	json_decref(features);
	free(d);
	free(base);
	return rc;
}

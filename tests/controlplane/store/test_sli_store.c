/* test_sli_store.c - SLI series in SQLite: minute merges, rollups that merge
 * sketches and bin counts, cohort and release scopes, retention, and the
 * dedup state. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"
#include "fl_test.h"
#include "store/store.h"

#define T0 1700000000LL
#define H0 ((T0 / 3600) * 3600)

TestSuite(sli_store, .timeout = 60);

static const int64_t steps[3] = {60, 300, 3600};

static struct cp_store *open_store(void)
{
	struct cp_store *s = NULL;
	struct fl_err err = {0, ""};
	char path[512];

	snprintf(path, sizeof(path), "%s/fairlead.db", fl_test_tmpdir());
	cr_assert_eq(cp_store_open(&s, path, -1, &err), 0, "%s", err.msg);
	return s;
}

/* A sample of device dev at t with latencies lo..hi ms. */
static void sample(struct cp_sli_sample *x, const char *dev, int64_t t, const char *release,
		   const char *labels, int lo, int hi)
{
	memset(x, 0, sizeof(*x));
	snprintf(x->device_id, sizeof(x->device_id), "%s", dev);
	x->minute = t - t % 60;
	snprintf(x->release, sizeof(x->release), "%s", release);
	x->labels = strdup(labels);
	snprintf(x->hw, sizeof(x->hw), "default");
	snprintf(x->site, sizeof(x->site), "default");
	cr_assert_eq(fl_sketch_new(&x->latency_ms), 0);
	for (int v = lo; v <= hi; v++)
		cr_assert_eq(fl_sketch_add(x->latency_ms, v), 0);
	x->inferences = hi - lo + 1;
	x->errors = 1;
	x->up_s = 60;
	x->expected_s = 60;
	x->energy_j = 10;
	x->carbon_g = 0.5;
}

static void add_drift(struct cp_sli_sample *x, const char *f, uint64_t a, uint64_t b)
{
	x->drift = realloc(x->drift, (x->ndrift + 1) * sizeof(*x->drift));
	memset(&x->drift[x->ndrift], 0, sizeof(x->drift[0]));
	snprintf(x->drift[x->ndrift].feature, sizeof(x->drift[0].feature), "%s", f);
	x->drift[x->ndrift].nbins = 2;
	x->drift[x->ndrift].counts[0] = a;
	x->drift[x->ndrift].counts[1] = b;
	x->ndrift++;
	x->drift_checks++;
}

static void put(struct cp_store *s, struct cp_sli_sample *x, size_t n)
{
	struct fl_err err = {0, ""};

	cr_assert_eq(cp_store_sli_write(s, x, n, NULL, 0, T0, &err), 0, "%s", err.msg);
	for (size_t i = 0; i < n; i++)
		cp_sli_sample_release(&x[i]);
}

static void total(struct cp_sli_agg *out, struct cp_store *s, const struct cp_sli_scope *sc,
		  int64_t from, int64_t to, int64_t step)
{
	struct cp_sli_agg *a = NULL;
	struct fl_err err = {0, ""};
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	cr_assert_eq(cp_store_sli_series(&a, &n, s, sc, from, to, step, &err), 0, "%s", err.msg);
	cr_assert_eq(n, (size_t)((to - from) / step));
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(cp_sli_agg_add(out, &a[i]), 0);
	cp_sli_aggs_free(a, n);
}

Test(sli_store, late_and_repeated_minutes_merge_at_every_level)
{
	struct cp_store *s = open_store();
	struct cp_sli_sample x[3];
	struct cp_sli_scope dev = {"dev-1", NULL, NULL}, fleet = {NULL, NULL, NULL};
	struct cp_sli_agg a;

	sample(&x[0], "dev-1", H0 + 10, "det@1.0.0", "{\"site\":\"berlin\"}", 1, 500);
	sample(&x[1], "dev-1", H0 + 50, "det@1.0.0", "{\"site\":\"berlin\"}", 501, 900);
	put(s, x, 2);
	/* a late report for the same minute, in a later batch */
	sample(&x[2], "dev-1", H0 + 30, "det@1.0.0", "{\"site\":\"berlin\"}", 901, 1000);
	put(s, &x[2], 1);
	for (int si = 0; si < 3; si++) {
		int64_t step = steps[si];

		total(&a, s, &fleet, H0, H0 + 3600, step);
		cr_assert_eq(a.reports, 3, "step %lld", (long long)step);
		cr_assert_eq(a.inferences, 1000);
		cr_assert_eq(a.errors, 3);
		cr_assert_eq(fl_sketch_count(a.latency_ms), 1000);
		cr_assert_lt(fabs(fl_sketch_quantile(a.latency_ms, 0.99) - 990) / 990, 0.011);
		cr_assert_lt(fabs(a.carbon_g - 1.5), 1e-9);
		cp_sli_agg_release(&a);
	}
	total(&a, s, &dev, H0, H0 + 300, 60);
	cr_assert_eq(a.inferences, 1000);
	cp_sli_agg_release(&a);
	cp_store_free(s);
}

Test(sli_store, series_land_in_their_step)
{
	struct cp_store *s = open_store();
	struct cp_sli_sample x[2];
	struct cp_sli_scope fleet = {0};
	struct cp_sli_agg *a = NULL;
	struct fl_err err = {0, ""};
	size_t n = 0;

	sample(&x[0], "dev-1", H0 + 60, "det@1.0.0", "{}", 1, 10);
	sample(&x[1], "dev-1", H0 + 400, "det@1.0.0", "{}", 1, 20);
	put(s, x, 2);
	cr_assert_eq(cp_store_sli_series(&a, &n, s, &fleet, H0, H0 + 900, 300, &err), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(a[0].inferences, 10);
	cr_assert_eq(a[1].inferences, 20);
	cr_assert_eq(a[2].inferences, 0);
	cr_assert_null(a[2].latency_ms);
	cp_sli_aggs_free(a, n);
	/* bad steps and ranges */
	cr_assert_eq(cp_store_sli_series(&a, &n, s, &fleet, H0, H0 + 900, 120, &err), FL_EINVAL);
	cr_assert_eq(cp_store_sli_series(&a, &n, s, &fleet, H0 + 1, H0 + 900, 300, &err),
		     FL_EINVAL);
	cr_assert_eq(cp_store_sli_source(s, &a, &n, &fleet, H0, H0 + 3600, 3600, &err), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(a[0].inferences, 30);
	cp_sli_aggs_free(a, n);
	cp_store_free(s);
}

Test(sli_store, cohorts_and_releases_scope_the_rollups)
{
	struct cp_store *s = open_store();
	struct cp_sli_sample x[3];
	struct cp_sli_scope berlin = {NULL, "site=berlin", NULL}, v2 = {NULL, NULL, "det@2.0.0"},
			    det = {NULL, NULL, "det"}, other = {NULL, NULL, "de"};
	struct cp_sli_scope bad = {NULL, "site in (", NULL};
	struct cp_sli_agg a, *aa = NULL;
	struct fl_err err = {0, ""};
	size_t n;

	sample(&x[0], "dev-1", H0, "det@1.0.0", "{\"site\":\"berlin\"}", 1, 10);
	sample(&x[1], "dev-2", H0, "det@2.0.0", "{\"site\":\"paris\"}", 1, 20);
	sample(&x[2], "dev-3", H0, "", "{\"site\":\"berlin\"}", 1, 40);
	put(s, x, 3);
	for (int si = 0; si < 3; si++) {
		int64_t step = steps[si];

		total(&a, s, &berlin, H0, H0 + 3600, step);
		cr_assert_eq(a.inferences, 50);
		cp_sli_agg_release(&a);
		total(&a, s, &v2, H0, H0 + 3600, step);
		cr_assert_eq(a.inferences, 20);
		cp_sli_agg_release(&a);
		total(&a, s, &det, H0, H0 + 3600, step);
		cr_assert_eq(a.inferences, 30);
		cp_sli_agg_release(&a);
		total(&a, s, &other, H0, H0 + 3600, step);
		cr_assert_eq(a.inferences, 0, "a prefix of a name is not the name");
		cp_sli_agg_release(&a);
	}
	cr_assert_eq(cp_store_sli_series(&aa, &n, s, &bad, H0, H0 + 60, 60, &err), FL_EINVAL);
	cp_store_free(s);
}

Test(sli_store, drift_counts_merge_per_feature_and_skip_other_bins)
{
	struct cp_store *s = open_store();
	struct cp_sli_sample x[3];
	struct cp_sli_scope sc = {NULL, NULL, "det@1.0.0"};
	struct cp_sli_drift *d = NULL;
	struct fl_err err = {0, ""};
	size_t n = 0;

	sample(&x[0], "dev-1", H0, "det@1.0.0", "{}", 1, 10);
	add_drift(&x[0], "temp", 3, 4);
	add_drift(&x[0], "hum", 1, 1);
	sample(&x[1], "dev-2", H0 + 600, "det@1.0.0", "{}", 1, 10);
	add_drift(&x[1], "temp", 10, 20);
	sample(&x[2], "dev-3", H0, "det@2.0.0", "{}", 1, 10);
	add_drift(&x[2], "temp", 100, 100);
	put(s, x, 3);
	/* minute, 5-minute and hourly ranges read different tables: same answer */
	int64_t ranges[3][2] = {{H0, H0 + 660}, {H0, H0 + 900}, {H0, H0 + 3600}};
	for (int r = 0; r < 3; r++) {
		cr_assert_eq(cp_store_sli_drift(&d, &n, s, &sc, ranges[r][0], ranges[r][1], &err),
			     0, "%s", err.msg);
		cr_assert_eq(n, 2);
		for (size_t i = 0; i < n; i++) {
			if (strcmp(d[i].feature, "temp") == 0) {
				cr_assert_eq(d[i].counts[0], 13);
				cr_assert_eq(d[i].counts[1], 24);
			} else {
				cr_assert_str_eq(d[i].feature, "hum");
				cr_assert_eq(d[i].counts[0], 1);
			}
		}
		free(d);
	}
	cp_store_free(s);
}

Test(sli_store, retention_deletes_by_level)
{
	struct cp_store *s = open_store();
	struct cp_sli_sample x[2];
	struct cp_sli_scope fleet = {0};
	struct cp_sli_agg a;
	struct fl_err err = {0, ""};

	sample(&x[0], "dev-1", H0, "det@1.0.0", "{}", 1, 10);
	sample(&x[1], "dev-1", H0 + 7200, "det@1.0.0", "{}", 1, 20);
	put(s, x, 2);
	/* minutes before H0+3600 go, the rollups stay */
	cr_assert_eq(cp_store_sli_retain(s, H0 + 3600, 0, 0, &err), 0);
	total(&a, s, &fleet, H0, H0 + 10800, 60);
	cr_assert_eq(a.inferences, 20);
	cp_sli_agg_release(&a);
	total(&a, s, &fleet, H0, H0 + 10800, 300);
	cr_assert_eq(a.inferences, 30);
	cp_sli_agg_release(&a);
	cr_assert_eq(cp_store_sli_retain(s, 0, H0 + 3600, H0 + 3600, &err), 0);
	total(&a, s, &fleet, H0, H0 + 10800, 300);
	cr_assert_eq(a.inferences, 20);
	cp_sli_agg_release(&a);
	total(&a, s, &fleet, H0, H0 + 10800, 3600);
	cr_assert_eq(a.inferences, 20);
	cp_sli_agg_release(&a);
	cp_store_free(s);
}

Test(sli_store, device_state_only_rises)
{
	struct cp_store *s = open_store();
	struct cp_sli_dev_state st = {"dev-1", 7, 3}, got;
	struct fl_err err = {0, ""};
	int64_t total_dropped;

	cr_assert_eq(cp_store_sli_state(&got, s, "dev-1", &err), 0);
	cr_assert_eq(got.seq, 0);
	cr_assert_eq(cp_store_sli_write(s, NULL, 0, &st, 1, T0, &err), 0, "%s", err.msg);
	st.seq = 5;
	st.dropped = 9;
	cr_assert_eq(cp_store_sli_write(s, NULL, 0, &st, 1, T0, &err), 0);
	cr_assert_eq(cp_store_sli_state(&got, s, "dev-1", &err), 0);
	cr_assert_eq(got.seq, 7);
	cr_assert_eq(got.dropped, 9);
	cr_assert_eq(cp_store_sli_dropped_total(&total_dropped, s, &err), 0);
	cr_assert_eq(total_dropped, 9);
	cp_store_free(s);
}

Test(sli_store, per_release_aggregates)
{
	struct cp_store *s = open_store();
	struct cp_sli_sample x[3];
	struct cp_sli_release_agg *r = NULL;
	struct fl_err err = {0, ""};
	size_t n = 0;

	sample(&x[0], "dev-1", H0, "det@1.0.0", "{}", 1, 10);
	sample(&x[1], "dev-2", H0 + 60, "det@1.0.0", "{\"a\":\"b\"}", 1, 20);
	sample(&x[2], "dev-3", H0, "", "{}", 1, 40);
	put(s, x, 3);
	cr_assert_eq(cp_store_sli_releases(&r, &n, s, H0, H0 + 300, &err), 0, "%s", err.msg);
	cr_assert_eq(n, 1, "agent-only windows have no release");
	cr_assert_str_eq(r[0].release, "det@1.0.0");
	cr_assert_eq(r[0].agg.inferences, 30);
	cp_store_sli_releases_free(r, n);
	cp_store_free(s);
}

/* test_drift.c - PSI, JS and the drift threshold against hand-computed values
 * and against its stated false-alarm rate. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "fairlead/drift.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static double uniform01(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

Test(drift, chi2_quantiles_match_tables)
{
	cr_assert_float_eq(fl_drift_chi2_quantile(0.95, 1), 3.841459, 1e-5);
	cr_assert_float_eq(fl_drift_chi2_quantile(0.99, 1), 6.634897, 1e-5);
	cr_assert_float_eq(fl_drift_chi2_quantile(0.95, 9), 16.918978, 1e-5);
	cr_assert_float_eq(fl_drift_chi2_quantile(0.99, 9), 21.665994, 1e-5);
	cr_assert_float_eq(fl_drift_chi2_quantile(0.95, 10), 18.307038, 1e-5);
	cr_assert_float_eq(fl_drift_chi2_quantile(0.5, 2), 2 * log(2), 1e-9);
	cr_assert(isnan(fl_drift_chi2_quantile(1, 3)));
	cr_assert(isnan(fl_drift_chi2_quantile(0.5, 0)));
}

Test(drift, psi_and_js_by_hand)
{
	const double p[] = {0.25, 0.25, 0.25, 0.25}, p2[] = {0.5, 0.5};
	const uint64_t c[] = {10, 20, 30, 40}, same[] = {25, 25, 25, 25}, one[] = {10, 0};

	/* sum (q-p) ln(q/p) with q = .1 .2 .3 .4 */
	cr_assert_float_eq(fl_drift_psi(p, c, 4), 0.2282174096, 1e-9);
	/* sqrt(JSD / ln 2) */
	cr_assert_float_eq(fl_drift_js(p, c, 4), 0.2005033225, 1e-9);
	cr_assert_float_eq(fl_drift_psi(p, same, 4), 0, 1e-15);
	cr_assert_float_eq(fl_drift_js(p, same, 4), 0, 1e-7);
	/* an empty bin is floored at 1e-4, not infinite */
	cr_assert_float_eq(fl_drift_psi(p2, one, 2), 4.6043184667, 1e-9);
	/* m = (.75, .25): JSD = .5(.5 ln(2/3) + .5 ln 2) + .5 ln(4/3) */
	cr_assert_float_eq(fl_drift_js(p2, one, 2), 0.5579230453, 1e-9);
	{
		const double a[] = {1, 0};
		const uint64_t b[] = {0, 7};

		cr_assert_float_eq(fl_drift_js(a, b, 2), 1, 1e-12);
	}
	{
		const uint64_t none[] = {0, 0};

		cr_assert(isnan(fl_drift_psi(p2, none, 2)));
	}
}

Test(drift, threshold_scales_with_sample_size)
{
	double t500 = fl_drift_psi_threshold(10, 0, 500, 0.01);
	double t5000 = fl_drift_psi_threshold(10, 0, 5000, 0.01);

	cr_assert_float_eq(t500, 21.665994 / 500, 1e-7);
	cr_assert_float_eq(t5000, t500 / 10, 1e-7);
	/* a finite reference adds its own noise */
	cr_assert_float_eq(fl_drift_psi_threshold(10, 1000, 1000, 0.01), 2 * 21.665994 / 1000,
			   1e-7);
	cr_assert_eq(fl_drift_judgeable(10, 49), 0);
	cr_assert_eq(fl_drift_judgeable(10, 50), 1);
}

/* Windows of m uniform values on B equal bins, no drift: the share of windows
 * over the threshold must be near alpha. */
static double alarm_rate(size_t nbins, uint64_t m, double alpha, double shift, int windows)
{
	double p[FL_DRIFT_MAX_BINS];
	int alarms = 0;
	double thr = fl_drift_psi_threshold(nbins, 0, m, alpha);

	for (size_t i = 0; i < nbins; i++)
		p[i] = 1.0 / (double)nbins;
	for (int w = 0; w < windows; w++) {
		uint64_t c[FL_DRIFT_MAX_BINS] = {0};

		for (uint64_t i = 0; i < m; i++) {
			double x = uniform01() + shift;

			c[x >= 1 ? nbins - 1 : (size_t)(x * (double)nbins)]++;
		}
		alarms += fl_drift_psi(p, c, nbins) > thr;
	}
	return (double)alarms / windows;
}

Test(drift, false_alarm_rate_near_alpha)
{
	double r1 = alarm_rate(10, 500, 0.01, 0, 4000);
	double r5 = alarm_rate(10, 500, 0.05, 0, 4000);
	double r20 = alarm_rate(20, 2000, 0.01, 0, 2000);

	cr_assert(r1 >= 0.004 && r1 <= 0.02, "alpha 0.01, B=10, m=500: rate %g", r1);
	cr_assert(r5 >= 0.03 && r5 <= 0.075, "alpha 0.05: rate %g", r5);
	cr_assert(r20 >= 0.003 && r20 <= 0.02, "alpha 0.01, B=20, m=2000: rate %g", r20);
}

Test(drift, a_real_shift_is_caught)
{
	/* a tenth of the range: every window must alarm */
	cr_assert_geq(alarm_rate(10, 500, 0.01, 0.1, 500), 0.99);
}

Test(drift, baseline_parse_and_bins)
{
	const char *good = "{\"temp\":{\"edges\":[10,20,30],\"p\":[0.1,0.4,0.4,0.1],\"n\":5000},"
			   "\"vib\":{\"edges\":[0.5],\"p\":[0.5,0.5]}}";
	struct fl_drift_baseline b;
	struct fl_err err = {0};
	const struct fl_drift_feature *f;
	json_t *o = json_loads(good, 0, NULL);

	cr_assert_eq(fl_drift_baseline_parse(&b, o, &err), 0, "%s", err.msg);
	cr_assert_eq(b.nfeatures, 2);
	cr_assert_not_null(f = fl_drift_baseline_find(&b, "temp"));
	cr_assert_eq(f->nbins, 4);
	cr_assert_eq(f->n, 5000);
	cr_assert_eq(fl_drift_baseline_find(&b, "vib")->n, 0);
	cr_assert_null(fl_drift_baseline_find(&b, "nope"));
	cr_assert_eq(fl_drift_bin(f, -1e9), 0);
	cr_assert_eq(fl_drift_bin(f, 9.99), 0);
	cr_assert_eq(fl_drift_bin(f, 10), 1); /* an edge opens its bin */
	cr_assert_eq(fl_drift_bin(f, 25), 2);
	cr_assert_eq(fl_drift_bin(f, 30), 3);
	cr_assert_eq(fl_drift_bin(f, 1e9), 3);
	json_decref(o);
	cr_assert_eq(fl_drift_baseline_parse(&b, NULL, &err), 0);
	cr_assert_eq(b.nfeatures, 0);
}

Test(drift, bad_baselines_are_refused)
{
	static const char *const bad[] = {
	    "[]",
	    "{\"t\":{\"edges\":[2,1],\"p\":[0.3,0.3,0.4]}}",
	    "{\"t\":{\"edges\":[1,1],\"p\":[0.3,0.3,0.4]}}",
	    "{\"t\":{\"edges\":[1],\"p\":[0.3,0.3,0.4]}}",
	    "{\"t\":{\"edges\":[1,2],\"p\":[0.3,0.3,0.3]}}",
	    "{\"t\":{\"edges\":[1,2],\"p\":[-0.1,0.6,0.5]}}",
	    "{\"t\":{\"edges\":[],\"p\":[1]}}",
	    "{\"t\":{\"edges\":[1],\"p\":[0.5,0.5],\"n\":0}}",
	    "{\"t\":{\"edges\":[1],\"p\":[0.5,0.5],\"n\":1.5}}",
	    "{\"t\":{\"edges\":[1],\"p\":[0.5,0.5],\"x\":1}}",
	    "{\"a b\":{\"edges\":[1],\"p\":[0.5,0.5]}}",
	    "{\"t\":{\"edges\":[\"1\"],\"p\":[0.5,0.5]}}",
	    "{\"t\":[1,2]}",
	};
	struct fl_drift_baseline b;
	struct fl_err err = {0};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *o = json_loads(bad[i], 0, NULL);

		cr_assert_not_null(o, "%s", bad[i]);
		cr_assert_eq(fl_drift_baseline_parse(&b, o, &err), FL_EINVAL, "%s", bad[i]);
		cr_assert_eq(b.nfeatures, 0);
		json_decref(o);
	}
}

Test(drift, too_many_bins_or_features)
{
	json_t *o = json_object(), *f = json_object(), *e = json_array(), *p = json_array();
	struct fl_drift_baseline b;
	struct fl_err err = {0};

	for (int i = 0; i < FL_DRIFT_MAX_BINS; i++)
		json_array_append_new(e, json_real(i));
	for (int i = 0; i <= FL_DRIFT_MAX_BINS; i++)
		json_array_append_new(p, json_real(1.0 / (FL_DRIFT_MAX_BINS + 1)));
	json_object_set_new(f, "edges", e);
	json_object_set_new(f, "p", p);
	json_object_set_new(o, "t", f);
	cr_assert_eq(fl_drift_baseline_parse(&b, o, &err), FL_EINVAL);
	json_decref(o);
}

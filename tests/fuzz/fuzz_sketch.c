/*
 * fuzz_sketch.c - what a device sends and the store reads back: sketches in
 * their JSON and binary forms, and drift baselines.
 *
 * Whatever decodes must behave: counts add up, quantiles are finite and
 * within [min, max], and re-encoding decodes to the same sketch.
 */
#include <math.h>

#include "fairlead/drift.h"
#include "fairlead/sketch.h"
#include "fuzz.h"

static void check_sketch(const struct fl_sketch *s)
{
	struct fl_buf e = FL_BUF_INIT;
	struct fl_sketch *back = NULL;
	struct fl_err err = {0, ""};
	uint64_t n = fl_sketch_count(s);

	FZ_CHECK(fl_sketch_count_le(s, 1e308) == n);
	if (n) {
		double q = fl_sketch_quantile(s, 0.5);

		FZ_CHECK(isfinite(q) && q >= fl_sketch_min(s) && q <= fl_sketch_max(s));
	}
	FZ_CHECK(fl_sketch_encode(&e, s) == 0);
	FZ_CHECK(fl_sketch_decode(&back, e.ptr, e.len, &err) == 0);
	FZ_CHECK(fl_sketch_count(back) == n);
	fl_sketch_free(back);
	fl_buf_release(&e);
}

static int fuzz_one(const uint8_t *data, size_t size)
{
	struct fl_err err = {0, ""};
	struct fl_sketch *s = NULL;
	json_t *j;

	if (fl_sketch_decode(&s, data, size, &err) == 0) {
		check_sketch(s);
		fl_sketch_free(s);
		s = NULL;
	}
	if ((j = json_loadb((const char *)data, size, 0, NULL))) {
		struct fl_drift_baseline b;

		if (fl_sketch_from_json(&s, j, &err) == 0) {
			check_sketch(s);
			fl_sketch_free(s);
		}
		if (fl_drift_baseline_parse(&b, j, &err) == 0) {
			for (size_t i = 0; i < b.nfeatures; i++) {
				uint64_t c[FL_DRIFT_MAX_BINS] = {0};
				double psi;

				FZ_CHECK(b.f[i].nbins >= 2 && b.f[i].nbins <= FL_DRIFT_MAX_BINS);
				c[fl_drift_bin(&b.f[i], 0.5)] = 10;
				psi = fl_drift_psi(b.f[i].p, c, b.f[i].nbins);
				FZ_CHECK(isfinite(psi) && psi >= 0);
			}
		}
		json_decref(j);
	}
	return 0;
}

FZ_TARGET(fuzz_one)

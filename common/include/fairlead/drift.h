/*
 * drift.h - input drift against the baseline shipped in a signed release.
 *
 * A release's "baseline" member is an object keyed by feature name:
 *   {"temp": {"edges": [e1, ..., e(B-1)], "p": [p1, ..., pB], "n": N}, ...}
 * edges are B-1 strictly ascending finite cut points, so bin 0 is (-inf, e1),
 * bin i is [e(i), e(i+1)), bin B-1 is [e(B-1), +inf); p are the reference
 * proportions (each >= 0, summing to 1 within 1e-6); n is the reference
 * sample size (an integer >= 1; absent means so large that 1/n is 0).
 * 2 <= B <= FL_DRIFT_MAX_BINS, at most FL_DRIFT_MAX_FEATURES features.
 *
 * Statistics over a window's bin counts c (m = sum c, q = c / m):
 *   PSI = sum (q - p) ln(q / p), empty proportions replaced by FL_DRIFT_EPS
 *   JS  = Jensen-Shannon distance, log base 2, in [0, 1]
 * The threshold depends on the window's size: under no drift
 * PSI ~ (1/n + 1/m) chi2(B-1), so the alarm level at false-alarm rate alpha is
 * (1/n + 1/m) * chi2_quantile(1 - alpha, B - 1). A window is judged only
 * when m >= FL_DRIFT_MIN_PER_BIN * B (below that the chi-square
 * approximation is poor and the window says nothing).
 */
#ifndef FAIRLEAD_DRIFT_H
#define FAIRLEAD_DRIFT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fairlead/err.h"

#define FL_DRIFT_MAX_FEATURES 32
#define FL_DRIFT_MAX_BINS     64
#define FL_DRIFT_NAME_MAX     63
#define FL_DRIFT_EPS	      1e-4
#define FL_DRIFT_MIN_PER_BIN  5
#define FL_DRIFT_ALPHA	      0.01 /* default per-feature false-alarm rate */

struct fl_drift_feature {
	char name[FL_DRIFT_NAME_MAX + 1];
	size_t nbins;
	double edges[FL_DRIFT_MAX_BINS - 1];
	double p[FL_DRIFT_MAX_BINS];
	int64_t n; /* 0: unknown, treated as infinite */
};

struct fl_drift_baseline {
	size_t nfeatures;
	struct fl_drift_feature f[FL_DRIFT_MAX_FEATURES];
};

/* Parses a release's "baseline" object (NULL or JSON null: no features). */
int fl_drift_baseline_parse(struct fl_drift_baseline *out, const json_t *baseline,
			    struct fl_err *err);
/* The feature named name, or NULL. */
const struct fl_drift_feature *fl_drift_baseline_find(const struct fl_drift_baseline *b,
						      const char *name);
/* The bin of x (x must be finite). */
size_t fl_drift_bin(const struct fl_drift_feature *f, double x);

double fl_drift_psi(const double *p, const uint64_t *counts, size_t nbins);
double fl_drift_js(const double *p, const uint64_t *counts, size_t nbins);
/* The chi-square quantile: x with P(X <= x) = prob for k degrees of freedom. */
double fl_drift_chi2_quantile(double prob, double k);
/* The PSI alarm level for a window of m samples (see above). */
double fl_drift_psi_threshold(size_t nbins, int64_t ref_n, uint64_t m, double alpha);
/* Whether a window of m samples over nbins bins is big enough to judge. */
int fl_drift_judgeable(size_t nbins, uint64_t m);

#endif

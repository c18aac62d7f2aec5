/*
 * stats.h - the statistics behind the rollout gates (docs/rollouts.md
 * "Statistics"): the normal distribution, the Mann-Whitney U two-sample
 * test, the Hodges-Lehmann shift estimate and Lan-DeMets alpha spending.
 *
 * Pure functions, no allocation except where stated, safe on any thread.
 */
#ifndef FAIRLEAD_STATS_H
#define FAIRLEAD_STATS_H

#include <stddef.h>

#include "fairlead/err.h"

/* Phi(z), the standard normal CDF, to double precision (via erfc). */
double fl_norm_cdf(double z);
/* Phi^-1(p) for 0 < p < 1 (Acklam's rational approximation refined by one
 * Halley step: relative error below 1e-13); -INFINITY at 0, INFINITY at 1,
 * NAN outside [0, 1]. */
double fl_norm_quantile(double p);

/* The Mann-Whitney U test of x against y with the normal approximation,
 * corrected for ties and for continuity. */
struct fl_mwu {
	size_t nx, ny;
	double u;	  /* U of x: pairs (x_i, y_j) with x_i > y_j, ties counting 1/2 */
	double mean, sd;  /* of U under H0 (sd with the tie correction) */
	double p_greater; /* one-sided p-value for H1: x tends to be greater than y */
	double p_less;	  /* one-sided p-value for H1: x tends to be less than y */
};
/* FL_EINVAL when a value is not finite or a side is empty; FL_ENOMEM.
 * When every value is tied (sd = 0) there is no evidence either way and
 * both p-values are 1. The p-values are clamped to [0, 1]. */
int fl_mann_whitney(struct fl_mwu *out, const double *x, size_t nx, const double *y, size_t ny,
		    struct fl_err *err);

/* The Hodges-Lehmann estimate of the shift of x over y: the median of the
 * nx*ny differences x_i - y_j (the mean of the two middle ones when nx*ny is
 * even), found exactly in O((nx + ny) log) time without forming the pairs.
 * FL_EINVAL when a value is not finite or a side is empty; FL_ENOMEM. */
int fl_hodges_lehmann(double *out, const double *x, size_t nx, const double *y, size_t ny,
		      struct fl_err *err);

/* The median of v (copied, v is left as it is); NAN when n = 0. */
double fl_median(const double *v, size_t n);

/* Lan-DeMets O'Brien-Fleming-type spending: the share of a two-sided level
 * alpha spent by information fraction t, alpha(t) = 2 - 2 Phi(z_{1-alpha/2}
 * / sqrt(t)); 0 for t <= 0, alpha for t >= 1. */
double fl_obf_spent(double alpha, double t);
/* The level available to look k of max_looks equally spaced looks:
 * alpha(k/L) - alpha((k-1)/L). The sum over k = 1..L is alpha, so by the
 * union bound the chance of any false rejection over all looks is at most
 * alpha however the looks are correlated. Looks after L get the level of
 * look L (the guarantee covers L looks); k < 1 or L < 1 get 0. */
double fl_obf_look_level(double alpha, int k, int max_looks);

#endif

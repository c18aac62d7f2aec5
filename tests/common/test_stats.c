/* test_stats.c - the normal distribution, Mann-Whitney U, Hodges-Lehmann and
 * alpha spending against table and hand-computed values. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/stats.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static double uniform01(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

Test(stats, normal_cdf_matches_tables)
{
	cr_assert_float_eq(fl_norm_cdf(0), 0.5, 1e-15);
	cr_assert_float_eq(fl_norm_cdf(1.96), 0.9750021048517795, 1e-14);
	cr_assert_float_eq(fl_norm_cdf(-1), 0.15865525393145707, 1e-14);
	cr_assert_float_eq(fl_norm_cdf(1.6448536269514722), 0.95, 1e-14);
	/* The lower tail keeps relative precision. */
	cr_assert_float_eq(fl_norm_cdf(-5) / 2.866515718791939e-07, 1, 1e-12);
	cr_assert_float_eq(fl_norm_cdf(-10) / 7.619853024160527e-24, 1, 1e-10);
	cr_assert(isnan(fl_norm_cdf(NAN)));
}

Test(stats, normal_quantile_matches_tables)
{
	cr_assert_float_eq(fl_norm_quantile(0.5), 0, 1e-15);
	cr_assert_float_eq(fl_norm_quantile(0.975), 1.959963984540054, 1e-13);
	cr_assert_float_eq(fl_norm_quantile(0.95), 1.6448536269514722, 1e-13);
	cr_assert_float_eq(fl_norm_quantile(0.01), -2.3263478740408408, 1e-13);
	cr_assert_float_eq(fl_norm_quantile(1e-10), -6.361340902404056, 1e-11);
	cr_assert_float_eq(fl_norm_quantile(1 - 1e-10), 6.361340889697422, 1e-6);
	cr_assert(isinf(fl_norm_quantile(0)));
	cr_assert_lt(fl_norm_quantile(0), 0);
	cr_assert(isinf(fl_norm_quantile(1)));
	cr_assert(isnan(fl_norm_quantile(-0.1)));
	cr_assert(isnan(fl_norm_quantile(1.5)));
	/* Round trip across the range. */
	for (double p = 0.001; p < 1; p += 0.0123)
		cr_assert_float_eq(fl_norm_cdf(fl_norm_quantile(p)), p, 1e-14, "p=%g", p);
}

Test(stats, mann_whitney_by_hand_with_ties)
{
	/* Ties: 2 (x twice), 5 and 6 (one in each). U_x = 2, mean 18; tie term
	 * sum(g^3-g) = 18, var = 36/12 * (13 - 18/132), sd = 6.2121581669. */
	const double x[] = {3, 4, 2, 6, 2, 5}, y[] = {9, 7, 5, 10, 6, 8};
	struct fl_mwu m;
	struct fl_err err = {0};

	cr_assert_eq(fl_mann_whitney(&m, x, 6, y, 6, &err), 0);
	cr_assert_float_eq(m.u, 2, 1e-12);
	cr_assert_float_eq(m.mean, 18, 1e-12);
	cr_assert_float_eq(m.sd, 6.212158166926297, 1e-12);
	cr_assert_float_eq(m.p_less, 0.006295955745189874, 1e-12);
	cr_assert_float_eq(m.p_greater, 0.9960472777460493, 1e-12);

	/* Swapping the samples swaps the tails. */
	cr_assert_eq(fl_mann_whitney(&m, y, 6, x, 6, &err), 0);
	cr_assert_float_eq(m.u, 34, 1e-12);
	cr_assert_float_eq(m.p_greater, 0.006295955745189874, 1e-12);
}

Test(stats, mann_whitney_close_to_exact_distribution)
{
	/* W = 17 for these: R's exact wilcox.test(alternative = "greater") gives
	 * 5/90 = 0.05556; the corrected normal approximation 0.0556734. */
	const double x[] = {19, 22, 16, 29, 24}, y[] = {20, 11, 17, 12};
	/* Complete separation of 5 and 5: exact p = 1/252 = 0.00397. */
	const double a[] = {1, 2, 3, 4, 5}, b[] = {6, 7, 8, 9, 10};
	struct fl_mwu m;

	cr_assert_eq(fl_mann_whitney(&m, x, 5, y, 4, NULL), 0);
	cr_assert_float_eq(m.u, 17, 1e-12);
	cr_assert_float_eq(m.p_greater, 0.055673443266570255, 1e-12);
	cr_assert_float_eq(m.p_greater, 5.0 / 90, 2e-3);
	cr_assert_eq(fl_mann_whitney(&m, b, 5, a, 5, NULL), 0);
	cr_assert_float_eq(m.u, 25, 1e-12);
	cr_assert_float_eq(m.p_greater, 0.006092890177672394, 1e-12);
	cr_assert_lt(m.p_greater, 0.01);
}

Test(stats, mann_whitney_all_tied_and_bad_input)
{
	const double z[] = {0, 0, 0}, bad[] = {1, NAN};
	struct fl_mwu m;
	struct fl_err err = {0};

	cr_assert_eq(fl_mann_whitney(&m, z, 3, z, 2, &err), 0);
	cr_assert_float_eq(m.p_greater, 1, 0);
	cr_assert_float_eq(m.p_less, 1, 0);
	cr_assert_eq(fl_mann_whitney(&m, bad, 2, z, 3, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "not finite"));
	cr_assert_eq(fl_mann_whitney(&m, z, 0, z, 3, &err), FL_EINVAL);
}

Test(stats, mann_whitney_false_positive_rate_near_level)
{
	/* Same distribution on both sides: p_greater <= 0.05 about 5% of the
	 * time (a little less: continuity correction). */
	double x[30], y[40];
	int hits = 0, trials = 4000;
	struct fl_mwu m;

	for (int t = 0; t < trials; t++) {
		for (int i = 0; i < 30; i++)
			x[i] = uniform01();
		for (int i = 0; i < 40; i++)
			y[i] = uniform01();
		cr_assert_eq(fl_mann_whitney(&m, x, 30, y, 40, NULL), 0);
		hits += m.p_greater <= 0.05;
	}
	cr_assert_gt(hits, trials * 0.035);
	cr_assert_lt(hits, trials * 0.06);
}

Test(stats, hodges_lehmann_by_hand_and_brute_force)
{
	const double x[] = {3, 4, 2, 6, 2, 5}, y[] = {9, 7, 5, 10, 6, 8};
	const double a[] = {19, 22, 16, 29, 24}, b[] = {20, 11, 17, 12};
	double hl, v[7], w[9], d[63], bad[] = {NAN};
	struct fl_err err = {0};

	cr_assert_eq(fl_hodges_lehmann(&hl, x, 6, y, 6, &err), 0);
	cr_assert_float_eq(hl, -4, 1e-12);
	cr_assert_eq(fl_hodges_lehmann(&hl, a, 5, b, 4, &err), 0);
	cr_assert_float_eq(hl, 7, 1e-12);

	/* Random samples against sorting all pairs (odd count: 63). */
	for (int t = 0; t < 200; t++) {
		size_t k = 0;
		for (int i = 0; i < 7; i++)
			v[i] = floor(uniform01() * 20) - 10 + (t % 2 ? uniform01() : 0);
		for (int i = 0; i < 9; i++)
			w[i] = floor(uniform01() * 20) - 10;
		for (int i = 0; i < 7; i++)
			for (int j = 0; j < 9; j++)
				d[k++] = v[i] - w[j];
		cr_assert_eq(fl_hodges_lehmann(&hl, v, 7, w, 9, NULL), 0);
		cr_assert_float_eq(hl, fl_median(d, 63), 0, "trial %d", t);
		/* Even count: 7*8 = 56 pairs. */
		k = 0;
		for (int i = 0; i < 7; i++)
			for (int j = 0; j < 8; j++)
				d[k++] = v[i] - w[j];
		cr_assert_eq(fl_hodges_lehmann(&hl, v, 7, w, 8, NULL), 0);
		cr_assert_float_eq(hl, fl_median(d, 56), 1e-12, "trial %d", t);
	}
	cr_assert_eq(fl_hodges_lehmann(&hl, bad, 1, y, 6, &err), FL_EINVAL);
	cr_assert(isnan(hl));
}

Test(stats, median)
{
	const double v[] = {5, 1, 3}, w[] = {4, 1, 3, 2};
	cr_assert_float_eq(fl_median(v, 3), 3, 0);
	cr_assert_float_eq(fl_median(w, 4), 2.5, 0);
	cr_assert(isnan(fl_median(v, 0)));
}

Test(stats, obrien_fleming_spending_matches_tables)
{
	/* Lan & DeMets (1983), alpha = 0.05 two-sided: 0.0001, 0.0056, 0.0236,
	 * 0.05 at t = 1/4, 1/2, 3/4, 1. */
	cr_assert_float_eq(fl_obf_spent(0.05, 0.25), 8.857543832141435e-05, 1e-15);
	cr_assert_float_eq(fl_obf_spent(0.05, 0.5), 0.005574596680784416, 1e-14);
	cr_assert_float_eq(fl_obf_spent(0.05, 0.75), 0.023625121317601194, 1e-14);
	cr_assert_float_eq(fl_obf_spent(0.05, 1), 0.05, 0);
	cr_assert_float_eq(fl_obf_spent(0.05, 0), 0, 0);
	cr_assert_float_eq(fl_obf_spent(0.05, 2), 0.05, 0);

	/* Look levels: increasing, summing to alpha over the planned looks. */
	double sum = 0, prev = 0;
	for (int k = 1; k <= 20; k++) {
		double l = fl_obf_look_level(0.05, k, 20);
		cr_assert_geq(l, prev, "look %d", k);
		prev = l;
		sum += l;
	}
	cr_assert_float_eq(sum, 0.05, 1e-15);
	cr_assert_float_eq(fl_obf_look_level(0.05, 10, 20),
			   0.005574596680784416 - 0.0034807996724294243, 1e-14);
	cr_assert_float_eq(fl_obf_look_level(0.05, 25, 20), fl_obf_look_level(0.05, 20, 20), 0);
	cr_assert_float_eq(fl_obf_look_level(0.05, 0, 20), 0, 0);
	cr_assert_float_eq(fl_obf_look_level(0.05, 1, 1), 0.05, 1e-15);
}

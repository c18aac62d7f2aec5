/* stats.c - normal distribution, Mann-Whitney U, Hodges-Lehmann, alpha
 * spending (contracts in fairlead/stats.h). */
#include "fairlead/stats.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

double fl_norm_cdf(double z)
{
	if (isnan(z))
		return NAN;
	/* erfc keeps full relative precision in the lower tail, where 1 - erf
	 * would cancel; the upper tail is taken by symmetry in callers. */
	return 0.5 * erfc(-z / sqrt(2.0));
}

double fl_norm_quantile(double p)
{
	static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
				   -2.759285104469687e+02, 1.383577518672690e+02,
				   -3.066479806614716e+01, 2.506628277459239e+00};
	static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
				   -1.556989798598866e+02, 6.680131188771972e+01,
				   -1.328068155288572e+01};
	static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
				   -2.400758277161838e+00, -2.549732539343734e+00,
				   4.374664141464968e+00,  2.938163982698783e+00};
	static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
				   2.445134137142996e+00, 3.754408661907416e+00};
	const double plow = 0.02425;
	double q, r, x, e, u;

	if (isnan(p) || p < 0 || p > 1)
		return NAN;
	if (p == 0)
		return -INFINITY;
	if (p == 1)
		return INFINITY;
	if (p < plow) {
		q = sqrt(-2 * log(p));
		x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
		    ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
	} else if (p <= 1 - plow) {
		q = p - 0.5;
		r = q * q;
		x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
		    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
	} else {
		q = sqrt(-2 * log1p(-p));
		x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
		    ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
	}
	/* Acklam alone is good to 1.15e-9; one Halley step on Phi(x) - p brings
	 * it to near machine precision. */
	e = fl_norm_cdf(x) - p;
	u = e * sqrt(2 * M_PI) * exp(x * x / 2);
	return x - u / (1 + x * u / 2);
}

struct tagged {
	double v;
	int from_x;
};

static int cmp_tagged(const void *a, const void *b)
{
	double x = ((const struct tagged *)a)->v, y = ((const struct tagged *)b)->v;
	return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int check_sample(const double *v, size_t n, const char *what, struct fl_err *err)
{
	if (n == 0)
		return fl_err_set(err, FL_EINVAL, "%s sample is empty", what);
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return fl_err_set(err, FL_EINVAL, "%s sample value %zu is not finite", what,
					  i);
	return 0;
}

int fl_mann_whitney(struct fl_mwu *out, const double *x, size_t nx, const double *y, size_t ny,
		    struct fl_err *err)
{
	struct tagged *t = NULL;
	size_t n = nx + ny, i, j;
	double rank_x = 0, ties = 0, var, nn;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = check_sample(x, nx, "first", err)) || (rc = check_sample(y, ny, "second", err)))
		return rc;
	t = malloc(n * sizeof(*t));
	if (!t)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	for (i = 0; i < nx; i++)
		t[i] = (struct tagged){x[i], 1};
	for (i = 0; i < ny; i++)
		t[nx + i] = (struct tagged){y[i], 0};
	qsort(t, n, sizeof(*t), cmp_tagged);
	/* Midranks for tied groups; sum (g^3 - g) over groups for the variance. */
	for (i = 0; i < n; i = j) {
		size_t inx = 0;
		double g, mid;
		for (j = i; j < n && t[j].v == t[i].v; j++)
			inx += (size_t)t[j].from_x;
		g = (double)(j - i);
		mid = ((double)i + 1 + (double)j) / 2; /* ranks i+1 .. j */
		rank_x += mid * (double)inx;
		ties += g * g * g - g;
	}
	free(t);

	nn = (double)n;
	out->nx = nx;
	out->ny = ny;
	out->u = rank_x - (double)nx * ((double)nx + 1) / 2;
	out->mean = (double)nx * (double)ny / 2;
	var = (double)nx * (double)ny / 12 * ((nn + 1) - (n > 1 ? ties / (nn * (nn - 1)) : 0));
	out->sd = var > 0 ? sqrt(var) : 0;
	if (out->sd <= 1e-12 * out->mean || out->sd == 0) {
		out->p_greater = out->p_less = 1;
		return 0;
	}
	/* Continuity correction: U moves in steps of 1/2 with ties, 1 without;
	 * the usual 1/2 towards the mean is conservative either way. The
	 * upper tail is Phi(-z), not 1 - Phi(z), to keep small p-values exact. */
	out->p_greater = fl_norm_cdf(-(out->u - out->mean - 0.5) / out->sd);
	out->p_less = fl_norm_cdf((out->u - out->mean + 0.5) / out->sd);
	if (out->p_greater > 1)
		out->p_greater = 1;
	if (out->p_less > 1)
		out->p_less = 1;
	return 0;
}

/* Doubles mapped to unsigned integers in the same order, so that bisection
 * over the keys visits every representable value between two finite ones. */
static uint64_t dkey(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return (u >> 63) ? ~u : (u | (1ULL << 63));
}

static double dval(uint64_t k)
{
	uint64_t u = (k >> 63) ? (k & ~(1ULL << 63)) : ~k;
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

/* Pairs with xs[i] - ys[j] <= d; xs, ys ascending. For fixed i the pairs
 * form a suffix of ys (subtraction is monotone in floating point too), and
 * the suffix start only moves right as i grows. */
static uint64_t count_le(const double *xs, size_t nx, const double *ys, size_t ny, double d)
{
	uint64_t c = 0;
	size_t j = 0;
	for (size_t i = 0; i < nx; i++) {
		while (j < ny && xs[i] - ys[j] > d)
			j++;
		c += ny - j;
	}
	return c;
}

/* The k-th smallest difference (1-based): the least d with count_le >= k,
 * which is always one of the differences themselves. */
static double kth_diff(const double *xs, size_t nx, const double *ys, size_t ny, uint64_t k)
{
	uint64_t lo = dkey(xs[0] - ys[ny - 1]), hi = dkey(xs[nx - 1] - ys[0]);
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (count_le(xs, nx, ys, ny, dval(mid)) >= k)
			hi = mid;
		else
			lo = mid + 1;
	}
	return dval(lo);
}

int fl_hodges_lehmann(double *out, const double *x, size_t nx, const double *y, size_t ny,
		      struct fl_err *err)
{
	double *xs = NULL, *ys = NULL;
	uint64_t m;
	int rc;

	*out = NAN;
	if ((rc = check_sample(x, nx, "first", err)) || (rc = check_sample(y, ny, "second", err)))
		return rc;
	xs = malloc(nx * sizeof(*xs));
	ys = malloc(ny * sizeof(*ys));
	if (!xs || !ys) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	memcpy(xs, x, nx * sizeof(*xs));
	memcpy(ys, y, ny * sizeof(*ys));
	qsort(xs, nx, sizeof(*xs), cmp_double);
	qsort(ys, ny, sizeof(*ys), cmp_double);
	m = (uint64_t)nx * (uint64_t)ny;
	if (m % 2)
		*out = kth_diff(xs, nx, ys, ny, m / 2 + 1);
	else
		*out = (kth_diff(xs, nx, ys, ny, m / 2) + kth_diff(xs, nx, ys, ny, m / 2 + 1)) / 2;
	rc = 0;
cleanup:
	free(xs);
	free(ys);
	return rc;
}

double fl_median(const double *v, size_t n)
{
	double *c, m;
	if (n == 0)
		return NAN;
	c = malloc(n * sizeof(*c));
	if (!c)
		return NAN;
	memcpy(c, v, n * sizeof(*c));
	qsort(c, n, sizeof(*c), cmp_double);
	m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
	free(c);
	return m;
}

double fl_obf_spent(double alpha, double t)
{
	if (!(t > 0) || !(alpha > 0))
		return 0;
	if (t >= 1)
		return alpha;
	/* 2 - 2 Phi(c) written as 2 Phi(-c): no cancellation for small t. */
	return 2 * fl_norm_cdf(-fl_norm_quantile(1 - alpha / 2) / sqrt(t));
}

double fl_obf_look_level(double alpha, int k, int max_looks)
{
	if (k < 1 || max_looks < 1)
		return 0;
	if (k > max_looks)
		k = max_looks;
	return fl_obf_spent(alpha, (double)k / max_looks) -
	       fl_obf_spent(alpha, (double)(k - 1) / max_looks);
}

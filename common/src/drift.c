/*
 * drift.c - PSI, Jensen-Shannon and the sample-size-aware PSI threshold
 * (see drift.h for the baseline format and the statistics).
 */
#include "fairlead/drift.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fairlead/json.h"

static int name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > FL_DRIFT_NAME_MAX)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

static int parse_feature(struct fl_drift_feature *f, const char *name, const json_t *o,
			 struct fl_err *err)
{
	static const char *const allowed[] = {"edges", "p", "n", NULL};
	const json_t *edges = json_object_get(o, "edges"), *p = json_object_get(o, "p");
	const json_t *n = json_object_get(o, "n"), *v;
	double total = 0;
	size_t i;
	int rc;

	if (!json_is_object(o))
		return fl_err_set(err, FL_EINVAL, "must be an object");
	if ((rc = fl_json_only(o, allowed, err)) < 0)
		return rc;
	if (!json_is_array(edges) || !json_is_array(p))
		return fl_err_set(err, FL_EINVAL, "needs arrays 'edges' and 'p'");
	f->nbins = json_array_size(p);
	if (f->nbins < 2 || f->nbins > FL_DRIFT_MAX_BINS)
		return fl_err_set(err, FL_EINVAL, "needs 2 to %d bins", FL_DRIFT_MAX_BINS);
	if (json_array_size(edges) != f->nbins - 1)
		return fl_err_set(err, FL_EINVAL, "needs %zu edges for %zu bins", f->nbins - 1,
				  f->nbins);
	json_array_foreach (edges, i, v) {
		double e = json_number_value(v);

		if (!json_is_number(v) || !isfinite(e) || (i > 0 && !(e > f->edges[i - 1])))
			return fl_err_set(err, FL_EINVAL, "edges must be finite and ascending");
		f->edges[i] = e;
	}
	json_array_foreach (p, i, v) {
		double x = json_number_value(v);

		if (!json_is_number(v) || !isfinite(x) || x < 0 || x > 1)
			return fl_err_set(err, FL_EINVAL, "proportions must be in [0, 1]");
		f->p[i] = x;
		total += x;
	}
	if (fabs(total - 1) > 1e-6)
		return fl_err_set(err, FL_EINVAL, "proportions must sum to 1");
	f->n = 0;
	if (n && (!json_is_integer(n) || json_integer_value(n) < 1))
		return fl_err_set(err, FL_EINVAL, "n must be an integer >= 1");
	if (n)
		f->n = json_integer_value(n);
	snprintf(f->name, sizeof(f->name), "%s", name);
	return 0;
}

int fl_drift_baseline_parse(struct fl_drift_baseline *out, const json_t *baseline,
			    struct fl_err *err)
{
	const char *name;
	json_t *o;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!baseline || json_is_null(baseline))
		return 0;
	if (!json_is_object(baseline))
		return fl_err_set(err, FL_EINVAL, "baseline must be an object");
	if (json_object_size(baseline) > FL_DRIFT_MAX_FEATURES)
		return fl_err_set(err, FL_EINVAL, "baseline has over %d features",
				  FL_DRIFT_MAX_FEATURES);
	json_object_foreach ((json_t *)(uintptr_t)baseline, name, o) {
		if (!name_ok(name))
			return fl_err_set(err, FL_EINVAL,
					  "baseline feature name '%.64s' is invalid", name);
		if ((rc = parse_feature(&out->f[out->nfeatures], name, o, err)) < 0) {
			fl_err_prefix(err, "baseline feature '%s'", name);
			memset(out, 0, sizeof(*out));
			return rc;
		}
		out->nfeatures++;
	}
	return 0;
}

const struct fl_drift_feature *fl_drift_baseline_find(const struct fl_drift_baseline *b,
						      const char *name)
{
	for (size_t i = 0; i < b->nfeatures; i++)
		if (strcmp(b->f[i].name, name) == 0)
			return &b->f[i];
	return NULL;
}

size_t fl_drift_bin(const struct fl_drift_feature *f, double x)
{
	size_t lo = 0, hi = f->nbins - 1; /* answer in [lo, hi] */

	/* The bin is the number of edges <= x. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x >= f->edges[mid])
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint64_t total_of(const uint64_t *counts, size_t nbins)
{
	uint64_t m = 0;

	for (size_t i = 0; i < nbins; i++)
		m += counts[i];
	return m;
}

double fl_drift_psi(const double *p, const uint64_t *counts, size_t nbins)
{
	uint64_t m = total_of(counts, nbins);
	double psi = 0;

	if (m == 0)
		return NAN;
	for (size_t i = 0; i < nbins; i++) {
		/* An empty side would make the log infinite; the usual fix (as in
		 * Evidently) is a small floor on both proportions. */
		double q = (double)counts[i] / (double)m, r = p[i];

		if (q < FL_DRIFT_EPS)
			q = FL_DRIFT_EPS;
		if (r < FL_DRIFT_EPS)
			r = FL_DRIFT_EPS;
		psi += (q - r) * log(q / r);
	}
	return psi;
}

double fl_drift_js(const double *p, const uint64_t *counts, size_t nbins)
{
	uint64_t m = total_of(counts, nbins);
	double d = 0;

	if (m == 0)
		return NAN;
	for (size_t i = 0; i < nbins; i++) {
		double q = (double)counts[i] / (double)m, mid = (p[i] + q) / 2;

		/* 0 ln 0 = 0; mid > 0 whenever either side is. */
		if (p[i] > 0)
			d += 0.5 * p[i] * log(p[i] / mid);
		if (q > 0)
			d += 0.5 * q * log(q / mid);
	}
	d /= log(2.0);
	return d > 0 ? sqrt(d) : 0;
}

/* The regularised lower incomplete gamma P(a, x): a series below a + 1, a
 * continued fraction (modified Lentz) above, both to double precision. */
static double gamma_p(double a, double x)
{
	double lg = lgamma(a);

	if (x <= 0)
		return 0;
	if (x < a + 1) {
		double sum = 1 / a, term = sum;

		for (int n = 1; n < 1000; n++) {
			term *= x / (a + n);
			sum += term;
			if (fabs(term) < fabs(sum) * 1e-15)
				break;
		}
		return sum * exp(-x + a * log(x) - lg);
	} else {
		double b = x + 1 - a, c = 1 / DBL_MIN, d = 1 / b, h = d;

		for (int i = 1; i < 1000; i++) {
			double an = -i * (i - a), del;

			b += 2;
			d = an * d + b;
			if (fabs(d) < DBL_MIN)
				d = DBL_MIN;
			c = b + an / c;
			if (fabs(c) < DBL_MIN)
				c = DBL_MIN;
			d = 1 / d;
			del = d * c;
			h *= del;
			if (fabs(del - 1) < 1e-15)
				break;
		}
		return 1 - exp(-x + a * log(x) - lg) * h;
	}
}

double fl_drift_chi2_quantile(double prob, double k)
{
	double lo = 0, hi = k + 10 * sqrt(2 * k) + 100;

	if (!(prob > 0 && prob < 1) || !(k > 0))
		return NAN;
	while (gamma_p(k / 2, hi / 2) < prob)
		hi *= 2;
	/* The CDF is monotone: bisection to ~1e-12 relative is plenty and
	 * cannot diverge the way Newton can in the far tail. */
	for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
		double mid = (lo + hi) / 2;

		if (gamma_p(k / 2, mid / 2) < prob)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

double fl_drift_psi_threshold(size_t nbins, int64_t ref_n, uint64_t m, double alpha)
{
	double inv_n = ref_n > 0 ? 1.0 / (double)ref_n : 0;

	if (m == 0 || nbins < 2)
		return NAN;
	return (inv_n + 1.0 / (double)m) * fl_drift_chi2_quantile(1 - alpha, (double)(nbins - 1));
}

int fl_drift_judgeable(size_t nbins, uint64_t m)
{
	return nbins >= 2 && m >= (uint64_t)FL_DRIFT_MIN_PER_BIN * nbins;
}

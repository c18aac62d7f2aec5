/* test_sketch.c - the log-bucket sketch against exact quantiles. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/sketch.h"

/* Deterministic xorshift so that a failure reproduces. */
static uint64_t rng_state = 88172645463325252ULL;

static double uniform01(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

static double normal(void)
{
	double u = uniform01(), v = uniform01();

	if (u < 1e-300)
		u = 1e-300;
	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sketch quantiles against the exact order statistic of rank floor(q(n-1)). */
static void check_quantiles(double *v, size_t n)
{
	static const double qs[] = {0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999};
	struct fl_sketch *s;

	cr_assert_eq(fl_sketch_new(&s), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(fl_sketch_add(s, v[i]), 0);
	qsort(v, n, sizeof(*v), cmp_double);
	cr_assert_eq(fl_sketch_count(s), n);
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		double exact = v[(size_t)(qs[i] * (double)(n - 1))];
		double got = fl_sketch_quantile(s, qs[i]);

		cr_assert_leq(fabs(got - exact), FL_SKETCH_ALPHA * exact * (1 + 1e-9),
			      "q=%g exact=%g got=%g", qs[i], exact, got);
	}
	cr_assert_eq(fl_sketch_quantile(s, 0), v[0]);
	cr_assert_eq(fl_sketch_quantile(s, 1), v[n - 1]);
	fl_sketch_free(s);
}

Test(sketch, quantiles_within_one_percent)
{
	size_t n = 100000;
	double *v = malloc(n * sizeof(*v));

	/* log-normal latencies, as inference latencies tend to be */
	for (size_t i = 0; i < n; i++)
		v[i] = exp(1.5 + 0.6 * normal());
	check_quantiles(v, n);
	/* uniform over six decades */
	for (size_t i = 0; i < n; i++)
		v[i] = pow(10, -3 + 6 * uniform01());
	check_quantiles(v, n);
	/* bimodal: fast path and slow path */
	for (size_t i = 0; i < n; i++)
		v[i] = (uniform01() < 0.9 ? 2 : 200) * (1 + 0.1 * uniform01());
	check_quantiles(v, n);
	/* heavy ties */
	for (size_t i = 0; i < n; i++)
		v[i] = (double)(1 + (i % 7));
	check_quantiles(v, n);
	free(v);
}

Test(sketch, merge_is_the_sketch_of_the_union)
{
	struct fl_sketch *a, *b, *all;
	struct fl_buf e1 = FL_BUF_INIT, e2 = FL_BUF_INIT;

	cr_assert_eq(fl_sketch_new(&a), 0);
	cr_assert_eq(fl_sketch_new(&b), 0);
	cr_assert_eq(fl_sketch_new(&all), 0);
	for (int i = 0; i < 5000; i++) {
		double x = exp(2 * normal()), y = 1000 * uniform01();

		fl_sketch_add(a, x);
		fl_sketch_add(b, y);
		fl_sketch_add(all, x);
		fl_sketch_add(all, y);
	}
	fl_sketch_add(b, 0);
	fl_sketch_add(all, 0);
	cr_assert_eq(fl_sketch_merge(a, b), 0);
	cr_assert_eq(fl_sketch_count(a), 10001);
	cr_assert_eq(fl_sketch_encode(&e1, a), 0);
	cr_assert_eq(fl_sketch_encode(&e2, all), 0);
	/* sums may differ in the last bit by addition order; compare the rest */
	cr_assert_float_eq(fl_sketch_sum(a), fl_sketch_sum(all), 1e-6 * fl_sketch_sum(all));
	for (double q = 0; q <= 1; q += 0.05)
		cr_assert_eq(fl_sketch_quantile(a, q), fl_sketch_quantile(all, q));
	cr_assert_eq(e1.len, e2.len);
	fl_buf_release(&e1);
	fl_buf_release(&e2);
	fl_sketch_free(a);
	fl_sketch_free(b);
	fl_sketch_free(all);
}

static struct fl_sketch *sample_sketch(void)
{
	struct fl_sketch *s;

	cr_assert_eq(fl_sketch_new(&s), 0);
	for (int i = 0; i < 2000; i++)
		fl_sketch_add(s, exp(1 + normal()));
	fl_sketch_add_n(s, 0, 3);
	return s;
}

Test(sketch, json_and_binary_round_trip_exactly)
{
	struct fl_sketch *s = sample_sketch(), *j = NULL, *b = NULL;
	struct fl_buf e = FL_BUF_INIT, e2 = FL_BUF_INIT;
	struct fl_err err = {0};
	json_t *o;

	cr_assert_eq(fl_sketch_to_json(&o, s), 0);
	cr_assert_eq(fl_sketch_from_json(&j, o, &err), 0, "%s", err.msg);
	cr_assert_eq(fl_sketch_encode(&e, s), 0);
	cr_assert_eq(fl_sketch_decode(&b, e.ptr, e.len, &err), 0, "%s", err.msg);
	cr_assert_eq(fl_sketch_encode(&e2, j), 0);
	cr_assert_eq(e.len, e2.len);
	cr_assert_eq(memcmp(e.ptr, e2.ptr, e.len), 0);
	for (double q = 0; q <= 1; q += 0.01) {
		cr_assert_eq(fl_sketch_quantile(j, q), fl_sketch_quantile(s, q));
		cr_assert_eq(fl_sketch_quantile(b, q), fl_sketch_quantile(s, q));
	}
	cr_assert_eq(fl_sketch_count(b), 2003);
	/* compact: ~2000 values fit in a few hundred bytes */
	cr_assert_lt(e.len, 600);
	json_decref(o);
	fl_buf_release(&e);
	fl_buf_release(&e2);
	fl_sketch_free(s);
	fl_sketch_free(j);
	fl_sketch_free(b);
}

Test(sketch, empty)
{
	struct fl_sketch *s, *d = NULL;
	struct fl_buf e = FL_BUF_INIT;
	struct fl_err err = {0};
	json_t *o;

	cr_assert_eq(fl_sketch_new(&s), 0);
	cr_assert(isnan(fl_sketch_quantile(s, 0.5)));
	cr_assert_eq(fl_sketch_count_le(s, 10), 0);
	cr_assert_eq(fl_sketch_to_json(&o, s), 0);
	cr_assert_eq(json_object_size(o), 1);
	cr_assert_eq(fl_sketch_from_json(&d, o, &err), 0);
	cr_assert_eq(fl_sketch_count(d), 0);
	cr_assert_eq(fl_sketch_encode(&e, s), 0);
	cr_assert_eq(e.len, 2);
	json_decref(o);
	fl_buf_release(&e);
	fl_sketch_free(s);
	fl_sketch_free(d);
}

Test(sketch, count_le_brackets_the_truth)
{
	struct fl_sketch *s;
	double v[3000];

	cr_assert_eq(fl_sketch_new(&s), 0);
	for (int i = 0; i < 3000; i++) {
		v[i] = 0.1 + 100 * uniform01();
		fl_sketch_add(s, v[i]);
	}
	for (double t = 0.05; t < 120; t *= 1.3) {
		uint64_t below = 0, within = 0, got = fl_sketch_count_le(s, t);

		for (int i = 0; i < 3000; i++) {
			below += v[i] <= t;
			within += v[i] <= t * (1 + 2 * FL_SKETCH_ALPHA) * (1 + 1e-12);
		}
		cr_assert_geq(got, below, "t=%g", t);
		cr_assert_leq(got, within, "t=%g", t);
	}
	cr_assert_eq(fl_sketch_count_le(s, -1), 0);
	cr_assert_eq(fl_sketch_count_le(s, 1e9), 3000);
	fl_sketch_free(s);
}

Test(sketch, refuses_bad_values)
{
	struct fl_sketch *s;

	cr_assert_eq(fl_sketch_new(&s), 0);
	cr_assert_eq(fl_sketch_add(s, -1), FL_EINVAL);
	cr_assert_eq(fl_sketch_add(s, NAN), FL_EINVAL);
	cr_assert_eq(fl_sketch_add(s, INFINITY), FL_EINVAL);
	cr_assert_eq(fl_sketch_count(s), 0);
	cr_assert_eq(fl_sketch_add(s, 1e300), 0);
	cr_assert_eq(fl_sketch_add(s, 1e-300), 0);
	cr_assert_eq(fl_sketch_count(s), 2);
	fl_sketch_free(s);
}

Test(sketch, bounded_memory_keeps_the_tail)
{
	struct fl_sketch *s;
	struct fl_buf e = FL_BUF_INIT;
	double v[1201];
	size_t n = 0;

	cr_assert_eq(fl_sketch_new(&s), 0);
	/* 1e-8 .. 1e12 spans ~2300 keys, more than the cap */
	for (int i = -80; i <= 120; i++)
		v[n++] = pow(10, i / 10.0);
	for (int i = 0; i < 1000; i++)
		v[n++] = 50 + uniform01();
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(fl_sketch_add(s, v[i]), 0);
	cr_assert_eq(fl_sketch_count(s), n);
	cr_assert_eq(fl_sketch_encode(&e, s), 0);
	cr_assert_lt(e.len, 4 * FL_SKETCH_MAX_BUCKETS);
	qsort(v, n, sizeof(*v), cmp_double);
	/* the upper keys keep full accuracy; the folded low ones (the lowest
	 * 2% here) do not */
	cr_assert_gt(fabs(fl_sketch_quantile(s, 0.001) - v[1]), 0.5 * v[1]);
	for (double q = 0.03; q < 1; q += 0.01) {
		double exact = v[(size_t)(q * (double)(n - 1))];

		cr_assert_leq(fabs(fl_sketch_quantile(s, q) - exact), 0.0100001 * exact, "q=%g", q);
	}
	fl_buf_release(&e);
	fl_sketch_free(s);
}

Test(sketch, hostile_binary_is_refused)
{
	struct fl_sketch *s = sample_sketch(), *d = NULL;
	struct fl_buf e = FL_BUF_INIT;
	struct fl_err err = {0};
	uint8_t *copy;

	cr_assert_eq(fl_sketch_encode(&e, s), 0);
	/* every truncation fails cleanly */
	for (size_t n = 0; n < e.len; n++) {
		cr_assert_eq(fl_sketch_decode(&d, e.ptr, n, &err), FL_EINVAL, "n=%zu", n);
		cr_assert_null(d);
	}
	/* trailing garbage */
	copy = malloc(e.len + 1);
	memcpy(copy, e.ptr, e.len);
	copy[e.len] = 0;
	cr_assert_eq(fl_sketch_decode(&d, copy, e.len + 1, &err), FL_EINVAL);
	/* flip each byte: either refused or a sketch whose counts add up */
	for (size_t i = 0; i < e.len; i++) {
		memcpy(copy, e.ptr, e.len);
		copy[i] ^= 0x5a;
		if (fl_sketch_decode(&d, copy, e.len, &err) == 0) {
			uint64_t n = fl_sketch_count(d);

			cr_assert_eq(fl_sketch_count_le(d, 1e308), n);
			fl_sketch_free(d);
			d = NULL;
		}
	}
	free(copy);
	fl_buf_release(&e);
	fl_sketch_free(s);
}

Test(sketch, hostile_json_is_refused)
{
	static const char *const bad[] = {
	    "[]",
	    "{\"n\":-1}",
	    "{\"n\":0,\"c\":[]}",
	    "{\"n\":2,\"sum\":1,\"min\":0.5,\"max\":0.5,\"zero\":0,\"k0\":0,\"c\":[1]}",
	    "{\"n\":1,\"sum\":1,\"min\":1,\"max\":1,\"zero\":0,\"k0\":0,\"c\":[-1,2]}",
	    "{\"n\":1,\"sum\":1,\"min\":1,\"max\":1,\"zero\":0,\"k0\":99999,\"c\":[1]}",
	    "{\"n\":1,\"sum\":1,\"min\":2,\"max\":1,\"zero\":0,\"k0\":0,\"c\":[1]}",
	    "{\"n\":1,\"sum\":1,\"min\":1,\"max\":1,\"zero\":0,\"k0\":0,\"c\":[1.5]}",
	    "{\"n\":1,\"sum\":1,\"min\":1,\"max\":1,\"zero\":0,\"k0\":0,\"c\":[1],\"x\":1}",
	    "{\"n\":1,\"sum\":1,\"min\":1,\"max\":1,\"k0\":0,\"c\":[1]}",
	};
	struct fl_err err = {0};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *o = json_loads(bad[i], 0, NULL);
		struct fl_sketch *s = NULL;

		cr_assert_not_null(o, "%s", bad[i]);
		cr_assert_eq(fl_sketch_from_json(&s, o, &err), FL_EINVAL, "%s", bad[i]);
		cr_assert_null(s);
		json_decref(o);
	}
}

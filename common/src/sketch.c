/*
 * sketch.c - the log-bucket quantile sketch (see sketch.h for the contract).
 *
 * Buckets are a dense array of counts for the keys k0 .. k0+len-1. Latency
 * values of one model cluster within a few hundred keys, so a dense array is
 * both smaller and faster than a map; the cap bounds the worst case.
 */
#include "fairlead/sketch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"

/* Far beyond any double's key (log(DBL_MAX)/log(gamma) ~ 35500): keys read
 * from outside are bounded by this so that arithmetic on them cannot wrap. */
#define KEY_LIMIT   40000
#define ENC_VERSION 1

struct fl_sketch {
	uint64_t n;    /* all values, zero bucket included */
	uint64_t zero; /* values <= FL_SKETCH_MIN_VALUE */
	double sum, min, max;
	int32_t k0;   /* key of c[0] */
	uint32_t len; /* keys in use from k0 */
	uint32_t cap; /* allocated slots of c */
	uint64_t *c;
};

static double log_gamma(void)
{
	static double lg;

	/* Racing threads compute the same value; the store is of a double and
	 * the worst case is computing it twice. */
	if (lg == 0)
		lg = log((1 + FL_SKETCH_ALPHA) / (1 - FL_SKETCH_ALPHA));
	return lg;
}

static int32_t key_of(double v)
{
	double k = ceil(log(v) / log_gamma());

	if (k > KEY_LIMIT)
		return KEY_LIMIT;
	if (k < -KEY_LIMIT)
		return -KEY_LIMIT;
	return (int32_t)k;
}

/* The value a bucket stands for: within FL_SKETCH_ALPHA of everything in
 * (gamma^(k-1), gamma^k]. */
static double value_of(int32_t k)
{
	double g = (1 + FL_SKETCH_ALPHA) / (1 - FL_SKETCH_ALPHA);

	return 2 * exp((double)k * log_gamma()) / (g + 1);
}

int fl_sketch_new(struct fl_sketch **out)
{
	struct fl_sketch *s = calloc(1, sizeof(*s));

	*out = s;
	if (!s)
		return FL_ENOMEM;
	s->min = NAN;
	s->max = NAN;
	return 0;
}

void fl_sketch_free(struct fl_sketch *s)
{
	if (!s)
		return;
	free(s->c);
	free(s);
}

void fl_sketch_reset(struct fl_sketch *s)
{
	s->n = s->zero = 0;
	s->sum = 0;
	s->min = s->max = NAN;
	s->k0 = 0;
	s->len = 0;
}

/* Makes the array cover [lo, hi]. When that is wider than the cap, keys below
 * hi - cap + 1 fold into that key: the low quantiles lose accuracy, never the
 * tail. */
static int cover(struct fl_sketch *s, int32_t lo, int32_t hi)
{
	int32_t old_lo = s->k0, old_hi = s->k0 + (int32_t)s->len - 1;
	int32_t nlo, nhi;
	uint32_t nlen, i;
	uint64_t *nc;

	if (s->len == 0) {
		old_lo = lo;
		old_hi = hi;
	}
	nlo = lo < old_lo ? lo : old_lo;
	nhi = hi > old_hi ? hi : old_hi;
	if (nhi - nlo + 1 > FL_SKETCH_MAX_BUCKETS)
		nlo = nhi - FL_SKETCH_MAX_BUCKETS + 1;
	if (s->len && nlo == s->k0 && nhi == old_hi)
		return 0;
	nlen = (uint32_t)(nhi - nlo + 1);
	if (!(nc = calloc(nlen, sizeof(*nc))))
		return FL_ENOMEM;
	for (i = 0; i < s->len; i++) {
		int32_t k = s->k0 + (int32_t)i;

		nc[(k < nlo ? nlo : k) - nlo] += s->c[i];
	}
	free(s->c);
	s->c = nc;
	s->cap = nlen;
	s->k0 = nlo;
	s->len = nlen;
	return 0;
}

static int add_key(struct fl_sketch *s, int32_t k, uint64_t n)
{
	int rc;

	if (s->len == 0 || k < s->k0 || k > s->k0 + (int32_t)s->len - 1) {
		if ((rc = cover(s, k, k)) < 0)
			return rc;
	}
	if (k < s->k0) /* folded by the cap */
		k = s->k0;
	s->c[k - s->k0] += n;
	return 0;
}

int fl_sketch_add_n(struct fl_sketch *s, double v, uint64_t n)
{
	int rc;

	if (!isfinite(v) || v < 0)
		return FL_EINVAL;
	if (n == 0)
		return 0;
	if (v <= FL_SKETCH_MIN_VALUE)
		s->zero += n;
	else if ((rc = add_key(s, key_of(v), n)) < 0)
		return rc;
	s->n += n;
	s->sum += v * (double)n;
	if (isnan(s->min) || v < s->min)
		s->min = v;
	if (isnan(s->max) || v > s->max)
		s->max = v;
	return 0;
}

int fl_sketch_add(struct fl_sketch *s, double v)
{
	return fl_sketch_add_n(s, v, 1);
}

int fl_sketch_merge(struct fl_sketch *dst, const struct fl_sketch *src)
{
	int rc;

	if (src->n == 0)
		return 0;
	if (src->len) {
		if ((rc = cover(dst, src->k0, src->k0 + (int32_t)src->len - 1)) < 0)
			return rc;
		for (uint32_t i = 0; i < src->len; i++) {
			int32_t k = src->k0 + (int32_t)i;

			if (src->c[i])
				dst->c[(k < dst->k0 ? dst->k0 : k) - dst->k0] += src->c[i];
		}
	}
	dst->zero += src->zero;
	dst->n += src->n;
	dst->sum += src->sum;
	if (isnan(dst->min) || src->min < dst->min)
		dst->min = src->min;
	if (isnan(dst->max) || src->max > dst->max)
		dst->max = src->max;
	return 0;
}

int fl_sketch_dup(struct fl_sketch **out, const struct fl_sketch *s)
{
	struct fl_sketch *d;
	int rc;

	if ((rc = fl_sketch_new(&d)) < 0)
		return rc;
	if ((rc = fl_sketch_merge(d, s)) < 0) {
		fl_sketch_free(d);
		d = NULL;
	}
	*out = d;
	return rc;
}

uint64_t fl_sketch_count(const struct fl_sketch *s)
{
	return s->n;
}

double fl_sketch_sum(const struct fl_sketch *s)
{
	return s->sum;
}

double fl_sketch_min(const struct fl_sketch *s)
{
	return s->min;
}

double fl_sketch_max(const struct fl_sketch *s)
{
	return s->max;
}

double fl_sketch_quantile(const struct fl_sketch *s, double q)
{
	uint64_t rank, seen;
	double v;

	if (s->n == 0 || !(q >= 0 && q <= 1))
		return NAN;
	if (q == 0)
		return s->min;
	if (q == 1)
		return s->max;
	/* The value of rank floor(q (n - 1)) in sorted order lies in the
	 * first bucket whose running count passes that rank. */
	rank = (uint64_t)(q * (double)(s->n - 1));
	seen = s->zero;
	if (seen > rank)
		return s->min;
	v = s->max;
	for (uint32_t i = 0; i < s->len; i++) {
		seen += s->c[i];
		if (seen > rank) {
			v = value_of(s->k0 + (int32_t)i);
			break;
		}
	}
	/* Clamping to the exact extremes only ever moves toward the truth. */
	if (v < s->min)
		v = s->min;
	if (v > s->max)
		v = s->max;
	return v;
}

uint64_t fl_sketch_count_le(const struct fl_sketch *s, double v)
{
	uint64_t n;
	int32_t k;

	if (!(v >= 0) || s->n == 0)
		return 0;
	if (v >= s->max)
		return s->n;
	n = s->zero;
	if (v <= FL_SKETCH_MIN_VALUE)
		return n;
	k = key_of(v);
	for (uint32_t i = 0; i < s->len && s->k0 + (int32_t)i <= k; i++)
		n += s->c[i];
	return n;
}

int fl_sketch_to_json(json_t **out, const struct fl_sketch *s)
{
	json_t *o = NULL, *c = NULL;
	uint32_t first = 0, last = s->len;

	*out = NULL;
	if (s->n == 0) {
		*out = json_pack("{s:i}", "n", 0);
		return *out ? 0 : FL_ENOMEM;
	}
	/* Trim empty buckets at both ends (a merge may have widened the range). */
	while (first < last && s->c[first] == 0)
		first++;
	while (last > first && s->c[last - 1] == 0)
		last--;
	if (!(c = json_array()))
		return FL_ENOMEM;
	for (uint32_t i = first; i < last; i++) {
		if (json_array_append_new(c, json_integer((json_int_t)s->c[i])) < 0) {
			json_decref(c);
			return FL_ENOMEM;
		}
	}
	o = json_pack("{s:I,s:f,s:f,s:f,s:I,s:i,s:o}", "n", (json_int_t)s->n, "sum", s->sum, "min",
		      s->min, "max", s->max, "zero", (json_int_t)s->zero, "k0",
		      (int)(s->k0 + (int32_t)first), "c", c);
	if (!o)
		return FL_ENOMEM;
	*out = o;
	return 0;
}

/* A count as found in JSON: a non-negative integer. */
static int json_count(uint64_t *out, const json_t *v)
{
	json_int_t i;

	if (!json_is_integer(v) || (i = json_integer_value(v)) < 0)
		return FL_EINVAL;
	*out = (uint64_t)i;
	return 0;
}

/* Checks what both decoders produced: counts add up, extremes are sane. */
static int check_decoded(const struct fl_sketch *s, uint64_t total, struct fl_err *err)
{
	if (total != s->n)
		return fl_err_set(err, FL_EINVAL, "sketch counts do not add up to n");
	if (s->n == 0)
		return 0;
	if (!isfinite(s->sum) || !isfinite(s->min) || !isfinite(s->max) || s->min < 0 ||
	    s->min > s->max || s->sum < 0)
		return fl_err_set(err, FL_EINVAL, "sketch sum, min or max out of range");
	return 0;
}

int fl_sketch_from_json(struct fl_sketch **out, const json_t *j, struct fl_err *err)
{
	static const char *const allowed[] = {"n", "sum", "min", "max", "zero", "k0", "c", NULL};
	struct fl_sketch *s = NULL;
	const json_t *c, *v;
	uint64_t total = 0, x;
	json_int_t k0;
	size_t i, len;
	int rc;

	*out = NULL;
	if (!json_is_object(j))
		return fl_err_set(err, FL_EINVAL, "sketch must be an object");
	if ((rc = fl_json_only(j, allowed, err)) < 0)
		return rc;
	if ((rc = fl_sketch_new(&s)) < 0)
		return fl_err_set(err, rc, "out of memory");
	if (json_count(&s->n, json_object_get(j, "n")) < 0) {
		rc = fl_err_set(err, FL_EINVAL, "sketch n must be a non-negative integer");
		goto cleanup;
	}
	if (s->n == 0) {
		if (json_object_size(j) != 1) {
			rc = fl_err_set(err, FL_EINVAL, "an empty sketch is {\"n\":0}");
			goto cleanup;
		}
		goto done;
	}
	c = json_object_get(j, "c");
	v = json_object_get(j, "k0");
	if (!json_is_number(json_object_get(j, "sum")) ||
	    !json_is_number(json_object_get(j, "min")) ||
	    !json_is_number(json_object_get(j, "max")) ||
	    json_count(&s->zero, json_object_get(j, "zero")) < 0 || !json_is_array(c) ||
	    !json_is_integer(v)) {
		rc = fl_err_set(err, FL_EINVAL, "sketch needs n, sum, min, max, zero, k0 and c");
		goto cleanup;
	}
	s->sum = json_number_value(json_object_get(j, "sum"));
	s->min = json_number_value(json_object_get(j, "min"));
	s->max = json_number_value(json_object_get(j, "max"));
	k0 = json_integer_value(v);
	len = json_array_size(c);
	if (len > FL_SKETCH_MAX_BUCKETS || k0 < -KEY_LIMIT || k0 + (json_int_t)len > KEY_LIMIT) {
		rc = fl_err_set(err, FL_EINVAL, "sketch buckets out of range");
		goto cleanup;
	}
	total = s->zero;
	if (len) {
		if ((rc = cover(s, (int32_t)k0, (int32_t)(k0 + (json_int_t)len - 1))) < 0) {
			rc = fl_err_set(err, rc, "out of memory");
			goto cleanup;
		}
		json_array_foreach (c, i, v) {
			if (json_count(&x, v) < 0 || x > UINT64_MAX - total) {
				rc = fl_err_set(err, FL_EINVAL, "sketch counts must be integers");
				goto cleanup;
			}
			s->c[i] = x;
			total += x;
		}
	}
	if ((rc = check_decoded(s, total, err)) < 0)
		goto cleanup;
done:
	*out = s;
	s = NULL;
cleanup:
	fl_sketch_free(s);
	return rc;
}

/* Counts are varints (fl_buf_put_uvarint): most buckets of a minute hold a
 * handful of values. */
static int put_double(struct fl_buf *b, double d)
{
	uint8_t tmp[8];
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	for (int i = 0; i < 8; i++)
		tmp[i] = (uint8_t)(u >> (8 * i));
	return fl_buf_put(b, tmp, sizeof(tmp));
}

/* Zigzag maps small negative keys (sub-millisecond values) to small varints. */
static uint64_t zigzag(int32_t k)
{
	int64_t v = k;

	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

int fl_sketch_encode(struct fl_buf *out, const struct fl_sketch *s)
{
	uint32_t first = 0, last = s->len;
	int32_t k0;
	int rc;

	while (first < last && s->c[first] == 0)
		first++;
	while (last > first && s->c[last - 1] == 0)
		last--;
	k0 = s->k0 + (int32_t)first;
	if ((rc = fl_buf_put(out, (const uint8_t[]){ENC_VERSION}, 1)) < 0 ||
	    (rc = fl_buf_put_uvarint(out, s->n)) < 0)
		return rc;
	if (s->n == 0)
		return 0;
	if ((rc = fl_buf_put_uvarint(out, s->zero)) < 0 || (rc = put_double(out, s->sum)) < 0 ||
	    (rc = put_double(out, s->min)) < 0 || (rc = put_double(out, s->max)) < 0 ||
	    (rc = fl_buf_put_uvarint(out, zigzag(k0))) < 0 ||
	    (rc = fl_buf_put_uvarint(out, last - first)) < 0)
		return rc;
	for (uint32_t i = first; i < last; i++)
		if ((rc = fl_buf_put_uvarint(out, s->c[i])) < 0)
			return rc;
	return 0;
}

struct reader {
	const uint8_t *p;
	size_t n, off;
};

static int get_uvarint(uint64_t *out, struct reader *r)
{
	const uint8_t *p = r->p + r->off;
	int rc = fl_uvarint_get(out, &p, r->p + r->n);

	r->off = (size_t)(p - r->p);
	return rc;
}

static int get_double(double *out, struct reader *r)
{
	uint64_t u = 0;

	if (r->n - r->off < 8)
		return FL_EINVAL;
	for (int i = 0; i < 8; i++)
		u |= (uint64_t)r->p[r->off + (size_t)i] << (8 * i);
	r->off += 8;
	memcpy(out, &u, sizeof(*out));
	return 0;
}

int fl_sketch_decode(struct fl_sketch **out, const void *p, size_t n, struct fl_err *err)
{
	struct reader r = {p, n, 0};
	struct fl_sketch *s = NULL;
	uint64_t zz, len, x, total;
	int64_t k0;
	int rc;

	*out = NULL;
	if ((rc = fl_sketch_new(&s)) < 0)
		return fl_err_set(err, rc, "out of memory");
	rc = FL_EINVAL;
	if (n < 1 || r.p[0] != ENC_VERSION) {
		fl_err_set(err, rc, "sketch: unknown encoding");
		goto cleanup;
	}
	r.off = 1;
	if (get_uvarint(&s->n, &r) < 0)
		goto bad;
	if (s->n == 0) {
		if (r.off != n)
			goto bad;
		goto done;
	}
	if (get_uvarint(&s->zero, &r) < 0 || get_double(&s->sum, &r) < 0 ||
	    get_double(&s->min, &r) < 0 || get_double(&s->max, &r) < 0 ||
	    get_uvarint(&zz, &r) < 0 || get_uvarint(&len, &r) < 0)
		goto bad;
	if (zz > 2 * (uint64_t)KEY_LIMIT + 1 || len > FL_SKETCH_MAX_BUCKETS)
		goto bad;
	k0 = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
	if (k0 < -KEY_LIMIT || k0 + (int64_t)len > KEY_LIMIT)
		goto bad;
	total = s->zero;
	if (len) {
		if ((rc = cover(s, (int32_t)k0, (int32_t)(k0 + (int64_t)len - 1))) < 0) {
			fl_err_set(err, rc, "out of memory");
			goto cleanup;
		}
		rc = FL_EINVAL;
		for (uint64_t i = 0; i < len; i++) {
			if (get_uvarint(&x, &r) < 0 || x > UINT64_MAX - total)
				goto bad;
			s->c[i] = x;
			total += x;
		}
	}
	if (r.off != n)
		goto bad;
	if ((rc = check_decoded(s, total, err)) < 0)
		goto cleanup;
done:
	*out = s;
	s = NULL;
	rc = 0;
	goto cleanup;
bad:
	rc = fl_err_set(err, FL_EINVAL, "sketch: malformed encoding");
cleanup:
	fl_sketch_free(s);
	return rc;
}

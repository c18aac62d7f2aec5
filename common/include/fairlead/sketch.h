/*
 * sketch.h - a mergeable log-bucket quantile sketch (DDSketch-style).
 *
 * A value v > 0 lands in bucket k = ceil(log(v) / log(gamma)) with
 * gamma = (1 + a) / (1 - a) and a = FL_SKETCH_ALPHA, so that every quantile
 * read back lies within a relative error a of a value that was added: the
 * bucket's representative 2 gamma^k / (gamma + 1) is within a of anything in
 * (gamma^(k-1), gamma^k]. Values at or below FL_SKETCH_MIN_VALUE (and zero)
 * are counted in a zero bucket. Negative, NaN and infinite values are refused.
 *
 * Memory is bounded: at most FL_SKETCH_MAX_BUCKETS distinct keys. When a new
 * key would exceed it, the lowest buckets are collapsed into the next one up,
 * so only the lowest quantiles lose accuracy (the tail, which SLOs read,
 * keeps it). Merging two sketches is exact: the result is the sketch of the
 * union of their values (up to the same collapse rule).
 *
 * Two encodings: JSON for the wire (agent reports) and a compact varint
 * binary form for storage. Both round-trip exactly. Decoders treat their
 * input as hostile: bounded sizes, no overflow, FL_EINVAL on anything odd.
 */
#ifndef FAIRLEAD_SKETCH_H
#define FAIRLEAD_SKETCH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fairlead/buf.h"
#include "fairlead/err.h"

#define FL_SKETCH_ALPHA	      0.01
#define FL_SKETCH_MIN_VALUE   1e-9
#define FL_SKETCH_MAX_BUCKETS 2048

struct fl_sketch;

int fl_sketch_new(struct fl_sketch **out);
void fl_sketch_free(struct fl_sketch *s);
/* Empties s, keeping its memory. */
void fl_sketch_reset(struct fl_sketch *s);
/* Adds v n times; FL_EINVAL for negative or non-finite v. */
int fl_sketch_add_n(struct fl_sketch *s, double v, uint64_t n);
int fl_sketch_add(struct fl_sketch *s, double v);
/* dst += src. */
int fl_sketch_merge(struct fl_sketch *dst, const struct fl_sketch *src);
/* A deep copy. */
int fl_sketch_dup(struct fl_sketch **out, const struct fl_sketch *s);

uint64_t fl_sketch_count(const struct fl_sketch *s);
double fl_sketch_sum(const struct fl_sketch *s); /* exact */
double fl_sketch_min(const struct fl_sketch *s); /* exact; NAN when empty */
double fl_sketch_max(const struct fl_sketch *s); /* exact; NAN when empty */
/* The q-quantile (0 <= q <= 1) within relative error FL_SKETCH_ALPHA;
 * NAN when empty. q = 0 and q = 1 give the exact min and max. */
double fl_sketch_quantile(const struct fl_sketch *s, double q);
/* How many added values were <= v, counted by bucket: values in the bucket
 * that holds v count as <= v, so the answer may include values up to
 * v * (1 + 2a) above it (never misses one below it). */
uint64_t fl_sketch_count_le(const struct fl_sketch *s, double v);

/* JSON: {"n":COUNT,"sum":S,"min":M,"max":X,"zero":Z,"k0":FIRST_KEY,
 * "c":[counts of keys k0, k0+1, ...]} (empty: {"n":0}). */
int fl_sketch_to_json(json_t **out, const struct fl_sketch *s);
int fl_sketch_from_json(struct fl_sketch **out, const json_t *j, struct fl_err *err);
/* Binary: appended to out; decoding consumes exactly n bytes. */
int fl_sketch_encode(struct fl_buf *out, const struct fl_sketch *s);
int fl_sketch_decode(struct fl_sketch **out, const void *p, size_t n, struct fl_err *err);

#endif

/*
 * sli.h - the shape in which SLI data leaves storage for the SLO engine,
 * the metrics API and /metrics.
 *
 * Every member is a sum or a merge, so aggregates over devices, cohorts and
 * time combine exactly. A series is an array of aggregates, one per step,
 * out[i] covering [from + i*step, from + (i+1)*step).
 */
#ifndef CP_SLI_H
#define CP_SLI_H

#include <stddef.h>
#include <stdint.h>

#include "fairlead/err.h"
#include "fairlead/sketch.h"

struct cp_sli_agg {
	int64_t reports;      /* device-windows that contributed */
	int64_t inferences;   /* inferences reported */
	int64_t errors;	      /* of which failed */
	double up_s;	      /* seconds the agents' heartbeats saw devices up */
	double expected_s;    /* seconds covered by reports */
	double energy_j;      /* joules, measured or estimated */
	double carbon_g;      /* gCO2e: operational (E*I) plus embodied share (M) */
	int64_t drift_checks; /* feature-windows large enough to judge */
	int64_t drift_alarms; /* of which over their threshold */
	struct fl_sketch *latency_ms; /* owned; NULL when no latency was reported */
};

/* What a query covers; NULL or "" members do not restrict. */
struct cp_sli_scope {
	const char *device_id;
	const char *selector; /* device label selector (fairlead/selector.h) */
	const char *release;  /* "NAME" (any version) or "NAME@VERSION" */
};

/* Where SLI series come from: the store in fairleadd, a fake in tests.
 * Fills *out with n = (to - from) / step aggregates (caller frees with
 * cp_sli_aggs_free). step is 60, 300 or 3600 seconds; from and to are
 * multiples of step. */
typedef int (*cp_sli_source_fn)(void *ctx, struct cp_sli_agg **out, size_t *n,
				const struct cp_sli_scope *scope, int64_t from, int64_t to,
				int64_t step, struct fl_err *err);

/* dst += src (the sketch merged, allocated in dst when needed). */
int cp_sli_agg_add(struct cp_sli_agg *dst, const struct cp_sli_agg *src);
void cp_sli_agg_release(struct cp_sli_agg *a);
void cp_sli_aggs_free(struct cp_sli_agg *a, size_t n);

#endif

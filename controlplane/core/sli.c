/*
 * sli.c - arithmetic on SLI aggregates (see sli.h).
 */
#include "core/sli.h"

#include <stdlib.h>

int cp_sli_agg_add(struct cp_sli_agg *dst, const struct cp_sli_agg *src)
{
	dst->reports += src->reports;
	dst->inferences += src->inferences;
	dst->errors += src->errors;
	dst->up_s += src->up_s;
	dst->expected_s += src->expected_s;
	dst->energy_j += src->energy_j;
	dst->carbon_g += src->carbon_g;
	dst->drift_checks += src->drift_checks;
	dst->drift_alarms += src->drift_alarms;
	if (!src->latency_ms)
		return 0;
	if (!dst->latency_ms)
		return fl_sketch_dup(&dst->latency_ms, src->latency_ms);
	return fl_sketch_merge(dst->latency_ms, src->latency_ms);
}

void cp_sli_agg_release(struct cp_sli_agg *a)
{
	if (!a)
		return;
	fl_sketch_free(a->latency_ms);
	*a = (struct cp_sli_agg){0};
}

void cp_sli_aggs_free(struct cp_sli_agg *a, size_t n)
{
	if (!a)
		return;
	for (size_t i = 0; i < n; i++)
		cp_sli_agg_release(&a[i]);
	free(a);
}

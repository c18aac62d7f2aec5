/*
 * gates.h - the health gates that judge a canary stage of a rollout
 * (docs/rollouts.md "Gates" and "Statistics").
 *
 * Pure functions of their inputs: the rollout controller gathers one
 * aggregate per device over the evaluation window (cp_store_sli_devices)
 * and the devices' update outcomes, and asks for a verdict. No I/O, no
 * clock, no state: the same input gives the same verdict.
 *
 * Comparison gates (latency, errors, drift, carbon) test canary against
 * baseline with a one-sided Mann-Whitney U test over per-device values
 * (fairlead/stats.h). They fail only on a regression beyond the tolerance,
 * never on a mere difference. The overall false-fail rate of a good release
 * is kept at cfg->alpha across all planned looks of a stage by Lan-DeMets
 * O'Brien-Fleming alpha spending, split across the comparison gates
 * (Bonferroni).
 */
#ifndef CP_GATES_H
#define CP_GATES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fairlead/err.h"

/* Update outcome of a device within the rollout. */
enum { CP_GATE_PENDING, CP_GATE_UPDATING, CP_GATE_COMMITTED, CP_GATE_FAILED, CP_GATE_ROLLED_BACK };

/* One device of a rollout as the gates see it. The device is the statistical unit: one
 * aggregate per device over the evaluation window, never the raw time samples. */
struct cp_gate_device {
	char id[65];
	int canary;	     /* 1 canary (on the new release), 0 baseline (previous release) */
	int outcome;	     /* CP_GATE_PENDING, _UPDATING, _COMMITTED, _FAILED, _ROLLED_BACK */
	int64_t inferences;  /* in the window */
	double latency_q_ms; /* the configured latency quantile of the device's merged sketch; NAN
				none */
	double error_ratio;  /* errors / inferences; NAN none */
	double drift_ratio;  /* drift alarms / drift checks; NAN none */
	double carbon_per_inf_g; /* NAN none */
};

struct cp_gate_config {	  /* defaults from cp_gate_config_defaults() */
	int min_finished; /* devices finished (committed past health, failed or rolled back) before
			     failure ratios count; default 5 */
	double max_failure_ratio;    /* (failed + rolled_back) / finished; default 0.2 */
	double latency_quantile;     /* default 0.95 */
	double max_latency_increase; /* relative shift of canary over baseline that is tolerated;
					default 0.2 */
	double max_error_increase;   /* absolute; default 0.02 */
	double max_drift_increase;   /* absolute; default 0.1 */
	double max_carbon_increase;  /* relative; default 0.2 */
	int min_devices;	     /* per side, for a comparison to count; default 5 */
	int64_t min_inferences;	     /* per device, to be counted in a comparison; default 20 */
	double alpha; /* overall false-fail rate of a good release across all looks; default 0.05 */
	int max_looks; /* planned evaluations per stage for alpha spending; default 20 */
};

enum { CP_GATE_PASS, CP_GATE_FAIL, CP_GATE_WAIT };

struct cp_gate_result {
	char name[32]; /* "failure_ratio", "latency", "errors", "drift", "carbon", "slo_burn" */
	int verdict;   /* PASS / FAIL / WAIT (not enough data) */
	double value, threshold, baseline, p_value, alpha_spent;
	int n_canary, n_baseline;
	char why[160];
};

struct cp_gate_eval {
	int verdict;
	size_t n;
	struct cp_gate_result r[8];
};

void cp_gate_config_defaults(struct cp_gate_config *out);

/* Overall verdict: FAIL if any gate fails; else WAIT if any waits; else PASS. look is the
 * 1-based number of this evaluation within the stage (alpha spending). slo_burn: the
 * canary cohort's burn rates of the rollout's SLOs (may be NULL/0). */
int cp_gates_evaluate(struct cp_gate_eval *out, const struct cp_gate_device *devs, size_t n,
		      const struct cp_gate_config *cfg, int look, const double *slo_burn,
		      size_t nslo, double slo_max_burn, struct fl_err *err);
/* The numbers, for history/audit. */
int cp_gate_eval_json(json_t **out, const struct cp_gate_eval *e);
/* Overrides: out holds the defaults or earlier values; members of j replace them
 * (strict: unknown keys and out-of-range values are FL_EINVAL naming the key). */
int cp_gate_config_parse(struct cp_gate_config *out, const json_t *j, struct fl_err *err);

#endif

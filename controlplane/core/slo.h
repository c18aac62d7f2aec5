/*
 * slo.h - SLO definitions, error budgets and multi-window multi-burn-rate
 * alerts over SLI series (docs/slo.md has the maths and the formats).
 *
 * Three layers, each testable alone:
 *  - definitions: parse/validate our JSON format (and OpenSLO v1 YAML mapped
 *    onto it), serialise the canonical form;
 *  - evaluation: budget remaining, burn rates and alert conditions of one SLO
 *    at one instant, computed from a cp_sli_source_fn (the store in fairleadd,
 *    a fake in tests);
 *  - the engine: a thread that evaluates every stored SLO periodically,
 *    keeps alert state in the store (firing -> resolved, each transition an
 *    event) and caches the last status for the API and /metrics.
 */
#ifndef CP_SLO_H
#define CP_SLO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sli.h"
#include "fairlead/buf.h"
#include "fairlead/err.h"

struct cp_store;

#define CP_SLO_MAX_PAIRS	  8
#define CP_SLO_MIN_EVENTS_DEFAULT 10
#define CP_SLO_EVAL_MS_DEFAULT	  10000

enum cp_slo_kind { CP_SLO_UPTIME, CP_SLO_LATENCY, CP_SLO_ERRORS, CP_SLO_DRIFT, CP_SLO_CARBON };
enum cp_slo_budgeting { CP_SLO_OCCURRENCES, CP_SLO_TIMESLICES };

/* One alert: fires when the burn rate over both windows exceeds factor. */
struct cp_slo_pair {
	char severity[8]; /* "page" or "ticket" */
	int64_t long_s, short_s;
	double budget_percent; /* > 0: factor derived from it; 0: factor given */
	double factor;	       /* burn-rate threshold in effect */
};

struct cp_slo {
	char name[65];
	char description[1051];
	enum cp_slo_kind kind;
	double threshold; /* latency: ms; carbon: gCO2e per inference; else 0 */
	double objective; /* in (0, 1) */
	int64_t period_s; /* rolling */
	char selector[256];
	char release[160]; /* "NAME" or "NAME@VERSION"; "" for all */
	enum cp_slo_budgeting budgeting;
	double timeslice_target; /* timeslices: a step is good at ratio >= this */
	int64_t min_events;	 /* a window with fewer events cannot fire */
	size_t npairs;
	struct cp_slo_pair pairs[CP_SLO_MAX_PAIRS];
};

/* factor = budget_percent/100 * period / long_window. */
double cp_slo_factor(double budget_percent, int64_t period_s, int64_t long_s);

/* Validates a definition in our JSON format into out (strict: unknown keys,
 * bad ranges and alerts that can never fire are FL_EINVAL naming the
 * field). Without "alerts" the SRE workbook pairs are used, scaled to the
 * period (pairs whose long window exceeds the period are left out). */
int cp_slo_parse(struct cp_slo *out, const json_t *def, struct fl_err *err);
/* The canonical definition (defaults filled in, alerts explicit); parsing
 * it again gives the same SLO. */
int cp_slo_to_json(json_t **out, const struct cp_slo *slo);
/* Maps the SLO documents of an OpenSLO v1 YAML file to an array of our
 * definitions (each validated). FL_EINVAL naming the document and field for
 * anything that does not map. */
int cp_slo_from_openslo(json_t **out, const char *yaml, size_t len, struct fl_err *err);
/* One definition file: a JSON object (ours) or OpenSLO YAML; *out is an
 * array of definitions. */
int cp_slo_parse_text(json_t **out, const char *text, size_t len, struct fl_err *err);
/* "30d", "6h", "5m", "90s". out holds 24 bytes. */
void cp_slo_fmt_duration(char out[24], int64_t secs);

/* ---- evaluation ---- */

struct cp_slo_window {
	int64_t window_s, step, from, to;
	double good, total; /* events, or slices under timeslices */
	double events;	    /* underlying events, for the min-events guard */
	double error_ratio; /* (total - good) / total; 0 when total is 0 */
	double burn_rate;   /* error_ratio / (1 - objective) */
};

struct cp_slo_pair_state {
	int firing;
	int guarded; /* a window had fewer than min_events events */
	struct cp_slo_window lw, sw;
	double budget_spent; /* burn_long * long / period */
	double tte_s;	     /* time to exhaustion at burn_long; < 0: never */
};

struct cp_slo_status {
	int64_t at;
	struct cp_slo_window period;
	double budget_remaining; /* 1 - error_ratio/(1 - objective); < 0: overspent */
	size_t npairs;
	struct cp_slo_pair_state pairs[CP_SLO_MAX_PAIRS];
};

/* Evaluates slo at now over src. Windows are [to - w, to) with to = now
 * rounded down to the step: 60 s for windows up to 1h, 300 s up to 3d, and
 * 3600 s for longer ones and the period. */
int cp_slo_evaluate(struct cp_slo_status *out, const struct cp_slo *slo, cp_sli_source_fn src,
		    void *ctx, int64_t now, struct fl_err *err);
/* The burn rate of slo for one release (a rollout's canary cohort): slo is
 * evaluated at now with its release scope replaced by release
 * ("NAME@VERSION"), its own selector kept. *out is the burn rate of the
 * shortest alert pair (the smallest long window, then the smallest short
 * one), the smaller of its long and short windows' rates: above a maximum
 * only when both windows are, as an alert fires. NAN when either window has
 * fewer than min_events events, or the SLO has no alert pair. */
int cp_slo_release_burn(double *out, const struct cp_slo *slo, const char *release,
			cp_sli_source_fn src, void *ctx, int64_t now, struct fl_err *err);
/* {"evaluated_at","budget_remaining","period":{...},"burn_rates":{"5m":..},
 * "alerts":[{"severity","pair","factor","firing","guarded",...}]} */
int cp_slo_status_json(json_t **out, const struct cp_slo *slo, const struct cp_slo_status *st);
/* What an alert stores about why it fired (docs/slo.md "Alert explanations"). */
int cp_slo_explanation(json_t **out, const struct cp_slo *slo, const struct cp_slo_status *st,
		       size_t pair);
/* "1h/5m" */
void cp_slo_pair_name(char out[56], const struct cp_slo_pair *p);

/* ---- the engine ---- */

struct cp_slo_engine;

/* src may be NULL: SLOs are then listed without status and never fire. */
int cp_slo_engine_new(struct cp_slo_engine **out, struct cp_store *store, cp_sli_source_fn src,
		      void *src_ctx, struct fl_err *err);
/* Starts the thread: one evaluation at once, then every eval_ms. */
int cp_slo_engine_start(struct cp_slo_engine *e, int eval_ms, struct fl_err *err);
void cp_slo_engine_stop(struct cp_slo_engine *e);
void cp_slo_engine_free(struct cp_slo_engine *e);
/* Asks the thread for an evaluation now (after a definition changed). */
void cp_slo_engine_kick(struct cp_slo_engine *e);
/* One evaluation pass at now: every stored SLO, alert transitions stored
 * with their events. The thread calls this; tests call it directly. */
int cp_slo_engine_eval(struct cp_slo_engine *e, int64_t now, struct fl_err *err);
/* The last status of name (new reference), or NULL when not evaluated. */
json_t *cp_slo_engine_status(struct cp_slo_engine *e, const char *name);
/* Prometheus text families: fairlead_slo_objective,
 * fairlead_slo_error_budget_remaining, fairlead_slo_burn_rate{window},
 * fairlead_alerts_firing{slo,severity}. e may be NULL (nothing written). */
int cp_slo_prom(struct fl_buf *out, struct cp_slo_engine *e);

/* Loads DIR/\*.json, *.yaml and *.yml (sorted) and makes them the store's
 * file-sourced SLOs (replacing earlier ones). A missing directory is no
 * error; a bad file is FL_EINVAL naming it, and nothing changes. */
int cp_slo_load_dir(struct cp_store *store, const char *dir, struct fl_err *err);

#endif

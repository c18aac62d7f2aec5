/*
 * slo.c - SLO definitions, OpenSLO import, budgets, burn rates and the
 * alerting engine (see slo.h and docs/slo.md).
 */
#include "core/slo.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/log.h"
#include "fairlead/relref.h"
#include "fairlead/selector.h"
#include "fairlead/sketch.h"
#include "fairlead/trust.h"
#include "fairlead/util.h"
#include "fairlead/yaml.h"
#include "store/store.h"

/* Burn rates are compared with a relative tolerance, so that a rate equal
 * to the factor on paper (144 bad of 1000 at 99%, factor 14.4) does not fire
 * through a rounding error in the last bit. */
#define BURN_EPS 1e-9

static const char *const kind_names[] = {"uptime", "latency", "errors", "drift", "carbon"};

/* The SRE workbook's starting pairs (Table 5-8), as budget shares. */
static const struct {
	const char *severity;
	int64_t long_s, short_s;
	double budget_percent;
} default_pairs[] = {
    {"page", 3600, 300, 2},
    {"page", 6 * 3600, 1800, 5},
    {"ticket", 3 * 86400, 6 * 3600, 10},
};

double cp_slo_factor(double budget_percent, int64_t period_s, int64_t long_s)
{
	return budget_percent / 100.0 * (double)period_s / (double)long_s;
}

void cp_slo_fmt_duration(char out[24], int64_t secs)
{
	if (secs > 0 && secs % 86400 == 0)
		snprintf(out, 24, "%lldd", (long long)(secs / 86400));
	else if (secs > 0 && secs % 3600 == 0)
		snprintf(out, 24, "%lldh", (long long)(secs / 3600));
	else if (secs > 0 && secs % 60 == 0)
		snprintf(out, 24, "%lldm", (long long)(secs / 60));
	else
		snprintf(out, 24, "%llds", (long long)secs);
}

void cp_slo_pair_name(char out[56], const struct cp_slo_pair *p)
{
	char l[24], s[24];

	cp_slo_fmt_duration(l, p->long_s);
	cp_slo_fmt_duration(s, p->short_s);
	snprintf(out, 56, "%s/%s", l, s);
}

static double max_burn(double objective)
{
	return 1.0 / (1.0 - objective);
}

/* ---- definitions ---- */

static int get_number(double *out, const json_t *obj, const char *key, int required,
		      struct fl_err *err)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return required ? fl_err_set(err, FL_EINVAL, "field '%s' is required", key) : 0;
	if (!json_is_number(v) || !isfinite(json_number_value(v)))
		return fl_err_set(err, FL_EINVAL, "field '%s' must be a number", key);
	*out = json_number_value(v);
	return 0;
}

static int get_window(int64_t *out, const json_t *obj, const char *key, const char *what,
		      struct fl_err *err)
{
	const char *s = NULL;
	int rc;

	if ((rc = fl_json_str(&s, obj, key, 1, err)) < 0)
		return fl_err_prefix(err, "%s", what);
	if (fl_duration_parse(out, s, err) < 0)
		return fl_err_prefix(err, "%s: %s", what, key);
	if (*out < 60 || *out % 60 != 0)
		return fl_err_set(err, FL_EINVAL, "%s: %s must be whole minutes (at least 1m)",
				  what, key);
	return 0;
}

static int parse_pair(struct cp_slo_pair *p, const json_t *a, size_t idx, const struct cp_slo *slo,
		      struct fl_err *err)
{
	static const char *const allowed[] = {"severity", "long",	    "short",
					      "factor",	  "budget_percent", NULL};
	const char *sev = NULL;
	char what[32];
	int has_f, has_b, rc;

	snprintf(what, sizeof(what), "alerts[%zu]", idx);
	memset(p, 0, sizeof(*p));
	if (!json_is_object(a))
		return fl_err_set(err, FL_EINVAL, "%s must be an object", what);
	if ((rc = fl_json_only(a, allowed, err)) < 0)
		return fl_err_prefix(err, "%s", what);
	if ((rc = fl_json_str(&sev, a, "severity", 1, err)) < 0)
		return fl_err_prefix(err, "%s", what);
	if (strcmp(sev, "page") != 0 && strcmp(sev, "ticket") != 0)
		return fl_err_set(err, FL_EINVAL, "%s: severity must be page or ticket", what);
	snprintf(p->severity, sizeof(p->severity), "%s", sev);
	if ((rc = get_window(&p->long_s, a, "long", what, err)) < 0 ||
	    (rc = get_window(&p->short_s, a, "short", what, err)) < 0)
		return rc;
	if (p->short_s >= p->long_s)
		return fl_err_set(err, FL_EINVAL,
				  "%s: the short window must be shorter than the long", what);
	if (p->long_s > slo->period_s)
		return fl_err_set(err, FL_EINVAL, "%s: the long window exceeds the period", what);
	has_f = json_object_get(a, "factor") != NULL;
	has_b = json_object_get(a, "budget_percent") != NULL;
	if (has_f == has_b)
		return fl_err_set(err, FL_EINVAL,
				  "%s: give exactly one of factor and budget_percent", what);
	if (has_b) {
		if ((rc = get_number(&p->budget_percent, a, "budget_percent", 1, err)) < 0)
			return fl_err_prefix(err, "%s", what);
		if (!(p->budget_percent > 0 && p->budget_percent <= 100))
			return fl_err_set(err, FL_EINVAL, "%s: budget_percent must be in (0, 100]",
					  what);
		p->factor = cp_slo_factor(p->budget_percent, slo->period_s, p->long_s);
	} else {
		if ((rc = get_number(&p->factor, a, "factor", 1, err)) < 0)
			return fl_err_prefix(err, "%s", what);
		if (!(p->factor > 0))
			return fl_err_set(err, FL_EINVAL, "%s: factor must be above 0", what);
	}
	return 0;
}

/* A burn rate cannot exceed 1/(1-objective) (every event bad); a pair
 * whose factor reaches it can never fire. */
static int check_factor(const struct cp_slo_pair *p, const struct cp_slo *slo, struct fl_err *err)
{
	double mb = max_burn(slo->objective);
	char name[56];

	if (p->factor < mb * (1 - BURN_EPS))
		return 0;
	cp_slo_pair_name(name, p);
	return fl_err_set(err, FL_EINVAL,
			  "alert %s %s: burn-rate factor %.4g can never fire: at objective %.6g "
			  "the maximum burn rate is %.4g (every event bad); lower the factor or "
			  "budget_percent, or raise the objective",
			  p->severity, name, p->factor, slo->objective, mb);
}

static int parse_sli(struct cp_slo *out, const json_t *sli, struct fl_err *err)
{
	static const char *const allowed[] = {"kind", "threshold_ms", "threshold_g", NULL};
	const char *kind = NULL;
	size_t k;
	int rc;

	if (!json_is_object(sli))
		return fl_err_set(err, FL_EINVAL, "field 'sli' must be an object");
	if ((rc = fl_json_only(sli, allowed, err)) < 0 ||
	    (rc = fl_json_str(&kind, sli, "kind", 1, err)) < 0)
		return fl_err_prefix(err, "sli");
	for (k = 0; k < FL_ARRAY_SIZE(kind_names); k++)
		if (strcmp(kind, kind_names[k]) == 0)
			break;
	if (k == FL_ARRAY_SIZE(kind_names))
		return fl_err_set(err, FL_EINVAL,
				  "sli: kind must be uptime, latency, errors, drift or carbon");
	out->kind = (enum cp_slo_kind)k;
	if (out->kind != CP_SLO_LATENCY && json_object_get(sli, "threshold_ms"))
		return fl_err_set(err, FL_EINVAL, "sli: threshold_ms applies to kind latency only");
	if (out->kind != CP_SLO_CARBON && json_object_get(sli, "threshold_g"))
		return fl_err_set(err, FL_EINVAL, "sli: threshold_g applies to kind carbon only");
	if (out->kind == CP_SLO_LATENCY || out->kind == CP_SLO_CARBON) {
		const char *key = out->kind == CP_SLO_LATENCY ? "threshold_ms" : "threshold_g";

		if ((rc = get_number(&out->threshold, sli, key, 1, err)) < 0)
			return fl_err_prefix(err, "sli");
		if (!(out->threshold > 0) || out->threshold > 1e9)
			return fl_err_set(err, FL_EINVAL, "sli: %s must be in (0, 1e9]", key);
	}
	return 0;
}

int cp_slo_parse(struct cp_slo *out, const json_t *def, struct fl_err *err)
{
	static const char *const allowed[] = {"name",	    "description", "sli",
					      "objective",  "period",	   "selector",
					      "release",    "budgeting",   "timeslice_target",
					      "min_events", "alerts",	   NULL};
	const char *name = NULL, *desc = "", *period = NULL, *sel = "", *rel = "", *budg = NULL;
	json_t *alerts;
	int64_t min_events = CP_SLO_MIN_EVENTS_DEFAULT;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(def))
		return fl_err_set(err, FL_EINVAL, "an SLO definition must be a JSON object");
	if ((rc = fl_json_only(def, allowed, err)) < 0 ||
	    (rc = fl_json_str(&name, def, "name", 1, err)) < 0 ||
	    (rc = fl_json_str(&desc, def, "description", 0, err)) < 0 ||
	    (rc = fl_json_str(&period, def, "period", 1, err)) < 0 ||
	    (rc = fl_json_str(&sel, def, "selector", 0, err)) < 0 ||
	    (rc = fl_json_str(&rel, def, "release", 0, err)) < 0 ||
	    (rc = fl_json_str(&budg, def, "budgeting", 0, err)) < 0 ||
	    (rc = fl_json_int(&min_events, def, "min_events", 0, err)) < 0)
		return rc;
	if (!fl_id_valid(name))
		return fl_err_set(err, FL_EINVAL,
				  "name: use 1-64 of A-Z a-z 0-9 . _ - (not starting with . or -)");
	snprintf(out->name, sizeof(out->name), "%s", name);
	if (strlen(desc) >= sizeof(out->description))
		return fl_err_set(err, FL_EINVAL, "description longer than %zu bytes",
				  sizeof(out->description) - 1);
	snprintf(out->description, sizeof(out->description), "%s", desc);
	if ((rc = parse_sli(out, json_object_get(def, "sli"), err)) < 0)
		return rc;
	if ((rc = get_number(&out->objective, def, "objective", 1, err)) < 0)
		return rc;
	if (!(out->objective > 0 && out->objective < 1))
		return fl_err_set(err, FL_EINVAL,
				  "objective must be in (0, 1), e.g. 0.99 (not a percentage)");
	if (fl_duration_parse(&out->period_s, period, err) < 0)
		return fl_err_prefix(err, "period");
	if (out->period_s % 3600 != 0 || out->period_s > 366 * 86400)
		return fl_err_set(err, FL_EINVAL, "period must be whole hours, at most 366d");
	if (*sel) {
		struct fl_selector *fs = NULL;

		if (strlen(sel) >= sizeof(out->selector))
			return fl_err_set(err, FL_EINVAL, "selector too long");
		if (fl_selector_parse(&fs, sel, err) < 0)
			return fl_err_prefix(err, "selector");
		fl_selector_free(fs);
		snprintf(out->selector, sizeof(out->selector), "%s", sel);
	}
	if (*rel) {
		struct fl_relref rr;

		if (strlen(rel) >= sizeof(out->release) || fl_relref_parse_any(&rr, rel, NULL) < 0)
			return fl_err_set(
			    err, FL_EINVAL,
			    "release must be NAME or NAME@VERSION (semantic version)");
		snprintf(out->release, sizeof(out->release), "%s", rel);
	}
	out->budgeting = out->kind == CP_SLO_CARBON ? CP_SLO_TIMESLICES : CP_SLO_OCCURRENCES;
	if (budg && strcmp(budg, "occurrences") == 0)
		out->budgeting = CP_SLO_OCCURRENCES;
	else if (budg && strcmp(budg, "timeslices") == 0)
		out->budgeting = CP_SLO_TIMESLICES;
	else if (budg)
		return fl_err_set(err, FL_EINVAL, "budgeting must be occurrences or timeslices");
	if (out->kind == CP_SLO_CARBON && out->budgeting != CP_SLO_TIMESLICES)
		return fl_err_set(err, FL_EINVAL,
				  "carbon SLOs judge each step against threshold_g: budgeting must "
				  "be timeslices");
	out->timeslice_target = out->objective;
	if (json_object_get(def, "timeslice_target")) {
		if (out->budgeting != CP_SLO_TIMESLICES || out->kind == CP_SLO_CARBON)
			return fl_err_set(err, FL_EINVAL,
					  "timeslice_target applies to timeslices budgeting of "
					  "uptime, latency, errors and drift only");
		if ((rc = get_number(&out->timeslice_target, def, "timeslice_target", 1, err)) < 0)
			return rc;
		if (!(out->timeslice_target > 0 && out->timeslice_target <= 1))
			return fl_err_set(err, FL_EINVAL, "timeslice_target must be in (0, 1]");
	}
	if (min_events < 0 || min_events > 1000000000)
		return fl_err_set(err, FL_EINVAL, "min_events must be 0..1000000000");
	out->min_events = min_events;
	alerts = json_object_get(def, "alerts");
	if (alerts) {
		if (!json_is_array(alerts) || json_array_size(alerts) > CP_SLO_MAX_PAIRS)
			return fl_err_set(err, FL_EINVAL,
					  "alerts must be an array of at most %d pairs",
					  CP_SLO_MAX_PAIRS);
		for (size_t i = 0; i < json_array_size(alerts); i++) {
			if ((rc = parse_pair(&out->pairs[i], json_array_get(alerts, i), i, out,
					     err)) < 0)
				return rc;
			out->npairs++;
		}
	} else {
		for (size_t i = 0; i < FL_ARRAY_SIZE(default_pairs); i++) {
			struct cp_slo_pair *p = &out->pairs[out->npairs];

			if (default_pairs[i].long_s > out->period_s)
				continue;
			snprintf(p->severity, sizeof(p->severity), "%s", default_pairs[i].severity);
			p->long_s = default_pairs[i].long_s;
			p->short_s = default_pairs[i].short_s;
			p->budget_percent = default_pairs[i].budget_percent;
			p->factor = cp_slo_factor(p->budget_percent, out->period_s, p->long_s);
			out->npairs++;
		}
	}
	for (size_t i = 0; i < out->npairs; i++) {
		char a[56], b[56];

		if ((rc = check_factor(&out->pairs[i], out, err)) < 0)
			return rc;
		cp_slo_pair_name(a, &out->pairs[i]);
		for (size_t j = 0; j < i; j++) {
			cp_slo_pair_name(b, &out->pairs[j]);
			if (strcmp(a, b) == 0 &&
			    strcmp(out->pairs[i].severity, out->pairs[j].severity) == 0)
				return fl_err_set(err, FL_EINVAL, "alert %s %s appears twice",
						  out->pairs[i].severity, a);
		}
	}
	return 0;
}

int cp_slo_to_json(json_t **out, const struct cp_slo *slo)
{
	json_t *d = NULL, *sli, *alerts;
	char dur[24];

	*out = NULL;
	cp_slo_fmt_duration(dur, slo->period_s);
	sli = json_pack("{s:s}", "kind", kind_names[slo->kind]);
	if (sli && slo->kind == CP_SLO_LATENCY)
		json_object_set_new(sli, "threshold_ms", json_real(slo->threshold));
	if (sli && slo->kind == CP_SLO_CARBON)
		json_object_set_new(sli, "threshold_g", json_real(slo->threshold));
	alerts = json_array();
	d = json_pack("{s:s,s:s,s:o,s:f,s:s,s:s,s:I,s:o}", "name", slo->name, "description",
		      slo->description, "sli", sli, "objective", slo->objective, "period", dur,
		      "budgeting",
		      slo->budgeting == CP_SLO_TIMESLICES ? "timeslices" : "occurrences",
		      "min_events", (json_int_t)slo->min_events, "alerts", alerts);
	if (!d)
		return FL_ENOMEM;
	if (slo->selector[0])
		json_object_set_new(d, "selector", json_string(slo->selector));
	if (slo->release[0])
		json_object_set_new(d, "release", json_string(slo->release));
	if (slo->budgeting == CP_SLO_TIMESLICES && slo->kind != CP_SLO_CARBON)
		json_object_set_new(d, "timeslice_target", json_real(slo->timeslice_target));
	for (size_t i = 0; i < slo->npairs; i++) {
		const struct cp_slo_pair *p = &slo->pairs[i];
		char l[24], s[24];
		json_t *a;

		cp_slo_fmt_duration(l, p->long_s);
		cp_slo_fmt_duration(s, p->short_s);
		a = json_pack("{s:s,s:s,s:s}", "severity", p->severity, "long", l, "short", s);
		if (!a || json_array_append_new(alerts, a) < 0) {
			json_decref(d);
			return FL_ENOMEM;
		}
		if (p->budget_percent > 0)
			json_object_set_new(a, "budget_percent", json_real(p->budget_percent));
		else
			json_object_set_new(a, "factor", json_real(p->factor));
	}
	*out = d;
	return 0;
}

/* ---- OpenSLO v1 ---- */

/* OpenSLO duration shorthand: an integer and m, h, d or w. */
static int openslo_duration(int64_t *out, const char *s, const char *what, struct fl_err *err)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= 2 && (s[n - 1] == 'M' || s[n - 1] == 'Q' || s[n - 1] == 'Y'))
		return fl_err_set(err, FL_EINVAL,
				  "%s '%s': calendar units (M, Q, Y) are not supported; use d or w",
				  what, s);
	if (!s || fl_duration_parse(out, s, err) < 0)
		return fl_err_set(err, FL_EINVAL, "%s: expected a duration like 28d or 4w", what);
	return 0;
}

/* The Fairlead SLI spec inside a metricSource: {type: fairlead, spec: {...}}. */
static int metric_source(json_t **spec, const json_t *holder, const char *where, struct fl_err *err)
{
	const json_t *ms = json_object_get(holder, "metricSource");
	const char *type;

	if (!json_is_object(ms))
		return fl_err_set(err, FL_EINVAL, "%s.metricSource is required", where);
	if (json_object_get(ms, "metricSourceRef"))
		return fl_err_set(err, FL_EINVAL,
				  "%s.metricSource.metricSourceRef is unsupported: Fairlead has no "
				  "external data sources; use type: fairlead",
				  where);
	type = json_string_value(json_object_get(ms, "type"));
	if (!type || strcmp(type, "fairlead") != 0)
		return fl_err_set(
		    err, FL_EINVAL,
		    "%s.metricSource.type '%s' is unsupported: Fairlead has no external "
		    "metric sources; use type: fairlead with spec.kind (docs/slo.md)",
		    where, type ? type : "(missing)");
	*spec = json_object_get(ms, "spec");
	if (!json_is_object(*spec))
		return fl_err_set(err, FL_EINVAL, "%s.metricSource.spec must be a mapping", where);
	return 0;
}

/* Fills sli/selector/release of def from an OpenSLO SLI spec. */
static int openslo_sli(json_t *def, const json_t *sli_spec, const char *where, struct fl_err *err)
{
	static const char *const allowed[] = {"kind",	  "threshold_ms", "threshold_g",
					      "selector", "release",	  NULL};
	json_t *tm = json_object_get(sli_spec, "thresholdMetric");
	json_t *rm = json_object_get(sli_spec, "ratioMetric");
	json_t *spec = NULL, *v;
	json_t *sli;
	char w[160];
	const char *key;
	int rc;

	if (!json_is_object(sli_spec))
		return fl_err_set(err, FL_EINVAL, "%s: the indicator needs a spec mapping", where);
	if ((tm != NULL) == (rm != NULL))
		return fl_err_set(err, FL_EINVAL,
				  "%s: the indicator needs exactly one of thresholdMetric and "
				  "ratioMetric",
				  where);
	if (tm) {
		snprintf(w, sizeof(w), "%s.thresholdMetric", where);
		if ((rc = metric_source(&spec, tm, w, err)) < 0)
			return rc;
	} else {
		json_t *good = json_object_get(rm, "good"), *bad = json_object_get(rm, "bad");
		json_t *total = json_object_get(rm, "total"), *other = NULL;

		if (json_object_get(rm, "raw"))
			return fl_err_set(err, FL_EINVAL,
					  "%s.ratioMetric.raw is unsupported: give good (or bad) "
					  "and total",
					  where);
		if ((good != NULL) == (bad != NULL) || !total)
			return fl_err_set(err, FL_EINVAL,
					  "%s.ratioMetric needs total and exactly one of good and "
					  "bad",
					  where);
		snprintf(w, sizeof(w), "%s.ratioMetric.total", where);
		if ((rc = metric_source(&spec, total, w, err)) < 0)
			return rc;
		snprintf(w, sizeof(w), "%s.ratioMetric.%s", where, good ? "good" : "bad");
		if ((rc = metric_source(&other, good ? good : bad, w, err)) < 0)
			return rc;
		/* Fairlead counts good and total of one kind itself: both sides
		 * must name the same SLI. */
		if (!json_equal(spec, other))
			return fl_err_set(err, FL_EINVAL,
					  "%s.ratioMetric: good/bad and total must have the same "
					  "fairlead spec",
					  where);
	}
	if ((rc = fl_json_only(spec, allowed, err)) < 0)
		return fl_err_prefix(err, "%s metricSource.spec", where);
	if (!json_is_string(json_object_get(spec, "kind")))
		return fl_err_set(err, FL_EINVAL, "%s metricSource.spec.kind is required", where);
	sli = json_pack("{s:O}", "kind", json_object_get(spec, "kind"));
	if (!sli)
		return FL_ENOMEM;
	for (key = "threshold_ms"; key;
	     key = strcmp(key, "threshold_ms") == 0 ? "threshold_g" : NULL)
		if ((v = json_object_get(spec, key)))
			json_object_set(sli, key, v);
	json_object_set_new(def, "sli", sli);
	if ((v = json_object_get(spec, "selector")))
		json_object_set(def, "selector", v);
	if ((v = json_object_get(spec, "release")))
		json_object_set(def, "release", v);
	return 0;
}

static json_t *find_sli_doc(const json_t *docs, const char *name)
{
	size_t i;
	json_t *d;

	json_array_foreach (docs, i, d) {
		const char *k = json_string_value(json_object_get(d, "kind"));
		const char *n =
		    json_string_value(json_object_get(json_object_get(d, "metadata"), "name"));

		if (k && n && strcmp(k, "SLI") == 0 && strcmp(n, name) == 0)
			return d;
	}
	return NULL;
}

static int openslo_slo(json_t **out, const json_t *docs, const json_t *doc, size_t idx,
		       struct fl_err *err)
{
	static const char *const spec_allowed[] = {
	    "description",  "service",	     "indicator",
	    "indicatorRef", "timeWindow",    "budgetingMethod",
	    "objectives",   "alertPolicies", NULL};
	static const char *const obj_allowed[] = {
	    "displayName",     "op", "value", "target", "targetPercent", "timeSliceTarget",
	    "timeSliceWindow", NULL};
	const json_t *md = json_object_get(doc, "metadata"), *spec = json_object_get(doc, "spec");
	json_t *ind, *tw, *o, *v;
	const char *name = json_string_value(json_object_get(md, "name")), *s;
	json_t *def = NULL;
	char where[128];
	int64_t secs;
	int rc;

	*out = NULL;
	if (!name)
		return fl_err_set(err, FL_EINVAL, "document %zu (SLO): metadata.name is required",
				  idx + 1);
	snprintf(where, sizeof(where), "SLO '%.64s'", name);
	if (!json_is_object(spec))
		return fl_err_set(err, FL_EINVAL, "%s: spec must be a mapping", where);
	if ((rc = fl_json_only(spec, spec_allowed, err)) < 0)
		return fl_err_prefix(err, "%s spec", where);
	if (!(def = json_pack("{s:s}", "name", name)))
		return FL_ENOMEM;
	if ((v = json_object_get(spec, "description"))) {
		if (!json_is_string(v)) {
			rc = fl_err_set(err, FL_EINVAL, "%s: description must be a string", where);
			goto cleanup;
		}
		json_object_set(def, "description", v);
	}
	if ((v = json_object_get(spec, "alertPolicies")) && json_array_size(v) > 0) {
		rc = fl_err_set(err, FL_EINVAL,
				"%s: alertPolicies are not supported: Fairlead applies its own "
				"multi-window burn-rate alerts (docs/slo.md)",
				where);
		goto cleanup;
	}
	/* The indicator: inline, or an SLI document of the same file. */
	ind = json_object_get(spec, "indicator");
	if ((s = json_string_value(json_object_get(spec, "indicatorRef")))) {
		if (ind) {
			rc = fl_err_set(err, FL_EINVAL,
					"%s: give indicator or indicatorRef, not both", where);
			goto cleanup;
		}
		if (!(ind = find_sli_doc(docs, s))) {
			rc = fl_err_set(
			    err, FL_EINVAL,
			    "%s: indicatorRef '%.64s' names no SLI document in this file", where,
			    s);
			goto cleanup;
		}
	} else if (!ind) {
		rc = fl_err_set(err, FL_EINVAL, "%s: indicator or indicatorRef is required", where);
		goto cleanup;
	}
	if ((rc = openslo_sli(def, json_object_get(ind, "spec"), where, err)) < 0)
		goto cleanup;
	/* The period: exactly one rolling time window. */
	tw = json_object_get(spec, "timeWindow");
	if (!json_is_array(tw) || json_array_size(tw) != 1) {
		rc = fl_err_set(err, FL_EINVAL, "%s: timeWindow must list exactly one window",
				where);
		goto cleanup;
	}
	tw = json_array_get(tw, 0);
	if (json_object_get(tw, "calendar") || json_is_false(json_object_get(tw, "isRolling"))) {
		rc = fl_err_set(err, FL_EINVAL,
				"%s: calendar time windows are not supported; Fairlead periods are "
				"rolling (isRolling: true)",
				where);
		goto cleanup;
	}
	if ((rc = openslo_duration(&secs, json_string_value(json_object_get(tw, "duration")),
				   "timeWindow duration", err)) < 0) {
		fl_err_prefix(err, "%s", where);
		goto cleanup;
	}
	{
		char dur[24];

		cp_slo_fmt_duration(dur, secs);
		json_object_set_new(def, "period", json_string(dur));
	}
	if ((s = json_string_value(json_object_get(spec, "budgetingMethod")))) {
		if (strcmp(s, "Occurrences") == 0) {
			json_object_set_new(def, "budgeting", json_string("occurrences"));
		} else if (strcmp(s, "Timeslices") == 0) {
			json_object_set_new(def, "budgeting", json_string("timeslices"));
		} else if (strcmp(s, "RatioTimeslices") == 0) {
			rc = fl_err_set(err, FL_EINVAL,
					"%s: budgetingMethod RatioTimeslices is not supported (an "
					"average of ratios misweights uneven traffic); use "
					"Occurrences or Timeslices",
					where);
			goto cleanup;
		} else {
			rc = fl_err_set(err, FL_EINVAL,
					"%s: budgetingMethod must be Occurrences or Timeslices",
					where);
			goto cleanup;
		}
	}
	/* The objective. */
	o = json_object_get(spec, "objectives");
	if (!json_is_array(o) || json_array_size(o) != 1) {
		rc = fl_err_set(err, FL_EINVAL, "%s: objectives must list exactly one objective",
				where);
		goto cleanup;
	}
	o = json_array_get(o, 0);
	if (!json_is_object(o) || (rc = fl_json_only(o, obj_allowed, err)) < 0) {
		rc = json_is_object(o)
			 ? fl_err_prefix(err, "%s objectives[0]", where)
			 : fl_err_set(err, FL_EINVAL, "%s: objectives[0] must be a mapping", where);
		goto cleanup;
	}
	if ((v = json_object_get(o, "target")) && json_is_number(v)) {
		json_object_set_new(def, "objective", json_real(json_number_value(v)));
	} else if ((v = json_object_get(o, "targetPercent")) && json_is_number(v)) {
		json_object_set_new(def, "objective", json_real(json_number_value(v) / 100.0));
	} else {
		rc = fl_err_set(err, FL_EINVAL,
				"%s: objectives[0] needs a numeric target or "
				"targetPercent",
				where);
		goto cleanup;
	}
	if ((v = json_object_get(o, "timeSliceTarget"))) {
		if (!json_is_number(v)) {
			rc = fl_err_set(err, FL_EINVAL, "%s: timeSliceTarget must be a number",
					where);
			goto cleanup;
		}
		json_object_set(def, "timeslice_target", v);
	}
	/* thresholdMetric objectives: "op: lte, value: 50" is the latency or
	 * carbon threshold unless the spec already gave one. */
	if ((v = json_object_get(o, "value"))) {
		json_t *sli = json_object_get(def, "sli");
		const char *kind = json_string_value(json_object_get(sli, "kind"));
		const char *op = json_string_value(json_object_get(o, "op"));
		const char *key =
		    kind && strcmp(kind, "carbon") == 0 ? "threshold_g" : "threshold_ms";

		if (!op || (strcmp(op, "lte") != 0 && strcmp(op, "lt") != 0) ||
		    !json_is_number(v)) {
			rc = fl_err_set(err, FL_EINVAL,
					"%s: objectives[0] value needs op lte (good when the "
					"measurement is at most value)",
					where);
			goto cleanup;
		}
		if (!kind || (strcmp(kind, "latency") != 0 && strcmp(kind, "carbon") != 0)) {
			rc = fl_err_set(
			    err, FL_EINVAL,
			    "%s: objectives[0] value applies to latency and carbon only", where);
			goto cleanup;
		}
		if (json_object_get(sli, key) &&
		    json_number_value(json_object_get(sli, key)) != json_number_value(v)) {
			rc = fl_err_set(err, FL_EINVAL,
					"%s: objectives[0] value differs from spec %s", where, key);
			goto cleanup;
		}
		json_object_set(sli, key, v);
	}
	{
		struct cp_slo check;
		json_t *canon = NULL;

		if ((rc = cp_slo_parse(&check, def, err)) < 0) {
			fl_err_prefix(err, "%s", where);
			goto cleanup;
		}
		if ((rc = cp_slo_to_json(&canon, &check)) < 0)
			goto cleanup;
		json_decref(def);
		def = canon;
	}
	*out = def;
	def = NULL;
cleanup:
	json_decref(def);
	return rc;
}

int cp_slo_from_openslo(json_t **out, const char *yaml, size_t len, struct fl_err *err)
{
	json_t *docs = NULL, *defs = NULL, *d, *def = NULL;
	size_t i;
	int rc;

	*out = NULL;
	if ((rc = fl_yaml_parse(&docs, yaml, len, err)) < 0)
		return rc;
	if (!(defs = json_array())) {
		rc = FL_ENOMEM;
		goto cleanup;
	}
	json_array_foreach (docs, i, d) {
		const char *api = json_string_value(json_object_get(d, "apiVersion"));
		const char *kind = json_string_value(json_object_get(d, "kind"));

		if (!json_is_object(d) || !api || strcmp(api, "openslo/v1") != 0) {
			rc = fl_err_set(err, FL_EINVAL,
					"document %zu: apiVersion must be openslo/v1", i + 1);
			goto cleanup;
		}
		if (!kind) {
			rc = fl_err_set(err, FL_EINVAL, "document %zu: kind is required", i + 1);
			goto cleanup;
		}
		if (strcmp(kind, "SLI") == 0 || strcmp(kind, "Service") == 0)
			continue; /* SLIs are read through indicatorRef; services are labels */
		if (strcmp(kind, "SLO") != 0) {
			rc = fl_err_set(
			    err, FL_EINVAL,
			    "document %zu: kind %.32s is not supported (only SLO, SLI and "
			    "Service; Fairlead applies its own burn-rate alerts)",
			    i + 1, kind);
			goto cleanup;
		}
		if ((rc = openslo_slo(&def, docs, d, i, err)) < 0)
			goto cleanup;
		for (size_t j = 0; j < json_array_size(defs); j++)
			if (strcmp(
				json_string_value(json_object_get(json_array_get(defs, j), "name")),
				json_string_value(json_object_get(def, "name"))) == 0) {
				rc = fl_err_set(err, FL_EINVAL, "SLO '%s' is defined twice",
						json_string_value(json_object_get(def, "name")));
				goto cleanup;
			}
		if (json_array_append_new(defs, def) < 0) {
			def = NULL;
			rc = FL_ENOMEM;
			goto cleanup;
		}
		def = NULL;
	}
	if (json_array_size(defs) == 0) {
		rc = fl_err_set(err, FL_EINVAL, "no OpenSLO v1 document of kind SLO found");
		goto cleanup;
	}
	*out = defs;
	defs = NULL;
cleanup:
	json_decref(def);
	json_decref(defs);
	json_decref(docs);
	return rc;
}

int cp_slo_parse_text(json_t **out, const char *text, size_t len, struct fl_err *err)
{
	size_t i = 0;

	*out = NULL;
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	if (i < len && text[i] == '{') {
		json_t *def = NULL, *canon = NULL;
		struct cp_slo slo;
		int rc;

		if ((rc = fl_json_parse_object(&def, text, len, err)) < 0)
			return rc;
		rc = cp_slo_parse(&slo, def, err);
		json_decref(def);
		if (rc < 0)
			return rc;
		if ((rc = cp_slo_to_json(&canon, &slo)) < 0)
			return rc;
		*out = json_pack("[o]", canon);
		return *out ? 0 : FL_ENOMEM;
	}
	return cp_slo_from_openslo(out, text, len, err);
}

/* ---- evaluation ---- */

static int64_t step_for(int64_t window_s)
{
	return window_s <= 3600 ? 60 : window_s <= 3 * 86400 ? 300 : 3600;
}

/* good and total of one aggregate in the SLO's units, and its events. */
static void agg_counts(double *good, double *total, double *events, const struct cp_slo *slo,
		       const struct cp_sli_agg *a)
{
	double g = 0, t = 0;

	switch (slo->kind) {
	case CP_SLO_UPTIME:
		g = a->up_s;
		t = a->expected_s;
		break;
	case CP_SLO_LATENCY:
		if (a->latency_ms) {
			t = (double)fl_sketch_count(a->latency_ms);
			g = (double)fl_sketch_count_le(a->latency_ms, slo->threshold);
		}
		break;
	case CP_SLO_ERRORS:
		t = (double)a->inferences;
		g = (double)(a->inferences - a->errors);
		break;
	case CP_SLO_DRIFT:
		t = (double)a->drift_checks;
		g = (double)(a->drift_checks - a->drift_alarms);
		break;
	case CP_SLO_CARBON:
		/* A step is one slice: good when its carbon per inference is
		 * within the threshold; steps without inferences do not count. */
		t = (double)a->inferences;
		g = t > 0 && a->carbon_g / t <= slo->threshold ? t : 0;
		break;
	}
	if (!(t > 0))
		t = 0;
	if (g < 0 || !isfinite(g))
		g = 0;
	if (g > t)
		g = t;
	*good = g;
	*total = t;
	*events = t;
}

/* Sums the last ceil(w/step) aggregates of a series ending at to. */
static void window_sum(struct cp_slo_window *w, const struct cp_slo *slo,
		       const struct cp_sli_agg *aggs, size_t n, int64_t step, int64_t to)
{
	size_t k = (size_t)((w->window_s + step - 1) / step);

	if (k > n)
		k = n;
	w->step = step;
	w->to = to;
	w->from = to - (int64_t)k * step;
	w->good = w->total = w->events = 0;
	for (size_t i = n - k; i < n; i++) {
		double g, t, e;

		agg_counts(&g, &t, &e, slo, &aggs[i]);
		w->events += e;
		if (slo->budgeting == CP_SLO_TIMESLICES) {
			if (t <= 0)
				continue;
			w->total += 1;
			if (slo->kind == CP_SLO_CARBON ? g >= t : g / t >= slo->timeslice_target)
				w->good += 1;
		} else {
			w->good += g;
			w->total += t;
		}
	}
	w->error_ratio = w->total > 0 ? (w->total - w->good) / w->total : 0;
	w->burn_rate = w->error_ratio / (1.0 - slo->objective);
}

/* Fills every window of one step from a single series: the longest window
 * of that step is fetched once and shorter ones are its suffixes. */
static int eval_step(struct cp_slo_window **ws, size_t nw, const struct cp_slo *slo,
		     cp_sli_source_fn src, void *ctx, int64_t step, int64_t now, struct fl_err *err)
{
	struct cp_sli_agg *aggs = NULL;
	size_t n = 0;
	/* The current, partial step counts: an alert should not wait for the
	 * minute to turn before it sees what was just reported. */
	int64_t to = (now / step + 1) * step, longest = 0;
	struct cp_sli_scope scope = {NULL, slo->selector, slo->release};
	int rc;

	for (size_t i = 0; i < nw; i++)
		if (ws[i]->step == step && ws[i]->window_s > longest)
			longest = ws[i]->window_s;
	if (!longest)
		return 0;
	longest = (longest + step - 1) / step * step;
	if ((rc = src(ctx, &aggs, &n, &scope, to - longest, to, step, err)) < 0)
		return rc;
	for (size_t i = 0; i < nw; i++)
		if (ws[i]->step == step)
			window_sum(ws[i], slo, aggs, n, step, to);
	cp_sli_aggs_free(aggs, n);
	return 0;
}

int cp_slo_evaluate(struct cp_slo_status *out, const struct cp_slo *slo, cp_sli_source_fn src,
		    void *ctx, int64_t now, struct fl_err *err)
{
	static const int64_t steps[] = {60, 300, 3600};
	struct cp_slo_window *ws[1 + 2 * CP_SLO_MAX_PAIRS];
	size_t nw = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->at = now;
	out->npairs = slo->npairs;
	out->period.window_s = slo->period_s;
	out->period.step = 3600;
	ws[nw++] = &out->period;
	for (size_t i = 0; i < slo->npairs; i++) {
		out->pairs[i].lw.window_s = slo->pairs[i].long_s;
		out->pairs[i].lw.step = step_for(slo->pairs[i].long_s);
		out->pairs[i].sw.window_s = slo->pairs[i].short_s;
		out->pairs[i].sw.step = step_for(slo->pairs[i].short_s);
		ws[nw++] = &out->pairs[i].lw;
		ws[nw++] = &out->pairs[i].sw;
	}
	for (size_t s = 0; s < FL_ARRAY_SIZE(steps); s++)
		if ((rc = eval_step(ws, nw, slo, src, ctx, steps[s], now, err)) < 0)
			return fl_err_prefix(err, "SLO %s", slo->name);
	out->budget_remaining = 1.0 - out->period.error_ratio / (1.0 - slo->objective);
	for (size_t i = 0; i < slo->npairs; i++) {
		struct cp_slo_pair_state *ps = &out->pairs[i];
		double f = slo->pairs[i].factor * (1 + BURN_EPS);

		ps->guarded = ps->lw.events < (double)slo->min_events ||
			      ps->sw.events < (double)slo->min_events;
		ps->firing = !ps->guarded && ps->lw.burn_rate > f && ps->sw.burn_rate > f;
		ps->budget_spent =
		    ps->lw.burn_rate * (double)slo->pairs[i].long_s / (double)slo->period_s;
		if (ps->lw.burn_rate > 0)
			ps->tte_s = (out->budget_remaining > 0 ? out->budget_remaining : 0) *
				    (double)slo->period_s / ps->lw.burn_rate;
		else
			ps->tte_s = -1;
	}
	return 0;
}

static json_t *window_json(const struct cp_slo_window *w)
{
	char dur[24];

	cp_slo_fmt_duration(dur, w->window_s);
	return json_pack("{s:s,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:f}", "window", dur, "step",
			 (json_int_t)w->step, "from", (json_int_t)w->from, "to", (json_int_t)w->to,
			 "good", w->good, "total", w->total, "events", w->events, "error_ratio",
			 w->error_ratio, "burn_rate", w->burn_rate);
}

int cp_slo_explanation(json_t **out, const struct cp_slo *slo, const struct cp_slo_status *st,
		       size_t pair)
{
	const struct cp_slo_pair *p = &slo->pairs[pair];
	const struct cp_slo_pair_state *ps = &st->pairs[pair];
	char name[56], period[24];

	cp_slo_pair_name(name, p);
	cp_slo_fmt_duration(period, slo->period_s);
	*out = json_pack(
	    "{s:s,s:s,s:f,s:f,s:f,s:f,s:f,s:f,s:o,s:f,s:s,s:I,s:b,s:o,s:o,s:I}", "severity",
	    p->severity, "pair", name, "factor", p->factor, "error_ratio_threshold",
	    p->factor * (1.0 - slo->objective), "burn_rate_long", ps->lw.burn_rate,
	    "burn_rate_short", ps->sw.burn_rate, "budget_spent", ps->budget_spent,
	    "budget_remaining", st->budget_remaining, "time_to_exhaustion_s",
	    ps->tte_s >= 0 ? json_real(ps->tte_s) : json_null(), "objective", slo->objective,
	    "period", period, "min_events", (json_int_t)slo->min_events, "guarded", ps->guarded,
	    "long", window_json(&ps->lw), "short", window_json(&ps->sw), "evaluated_at",
	    (json_int_t)st->at);
	return *out ? 0 : FL_ENOMEM;
}

int cp_slo_release_burn(double *out, const struct cp_slo *slo, const char *release,
			cp_sli_source_fn src, void *ctx, int64_t now, struct fl_err *err)
{
	struct cp_slo *one = NULL;
	struct cp_slo_status *st = NULL;
	size_t best = 0;
	int rc;

	*out = NAN;
	if (slo->npairs == 0)
		return 0;
	if (strlen(release) >= sizeof(one->release))
		return fl_err_set(err, FL_EINVAL, "release too long");
	/* Both are a few kilobytes: not on a controller thread's stack. */
	one = malloc(sizeof(*one));
	st = malloc(sizeof(*st));
	if (!one || !st) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	*one = *slo;
	snprintf(one->release, sizeof(one->release), "%s", release);
	/* Only the shortest pair matters: evaluating the others would fetch
	 * their (longer) windows for nothing. */
	for (size_t i = 1; i < slo->npairs; i++) {
		const struct cp_slo_pair *p = &slo->pairs[i], *b = &slo->pairs[best];

		if (p->long_s < b->long_s || (p->long_s == b->long_s && p->short_s < b->short_s))
			best = i;
	}
	one->pairs[0] = slo->pairs[best];
	one->npairs = 1;
	/* cp_slo_evaluate always sums the period too; nothing here reads it,
	 * so it is made as short as the pair's long window (one small query
	 * instead of a month of hours). */
	one->period_s = one->pairs[0].long_s;
	if ((rc = cp_slo_evaluate(st, one, src, ctx, now, err)) < 0)
		goto cleanup;
	if (!st->pairs[0].guarded)
		*out = fmin(st->pairs[0].lw.burn_rate, st->pairs[0].sw.burn_rate);
	rc = 0;
cleanup:
	free(one);
	free(st);
	return rc;
}

int cp_slo_status_json(json_t **out, const struct cp_slo *slo, const struct cp_slo_status *st)
{
	json_t *burns = json_object(), *alerts = json_array(), *s;

	*out = NULL;
	s = json_pack("{s:I,s:f,s:o,s:o,s:o}", "evaluated_at", (json_int_t)st->at,
		      "budget_remaining", st->budget_remaining, "period", window_json(&st->period),
		      "burn_rates", burns, "alerts", alerts);
	if (!s)
		return FL_ENOMEM;
	for (size_t i = 0; i < st->npairs; i++) {
		const struct cp_slo_pair_state *ps = &st->pairs[i];
		char l[24], sh[24];
		json_t *e = NULL;

		cp_slo_fmt_duration(l, ps->lw.window_s);
		cp_slo_fmt_duration(sh, ps->sw.window_s);
		json_object_set_new(burns, l, json_real(ps->lw.burn_rate));
		json_object_set_new(burns, sh, json_real(ps->sw.burn_rate));
		if (cp_slo_explanation(&e, slo, st, i) < 0 ||
		    json_object_set_new(e, "firing", json_boolean(ps->firing)) < 0 ||
		    json_array_append_new(alerts, e) < 0) {
			json_decref(s);
			return FL_ENOMEM;
		}
	}
	*out = s;
	return 0;
}

/* ---- the engine ---- */

struct slo_entry {
	struct cp_slo slo;
	struct cp_slo_status st;
	int has_status;
};

struct cp_slo_engine {
	struct cp_store *store;
	cp_sli_source_fn src;
	void *src_ctx;
	pthread_mutex_t lock; /* guards the cache and the flags below */
	pthread_cond_t cond;
	struct slo_entry *cache;
	size_t ncache;
	int running, stop, kicked, eval_ms;
	pthread_t thread;
	pthread_mutex_t eval_lock; /* one evaluation pass at a time */
};

int cp_slo_engine_new(struct cp_slo_engine **out, struct cp_store *store, cp_sli_source_fn src,
		      void *src_ctx, struct fl_err *err)
{
	struct cp_slo_engine *e = calloc(1, sizeof(*e));
	pthread_condattr_t ca;

	*out = NULL;
	if (!e)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	e->store = store;
	e->src = src;
	e->src_ctx = src_ctx;
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->eval_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = e;
	return 0;
}

static int find_open(const json_t *open, const char *slo, const char *sev, const char *pair)
{
	size_t i;
	json_t *a;

	json_array_foreach (open, i, a) {
		if (strcmp(json_string_value(json_object_get(a, "slo")), slo) == 0 &&
		    strcmp(json_string_value(json_object_get(a, "severity")), sev) == 0 &&
		    strcmp(json_string_value(json_object_get(a, "pair")), pair) == 0)
			return (int)i;
	}
	return -1;
}

int cp_slo_engine_eval(struct cp_slo_engine *e, int64_t now, struct fl_err *err)
{
	json_t *rows = NULL, *open = NULL, *row;
	struct slo_entry *ents = NULL;
	size_t n = 0, i;
	int rc;

	pthread_mutex_lock(&e->eval_lock);
	if ((rc = cp_store_slos_list(&rows, e->store, err)) < 0 ||
	    (rc = cp_store_alerts_list(&open, e->store, "firing", 100000, err)) < 0)
		goto cleanup;
	ents = calloc(json_array_size(rows) + 1, sizeof(*ents));
	if (!ents) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	json_array_foreach (rows, i, row) {
		struct slo_entry *en = &ents[n];
		struct fl_err e2 = {0, ""};

		if (cp_slo_parse(&en->slo, json_object_get(row, "definition"), &e2) < 0) {
			fl_log(FL_LOG_ERROR, "stored SLO %s is invalid: %s",
			       json_string_value(json_object_get(row, "name")), e2.msg);
			continue;
		}
		n++;
		if (!e->src)
			continue;
		if (cp_slo_evaluate(&en->st, &en->slo, e->src, e->src_ctx, now, &e2) < 0) {
			fl_log(FL_LOG_WARN, "%s", e2.msg);
			continue;
		}
		en->has_status = 1;
		for (size_t p = 0; p < en->slo.npairs; p++) {
			const struct cp_slo_pair *pr = &en->slo.pairs[p];
			json_t *expl = NULL;
			char pname[56];
			int at;
			int64_t id;

			cp_slo_pair_name(pname, pr);
			at = find_open(open, en->slo.name, pr->severity, pname);
			if (at < 0 && !en->st.pairs[p].firing)
				continue;
			if (cp_slo_explanation(&expl, &en->slo, &en->st, p) < 0) {
				rc = fl_err_set(err, FL_ENOMEM, "out of memory");
				goto cleanup;
			}
			if (at >= 0) {
				json_t *a = json_array_get(open, (size_t)at);

				id = json_integer_value(json_object_get(a, "id"));
				json_object_set_new(a, "_seen", json_true());
				rc = en->st.pairs[p].firing
					 ? cp_store_alert_update(e->store, id, expl, err)
					 : cp_store_alert_resolve(e->store, id, now, expl, err);
			} else {
				rc = cp_store_alert_open(&id, e->store, en->slo.name, pr->severity,
							 pname, now, expl, err);
				if (rc == 0)
					fl_log(FL_LOG_WARN, "SLO %s: %s alert %s firing",
					       en->slo.name, pr->severity, pname);
			}
			json_decref(expl);
			if (rc < 0)
				goto cleanup;
		}
	}
	/* Firing alerts of SLOs that were evaluated but no longer have the
	 * pair (the definition changed) are resolved; without a source
	 * nothing is judged, so nothing is resolved either. */
	json_array_foreach (open, i, row) {
		const char *slo = json_string_value(json_object_get(row, "slo"));
		int evaluated = 0;

		if (json_object_get(row, "_seen"))
			continue;
		for (size_t k = 0; k < n; k++)
			if (strcmp(ents[k].slo.name, slo) == 0 && ents[k].has_status)
				evaluated = 1;
		if (!evaluated)
			continue;
		rc =
		    cp_store_alert_resolve(e->store, json_integer_value(json_object_get(row, "id")),
					   now, json_object_get(row, "explanation"), err);
		if (rc < 0)
			goto cleanup;
	}
	pthread_mutex_lock(&e->lock);
	free(e->cache);
	e->cache = ents;
	e->ncache = n;
	ents = NULL;
	pthread_mutex_unlock(&e->lock);
	rc = 0;
cleanup:
	pthread_mutex_unlock(&e->eval_lock);
	free(ents);
	json_decref(rows);
	json_decref(open);
	return rc;
}

static void *engine_main(void *arg)
{
	struct cp_slo_engine *e = arg;

	pthread_mutex_lock(&e->lock);
	while (!e->stop) {
		struct fl_err err = {0, ""};
		struct timespec ts;

		pthread_mutex_unlock(&e->lock);
		if (cp_slo_engine_eval(e, fl_now(), &err) < 0)
			fl_log(FL_LOG_ERROR, "SLO evaluation failed: %s", err.msg);
		pthread_mutex_lock(&e->lock);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += e->eval_ms / 1000;
		ts.tv_nsec += (long)(e->eval_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!e->stop && !e->kicked)
			if (pthread_cond_timedwait(&e->cond, &e->lock, &ts) != 0)
				break;
		e->kicked = 0;
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

int cp_slo_engine_start(struct cp_slo_engine *e, int eval_ms, struct fl_err *err)
{
	e->eval_ms = eval_ms > 0 ? eval_ms : CP_SLO_EVAL_MS_DEFAULT;
	e->stop = 0;
	if (pthread_create(&e->thread, NULL, engine_main, e) != 0)
		return fl_err_set(err, FL_ERROR, "cannot start the SLO evaluator");
	e->running = 1;
	return 0;
}

void cp_slo_engine_kick(struct cp_slo_engine *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	e->kicked = 1;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

void cp_slo_engine_stop(struct cp_slo_engine *e)
{
	if (!e || !e->running)
		return;
	pthread_mutex_lock(&e->lock);
	e->stop = 1;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
	pthread_join(e->thread, NULL);
	e->running = 0;
}

void cp_slo_engine_free(struct cp_slo_engine *e)
{
	if (!e)
		return;
	cp_slo_engine_stop(e);
	free(e->cache);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	pthread_mutex_destroy(&e->eval_lock);
	free(e);
}

json_t *cp_slo_engine_status(struct cp_slo_engine *e, const char *name)
{
	json_t *out = NULL;

	if (!e)
		return NULL;
	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < e->ncache; i++)
		if (strcmp(e->cache[i].slo.name, name) == 0 && e->cache[i].has_status)
			cp_slo_status_json(&out, &e->cache[i].slo, &e->cache[i].st);
	pthread_mutex_unlock(&e->lock);
	return out;
}

/* Prometheus label values escape backslash, quote and newline. */
static int prom_label(struct fl_buf *b, const char *v)
{
	int rc = 0;

	for (const char *p = v; *p && rc == 0; p++) {
		if (*p == '\\')
			rc = fl_buf_puts(b, "\\\\");
		else if (*p == '"')
			rc = fl_buf_puts(b, "\\\"");
		else if (*p == '\n')
			rc = fl_buf_puts(b, "\\n");
		else
			rc = fl_buf_put(b, p, 1);
	}
	return rc;
}

static int prom_sample(struct fl_buf *b, const char *metric, const char *slo, const char *k2,
		       const char *v2, double value)
{
	int rc = fl_buf_addf(b, "%s{slo=\"", metric);

	if (rc == 0)
		rc = prom_label(b, slo);
	if (rc == 0 && k2) {
		rc = fl_buf_addf(b, "\",%s=\"", k2);
		if (rc == 0)
			rc = prom_label(b, v2);
	}
	if (rc == 0)
		rc = isfinite(value) ? fl_buf_addf(b, "\"} %.15g\n", value)
				     : fl_buf_addf(b, "\"} %s\n", value > 0 ? "+Inf" : "NaN");
	return rc;
}

int cp_slo_prom(struct fl_buf *out, struct cp_slo_engine *e)
{
	int rc = 0;

	if (!e)
		return 0;
	pthread_mutex_lock(&e->lock);
	rc = fl_buf_puts(out, "# HELP fairlead_slo_objective The SLO's objective (good ratio).\n"
			      "# TYPE fairlead_slo_objective gauge\n");
	for (size_t i = 0; i < e->ncache && rc == 0; i++)
		rc = prom_sample(out, "fairlead_slo_objective", e->cache[i].slo.name, NULL, NULL,
				 e->cache[i].slo.objective);
	if (rc == 0)
		rc = fl_buf_puts(out, "# HELP fairlead_slo_error_budget_remaining Share of the "
				      "period's error budget left (negative: overspent).\n"
				      "# TYPE fairlead_slo_error_budget_remaining gauge\n");
	for (size_t i = 0; i < e->ncache && rc == 0; i++)
		if (e->cache[i].has_status)
			rc = prom_sample(out, "fairlead_slo_error_budget_remaining",
					 e->cache[i].slo.name, NULL, NULL,
					 e->cache[i].st.budget_remaining);
	if (rc == 0)
		rc = fl_buf_puts(out, "# HELP fairlead_slo_burn_rate Error ratio over the window "
				      "divided by the error budget (1 - objective).\n"
				      "# TYPE fairlead_slo_burn_rate gauge\n");
	for (size_t i = 0; i < e->ncache && rc == 0; i++) {
		const struct slo_entry *en = &e->cache[i];
		char seen[2 * CP_SLO_MAX_PAIRS][24];
		size_t ns = 0;

		if (!en->has_status)
			continue;
		for (size_t p = 0; p < en->st.npairs && rc == 0; p++) {
			const struct cp_slo_window *w2[2] = {&en->st.pairs[p].lw,
							     &en->st.pairs[p].sw};

			for (size_t k = 0; k < 2 && rc == 0; k++) {
				char d[24];
				size_t s;

				cp_slo_fmt_duration(d, w2[k]->window_s);
				for (s = 0; s < ns; s++)
					if (strcmp(seen[s], d) == 0)
						break;
				if (s < ns)
					continue; /* each name+labels once */
				snprintf(seen[ns++], sizeof(seen[0]), "%s", d);
				rc = prom_sample(out, "fairlead_slo_burn_rate", en->slo.name,
						 "window", d, w2[k]->burn_rate);
			}
		}
	}
	if (rc == 0)
		rc = fl_buf_puts(out, "# HELP fairlead_alerts_firing Burn-rate alerts firing, by "
				      "SLO and severity.\n"
				      "# TYPE fairlead_alerts_firing gauge\n");
	for (size_t i = 0; i < e->ncache && rc == 0; i++) {
		const struct slo_entry *en = &e->cache[i];
		static const char *const sevs[] = {"page", "ticket"};

		for (size_t s = 0; s < 2 && rc == 0; s++) {
			int firing = 0;

			for (size_t p = 0; en->has_status && p < en->st.npairs; p++)
				if (en->st.pairs[p].firing &&
				    strcmp(en->slo.pairs[p].severity, sevs[s]) == 0)
					firing++;
			rc = prom_sample(out, "fairlead_alerts_firing", en->slo.name, "severity",
					 sevs[s], firing);
		}
	}
	pthread_mutex_unlock(&e->lock);
	return rc;
}

/* ---- SLO files ---- */

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && strcmp(s + n - m, suf) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int cp_slo_load_dir(struct cp_store *store, const char *dir, struct fl_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	json_t *all = NULL, *origin = NULL;
	int rc = 0;

	if (!d)
		return fl_fs_exists(dir)
			   ? fl_err_set(err, FL_ERROR, "cannot read SLO directory %s", dir)
			   : 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' ||
		    !(has_suffix(de->d_name, ".json") || has_suffix(de->d_name, ".yaml") ||
		      has_suffix(de->d_name, ".yml")))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*nn));

			if (!nn) {
				rc = fl_err_set(err, FL_ENOMEM, "out of memory");
				goto cleanup;
			}
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	all = json_array();
	origin = json_object();
	if (!all || !origin) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		struct fl_buf b = FL_BUF_INIT;
		char path[4096];
		json_t *defs = NULL, *def;
		size_t j;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fl_buf_init(&b, FL_YAML_MAX_BYTES);
		rc = fl_fs_read(&b, path, err);
		if (rc == 0)
			rc = cp_slo_parse_text(&defs, fl_buf_cstr(&b), b.len, err);
		fl_buf_release(&b);
		if (rc < 0) {
			fl_err_prefix(err, "SLO file %s", path);
			goto cleanup;
		}
		json_array_foreach (defs, j, def) {
			const char *name = json_string_value(json_object_get(def, "name"));
			const char *prev = json_string_value(json_object_get(origin, name));

			if (prev) {
				rc = fl_err_set(err, FL_EINVAL,
						"SLO file %s: SLO '%s' is also defined in %s", path,
						name, prev);
				json_decref(defs);
				goto cleanup;
			}
			json_object_set_new(origin, name, json_string(names[i]));
			json_array_append(all, def);
		}
		json_decref(defs);
	}
	rc = cp_store_slos_replace_files(store, all, fl_now(), err);
	if (rc == 0 && n)
		fl_log(FL_LOG_INFO, "loaded %zu SLOs from %zu files in %s", json_array_size(all), n,
		       dir);
cleanup:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	json_decref(all);
	json_decref(origin);
	return rc;
}

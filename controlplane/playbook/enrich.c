/*
 * enrich.c - an event of the log as playbooks see it. The log keeps what
 * happened, small; a playbook wants to filter on the SLI of the SLO that
 * fired, the labels of its cohort and the rollout it is about. Those are
 * looked up here, once per round for every event of it.
 */
#include <math.h>
#include <string.h>

#include "core/slo.h"
#include "fairlead/selector.h"
#include "playbook/engine_int.h"
#include "store/store.h"

void pb_round_caches_drop(struct cp_pb_engine *e)
{
	json_decref(e->slos);
	json_decref(e->rollouts);
	json_decref(e->slo_root);
	json_decref(e->peers);
	e->slos = e->rollouts = e->slo_root = e->peers = NULL;
}

/* A value for json_pack's "O": null when absent. */
static json_t *nz(const json_t *v)
{
	return v ? (json_t *)(uintptr_t)v : json_null();
}

static const json_t *slo_def(struct cp_pb_engine *e, const char *name)
{
	if (!e->slos) {
		struct fl_err err = {0, ""};
		json_t *rows = NULL, *row;
		size_t i;

		e->slos = json_object();
		if (cp_store_slos_list(&rows, e->d.store, &err) == 0)
			json_array_foreach (rows, i, row)
				json_object_set(e->slos,
						json_string_value(json_object_get(row, "name")),
						json_object_get(row, "definition"));
		json_decref(rows);
	}
	return name ? json_object_get(e->slos, name) : NULL;
}

static const json_t *active_rollouts(struct cp_pb_engine *e)
{
	if (!e->rollouts) {
		struct fl_err err = {0, ""};

		if (cp_store_rollouts_list(&e->rollouts, e->d.store, "active", 100, &err) < 0)
			e->rollouts = json_array();
	}
	return e->rollouts;
}

/* The labels a selector pins ({} for none or a bad one). */
static json_t *selector_labels(const char *sel)
{
	struct fl_selector *s = NULL;
	struct fl_err err = {0, ""};
	json_t *l;

	if (!sel || fl_selector_parse(&s, sel, &err) < 0)
		return json_object();
	l = fl_selector_labels(s);
	fl_selector_free(s);
	return l ? l : json_object();
}

static json_t *release_view(const char *text)
{
	const char *at = text ? strchr(text, '@') : NULL;

	if (!at)
		return NULL;
	return json_pack("{s:s,s:s%,s:s}", "id", text, "name", text, (size_t)(at - text), "version",
			 at + 1);
}

/* The rollout an alert is about: the active one of the SLO's release, else
 * the one whose devices the SLO's selector names (a canary SLO selects the
 * rollout's cohort), else the newest active one. */
static const json_t *alert_rollout(struct cp_pb_engine *e, const char *release, const json_t *lab)
{
	const json_t *ros = active_rollouts(e), *r, *best = NULL;
	size_t i;

	json_array_foreach ((json_t *)(uintptr_t)ros, i, r) {
		const char *rel = json_string_value(json_object_get(r, "release"));
		json_t *rl;
		int overlap = 1;
		const char *k;
		json_t *v;

		if (release && rel && strcmp(rel, release) == 0)
			return r;
		rl = selector_labels(json_string_value(json_object_get(r, "selector")));
		json_object_foreach (rl, k, v)
			if (!json_equal(json_object_get(lab, k), v) && json_object_get(lab, k))
				overlap = 0;
		json_decref(rl);
		if (!best && overlap)
			best = r;
	}
	return best ? best : json_array_get(ros, 0);
}

static int alert_view(struct cp_pb_engine *e, json_t *ev, const json_t *body)
{
	const char *slo = json_string_value(json_object_get(body, "slo"));
	const json_t *def = slo_def(e, slo), *expl = json_object_get(body, "explanation");
	const char *sel = json_string_value(json_object_get(def, "selector"));
	const char *rel = json_string_value(json_object_get(def, "release"));
	const char *sli = json_string_value(json_object_get(json_object_get(def, "sli"), "kind"));
	json_t *labels = selector_labels(sel), *alert, *relv;
	const json_t *ro;

	alert = json_pack("{s:O,s:O,s:O,s:s?,s:O,s:O}", "id", json_object_get(body, "alert_id"),
			  "severity", json_object_get(body, "severity"), "pair",
			  json_object_get(body, "pair"), "sli", sli, "burn_rate",
			  nz(json_object_get(expl, "burn_rate_long")), "explanation",
			  expl ? expl : json_null());
	if (!alert) {
		json_decref(labels);
		return FL_ENOMEM;
	}
	/* an alert a playbook raised says so (alert.raise) */
	if (json_is_string(json_object_get(expl, "playbook")))
		json_object_set(alert, "playbook", json_object_get(expl, "playbook"));
	json_object_set_new(
	    alert, "source",
	    json_string(json_is_string(json_object_get(expl, "playbook")) ? "playbook" : "slo"));
	json_object_set_new(ev, "alert", alert);
	json_object_set_new(ev, "cohort", json_string(sel ? sel : ""));
	ro = alert_rollout(e, rel, labels);
	json_object_set_new(ev, "labels", labels);
	if (ro)
		json_object_set_new(ev, "rollout",
				    json_pack("{s:O,s:O,s:O,s:O}", "id", json_object_get(ro, "id"),
					      "release", json_object_get(ro, "release"), "state",
					      json_object_get(ro, "state"), "stage",
					      json_object_get(ro, "stage")));
	if (!rel && ro)
		rel = json_string_value(json_object_get(ro, "release"));
	if ((relv = release_view(rel)))
		json_object_set_new(ev, "release", relv);
	/* a drift SLO's numbers: how far past its budget the cohort drifts */
	if (sli && strcmp(sli, "drift") == 0 && expl)
		json_object_set_new(
		    ev, "drift",
		    json_pack("{s:O,s:O,s:O,s:O}", "burn_rate",
			      nz(json_object_get(expl, "burn_rate_long")), "error_ratio",
			      nz(json_object_get(json_object_get(expl, "long"), "error_ratio")),
			      "budget_spent", nz(json_object_get(expl, "budget_spent")), "window",
			      nz(json_object_get(expl, "long"))));
	return 0;
}

/* How much of each group the device is in is offline with it: for each of
 * its labels, {"value","devices","offline","offline_ratio"} of the accepted
 * devices with that label value (offline: not seen since before, the
 * event's threshold). Counted once per round and group. */
static int offline_peers(struct cp_pb_engine *e, json_t *ev, const json_t *labels, int64_t before)
{
	json_t *peers = json_object();
	const char *k;
	json_t *v;
	int n = 0;

	if (!peers)
		return FL_ENOMEM;
	if (!e->peers && !(e->peers = json_object())) {
		json_decref(peers);
		return FL_ENOMEM;
	}
	json_object_foreach ((json_t *)(uintptr_t)labels, k, v) {
		char key[320];
		json_t *c;

		if (!json_is_string(v) || n++ >= 16)
			continue;
		snprintf(key, sizeof(key), "%lld\n%s\n%s", (long long)before, k,
			 json_string_value(v));
		if (!(c = json_object_get(e->peers, key))) {
			struct fl_err err = {0, ""};
			int64_t total = 0, off = 0;

			if (cp_store_devices_label_count(&total, &off, e->d.store, k,
							 json_string_value(v), before, &err) < 0)
				continue;
			c = json_pack("{s:O,s:I,s:I,s:f}", "value", v, "devices", (json_int_t)total,
				      "offline", (json_int_t)off, "offline_ratio",
				      total ? (double)off / (double)total : 0.0);
			if (!c || json_object_set_new(e->peers, key, c) < 0)
				continue;
		}
		json_object_set(peers, k, c);
	}
	json_object_set_new(ev, "peers", peers);
	return 0;
}

int pb_event_view(json_t **out, struct cp_pb_engine *e, const json_t *row, struct fl_err *err)
{
	const char *kind = json_string_value(json_object_get(row, "kind"));
	const json_t *body = json_object_get(row, "body");
	/* shallow: the view only adds top-level keys, and the row is the
	 * view's alone once this returns */
	json_t *ev = json_is_object(body) ? json_copy((json_t *)(uintptr_t)body) : json_object();
	int rc = 0;

	*out = NULL;
	if (!ev || !kind)
		goto oom;
	json_object_set_new(ev, "kind", json_string(kind));
	json_object_set(ev, "seq", json_object_get(row, "seq"));
	json_object_set(ev, "at", json_object_get(row, "at"));
	json_object_set(ev, "subject", json_object_get(row, "subject"));
	if (strncmp(kind, "alert.", 6) == 0) {
		rc = alert_view(e, ev, body);
	} else if (strncmp(kind, "device.", 7) == 0) {
		const json_t *dev = json_object_get(body, "device");
		const json_t *l = json_object_get(dev, "labels");

		if (!json_object_get(ev, "labels"))
			json_object_set_new(
			    ev, "labels", l ? json_incref((json_t *)(uintptr_t)l) : json_object());
		if (strcmp(kind, "device.offline") == 0)
			rc = offline_peers(e, ev, l,
					   json_integer_value(json_object_get(row, "at")) -
					       json_integer_value(json_object_get(body, "for_s")));
	} else if (strncmp(kind, "rollout.", 8) == 0) {
		const json_t *ro = json_object_get(body, "rollout");
		json_t *relv = release_view(json_string_value(json_object_get(ro, "release")));

		json_object_set_new(
		    ev, "labels",
		    selector_labels(json_string_value(json_object_get(ro, "selector"))));
		if (relv)
			json_object_set_new(ev, "release", relv);
	}
	if (rc < 0)
		goto oom;
	*out = ev;
	return 0;
oom:
	json_decref(ev);
	return fl_err_set(err, FL_ENOMEM, "out of memory");
}

static double status_burn(const json_t *st)
{
	const json_t *v;
	const char *k;
	double best = NAN;

	json_object_foreach ((json_t *)(uintptr_t)json_object_get(st, "burn_rates"), k, v)
		if (json_is_number(v) && (isnan(best) || json_number_value(v) > best))
			best = json_number_value(v);
	return best;
}

json_t *pb_slo_root(struct cp_pb_engine *e)
{
	const char *name;
	const json_t *def;

	if (e->slo_root)
		return e->slo_root;
	e->slo_root = json_object();
	slo_def(e, NULL);
	json_object_foreach (e->slos, name, def) {
		json_t *st = e->d.slo ? cp_slo_engine_status(e->d.slo, name) : NULL, *a;
		double burn = status_burn(st);
		int firing = 0;
		size_t i;

		(void)def;
		if (!st)
			continue;
		json_array_foreach (json_object_get(st, "alerts"), i, a)
			firing |= json_is_true(json_object_get(a, "firing"));
		json_object_set_new(
		    e->slo_root, name,
		    json_pack("{s:O,s:o,s:b}", "budget_remaining",
			      nz(json_object_get(st, "budget_remaining")), "burn_rate",
			      isnan(burn) ? json_null() : json_real(burn), "firing", firing));
		json_decref(st);
	}
	return e->slo_root;
}

/* The burn that halts a run: per alert pair the lower of its two windows,
 * as an alert judges (one bad minute alone is no burn), the highest over
 * the pairs with enough events to judge; NaN when none has. */
static double status_halt_burn(const json_t *st)
{
	const json_t *a;
	double best = NAN;
	size_t i;

	json_array_foreach ((json_t *)(uintptr_t)json_object_get(st, "alerts"), i, a) {
		double l = json_number_value(json_object_get(a, "burn_rate_long"));
		double s = json_number_value(json_object_get(a, "burn_rate_short"));
		double b = l < s ? l : s;

		if (json_is_true(json_object_get(a, "guarded")) || isnan(b))
			continue;
		if (isnan(best) || b > best)
			best = b;
	}
	return best;
}

double pb_slo_burn(struct cp_pb_engine *e, const char *slo)
{
	json_t *st = e->d.slo ? cp_slo_engine_status(e->d.slo, slo) : NULL;
	double burn = status_halt_burn(st);

	json_decref(st);
	return burn;
}

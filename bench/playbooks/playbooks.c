/*
 * fairlead-bench-playbooks - figure 8: the playbook engine on the server's
 * side, against a real store. Prints one JSON object.
 *
 *   fairlead-bench-playbooks [--playbooks P] [--events N] [--devices D]
 *                            [--trials T] [--dir DIR]
 *
 * Throughput: P playbooks of every trigger kind are loaded, with conditions,
 * globs, label filters and throttles; N events of the kinds they watch (SLO
 * alerts, failed updates, state changes, gate failures) are appended to the
 * event log (not timed); then engine rounds run until every event was read,
 * given its context, matched against every playbook and throttled; the
 * runs that fire are stored. events_per_s is N over that time.
 *
 * Latency: the engine's own thread at its default tick; each trial appends
 * one deciding event (an SLO page) and waits until the action of the run it
 * starts (an alert raised) is in the store. The figure is the median and the
 * worst of T trials: the whole path an alert takes to its first action.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/registry.h"
#include "fairlead/crypto.h"
#include "fairlead/log.h"
#include "playbook/engine.h"
#include "playbook/format.h"
#include "store/store.h"

#define T0 1900000000LL

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void die(const char *what, const struct fl_err *err)
{
	fprintf(stderr, "fairlead-bench-playbooks: %s: %s\n", what, err ? err->msg : "failed");
	exit(1);
}

static void put(struct cp_store *s, const char *text)
{
	struct fl_err err = {0, ""};
	json_t *pb = NULL;
	int changed;

	if (cp_pb_parse(&pb, text, strlen(text), "bench.yaml", &err) < 0 ||
	    cp_store_playbook_put(&changed, s, pb, "api", T0, NULL, &err) < 0)
		die("playbook", &err);
	json_decref(pb);
}

/* P playbooks, a quarter of each family: SLO pages by glob and SLI, failed
 * updates counted per device, state changes by label, gate failures. Few
 * fire: the figure is the evaluation, not the stores of runs. */
static void load_playbooks(struct cp_store *s, int p)
{
	char text[1024];

	for (int i = 0; i < p; i++) {
		switch (i % 4) {
		case 0:
			snprintf(
			    text, sizeof(text),
			    "name: alert-%d\nversion: 1\ntrigger: {type: alert.firing, slo: "
			    "'svc-%d-*', severity: page}\n"
			    "condition: 'event.alert.sli in [\"latency\", \"errors\"] or "
			    "event.slo matches \"*-canary\"'\n"
			    "throttle: {once_within: 1h, key: [event.slo]}\n"
			    "steps:\n  - {name: a, action: alert.raise, params: {name: 'pb-%d', "
			    "severity: ticket}}\n",
			    i, i, i);
			break;
		case 1:
			snprintf(
			    text, sizeof(text),
			    "name: upd-%d\nversion: 1\ntrigger: {type: device.update_failed, "
			    "labels: {site: s%d}}\n"
			    "throttle: {threshold: {count: 20, within: 24h}, key: "
			    "[event.device.id]}\n"
			    "steps:\n  - {name: a, action: alert.raise, params: {name: 'pb-%d', "
			    "severity: ticket}}\n",
			    i, i % 10, i);
			break;
		case 2:
			snprintf(
			    text, sizeof(text),
			    "name: st-%d\nversion: 1\ntrigger: {type: device.state_changed, to: "
			    "quarantined}\n"
			    "condition: 'event.device.labels.site == \"s%d\" and not "
			    "(event.reason contains \"test\")'\n"
			    "throttle: {once_after: 10m, key: [event.device.labels.site]}\n"
			    "steps:\n  - {name: a, action: alert.raise, params: {name: 'pb-%d', "
			    "severity: ticket}}\n",
			    i, i % 10, i);
			break;
		default:
			snprintf(
			    text, sizeof(text),
			    "name: gate-%d\nversion: 1\ntrigger: {type: rollout.gate_failed, "
			    "labels: {stage: canary, site: s%d}}\n"
			    "throttle: {once_within: 30m, key: [event.rollout.id]}\n"
			    "steps:\n  - {name: a, action: alert.raise, params: {name: 'pb-%d', "
			    "severity: ticket}}\n",
			    i, i % 40, i);
		}
		put(s, text);
	}
	put(s, "name: probe\nversion: 1\ntrigger: {type: alert.firing, slo: 'probe-*'}\n"
	       "steps:\n  - {name: a, action: alert.raise, params: {name: 'hit-{{ event.slo }}', "
	       "severity: ticket}}\n");
}

static void append_events(struct cp_store *s, int n, int ndev)
{
	struct fl_err err = {0, ""};

	for (int i = 0; i < n; i++) {
		char body[512], subj[64];
		const char *kind;
		json_t *b;
		int64_t seq;
		/* spread over the fleet: each device fails a few times */
		int d = (int)(((int64_t)i * 7919) % ndev);

		switch (i % 4) {
		case 0:
			kind = "alert.firing";
			snprintf(subj, sizeof(subj), "svc-%d-%d", i % 200, i % 7);
			snprintf(body, sizeof(body),
				 "{\"alert_id\": %d, \"slo\": \"%s\", \"severity\": \"page\", "
				 "\"pair\": \"1h/5m\", \"explanation\": {\"burn_rate_long\": 3.2}}",
				 i, subj);
			break;
		case 1:
			kind = "device.update_failed";
			snprintf(subj, sizeof(subj), "dev-%05d", d);
			snprintf(
			    body, sizeof(body),
			    "{\"device\": {\"id\": \"%s\", \"labels\": {\"site\": \"s%d\"}, "
			    "\"state\": \"accepted\"}, \"update\": {\"release\": \"fw@1.0.%d\", "
			    "\"state\": \"failed\"}}",
			    subj, d % 10, i);
			break;
		case 2:
			kind = "device.state_changed";
			snprintf(subj, sizeof(subj), "dev-%05d", d);
			snprintf(body, sizeof(body),
				 "{\"device\": {\"id\": \"%s\", \"labels\": {\"site\": \"s%d\"}, "
				 "\"state\": \"quarantined\"}, \"from\": \"accepted\", \"to\": "
				 "\"quarantined\", \"reason\": \"bench\"}",
				 subj, d % 10);
			break;
		default:
			kind = "rollout.gate_failed";
			snprintf(subj, sizeof(subj), "ro-%d", i % 5);
			snprintf(
			    body, sizeof(body),
			    "{\"rollout\": {\"id\": \"%s\", \"release\": \"det@2.0.0\", "
			    "\"selector\": \"stage=canary,site=s%d\", \"stage\": 0, \"state\": "
			    "\"aborted\"}}",
			    subj, i % 5);
		}
		if (!(b = json_loads(body, 0, NULL)))
			die("event body", NULL);
		if (cp_store_event_append(&seq, s, kind, subj, b, T0 + i / 1000, &err) < 0)
			die("append", &err);
		json_decref(b);
	}
}

static int hit(struct cp_store *s, const char *name)
{
	struct fl_err err = {0, ""};
	json_t *rows = NULL, *r;
	size_t i;
	int found = 0;

	if (cp_store_alerts_list(&rows, s, "firing", 50, &err) < 0)
		die("alerts", &err);
	json_array_foreach (rows, i, r)
		found |= strcmp(json_string_value(json_object_get(r, "slo")), name) == 0;
	json_decref(rows);
	return found;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"playbooks", required_argument, NULL, 'p'}, {"events", required_argument, NULL, 'n'},
	    {"devices", required_argument, NULL, 'd'},	 {"trials", required_argument, NULL, 't'},
	    {"dir", required_argument, NULL, 'D'},	 {NULL, 0, NULL, 0}};
	int np = 100, nev = 100000, ndev = 10000, trials = 20, c;
	char dir[512] = "", path[600];
	struct fl_err err = {0, ""};
	struct cp_store *s = NULL;
	struct cp_registry *reg = NULL;
	struct cp_pb_engine *e = NULL;
	struct cp_pb_engine_deps deps = {0};
	struct cp_pb_engine_stats st;
	double t, elapsed, *lat;
	int64_t before;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': np = atoi(optarg); break;
		case 'n': nev = atoi(optarg); break;
		case 'd': ndev = atoi(optarg); break;
		case 't': trials = atoi(optarg); break;
		case 'D': snprintf(dir, sizeof(dir), "%s", optarg); break;
		default: return 2;
		}
	}
	if (np < 1 || nev < 1 || ndev < 1 || trials < 1)
		return 2;
	fl_log_set_level(FL_LOG_ERROR);
	if (fl_crypto_init() < 0)
		die("crypto", NULL);
	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/flbench-pb.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir))
			die("mkdtemp", NULL);
	}
	snprintf(path, sizeof(path), "%s/fairlead.db", dir);
	if (cp_store_open(&s, path, -1, &err) < 0 || cp_registry_new(&reg, &err) < 0)
		die("store", &err);
	for (int i = 0; i < ndev; i++) {
		struct cp_enrollment en = {0};
		char id[16], keyid[16], pub[64];
		json_t *labels = json_pack("{s:s}", "site", "s0"), *inv = json_object();

		snprintf(id, sizeof(id), "dev-%05d", i);
		snprintf(keyid, sizeof(keyid), "k%05d", i);
		snprintf(pub, sizeof(pub), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%05d=", i);
		en.device_id = id;
		en.pubkey_b64 = pub;
		en.keyid = keyid;
		en.state = "accepted";
		en.labels = labels;
		en.inventory = inv;
		en.now = T0;
		if (cp_store_device_enroll(s, &en, NULL, &err) < 0)
			die("enroll", &err);
		json_decref(labels);
		json_decref(inv);
	}
	if (cp_registry_load(reg, s, &err) < 0)
		die("registry", &err);
	load_playbooks(s, np);
	deps.store = s;
	deps.reg = reg;
	if (cp_pb_engine_new(&e, &deps, &err) < 0 || cp_pb_engine_round(e, &err) < 0)
		die("engine", &err);

	/* throughput: rounds until every event was evaluated */
	append_events(s, nev, ndev);
	cp_pb_engine_stats(&st, e);
	before = st.events;
	t = now_ms();
	do {
		if (cp_pb_engine_round(e, &err) < 0)
			die("round", &err);
		cp_pb_engine_stats(&st, e);
	} while (st.events - before < nev);
	elapsed = now_ms() - t;

	/* latency: the engine's thread, an SLO page, its first action */
	if (!(lat = calloc((size_t)trials, sizeof(*lat))) ||
	    cp_pb_engine_start(e, CP_PB_TICK_MS_DEFAULT, &err) < 0)
		die("start", &err);
	/* trial -1 is a warm-up: the burst above leaves the throttles' states
	 * to be written once, which the first round after it does */
	for (int i = -1; i < trials; i++) {
		char slo[32], want[48], body[160];
		json_t *b;
		int64_t seq;

		snprintf(slo, sizeof(slo), "probe-%d", i);
		snprintf(want, sizeof(want), "hit-%s", slo);
		snprintf(body, sizeof(body),
			 "{\"alert_id\": %d, \"slo\": \"%s\", \"severity\": \"page\", \"pair\": "
			 "\"1h/5m\"}",
			 900000 + i, slo);
		b = json_loads(body, 0, NULL);
		/* a trial starts at a random point of the tick, as an alert does */
		usleep((useconds_t)(37000 * ((i + 7) % 7)));
		t = now_ms();
		if (cp_store_event_append(&seq, s, "alert.firing", slo, b, T0, &err) < 0)
			die("append", &err);
		json_decref(b);
		while (!hit(s, want)) {
			if (now_ms() - t > 10000)
				die("the probe's action never came", NULL);
			usleep(2000);
		}
		if (i >= 0)
			lat[i] = now_ms() - t;
	}
	cp_pb_engine_stop(e);
	qsort(lat, (size_t)trials, sizeof(*lat), cmp_double);
	cp_pb_engine_stats(&st, e);
	printf("{\"playbooks\": %d, \"events\": %d, \"devices\": %d, \"eval_ms\": %.1f, "
	       "\"events_per_s\": %.0f, \"runs\": %lld, \"trials\": %d, "
	       "\"first_action_ms\": {\"p50\": %.1f, \"p90\": %.1f, \"max\": %.1f}, "
	       "\"tick_ms\": %d}\n",
	       np + 1, nev, ndev, elapsed, nev / (elapsed / 1e3), (long long)st.runs, trials,
	       lat[trials / 2], lat[(trials * 9) / 10], lat[trials - 1], CP_PB_TICK_MS_DEFAULT);
	free(lat);
	cp_pb_engine_free(e);
	cp_registry_free(reg);
	cp_store_free(s);
	return 0;
}

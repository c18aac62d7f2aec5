/* test_engine.c - the playbook engine against a real store, registry and
 * director with a fake clock: events into runs through throttles, a storm
 * that yields exactly the runs its throttle allows, approvals bound to the
 * plan's hash (a changed plan refused), the blast radius and concurrency of
 * device commands, resuming after a crash without a second command,
 * retries, schedules and offline reports. */
#include <string.h>
#include <unistd.h>

#include "core/devices.h"
#include "core/registry.h"
#include "fairlead/crypto.h"
#include "fl_test.h"
#include "playbook/engine.h"
#include "playbook/format.h"
#include "store/store.h"

#define NOW  1900000000LL /* a Monday, 2030-03-18 17:46:40 UTC... near enough */
#define NDEV 20

static int64_t clk = NOW;

static int64_t fake_now(void *ctx)
{
	(void)ctx;
	return clk;
}

struct fx {
	char path[512];
	struct cp_store *s;
	struct cp_registry *reg;
	struct cp_pb_engine *e;
};

static void open_engine(struct fx *f)
{
	struct fl_err err = {0, ""};
	struct cp_pb_engine_deps d = {0};

	cr_assert_eq(cp_store_open(&f->s, f->path, -1, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_registry_new(&f->reg, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_registry_load(f->reg, f->s, &err), 0, "%s", err.msg);
	d.store = f->s;
	d.reg = f->reg;
	d.now = fake_now;
	cr_assert_eq(cp_pb_engine_new(&f->e, &d, &err), 0, "%s", err.msg);
}

static void close_engine(struct fx *f)
{
	cp_pb_engine_free(f->e);
	cp_registry_free(f->reg);
	cp_store_free(f->s);
	f->e = NULL;
	f->reg = NULL;
	f->s = NULL;
}

/* NDEV accepted devices dev-00.. labelled fleet=a and site=s0..s3. */
static void setup(struct fx *f)
{
	struct fl_err err = {0, ""};

	clk = NOW;
	cr_assert_eq(fl_crypto_init(), 0);
	snprintf(f->path, sizeof(f->path), "%s/fairlead.db", fl_test_tmpdir());
	cr_assert_eq(cp_store_open(&f->s, f->path, -1, &err), 0, "%s", err.msg);
	for (int i = 0; i < NDEV; i++) {
		struct cp_enrollment en = {0};
		char id[16], keyid[16], pub[64], site[8];
		json_t *labels, *inv = json_object();

		snprintf(id, sizeof(id), "dev-%02d", i);
		snprintf(keyid, sizeof(keyid), "k%02d", i);
		snprintf(site, sizeof(site), "s%d", i % 4);
		snprintf(pub, sizeof(pub), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%02d=", i);
		labels = json_pack("{s:s,s:s}", "fleet", "a", "site", site);
		en.device_id = id;
		en.pubkey_b64 = pub;
		en.keyid = keyid;
		en.state = "accepted";
		en.labels = labels;
		en.inventory = inv;
		en.now = NOW;
		cr_assert_eq(cp_store_device_enroll(f->s, &en, NULL, &err), 0, "%s", err.msg);
		json_decref(labels);
		json_decref(inv);
	}
	cp_store_free(f->s);
	f->s = NULL;
	open_engine(f);
}

static void teardown(struct fx *f)
{
	close_engine(f);
}

static void apply(struct fx *f, const char *yaml)
{
	struct fl_err err = {0, ""};
	json_t *pb = NULL;
	int changed = 0;

	cr_assert_eq(cp_pb_parse(&pb, yaml, strlen(yaml), "t.yaml", &err), 0, "%s", err.msg);
	cr_assert_eq(cp_store_playbook_put(&changed, f->s, pb, "api", clk, NULL, &err), 0, "%s",
		     err.msg);
	json_decref(pb);
}

static void round_ok(struct fx *f)
{
	struct fl_err err = {0, ""};

	cr_assert_eq(cp_pb_engine_round(f->e, &err), 0, "round: %s", err.msg);
}

static void event(struct fx *f, const char *kind, const char *subject, const char *body_json)
{
	struct fl_err err = {0, ""};
	json_t *body = json_loads(body_json, 0, NULL);
	int64_t seq;

	cr_assert_not_null(body, "bad body %s", body_json);
	cr_assert_eq(cp_store_event_append(&seq, f->s, kind, subject, body, clk, &err), 0, "%s",
		     err.msg);
	json_decref(body);
}

static json_t *runs(struct fx *f, const char *playbook)
{
	struct fl_err err = {0, ""};
	json_t *r = NULL;

	cr_assert_eq(cp_store_runs_list(&r, f->s, playbook, NULL, 1000, &err), 0, "%s", err.msg);
	return r;
}

static json_t *run_of(struct fx *f, const char *playbook)
{
	struct fl_err err = {0, ""};
	json_t *list = runs(f, playbook), *r = NULL;

	cr_assert_eq(json_array_size(list), 1, "runs of %s: %zu", playbook, json_array_size(list));
	cr_assert_eq(
	    cp_store_run_get(
		&r, f->s, json_string_value(json_object_get(json_array_get(list, 0), "id")), &err),
	    0, "%s", err.msg);
	json_decref(list);
	return r;
}

static const char *state_of(const json_t *run)
{
	return json_string_value(json_object_get(run, "state"));
}

/* Commands of a device (all of them). */
static json_t *commands(struct fx *f, const char *dev)
{
	struct fl_err err = {0, ""};
	json_t *c = NULL;

	cr_assert_eq(cp_store_commands_list(&c, f->s, dev, 0, clk, &err), 0, "%s", err.msg);
	return c;
}

/* The device answers its open commands with status. */
static int answer(struct fx *f, const char *dev, const char *status)
{
	struct fl_err err = {0, ""};
	json_t *c = commands(f, dev), *x;
	int n = 0;
	size_t i;

	json_array_foreach (c, i, x) {
		const char *st = json_string_value(json_object_get(x, "status"));
		struct cp_command_result r = {0};

		if (strcmp(st, "queued") != 0 && strcmp(st, "delivered") != 0)
			continue;
		snprintf(r.id, sizeof(r.id), "%s", json_string_value(json_object_get(x, "id")));
		snprintf(r.device_id, sizeof(r.device_id), "%s", dev);
		snprintf(r.status, sizeof(r.status), "%s", status);
		r.at = clk;
		cr_assert_eq(cp_store_checkins_apply(f->s, NULL, 0, &r, 1, &err), 0, "%s", err.msg);
		n++;
	}
	json_decref(c);
	return n;
}

static void seen(struct fx *f, const char *dev, int64_t at)
{
	struct fl_err err = {0, ""};
	struct cp_checkin_rec r = {0};

	snprintf(r.device_id, sizeof(r.device_id), "%s", dev);
	r.last_seen = at;
	cr_assert_eq(cp_store_checkins_apply(f->s, &r, 1, NULL, 0, &err), 0, "%s", err.msg);
}

TestSuite(engine, .timeout = 60);

/* A storm of 1000 alerts over three SLOs in 10 seconds: once_within keyed
 * by the SLO lets exactly three runs start. */
Test(engine, storm_yields_exactly_the_runs_the_throttle_allows)
{
	struct fx f;
	json_t *r;

	setup(&f);
	apply(&f,
	      "name: storm\nversion: 1\ntrigger: {type: alert.firing}\n"
	      "throttle: {once_within: 10m, key: [event.slo]}\n"
	      "steps:\n  - {name: raise, action: alert.raise, params: {name: 'x-{{ event.slo }}', "
	      "severity: ticket}}\n");
	round_ok(&f);
	for (int i = 0; i < 1000; i++) {
		char body[160], slo[16];

		snprintf(slo, sizeof(slo), "slo-%d", i % 3);
		snprintf(body, sizeof(body),
			 "{\"alert_id\": %d, \"slo\": \"%s\", \"severity\": \"page\", \"pair\": "
			 "\"1h/5m\"}",
			 i, slo);
		clk = NOW + i / 100;
		event(&f, "alert.firing", slo, body);
	}
	round_ok(&f);
	round_ok(&f);
	r = runs(&f, "storm");
	cr_assert_eq(json_array_size(r), 3, "runs: %zu", json_array_size(r));
	json_decref(r);
	/* a restart reads nothing twice: the cursor and the throttle came back */
	close_engine(&f);
	open_engine(&f);
	event(&f, "alert.firing", "slo-1",
	      "{\"alert_id\": 5000, \"slo\": \"slo-1\", \"severity\": \"page\", \"pair\": \"x\"}");
	round_ok(&f);
	r = runs(&f, "storm");
	cr_assert_eq(json_array_size(r), 3, "after a restart: %zu", json_array_size(r));
	json_decref(r);
	/* past the window the next one fires */
	clk += 601;
	event(&f, "alert.firing", "slo-1",
	      "{\"alert_id\": 5001, \"slo\": \"slo-1\", \"severity\": \"page\", \"pair\": \"x\"}");
	round_ok(&f);
	r = runs(&f, "storm");
	cr_assert_eq(json_array_size(r), 4);
	json_decref(r);
	teardown(&f);
}

static const char *quarantine_pb =
    "name: q\nversion: 1\ntrigger: {type: device.update_failed}\n"
    "throttle: {threshold: {count: 3, within: 24h}, key: [event.device.id]}\n"
    "targets: {device: '{{ event.device.id }}'}\n"
    "blast_radius: {max_devices: 1, concurrency: 1}\n"
    "approval: {required: 1, roles: [operator], expires: 4h}\n"
    "steps:\n  - {name: quarantine, action: device.quarantine, params: {reason: failing}}\n";

static void fail_update(struct fx *f, const char *dev, const char *release)
{
	struct fl_err err = {0, ""};
	struct cp_checkin_rec r = {0};
	char upd[160];

	snprintf(r.device_id, sizeof(r.device_id), "%s", dev);
	r.last_seen = clk;
	snprintf(upd, sizeof(upd), "{\"release\":\"%s\",\"state\":\"failed\"}", release);
	r.update = upd;
	cr_assert_eq(cp_store_checkins_apply(f->s, &r, 1, NULL, 0, &err), 0, "%s", err.msg);
}

/* Three failed updates of one device make one run that waits for an
 * operator; the approval must name the plan's hash and a role the playbook
 * allows; approved, the device is quarantined. */
Test(engine, approval_binds_to_the_plan)
{
	struct fl_err err = {0, ""};
	json_t *run, *out = NULL;
	struct fx f;
	char id[32], hash[80];

	setup(&f);
	apply(&f, quarantine_pb);
	round_ok(&f);
	fail_update(&f, "dev-03", "det@1.0.1");
	fail_update(&f, "dev-03", "det@1.0.2");
	fail_update(&f, "dev-04", "det@1.0.2");
	round_ok(&f);
	{
		json_t *none = runs(&f, "q");

		cr_assert_eq(json_array_size(none), 0, "two failures started a run");
		json_decref(none);
	}
	fail_update(&f, "dev-03", "det@1.0.3");
	round_ok(&f);
	run = run_of(&f, "q");
	cr_assert_str_eq(state_of(run), "awaiting_approval");
	cr_assert_str_eq(json_string_value(json_array_get(
			     json_object_get(json_object_get(run, "plan"), "devices"), 0)),
			 "dev-03");
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(run, "id")));
	snprintf(hash, sizeof(hash), "%s", json_string_value(json_object_get(run, "plan_hash")));
	json_decref(run);
	/* nothing happens while it waits */
	round_ok(&f);
	cr_assert_eq(cp_pb_run_decide(&out, f.e, id, "token:v (viewer)", "viewer", hash, 1, &err),
		     FL_EFORBIDDEN);
	cr_assert_eq(
	    cp_pb_run_decide(&out, f.e, id, "token:o (operator)", "operator",
			     "0000000000000000000000000000000000000000000000000000000000000000", 1,
			     &err),
	    FL_ECONFLICT);
	cr_assert_eq(
	    cp_pb_run_decide(&out, f.e, id, "token:o (operator)", "operator", hash, 1, &err), 0,
	    "%s", err.msg);
	cr_assert_str_eq(state_of(out), "running");
	json_decref(out);
	round_ok(&f);
	run = run_of(&f, "q");
	cr_assert_str_eq(state_of(run), "succeeded", "%s",
			 json_string_value(json_object_get(run, "error")));
	json_decref(run);
	{
		json_t *dev = NULL;

		cr_assert_eq(cp_store_device_get(&dev, f.s, "dev-03", &err), 0);
		cr_assert_str_eq(json_string_value(json_object_get(dev, "state")), "quarantined");
		json_decref(dev);
		cr_assert_eq(cp_store_device_get(&dev, f.s, "dev-04", &err), 0);
		cr_assert_str_eq(json_string_value(json_object_get(dev, "state")), "accepted");
		json_decref(dev);
	}
	teardown(&f);
}

/* An approval of a plan the fleet has changed since is refused; the run
 * then holds the new plan, which an approver approves; an approval expires. */
Test(engine, a_changed_plan_needs_a_new_approval)
{
	struct fl_err err = {0, ""};
	struct cp_audit_rec a = {"test", "device.label", "dev-05", NULL};
	json_t *run, *out = NULL, *changes;
	struct fx f;
	char id[32], hash[80], hash2[80];

	setup(&f);
	apply(&f,
	      "name: m\nversion: 1\ntrigger: {type: manual}\n"
	      "targets: {selector: 'site=s1'}\n"
	      "approval: {required: 2, roles: [operator], expires: 1h}\n"
	      "steps:\n  - {name: tag, action: device.label, params: {set: {tagged: 'yes'}}}\n");
	cr_assert_eq(cp_pb_run_start(&out, f.e, "m", NULL, "token:o (operator)", &err), 0, "%s",
		     err.msg);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(out, "id")));
	snprintf(hash, sizeof(hash), "%s", json_string_value(json_object_get(out, "plan_hash")));
	cr_assert_eq(json_array_size(json_object_get(json_object_get(out, "plan"), "devices")), 5);
	json_decref(out);
	/* dev-05 (site s1) moves to s2: the plan would act on 4 devices now */
	changes = json_pack("{s:s}", "site", "s2");
	cr_assert_eq(cp_device_relabel(NULL, f.s, "dev-05", changes, &a, &err), 0, "%s", err.msg);
	json_decref(changes);
	cr_assert_eq(
	    cp_pb_run_decide(&out, f.e, id, "token:o (operator)", "operator", hash, 1, &err),
	    FL_ECONFLICT);
	cr_assert(strstr(err.msg, "changed") != NULL, "%s", err.msg);
	run = run_of(&f, "m");
	snprintf(hash2, sizeof(hash2), "%s", json_string_value(json_object_get(run, "plan_hash")));
	cr_assert_str_neq(hash, hash2);
	cr_assert_eq(json_array_size(json_object_get(json_object_get(run, "plan"), "devices")), 4);
	json_decref(run);
	/* two approvers for the new plan; the same one twice counts once */
	cr_assert_eq(
	    cp_pb_run_decide(&out, f.e, id, "token:o (operator)", "operator", hash2, 1, &err), 0,
	    "%s", err.msg);
	cr_assert_str_eq(state_of(out), "awaiting_approval");
	json_decref(out);
	cr_assert_eq(
	    cp_pb_run_decide(&out, f.e, id, "token:o (operator)", "operator", hash2, 1, &err),
	    FL_EEXISTS);
	cr_assert_eq(cp_pb_run_decide(&out, f.e, id, "token:p (admin)", "admin", hash2, 1, &err), 0,
		     "%s", err.msg);
	cr_assert_str_eq(state_of(out), "running");
	json_decref(out);
	round_ok(&f);
	run = run_of(&f, "m");
	cr_assert_str_eq(state_of(run), "succeeded", "%s",
			 json_string_value(json_object_get(run, "error")));
	json_decref(run);
	/* a second run nobody approves expires */
	cr_assert_eq(cp_pb_run_start(&out, f.e, "m", NULL, "token:o (operator)", &err), 0, "%s",
		     err.msg);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(out, "id")));
	json_decref(out);
	clk += 3601;
	round_ok(&f);
	cr_assert_eq(cp_store_run_get(&out, f.s, id, &err), 0);
	cr_assert_str_eq(state_of(out), "expired");
	json_decref(out);
	teardown(&f);
}

static int open_commands(struct fx *f, int *total)
{
	int open = 0;

	*total = 0;
	for (int i = 0; i < NDEV; i++) {
		char dev[16];
		json_t *c, *x;
		size_t k;

		snprintf(dev, sizeof(dev), "dev-%02d", i);
		c = commands(f, dev);
		cr_assert_leq(json_array_size(c), 1, "%s got %zu commands", dev,
			      json_array_size(c));
		json_array_foreach (c, k, x) {
			const char *st = json_string_value(json_object_get(x, "status"));

			(*total)++;
			open += strcmp(st, "queued") == 0 || strcmp(st, "delivered") == 0;
		}
		json_decref(c);
	}
	return open;
}

/* A command to a capped share of a selector, a few at a time: never more
 * devices than the cap, never more open than the concurrency, and after a
 * crash between the intent and its record, no device gets a second one. */
Test(engine, blast_radius_concurrency_and_resume)
{
	struct fl_err err = {0, ""};
	json_t *run, *out = NULL;
	struct fx f;
	int total = 0, open, rounds = 0;

	setup(&f);
	apply(&f,
	      "name: c\nversion: 1\ntrigger: {type: manual}\n"
	      "targets: {selector: 'fleet=a'}\n"
	      "blast_radius: {max_devices: '40%', concurrency: 3, per_label: {label: site, max: "
	      "2}}\n"
	      "steps:\n  - {name: ping, action: device.command, params: {type: ping}, timeout: "
	      "1h}\n");
	cr_assert_eq(cp_pb_run_start(&out, f.e, "c", NULL, "token:o (operator)", &err), 0, "%s",
		     err.msg);
	/* 40% of 20 is 8, but at most 2 per site of 4 sites */
	cr_assert_eq(json_array_size(json_object_get(json_object_get(out, "plan"), "devices")), 8);
	json_decref(out);
	for (;;) {
		round_ok(&f);
		open = open_commands(&f, &total);
		cr_assert_leq(open, 3, "open commands %d", open);
		cr_assert_leq(total, 8, "commands %d", total);
		if (rounds == 1) {
			/* a crash after a command was queued but before its row said
			 * so: the row is an intent again, and the engine restarts */
			json_t *acts = NULL, *x, *rl0 = runs(&f, "c");
			size_t i;

			cr_assert_eq(cp_store_run_actions(&acts, f.s,
							  json_string_value(json_object_get(
							      json_array_get(rl0, 0), "id")),
							  NULL, &err),
				     0);
			json_array_foreach (acts, i, x) {
				struct cp_run_action a = {0};
				json_t *rl = runs(&f, "c");

				if (strcmp(json_string_value(json_object_get(x, "state")),
					   "waiting") != 0) {
					json_decref(rl);
					continue;
				}
				a.run_id =
				    json_string_value(json_object_get(json_array_get(rl, 0), "id"));
				a.step = json_string_value(json_object_get(x, "step"));
				a.device_id = json_string_value(json_object_get(x, "device_id"));
				a.attempt = 1;
				a.state = "intent";
				a.key = json_string_value(json_object_get(x, "key"));
				a.started_at = clk;
				cr_assert_eq(cp_store_run_action_put(f.s, &a, NULL, &err), 0);
				json_decref(rl);
			}
			json_decref(acts);
			json_decref(rl0);
			close_engine(&f);
			open_engine(&f);
			round_ok(&f);
			cr_assert_leq(open_commands(&f, &total), 3);
		}
		for (int i = 0; i < NDEV; i++) {
			char dev[16];

			snprintf(dev, sizeof(dev), "dev-%02d", i);
			answer(&f, dev, "ok");
		}
		clk += 5;
		run = run_of(&f, "c");
		if (strcmp(state_of(run), "running") != 0)
			break;
		json_decref(run);
		cr_assert_lt(++rounds, 20, "the run does not end");
	}
	cr_assert_str_eq(state_of(run), "succeeded", "%s",
			 json_string_value(json_object_get(run, "error")));
	json_decref(run);
	open_commands(&f, &total);
	cr_assert_eq(total, 8, "each planned device got one command: %d", total);
	teardown(&f);
}

/* A command that fails is asked again after its backoff; when retries run
 * out the step fails and on_failure runs. */
Test(engine, retries_then_on_failure)
{
	struct fl_err err = {0, ""};
	json_t *run, *out = NULL, *c;
	struct fx f;

	setup(&f);
	apply(&f,
	      "name: r\nversion: 1\ntrigger: {type: manual}\n"
	      "targets: {device: dev-07}\n"
	      "steps:\n  - name: hc\n    action: device.command\n    params: {type: "
	      "health-check}\n    retries: 1\n    backoff: 30s\n    on_failure:\n      - {name: "
	      "q, action: device.quarantine, params: {reason: unhealthy}}\n");
	cr_assert_eq(cp_pb_run_start(&out, f.e, "r", NULL, "token:o (operator)", &err), 0, "%s",
		     err.msg);
	json_decref(out);
	round_ok(&f);
	cr_assert_eq(answer(&f, "dev-07", "error"), 1);
	round_ok(&f);
	c = commands(&f, "dev-07");
	cr_assert_eq(json_array_size(c), 1, "retried before the backoff");
	json_decref(c);
	clk += 31;
	round_ok(&f);
	c = commands(&f, "dev-07");
	cr_assert_eq(json_array_size(c), 2, "no retry after the backoff");
	json_decref(c);
	cr_assert_eq(answer(&f, "dev-07", "error"), 1);
	round_ok(&f);
	round_ok(&f);
	run = run_of(&f, "r");
	cr_assert_str_eq(state_of(run), "failed");
	cr_assert(strstr(json_string_value(json_object_get(run, "error")), "step hc failed") !=
		      NULL,
		  "%s", json_string_value(json_object_get(run, "error")));
	json_decref(run);
	cr_assert_eq(cp_store_device_get(&out, f.s, "dev-07", &err), 0);
	cr_assert_str_eq(json_string_value(json_object_get(out, "state")), "quarantined");
	json_decref(out);
	teardown(&f);
}

/* A wait ends when its time is up, however long past the step's timeout:
 * it has no outcome to wait for. */
Test(engine, a_wait_outlasts_the_default_timeout)
{
	struct fl_err err = {0, ""};
	json_t *run, *out = NULL;
	struct fx f;

	setup(&f);
	apply(&f, "name: w\nversion: 1\ntrigger: {type: manual}\n"
		  "steps:\n  - {name: bake, action: wait, params: {for: 10m}}\n");
	cr_assert_eq(cp_pb_run_start(&out, f.e, "w", NULL, "token:o (operator)", &err), 0, "%s",
		     err.msg);
	json_decref(out);
	round_ok(&f);
	clk += 120;
	round_ok(&f);
	run = run_of(&f, "w");
	cr_assert_str_eq(state_of(run), "running", "%s",
			 json_string_value(json_object_get(run, "error")));
	json_decref(run);
	clk += 481;
	round_ok(&f);
	round_ok(&f);
	run = run_of(&f, "w");
	cr_assert_str_eq(state_of(run), "succeeded", "%s",
			 json_string_value(json_object_get(run, "error")));
	json_decref(run);
	teardown(&f);
}

/* A schedule fires at its tick, once, and not for ticks before it was
 * loaded; a device offline past a playbook's threshold is reported once
 * per episode, with how much of its site is offline. */
Test(engine, schedules_and_offline_reports)
{
	json_t *r;
	struct fx f;

	setup(&f);
	clk = NOW - NOW % 3600 + 30; /* hh:00:30 */
	apply(&f, "name: s\nversion: 1\ntrigger: {type: schedule, cron: '15 * * * *'}\n"
		  "steps:\n  - {name: w, action: wait, params: {for: 1s}}\n");
	apply(&f, "name: off\nversion: 1\ntrigger: {type: device.offline, for: 10m}\n"
		  "condition: 'event.peers.site.offline_ratio > 0.2'\n"
		  "throttle: {once_within: 1h, key: [event.device.labels.site]}\n"
		  "steps:\n  - {name: a, action: alert.raise, params: {name: 'off-{{ "
		  "event.device.labels.site }}', severity: page}}\n");
	round_ok(&f);
	clk += 14 * 60;
	round_ok(&f);
	r = runs(&f, "s");
	cr_assert_eq(json_array_size(r), 0, "fired before its minute");
	json_decref(r);
	clk += 60;
	round_ok(&f);
	round_ok(&f);
	r = runs(&f, "s");
	cr_assert_eq(json_array_size(r), 1, "scheduled runs %zu", json_array_size(r));
	json_decref(r);
	/* every device checks in; 10 minutes later two of site s1's five have
	 * not been heard from since (40%), one of s2's (20%, not past it) */
	for (int i = 0; i < NDEV; i++) {
		char dev[16];

		snprintf(dev, sizeof(dev), "dev-%02d", i);
		seen(&f, dev, clk);
	}
	clk += 601;
	for (int i = 0; i < NDEV; i++) {
		char dev[16];

		snprintf(dev, sizeof(dev), "dev-%02d", i);
		if (i != 1 && i != 5 && i != 2)
			seen(&f, dev, clk);
	}
	round_ok(&f);
	round_ok(&f);
	r = runs(&f, "off");
	cr_assert_eq(json_array_size(r), 1, "offline runs %zu", json_array_size(r));
	json_decref(r);
	r = run_of(&f, "off");
	{
		const json_t *st0 =
		    json_array_get(json_object_get(json_object_get(r, "plan"), "steps"), 0);

		cr_assert_str_eq(
		    json_string_value(json_object_get(json_object_get(st0, "params"), "name")),
		    "off-s1");
	}
	json_decref(r);
	/* the same episode is never reported again */
	clk += 20;
	round_ok(&f);
	{
		struct fl_err err = {0, ""};
		json_t *ev = NULL, *x;
		size_t i;
		int n = 0;

		cr_assert_eq(cp_store_events_list(&ev, f.s, 0, 10000, &err), 0);
		json_array_foreach (ev, i, x)
			n += strcmp(json_string_value(json_object_get(x, "kind")),
				    "device.offline") == 0;
		cr_assert_eq(n, 3, "offline reports %d", n);
		json_decref(ev);
	}
	teardown(&f);
}

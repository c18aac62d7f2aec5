/* test_rollout.c - the rollout controller against a real store and director
 * with a fake clock, fake gates and a fake SLI source: stage progression,
 * deterministic cohorts, the concurrency cap, maintenance windows, one active
 * rollout per device, restart, abort rolling back every touched device. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "core/director.h"
#include "core/rollout.h"
#include "core/signer.h"
#include "fairlead/crypto.h"
#include "fl_test.h"

#define NOW  1900000000LL /* 2030-03-17 17:46:40 UTC */
#define NDEV 20

static int64_t clk = NOW;
static int verdict = CP_GATE_PASS;
static const char *gate_name = "failure_ratio";
static int gate_calls, last_look;
static size_t last_canary, last_baseline;
static double last_gate_burn = NAN;

static int64_t fake_now(void *ctx)
{
	(void)ctx;
	return clk;
}

static int fake_gates(struct cp_gate_eval *out, const struct cp_gate_device *devs, size_t n,
		      const struct cp_gate_config *cfg, int look, const double *slo_burn,
		      size_t nslo, double slo_max_burn, struct fl_err *err)
{
	size_t i;

	(void)cfg, (void)slo_max_burn, (void)err;
	memset(out, 0, sizeof(*out));
	last_gate_burn = nslo && slo_burn ? slo_burn[0] : NAN;
	gate_calls++;
	last_look = look;
	last_canary = last_baseline = 0;
	for (i = 0; i < n; i++) {
		if (devs[i].canary)
			last_canary++;
		else
			last_baseline++;
	}
	out->verdict = verdict;
	out->n = 1;
	snprintf(out->r[0].name, sizeof(out->r[0].name), "%s", gate_name);
	out->r[0].verdict = verdict;
	return 0;
}

/* The burn hook: every SLO burns at burn_rate; what it was asked is kept. */
static double burn_rate = NAN;
static char last_burn_release[160];
static int64_t last_burn_now;

static int fake_burn(void *ctx, double *out, const char *const *names, size_t n,
		     const char *release, int64_t now, struct fl_err *err)
{
	(void)ctx, (void)names, (void)err;
	snprintf(last_burn_release, sizeof(last_burn_release), "%s", release);
	last_burn_now = now;
	for (size_t i = 0; i < n; i++)
		out[i] = burn_rate;
	return 0;
}

static int fake_sli(void *ctx, struct cp_sli_agg **out, const char *const *ids, size_t n,
		    const char *release, int64_t from, int64_t to, struct fl_err *err)
{
	(void)ctx, (void)ids, (void)release, (void)from, (void)to;
	*out = calloc(n, sizeof(**out));
	return *out ? 0 : fl_err_set(err, FL_ENOMEM, "oom");
}

struct fx {
	char path[512];
	struct cp_store *s;
	struct cp_director *dir;
	struct cp_rollout_ctl *c;
	struct cp_signer signer;
};

static void add_release(struct cp_store *s, const char *version, int64_t counter)
{
	struct fl_err err = {0, ""};
	json_t *hw = json_array();
	char sha[65];
	struct cp_release_row r = {"det", version, "model", counter, hw, "c0", sha, "{}", NOW};

	snprintf(sha, sizeof(sha), "%064lld", (long long)counter);
	cr_assert_eq(cp_store_release_add(s, &r, NULL, &err), 0, "%s", err.msg);
	json_decref(hw);
}

static void open_ctl(struct fx *f)
{
	struct fl_err err = {0, ""};
	struct cp_rollout_deps d = {0};

	cr_assert_eq(cp_store_open(&f->s, f->path, -1, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_director_new(&f->dir, f->s, &f->signer, &err), 0, "%s", err.msg);
	d.store = f->s;
	d.director = f->dir;
	d.gates = fake_gates;
	d.sli = fake_sli;
	d.burn = fake_burn;
	d.now = fake_now;
	cr_assert_eq(cp_rollout_ctl_new(&f->c, &d, &err), 0, "%s", err.msg);
}

static void close_ctl(struct fx *f)
{
	cp_rollout_ctl_free(f->c);
	cp_director_free(f->dir);
	cp_store_free(f->s);
	f->c = NULL;
	f->dir = NULL;
	f->s = NULL;
}

/* NDEV accepted devices labelled fleet=a running det@1.0.0, except dev-19
 * which runs nothing yet. */
static void setup(struct fx *f)
{
	uint8_t pk[FL_ED25519_PK_LEN], sk[FL_ED25519_SK_LEN];
	struct fl_err err = {0, ""};
	int i;

	clk = NOW;
	verdict = CP_GATE_PASS;
	gate_calls = 0;
	cr_assert_eq(fl_crypto_init(), 0);
	fl_ed25519_keypair(pk, sk);
	cp_signer_from_sk(&f->signer, sk);
	snprintf(f->path, sizeof(f->path), "%s/fairlead.db", fl_test_tmpdir());
	cr_assert_eq(cp_store_open(&f->s, f->path, -1, &err), 0, "%s", err.msg);
	add_release(f->s, "1.0.0", 1);
	add_release(f->s, "2.0.0", 2);
	for (i = 0; i < NDEV; i++) {
		struct cp_enrollment e = {0};
		char id[16], keyid[16], pub[64];
		json_t *labels = json_pack("{s:s}", "fleet", i < NDEV ? "a" : "b");
		json_t *inv = i == NDEV - 1 ? json_object()
					    : json_pack("{s:{s:s}}", "running", "det", "1.0.0");

		snprintf(id, sizeof(id), "dev-%02d", i);
		snprintf(keyid, sizeof(keyid), "k%02d", i);
		snprintf(pub, sizeof(pub), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%02d=", i);
		e.device_id = id;
		e.pubkey_b64 = pub;
		e.keyid = keyid;
		e.state = "accepted";
		e.labels = labels;
		e.inventory = inv;
		e.now = NOW;
		cr_assert_eq(cp_store_device_enroll(f->s, &e, NULL, &err), 0, "%s", err.msg);
		json_decref(labels);
		json_decref(inv);
	}
	cp_store_free(f->s);
	f->s = NULL;
	open_ctl(f);
}

static void teardown(struct fx *f)
{
	close_ctl(f);
	cp_signer_wipe(&f->signer);
}

static json_t *start(struct fx *f, const char *body_json, int want_rc)
{
	struct fl_err err = {0, ""};
	json_t *body = json_loads(body_json, 0, NULL), *out = NULL;
	int rc;

	cr_assert_not_null(body, "bad test body %s", body_json);
	rc = cp_rollout_start(&out, f->c, body, "token:t (admin)", &err);
	cr_assert_eq(rc, want_rc, "start: %d %s", rc, err.msg);
	json_decref(body);
	return out;
}

static void round_ok(struct fx *f)
{
	struct fl_err err = {0, ""};

	cr_assert_eq(cp_rollout_round(f->c, &err), 0, "round: %s", err.msg);
}

/* The agent's update status as the check-in path stores it. */
static void report(struct fx *f, const char *dev, const char *release, const char *state)
{
	struct fl_err err = {0, ""};
	struct cp_checkin_rec r = {0};
	char upd[256];

	snprintf(r.device_id, sizeof(r.device_id), "%s", dev);
	r.last_seen = clk;
	snprintf(upd, sizeof(upd), "{\"release\":\"%s\",\"state\":\"%s\"}", release, state);
	r.update = upd;
	cr_assert_eq(cp_store_checkins_apply(f->s, &r, 1, NULL, 0, &err), 0, "%s", err.msg);
}

static json_t *devices(struct fx *f, const char *id)
{
	struct fl_err err = {0, ""};
	json_t *d = NULL;

	cr_assert_eq(cp_store_rollout_devices(&d, f->s, id, &err), 0, "%s", err.msg);
	return d;
}

static size_t count_state(struct fx *f, const char *id, const char *state)
{
	json_t *d = devices(f, id), *x;
	size_t i, n = 0;

	json_array_foreach (d, i, x)
		n += strcmp(json_string_value(json_object_get(x, "state")), state) == 0;
	json_decref(d);
	return n;
}

/* Every assigned device commits the release. */
static void commit_assigned(struct fx *f, const char *id, const char *release)
{
	json_t *d = devices(f, id), *x;
	size_t i;

	json_array_foreach (d, i, x)
		if (strcmp(json_string_value(json_object_get(x, "state")), "assigned") == 0)
			report(f, json_string_value(json_object_get(x, "device_id")), release,
			       "committed");
	json_decref(d);
}

static json_t *rollout(struct fx *f, const char *id)
{
	struct fl_err err = {0, ""};
	json_t *r = NULL;

	cr_assert_eq(cp_store_rollout_get(&r, f->s, id, &err), 0, "%s", err.msg);
	return r;
}

static const char *rstate(struct fx *f, const char *id, int64_t *stage)
{
	static char st[16];
	json_t *r = rollout(f, id);

	snprintf(st, sizeof(st), "%s", json_string_value(json_object_get(r, "state")));
	if (stage)
		*stage = json_integer_value(json_object_get(r, "stage"));
	json_decref(r);
	return st;
}

static json_t *last_history(struct fx *f, const char *id)
{
	struct fl_err err = {0, ""};
	json_t *h = NULL, *last;

	cr_assert_eq(cp_store_rollout_history(&h, f->s, id, &err), 0, "%s", err.msg);
	last = json_incref(json_array_get(h, json_array_size(h) - 1));
	json_decref(h);
	return last;
}

static const char *last_kind(struct fx *f, const char *id)
{
	static char k[32];
	json_t *h = last_history(f, id);

	snprintf(k, sizeof(k), "%s", json_string_value(json_object_get(h, "kind")));
	json_decref(h);
	return k;
}

TestSuite(rollout, .timeout = 60);

Test(rollout, cohorts_are_deterministic_and_grow)
{
	char a[65], b[65], c[65];
	json_t *spec =
	    json_loads("{\"stages\":[{\"percent\":1,\"min_devices\":1},"
		       "{\"percent\":10,\"min_devices\":1},{\"count\":7,\"min_devices\":0},"
		       "{\"percent\":5,\"min_devices\":0},{\"percent\":100}]}",
		       0, NULL);

	cp_rollout_rank_key(a, "ro-1", "dev-01");
	cp_rollout_rank_key(b, "ro-1", "dev-01");
	cp_rollout_rank_key(c, "ro-2", "dev-01");
	cr_assert_str_eq(a, b);
	cr_assert_str_neq(a, c);
	cr_assert_eq(cp_rollout_cohort(spec, 0, 20), 1); /* ceil(0.2), at least 1 */
	cr_assert_eq(cp_rollout_cohort(spec, 1, 20), 2);
	cr_assert_eq(cp_rollout_cohort(spec, 2, 20), 7);
	cr_assert_eq(cp_rollout_cohort(spec, 3, 20), 7); /* never shrinks */
	cr_assert_eq(cp_rollout_cohort(spec, 4, 20), 20);
	cr_assert_eq(cp_rollout_cohort(spec, 1, 1000), 100);
	json_decref(spec);
}

Test(rollout, same_rollout_id_gives_same_order)
{
	struct fx f = {0};
	json_t *d1, *d2, *o;

	setup(&f);
	o = start(&f, "{\"id\":\"ro-a\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\"}", 0);
	json_decref(o);
	d1 = devices(&f, "ro-a");
	cr_assert_eq(json_array_size(d1), NDEV);
	/* A second store, the same id: the same ranks. */
	teardown(&f);
	setup(&f);
	o = start(&f, "{\"id\":\"ro-a\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\"}", 0);
	json_decref(o);
	d2 = devices(&f, "ro-a");
	cr_assert_eq(json_equal(d1, d2), 1);
	/* and the order is the hash order, not the id order */
	{
		char prev[65] = "", k[65];
		size_t i;
		json_t *x;
		int sorted_by_id = 1;

		json_array_foreach (d1, i, x) {
			const char *id = json_string_value(json_object_get(x, "device_id"));

			cp_rollout_rank_key(k, "ro-a", id);
			cr_assert_gt(strcmp(k, prev), 0);
			snprintf(prev, sizeof(prev), "%s", k);
			if (i && strcmp(id, json_string_value(json_object_get(
						json_array_get(d1, i - 1), "device_id"))) < 0)
				sorted_by_id = 0;
		}
		cr_assert_eq(sorted_by_id, 0);
	}
	json_decref(d1);
	json_decref(d2);
	teardown(&f);
}

Test(rollout, good_release_goes_stage_by_stage_to_done)
{
	struct fx f = {0};
	struct fl_err err = {0, ""};
	json_t *o, *a = NULL, *audit = NULL, *x;
	int64_t stage = -1;
	size_t i, n;

	setup(&f);
	o = start(&f,
		  "{\"id\":\"ro-g\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\","
		  "\"stages\":[\"10%\",\"50%\",\"100%\"],\"bake_s\":60}",
		  0);
	cr_assert_eq(json_integer_value(json_object_get(o, "targets")), NDEV);
	json_decref(o);
	round_ok(&f);
	cr_assert_eq(count_state(&f, "ro-g", "assigned"), 2);
	/* The assignments are signed and stored like the assign route's. */
	{
		json_t *d = devices(&f, "ro-g");
		const char *id =
		    json_string_value(json_object_get(json_array_get(d, 0), "device_id"));

		cr_assert_eq(cp_store_assignment_get(&a, f.s, id, &err), 0, "%s", err.msg);
		cr_assert_str_eq(json_string_value(json_object_get(a, "release_version")), "2.0.0");
		cr_assert_eq(json_is_false(json_object_get(a, "rollback")), 1);
		cr_assert_gt(strlen(json_string_value(json_object_get(a, "envelope"))), 50);
		json_decref(a);
		json_decref(d);
	}
	/* Not finished: no bake yet, even much later. */
	clk += 30;
	round_ok(&f);
	cr_assert_str_eq(last_kind(&f, "ro-g"), "assign");
	commit_assigned(&f, "ro-g", "det@2.0.0");
	round_ok(&f);
	cr_assert_str_eq(last_kind(&f, "ro-g"), "bake");
	clk += 59;
	round_ok(&f);
	cr_assert_str_eq(rstate(&f, "ro-g", &stage), "running");
	cr_assert_eq(stage, 0);
	clk += 1;
	round_ok(&f);
	cr_assert_str_eq(rstate(&f, "ro-g", &stage), "running");
	cr_assert_eq(stage, 1);
	/* The next stage's devices went out in the same round. */
	cr_assert_str_eq(last_kind(&f, "ro-g"), "assign");
	cr_assert_eq(count_state(&f, "ro-g", "assigned"), 10);
	/* The gates saw canaries and baseline as the cohort says. */
	cr_assert_eq(last_canary, 10);
	cr_assert_eq(last_baseline, 10);
	commit_assigned(&f, "ro-g", "det@2.0.0");
	round_ok(&f);
	clk += 60;
	round_ok(&f);
	cr_assert_str_eq(rstate(&f, "ro-g", &stage), "running");
	cr_assert_eq(stage, 2);
	round_ok(&f);
	cr_assert_eq(count_state(&f, "ro-g", "assigned"), NDEV);
	commit_assigned(&f, "ro-g", "det@2.0.0");
	round_ok(&f);
	clk += 60;
	round_ok(&f);
	cr_assert_str_eq(rstate(&f, "ro-g", NULL), "done");
	/* Every decision is in the audit log with its numbers. */
	cr_assert_eq(cp_store_audit_list(&audit, f.s, 0, 1000, &err), 0, "%s", err.msg);
	n = 0;
	json_array_foreach (audit, i, x) {
		const char *act = json_string_value(json_object_get(x, "action"));

		if (strncmp(act, "rollout.", 8) == 0)
			n++;
		if (strcmp(act, "rollout.done") == 0) {
			json_t *det = json_object_get(x, "details");

			cr_assert_eq(json_integer_value(json_object_get(
					 json_object_get(det, "devices"), "committed")),
				     NDEV);
			cr_assert_not_null(json_object_get(det, "gates"));
		}
	}
	/* start, 3x (assign, bake, pass/done) at least */
	cr_assert_geq(n, 10);
	json_decref(audit);
	teardown(&f);
}

Test(rollout, concurrency_cap_limits_unfinished_devices)
{
	struct fx f = {0};
	json_t *o, *d, *x;
	size_t i;

	setup(&f);
	o = start(&f,
		  "{\"id\":\"ro-c\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\","
		  "\"stages\":[\"100%\"],\"max_updating\":3}",
		  0);
	json_decref(o);
	round_ok(&f);
	cr_assert_eq(count_state(&f, "ro-c", "assigned"), 3);
	round_ok(&f);
	cr_assert_eq(count_state(&f, "ro-c", "assigned"), 3);
	/* One installs, one is still downloading, one fails: two slots free. */
	d = devices(&f, "ro-c");
	report(&f, json_string_value(json_object_get(json_array_get(d, 0), "device_id")),
	       "det@2.0.0", "committed");
	report(&f, json_string_value(json_object_get(json_array_get(d, 1), "device_id")),
	       "det@2.0.0", "downloading");
	report(&f, json_string_value(json_object_get(json_array_get(d, 2), "device_id")),
	       "det@2.0.0", "failed");
	json_decref(d);
	round_ok(&f);
	cr_assert_eq(count_state(&f, "ro-c", "assigned"), 5);
	/* The assigned ones are the first by rank. */
	d = devices(&f, "ro-c");
	json_array_foreach (d, i, x)
		cr_assert_str_eq(json_string_value(json_object_get(x, "state")),
				 i < 5 ? "assigned" : "pending");
	json_decref(d);
	teardown(&f);
}

static void set_state(struct fx *f, const char *dev, const char *state)
{
	struct fl_err err = {0, ""};
	struct cp_audit_rec a = {"token:t (admin)", "device.state", dev, NULL};

	cr_assert_eq(cp_store_device_set_state(f->s, dev, state, "test", clk, &a, &err), 0, "%s",
		     err.msg);
}

/* The rule of core/assign.c: at the start a device that is not accepted is
 * skipped with the assign routes' reason, and one revoked after the start
 * gets no assignment when its turn comes. */
Test(rollout, only_accepted_devices_receive_the_release)
{
	struct fx f = {0};
	struct fl_err err = {0, ""};
	json_t *o, *skipped, *d, *x, *a = NULL;
	size_t i;

	setup(&f);
	set_state(&f, "dev-03", "pending");
	o = start(&f,
		  "{\"id\":\"ro-r\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\","
		  "\"stages\":[\"100%\"]}",
		  0);
	cr_assert_eq(json_integer_value(json_object_get(o, "targets")), NDEV - 1);
	skipped = json_object_get(o, "skipped");
	cr_assert_eq(json_array_size(skipped), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(skipped, 0), "id")),
			 "dev-03");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(skipped, 0), "reason")),
			 "device is pending; only accepted devices receive releases");
	json_decref(o);
	set_state(&f, "dev-05", "revoked");
	round_ok(&f);
	cr_assert_eq(count_state(&f, "ro-r", "assigned"), NDEV - 2);
	d = devices(&f, "ro-r");
	json_array_foreach (d, i, x)
		if (strcmp(json_string_value(json_object_get(x, "device_id")), "dev-05") == 0)
			cr_assert_str_eq(json_string_value(json_object_get(x, "state")), "pending");
	json_decref(d);
	cr_assert_eq(cp_store_assignment_get(&a, f.s, "dev-05", &err), FL_ENOTFOUND);
	cr_assert_eq(cp_store_assignment_get(&a, f.s, "dev-06", &err), 0, "%s", err.msg);
	json_decref(a);
	teardown(&f);
}

Test(rollout, failing_gate_aborts_and_rolls_back_every_touched_device)
{
	struct fx f = {0};
	struct fl_err err = {0, ""};
	json_t *o, *d, *x, *h;
	size_t i, reverted = 0, unrev = 0, pending = 0;

	setup(&f);
	o = start(&f,
		  "{\"id\":\"ro-f\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\","
		  "\"stages\":[\"100%\"],\"max_updating\":50}",
		  0);
	json_decref(o);
	round_ok(&f);
	cr_assert_eq(count_state(&f, "ro-f", "assigned"), NDEV);
	verdict = CP_GATE_FAIL;
	round_ok(&f);
	cr_assert_str_eq(rstate(&f, "ro-f", NULL), "aborted");
	h = last_history(&f, "ro-f");
	cr_assert_str_eq(json_string_value(json_object_get(h, "kind")), "fail");
	cr_assert_not_null(json_object_get(json_object_get(h, "details"), "gates"));
	cr_assert_eq(json_array_size(json_object_get(json_object_get(h, "details"), "rolled_back")),
		     NDEV - 1);
	json_decref(h);
	d = devices(&f, "ro-f");
	json_array_foreach (d, i, x) {
		const char *id = json_string_value(json_object_get(x, "device_id"));
		const char *st = json_string_value(json_object_get(x, "state"));
		json_t *a = NULL;

		cr_assert_eq(cp_store_assignment_get(&a, f.s, id, &err), 0, "%s", err.msg);
		if (strcmp(id, "dev-19") == 0) {
			/* It ran nothing before: nothing to go back to. */
			cr_assert_str_eq(st, "unrevertable");
			unrev++;
		} else {
			cr_assert_str_eq(st, "reverted");
			cr_assert_str_eq(json_string_value(json_object_get(a, "release_version")),
					 "1.0.0");
			cr_assert_eq(json_is_true(json_object_get(a, "rollback")), 1);
			reverted++;
		}
		json_decref(a);
	}
	json_decref(d);
	cr_assert_eq(reverted, NDEV - 1);
	cr_assert_eq(unrev, 1);
	(void)pending;
	/* The decision is in the event log, in its transaction: the failed gate,
	 * then the abort, each with the rollout as it was left and the numbers. */
	{
		json_t *evs = NULL, *e0, *e1;

		cr_assert_eq(cp_store_events_list(&evs, f.s, 0, 100, &err), 0, "%s", err.msg);
		cr_assert_eq(json_array_size(evs), 2);
		e0 = json_array_get(evs, 0);
		e1 = json_array_get(evs, 1);
		cr_assert_str_eq(json_string_value(json_object_get(e0, "kind")),
				 "rollout.gate_failed");
		cr_assert_str_eq(json_string_value(json_object_get(e1, "kind")), "rollout.aborted");
		cr_assert_str_eq(json_string_value(json_object_get(e1, "subject")), "ro-f");
		x = json_object_get(json_object_get(e1, "body"), "rollout");
		cr_assert_str_eq(json_string_value(json_object_get(x, "release")), "det@2.0.0");
		cr_assert_str_eq(json_string_value(json_object_get(x, "state")), "aborted");
		cr_assert_str_eq(json_string_value(json_object_get(x, "selector")), "fleet=a");
		cr_assert_not_null(json_object_get(
		    json_object_get(json_object_get(e0, "body"), "details"), "gates"));
		json_decref(evs);
	}
	/* Over: no more rounds change it. */
	verdict = CP_GATE_PASS;
	round_ok(&f);
	cr_assert_str_eq(rstate(&f, "ro-f", NULL), "aborted");
	teardown(&f);
}

Test(rollout, manual_abort_leaves_untouched_devices_alone)
{
	struct fx f = {0};
	struct fl_err err = {0, ""};
	json_t *o = NULL, *a = NULL;

	setup(&f);
	o = start(&f,
		  "{\"id\":\"ro-m\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\","
		  "\"stages\":[\"10%\",\"100%\"]}",
		  0);
	json_decref(o);
	round_ok(&f);
	cr_assert_eq(cp_rollout_control(&o, f.c, "ro-m", "abort", "token:t (operator)", &err), 0,
		     "%s", err.msg);
	cr_assert_str_eq(json_string_value(json_object_get(o, "state")), "aborted");
	json_decref(o);
	cr_assert_eq(count_state(&f, "ro-m", "reverted"), 2);
	cr_assert_eq(count_state(&f, "ro-m", "pending"), NDEV - 2);
	{
		json_t *d = devices(&f, "ro-m");
		const char *untouched =
		    json_string_value(json_object_get(json_array_get(d, 5), "device_id"));

		cr_assert_eq(cp_store_assignment_get(&a, f.s, untouched, &err), FL_ENOTFOUND);
		json_decref(d);
	}
	cr_assert_str_eq(last_kind(&f, "ro-m"), "abort");
	/* Twice is a conflict. */
	cr_assert_eq(cp_rollout_control(&o, f.c, "ro-m", "abort", "x", &err), FL_ECONFLICT);
	cr_assert_eq(cp_rollout_control(&o, f.c, "nope", "abort", "x", &err), FL_ENOTFOUND);
	teardown(&f);
}

Test(rollout, one_active_rollout_per_device)
{
	struct fx f = {0};
	struct fl_err err = {0, ""};
	json_t *o;

	setup(&f);
	o = start(&f, "{\"id\":\"ro-1\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\"}", 0);
	json_decref(o);
	{
		json_t *body = json_loads(
		    "{\"id\":\"ro-2\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\"}", 0,
		    NULL);

		o = NULL;
		cr_assert_eq(cp_rollout_start(&o, f.c, body, "x", &err), FL_ECONFLICT);
		cr_assert_null(o);
		cr_assert_not_null(strstr(err.msg, "dev-00 (ro-1)"), "%s", err.msg);
		json_decref(body);
	}
	/* Nothing of the refused one was written. */
	cr_assert_eq(cp_store_rollout_get(&o, f.s, "ro-2", &err), FL_ENOTFOUND);
	/* Paused still counts as active. */
	cr_assert_eq(cp_rollout_control(&o, f.c, "ro-1", "pause", "x", &err), 0, "%s", err.msg);
	json_decref(o);
	o = start(&f, "{\"id\":\"ro-2\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\"}",
		  FL_ECONFLICT);
	cr_assert_eq(cp_rollout_control(&o, f.c, "ro-1", "abort", "x", &err), 0, "%s", err.msg);
	json_decref(o);
	o = start(&f, "{\"id\":\"ro-2\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\"}", 0);
	json_decref(o);
	teardown(&f);
}

Test(rollout, bad_bodies_are_refused)
{
	struct fx f = {0};
	json_t *o;

	setup(&f);
	start(&f, "{\"release\":\"det@2.0.0\"}", FL_EINVAL);
	start(&f, "{\"release\":\"det@2.0.0\",\"selector\":\"\"}", FL_EINVAL);
	start(&f, "{\"release\":\"det@9.0.0\",\"selector\":\"fleet=a\"}", FL_ENOTFOUND);
	start(&f, "{\"release\":\"det@2.0.0\",\"selector\":\"fleet=zzz\"}", FL_EINVAL);
	start(&f, "{\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\",\"stages\":[\"0%\"]}",
	      FL_EINVAL);
	start(&f, "{\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\",\"stages\":[\"101%\"]}",
	      FL_EINVAL);
	start(&f, "{\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\",\"stages\":[]}", FL_EINVAL);
	start(&f, "{\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\",\"extra\":1}", FL_EINVAL);
	start(&f, "{\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\",\"max_updating\":0}",
	      FL_EINVAL);
	start(&f, "{\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\",\"gates\":{\"bogus\":1}}",
	      FL_EINVAL);
	start(&f,
	      "{\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\",\"windows\":[{\"cron\":\"0 "
	      "2 * *\",\"duration_s\":3600}]}",
	      FL_EINVAL);
	start(&f,
	      "{\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\",\"windows\":[{\"cron\":\"0 "
	      "2 * * *\",\"duration_s\":3600,\"tz\":\"Mars/Olympus\"}]}",
	      FL_EINVAL);
	/* None of them left a rollout behind. */
	{
		struct fl_err err = {0, ""};

		cr_assert_eq(cp_store_rollouts_list(&o, f.s, NULL, 100, &err), 0);
		cr_assert_eq(json_array_size(o), 0);
		json_decref(o);
	}
	teardown(&f);
}

Test(rollout, restart_resumes_without_reassigning)
{
	struct fx f = {0};
	struct fl_err err = {0, ""};
	json_t *o, *h = NULL, *x;
	size_t i, assigns = 0;
	int64_t stage;

	setup(&f);
	o = start(&f,
		  "{\"id\":\"ro-r\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\","
		  "\"stages\":[\"25%\",\"100%\"],\"bake_s\":60,\"max_updating\":2}",
		  0);
	json_decref(o);
	round_ok(&f);
	cr_assert_eq(count_state(&f, "ro-r", "assigned"), 2);
	/* Killed mid-stage: the controller and its store go away at once. */
	close_ctl(&f);
	open_ctl(&f);
	round_ok(&f);
	cr_assert_eq(count_state(&f, "ro-r", "assigned"), 2); /* cap still holds */
	commit_assigned(&f, "ro-r", "det@2.0.0");
	round_ok(&f);
	cr_assert_eq(count_state(&f, "ro-r", "assigned"), 4);
	close_ctl(&f);
	open_ctl(&f);
	commit_assigned(&f, "ro-r", "det@2.0.0");
	round_ok(&f);
	round_ok(&f);
	cr_assert_eq(count_state(&f, "ro-r", "assigned"), 5);
	commit_assigned(&f, "ro-r", "det@2.0.0");
	round_ok(&f);
	cr_assert_str_eq(last_kind(&f, "ro-r"), "bake");
	close_ctl(&f);
	clk += 61;
	open_ctl(&f);
	round_ok(&f);
	cr_assert_str_eq(rstate(&f, "ro-r", &stage), "running");
	cr_assert_eq(stage, 1);
	/* Each device was assigned exactly once. */
	cr_assert_eq(cp_store_rollout_history(&h, f.s, "ro-r", &err), 0);
	json_array_foreach (h, i, x)
		if (strcmp(json_string_value(json_object_get(x, "kind")), "assign") == 0 &&
		    json_integer_value(json_object_get(x, "stage")) == 0)
			assigns += json_array_size(
			    json_object_get(json_object_get(x, "details"), "devices"));
	cr_assert_eq(assigns, 5);
	json_decref(h);
	teardown(&f);
}

Test(rollout, waiting_gates_pause_after_the_timeout_and_resume_and_promote)
{
	struct fx f = {0};
	struct fl_err err = {0, ""};
	json_t *o = NULL;
	int64_t stage;

	setup(&f);
	o = start(&f,
		  "{\"id\":\"ro-w\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\","
		  "\"stages\":[\"10%\",\"100%\"],\"bake_s\":200}",
		  0);
	json_decref(o);
	verdict = CP_GATE_WAIT;
	round_ok(&f);
	commit_assigned(&f, "ro-w", "det@2.0.0");
	round_ok(&f);
	cr_assert_str_eq(last_kind(&f, "ro-w"), "bake");
	clk += 100;
	round_ok(&f);
	cr_assert_eq(last_look, 10); /* half the bake: half the looks */
	clk += 100;
	round_ok(&f);
	cr_assert_str_eq(rstate(&f, "ro-w", NULL), "running");
	/* Alpha spending saw the whole bake elapsed. */
	cr_assert_eq(last_look, 20);
	clk += 399; /* timeout default: 2x bake */
	round_ok(&f);
	cr_assert_str_eq(rstate(&f, "ro-w", NULL), "running");
	clk += 1;
	round_ok(&f);
	cr_assert_str_eq(rstate(&f, "ro-w", NULL), "paused");
	cr_assert_str_eq(last_kind(&f, "ro-w"), "wait_timeout");
	/* Paused: rounds do nothing; promote needs running. */
	clk += 1000;
	round_ok(&f);
	cr_assert_str_eq(rstate(&f, "ro-w", NULL), "paused");
	cr_assert_eq(cp_rollout_control(&o, f.c, "ro-w", "promote", "x", &err), FL_ECONFLICT);
	cr_assert_eq(cp_rollout_control(&o, f.c, "ro-w", "resume", "x", &err), 0, "%s", err.msg);
	json_decref(o);
	round_ok(&f);
	cr_assert_str_eq(rstate(&f, "ro-w", &stage), "running");
	cr_assert_eq(stage, 0);
	/* Resume restarted the bake: the look is the first again. */
	cr_assert_eq(last_look, 1);
	cr_assert_eq(cp_rollout_control(&o, f.c, "ro-w", "promote", "token:t (admin)", &err), 0,
		     "%s", err.msg);
	cr_assert_eq(json_integer_value(json_object_get(o, "stage")), 1);
	json_decref(o);
	cr_assert_str_eq(last_kind(&f, "ro-w"), "promote");
	teardown(&f);
}

Test(rollout, last_stage_without_baseline_passes_waiting_comparisons)
{
	struct fx f = {0};
	json_t *o;

	setup(&f);
	o = start(&f,
		  "{\"id\":\"ro-l\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\","
		  "\"stages\":[\"100%\"],\"bake_s\":10}",
		  0);
	json_decref(o);
	round_ok(&f);
	commit_assigned(&f, "ro-l", "det@2.0.0");
	round_ok(&f);
	clk += 10;
	/* The fake says WAIT on a comparison gate; there is no baseline. */
	verdict = CP_GATE_WAIT;
	round_ok(&f);
	/* The fake's only gate is failure_ratio: a waiting failure ratio holds. */
	cr_assert_str_eq(rstate(&f, "ro-l", NULL), "running");
	teardown(&f);
}

Test(rollout, windows_hold_assignments_outside)
{
	struct fx f = {0};
	json_t *o;

	setup(&f);
	/* NOW is 17:46 UTC: a window 02:00-03:00 UTC is closed. */
	o = start(&f,
		  "{\"id\":\"ro-win\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\","
		  "\"stages\":[\"100%\"],\"windows\":[{\"cron\":\"0 2 * * *\",\"duration_s\":3600,"
		  "\"tz\":\"UTC\"}]}",
		  0);
	json_decref(o);
	round_ok(&f);
	cr_assert_eq(count_state(&f, "ro-win", "assigned"), 0);
	clk = NOW - 17 * 3600 - 46 * 60 - 40 + 2 * 3600 + 1800 + 86400; /* next day 02:30 */
	round_ok(&f);
	cr_assert_eq(count_state(&f, "ro-win", "assigned"), NDEV);
	teardown(&f);
}

Test(rollout, pokes_wake_only_for_rollout_devices)
{
	struct fx f = {0};
	json_t *o;
	int64_t before;

	setup(&f);
	cp_rollout_poke(f.c, "dev-00");
	cr_assert_eq(cp_rollout_pokes(f.c), 0);
	o = start(&f, "{\"id\":\"ro-p\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\"}", 0);
	json_decref(o);
	before = cp_rollout_pokes(f.c);
	cp_rollout_poke(f.c, "dev-00");
	cr_assert_eq(cp_rollout_pokes(f.c), before + 1);
	cp_rollout_poke(NULL, "dev-00");
	/* After the rollout ends, its devices no longer wake anyone. */
	{
		struct fl_err err = {0, ""};

		cr_assert_eq(cp_rollout_control(&o, f.c, "ro-p", "abort", "x", &err), 0);
		json_decref(o);
	}
	round_ok(&f);
	before = cp_rollout_pokes(f.c);
	cp_rollout_poke(f.c, "dev-00");
	cr_assert_eq(cp_rollout_pokes(f.c), before);
	teardown(&f);
}

Test(rollout, thread_decides_on_a_poke_before_its_tick)
{
	struct fx f = {0};
	struct fl_err err = {0, ""};
	json_t *o;
	int i;

	setup(&f);
	o = start(&f,
		  "{\"id\":\"ro-t\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\","
		  "\"stages\":[\"10%\",\"100%\"],\"bake_s\":0}",
		  0);
	json_decref(o);
	/* A 60 s tick: a decision before it can only come from the poke. The
	 * waits below end on the condition; their 30 s bound is no timing claim. */
	cr_assert_eq(cp_rollout_ctl_start(f.c, 60000, &err), 0);
	for (i = 0; i < 3000 && count_state(&f, "ro-t", "assigned") < 2; i++)
		usleep(10000);
	cr_assert_eq(count_state(&f, "ro-t", "assigned"), 2);
	usleep(50000);
	commit_assigned(&f, "ro-t", "det@2.0.0");
	{
		json_t *d = devices(&f, "ro-t");

		cp_rollout_poke(
		    f.c, json_string_value(json_object_get(json_array_get(d, 0), "device_id")));
		json_decref(d);
	}
	for (i = 0; i < 3000; i++) {
		int64_t stage = 0;

		rstate(&f, "ro-t", &stage);
		if (stage == 1)
			break;
		usleep(10000);
	}
	cr_assert_lt(i, 3000, "no decision before the tick: the poke did not wake the thread");
	cp_rollout_ctl_stop(f.c);
	teardown(&f);
}

/* One errors SLO named NAME in the store. */
static void put_slo(struct fx *f, const char *name)
{
	struct fl_err err = {0, ""};
	char buf[256];
	json_t *defs;

	snprintf(buf, sizeof(buf),
		 "[{\"name\":\"%s\",\"sli\":{\"kind\":\"errors\"},\"objective\":0.99,"
		 "\"period\":\"30d\"}]",
		 name);
	defs = json_loads(buf, 0, NULL);
	cr_assert_not_null(defs);
	cr_assert_eq(cp_store_slos_put(f->s, defs, "api", NOW, NULL, &err), 0, "%s", err.msg);
	json_decref(defs);
}

Test(rollout, slo_burn_names_must_exist_and_reach_the_gate)
{
	struct fx f = {0};
	struct fl_err err = {0, ""};
	const char *names[] = {"det-errors", "gone"};
	double b[2] = {0, 0};
	json_t *o;

	setup(&f);
	/* an unknown SLO is refused at the start, naming it; nothing is left */
	o = start(&f,
		  "{\"id\":\"ro-s\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\","
		  "\"slos\":[\"det-errors\"]}",
		  FL_EINVAL);
	cr_assert_null(o);
	cr_assert_eq(cp_store_rollout_get(&o, f.s, "ro-s", &err), FL_ENOTFOUND);
	put_slo(&f, "det-errors");
	o = start(&f,
		  "{\"id\":\"ro-s\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\","
		  "\"slos\":[\"det-errors\"],\"stages\":[\"100%\"]}",
		  0);
	json_decref(o);
	burn_rate = 2.5;
	round_ok(&f);
	cr_assert_str_eq(last_burn_release, "det@2.0.0", "the canary cohort is the new release");
	cr_assert_eq(last_burn_now, clk);
	cr_assert_float_eq(last_gate_burn, 2.5, 1e-12, "the gate got the hook's rate");
	burn_rate = NAN;
	/* the store's hook: an SLO without data has no rate yet, a deleted one
	 * neither (the gate waits) */
	cr_assert_eq(cp_rollout_store_burn(f.s, b, names, 2, "det@2.0.0", NOW, &err), 0, "%s",
		     err.msg);
	cr_assert(isnan(b[0]), "no SLI data: %g", b[0]);
	cr_assert(isnan(b[1]), "no such SLO: %g", b[1]);
	teardown(&f);
}

/* Alpha spending gives each look one test: a comparison gate that fails on
 * a second evaluation within the same look waits for the next look, while a
 * threshold gate (failure ratio) acts at once. */
Test(rollout, comparison_gates_decide_once_per_look)
{
	struct fx f = {0};
	json_t *o;

	setup(&f);
	o = start(&f,
		  "{\"id\":\"ro-l\",\"release\":\"det@2.0.0\",\"selector\":\"fleet=a\","
		  "\"stages\":[\"10%\",\"100%\"],\"bake_s\":200,\"gates\":{\"max_looks\":20}}",
		  0);
	json_decref(o);
	gate_name = "latency";
	round_ok(&f);
	commit_assigned(&f, "ro-l", "det@2.0.0");
	round_ok(&f);
	cr_assert_str_eq(last_kind(&f, "ro-l"), "bake");
	/* look 1 of the bake (10 s a look) tested and passed; a failure later
	 * within look 1 does not decide */
	clk += 5;
	round_ok(&f);
	cr_assert_eq(last_look, 1);
	verdict = CP_GATE_FAIL;
	clk += 1;
	round_ok(&f);
	round_ok(&f);
	cr_assert_eq(last_look, 1);
	cr_assert_str_eq(rstate(&f, "ro-l", NULL), "running");
	/* look 2: its first evaluation decides */
	clk += 10;
	round_ok(&f);
	cr_assert_eq(last_look, 2);
	cr_assert_str_eq(rstate(&f, "ro-l", NULL), "aborted");
	verdict = CP_GATE_PASS;
	gate_name = "failure_ratio";
	teardown(&f);
}

/* The check-in loop over the fake transport and a clock that never sleeps. */
#include "agent_test.h"

#include "agent/poll.h"
#include "agent/state.h"
#include "fairlead/crypto.h"
#include "fairlead/util.h"
#include "fake_transport.h"

static void setup(void)
{
	cr_assert(eq(int, fl_crypto_init(), 0));
}

TestSuite(agent_poll, .init = setup);

struct env {
	const char *dir;
	struct ag_key key;
	struct fake *f;
	struct ag_transport *t;
	struct fake_clock fc;
	struct ag_clock clock;
	struct ag_poll_opts opts;
	struct ag_poll *p;
};

static void env_open(struct env *e)
{
	struct fl_err err = {0};

	cr_assert(eq(int, ag_poll_new(&e->p, e->t, &e->clock, &e->opts, &err), 0), "%s", err.msg);
}

static void env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
	e->dir = ag_test_tmpdir();
	fake_device(&e->key, e->dir, "dev-1");
	e->t = fake_new(&e->f);
	fake_clock_init(&e->clock, &e->fc);
	e->opts.dir = e->dir;
	e->opts.inventory_root = e->dir; /* no devicetree, DMI or os-release there */
	env_open(e);
}

static void env_fini(struct env *e)
{
	ag_poll_free(e->p);
	ag_transport_free(e->t);
}

static json_t *body_of(const struct env *e, size_t i)
{
	json_t *r = fake_req(e->f, i);

	cr_assert(yes(r != NULL), "no request %zu", i);
	return json_object_get(r, "body");
}

static json_t *load_pending(const char *dir)
{
	json_t *r = NULL, *p;
	struct fl_err err = {0};

	cr_assert(eq(int, ag_state_load_results(&r, dir, &err), 0), "%s", err.msg);
	p = json_incref(json_object_get(r, "pending"));
	json_decref(r);
	return p;
}

static void assert_in(int64_t v, int64_t lo, int64_t hi)
{
	cr_assert(yes(v >= lo && v <= hi), "%lld not in [%lld, %lld]", (long long)v, (long long)lo,
		  (long long)hi);
}

Test(agent_poll, checkin_is_signed_and_carries_inventory)
{
	struct env e;
	int64_t delay = -1;
	json_t *req, *inv;

	env_init(&e);
	fake_push(e.f, 0, "{\"device_id\":\"dev-1\",\"state\":\"accepted\",\"poll_interval\":30}",
		  -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, NULL), 0));
	req = fake_req(e.f, 0);
	cr_assert(eq(str, S(json_string_value(json_object_get(req, "target"))),
		     "/api/v1/device/checkin"));
	cr_assert(eq(str, S(json_string_value(json_object_get(req, "keyid"))), e.key.keyid));
	inv = json_object_get(body_of(&e, 0), "inventory");
	cr_assert(eq(str, S(json_string_value(json_object_get(inv, "hw_model"))), "unknown"));
	cr_assert(eq(str, S(json_string_value(json_object_get(inv, "model_version"))), "none"));
	cr_assert(yes(json_is_string(json_object_get(inv, "os"))));
	cr_assert(yes(json_is_string(json_object_get(inv, "arch"))));
	cr_assert(yes(json_is_string(json_object_get(inv, "agent_version"))));
	cr_assert(yes(json_object_get(body_of(&e, 0), "command_results") == NULL));
	assert_in(delay, 27000, 33000);
	env_fini(&e);
}

Test(agent_poll, desired_twin_round_trip)
{
	struct env e;
	int64_t delay = -1, v = 0;
	json_t *want0 = json_pack("{s:{},s:i}", "config", "applied_version", 0);
	json_t *want1 = json_pack("{s:{s:i,s:s},s:i}", "config", "rate", 5, "mode", "eco",
				  "applied_version", 3);
	json_t *d = NULL;
	struct fl_err err = {0};

	env_init(&e);
	fake_push(e.f, 0,
		  "{\"state\":\"accepted\",\"poll_interval\":30,\"desired\":{\"rate\":5,"
		  "\"mode\":\"eco\"},\"desired_version\":3,\"commands\":[]}",
		  -1, NULL);
	fake_push(e.f, 0,
		  "{\"state\":\"accepted\",\"poll_interval\":30,\"desired\":{\"rate\":5,"
		  "\"mode\":\"eco\"},\"desired_version\":3}",
		  -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(json_equal(json_object_get(body_of(&e, 0), "reported"), want0));
	/* it tells the server which desired version it holds */
	cr_assert(
	    eq(i64, json_integer_value(json_object_get(body_of(&e, 0), "desired_version")), 0));
	/* applied: persisted before anything else */
	cr_assert(eq(int, ag_state_load_desired(&d, &v, e.dir, &err), 0), "%s", err.msg);
	cr_assert(json_equal(d, json_object_get(want1, "config")));
	cr_assert(eq(i64, v, 3));
	json_decref(d);
	/* something new to report: one immediate follow-up */
	cr_assert(eq(i64, delay, 0));

	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(json_equal(json_object_get(body_of(&e, 1), "reported"), want1));
	cr_assert(
	    eq(i64, json_integer_value(json_object_get(body_of(&e, 1), "desired_version")), 3));
	assert_in(delay, 27000, 33000);

	/* after a restart the agent still reports what it applied */
	ag_poll_free(e.p);
	env_open(&e);
	fake_push(e.f, 0, "{\"poll_interval\":30}", -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(json_equal(json_object_get(body_of(&e, 2), "reported"), want1));

	json_decref(want0);
	json_decref(want1);
	env_fini(&e);
}

Test(agent_poll, ping_result_persisted_then_cleared_after_ack)
{
	struct env e;
	int64_t delay = -1;
	json_t *pending, *want;
	struct fl_err err = {0};

	env_init(&e);
	e.fc.now = 1700000777;
	fake_push(e.f, 0,
		  "{\"poll_interval\":30,\"commands\":[{\"id\":\"cmd-1\",\"type\":\"ping\","
		  "\"args\":{}}]}",
		  -1, NULL);
	fake_push(e.f, FL_ERROR, NULL, -1, "cannot reach server");
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(eq(i64, delay, 0));
	want = json_pack("[{s:s,s:s,s:{s:b,s:I}}]", "id", "cmd-1", "status", "ok", "result", "pong",
			 1, "agent_time", (json_int_t)1700000777);
	pending = load_pending(e.dir);
	cr_assert(json_equal(pending, want), "results.json must hold the result before sending");
	json_decref(pending);

	/* the send fails: the result stays on disk */
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), FL_ERROR));
	cr_assert(json_equal(json_object_get(body_of(&e, 1), "command_results"), want));
	pending = load_pending(e.dir);
	cr_assert(json_equal(pending, want));
	json_decref(pending);

	/* a crash and restart: the result is sent again, and the server
	 * redelivering the command meanwhile does not run it twice */
	ag_poll_free(e.p);
	env_open(&e);
	fake_push(e.f, FL_EFORBIDDEN, NULL, -1, "not now");
	fake_push(e.f, 0, "{\"poll_interval\":30,\"commands\":[]}", -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), FL_EFORBIDDEN));
	cr_assert(json_equal(json_object_get(body_of(&e, 2), "command_results"), want));
	pending = load_pending(e.dir);
	cr_assert(eq(sz, json_array_size(pending), 1), "an unacknowledged result must stay");
	json_decref(pending);

	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(json_equal(json_object_get(body_of(&e, 3), "command_results"), want));
	pending = load_pending(e.dir);
	cr_assert(eq(sz, json_array_size(pending), 0), "acknowledged results leave the disk");
	json_decref(pending);

	/* nothing left to send */
	fake_push(e.f, 0, "{\"poll_interval\":30}", -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(yes(json_object_get(body_of(&e, 4), "command_results") == NULL));

	json_decref(want);
	env_fini(&e);
}

Test(agent_poll, command_without_hook_is_refused_and_idless_is_skipped)
{
	struct env e;
	int64_t delay;
	json_t *pending;
	struct fl_err err = {0};
	const char *cmds = "{\"poll_interval\":30,\"commands\":[{\"id\":\"cmd-1\",\"type\":"
			   "\"ping\"},{\"id\":\"cmd-2\",\"type\":\"selfdestruct\"},{\"type\":"
			   "\"ping\"}]}";

	env_init(&e);
	fake_push(e.f, 0, cmds, -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	pending = load_pending(e.dir);
	cr_assert(eq(sz, json_array_size(pending), 2));
	cr_assert(eq(str,
		     S(json_string_value(json_object_get(json_array_get(pending, 0), "status"))),
		     "ok"));
	cr_assert(eq(str, S(json_string_value(json_object_get(json_array_get(pending, 1), "id"))),
		     "cmd-2"));
	cr_assert(eq(str,
		     S(json_string_value(json_object_get(json_array_get(pending, 1), "status"))),
		     "refused"));
	json_decref(pending);
	env_fini(&e);
}

Test(agent_poll, duplicate_command_runs_once_and_redelivery_after_ack_reruns)
{
	struct env e;
	int64_t delay;
	json_t *pending;
	struct fl_err err = {0};
	const char *twice = "{\"poll_interval\":30,\"commands\":[{\"id\":\"cmd-9\",\"type\":"
			    "\"ping\"},{\"id\":\"cmd-9\",\"type\":\"ping\"}]}";
	const char *once = "{\"poll_interval\":30,\"commands\":[{\"id\":\"cmd-9\",\"type\":"
			   "\"ping\"}]}";

	env_init(&e);
	fake_push(e.f, 0, twice, -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	pending = load_pending(e.dir);
	cr_assert(eq(sz, json_array_size(pending), 1), "a pending command must not run twice");
	json_decref(pending);

	/* the server acknowledges cmd-9 and yet lists it again (it lost the
	 * result, say in a crash before its write-behind flush): run it again,
	 * or it would be redelivered forever */
	e.fc.now += 100;
	fake_push(e.f, 0, once, -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(eq(sz, json_array_size(json_object_get(body_of(&e, 1), "command_results")), 1));
	pending = load_pending(e.dir);
	cr_assert(eq(sz, json_array_size(pending), 1));
	cr_assert(eq(i64,
		     json_integer_value(json_object_get(
			 json_object_get(json_array_get(pending, 0), "result"), "agent_time")),
		     e.fc.now));
	json_decref(pending);
	env_fini(&e);
}

Test(agent_poll, backoff_grows_and_caps)
{
	static const int64_t base[] = {1000,  2000,   4000,   8000,   16000,  32000,
				       64000, 128000, 256000, 300000, 300000, 300000};
	struct env e;
	int64_t delay;

	env_init(&e);
	for (size_t i = 0; i < FL_ARRAY_SIZE(base); i++)
		fake_push(e.f, FL_ERROR, NULL, -1, "connection refused");
	for (size_t i = 0; i < FL_ARRAY_SIZE(base); i++) {
		int64_t hi = base[i] + base[i] / 10;

		cr_assert(eq(int, ag_poll_once(&delay, e.p, NULL), FL_ERROR));
		assert_in(delay, base[i] - base[i] / 10, hi > 300000 ? 300000 : hi);
	}
	/* success resets it */
	fake_push(e.f, 0, "{\"poll_interval\":30}", -1, NULL);
	fake_push(e.f, FL_ERROR, NULL, -1, "HTTP 502");
	cr_assert(eq(int, ag_poll_once(&delay, e.p, NULL), 0));
	assert_in(delay, 27000, 33000);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, NULL), FL_ERROR));
	assert_in(delay, 900, 1100);
	env_fini(&e);
}

Test(agent_poll, max_backoff_option_caps)
{
	struct env e;
	int64_t delay = 0;

	env_init(&e);
	ag_poll_free(e.p);
	e.opts.max_backoff_ms = 10000;
	env_open(&e);
	for (int i = 0; i < 8; i++)
		fake_push(e.f, FL_ETIMEOUT, NULL, -1, NULL);
	for (int i = 0; i < 8; i++) {
		cr_assert(eq(int, ag_poll_once(&delay, e.p, NULL), FL_ETIMEOUT));
		cr_assert(le(i64, delay, 10000));
	}
	assert_in(delay, 9000, 10000);
	env_fini(&e);
}

Test(agent_poll, retry_after_is_honoured)
{
	struct env e;
	int64_t delay = 0;

	env_init(&e);
	fake_push(e.f, FL_EAGAIN, NULL, 7, "rate limited (HTTP 429)");
	fake_push(e.f, FL_EAGAIN, NULL, 120, "rate limited (HTTP 429)");
	fake_push(e.f, FL_EAGAIN, NULL, -1, "unavailable (HTTP 503)");
	cr_assert(eq(int, ag_poll_once(&delay, e.p, NULL), FL_EAGAIN));
	cr_assert(eq(i64, delay, 7000));
	cr_assert(eq(int, ag_poll_once(&delay, e.p, NULL), FL_EAGAIN));
	cr_assert(eq(i64, delay, 120000));
	/* without a Retry-After: plain backoff */
	cr_assert(eq(int, ag_poll_once(&delay, e.p, NULL), FL_EAGAIN));
	assert_in(delay, 900, 1100);
	env_fini(&e);
}

static int always_ok(struct fake *f, json_t **out, const char *method, const char *target,
		     const json_t *body, int64_t *retry_after, struct fl_err *err)
{
	*out = json_pack("{s:i}", "poll_interval", 60);
	return 0;
}

Test(agent_poll, poll_interval_jitter_within_ten_percent)
{
	struct env e;
	struct fl_err err = {0};
	int64_t lo = INT64_MAX, hi = 0;

	env_init(&e);
	e.f->handler = always_ok;
	e.fc.stop_after = 256;
	cr_assert(eq(int, ag_poll_run(e.p, &err), 0));
	cr_assert(eq(sz, fake_nreq(e.f), 256));
	cr_assert(eq(i64, ag_poll_interval_s(e.p), 60));
	for (size_t i = 0; i < 256; i++) {
		int64_t d = e.fc.sleeps[i];

		assert_in(d, 54000, 66000);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	/* actually jittered: spread over most of the band */
	cr_assert(lt(i64, lo, 56000));
	cr_assert(gt(i64, hi, 64000));
	env_fini(&e);
}

Test(agent_poll, jitter_extremes)
{
	struct fake_clock fc;
	struct ag_clock c;

	fake_clock_init(&c, &fc);
	fc.nrand = 1;
	fc.rand[0] = 0;
	cr_assert(eq(i64, ag_clock_jitter(&c, 30000, 10), 27000));
	fc.rand[0] = 6000; /* 6000 % 6001 */
	cr_assert(eq(i64, ag_clock_jitter(&c, 30000, 10), 33000));
	fc.rand[0] = 3000;
	cr_assert(eq(i64, ag_clock_jitter(&c, 30000, 10), 30000));
	cr_assert(eq(i64, ag_clock_jitter(&c, 0, 10), 0));
}

Test(agent_poll, forbidden_and_unauthorized_keep_polling_at_interval)
{
	struct env e;
	int64_t delay = 0;

	env_init(&e);
	fake_push(e.f, 0, "{\"poll_interval\":20}", -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, NULL), 0));
	for (int i = 0; i < 4; i++)
		fake_push(e.f, FL_EFORBIDDEN, NULL, -1, "device is pending approval (HTTP 403)");
	fake_push(e.f, FL_EUNAUTH, NULL, -1, "unknown device key (HTTP 401)");
	for (int i = 0; i < 4; i++) {
		cr_assert(eq(int, ag_poll_once(&delay, e.p, NULL), FL_EFORBIDDEN));
		assert_in(delay, 18000, 22000);
	}
	cr_assert(eq(int, ag_poll_once(&delay, e.p, NULL), FL_EUNAUTH));
	assert_in(delay, 18000, 22000);
	env_fini(&e);
}

Test(agent_poll, state_change_is_persisted)
{
	struct env e;
	struct ag_identity id;
	struct fl_err err = {0};
	int64_t delay;

	env_init(&e);
	fake_push(e.f, 0, "{\"state\":\"quarantined\",\"poll_interval\":30}", -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(eq(str, S(ag_poll_device_state(e.p)), "quarantined"));
	cr_assert(eq(int, ag_state_load_identity(&id, e.dir, &err), 0), "%s", err.msg);
	cr_assert(eq(str, id.state, "quarantined"));
	env_fini(&e);
}

static int new_command_each_time(struct fake *f, json_t **out, const char *method,
				 const char *target, const json_t *body, int64_t *retry_after,
				 struct fl_err *err)
{
	char id[32];

	snprintf(id, sizeof(id), "cmd-%zu", fake_nreq(f));
	*out = json_pack("{s:i,s:[{s:s,s:s}]}", "poll_interval", 30, "commands", "id", id, "type",
			 "ping");
	return 0;
}

Test(agent_poll, run_stops_on_request)
{
	struct env e;
	struct fl_err err = {0};

	env_init(&e);
	e.f->handler = always_ok;
	e.fc.stop_after = 3;
	cr_assert(eq(int, ag_poll_run(e.p, &err), 0));
	cr_assert(eq(sz, fake_nreq(e.f), 3));
	cr_assert(eq(sz, e.fc.nsleeps, 3));
	env_fini(&e);
}

Test(agent_poll, follow_ups_are_never_back_to_back)
{
	struct env e;
	struct fl_err err = {0};

	env_init(&e);
	e.f->handler = new_command_each_time;
	e.fc.stop_after = 6;
	cr_assert(eq(int, ag_poll_run(e.p, &err), 0));
	for (size_t i = 0; i < 6; i++) {
		if (i % 2 == 0)
			cr_assert(eq(i64, e.fc.sleeps[i], 0), "sleep %zu", i);
		else
			assert_in(e.fc.sleeps[i], 27000, 33000);
	}
	env_fini(&e);
}

/* Command hooks in the check-in loop: a hook runs at most once whatever the
 * server resends and wherever the agent crashes; one hook per check-in; a
 * reboot's answer reaches the server before its hook runs. */
#include "agent_test.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/poll.h"
#include "agent/state.h"
#include "fairlead/crypto.h"
#include "fake_transport.h"
#include "hook_test.h"

static void setup(void)
{
	cr_assert(eq(int, fl_crypto_init(), 0));
}

TestSuite(agent_hooks, .init = setup);

struct env {
	const char *dir;
	char hooks[256]; /* where the hook scripts and their traces go */
	struct ag_key key;
	struct fake *f;
	struct ag_transport *t;
	struct fake_clock fc;
	struct ag_clock clock;
	struct ag_poll_opts opts;
	struct ag_commands_opts co;
	char specs[AG_HOOK_NTYPES][600];
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
	snprintf(e->hooks, sizeof(e->hooks), "%s", ag_test_tmpdir());
	fake_device(&e->key, e->dir, "dev-1");
	e->t = fake_new(&e->f);
	fake_clock_init(&e->clock, &e->fc);
	e->opts.dir = e->dir;
	e->opts.inventory_root = e->dir;
	e->opts.commands = &e->co;
}

/* A hook for type that appends its command id to HOOKS/TYPE.log and then
 * runs body. */
static void env_hook(struct env *e, int slot, const char *type, const char *body)
{
	char script[1024];
	struct fl_err err = {0};

	snprintf(script, sizeof(script), "echo \"$FAIRLEAD_COMMAND_ID\" >> %s/%s.log\n%s", e->hooks,
		 type, body);
	snprintf(e->specs[slot], sizeof(e->specs[slot]), "%s=%s", type,
		 hook_script(e->hooks, type, script));
	cr_assert(eq(int, ag_commands_hook_add(&e->co, e->specs[slot], &err), 0), "%s", err.msg);
}

/* The ids the hook of type ran for, one a line. */
static const char *ran(const struct env *e, const char *type)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s.log", e->hooks, type);
	return file_text(path);
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

static const char *str_at(const json_t *results, size_t i, const char *key)
{
	const char *s = json_string_value(json_object_get(json_array_get(results, i), key));

	return s ? s : "(none)";
}

static const char *msg_at(const json_t *results, size_t i)
{
	const char *s = json_string_value(
	    json_object_get(json_object_get(json_array_get(results, i), "result"), "message"));

	return s ? s : "(none)";
}

Test(agent_hooks, calibrate_result_is_sent_and_the_hook_runs_once)
{
	struct env e;
	int64_t delay;
	json_t *pending, *want;
	struct fl_err err = {0};

	env_init(&e);
	env_hook(&e, 0, "calibrate", "echo '{\"offset\": 0.12, \"sensor\": \"temp\"}'");
	env_open(&e);
	/* listed twice in one reply: one run */
	fake_push(e.f, 0,
		  "{\"poll_interval\":30,\"commands\":[{\"id\":\"cmd-c1\",\"type\":\"calibrate\","
		  "\"args\":{\"sensor\":\"temp\"}},{\"id\":\"cmd-c1\",\"type\":\"calibrate\"}]}",
		  -1, NULL);
	fake_push(e.f, FL_ERROR, NULL, -1, "cannot reach server");
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(eq(i64, delay, 0), "a new result goes out at once");
	cr_assert(eq(str, S(ran(&e, "calibrate")), "cmd-c1\n"));
	want = json_pack("[{s:s,s:s,s:{s:f,s:s}}]", "id", "cmd-c1", "status", "ok", "result",
			 "offset", 0.12, "sensor", "temp");
	pending = load_pending(e.dir);
	cr_assert(json_equal(pending, want), "the result is on disk before it is sent");
	json_decref(pending);

	/* the send fails, the agent restarts: the result goes out again and
	 * the hook does not run again */
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), FL_ERROR));
	ag_poll_free(e.p);
	env_open(&e);
	fake_push(e.f, 0, "{\"poll_interval\":30,\"commands\":[]}", -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(json_equal(json_object_get(body_of(&e, 2), "command_results"), want));
	pending = load_pending(e.dir);
	cr_assert(eq(sz, json_array_size(pending), 0), "acknowledged");
	json_decref(pending);

	/* the server lists it again after taking its result: not run twice,
	 * answered with an error that says why */
	fake_push(
	    e.f, 0,
	    "{\"poll_interval\":30,\"commands\":[{\"id\":\"cmd-c1\",\"type\":\"calibrate\"}]}", -1,
	    NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(eq(str, S(ran(&e, "calibrate")), "cmd-c1\n"));
	pending = load_pending(e.dir);
	cr_assert(eq(sz, json_array_size(pending), 1));
	cr_assert(eq(str, S(str_at(pending, 0, "status")), "error"));
	cr_assert(yes(strstr(msg_at(pending, 0), "already ran") != NULL), "%s", msg_at(pending, 0));
	json_decref(pending);
	json_decref(want);
	env_fini(&e);
}

Test(agent_hooks, crash_while_the_hook_runs_is_an_error_not_a_second_run)
{
	struct env e;
	int64_t delay;
	json_t *pending;
	struct fl_err err = {0};
	int status = 0;
	pid_t pid;

	env_init(&e);
	/* The hook kills the agent that runs it, as a power cut would. */
	env_hook(&e, 0, "health-check", "kill -KILL $PPID; sleep 1; echo '{}'");
	pid = fork();
	cr_assert(yes(pid >= 0));
	if (pid == 0) {
		struct fl_err ce = {0};

		if (ag_poll_new(&e.p, e.t, &e.clock, &e.opts, &ce) < 0)
			_exit(3);
		fake_push(e.f, 0,
			  "{\"poll_interval\":30,\"commands\":[{\"id\":\"cmd-h1\",\"type\":"
			  "\"health-check\"}]}",
			  -1, NULL);
		(void)ag_poll_once(&delay, e.p, &ce);
		_exit(0);
	}
	cr_assert(eq(int, waitpid(pid, &status, 0), pid));
	cr_assert(yes(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL), "status %d", status);
	cr_assert(eq(str, S(ran(&e, "health-check")), "cmd-h1\n"));

	/* the next start answers it as an error */
	env_open(&e);
	pending = load_pending(e.dir);
	cr_assert(eq(sz, json_array_size(pending), 1));
	cr_assert(eq(str, S(str_at(pending, 0, "id")), "cmd-h1"));
	cr_assert(eq(str, S(str_at(pending, 0, "status")), "error"));
	cr_assert(eq(str, S(msg_at(pending, 0)),
		     "the agent stopped while the hook ran; it is not run again"));
	json_decref(pending);
	/* and the server's resend does not run it: the result goes out */
	fake_push(e.f, 0,
		  "{\"poll_interval\":30,\"commands\":[{\"id\":\"cmd-h1\",\"type\":"
		  "\"health-check\"}]}",
		  -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(eq(sz, json_array_size(json_object_get(body_of(&e, 0), "command_results")), 1));
	cr_assert(eq(str, S(ran(&e, "health-check")), "cmd-h1\n"));
	env_fini(&e);
}

Test(agent_hooks, one_hook_per_checkin)
{
	struct env e;
	int64_t delay;
	json_t *pending;
	struct fl_err err = {0};

	env_init(&e);
	env_hook(&e, 0, "calibrate", "echo '{}'");
	env_hook(&e, 1, "health-check", "echo '{}'");
	env_open(&e);
	fake_push(e.f, 0,
		  "{\"poll_interval\":30,\"commands\":[{\"id\":\"cmd-1\",\"type\":\"calibrate\"},"
		  "{\"id\":\"cmd-2\",\"type\":\"health-check\"},{\"id\":\"cmd-3\",\"type\":"
		  "\"ping\"},{\"id\":\"cmd-4\",\"type\":\"collect-logs\"}]}",
		  -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(eq(str, S(ran(&e, "calibrate")), "cmd-1\n"));
	cr_assert(eq(str, S(ran(&e, "health-check")), ""), "the second hook waits");
	pending = load_pending(e.dir);
	cr_assert(eq(sz, json_array_size(pending), 3));
	cr_assert(eq(str, S(str_at(pending, 0, "id")), "cmd-1"));
	cr_assert(eq(str, S(str_at(pending, 1, "id")), "cmd-3"));
	cr_assert(eq(str, S(str_at(pending, 2, "id")), "cmd-4"));
	cr_assert(eq(str, S(str_at(pending, 2, "status")), "refused"), "collect-logs has no hook");
	json_decref(pending);
	cr_assert(eq(i64, delay, 0));
	/* the server still lists cmd-2: now it runs */
	fake_push(
	    e.f, 0,
	    "{\"poll_interval\":30,\"commands\":[{\"id\":\"cmd-2\",\"type\":\"health-check\"}]}",
	    -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(eq(str, S(ran(&e, "health-check")), "cmd-2\n"));
	env_fini(&e);
}

/* The check-in handler: records whether the reboot hook had run by the time
 * a request carrying the reboot's result arrived. */
struct reboot_probe {
	const struct env *e;
	int carried, hook_had_run;
};

static int reboot_checkin(struct fake *f, json_t **out, const char *method, const char *target,
			  const json_t *body, int64_t *retry_after, struct fl_err *err)
{
	struct reboot_probe *rp = f->user;
	json_t *results = json_object_get(body, "command_results"), *r;
	size_t i;

	json_array_foreach (results, i, r)
		if (strcmp(json_string_value(json_object_get(r, "id")), "cmd-r1") == 0) {
			rp->carried++;
			if (*ran(rp->e, "reboot"))
				rp->hook_had_run = 1;
		}
	*out = json_pack("{s:i,s:[]}", "poll_interval", 30, "commands");
	return 0;
}

Test(agent_hooks, reboot_answer_reaches_the_server_before_the_hook_runs)
{
	struct env e;
	struct reboot_probe rp = {0};
	int64_t delay;
	json_t *pending, *want;
	struct fl_err err = {0};
	const char *cmd =
	    "{\"poll_interval\":30,\"commands\":[{\"id\":\"cmd-r1\",\"type\":\"reboot\","
	    "\"args\":{\"reason\":\"kernel\"}}]}";

	env_init(&e);
	env_hook(&e, 0, "reboot", "cat > /dev/null");
	env_open(&e);
	fake_push(e.f, 0, cmd, -1, NULL);
	fake_push(e.f, FL_ERROR, NULL, -1, "cannot reach server");
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(eq(str, S(ran(&e, "reboot")), ""), "not before the answer is delivered");
	want = json_pack("[{s:s,s:s,s:{s:b}}]", "id", "cmd-r1", "status", "ok", "result",
			 "rebooting", 1);
	pending = load_pending(e.dir);
	cr_assert(json_equal(pending, want));
	json_decref(pending);
	json_decref(want);

	/* the answer does not get through, the agent restarts: still no reboot */
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), FL_ERROR));
	cr_assert(eq(str, S(ran(&e, "reboot")), ""));
	ag_poll_free(e.p);
	env_open(&e);
	cr_assert(eq(str, S(ran(&e, "reboot")), ""));

	/* the server takes the answer: then, and only then, the hook */
	rp.e = &e;
	e.f->user = &rp;
	e.f->handler = reboot_checkin;
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(eq(int, rp.carried, 1));
	cr_assert(eq(int, rp.hook_had_run, 0), "the hook ran before its answer was delivered");
	cr_assert(eq(str, S(ran(&e, "reboot")), "cmd-r1\n"));

	/* the agent comes back (as after the reboot): no second reboot, even
	 * when the server lists the command again */
	ag_poll_free(e.p);
	env_open(&e);
	e.f->handler = NULL;
	fake_push(e.f, 0, cmd, -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	fake_push(e.f, 0, "{\"poll_interval\":30,\"commands\":[]}", -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(eq(str, S(ran(&e, "reboot")), "cmd-r1\n"));
	env_fini(&e);
}

Test(agent_hooks, failed_reboot_hook_is_not_retried)
{
	struct env e;
	int64_t delay;
	struct fl_err err = {0};
	json_t *r = NULL;

	env_init(&e);
	env_hook(&e, 0, "reboot", "echo 'reboot: permission denied' >&2; exit 1");
	env_open(&e);
	fake_push(e.f, 0,
		  "{\"poll_interval\":30,\"commands\":[{\"id\":\"cmd-r2\",\"type\":\"reboot\"}]}",
		  -1, NULL);
	fake_push(e.f, 0, "{\"poll_interval\":30,\"commands\":[]}", -1, NULL);
	fake_push(e.f, 0, "{\"poll_interval\":30,\"commands\":[]}", -1, NULL);
	for (int i = 0; i < 3; i++)
		cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(eq(str, S(ran(&e, "reboot")), "cmd-r2\n"));
	cr_assert(eq(int, ag_state_read_json(&r, e.dir, AG_RESULTS_FILE, 1 << 20, &err), 0), "%s",
		  err.msg);
	cr_assert(yes(json_object_get(r, "reboot") == NULL), "no reboot left to run");
	json_decref(r);
	env_fini(&e);
}

Test(agent_hooks, a_deferring_checkin_leaves_commands_to_the_loop)
{
	struct env e;
	int64_t delay;
	json_t *pending;
	struct fl_err err = {0};

	env_init(&e);
	env_hook(&e, 0, "calibrate", "echo '{}'");
	env_hook(&e, 1, "reboot", "exit 0");
	env_open(&e);
	/* a reboot answered by the loop, its answer not yet delivered */
	fake_push(e.f, 0,
		  "{\"poll_interval\":30,\"commands\":[{\"id\":\"cmd-r3\",\"type\":\"reboot\"}]}",
		  -1, NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	ag_poll_free(e.p);

	/* rotate-key's check-in: delivers the answer, runs and answers nothing */
	e.opts.commands = NULL;
	e.opts.defer_commands = 1;
	env_open(&e);
	fake_push(
	    e.f, 0,
	    "{\"poll_interval\":30,\"commands\":[{\"id\":\"cmd-c3\",\"type\":\"calibrate\"}]}", -1,
	    NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(eq(sz, json_array_size(json_object_get(body_of(&e, 1), "command_results")), 1));
	pending = load_pending(e.dir);
	cr_assert(eq(sz, json_array_size(pending), 0), "cmd-c3 is neither run nor refused");
	json_decref(pending);
	cr_assert(eq(str, S(ran(&e, "calibrate")), ""));
	cr_assert(eq(str, S(ran(&e, "reboot")), ""), "the reboot waits for the loop");
	ag_poll_free(e.p);

	/* the loop again: the reboot is due, the command runs */
	e.opts.commands = &e.co;
	e.opts.defer_commands = 0;
	env_open(&e);
	fake_push(
	    e.f, 0,
	    "{\"poll_interval\":30,\"commands\":[{\"id\":\"cmd-c3\",\"type\":\"calibrate\"}]}", -1,
	    NULL);
	cr_assert(eq(int, ag_poll_once(&delay, e.p, &err), 0), "%s", err.msg);
	cr_assert(eq(str, S(ran(&e, "calibrate")), "cmd-c3\n"));
	cr_assert(eq(str, S(ran(&e, "reboot")), "cmd-r3\n"));
	env_fini(&e);
}

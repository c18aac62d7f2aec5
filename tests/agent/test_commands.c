/* Commands: ping answers; hooks the device names run with args on stdin and
 * their outcome becomes the result; types without a hook are refused; bad
 * ids refused; the hook flags are checked. */
#include "agent_test.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "agent/commands.h"
#include "fairlead/util.h"
#include "hook_test.h"

Test(agent_commands, ping)
{
	json_t *cmd = json_pack("{s:s,s:s,s:{}}", "id", "cmd-1", "type", "ping", "args");
	json_t *r = NULL,
	       *want = json_pack("{s:s,s:s,s:{s:b,s:I}}", "id", "cmd-1", "status", "ok", "result",
				 "pong", 1, "agent_time", (json_int_t)1700000042);
	struct fl_err err = {0};

	cr_assert(eq(int, ag_commands_execute(&r, cmd, NULL, 1700000042, &err), 0), "%s", err.msg);
	cr_assert(json_equal(r, want));
	json_decref(r);
	json_decref(cmd);
	json_decref(want);
}

Test(agent_commands, type_without_a_hook_is_refused)
{
	json_t *cmd = json_pack("{s:s,s:s}", "id", "cmd-2", "type", "reboot-the-moon");
	json_t *r = NULL;
	struct fl_err err = {0};
	const char *msg;

	cr_assert(eq(int, ag_commands_execute(&r, cmd, NULL, 1, &err), 0), "%s", err.msg);
	cr_assert(eq(str, S(json_string_value(json_object_get(r, "id"))), "cmd-2"));
	cr_assert(eq(str, S(json_string_value(json_object_get(r, "status"))), "refused"));
	msg = json_string_value(json_object_get(json_object_get(r, "result"), "message"));
	cr_assert(yes(msg && strstr(msg, "reboot-the-moon")), "%s", msg ? msg : "(null)");
	json_decref(r);
	json_decref(cmd);

	cmd = json_pack("{s:s}", "id", "cmd-3");
	cr_assert(eq(int, ag_commands_execute(&r, cmd, NULL, 1, &err), 0), "%s", err.msg);
	cr_assert(eq(str, S(json_string_value(json_object_get(r, "status"))), "error"));
	json_decref(r);
	json_decref(cmd);
}

Test(agent_commands, command_without_id_is_refused)
{
	json_t *cmd = json_pack("{s:s}", "type", "ping"), *r = NULL;
	struct fl_err err = {0};

	cr_assert(eq(int, ag_commands_execute(&r, cmd, NULL, 1, &err), FL_EINVAL));
	cr_assert(yes(r == NULL));
	json_decref(cmd);
	cmd = json_pack("{s:i,s:s}", "id", 5, "type", "ping");
	cr_assert(eq(int, ag_commands_execute(&r, cmd, NULL, 1, &err), FL_EINVAL));
	json_decref(cmd);
}

/* ---- hooks ---- */

/* Runs a command of type with args (JSON text, NULL: none) under o. */
static json_t *run(const struct ag_commands_opts *o, const char *type, const char *args)
{
	json_t *cmd = json_pack("{s:s,s:s}", "id", "cmd-h1", "type", type), *r = NULL;
	struct fl_err err = {0};

	if (args)
		json_object_set_new(cmd, "args", json_loads(args, 0, NULL));
	cr_assert(eq(int, ag_commands_execute(&r, cmd, o, 1, &err), 0), "%s", err.msg);
	json_decref(cmd);
	cr_assert(eq(str, S(json_string_value(json_object_get(r, "id"))), "cmd-h1"));
	return r;
}

static const char *status_of(const json_t *r)
{
	return json_string_value(json_object_get(r, "status"));
}

static const char *message_of(const json_t *r)
{
	const char *m = json_string_value(json_object_get(json_object_get(r, "result"), "message"));

	return m ? m : "(none)";
}

static void add_hook(struct ag_commands_opts *o, const char *type, const char *path)
{
	/* The path is borrowed from the spec: it must outlive o. */
	static char specs[8][600];
	static int next;
	char *spec = specs[next++ % 8];
	struct fl_err err = {0};

	snprintf(spec, sizeof(specs[0]), "%s=%s", type, path);
	cr_assert(eq(int, ag_commands_hook_add(o, spec, &err), 0), "%s", err.msg);
}

Test(agent_commands, hook_ok_returns_the_json_it_printed)
{
	const char *dir = ag_test_tmpdir();
	char body[1024];
	struct ag_commands_opts o = {0};
	json_t *r, *want = json_pack("{s:f,s:s}", "offset", 0.12, "sensor", "temp"), *seen;
	char path[600];

	snprintf(body, sizeof(body),
		 "cat > %s/stdin\n"
		 "echo \"$FAIRLEAD_COMMAND_ID $FAIRLEAD_COMMAND_TYPE $(pwd)\" > %s/env\n"
		 "echo 'calibrating' >&2\n"
		 "printf '{\"offset\": 0.12, \"sensor\": \"temp\"}\\n'",
		 dir, dir);
	add_hook(&o, "calibrate", hook_script(dir, "calibrate", body));
	r = run(&o, "calibrate", "{\"sensor\":\"temp\",\"n\":3}");
	cr_assert(eq(str, S(status_of(r)), "ok"), "%s", message_of(r));
	cr_assert(json_equal(json_object_get(r, "result"), want));
	/* the args arrive as one line of JSON on stdin */
	snprintf(path, sizeof(path), "%s/stdin", dir);
	seen = json_loads(file_text(path), 0, NULL);
	cr_assert(yes(seen != NULL), "stdin was '%s'", file_text(path));
	cr_assert(eq(int, json_integer_value(json_object_get(seen, "n")), 3));
	cr_assert(eq(str, S(strchr(file_text(path), '\n')), "\n"), "one line");
	json_decref(seen);
	snprintf(path, sizeof(path), "%s/env", dir);
	cr_assert(eq(str, S(file_text(path)), "cmd-h1 calibrate /\n"));
	json_decref(r);
	json_decref(want);

	/* no args: {} on stdin */
	r = run(&o, "calibrate", NULL);
	snprintf(path, sizeof(path), "%s/stdin", dir);
	cr_assert(eq(str, S(file_text(path)), "{}\n"));
	json_decref(r);
}

Test(agent_commands, hook_printing_no_json_object_is_ok_with_empty_result)
{
	const char *dir = ag_test_tmpdir();
	struct ag_commands_opts o = {0};
	json_t *r, *empty = json_object();

	add_hook(&o, "health-check", hook_script(dir, "hc", "echo all good"));
	r = run(&o, "health-check", NULL);
	cr_assert(eq(str, S(status_of(r)), "ok"));
	cr_assert(json_equal(json_object_get(r, "result"), empty));
	json_decref(r);

	add_hook(&o, "calibrate", hook_script(dir, "cal", "echo '[1,2]'"));
	r = run(&o, "calibrate", NULL);
	cr_assert(eq(str, S(status_of(r)), "ok"));
	cr_assert(json_equal(json_object_get(r, "result"), empty), "a JSON array is no result");
	json_decref(r);

	add_hook(&o, "restart-module", hook_script(dir, "rm", "exit 0"));
	r = run(&o, "restart-module", NULL);
	cr_assert(eq(str, S(status_of(r)), "ok"));
	cr_assert(json_equal(json_object_get(r, "result"), empty));
	json_decref(r);
	json_decref(empty);
}

Test(agent_commands, hook_exiting_non_zero_is_an_error_with_stderr)
{
	const char *dir = ag_test_tmpdir();
	struct ag_commands_opts o = {0};
	json_t *r, *want = json_pack("{s:i,s:s}", "exit", 3, "message", "sensor temp offline");
	char big[2048];

	add_hook(
	    &o, "health-check",
	    hook_script(dir, "hc",
			"echo '{\"partial\":1}'; printf '\\nsensor temp offline\\nmore\\n' >&2; "
			"exit 3"));
	r = run(&o, "health-check", NULL);
	cr_assert(eq(str, S(status_of(r)), "error"));
	cr_assert(json_equal(json_object_get(r, "result"), want), "%s", message_of(r));
	json_decref(r);
	json_decref(want);

	/* no stderr: the status says it; a long line is cut */
	add_hook(&o, "calibrate", hook_script(dir, "cal", "exit 7"));
	r = run(&o, "calibrate", NULL);
	cr_assert(eq(str, S(status_of(r)), "error"));
	cr_assert(
	    eq(int, json_integer_value(json_object_get(json_object_get(r, "result"), "exit")), 7));
	cr_assert(eq(str, S(message_of(r)), "hook exited with status 7"));
	json_decref(r);
	snprintf(big, sizeof(big), "head -c 3000 /dev/zero | tr '\\0' x >&2; exit 1");
	add_hook(&o, "restart-module", hook_script(dir, "rm", big));
	r = run(&o, "restart-module", NULL);
	cr_assert(eq(sz, strlen(message_of(r)), AG_COMMANDS_MSG_MAX));
	json_decref(r);
}

Test(agent_commands, hook_killed_at_the_timeout_with_its_children)
{
	const char *dir = ag_test_tmpdir();
	struct ag_commands_opts o = {0};
	char body[512], path[512];
	int64_t t0;
	json_t *r;
	long pid;

	snprintf(body, sizeof(body), "sleep 30 & echo $! > %s/child; wait", dir);
	add_hook(&o, "calibrate", hook_script(dir, "cal", body));
	o.timeout_s = 1;
	t0 = fl_mono_ms();
	r = run(&o, "calibrate", NULL);
	cr_assert(yes(fl_mono_ms() - t0 < 5000), "took %lld ms", (long long)(fl_mono_ms() - t0));
	cr_assert(eq(str, S(status_of(r)), "error"));
	cr_assert(eq(str, S(message_of(r)), "hook timed out after 1 s"));
	json_decref(r);
	/* the group went with it: the background sleep is gone */
	snprintf(path, sizeof(path), "%s/child", dir);
	pid = strtol(file_text(path), NULL, 10);
	cr_assert(yes(pid > 0));
	for (int i = 0; i < 100 && kill((pid_t)pid, 0) == 0; i++) {
		struct timespec ts = {0, 20 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	cr_assert(yes(kill((pid_t)pid, 0) != 0), "the hook's child survived the timeout");
}

Test(agent_commands, hook_printing_too_much_is_an_error)
{
	const char *dir = ag_test_tmpdir();
	struct ag_commands_opts o = {0};
	json_t *r;

	add_hook(&o, "calibrate",
		 hook_script(dir, "cal", "head -c 70000 /dev/zero | tr '\\0' a; exit 0"));
	r = run(&o, "calibrate", NULL);
	cr_assert(eq(str, S(status_of(r)), "error"));
	cr_assert(eq(str, S(message_of(r)), "hook printed more than 65536 bytes on stdout"));
	json_decref(r);

	/* exactly the limit is fine */
	add_hook(&o, "health-check",
		 hook_script(dir, "hc",
			     "printf '{\"x\":\"'; head -c 65526 /dev/zero | tr '\\0' a; "
			     "printf '\"}'"));
	r = run(&o, "health-check", NULL);
	cr_assert(eq(str, S(status_of(r)), "ok"), "%s", message_of(r));
	cr_assert(eq(sz,
		     strlen(json_string_value(json_object_get(json_object_get(r, "result"), "x"))),
		     65526));
	json_decref(r);
}

Test(agent_commands, hook_json_too_deep_is_an_error)
{
	const char *dir = ag_test_tmpdir();
	struct ag_commands_opts o = {0};
	char body[512], deep[200];
	size_t n = 0;
	json_t *r;

	/* {"a":[[[...]]]}: 40 levels, valid JSON the server would refuse */
	n += (size_t)snprintf(deep + n, sizeof(deep) - n, "{\"a\":");
	for (int i = 1; i < 40; i++)
		deep[n++] = '[';
	for (int i = 1; i < 40; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	snprintf(body, sizeof(body), "printf '%s'", deep);
	add_hook(&o, "calibrate", hook_script(dir, "cal", body));
	r = run(&o, "calibrate", NULL);
	cr_assert(eq(str, S(status_of(r)), "error"), "%s", message_of(r));
	cr_assert(eq(str, S(message_of(r)), "hook printed JSON nested deeper than 32 levels"));
	json_decref(r);
}

Test(agent_commands, hook_not_reading_a_large_stdin_is_harmless)
{
	const char *dir = ag_test_tmpdir();
	struct ag_commands_opts o = {0};
	size_t n = 400 * 1024;
	char *args = malloc(n + 16);
	json_t *r;

	memcpy(args, "{\"blob\":\"", 9);
	memset(args + 9, 'z', n);
	memcpy(args + 9 + n, "\"}", 3);
	add_hook(&o, "calibrate", hook_script(dir, "cal", "echo '{\"read\":false}'"));
	/* a SIGPIPE here would end this test process */
	r = run(&o, "calibrate", args);
	cr_assert(eq(str, S(status_of(r)), "ok"), "%s", message_of(r));
	json_decref(r);
	free(args);
}

Test(agent_commands, refused_without_a_hook_for_the_type)
{
	const char *dir = ag_test_tmpdir();
	struct ag_commands_opts o = {0};
	json_t *r;

	add_hook(&o, "calibrate", hook_script(dir, "cal", "echo '{}'"));
	r = run(&o, "health-check", NULL);
	cr_assert(eq(str, S(status_of(r)), "refused"));
	cr_assert(
	    eq(str, S(message_of(r)), "no hook for command type 'health-check' on this device"));
	json_decref(r);
	/* collect-logs never takes a hook */
	r = run(&o, "collect-logs", NULL);
	cr_assert(eq(str, S(status_of(r)), "refused"));
	json_decref(r);
	r = json_pack("{s:s}", "type", "calibrate");
	cr_assert(eq(int, ag_commands_kind(r, &o), AG_CMD_HOOK));
	cr_assert(eq(int, ag_commands_kind(r, NULL), AG_CMD_BUILTIN));
	json_decref(r);
}

Test(agent_commands, reboot_is_answered_and_its_hook_runs_separately)
{
	const char *dir = ag_test_tmpdir();
	struct ag_commands_opts o = {0};
	json_t *r, *want = json_pack("{s:b}", "rebooting", 1),
		   *args = json_pack("{s:i}", "delay", 5);
	char body[1200], path[512];
	struct fl_err err = {0};

	snprintf(body, sizeof(body), "cat > %s/ran; echo \"$FAIRLEAD_COMMAND_ID\" >> %s/ran", dir,
		 dir);
	add_hook(&o, "reboot", hook_script(dir, "reboot", body));
	r = run(&o, "reboot", NULL);
	cr_assert(eq(str, S(status_of(r)), "ok"));
	cr_assert(json_equal(json_object_get(r, "result"), want));
	snprintf(path, sizeof(path), "%s/ran", dir);
	cr_assert(eq(str, S(file_text(path)), ""), "answering a reboot runs nothing");
	json_decref(r);
	cr_assert(eq(int, ag_commands_reboot(&o, "cmd-r", args, &err), 0), "%s", err.msg);
	cr_assert(eq(str, S(file_text(path)), "{\"delay\":5}\ncmd-r\n"));

	add_hook(&o, "health-check", hook_script(dir, "hc", "exit 0"));
	o.hooks[AG_HOOK_REBOOT] = hook_script(dir, "reboot2", "echo 'no permission' >&2; exit 2");
	cr_assert(eq(int, ag_commands_reboot(&o, "cmd-r", NULL, &err), FL_ERROR));
	cr_assert(eq(str, S(err.msg), "reboot hook: no permission"));
	json_decref(want);
	json_decref(args);
}

Test(agent_commands, hook_flags_are_checked)
{
	const char *dir = ag_test_tmpdir();
	struct ag_commands_opts o = {0};
	struct fl_err err = {0};
	char spec[600], plain[512];
	const char *exe = hook_script(dir, "ok", "exit 0");
	FILE *f;

	snprintf(plain, sizeof(plain), "%s/plain", dir);
	f = fopen(plain, "w");
	fclose(f);
	snprintf(spec, sizeof(spec), "calibrate=%s", exe);
	cr_assert(eq(int, ag_commands_hook_add(&o, spec, &err), 0), "%s", err.msg);
	cr_assert(eq(str, S(o.hooks[AG_HOOK_CALIBRATE]), S(exe)));
	cr_assert(eq(int, ag_commands_hook_add(&o, spec, &err), FL_EINVAL));
	cr_assert(eq(str, S(err.msg), "a second hook for calibrate"));

	snprintf(spec, sizeof(spec), "ping=%s", exe);
	cr_assert(eq(int, ag_commands_hook_add(&o, spec, &err), FL_EINVAL));
	snprintf(spec, sizeof(spec), "collect-logs=%s", exe);
	cr_assert(eq(int, ag_commands_hook_add(&o, spec, &err), FL_EINVAL));
	snprintf(spec, sizeof(spec), "format-disk=%s", exe);
	cr_assert(eq(int, ag_commands_hook_add(&o, spec, &err), FL_EINVAL));
	cr_assert(yes(strstr(err.msg, "unknown command type 'format-disk'") != NULL), "%s",
		  err.msg);
	cr_assert(eq(int, ag_commands_hook_add(&o, "reboot=bin/reboot", &err), FL_EINVAL));
	cr_assert(yes(strstr(err.msg, "not an absolute path") != NULL), "%s", err.msg);
	snprintf(spec, sizeof(spec), "reboot=%s", plain);
	cr_assert(eq(int, ag_commands_hook_add(&o, spec, &err), FL_EINVAL));
	cr_assert(yes(strstr(err.msg, "not executable") != NULL), "%s", err.msg);
	snprintf(spec, sizeof(spec), "reboot=%s", dir);
	cr_assert(eq(int, ag_commands_hook_add(&o, spec, &err), FL_EINVAL));
	cr_assert(yes(strstr(err.msg, "not a regular file") != NULL), "%s", err.msg);
	snprintf(spec, sizeof(spec), "reboot=%s/missing", dir);
	cr_assert(eq(int, ag_commands_hook_add(&o, spec, &err), FL_EINVAL));
	cr_assert(eq(int, ag_commands_hook_add(&o, "reboot", &err), FL_EINVAL));
	cr_assert(eq(int, ag_commands_hook_add(&o, "=/bin/true", &err), FL_EINVAL));
	cr_assert(yes(o.hooks[AG_HOOK_REBOOT] == NULL), "a refused flag sets nothing");
}

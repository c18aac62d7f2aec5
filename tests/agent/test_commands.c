/* Commands: ping answers, types without a hook are refused, bad ids refused. */
#include "agent_test.h"

#include "agent/commands.h"

Test(agent_commands, ping)
{
	json_t *cmd = json_pack("{s:s,s:s,s:{}}", "id", "cmd-1", "type", "ping", "args");
	json_t *r = NULL,
	       *want = json_pack("{s:s,s:s,s:{s:b,s:I}}", "id", "cmd-1", "status", "ok", "result",
				 "pong", 1, "agent_time", (json_int_t)1700000042);
	struct fl_err err = {0};

	cr_assert(eq(int, ag_commands_execute(&r, cmd, 1700000042, &err), 0), "%s", err.msg);
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

	cr_assert(eq(int, ag_commands_execute(&r, cmd, 1, &err), 0), "%s", err.msg);
	cr_assert(eq(str, S(json_string_value(json_object_get(r, "id"))), "cmd-2"));
	cr_assert(eq(str, S(json_string_value(json_object_get(r, "status"))), "refused"));
	msg = json_string_value(json_object_get(json_object_get(r, "result"), "message"));
	cr_assert(yes(msg && strstr(msg, "reboot-the-moon")), "%s", msg ? msg : "(null)");
	json_decref(r);
	json_decref(cmd);

	cmd = json_pack("{s:s}", "id", "cmd-3");
	cr_assert(eq(int, ag_commands_execute(&r, cmd, 1, &err), 0), "%s", err.msg);
	cr_assert(eq(str, S(json_string_value(json_object_get(r, "status"))), "error"));
	json_decref(r);
	json_decref(cmd);
}

Test(agent_commands, command_without_id_is_refused)
{
	json_t *cmd = json_pack("{s:s}", "type", "ping"), *r = NULL;
	struct fl_err err = {0};

	cr_assert(eq(int, ag_commands_execute(&r, cmd, 1, &err), FL_EINVAL));
	cr_assert(yes(r == NULL));
	json_decref(cmd);
	cmd = json_pack("{s:i,s:s}", "id", 5, "type", "ping");
	cr_assert(eq(int, ag_commands_execute(&r, cmd, 1, &err), FL_EINVAL));
	json_decref(cmd);
}

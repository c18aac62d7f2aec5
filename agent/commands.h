/*
 * commands.h - commands the server queues for the device, run on check-in.
 *
 * A command is {"id","type","args"}; its result is
 * {"id","status":"ok"|"error"|"refused","result":{...}}. "ping" is built in
 * and answers {"pong":true,"agent_time":now}. reboot, restart-module,
 * calibrate and health-check run the hook the device's own configuration
 * names for the type (ag_commands_hook_add); any other type, or one without
 * a hook here, is refused with {"message":"..."}, whatever the server asks.
 *
 * The hook contract (docs/agent.md, "Command hooks"): no shell; the args as
 * one line of JSON on stdin; FAIRLEAD_COMMAND_ID and FAIRLEAD_COMMAND_TYPE in
 * its environment; "/" as its working directory; killed with its process
 * group after the timeout. Exit 0 is "ok" with the JSON object it printed on
 * stdout as the result ({} when it printed none); anything else is "error":
 * {"exit":N,"message":first line of stderr} (also for stdout over
 * AG_COMMANDS_OUT_MAX, with that message), {"signal":N,"message"} or, after
 * the timeout, {"message":"hook timed out after N s"}.
 */
#ifndef AG_COMMANDS_H
#define AG_COMMANDS_H

#include <jansson.h>
#include <stdint.h>

#include "fairlead/err.h"

#define AG_COMMANDS_TIMEOUT_S	  60   /* one hook run, unless configured */
#define AG_COMMANDS_TIMEOUT_MAX_S 3600 /* the most a configured timeout may be */
#define AG_COMMANDS_OUT_MAX	  65536
#define AG_COMMANDS_MSG_MAX	  256 /* bytes of stderr's first line kept */

/* The command types a device may give a hook. */
enum ag_hook_type {
	AG_HOOK_REBOOT,
	AG_HOOK_RESTART_MODULE,
	AG_HOOK_CALIBRATE,
	AG_HOOK_HEALTH_CHECK,
	AG_HOOK_NTYPES
};

/* The device's own configuration; zeroed: no hooks, the default timeout. */
struct ag_commands_opts {
	const char *hooks[AG_HOOK_NTYPES]; /* absolute paths; NULL: refused */
	int64_t timeout_s;		   /* one hook run; 0: AG_COMMANDS_TIMEOUT_S */
};

/* What running a command means for the caller. */
enum ag_command_kind {
	AG_CMD_BUILTIN, /* ping or a refusal: no side effect, may be answered again */
	AG_CMD_HOOK,	/* runs the hook now: must run at most once */
	AG_CMD_REBOOT,	/* result first; ag_commands_reboot once the server has it */
};

/* Takes "TYPE=PATH" (PATH borrowed from spec). FL_EINVAL naming the problem:
 * not a type that takes a hook, a type given twice, a path that is not
 * absolute or not an executable regular file. */
int ag_commands_hook_add(struct ag_commands_opts *o, const char *spec, struct fl_err *err);

/* The kind of cmd under o (NULL: no hooks). */
enum ag_command_kind ag_commands_kind(const json_t *cmd, const struct ag_commands_opts *o);

/* *result is a new object the caller owns. Runs the hook of an AG_CMD_HOOK
 * command (blocking, up to the timeout); for AG_CMD_REBOOT it runs nothing
 * and answers "ok" {"rebooting":true}. FL_EINVAL when cmd has no usable id
 * (nothing could be reported for it). */
int ag_commands_execute(json_t **result, const json_t *cmd, const struct ag_commands_opts *o,
			int64_t now, struct fl_err *err);

/* Runs the reboot hook for command id with args (NULL: {}). 0 when it exited
 * 0 (the device may still be going down); FL_ETIMEOUT or FL_ERROR saying
 * how it failed; FL_ENOTFOUND without a reboot hook. */
int ag_commands_reboot(const struct ag_commands_opts *o, const char *id, const json_t *args,
		       struct fl_err *err);

/* The id of a command or a result, or NULL. Borrowed. */
const char *ag_commands_id(const json_t *cmd);

#endif

#include "agent/commands.h"

#include <string.h>

const char *ag_commands_id(const json_t *cmd)
{
	const json_t *id = json_object_get(cmd, "id");
	const char *s;

	if (!json_is_string(id))
		return NULL;
	s = json_string_value(id);
	/* Ids end up in results.json and logs; keep them short and plain. */
	if (!*s || strlen(s) > 128 || strlen(s) != json_string_length(id))
		return NULL;
	return s;
}

static json_t *message_result(const char *id, const char *status, json_t *msg)
{
	/* json_sprintf fails on a type cut inside a UTF-8 sequence; a plain
	 * message is better than no result. */
	if (!msg)
		msg = json_string("no hook for this command type on this device");
	return json_pack("{s:s,s:s,s:{s:o}}", "id", id, "status", status, "result", "message",
			 msg);
}

int ag_commands_execute(json_t **result, const json_t *cmd, int64_t now, struct fl_err *err)
{
	const char *id = ag_commands_id(cmd);
	const json_t *type = json_object_get(cmd, "type");
	json_t *r = NULL;

	*result = NULL;
	if (!id)
		return fl_err_set(err, FL_EINVAL, "command without a valid id");
	if (!json_is_string(type))
		r = message_result(id, "error", json_string("command has no type"));
	else if (strcmp(json_string_value(type), "ping") == 0)
		r = json_pack("{s:s,s:s,s:{s:b,s:I}}", "id", id, "status", "ok", "result", "pong",
			      1, "agent_time", (json_int_t)now);
	else
		/* The device runs only what its own configuration names: a type
		 * without a hook here is refused, whatever the server asks. */
		r = message_result(id, "refused",
				   json_sprintf("no hook for command type '%.64s' on this device",
						json_string_value(type)));
	if (!r)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	*result = r;
	return 0;
}

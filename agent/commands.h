/*
 * commands.h - commands the server queues for the device, run on check-in.
 *
 * A command is {"id","type","args"}; its result is
 * {"id","status":"ok"|"error","result":{...}}. "ping" answers
 * {"pong":true,"agent_time":now}; unknown types give status "error" with
 * {"message":"..."} so the operator sees why, rather than silence.
 */
#ifndef AG_COMMANDS_H
#define AG_COMMANDS_H

#include <jansson.h>
#include <stdint.h>

#include "fairlead/err.h"

/* *result is a new object the caller owns. FL_EINVAL when cmd has no usable
 * id (nothing could be reported for it). */
int ag_commands_execute(json_t **result, const json_t *cmd, int64_t now, struct fl_err *err);

/* The id of a command or a result, or NULL. Borrowed. */
const char *ag_commands_id(const json_t *cmd);

#endif

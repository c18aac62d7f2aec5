/*
 * commands.h - the one policy for commands to devices, shared by the API and
 * the playbook engine: the types an agent knows, the deadline of a delivery,
 * idempotency keys.
 *
 * A command is an intent the device picks up at its next check-in; it runs
 * only a hook the device's own configuration names (the agent answers
 * "refused" without one), so the server never chooses the code a device
 * runs. Every command has a deadline: queued past it, it reads as
 * "expired" and is never delivered.
 */
#ifndef CP_CORE_COMMANDS_H
#define CP_CORE_COMMANDS_H

#include <jansson.h>
#include <stdint.h>

#include "fairlead/err.h"

struct cp_store;
struct cp_registry;
struct cp_audit_rec;

#define CP_CMD_TTL_DEFAULT 3600		/* deliver within an hour unless told */
#define CP_CMD_TTL_MAX	   (30 * 86400) /* at most 30 days */
#define CP_CMD_KEY_MAX	   128

/* 1 for a command type agents know (ping, reboot, restart-module, calibrate,
 * collect-logs, health-check). */
int cp_command_type_known(const char *type);
/* 1 for an idempotency key of [A-Za-z0-9._:-], 1 to CP_CMD_KEY_MAX bytes. */
int cp_command_key_valid(const char *key);

struct cp_command_req {
	const char *device_id, *type;
	json_t *args;	    /* borrowed, NULL: {} */
	int64_t deliver_by; /* unix seconds; 0: now + CP_CMD_TTL_DEFAULT */
	const char *key;    /* idempotency key or NULL */
	int64_t now;
};
/* Checks r, stores the command with the audit entry a ("device.command", its
 * details filled in here) and counts it open in reg. *out is the command as
 * stored, the earlier one when r's key was used on the device before
 * (*created 0, nothing written; FL_ECONFLICT when that one differs).
 * FL_EINVAL names a bad type, key, args or deadline. */
int cp_command_issue(json_t **out, int *created, struct cp_store *store, struct cp_registry *reg,
		     const struct cp_command_req *r, struct cp_audit_rec *a, struct fl_err *err);

#endif

#include "core/commands.h"

#include <stdlib.h>
#include <string.h>

#include "core/registry.h"
#include "fairlead/crypto.h"
#include "fairlead/json.h"
#include "fairlead/util.h"
#include "store/store.h"

int cp_command_type_known(const char *type)
{
	static const char *const types[] = {"ping",	 "reboot",	 "restart-module",
					    "calibrate", "collect-logs", "health-check"};

	for (size_t i = 0; type && i < FL_ARRAY_SIZE(types); i++)
		if (strcmp(type, types[i]) == 0)
			return 1;
	return 0;
}

int cp_command_key_valid(const char *key)
{
	size_t n = key ? strlen(key) : 0;

	if (n == 0 || n > CP_CMD_KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = key[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

int cp_command_issue(json_t **out, int *created, struct cp_store *store, struct cp_registry *reg,
		     const struct cp_command_req *r, struct cp_audit_rec *a, struct fl_err *err)
{
	struct cp_command_new c = {.device_id = r->device_id,
				   .type = r->type,
				   .args = r->args,
				   .deliver_by = r->deliver_by,
				   .idem_key = r->key,
				   .now = r->now};
	char *id = NULL;
	int made = 0, rc;

	*out = NULL;
	if (created)
		*created = 0;
	if (!cp_command_type_known(r->type))
		return fl_err_set(err, FL_EINVAL, "unknown command type '%.32s'",
				  r->type ? r->type : "");
	if (r->key && !cp_command_key_valid(r->key))
		return fl_err_set(err, FL_EINVAL,
				  "idempotency key must be 1 to %d of [A-Za-z0-9._:-]",
				  CP_CMD_KEY_MAX);
	if (r->args && !json_is_object(r->args))
		return fl_err_set(err, FL_EINVAL, "args must be an object");
	if (r->args && (rc = fl_json_doc_check(r->args, "args", err)) < 0)
		return rc;
	if (!c.deliver_by)
		c.deliver_by = r->now + CP_CMD_TTL_DEFAULT;
	if (c.deliver_by <= r->now || c.deliver_by > r->now + CP_CMD_TTL_MAX)
		return fl_err_set(err, FL_EINVAL, "deliver_by must be after now and within %d days",
				  CP_CMD_TTL_MAX / 86400);
	if (!(id = fl_token_new("cmd", 12)))
		return FL_ENOMEM;
	c.id = id;
	a->details = json_pack("{s:s,s:s,s:I,s:s?}", "command", id, "type", r->type, "deliver_by",
			       (json_int_t)c.deliver_by, "idempotency_key", r->key);
	rc = cp_store_command_create(out, &made, store, &c, a, err);
	json_decref(a->details);
	a->details = NULL;
	if (rc >= 0 && made)
		cp_registry_add_commands(reg, r->device_id, 1);
	if (created)
		*created = made;
	free(id);
	return rc < 0 ? rc : 0;
}

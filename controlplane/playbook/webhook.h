/* TEMPORARY: replaced by the webhook module's own header at merge. */
#ifndef CP_PLAYBOOK_WEBHOOK_H
#define CP_PLAYBOOK_WEBHOOK_H
#include <jansson.h>
#include <stddef.h>
#include "fairlead/err.h"
struct cp_pb_webhook {
	const char *url;
	const json_t *body;
	const char *secret;
	size_t secret_len;
	const char *delivery;
	int timeout_s;
	const char *ca_file;
};
int cp_pb_webhook_post(int *status, const struct cp_pb_webhook *w, struct fl_err *err);
int cp_pb_webhook_secret(char **out, size_t *len, const char *env_name, struct fl_err *err);
#endif

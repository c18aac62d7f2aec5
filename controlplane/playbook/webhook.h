/*
 * webhook.h - the webhook action of playbooks: one signed HTTPS POST through
 * the common HTTP client.
 *
 * The body is the compact JSON of the rendered "body" param, keys sorted.
 * Every request carries
 *   Content-Type: application/json
 *   Fairlead-Delivery: ID           the action's idempotency key: the same
 *                                   for a retry and after a restart
 *   Fairlead-Signature: t=UNIX,v1=HEX
 * where HEX is the lower-case hex HMAC-SHA256, under the secret, of the
 * decimal UNIX time, a '.', and the body bytes. A receiver recomputes it,
 * compares in constant time and refuses an old t (docs/playbooks.md,
 * "Webhooks").
 */
#ifndef CP_PLAYBOOK_WEBHOOK_H
#define CP_PLAYBOOK_WEBHOOK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fairlead/err.h"

#define CP_PB_WEBHOOK_REPLY_MAX (64 * 1024)

struct cp_pb_webhook {
	const char *url;    /* https:// only */
	const json_t *body; /* an object */
	const char *secret; /* the HMAC key */
	size_t secret_len;
	const char *delivery; /* Fairlead-Delivery */
	int timeout_s;	      /* the whole request */
	const char *ca_file;  /* NULL: the system's CA store */
	int64_t now;	      /* t of the signature; 0: the clock */
};

/* One attempt; *status is the HTTP status (0 when none came). 2xx is 0.
 * FL_EAGAIN for what a retry may mend: 408, 429, 5xx, a transport error
 * or timeout. FL_EINVAL for what it will not: another status (the message
 * names it), a URL that is not https://, a failed TLS verification. */
int cp_pb_webhook_post(int *status, const struct cp_pb_webhook *w, struct fl_err *err);

/* The signature header's value for body at t, into out (at least
 * CP_PB_WEBHOOK_SIG_MAX bytes). */
#define CP_PB_WEBHOOK_SIG_MAX 96
void cp_pb_webhook_sign(char *out, const char *secret, size_t secret_len, int64_t t,
			const char *body, size_t len);

/* The secret from the environment variable env_name of fairleadd (a copy
 * the caller frees). FL_EINVAL naming it when unset, empty or shorter than
 * CP_PB_WEBHOOK_SECRET_MIN bytes. */
#define CP_PB_WEBHOOK_SECRET_MIN 16
int cp_pb_webhook_secret(char **out, size_t *len, const char *env_name, struct fl_err *err);

#endif

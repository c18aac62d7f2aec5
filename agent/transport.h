/*
 * transport.h - how the agent talks to the server: a small vtable so that the
 * check-in loop, enrollment and key rotation run unchanged over real HTTPS
 * (fl_httpc) or over a scripted fake in tests.
 *
 * json() has the contract of fl_httpc_json(): 0 on 2xx with the reply in *out
 * (caller owns, may be NULL), the FL_E* code of an error status with the
 * server's message in err, FL_ERROR/FL_ETIMEOUT on transport failure.
 * *retry_after is the Retry-After header in seconds or -1.
 */
#ifndef AG_TRANSPORT_H
#define AG_TRANSPORT_H

#include <jansson.h>
#include <stdint.h>

#include "fairlead/crypto.h"
#include "fairlead/err.h"

struct ag_transport {
	void *ctx;
	int (*json)(void *ctx, json_t **out, const char *method, const char *target,
		    const json_t *body, int64_t *retry_after, struct fl_err *err);
	/* Signs later requests with this key; keyid NULL stops signing. */
	void (*set_signer)(void *ctx, const char *keyid, const uint8_t sk[FL_ED25519_SK_LEN]);
	void (*free)(void *ctx);
};

/* A transport over fl_httpc pinned to ca_file (NULL: system store). */
int ag_transport_http_new(struct ag_transport **out, const char *server, const char *ca_file,
			  struct fl_err *err);
/* Frees ctx through the vtable and t itself; NULL is a no-op. */
void ag_transport_free(struct ag_transport *t);

int ag_transport_json(struct ag_transport *t, json_t **out, const char *method, const char *target,
		      const json_t *body, int64_t *retry_after, struct fl_err *err);
void ag_transport_set_signer(struct ag_transport *t, const char *keyid,
			     const uint8_t sk[FL_ED25519_SK_LEN]);

#endif

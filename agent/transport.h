/*
 * transport.h - how the agent talks to the server: a small vtable so that the
 * check-in loop, enrollment and key rotation run unchanged over real HTTPS
 * (fl_httpc) or over a scripted fake in tests.
 *
 * json() has the contract of fl_httpc_json(): 0 on 2xx with the reply in *out
 * (caller owns, may be NULL), the FL_E* code of an error status with the
 * server's message in err, FL_ERROR/FL_ETIMEOUT on transport failure,
 * FL_ETLS when the TLS handshake or the certificate check failed.
 * *retry_after is the Retry-After header in seconds or -1.
 */
#ifndef AG_TRANSPORT_H
#define AG_TRANSPORT_H

#include <jansson.h>
#include <stdint.h>

#include "fairlead/crypto.h"
#include "fairlead/err.h"
#include "fairlead/httpc.h"

struct ag_transport {
	void *ctx;
	int (*json)(void *ctx, json_t **out, const char *method, const char *target,
		    const json_t *body, int64_t *retry_after, struct fl_err *err);
	/* Streams GET target into sink with the contract of fl_httpc_fetch():
	 * a Range request from offset, never more than max_bytes in all
	 * (FL_ETOOBIG), FL_ECONFLICT when a Range request was answered with
	 * the whole body, FL_ETIMEOUT below low_speed_bps for low_speed_s. */
	int (*fetch)(void *ctx, long *status, const char *target, int64_t offset, int64_t max_bytes,
		     fl_httpc_sink sink, void *sink_ctx, long low_speed_bps, long low_speed_s,
		     struct fl_err *err);
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
int ag_transport_fetch(struct ag_transport *t, long *status, const char *target, int64_t offset,
		       int64_t max_bytes, fl_httpc_sink sink, void *sink_ctx, long low_speed_bps,
		       long low_speed_s, struct fl_err *err);
void ag_transport_set_signer(struct ag_transport *t, const char *keyid,
			     const uint8_t sk[FL_ED25519_SK_LEN]);

#endif

/*
 * httpc.h - the HTTPS client of the agent and the CLI: the only libcurl user.
 *
 * One client keeps one connection alive across requests, and when the server
 * has closed it, resumes the TLS session on the next one (session IDs, TLS
 * 1.3 tickets) from the client's share. TLS verification is always on; the
 * server's CA is pinned through ca_file. Requests carry either
 * an operator bearer token or a device signature (httpsig.h), never both.
 * Responses are capped at max_body bytes.
 */
#ifndef FAIRLEAD_HTTPC_H
#define FAIRLEAD_HTTPC_H

#include <jansson.h>
#include <stdint.h>

#include "fairlead/buf.h"
#include "fairlead/crypto.h"
#include "fairlead/err.h"

/* TLS sessions and resolved names shared by clients (one simulated device's,
 * say), so that a new connection of any resumes a session another made.
 * Thread-safe; it must outlive every client using it. */
struct fl_httpc_share;

int fl_httpc_share_new(struct fl_httpc_share **out, struct fl_err *err);
void fl_httpc_share_free(struct fl_httpc_share *s);

struct fl_httpc_opts {
	const char *base_url;	      /* "https://127.0.0.1:8443" */
	const char *ca_file;	      /* PEM CA to pin; NULL: system store */
	const char *token;	      /* operator bearer token, or NULL */
	long timeout_ms;	      /* whole request; 0: 30 s */
	long connect_timeout_ms;      /* 0: 10 s */
	size_t max_body;	      /* response cap; 0: 16 MiB */
	struct fl_httpc_share *share; /* NULL: the client makes its own */
};

struct fl_httpc;

struct fl_http_resp {
	long status;
	struct fl_buf body;
	int64_t retry_after; /* seconds from Retry-After, or -1 */
};

int fl_httpc_new(struct fl_httpc **out, const struct fl_httpc_opts *opts, struct fl_err *err);
void fl_httpc_free(struct fl_httpc *c);

/* Signs every later request with this device key (copied); NULL to stop. */
void fl_httpc_set_signer(struct fl_httpc *c, const char *keyid,
			 const uint8_t sk[FL_ED25519_SK_LEN]);

/* Sends the header "name: value" with every later request (copied); value
 * NULL drops it. At most FL_HTTPC_MAX_HEADERS; FL_ETOOBIG past that,
 * FL_EINVAL for a name or value with a line break. */
#define FL_HTTPC_MAX_HEADERS 8
int fl_httpc_set_header(struct fl_httpc *c, const char *name, const char *value,
			struct fl_err *err);
/* Sends one request. target is path plus optional "?query". Transport
 * failures return FL_ERROR (or FL_ETIMEOUT); a failed TLS handshake or
 * certificate check returns FL_ETLS, and one on the certificate's validity
 * period says the device's clock is the likely cause and shows it. Any HTTP
 * status returns 0 with resp filled (release it with fl_http_resp_release). */
int fl_httpc_do(struct fl_http_resp *resp, struct fl_httpc *c, const char *method,
		const char *target, const void *body, size_t len, struct fl_err *err);
void fl_http_resp_release(struct fl_http_resp *r);

/* JSON round trip: sends body (NULL: no body), and on 2xx parses the reply
 * into *out (caller owns; NULL for an empty reply). On an error status it
 * returns the FL_E* code for the status with the server's error message in
 * err, and *retry_after (if not NULL) from the header. */
int fl_httpc_json(json_t **out, struct fl_httpc *c, const char *method, const char *target,
		  const json_t *body, int64_t *retry_after, struct fl_err *err);

/* Progress of a transfer: bytes done and total (-1 when unknown). A non-zero
 * return aborts the transfer (FL_ETIMEOUT is not used for that: FL_ERROR). */
typedef int (*fl_httpc_progress)(void *ctx, int64_t done, int64_t total);

/* Sends the file at path as the body of method target with its length as
 * Content-Length, streaming it: the file is never held in memory. The (small)
 * reply lands in resp as with fl_httpc_do. A device signer covers the body
 * digest, so it reads the file twice: once to hash, once to send. */
int fl_httpc_send_file(struct fl_http_resp *resp, struct fl_httpc *c, const char *method,
		       const char *target, const char *path, fl_httpc_progress progress,
		       void *progress_ctx, struct fl_err *err);

/* Receives the body of GET target chunk by chunk into sink, starting at byte
 * offset (a Range request when offset > 0) and refusing to take more than
 * max_bytes in all (FL_ETOOBIG: a server cannot make a device store more
 * than the signed length). A transfer slower than low_speed_bps for
 * low_speed_s seconds is abandoned (FL_ETIMEOUT); 0 disables that.
 * *status is the HTTP status. A 200 answer to a Range request means the
 * server sent the whole thing: that is FL_ECONFLICT before any byte reaches
 * sink, so the caller restarts from 0. A sink returning non-zero aborts. */
typedef int (*fl_httpc_sink)(void *ctx, const void *data, size_t len);
int fl_httpc_fetch(long *status, struct fl_httpc *c, const char *target, int64_t offset,
		   int64_t max_bytes, fl_httpc_sink sink, void *sink_ctx, long low_speed_bps,
		   long low_speed_s, struct fl_err *err);

/* FL_E* code for an HTTP status (0 for 2xx). */
int fl_http_status_code(long status);

/* Percent-encodes s for a query or path segment, appended to b. */
int fl_url_escape(struct fl_buf *b, const char *s);

#endif

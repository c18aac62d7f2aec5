/*
 * httpsig.h - signed device requests, an RFC 9421 profile.
 *
 * Headers on every device request after enrollment:
 *   Content-Digest: sha-256=:BASE64(SHA-256(body)):          (RFC 9530)
 *   Signature-Input: fl=("@method" "@path" "@query" "content-digest");
 *                    created=T;expires=T2;nonce="N";keyid="K";tag="fairlead-v1"
 *   Signature: fl=:BASE64(Ed25519 signature over the signature base):
 *
 * The covered components are fixed; the verifier rebuilds the base from the
 * request it received, never trusts an "alg" (only "ed25519" is tolerated) and
 * takes the key from its registry by keyid. Time window: created may be at
 * most FL_SIG_SKEW in the future; expires must be after created, at most
 * FL_SIG_MAX_TTL after it, and not more than FL_SIG_SKEW in the past. So a
 * signature is accepted until expires + FL_SIG_SKEW at the latest, and the
 * verifier's replay cache (its owner's job) keeps nonces that long.
 */
#ifndef FAIRLEAD_HTTPSIG_H
#define FAIRLEAD_HTTPSIG_H

#include <stddef.h>
#include <stdint.h>

#include "fairlead/buf.h"
#include "fairlead/crypto.h"
#include "fairlead/err.h"

#define FL_SIG_TAG	   "fairlead-v1"
#define FL_SIG_SKEW	   60  /* seconds of clock skew tolerated */
#define FL_SIG_MAX_TTL	   300 /* expires - created at most */
#define FL_SIG_DEFAULT_TTL 60
#define FL_DIGEST_LEN	   64 /* "sha-256=:" + 44 + ":" + NUL fits */

struct fl_sig_params {
	int64_t created;
	int64_t expires;
	char nonce[64];
	char keyid[FL_KEYID_LEN + 1];
};

/* Content-Digest value for body. */
void fl_httpsig_digest(char out[FL_DIGEST_LEN], const void *body, size_t len);

/* The signature base (RFC 9421 §2.5). query excludes the '?', may be NULL. */
int fl_httpsig_base(struct fl_buf *out, const char *method, const char *path, const char *query,
		    const char *digest, const struct fl_sig_params *p);

/* Fills the Signature-Input and Signature header values for a request.
 * A fresh random nonce is drawn; created = now, expires = now + ttl. */
int fl_httpsig_sign(struct fl_buf *sig_input, struct fl_buf *signature, const char *method,
		    const char *path, const char *query, const char *digest, const char *keyid,
		    const uint8_t sk[FL_ED25519_SK_LEN], int64_t now, int ttl);

/* Strictly parses the two header values. FL_EUNAUTH with a reason on any
 * deviation from the profile. */
int fl_httpsig_parse(struct fl_sig_params *out, uint8_t sig[FL_ED25519_SIG_LEN],
		     const char *sig_input, const char *signature, struct fl_err *err);

/* Checks time window, body digest and signature. digest_hdr is the received
 * Content-Digest header (may be NULL: then FL_EUNAUTH). */
int fl_httpsig_verify(const struct fl_sig_params *p, const uint8_t sig[FL_ED25519_SIG_LEN],
		      const uint8_t pk[FL_ED25519_PK_LEN], const char *method, const char *path,
		      const char *query, const char *digest_hdr, const void *body, size_t len,
		      int64_t now, struct fl_err *err);

#endif

/*
 * envelope.h - DSSE signature envelopes over exact payload bytes.
 *
 * A signature covers PAE(type, payload) = "DSSEv1" SP len(type) SP type SP
 * len(payload) SP payload, lengths in ASCII decimal. Because the signed bytes
 * are the payload bytes themselves, no canonical JSON is needed: whatever
 * bytes were signed are the bytes that are parsed.
 *
 * On disk and on the wire an envelope is the JSON object
 *   {"payloadType": T, "payload": base64(payload),
 *    "signatures": [{"keyid": K, "sig": base64(Ed25519 over PAE)}]}
 * where K is fl_keyid() of the signer's public key. The keyid is only a hint
 * for which key to try: a signature counts when the key the role lists under
 * that keyid verifies it.
 */
#ifndef FAIRLEAD_ENVELOPE_H
#define FAIRLEAD_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "fairlead/buf.h"
#include "fairlead/crypto.h"
#include "fairlead/err.h"

#define FL_ENVELOPE_MAX_PAYLOAD (1024 * 1024) /* bytes after base64 decoding */
#define FL_ENVELOPE_MAX_SIGS	32
#define FL_ENVELOPE_MAX_TYPE	128
/* Cap for a whole serialised envelope: the base64 payload plus signatures
 * plus slack. Readers bound their buffers with it before parsing. */
#define FL_ENVELOPE_MAX_BYTES (2 * 1024 * 1024)

struct fl_trust_role; /* trust.h */

struct fl_envelope_sig {
	char keyid[FL_KEYID_LEN + 1];
	uint8_t sig[FL_ED25519_SIG_LEN];
};

/* Owns type and payload; release with fl_envelope_release. */
struct fl_envelope {
	char *type;
	uint8_t *payload; /* NUL-terminated for convenience; not counted in len */
	size_t payload_len;
	struct fl_envelope_sig sigs[FL_ENVELOPE_MAX_SIGS];
	size_t nsigs;
};

/* Appends PAE(type, body) to out. */
int fl_envelope_pae(struct fl_buf *out, const char *type, const void *body, size_t len);

/* A new unsigned envelope holding a copy of payload. FL_EINVAL for an empty
 * or over-long type, FL_ETOOBIG for a payload over FL_ENVELOPE_MAX_PAYLOAD. */
int fl_envelope_init(struct fl_envelope *e, const char *type, const void *payload, size_t len,
		     struct fl_err *err);
/* Frees what e owns; e may then be reused by fl_envelope_init/parse. */
void fl_envelope_release(struct fl_envelope *e);

/* Signs PAE(e->type, e->payload) with sk. A signature already present under
 * the same keyid is replaced, so signing twice never yields two entries.
 * FL_ETOOBIG when FL_ENVELOPE_MAX_SIGS other keys have signed. */
int fl_envelope_sign(struct fl_envelope *e, const uint8_t sk[FL_ED25519_SK_LEN],
		     struct fl_err *err);

/* Parses a serialised envelope strictly: exactly the three fields above (and
 * exactly keyid and sig in each signature), canonical padded base64, a
 * payload of at most FL_ENVELOPE_MAX_PAYLOAD bytes, at most
 * FL_ENVELOPE_MAX_SIGS signatures of exactly 64 bytes, keyids of 32 lower-case
 * hex digits. Repeated keyids are kept here (verification counts them once).
 * FL_EINVAL / FL_ETOOBIG with a reason; e is empty on failure. */
int fl_envelope_parse(struct fl_envelope *e, const char *data, size_t len, struct fl_err *err);

/* Appends the envelope as compact JSON plus a newline to out. */
int fl_envelope_dump(struct fl_buf *out, const struct fl_envelope *e, struct fl_err *err);

/* Checks that e carries payload type expected_type and valid signatures from
 * at least role->threshold DISTINCT keys of role. Signatures by keys the role
 * does not list are ignored, a key's repeated signature counts once, and a
 * garbage signature under a listed keyid simply does not count. 0 when the
 * threshold is met; FL_EUNAUTH saying how many keys signed otherwise;
 * FL_EINVAL for a wrong payload type or a role with threshold < 1. */
int fl_envelope_verify(const struct fl_envelope *e, const char *expected_type,
		       const struct fl_trust_role *role, struct fl_err *err);

#endif

/*
 * signer.h - the server's online key (DATA/keys/server.key), which signs the
 * timestamp and the director's assignments. Root and release keys are never
 * on the server; this key alone cannot make a device install anything that a
 * threshold of release keys did not sign.
 */
#ifndef CP_SIGNER_H
#define CP_SIGNER_H

#include <jansson.h>
#include <stdint.h>

#include "fairlead/buf.h"
#include "fairlead/crypto.h"
#include "fairlead/err.h"

struct cp_signer {
	uint8_t sk[FL_ED25519_SK_LEN];
	uint8_t pk[FL_ED25519_PK_LEN];
	char keyid[FL_KEYID_LEN + 1];
	char pub_b64[64];
};

/* Reads the base64 secret key written by `fairleadd init`. */
int cp_signer_load(struct cp_signer *out, const char *path, struct fl_err *err);
/* From a raw secret key (tests). */
void cp_signer_from_sk(struct cp_signer *out, const uint8_t sk[FL_ED25519_SK_LEN]);
void cp_signer_wipe(struct cp_signer *s);

/* Serialises payload compactly, wraps it in a DSSE envelope of type and signs
 * it; appends the envelope bytes (fl_envelope_dump) to out. */
int cp_signer_envelope(struct fl_buf *out, const struct cp_signer *s, const char *type,
		       const json_t *payload, struct fl_err *err);

/* The timestamp payload of docs/releases.md: releases maps NAME@VERSION to
 * the sha256 of the release envelope (borrowed). */
int cp_signer_timestamp(struct fl_buf *out, const struct cp_signer *s, int64_t version,
			int64_t expires, const json_t *releases, struct fl_err *err);

struct cp_assignment_payload {
	const char *device_id;
	const char *release; /* NAME@VERSION */
	const char *release_sha256;
	int64_t counter;
	int rollback;
	int64_t issued, expires;
};
int cp_signer_assignment(struct fl_buf *out, const struct cp_signer *s,
			 const struct cp_assignment_payload *p, struct fl_err *err);

#endif

/*
 * enroll.h - first contact with the server (docs/api.md "Enrollment").
 *
 * Loads or creates device.key, asks for a challenge, signs the proof message
 *   "fairlead-enroll-v1\n" challenge "\n" device_id "\n" pubkey_b64
 * with the device key, POSTs /api/v1/enroll and writes identity.json. With a
 * token the device enrolls through it; without, as a preauthorized device.
 * Refuses (FL_EEXISTS) when identity.json already exists.
 */
#ifndef AG_ENROLL_H
#define AG_ENROLL_H

#include <jansson.h>
#include <stdint.h>

#include "fairlead/buf.h"
#include "fairlead/err.h"
#include "agent/state.h"
#include "agent/transport.h"

struct ag_enroll_opts {
	const char *dir;	 /* state directory */
	const char *server;	 /* recorded in identity.json */
	const char *token;	 /* NULL: preauthorized enrollment */
	const char *device_id;	 /* NULL: "dev-" + first 12 hex of the keyid */
	const json_t *labels;	 /* object of strings, or NULL */
	const json_t *inventory; /* or NULL */
	int64_t now;		 /* enrolled_at */
};

/* Appends the proof message to out. */
int ag_enroll_proof_message(struct fl_buf *out, const char *challenge, const char *device_id,
			    const char *pubkey_b64);

/* Enrolls; *out receives the identity as written. */
int ag_enroll_run(struct ag_identity *out, struct ag_transport *t, const struct ag_enroll_opts *o,
		  struct fl_err *err);

#endif

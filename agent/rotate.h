/*
 * rotate.h - device key rotation (docs/api.md "Key rotation").
 *
 * A new key is written to device.key.new first, then POST
 * /api/v1/device/rotate-key {"new_pubkey","proof"} is sent signed by the old
 * key, proof being the new key's signature over
 *   "fairlead-rotate-v1\n" device_id "\n" old_keyid "\n" new_pubkey_b64.
 * Accepted: device.key.new is renamed over device.key and identity.json gets
 * the new keyid. Refused (any 4xx, 429): device.key.new is removed. Outcome
 * unknown (transport error, 5xx): both stay, and the next check-in decides
 * (poll.h), so a crash or a lost reply never strands the device.
 */
#ifndef AG_ROTATE_H
#define AG_ROTATE_H

#include "fairlead/buf.h"
#include "fairlead/crypto.h"
#include "fairlead/err.h"
#include "agent/transport.h"

/* Appends the rotation proof message to out. */
int ag_rotate_proof_message(struct fl_buf *out, const char *device_id, const char *old_keyid,
			    const char *new_pubkey_b64);

/* Rotates the key in dir. FL_ECONFLICT when device.key.new already exists
 * (an earlier rotation is unresolved). new_keyid receives the new key id. */
int ag_rotate_run(char new_keyid[FL_KEYID_LEN + 1], struct ag_transport *t, const char *dir,
		  struct fl_err *err);

#endif

/*
 * key.h - the device's Ed25519 identity key, kept in the state directory.
 *
 * device.key holds base64 of the 64-byte secret key, mode 0600, written
 * atomically; it never leaves the device. During a rotation the new key waits
 * in device.key.new until the server has accepted it, then replaces
 * device.key by rename (see rotate.h and poll.h for the recovery rules).
 */
#ifndef AG_KEY_H
#define AG_KEY_H

#include <stdint.h>

#include "fairlead/crypto.h"
#include "fairlead/err.h"

#define AG_KEY_FILE	"device.key"
#define AG_KEY_NEW_FILE "device.key.new"

struct ag_key {
	uint8_t pk[FL_ED25519_PK_LEN];
	uint8_t sk[FL_ED25519_SK_LEN];
	char keyid[FL_KEYID_LEN + 1];
	char pk_b64[48]; /* base64 of pk, as sent to the server */
};

/* A fresh random key pair. */
void ag_key_generate(struct ag_key *out);
/* Loads dir/name. FL_ENOTFOUND when absent, FL_EINVAL when corrupt. */
int ag_key_load(struct ag_key *out, const char *dir, const char *name, struct fl_err *err);
/* Writes dir/name atomically with mode 0600. */
int ag_key_save(const struct ag_key *k, const char *dir, const char *name, struct fl_err *err);
/* Loads device.key or creates it; *created (may be NULL) says which. */
int ag_key_ensure(struct ag_key *out, int *created, const char *dir, struct fl_err *err);
/* Renames device.key.new over device.key and syncs the directory. */
int ag_key_promote(const char *dir, struct fl_err *err);
/* Removes device.key.new (absent is fine). */
int ag_key_discard_new(const char *dir, struct fl_err *err);
/* Zeroes the secret. */
void ag_key_wipe(struct ag_key *k);

#endif

/*
 * registry.h - the in-memory index of devices that the check-in path reads.
 *
 * Loaded from the store at start and kept in step by the handlers that change
 * the store, so that verifying and answering a check-in costs no SQL. Lookups
 * copy an entry out under the lock; nobody holds a pointer into the index.
 */
#ifndef CP_REGISTRY_H
#define CP_REGISTRY_H

#include <stdint.h>

#include "fairlead/crypto.h"
#include "fairlead/err.h"
#include "store/store.h"

struct cp_dev {
	char id[65];
	char state[16];
	char keyid[FL_KEYID_LEN + 1];
	uint8_t pk[FL_ED25519_PK_LEN];
	int64_t desired_version;
	int64_t last_seen;
	int open_commands;
	uint64_t inventory_hash; /* of the last inventory written, to skip no-ops */
	uint64_t reported_hash;
	char assigned[160]; /* "NAME@VERSION" of the device's assignment, "" when none */
};

struct cp_registry;

int cp_registry_new(struct cp_registry **out, struct fl_err *err);
void cp_registry_free(struct cp_registry *r);
int cp_registry_load(struct cp_registry *r, struct cp_store *s, struct fl_err *err);
size_t cp_registry_count(struct cp_registry *r);

/* Copies the device out; FL_ENOTFOUND when unknown. */
int cp_registry_by_keyid(struct cp_dev *out, struct cp_registry *r, const char *keyid);
int cp_registry_by_id(struct cp_dev *out, struct cp_registry *r, const char *id);

/* Inserts or replaces by id (and re-indexes its key). */
int cp_registry_put(struct cp_registry *r, const struct cp_dev *d);
void cp_registry_set_state(struct cp_registry *r, const char *id, const char *state);
void cp_registry_set_desired_version(struct cp_registry *r, const char *id, int64_t v);
/* Records the device's assignment ("" when none). */
void cp_registry_set_assigned(struct cp_registry *r, const char *id, const char *assigned);
void cp_registry_add_commands(struct cp_registry *r, const char *id, int delta);
/* Sets the count of open commands (a check-in found none left to deliver). */
void cp_registry_set_commands(struct cp_registry *r, const char *id, int n);
/* Records a check-in. *inv_changed / *rep_changed tell whether the hashes
 * differ from the last ones recorded (and records the new ones). */
void cp_registry_touch(struct cp_registry *r, const char *id, int64_t now, uint64_t inv_hash,
		       uint64_t rep_hash, int *inv_changed, int *rep_changed);
/* Forgets the hashes recorded for id, for a check-in whose changes were not
 * recorded after all: the next one is taken as changed and writes them. */
void cp_registry_forget_hashes(struct cp_registry *r, const char *id);
/* Last seen from memory, 0 when never or unknown. */
int64_t cp_registry_last_seen(struct cp_registry *r, const char *id);

#endif

/*
 * fuzz_keys.h - the fixed release keys and trusted root of fuzz_envelope,
 * fuzz_trust and fuzz_seeds.
 *
 * The keys come from fixed seeds, and Ed25519 signatures are deterministic,
 * so the seeds fuzz_seeds writes carry signatures the targets' roles accept:
 * the fuzzers start from metadata that passes every signature check. The
 * trusted root (version 1, expiring FZ_EXPIRES) lists
 *   root      FZ_K_ROOT                    threshold 1
 *   release   FZ_K_RELEASE, FZ_K_RELEASE2  threshold 1
 *   timestamp FZ_K_TIMESTAMP               threshold 1
 *   director  FZ_K_DIRECTOR                threshold 1
 * and FZ_K_ROOT2 is a key a rotated root may add. Every expiry is checked
 * at FZ_NOW, not the real clock, so that a corpus never ages.
 *
 * Calls abort on failure: they run at start, with inputs of our own.
 */
#ifndef FL_FUZZ_KEYS_H
#define FL_FUZZ_KEYS_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/crypto.h"
#include "fairlead/envelope.h"
#include "fairlead/json.h"
#include "fairlead/trust.h"

#define FZ_NOW	   ((int64_t)1767225600) /* 2026-01-01T00:00:00Z */
#define FZ_EXPIRES "2099-01-01T00:00:00Z"

enum {
	FZ_K_ROOT,
	FZ_K_RELEASE,
	FZ_K_TIMESTAMP,
	FZ_K_DIRECTOR,
	FZ_K_ROOT2,
	FZ_K_RELEASE2,
	FZ_NKEYS
};

struct fz_key {
	uint8_t pk[FL_ED25519_PK_LEN];
	uint8_t sk[FL_ED25519_SK_LEN];
	char id[FL_KEYID_LEN + 1];
	char pub[64]; /* base64 of pk */
};

static inline void fz_die(const char *what)
{
	fprintf(stderr, "fuzz: %s\n", what);
	abort();
}

/* Key i, the same in every run and every binary. */
static inline void fz_key(struct fz_key *k, int i)
{
	uint8_t seed[32];

	memset(seed, 0xa0 + i, sizeof(seed));
	fl_ed25519_seed_keypair(k->pk, k->sk, seed);
	fl_keyid(k->id, k->pk);
	fl_b64_encode(k->pub, k->pk, sizeof(k->pk));
}

/* {"keyids":[ids of keys idx[0..n)],"threshold":t}; adds the keys to keys. */
static inline json_t *fz_role(json_t *keys, const int *idx, size_t n, int64_t t)
{
	json_t *ids = json_array();
	struct fz_key k;

	for (size_t i = 0; i < n; i++) {
		fz_key(&k, idx[i]);
		json_array_append_new(ids, json_string(k.id));
		json_object_set_new(keys, k.id,
				    json_pack("{ssss}", "keytype", "ed25519", "public", k.pub));
	}
	return json_pack("{sosI}", "keyids", ids, "threshold", (json_int_t)t);
}

/* A root payload of the given version whose root role is root_keys[0..n),
 * threshold t, and whose other roles are those of the trusted root. */
static inline json_t *fz_root_doc(int64_t version, const int *root_keys, size_t n, int64_t t)
{
	static const int rel[] = {FZ_K_RELEASE, FZ_K_RELEASE2}, ts[] = {FZ_K_TIMESTAMP},
			 dir[] = {FZ_K_DIRECTOR};
	json_t *keys = json_object(), *roles = json_object();

	json_object_set_new(roles, "root", fz_role(keys, root_keys, n, t));
	json_object_set_new(roles, "release", fz_role(keys, rel, 2, 1));
	json_object_set_new(roles, "timestamp", fz_role(keys, ts, 1, 1));
	json_object_set_new(roles, "director", fz_role(keys, dir, 1, 1));
	return json_pack("{sssssIsssoso}", "_type", "root", "spec_version", "1", "version",
			 (json_int_t)version, "expires", FZ_EXPIRES, "keys", keys, "roles", roles);
}

/* e := an envelope of payload type type over [payload, +len), signed by keys
 * signers[0..n). */
static inline void fz_envelope(struct fl_envelope *e, const char *type, const void *payload,
			       size_t len, const int *signers, size_t n)
{
	struct fz_key k;

	if (fl_envelope_init(e, type, payload, len, NULL) < 0)
		fz_die("envelope init");
	for (size_t i = 0; i < n; i++) {
		fz_key(&k, signers[i]);
		if (fl_envelope_sign(e, k.sk, NULL) < 0)
			fz_die("envelope sign");
	}
}

/* As fz_envelope, over the compact JSON of doc (consumed). */
static inline void fz_envelope_doc(struct fl_envelope *e, const char *type, json_t *doc,
				   const int *signers, size_t n)
{
	char *s = doc ? fl_json_dumps(doc) : NULL;

	if (!s)
		fz_die("metadata dump");
	fz_envelope(e, type, s, strlen(s), signers, n);
	free(s);
	json_decref(doc);
}

/* The trusted root described at the top. */
static inline void fz_trusted_root(struct fl_trust_root *out)
{
	static const int root[] = {FZ_K_ROOT};
	struct fl_envelope e;
	struct fl_err err = {0, ""};

	fz_envelope_doc(&e, FL_TRUST_TYPE_ROOT, fz_root_doc(1, root, 1, 1), root, 1);
	if (fl_trust_root_load(out, &e, &err) < 0)
		fz_die(err.msg);
	fl_envelope_release(&e);
}

#endif

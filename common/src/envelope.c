/*
 * envelope.c - DSSE envelopes: PAE, signing, strict parsing, threshold checks.
 */
#include "fairlead/envelope.h"

#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"
#include "fairlead/trust.h"

int fl_envelope_pae(struct fl_buf *out, const char *type, const void *body, size_t len)
{
	int rc;

	if ((rc = fl_buf_addf(out, "DSSEv1 %zu %s %zu ", strlen(type), type, len)) < 0)
		return rc;
	return fl_buf_put(out, body, len);
}

static int type_valid(const char *type)
{
	size_t n = strlen(type);

	if (n == 0 || n > FL_ENVELOPE_MAX_TYPE)
		return 0;
	/* Printable ASCII only: the type is shown to people and goes into PAE. */
	for (size_t i = 0; i < n; i++)
		if (type[i] < 0x21 || type[i] > 0x7e)
			return 0;
	return 1;
}

static int keyid_valid(const char *k)
{
	if (strlen(k) != FL_KEYID_LEN)
		return 0;
	for (size_t i = 0; i < FL_KEYID_LEN; i++)
		if (!((k[i] >= '0' && k[i] <= '9') || (k[i] >= 'a' && k[i] <= 'f')))
			return 0;
	return 1;
}

int fl_envelope_init(struct fl_envelope *e, const char *type, const void *payload, size_t len,
		     struct fl_err *err)
{
	memset(e, 0, sizeof(*e));
	if (!type_valid(type))
		return fl_err_set(err, FL_EINVAL, "payload type must be 1-%d printable characters",
				  FL_ENVELOPE_MAX_TYPE);
	if (len > FL_ENVELOPE_MAX_PAYLOAD)
		return fl_err_set(err, FL_ETOOBIG, "payload is larger than %d bytes",
				  FL_ENVELOPE_MAX_PAYLOAD);
	e->type = strdup(type);
	e->payload = malloc(len + 1);
	if (!e->type || !e->payload) {
		fl_envelope_release(e);
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	if (len)
		memcpy(e->payload, payload, len);
	e->payload[len] = '\0';
	e->payload_len = len;
	return 0;
}

void fl_envelope_release(struct fl_envelope *e)
{
	free(e->type);
	free(e->payload);
	memset(e, 0, sizeof(*e));
}

int fl_envelope_sign(struct fl_envelope *e, const uint8_t sk[FL_ED25519_SK_LEN], struct fl_err *err)
{
	struct fl_buf pae = FL_BUF_INIT;
	uint8_t pk[FL_ED25519_PK_LEN];
	char keyid[FL_KEYID_LEN + 1];
	size_t slot;
	int rc;

	fl_ed25519_sk_to_pk(pk, sk);
	fl_keyid(keyid, pk);
	/* Replace, never append, a signature by the same key: an envelope that
	 * carries one key twice would only invite miscounting elsewhere. */
	for (slot = 0; slot < e->nsigs; slot++)
		if (strcmp(e->sigs[slot].keyid, keyid) == 0)
			break;
	if (slot == e->nsigs && e->nsigs == FL_ENVELOPE_MAX_SIGS)
		return fl_err_set(err, FL_ETOOBIG, "envelope already has %d signatures",
				  FL_ENVELOPE_MAX_SIGS);
	if ((rc = fl_envelope_pae(&pae, e->type, e->payload, e->payload_len)) < 0) {
		rc = fl_err_set(err, rc, "out of memory");
		goto cleanup;
	}
	fl_ed25519_sign(e->sigs[slot].sig, pae.ptr, pae.len, sk);
	memcpy(e->sigs[slot].keyid, keyid, sizeof(keyid));
	if (slot == e->nsigs)
		e->nsigs++;
cleanup:
	fl_buf_release(&pae);
	return rc;
}

static int parse_sig(struct fl_envelope_sig *out, const json_t *s, size_t i, struct fl_err *err)
{
	static const char *const allowed[] = {"keyid", "sig", NULL};
	const char *keyid = NULL, *sig = NULL;
	size_t n = 0;

	if (!json_is_object(s))
		return fl_err_set(err, FL_EINVAL, "signature %zu must be an object", i);
	if (fl_json_only(s, allowed, err) < 0 || fl_json_str(&keyid, s, "keyid", 1, err) < 0 ||
	    fl_json_str(&sig, s, "sig", 1, err) < 0)
		return fl_err_prefix(err, "signature %zu", i);
	if (!keyid_valid(keyid))
		return fl_err_set(err, FL_EINVAL, "signature %zu: keyid must be %d hex digits", i,
				  FL_KEYID_LEN);
	if (fl_b64_decode(out->sig, sizeof(out->sig), &n, sig, strlen(sig)) < 0 ||
	    n != FL_ED25519_SIG_LEN)
		return fl_err_set(err, FL_EINVAL, "signature %zu: sig must be base64 of %d bytes",
				  i, FL_ED25519_SIG_LEN);
	memcpy(out->keyid, keyid, sizeof(out->keyid));
	return 0;
}

int fl_envelope_parse(struct fl_envelope *e, const char *data, size_t len, struct fl_err *err)
{
	static const char *const allowed[] = {"payloadType", "payload", "signatures", NULL};
	const char *type = NULL, *b64 = NULL;
	json_t *doc = NULL, *sigs;
	uint8_t *raw = NULL;
	size_t b64len, rawlen = 0;
	int rc;

	memset(e, 0, sizeof(*e));
	if (len > FL_ENVELOPE_MAX_BYTES)
		return fl_err_set(err, FL_ETOOBIG, "envelope is larger than %d bytes",
				  FL_ENVELOPE_MAX_BYTES);
	if ((rc = fl_json_parse_object(&doc, data, len, err)) < 0)
		return fl_err_prefix(err, "envelope");
	if ((rc = fl_json_only(doc, allowed, err)) < 0 ||
	    (rc = fl_json_str(&type, doc, "payloadType", 1, err)) < 0 ||
	    (rc = fl_json_str(&b64, doc, "payload", 1, err)) < 0) {
		fl_err_prefix(err, "envelope");
		goto cleanup;
	}
	sigs = json_object_get(doc, "signatures");
	if (!json_is_array(sigs)) {
		rc = fl_err_set(err, FL_EINVAL, "envelope: field 'signatures' must be an array");
		goto cleanup;
	}
	if (json_array_size(sigs) > FL_ENVELOPE_MAX_SIGS) {
		rc = fl_err_set(err, FL_ETOOBIG, "envelope: more than %d signatures",
				FL_ENVELOPE_MAX_SIGS);
		goto cleanup;
	}
	/* Bound the decoded size before allocating for it. */
	b64len = strlen(b64);
	if (b64len > 4 * ((FL_ENVELOPE_MAX_PAYLOAD + 2) / 3)) {
		rc = fl_err_set(err, FL_ETOOBIG, "envelope: payload is larger than %d bytes",
				FL_ENVELOPE_MAX_PAYLOAD);
		goto cleanup;
	}
	if (!(raw = malloc(b64len / 4 * 3 + 1))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (fl_b64_decode(raw, b64len / 4 * 3 + 1, &rawlen, b64, b64len) < 0 || b64len % 4 != 0) {
		rc = fl_err_set(err, FL_EINVAL, "envelope: payload is not valid base64");
		goto cleanup;
	}
	if (rawlen > FL_ENVELOPE_MAX_PAYLOAD) {
		rc = fl_err_set(err, FL_ETOOBIG, "envelope: payload is larger than %d bytes",
				FL_ENVELOPE_MAX_PAYLOAD);
		goto cleanup;
	}
	if ((rc = fl_envelope_init(e, type, raw, rawlen, err)) < 0) {
		fl_err_prefix(err, "envelope");
		goto cleanup;
	}
	for (size_t i = 0; i < json_array_size(sigs); i++) {
		if ((rc = parse_sig(&e->sigs[i], json_array_get(sigs, i), i, err)) < 0) {
			fl_err_prefix(err, "envelope");
			fl_envelope_release(e);
			goto cleanup;
		}
		e->nsigs++;
	}
cleanup:
	free(raw);
	json_decref(doc);
	return rc;
}

int fl_envelope_dump(struct fl_buf *out, const struct fl_envelope *e, struct fl_err *err)
{
	json_t *doc = NULL, *sigs;
	char *b64 = NULL;
	char sig[128];
	int rc = FL_ENOMEM;

	if (!(b64 = malloc(fl_b64_len(e->payload_len))))
		goto cleanup;
	fl_b64_encode(b64, e->payload, e->payload_len);
	doc = json_pack("{sssss[]}", "payloadType", e->type, "payload", b64, "signatures");
	if (!doc)
		goto cleanup;
	sigs = json_object_get(doc, "signatures");
	for (size_t i = 0; i < e->nsigs; i++) {
		fl_b64_encode(sig, e->sigs[i].sig, sizeof(e->sigs[i].sig));
		if (json_array_append_new(
			sigs, json_pack("{ssss}", "keyid", e->sigs[i].keyid, "sig", sig)) < 0)
			goto cleanup;
	}
	if (fl_json_dump(out, doc) < 0 || fl_buf_put(out, "\n", 1) < 0)
		goto cleanup;
	rc = 0;
cleanup:
	free(b64);
	json_decref(doc);
	if (rc < 0)
		fl_err_set(err, rc, "out of memory");
	return rc;
}

int fl_envelope_verify(const struct fl_envelope *e, const char *expected_type,
		       const struct fl_trust_role *role, struct fl_err *err)
{
	struct fl_buf pae = FL_BUF_INIT;
	size_t valid = 0;
	int rc;

	if (!e->type || strcmp(e->type, expected_type) != 0)
		return fl_err_set(err, FL_EINVAL, "payload type is '%.64s', expected '%s'",
				  e->type ? e->type : "", expected_type);
	/* A threshold below 1 would let zero signatures pass (go-tuf
	 * CVE-2026-23992); trust.c rejects it on parse, this guards callers
	 * that build roles by hand. */
	if (role->threshold < 1 || role->nkeys > FL_TRUST_MAX_KEYS ||
	    (uint64_t)role->threshold > role->nkeys)
		return fl_err_set(err, FL_EINVAL, "role threshold %lld is not within 1..%zu",
				  (long long)role->threshold, role->nkeys);
	if ((rc = fl_envelope_pae(&pae, e->type, e->payload, e->payload_len)) < 0) {
		rc = fl_err_set(err, rc, "out of memory");
		goto cleanup;
	}
	/* Walk the role's keys, not the signatures: each key is counted at
	 * most once however many of its signatures the envelope repeats, and
	 * signatures by keys outside the role are never looked at. */
	for (size_t k = 0; k < role->nkeys; k++) {
		const struct fl_trust_key *key = &role->keys[k];
		size_t prev;

		/* A role listing one key twice, under one keyid or two, must not
		 * count it twice (go-tuf PR 369). */
		for (prev = 0; prev < k; prev++)
			if (strcmp(role->keys[prev].keyid, key->keyid) == 0 ||
			    memcmp(role->keys[prev].pk, key->pk, sizeof(key->pk)) == 0)
				break;
		if (prev < k)
			continue;
		for (size_t s = 0; s < e->nsigs; s++) {
			if (strcmp(e->sigs[s].keyid, key->keyid) != 0)
				continue;
			if (fl_ed25519_verify(e->sigs[s].sig, pae.ptr, pae.len, key->pk) == 0) {
				valid++;
				break;
			}
		}
	}
	if (valid < (uint64_t)role->threshold)
		rc = fl_err_set(err, FL_EUNAUTH,
				"signed by %zu of the role's %zu keys, threshold is %lld", valid,
				role->nkeys, (long long)role->threshold);
cleanup:
	fl_buf_release(&pae);
	return rc;
}

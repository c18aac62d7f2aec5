/* test_envelope.c - DSSE envelopes: PAE bytes, round trip, strict parsing,
 * threshold counting (reference/security.md T-MD-13/14/18, T-ART-14). */
#include <stdlib.h>
#include <string.h>

#include "fairlead/envelope.h"
#include "fairlead/json.h"
#include "fairlead/trust.h"
#include "fl_test.h"

#define TYPE "application/vnd.fairlead.test+json"

struct tkey {
	uint8_t pk[FL_ED25519_PK_LEN], sk[FL_ED25519_SK_LEN];
};

static struct tkey K[4];

static void init(void)
{
	cr_assert_eq(fl_crypto_init(), 0);
	for (size_t i = 0; i < 4; i++)
		fl_ed25519_keypair(K[i].pk, K[i].sk);
}

TestSuite(envelope, .init = init);

/* A role of keys K[0..n) with threshold t. */
static struct fl_trust_role role_of(size_t n, int64_t t)
{
	struct fl_trust_role r;

	memset(&r, 0, sizeof(r));
	for (size_t i = 0; i < n; i++) {
		memcpy(r.keys[i].pk, K[i].pk, FL_ED25519_PK_LEN);
		fl_keyid(r.keys[i].keyid, K[i].pk);
	}
	r.nkeys = n;
	r.threshold = t;
	return r;
}

static void make(struct fl_envelope *e, const char *payload)
{
	cr_assert_eq(fl_envelope_init(e, TYPE, payload, strlen(payload), NULL), 0);
}

/* Serialises e and parses the text back, as a reader of a file would. */
static int reparse(struct fl_envelope *out, const struct fl_envelope *e)
{
	struct fl_buf b = FL_BUF_INIT;
	int rc;

	cr_assert_eq(fl_envelope_dump(&b, e, NULL), 0);
	rc = fl_envelope_parse(out, b.ptr, b.len, NULL);
	fl_buf_release(&b);
	return rc;
}

static int parse_str(const char *s, struct fl_err *err)
{
	struct fl_envelope e;
	int rc = fl_envelope_parse(&e, s, strlen(s), err);

	fl_envelope_release(&e);
	return rc;
}

Test(envelope, pae_exact_bytes)
{
	struct fl_buf b = FL_BUF_INIT;
	static const char want[] = "DSSEv1 29 http://example.com/HelloWorld 11 hello world";

	/* The example from the DSSE protocol document. */
	cr_assert_eq(fl_envelope_pae(&b, "http://example.com/HelloWorld", "hello world", 11), 0);
	cr_assert_eq(b.len, sizeof(want) - 1);
	cr_assert_eq(memcmp(b.ptr, want, b.len), 0);
	fl_buf_clear(&b);
	/* Binary payloads with NUL bytes still frame exactly. */
	cr_assert_eq(fl_envelope_pae(&b, "t", "a\0b", 3), 0);
	cr_assert_eq(b.len, 16);
	cr_assert_eq(memcmp(b.ptr, "DSSEv1 1 t 3 a\0b", 16), 0);
	fl_buf_release(&b);
}

Test(envelope, round_trip_and_threshold)
{
	struct fl_envelope e, p;
	struct fl_trust_role r = role_of(3, 2);
	struct fl_err err;

	make(&e, "{\"hello\":\"world\"}");
	cr_assert_eq(fl_envelope_sign(&e, K[0].sk, NULL), 0);
	cr_assert_eq(fl_envelope_verify(&e, TYPE, &r, &err), FL_EUNAUTH);
	cr_assert(strstr(err.msg, "1 of the role's 3 keys") != NULL, "%s", err.msg);
	cr_assert_eq(fl_envelope_sign(&e, K[1].sk, NULL), 0);
	cr_assert_eq(reparse(&p, &e), 0);
	cr_assert_str_eq(p.type, TYPE);
	cr_assert_eq(p.payload_len, e.payload_len);
	cr_assert_eq(memcmp(p.payload, e.payload, e.payload_len), 0);
	cr_assert_eq(p.nsigs, 2);
	cr_assert_eq(fl_envelope_verify(&p, TYPE, &r, &err), 0, "%s", err.msg);
	fl_envelope_release(&p);
	fl_envelope_release(&e);
}

Test(envelope, signing_twice_replaces)
{
	struct fl_envelope e;

	make(&e, "x");
	cr_assert_eq(fl_envelope_sign(&e, K[0].sk, NULL), 0);
	cr_assert_eq(fl_envelope_sign(&e, K[0].sk, NULL), 0);
	cr_assert_eq(e.nsigs, 1);
	fl_envelope_release(&e);
}

Test(envelope, changed_payload_byte_fails)
{
	struct fl_envelope e;
	struct fl_trust_role r = role_of(2, 1);

	make(&e, "{\"counter\":5}");
	cr_assert_eq(fl_envelope_sign(&e, K[0].sk, NULL), 0);
	cr_assert_eq(fl_envelope_verify(&e, TYPE, &r, NULL), 0);
	e.payload[11] = '6';
	cr_assert_eq(fl_envelope_verify(&e, TYPE, &r, NULL), FL_EUNAUTH);
	fl_envelope_release(&e);
}

Test(envelope, unknown_key_not_counted)
{
	struct fl_envelope e;
	struct fl_trust_role r = role_of(2, 2);

	make(&e, "p");
	cr_assert_eq(fl_envelope_sign(&e, K[0].sk, NULL), 0);
	cr_assert_eq(fl_envelope_sign(&e, K[3].sk, NULL), 0); /* not in the role */
	cr_assert_eq(fl_envelope_verify(&e, TYPE, &r, NULL), FL_EUNAUTH);
	fl_envelope_release(&e);
}

Test(envelope, repeated_signature_counts_once)
{
	struct fl_envelope e;
	struct fl_trust_role r = role_of(3, 2);

	/* T-MD-13: the same valid signature eight times, threshold 2. */
	make(&e, "p");
	cr_assert_eq(fl_envelope_sign(&e, K[0].sk, NULL), 0);
	for (size_t i = 1; i < 8; i++)
		e.sigs[e.nsigs++] = e.sigs[0];
	cr_assert_eq(fl_envelope_verify(&e, TYPE, &r, NULL), FL_EUNAUTH);
	fl_envelope_release(&e);
}

Test(envelope, role_listing_one_key_twice_counts_once)
{
	struct fl_envelope e;
	struct fl_trust_role r = role_of(1, 1);

	/* T-MD-14: a hand-built role with K[0] twice and threshold 2. */
	r.keys[1] = r.keys[0];
	r.nkeys = 2;
	r.threshold = 2;
	make(&e, "p");
	cr_assert_eq(fl_envelope_sign(&e, K[0].sk, NULL), 0);
	cr_assert_eq(fl_envelope_verify(&e, TYPE, &r, NULL), FL_EUNAUTH);
	fl_envelope_release(&e);
}

Test(envelope, garbage_signature_from_listed_key_is_ignored)
{
	struct fl_envelope e;
	struct fl_trust_role r = role_of(3, 2);

	/* T-MD-18: the threshold is still met by the other two keys. */
	make(&e, "p");
	cr_assert_eq(fl_envelope_sign(&e, K[0].sk, NULL), 0);
	cr_assert_eq(fl_envelope_sign(&e, K[1].sk, NULL), 0);
	cr_assert_eq(fl_envelope_sign(&e, K[2].sk, NULL), 0);
	e.sigs[2].sig[5] ^= 1;
	cr_assert_eq(fl_envelope_verify(&e, TYPE, &r, NULL), 0);
	e.sigs[1].sig[5] ^= 1;
	cr_assert_eq(fl_envelope_verify(&e, TYPE, &r, NULL), FL_EUNAUTH);
	fl_envelope_release(&e);
}

Test(envelope, signature_under_wrong_keyid_does_not_count)
{
	struct fl_envelope e;
	struct fl_trust_role r = role_of(2, 1);

	make(&e, "p");
	cr_assert_eq(fl_envelope_sign(&e, K[0].sk, NULL), 0);
	fl_keyid(e.sigs[0].keyid, K[1].pk);
	cr_assert_eq(fl_envelope_verify(&e, TYPE, &r, NULL), FL_EUNAUTH);
	fl_envelope_release(&e);
}

Test(envelope, wrong_payload_type_rejected)
{
	struct fl_envelope e;
	struct fl_trust_role r = role_of(1, 1);

	make(&e, "p");
	cr_assert_eq(fl_envelope_sign(&e, K[0].sk, NULL), 0);
	cr_assert_eq(fl_envelope_verify(&e, "application/other", &r, NULL), FL_EINVAL);
	fl_envelope_release(&e);
}

Test(envelope, nonsense_role_thresholds_rejected)
{
	struct fl_envelope e;
	struct fl_trust_role r = role_of(2, 0);

	make(&e, "p");
	/* Threshold 0 with no signatures must not pass (go-tuf CVE-2026-23992). */
	cr_assert_eq(fl_envelope_verify(&e, TYPE, &r, NULL), FL_EINVAL);
	r.threshold = -1;
	cr_assert_eq(fl_envelope_verify(&e, TYPE, &r, NULL), FL_EINVAL);
	r.threshold = 3;
	cr_assert_eq(fl_envelope_verify(&e, TYPE, &r, NULL), FL_EINVAL);
	fl_envelope_release(&e);
}

Test(envelope, parse_rejects_malformed)
{
	static const char sig64[] =
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAAAAAAAAAAAAAAA==";
	static const char kid[] = "0123456789abcdef0123456789abcdef";
	char buf[512];
	struct fl_err err;

	cr_assert_eq(
	    parse_str("{\"payloadType\":\"t\",\"payload\":\"eA==\",\"signatures\":[]}", &err), 0,
	    "%s", err.msg);
	snprintf(buf, sizeof(buf),
		 "{\"payloadType\":\"t\",\"payload\":\"eA==\",\"signatures\":[{\"keyid\":\"%s\","
		 "\"sig\":\"%s\"}]}",
		 kid, sig64);
	cr_assert_eq(parse_str(buf, &err), 0, "%s", err.msg);

	static const char *const bad[] = {
	    "",
	    "[]",
	    "{\"payloadType\":\"t\",\"payload\":\"eA==\",\"signatures\":[]",	      /* cut */
	    "{\"payloadType\":\"t\",\"payload\":\"eA==\",\"signatures\":[],\"x\":1}", /* extra */
	    "{\"payloadType\":\"t\",\"payload\":\"eA==\"}",			      /* missing */
	    "{\"payloadType\":\"t\",\"payload\":\"eA\",\"signatures\":[]}",	      /* no pad */
	    "{\"payloadType\":\"t\",\"payload\":\"e!==\",\"signatures\":[]}",	      /* alphabet */
	    "{\"payloadType\":\"t\",\"payload\":\"eB==\",\"signatures\":[]}",	      /* bits */
	    "{\"payloadType\":\"t\",\"payload\":\" eA==\",\"signatures\":[]}",	      /* space */
	    "{\"payloadType\":\"\",\"payload\":\"eA==\",\"signatures\":[]}",	      /* no type */
	    "{\"payloadType\":1,\"payload\":\"eA==\",\"signatures\":[]}",	      /* type */
	    "{\"payloadType\":\"t\",\"payload\":\"eA==\",\"signatures\":{}}", /* not array */
	    "{\"payloadType\":\"t\",\"payload\":\"eA==\",\"payload\":\"eA==\","
	    "\"signatures\":[]}", /* duplicate key */
	    "{\"payloadType\":\"t\",\"payload\":\"eA==\",\"signatures\":[{\"keyid\":\"abc\","
	    "\"sig\":\"eA==\"}]}",
	    "{\"payloadType\":\"t\",\"payload\":\"eA==\",\"signatures\":[1]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_lt(parse_str(bad[i], NULL), 0, "accepted bad[%zu]: %s", i, bad[i]);

	/* T-ART-14: signatures of 63 and 65 bytes, and a stray field. */
	snprintf(buf, sizeof(buf),
		 "{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{\"keyid\":\"%s\","
		 "\"sig\":\"%.84s\"}]}",
		 kid,
		 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		 "AAAAAAAA");
	cr_assert_lt(parse_str(buf, NULL), 0);
	snprintf(buf, sizeof(buf),
		 "{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{\"keyid\":\"%s\","
		 "\"sig\":\"%s\",\"x\":1}]}",
		 kid, sig64);
	cr_assert_lt(parse_str(buf, NULL), 0);
}

Test(envelope, parse_limits)
{
	struct fl_envelope e;
	struct fl_buf b = FL_BUF_INIT;
	char *big = malloc(FL_ENVELOPE_MAX_PAYLOAD + 1);
	json_t *doc;

	/* Exactly 1 MiB is accepted, one byte more is not. */
	memset(big, 'a', FL_ENVELOPE_MAX_PAYLOAD + 1);
	cr_assert_eq(fl_envelope_init(&e, TYPE, big, FL_ENVELOPE_MAX_PAYLOAD, NULL), 0);
	cr_assert_eq(fl_envelope_dump(&b, &e, NULL), 0);
	fl_envelope_release(&e);
	cr_assert_eq(fl_envelope_parse(&e, b.ptr, b.len, NULL), 0);
	fl_envelope_release(&e);
	cr_assert_eq(fl_envelope_init(&e, TYPE, big, FL_ENVELOPE_MAX_PAYLOAD + 1, NULL),
		     FL_ETOOBIG);
	fl_buf_clear(&b);
	{
		char *b64 = malloc(fl_b64_len(FL_ENVELOPE_MAX_PAYLOAD + 1));

		fl_b64_encode(b64, big, FL_ENVELOPE_MAX_PAYLOAD + 1);
		doc = json_pack("{sssss[]}", "payloadType", "t", "payload", b64, "signatures");
		free(b64);
	}
	cr_assert_eq(fl_json_dump(&b, doc), 0);
	cr_assert_eq(fl_envelope_parse(&e, b.ptr, b.len, NULL), FL_ETOOBIG);
	json_decref(doc);
	free(big);

	/* 33 signatures: over the cap. */
	make(&e, "p");
	cr_assert_eq(fl_envelope_sign(&e, K[0].sk, NULL), 0);
	fl_buf_clear(&b);
	cr_assert_eq(fl_envelope_dump(&b, &e, NULL), 0);
	fl_envelope_release(&e);
	{
		json_t *d = NULL, *sigs;

		cr_assert_eq(fl_json_parse(&d, b.ptr, b.len, NULL), 0);
		sigs = json_object_get(d, "signatures");
		while (json_array_size(sigs) < FL_ENVELOPE_MAX_SIGS + 1)
			json_array_append(sigs, json_array_get(sigs, 0));
		fl_buf_clear(&b);
		cr_assert_eq(fl_json_dump(&b, d), 0);
		cr_assert_eq(fl_envelope_parse(&e, b.ptr, b.len, NULL), FL_ETOOBIG);
		json_array_remove(sigs, 0);
		fl_buf_clear(&b);
		cr_assert_eq(fl_json_dump(&b, d), 0);
		cr_assert_eq(fl_envelope_parse(&e, b.ptr, b.len, NULL), 0);
		cr_assert_eq(e.nsigs, FL_ENVELOPE_MAX_SIGS);
		fl_envelope_release(&e);
		json_decref(d);
	}
	fl_buf_release(&b);
}

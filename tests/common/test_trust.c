/* test_trust.c - root, release, timestamp and assignment metadata against the
 * tamper cases of reference/security.md §9.1 (T-MD) that apply to parsing and
 * verification. */
#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"
#include "fairlead/trust.h"
#include "fl_test.h"

#define NKEYS  8
#define FUTURE "2099-01-01T00:00:00Z"
#define PAST   "2001-01-01T00:00:00Z"
#define NOW    ((int64_t)1767225600) /* 2026-01-01T00:00:00Z */

struct tkey {
	uint8_t pk[FL_ED25519_PK_LEN], sk[FL_ED25519_SK_LEN];
	char id[FL_KEYID_LEN + 1];
	char pub[64];
};

static struct tkey K[NKEYS];

static void init(void)
{
	cr_assert_eq(fl_crypto_init(), 0);
	for (size_t i = 0; i < NKEYS; i++) {
		fl_ed25519_keypair(K[i].pk, K[i].sk);
		fl_keyid(K[i].id, K[i].pk);
		fl_b64_encode(K[i].pub, K[i].pk, FL_ED25519_PK_LEN);
	}
}

TestSuite(trust, .init = init);

/* {"keyids":[K[i] for i in idx],"threshold":t}; adds those keys to keys. */
static json_t *role(json_t *keys, const int *idx, size_t n, int64_t t)
{
	json_t *ids = json_array();

	for (size_t i = 0; i < n; i++) {
		json_array_append_new(ids, json_string(K[idx[i]].id));
		json_object_set_new(
		    keys, K[idx[i]].id,
		    json_pack("{ssss}", "keytype", "ed25519", "public", K[idx[i]].pub));
	}
	return json_pack("{sosI}", "keyids", ids, "threshold", (json_int_t)t);
}

/* A root: root keys idx/n/t, release keys K[4..6] 2-of-3, timestamp K[7],
 * director K[7]. */
static json_t *root_doc(int64_t version, const char *expires, const int *idx, size_t n, int64_t t)
{
	static const int rel[] = {4, 5, 6}, online[] = {7};
	json_t *keys = json_object(), *roles = json_object();

	json_object_set_new(roles, "root", role(keys, idx, n, t));
	json_object_set_new(roles, "release", role(keys, rel, 3, 2));
	json_object_set_new(roles, "timestamp", role(keys, online, 1, 1));
	json_object_set_new(roles, "director", role(keys, online, 1, 1));
	return json_pack("{sssssIsssoso}", "_type", "root", "spec_version", "1", "version",
			 (json_int_t)version, "expires", expires, "keys", keys, "roles", roles);
}

/* An envelope of doc's JSON (doc is consumed), signed by K[i] for i in sig. */
static void envelope_of(struct fl_envelope *e, const char *type, json_t *doc, const int *sig,
			size_t nsig)
{
	char *s = fl_json_dumps(doc);

	cr_assert_not_null(s, "dump of %p failed", (void *)doc);
	cr_assert_eq(fl_envelope_init(e, type, s, strlen(s), NULL), 0);
	for (size_t i = 0; i < nsig; i++)
		cr_assert_eq(fl_envelope_sign(e, K[sig[i]].sk, NULL), 0);
	free(s);
	json_decref(doc);
}

static int parse_root_doc(json_t *doc, struct fl_err *err)
{
	struct fl_trust_root r;
	char *s = fl_json_dumps(doc);
	int rc = fl_trust_root_parse(&r, s, strlen(s), err);

	free(s);
	json_decref(doc);
	return rc;
}

static const int R01[] = {0, 1}, R23[] = {2, 3};

/* Trusted root v1: root keys K0,K1, threshold 2. */
static void trusted_v1(struct fl_trust_root *t)
{
	struct fl_envelope e;
	struct fl_err err;

	envelope_of(&e, FL_TRUST_TYPE_ROOT, root_doc(1, FUTURE, R01, 2, 2), R01, 2);
	cr_assert_eq(fl_trust_root_load(t, &e, &err), 0, "%s", err.msg);
	fl_envelope_release(&e);
	cr_assert_eq(t->version, 1);
}

Test(trust, time_parse)
{
	int64_t t = 0;

	cr_assert_eq(fl_trust_time_parse(&t, "2026-01-01T00:00:00Z", NULL), 0);
	cr_assert_eq(t, NOW);
	cr_assert_eq(fl_trust_time_parse(&t, "1970-01-01T00:00:00Z", NULL), 0);
	cr_assert_eq(t, 0);
	cr_assert_eq(fl_trust_time_parse(&t, "2024-02-29T12:34:56Z", NULL), 0);
	cr_assert_lt(fl_trust_time_parse(&t, "2023-02-29T00:00:00Z", NULL), 0);
	cr_assert_lt(fl_trust_time_parse(&t, "2026-01-01T00:00:00+00:00", NULL), 0);
	cr_assert_lt(fl_trust_time_parse(&t, "2026-01-01 00:00:00Z", NULL), 0);
	cr_assert_lt(fl_trust_time_parse(&t, "2026-13-01T00:00:00Z", NULL), 0);
	cr_assert_lt(fl_trust_time_parse(&t, "2026-01-01T24:00:00Z", NULL), 0);
}

Test(trust, root_parse_ok)
{
	struct fl_err err;

	cr_assert_eq(parse_root_doc(root_doc(1, FUTURE, R01, 2, 2), &err), 0, "%s", err.msg);
}

Test(trust, root_thresholds_rejected)
{
	/* T-MD-15: 0, -1, above the key count, 2^63-1, as a string, as a
	 * real, missing. */
	json_t *bad[] = {json_integer(0),
			 json_integer(-1),
			 json_integer(4),
			 json_integer(INT64_MAX),
			 json_string("1"),
			 json_real(1.0),
			 NULL};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *doc = root_doc(1, FUTURE, R01, 2, 1);
		json_t *r = json_object_get(json_object_get(doc, "roles"), "release");

		if (bad[i])
			json_object_set_new(r, "threshold", bad[i]);
		else
			json_object_del(r, "threshold");
		cr_assert_eq(parse_root_doc(doc, NULL), FL_EINVAL, "threshold case %zu", i);
	}
}

Test(trust, root_key_rules)
{
	json_t *doc, *k;
	struct fl_err err;

	/* T-MD-17: unknown keytype. */
	doc = root_doc(1, FUTURE, R01, 2, 1);
	k = json_object_get(json_object_get(doc, "keys"), K[0].id);
	json_object_set_new(k, "keytype", json_string("rsa"));
	cr_assert_eq(parse_root_doc(doc, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "keytype") != NULL, "%s", err.msg);

	/* T-MD-16: keyid is not the hash of the public key. */
	doc = root_doc(1, FUTURE, R01, 2, 1);
	k = json_object_get(json_object_get(doc, "keys"), K[0].id);
	json_object_set_new(k, "public", json_string(K[1].pub));
	cr_assert_eq(parse_root_doc(doc, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "does not match") != NULL, "%s", err.msg);

	/* A role naming a key that is not in keys. */
	doc = root_doc(1, FUTURE, R01, 2, 1);
	json_object_del(json_object_get(doc, "keys"), K[1].id);
	cr_assert_eq(parse_root_doc(doc, NULL), FL_EINVAL);

	/* T-MD-14: one key listed twice under a role. */
	doc = root_doc(1, FUTURE, R01, 2, 1);
	json_array_set_new(
	    json_object_get(json_object_get(json_object_get(doc, "roles"), "root"), "keyids"), 1,
	    json_string(K[0].id));
	cr_assert_eq(parse_root_doc(doc, NULL), FL_EINVAL);

	/* Unknown fields, a missing role, a wrong _type or spec_version. */
	doc = root_doc(1, FUTURE, R01, 2, 1);
	json_object_set_new(doc, "extra", json_true());
	cr_assert_eq(parse_root_doc(doc, NULL), FL_EINVAL);
	doc = root_doc(1, FUTURE, R01, 2, 1);
	json_object_del(json_object_get(doc, "roles"), "director");
	cr_assert_eq(parse_root_doc(doc, NULL), FL_EINVAL);
	doc = root_doc(1, FUTURE, R01, 2, 1);
	json_object_set_new(doc, "_type", json_string("release"));
	cr_assert_eq(parse_root_doc(doc, NULL), FL_EINVAL);
	doc = root_doc(1, FUTURE, R01, 2, 1);
	json_object_set_new(doc, "spec_version", json_string("2"));
	cr_assert_eq(parse_root_doc(doc, NULL), FL_EINVAL);
	doc = root_doc(0, FUTURE, R01, 2, 1);
	cr_assert_eq(parse_root_doc(doc, NULL), FL_EINVAL);
	cr_assert_eq(fl_trust_root_parse(&(struct fl_trust_root){0}, "{\"_type\":", 9, NULL),
		     FL_EINVAL);
}

Test(trust, initial_root_must_be_self_signed)
{
	struct fl_trust_root t;
	struct fl_envelope e;

	envelope_of(&e, FL_TRUST_TYPE_ROOT, root_doc(1, FUTURE, R01, 2, 2), R01, 1);
	cr_assert_eq(fl_trust_root_load(&t, &e, NULL), FL_EUNAUTH);
	fl_envelope_release(&e);
}

Test(trust, rotation_needs_old_and_new_thresholds)
{
	static const int all[] = {0, 1, 2, 3}, old_only[] = {0, 1}, new_only[] = {2, 3},
			 half[] = {0, 2, 3};
	struct fl_trust_root t;
	struct fl_envelope e;
	struct fl_err err;

	trusted_v1(&t);
	/* T-MD-05: only the old keys / only the new keys / one old short. */
	envelope_of(&e, FL_TRUST_TYPE_ROOT, root_doc(2, FUTURE, R23, 2, 2), old_only, 2);
	cr_assert_eq(fl_trust_root_update(&t, &e, &err), FL_EUNAUTH);
	cr_assert(strstr(err.msg, "its own") != NULL, "%s", err.msg);
	fl_envelope_release(&e);
	envelope_of(&e, FL_TRUST_TYPE_ROOT, root_doc(2, FUTURE, R23, 2, 2), new_only, 2);
	cr_assert_eq(fl_trust_root_update(&t, &e, &err), FL_EUNAUTH);
	cr_assert(strstr(err.msg, "root v1's keys") != NULL, "%s", err.msg);
	fl_envelope_release(&e);
	envelope_of(&e, FL_TRUST_TYPE_ROOT, root_doc(2, FUTURE, R23, 2, 2), half, 3);
	cr_assert_eq(fl_trust_root_update(&t, &e, NULL), FL_EUNAUTH);
	fl_envelope_release(&e);
	cr_assert_eq(t.version, 1, "a failed rotation must leave the trusted root");
	cr_assert_str_eq(t.roles[FL_TRUST_ROLE_ROOT].keys[0].keyid, K[0].id);

	envelope_of(&e, FL_TRUST_TYPE_ROOT, root_doc(2, FUTURE, R23, 2, 2), all, 4);
	cr_assert_eq(fl_trust_root_update(&t, &e, &err), 0, "%s", err.msg);
	fl_envelope_release(&e);
	cr_assert_eq(t.version, 2);
	cr_assert_str_eq(t.roles[FL_TRUST_ROLE_ROOT].keys[0].keyid, K[2].id);
}

Test(trust, rotation_version_must_be_next)
{
	static const int signers[] = {0, 1};
	struct fl_trust_root t;
	struct fl_envelope e;

	/* T-MD-02: skipping a version, the same version, a lower version. */
	trusted_v1(&t);
	t.version = 5;
	for (int64_t v = 3; v <= 7; v++) {
		if (v == 6)
			continue;
		envelope_of(&e, FL_TRUST_TYPE_ROOT, root_doc(v, FUTURE, R01, 2, 2), signers, 2);
		cr_assert_eq(fl_trust_root_update(&t, &e, NULL), FL_ECONFLICT, "v%lld",
			     (long long)v);
		fl_envelope_release(&e);
	}
	cr_assert_eq(t.version, 5);
	/* A release envelope never passes as a root. */
	envelope_of(&e, FL_TRUST_TYPE_RELEASE, root_doc(6, FUTURE, R01, 2, 2), signers, 2);
	cr_assert_eq(fl_trust_root_update(&t, &e, NULL), FL_EINVAL);
	fl_envelope_release(&e);
}

Test(trust, chain_checks_only_the_final_expiry)
{
	static const int s01[] = {0, 1}, s0123[] = {0, 1, 2, 3}, s23[] = {2, 3};
	struct fl_trust_root t;
	struct fl_envelope e2, e3;
	const struct fl_envelope *chain[2] = {&e2, &e3};

	/* T-MD-03: an expired intermediate root is fine... */
	trusted_v1(&t);
	envelope_of(&e2, FL_TRUST_TYPE_ROOT, root_doc(2, PAST, R01, 2, 2), s01, 2);
	envelope_of(&e3, FL_TRUST_TYPE_ROOT, root_doc(3, FUTURE, R23, 2, 2), s0123, 4);
	cr_assert_eq(fl_trust_root_chain(&t, chain, 2, NOW, NULL), 0);
	cr_assert_eq(t.version, 3);
	fl_envelope_release(&e3);
	/* ...an expired final one is a freeze. */
	envelope_of(&e3, FL_TRUST_TYPE_ROOT, root_doc(4, PAST, R23, 2, 2), s23, 2);
	cr_assert_eq(fl_trust_root_chain(&t, chain + 1, 1, NOW, NULL), FL_EGONE);
	fl_envelope_release(&e3);
	/* A bad step stops the chain at the last good root. */
	trusted_v1(&t);
	envelope_of(&e3, FL_TRUST_TYPE_ROOT, root_doc(3, FUTURE, R23, 2, 2), s23, 2);
	cr_assert_eq(fl_trust_root_chain(&t, chain, 2, NOW, NULL), FL_EUNAUTH);
	cr_assert_eq(t.version, 2);
	fl_envelope_release(&e2);
	fl_envelope_release(&e3);
}

/* ---- release ---- */

static json_t *release_doc(const char *expires)
{
	return json_pack(
	    "{sssssssssIs[s]s[{sssIss}]s{snsI}s{snsI}sns{sssssnsn}ss}", "_type", "release", "name",
	    "detector", "kind", "model", "version", "1.2.0-rc.1", "counter", (json_int_t)7,
	    "hardware", "rpi4", "artifacts", "name", "model.onnx", "length", (json_int_t)3,
	    "sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "install",
	    "hook", "timeout_s", (json_int_t)60, "health", "cmd", "window_s", (json_int_t)30,
	    "baseline", "lineage", "source_commit", "abc123", "training_data", "sha256:00",
	    "parent", "builder", "expires", expires);
}

static int verify_release(json_t *doc, const int *signers, size_t n, struct fl_err *err)
{
	struct fl_trust_root t;
	struct fl_trust_release r;
	struct fl_envelope e;
	int rc;

	trusted_v1(&t);
	envelope_of(&e, FL_TRUST_TYPE_RELEASE, doc, signers, n);
	rc = fl_trust_release_verify(&r, &t, &e, NOW, err);
	fl_envelope_release(&e);
	if (rc == 0)
		fl_trust_release_free(&r);
	return rc;
}

static const int REL2[] = {4, 5};

Test(trust, release_verify_ok)
{
	struct fl_trust_root t;
	struct fl_trust_release r;
	struct fl_envelope e;
	struct fl_err err;
	json_t *doc = release_doc(FUTURE);

	cr_assert_not_null(doc);
	trusted_v1(&t);
	envelope_of(&e, FL_TRUST_TYPE_RELEASE, doc, REL2, 2);
	cr_assert_eq(fl_trust_release_verify(&r, &t, &e, NOW, &err), 0, "%s", err.msg);
	cr_assert_str_eq(r.name, "detector");
	cr_assert_str_eq(r.version, "1.2.0-rc.1");
	cr_assert_eq(r.counter, 7);
	cr_assert_eq(r.nartifacts, 1);
	cr_assert_str_eq(r.artifacts[0].name, "model.onnx");
	cr_assert_eq(r.artifacts[0].length, 3);
	cr_assert_null(r.install_hook);
	cr_assert_null(r.baseline);
	cr_assert_eq(r.health_window_s, 30);
	fl_trust_release_free(&r);
	fl_envelope_release(&e);
}

Test(trust, release_signature_rules)
{
	static const int one[] = {4}, dup[] = {4, 4}, unknown[] = {4, 0}, rootk[] = {0, 1};

	cr_assert_eq(verify_release(release_doc(FUTURE), one, 1, NULL), FL_EUNAUTH);
	cr_assert_eq(verify_release(release_doc(FUTURE), dup, 2, NULL), FL_EUNAUTH);
	cr_assert_eq(verify_release(release_doc(FUTURE), unknown, 2, NULL), FL_EUNAUTH);
	/* Root keys are not release keys. */
	cr_assert_eq(verify_release(release_doc(FUTURE), rootk, 2, NULL), FL_EUNAUTH);
	cr_assert_eq(verify_release(release_doc(PAST), REL2, 2, NULL), FL_EGONE);
}

Test(trust, release_payload_rules)
{
	/* T-ART-08/10 at the metadata level: names that could leave the slot. */
	static const char *const unsafe[] = {"a/b",  "../x", "..", ".",	 "/etc/passwd",
					     "a..b", "a\\b", "",   "x y"};
	char name129[130];
	json_t *doc, *art;
	struct fl_err err;

	for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
		doc = release_doc(FUTURE);
		art = json_array_get(json_object_get(doc, "artifacts"), 0);
		json_object_set_new(art, "name", json_string(unsafe[i]));
		cr_assert_eq(verify_release(doc, REL2, 2, &err), FL_EINVAL, "'%s'", unsafe[i]);
	}
	doc = release_doc(FUTURE);
	art = json_array_get(json_object_get(doc, "artifacts"), 0);
	json_object_set_new(art, "name", json_stringn("a\0b", 3));
	cr_assert_eq(verify_release(doc, REL2, 2, NULL), FL_EINVAL, "NUL in a name");
	memset(name129, 'a', 129);
	name129[129] = '\0';
	doc = release_doc(FUTURE);
	art = json_array_get(json_object_get(doc, "artifacts"), 0);
	json_object_set_new(art, "name", json_string(name129));
	cr_assert_eq(verify_release(doc, REL2, 2, NULL), FL_EINVAL, "129 characters");
	name129[128] = '\0';
	doc = release_doc(FUTURE);
	art = json_array_get(json_object_get(doc, "artifacts"), 0);
	json_object_set_new(art, "name", json_string(name129));
	cr_assert_eq(verify_release(doc, REL2, 2, &err), 0, "%s", err.msg);

	doc = release_doc(FUTURE);
	art = json_object_get(doc, "artifacts");
	json_array_append(art, json_array_get(art, 0));
	cr_assert_eq(verify_release(doc, REL2, 2, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "twice") != NULL, "%s", err.msg);

	doc = release_doc(FUTURE);
	json_object_set_new(doc, "version", json_string("1.02.0"));
	cr_assert_eq(verify_release(doc, REL2, 2, NULL), FL_EINVAL);
	doc = release_doc(FUTURE);
	json_object_set_new(doc, "counter", json_integer(0));
	cr_assert_eq(verify_release(doc, REL2, 2, NULL), FL_EINVAL);
	doc = release_doc(FUTURE);
	json_object_set_new(doc, "kind", json_string("script"));
	cr_assert_eq(verify_release(doc, REL2, 2, NULL), FL_EINVAL);
	doc = release_doc(FUTURE);
	json_object_set_new(doc, "surprise", json_true());
	cr_assert_eq(verify_release(doc, REL2, 2, NULL), FL_EINVAL);
	doc = release_doc(FUTURE);
	json_object_set_new(json_array_get(json_object_get(doc, "artifacts"), 0), "length",
			    json_integer(-1));
	cr_assert_eq(verify_release(doc, REL2, 2, NULL), FL_EINVAL);
	doc = release_doc(FUTURE);
	json_object_set_new(json_array_get(json_object_get(doc, "artifacts"), 0), "sha256",
			    json_string("BA7816BF"));
	cr_assert_eq(verify_release(doc, REL2, 2, NULL), FL_EINVAL);
	/* T-MD-28: wrong types everywhere are an error, never a crash. */
	doc = release_doc(FUTURE);
	json_object_set_new(doc, "artifacts", json_string("x"));
	cr_assert_eq(verify_release(doc, REL2, 2, NULL), FL_EINVAL);
	doc = release_doc(FUTURE);
	json_object_set_new(doc, "lineage", json_integer(1));
	cr_assert_eq(verify_release(doc, REL2, 2, NULL), FL_EINVAL);
}

Test(trust, semver)
{
	static const char *const good[] = {"0.0.0",	    "1.2.3",
					   "10.20.30",	    "1.0.0-alpha.1",
					   "1.0.0+build.5", "1.0.0-rc.1+sha.abc-def"};
	static const char *const bad[] = {"1",	      "1.2",	"1.2.3.4", "01.2.3", "1.2.3-",
					  "1.2.3-01", "1.2.3+", "v1.2.3",  "1..3",   "1.2.3-a..b"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert(fl_trust_semver_valid(good[i]), "%s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(fl_trust_semver_valid(bad[i]), 0, "%s", bad[i]);
}

/* ---- timestamp and assignment ---- */

Test(trust, timestamp_and_assignment)
{
	static const int online[] = {7}, release_key[] = {4, 5};
	static const char sha[] =
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	struct fl_trust_root t;
	struct fl_trust_timestamp ts;
	struct fl_trust_assignment as;
	struct fl_envelope e;
	struct fl_err err;

	trusted_v1(&t);
	envelope_of(&e, FL_TRUST_TYPE_TIMESTAMP,
		    json_pack("{sssIsss{ss}}", "_type", "timestamp", "version", (json_int_t)3,
			      "expires", FUTURE, "releases", "detector@1.2.0", sha),
		    online, 1);
	cr_assert_eq(fl_trust_timestamp_verify(&ts, &t, &e, NOW, &err), 0, "%s", err.msg);
	cr_assert_eq(ts.version, 3);
	cr_assert_str_eq(json_string_value(json_object_get(ts.releases, "detector@1.2.0")), sha);
	fl_trust_timestamp_free(&ts);
	fl_envelope_release(&e);

	/* Signed by release keys, not the timestamp key. */
	envelope_of(&e, FL_TRUST_TYPE_TIMESTAMP,
		    json_pack("{sssIsss{}}", "_type", "timestamp", "version", (json_int_t)3,
			      "expires", FUTURE, "releases"),
		    release_key, 2);
	cr_assert_eq(fl_trust_timestamp_verify(&ts, &t, &e, NOW, NULL), FL_EUNAUTH);
	fl_envelope_release(&e);
	/* Stale (freeze). */
	envelope_of(&e, FL_TRUST_TYPE_TIMESTAMP,
		    json_pack("{sssIsss{}}", "_type", "timestamp", "version", (json_int_t)3,
			      "expires", PAST, "releases"),
		    online, 1);
	cr_assert_eq(fl_trust_timestamp_verify(&ts, &t, &e, NOW, NULL), FL_EGONE);
	fl_envelope_release(&e);

	envelope_of(&e, FL_TRUST_TYPE_ASSIGNMENT,
		    json_pack("{sssssssssIsbssss}", "_type", "assignment", "device_id", "dev-1",
			      "release", "detector@1.2.0", "release_sha256", sha, "counter",
			      (json_int_t)7, "rollback", 0, "issued", "2025-12-31T00:00:00Z",
			      "expires", FUTURE),
		    online, 1);
	cr_assert_eq(fl_trust_assignment_verify(&as, &t, &e, NOW, &err), 0, "%s", err.msg);
	cr_assert_str_eq(as.device_id, "dev-1");
	cr_assert_str_eq(as.release_sha256, sha);
	cr_assert_eq(as.rollback, 0);
	fl_trust_assignment_free(&as);
	/* An assignment never passes as a timestamp, even under the same key. */
	cr_assert_eq(fl_trust_timestamp_verify(&ts, &t, &e, NOW, NULL), FL_EINVAL);
	fl_envelope_release(&e);

	envelope_of(&e, FL_TRUST_TYPE_ASSIGNMENT,
		    json_pack("{sssssssssIsbssss}", "_type", "assignment", "device_id", "../x",
			      "release", "detector@1.2.0", "release_sha256", sha, "counter",
			      (json_int_t)7, "rollback", 1, "issued", "2025-12-31T00:00:00Z",
			      "expires", FUTURE),
		    online, 1);
	cr_assert_eq(fl_trust_assignment_verify(&as, &t, &e, NOW, NULL), FL_EINVAL);
	fl_envelope_release(&e);
}

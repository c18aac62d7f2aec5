/* test_signer.c - what the server signs verifies under a root whose
 * timestamp and director roles hold its key, and only then; the director's
 * timestamps rise, survive a restart and cover the stored releases. */
#include <string.h>

#include "core/director.h"
#include "core/signer.h"
#include "fairlead/trust.h"
#include "fl_test.h"

#define NOW  1900000000LL
#define HASH "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct cp_signer server;

static void init(void)
{
	uint8_t pk[FL_ED25519_PK_LEN], sk[FL_ED25519_SK_LEN];

	cr_assert_eq(fl_crypto_init(), 0);
	fl_ed25519_keypair(pk, sk);
	cp_signer_from_sk(&server, sk);
	cr_assert_eq(memcmp(server.pk, pk, sizeof(pk)), 0);
}

TestSuite(signer, .init = init, .timeout = 60);

/* A root whose timestamp and director roles list key (threshold 1). */
static void root_with(struct fl_trust_root *r, const uint8_t pk[FL_ED25519_PK_LEN])
{
	memset(r, 0, sizeof(*r));
	r->version = 1;
	r->expires = NOW + 86400;
	for (int i = 0; i < FL_TRUST_ROLE_COUNT; i++) {
		memcpy(r->roles[i].keys[0].pk, pk, FL_ED25519_PK_LEN);
		fl_keyid(r->roles[i].keys[0].keyid, pk);
		r->roles[i].nkeys = 1;
		r->roles[i].threshold = 1;
	}
}

static void parse(struct fl_envelope *e, const struct fl_buf *b)
{
	struct fl_err err = {0, ""};

	cr_assert_eq(fl_envelope_parse(e, b->ptr, b->len, &err), 0, "%s", err.msg);
}

Test(signer, timestamp_round_trip)
{
	struct fl_buf b = FL_BUF_INIT;
	struct fl_envelope e = {0};
	struct fl_trust_root root, other;
	struct fl_trust_timestamp ts = {0};
	struct fl_err err = {0, ""};
	json_t *rel = json_pack("{s:s}", "detector@1.0.0", HASH);
	uint8_t pk2[FL_ED25519_PK_LEN], sk2[FL_ED25519_SK_LEN];

	cr_assert_eq(cp_signer_timestamp(&b, &server, 7, NOW + 3600, rel, &err), 0, "%s", err.msg);
	cr_assert_eq(b.ptr[b.len - 1], '\n');
	parse(&e, &b);
	root_with(&root, server.pk);
	cr_assert_eq(fl_trust_timestamp_verify(&ts, &root, &e, NOW, &err), 0, "%s", err.msg);
	cr_assert_eq(ts.version, 7);
	cr_assert_eq(ts.expires, NOW + 3600);
	cr_assert_str_eq(json_string_value(json_object_get(ts.releases, "detector@1.0.0")), HASH);
	fl_trust_timestamp_free(&ts);
	/* expired, and under a root that does not list the key */
	cr_assert_neq(fl_trust_timestamp_verify(&ts, &root, &e, NOW + 3601, &err), 0);
	fl_ed25519_keypair(pk2, sk2);
	root_with(&other, pk2);
	cr_assert_eq(fl_trust_timestamp_verify(&ts, &other, &e, NOW, &err), FL_EUNAUTH);
	fl_envelope_release(&e);
	fl_buf_release(&b);
	json_decref(rel);
}

Test(signer, assignment_round_trip)
{
	struct fl_buf b = FL_BUF_INIT;
	struct fl_envelope e = {0};
	struct fl_trust_root root;
	struct fl_trust_assignment a = {0};
	struct fl_err err = {0, ""};
	struct cp_assignment_payload p = {
	    "dev-1",
	    "detector@1.0.0",
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    12,
	    1,
	    NOW,
	    NOW + 86400};

	cr_assert_eq(cp_signer_assignment(&b, &server, &p, &err), 0, "%s", err.msg);
	parse(&e, &b);
	root_with(&root, server.pk);
	cr_assert_eq(fl_trust_assignment_verify(&a, &root, &e, NOW + 10, &err), 0, "%s", err.msg);
	cr_assert_str_eq(a.device_id, "dev-1");
	cr_assert_str_eq(a.release, "detector@1.0.0");
	cr_assert_str_eq(a.release_sha256, p.release_sha256);
	cr_assert_eq(a.counter, 12);
	cr_assert_eq(a.rollback, 1);
	cr_assert_eq(a.issued, NOW);
	cr_assert_eq(a.expires, NOW + 86400);
	fl_trust_assignment_free(&a);
	/* an assignment is no timestamp */
	{
		struct fl_trust_timestamp ts = {0};

		cr_assert_neq(fl_trust_timestamp_verify(&ts, &root, &e, NOW, &err), 0);
	}
	fl_envelope_release(&e);
	fl_buf_release(&b);
}

Test(signer, director_timestamps_rise_and_persist)
{
	char path[512];
	struct cp_store *s = NULL;
	struct cp_director *d = NULL;
	struct fl_err err = {0, ""};
	json_t *ts = NULL;
	int64_t v1 = 0, v2 = 0, v3 = 0;

	snprintf(path, sizeof(path), "%s/fairlead.db", fl_test_tmpdir());
	cr_assert_eq(cp_store_open(&s, path, -1, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_director_new(&d, s, &server, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_director_timestamp(&ts, &v1, d, NOW, &err), 0, "%s", err.msg);
	json_decref(ts);
	/* still fresh: the same one */
	cr_assert_eq(cp_director_timestamp(&ts, &v2, d, NOW + 60, &err), 0);
	json_decref(ts);
	cr_assert_eq(v1, v2);
	/* near expiry: the maintenance round re-signs */
	cr_assert_eq(cp_director_maintain(d, NOW + CP_TIMESTAMP_TTL - 60, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_director_timestamp(&ts, &v2, d, NOW + CP_TIMESTAMP_TTL - 60, &err), 0);
	json_decref(ts);
	cr_assert_gt(v2, v1);
	cp_director_free(d);
	/* a restart continues above the stored version */
	cr_assert_eq(cp_director_new(&d, s, &server, &err), 0);
	cr_assert_eq(cp_director_refresh(d, NOW + 7200, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_director_timestamp(&ts, &v3, d, NOW + 7200, &err), 0);
	json_decref(ts);
	cr_assert_gt(v3, v2);
	cp_director_free(d);
	cp_store_free(s);
}

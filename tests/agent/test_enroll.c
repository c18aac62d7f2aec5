/* Enrollment over the fake transport: the proof verifies over the documented
 * message, identity.json is written, re-enrollment and refusals are clear. */
#include "agent_test.h"

#include "agent/enroll.h"
#include "agent/key.h"
#include "agent/state.h"
#include "fairlead/crypto.h"
#include "fake_transport.h"

static void setup(void)
{
	cr_assert(eq(int, fl_crypto_init(), 0));
}

TestSuite(agent_enroll, .init = setup);

#define CHALLENGE "{\"challenge\":\"q7Vd-3XyZ_challenge\",\"expires_at\":1700000120}"

static const char *bstr(const json_t *body, const char *k)
{
	return json_string_value(json_object_get(body, k));
}

/* Checks proof against the message spelled out in docs/api.md, built here
 * independently of the agent's own helper. */
static void assert_proof(const json_t *body, const struct ag_key *k)
{
	char msg[512];
	uint8_t sig[FL_ED25519_SIG_LEN];
	size_t n = 0;
	const char *proof = bstr(body, "proof");

	snprintf(msg, sizeof(msg), "fairlead-enroll-v1\n%s\n%s\n%s", bstr(body, "challenge"),
		 bstr(body, "device_id"), bstr(body, "pubkey"));
	cr_assert(yes(proof != NULL));
	cr_assert(eq(int, fl_b64_decode(sig, sizeof(sig), &n, proof, strlen(proof)), 0));
	cr_assert(eq(sz, n, sizeof(sig)));
	cr_assert(eq(int, fl_ed25519_verify(sig, msg, strlen(msg), k->pk), 0));
	/* and not over anything else */
	msg[5] ^= 1;
	cr_assert(eq(int, fl_ed25519_verify(sig, msg, strlen(msg), k->pk), FL_EUNAUTH));
}

Test(agent_enroll, token_enrollment_builds_valid_proof)
{
	const char *dir = ag_test_tmpdir();
	struct fake *f;
	struct ag_transport *t = fake_new(&f);
	json_t *labels = json_pack("{s:s}", "site", "berlin");
	json_t *inv = json_pack("{s:s}", "os", "Linux");
	struct ag_enroll_opts o = {
	    dir, "https://127.0.0.1:8443", "fle_secret", NULL, labels, inv, 1700000001};
	struct ag_identity id, loaded;
	struct fl_err err = {0};
	struct ag_key k;
	json_t *req, *body;
	char reply[256], want_id[32];

	/* the server's reply must carry our keyid: compute it from the key the
	 * agent will create, so generate it first through keygen's path */
	cr_assert(eq(int, ag_key_ensure(&k, NULL, dir, &err), 0));
	snprintf(want_id, sizeof(want_id), "dev-%.12s", k.keyid);
	snprintf(
	    reply, sizeof(reply),
	    "{\"device_id\":\"%s\",\"keyid\":\"%s\",\"state\":\"pending\",\"poll_interval\":30}",
	    want_id, k.keyid);
	fake_push(f, 0, CHALLENGE, -1, NULL);
	fake_push(f, 0, reply, -1, NULL);

	cr_assert(eq(int, ag_enroll_run(&id, t, &o, &err), 0), "%s", err.msg);
	cr_assert(eq(str, id.device_id, want_id));
	cr_assert(eq(str, id.state, "pending"));

	cr_assert(eq(sz, fake_nreq(f), 2));
	req = fake_req(f, 0);
	cr_assert(eq(str, S(bstr(req, "target")), "/api/v1/enroll/challenge"));
	cr_assert(eq(str, S(bstr(req, "keyid")), ""), "enrollment must not be signed");
	req = fake_req(f, 1);
	cr_assert(eq(str, S(bstr(req, "method")), "POST"));
	cr_assert(eq(str, S(bstr(req, "target")), "/api/v1/enroll"));
	body = json_object_get(req, "body");
	cr_assert(eq(str, S(bstr(body, "device_id")), want_id));
	cr_assert(eq(str, S(bstr(body, "pubkey")), k.pk_b64));
	cr_assert(eq(str, S(bstr(body, "challenge")), "q7Vd-3XyZ_challenge"));
	cr_assert(eq(str, S(bstr(body, "token")), "fle_secret"));
	cr_assert(json_equal(json_object_get(body, "labels"), labels));
	cr_assert(json_equal(json_object_get(body, "inventory"), inv));
	assert_proof(body, &k);

	/* identity.json on disk */
	cr_assert(eq(int, ag_state_load_identity(&loaded, dir, &err), 0), "%s", err.msg);
	cr_assert(eq(str, loaded.device_id, want_id));
	cr_assert(eq(str, loaded.keyid, k.keyid));
	cr_assert(eq(str, loaded.server, "https://127.0.0.1:8443"));
	cr_assert(eq(str, loaded.state, "pending"));
	cr_assert(eq(i64, loaded.enrolled_at, 1700000001));

	/* a second enrollment is refused before any request */
	cr_assert(eq(int, ag_enroll_run(&id, t, &o, &err), FL_EEXISTS));
	cr_assert(yes(strstr(err.msg, "already enrolled") != NULL), "%s", err.msg);
	cr_assert(eq(sz, fake_nreq(f), 2));

	json_decref(labels);
	json_decref(inv);
	ag_transport_free(t);
}

Test(agent_enroll, preauthorized_enrollment_sends_no_token)
{
	const char *dir = ag_test_tmpdir();
	struct fake *f;
	struct ag_transport *t = fake_new(&f);
	struct ag_enroll_opts o = {dir, "https://h:1", NULL, "gw-7", NULL, NULL, 5};
	struct ag_identity id;
	struct fl_err err = {0};
	struct ag_key k;
	json_t *body;

	fake_push(f, 0, CHALLENGE, -1, NULL);
	fake_push(f, 0, "{\"device_id\":\"gw-7\",\"state\":\"accepted\",\"poll_interval\":30}", -1,
		  NULL);
	cr_assert(eq(int, ag_enroll_run(&id, t, &o, &err), 0), "%s", err.msg);
	cr_assert(eq(str, id.device_id, "gw-7"));
	cr_assert(eq(str, id.state, "accepted"));
	body = json_object_get(fake_req(f, 1), "body");
	cr_assert(yes(json_object_get(body, "token") == NULL));
	cr_assert(yes(json_object_get(body, "labels") == NULL));
	cr_assert(eq(int, ag_key_load(&k, dir, AG_KEY_FILE, &err), 0), "%s", err.msg);
	assert_proof(body, &k);
	ag_transport_free(t);
}

Test(agent_enroll, expired_token_is_a_clear_error_and_writes_nothing)
{
	const char *dir = ag_test_tmpdir();
	struct fake *f;
	struct ag_transport *t = fake_new(&f);
	struct ag_enroll_opts o = {dir, "https://h:1", "fle_old", NULL, NULL, NULL, 5};
	struct ag_identity id;
	struct fl_err err = {0};

	fake_push(f, 0, CHALLENGE, -1, NULL);
	fake_push(f, FL_EGONE, NULL, -1, "enrollment token expired (HTTP 410, gone)");
	cr_assert(eq(int, ag_enroll_run(&id, t, &o, &err), FL_EGONE));
	cr_assert(yes(strstr(err.msg, "expired") != NULL), "%s", err.msg);
	cr_assert(yes(!ag_state_exists(dir, AG_IDENTITY_FILE)));
	/* the key stays, so a retry with a fresh token keeps the identity key */
	cr_assert(ag_state_exists(dir, AG_KEY_FILE));
	ag_transport_free(t);
}

Test(agent_enroll, keyid_mismatch_and_bad_id_are_refused)
{
	const char *dir = ag_test_tmpdir();
	struct fake *f;
	struct ag_transport *t = fake_new(&f);
	struct ag_enroll_opts o = {dir, "https://h:1", "fle_x", "dev-1", NULL, NULL, 5};
	struct ag_identity id;
	struct fl_err err = {0};

	fake_push(f, 0, CHALLENGE, -1, NULL);
	fake_push(f, 0,
		  "{\"device_id\":\"dev-1\",\"keyid\":\"ffffffffffffffffffffffffffffffff\","
		  "\"state\":\"accepted\"}",
		  -1, NULL);
	cr_assert(lt(int, ag_enroll_run(&id, t, &o, &err), 0));
	cr_assert(yes(strstr(err.msg, "key id") != NULL), "%s", err.msg);
	cr_assert(yes(!ag_state_exists(dir, AG_IDENTITY_FILE)));

	o.device_id = "../etc";
	cr_assert(eq(int, ag_enroll_run(&id, t, &o, &err), FL_EINVAL));
	ag_transport_free(t);
}

Test(agent_enroll, proof_message_format)
{
	struct fl_buf b = FL_BUF_INIT;

	cr_assert(eq(int, ag_enroll_proof_message(&b, "CH", "dev-1", "PK=="), 0));
	cr_assert(eq(str, b.ptr, "fairlead-enroll-v1\nCH\ndev-1\nPK=="));
	fl_buf_release(&b);
}

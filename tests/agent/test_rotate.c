/* Key rotation: the request and proof, and crash recovery through the next
 * check-in (promote the new key or discard it). */
#include "agent_test.h"

#include "agent/key.h"
#include "agent/poll.h"
#include "agent/rotate.h"
#include "agent/state.h"
#include "fairlead/crypto.h"
#include "fake_transport.h"

static void setup(void)
{
	cr_assert(eq(int, fl_crypto_init(), 0));
}

TestSuite(agent_rotate, .init = setup);

/* A server that accepts exactly one key id. */
struct server {
	char accepted[FL_KEYID_LEN + 1];
};

static int one_key_server(struct fake *f, json_t **out, const char *method, const char *target,
			  const json_t *body, int64_t *retry_after, struct fl_err *err)
{
	struct server *s = f->user;

	if (strcmp(f->keyid, s->accepted) != 0)
		return fl_err_set(err, FL_EUNAUTH, "unknown device key (HTTP 401)");
	*out = json_pack("{s:s,s:i}", "state", "accepted", "poll_interval", 30);
	return 0;
}

/* Accepts the rotation when the proof verifies; answers the new keyid. */
static int rotate_server(struct fake *f, json_t **out, const char *method, const char *target,
			 const json_t *body, int64_t *retry_after, struct fl_err *err)
{
	struct server *s = f->user;
	const char *pub = json_string_value(json_object_get(body, "new_pubkey"));
	const char *proof = json_string_value(json_object_get(body, "proof"));
	uint8_t pk[FL_ED25519_PK_LEN], sig[FL_ED25519_SIG_LEN];
	char msg[512], keyid[FL_KEYID_LEN + 1];
	size_t n = 0;

	cr_assert(eq(str, S(target), "/api/v1/device/rotate-key"));
	cr_assert(eq(str, f->keyid, s->accepted), "rotation must be signed by the old key");
	cr_assert(yes(pub && proof));
	cr_assert(eq(int, fl_b64_decode(pk, sizeof(pk), &n, pub, strlen(pub)), 0));
	cr_assert(eq(sz, n, sizeof(pk)));
	cr_assert(eq(int, fl_b64_decode(sig, sizeof(sig), &n, proof, strlen(proof)), 0));
	snprintf(msg, sizeof(msg), "fairlead-rotate-v1\n%s\n%s\n%s", "dev-1", s->accepted, pub);
	cr_assert(eq(int, fl_ed25519_verify(sig, msg, strlen(msg), pk), 0),
		  "proof must verify over the documented message with the new key");
	fl_keyid(keyid, pk);
	*out = json_pack("{s:s}", "keyid", keyid);
	memcpy(s->accepted, keyid, sizeof(keyid));
	return 0;
}

static void key_on_disk(struct ag_key *k, const char *dir, const char *name)
{
	struct fl_err err = {0};

	cr_assert(eq(int, ag_key_load(k, dir, name, &err), 0), "%s", err.msg);
}

static void identity_keyid(char out[FL_KEYID_LEN + 1], const char *dir)
{
	struct ag_identity id;
	struct fl_err err = {0};

	cr_assert(eq(int, ag_state_load_identity(&id, dir, &err), 0), "%s", err.msg);
	memcpy(out, id.keyid, FL_KEYID_LEN + 1);
}

Test(agent_rotate, success_promotes_new_key)
{
	const char *dir = ag_test_tmpdir();
	struct server srv;
	struct fake *f;
	struct ag_transport *t = fake_new(&f);
	struct ag_key old, now;
	char newid[FL_KEYID_LEN + 1], idk[FL_KEYID_LEN + 1];
	struct fl_err err = {0};

	fake_device(&old, dir, "dev-1");
	memcpy(srv.accepted, old.keyid, sizeof(srv.accepted));
	f->user = &srv;
	f->handler = rotate_server;
	cr_assert(eq(int, ag_rotate_run(newid, t, dir, &err), 0), "%s", err.msg);
	cr_assert(eq(sz, fake_nreq(f), 1));
	cr_assert(yes(strcmp(newid, old.keyid) != 0));
	cr_assert(eq(str, newid, srv.accepted));
	key_on_disk(&now, dir, AG_KEY_FILE);
	cr_assert(eq(str, now.keyid, newid));
	identity_keyid(idk, dir);
	cr_assert(eq(str, idk, newid));
	cr_assert(yes(!ag_state_exists(dir, AG_KEY_NEW_FILE)));
	/* later requests are signed with the new key */
	cr_assert(eq(str, f->keyid, newid));
	ag_transport_free(t);
}

Test(agent_rotate, refusal_discards_new_key)
{
	const char *dir = ag_test_tmpdir();
	struct fake *f;
	struct ag_transport *t = fake_new(&f);
	struct ag_key old, now;
	char newid[FL_KEYID_LEN + 1];
	struct fl_err err = {0};

	fake_device(&old, dir, "dev-1");
	fake_push(f, FL_EFORBIDDEN, NULL, -1, "device is revoked (HTTP 403)");
	cr_assert(eq(int, ag_rotate_run(newid, t, dir, &err), FL_EFORBIDDEN));
	cr_assert(yes(strstr(err.msg, "refused") != NULL), "%s", err.msg);
	cr_assert(yes(!ag_state_exists(dir, AG_KEY_NEW_FILE)));
	key_on_disk(&now, dir, AG_KEY_FILE);
	cr_assert(eq(str, now.keyid, old.keyid));
	ag_transport_free(t);
}

Test(agent_rotate, lost_reply_then_checkin_with_new_key_promotes)
{
	const char *dir = ag_test_tmpdir();
	struct server srv;
	struct fake *f;
	struct ag_transport *t = fake_new(&f);
	struct ag_key old, pending, now;
	struct fake_clock fc;
	struct ag_clock clock;
	struct ag_poll_opts po = {.dir = dir};
	struct ag_poll *p = NULL;
	char newid[FL_KEYID_LEN + 1], idk[FL_KEYID_LEN + 1];
	struct fl_err err = {0};
	int64_t delay;

	fake_device(&old, dir, "dev-1");
	/* the server switched keys, but the reply never arrived */
	fake_push(f, FL_ERROR, NULL, -1, "connection reset");
	cr_assert(eq(int, ag_rotate_run(newid, t, dir, &err), FL_ERROR));
	cr_assert(yes(strstr(err.msg, "unknown") != NULL), "%s", err.msg);
	cr_assert(ag_state_exists(dir, AG_KEY_NEW_FILE));
	key_on_disk(&now, dir, AG_KEY_FILE);
	cr_assert(eq(str, now.keyid, old.keyid));
	key_on_disk(&pending, dir, AG_KEY_NEW_FILE);

	/* a second rotation must wait */
	cr_assert(eq(int, ag_rotate_run(newid, t, dir, &err), FL_ECONFLICT));

	memcpy(srv.accepted, pending.keyid, sizeof(srv.accepted));
	f->user = &srv;
	f->handler = one_key_server;
	fake_clock_init(&clock, &fc);
	cr_assert(eq(int, ag_poll_new(&p, t, &clock, &po, &err), 0), "%s", err.msg);
	cr_assert(eq(int, ag_poll_once(&delay, p, &err), 0), "%s", err.msg);
	cr_assert(
	    eq(str, S(json_string_value(json_object_get(fake_req(f, 1), "keyid"))), pending.keyid));
	cr_assert(eq(str, S(ag_poll_keyid(p)), pending.keyid));
	key_on_disk(&now, dir, AG_KEY_FILE);
	cr_assert(eq(str, now.keyid, pending.keyid));
	identity_keyid(idk, dir);
	cr_assert(eq(str, idk, pending.keyid));
	cr_assert(yes(!ag_state_exists(dir, AG_KEY_NEW_FILE)));
	/* and it stays on the new key */
	cr_assert(eq(int, ag_poll_once(&delay, p, &err), 0), "%s", err.msg);
	cr_assert(eq(sz, fake_nreq(f), 3)); /* rotate, check-in, check-in */
	ag_poll_free(p);
	ag_transport_free(t);
}

/* A device.key.new the server never saw, as after a crash before the POST. */
static void orphan_new_key(struct ag_key *nk, const char *dir)
{
	struct fl_err err = {0};

	ag_key_generate(nk);
	cr_assert(eq(int, ag_key_save(nk, dir, AG_KEY_NEW_FILE, &err), 0), "%s", err.msg);
}

Test(agent_rotate, new_key_unknown_old_key_works_discards_new)
{
	const char *dir = ag_test_tmpdir();
	struct server srv;
	struct fake *f;
	struct ag_transport *t = fake_new(&f);
	struct ag_key old, nk, now;
	struct fake_clock fc;
	struct ag_clock clock;
	struct ag_poll_opts po = {.dir = dir};
	struct ag_poll *p = NULL;
	struct fl_err err = {0};
	int64_t delay;

	fake_device(&old, dir, "dev-1");
	orphan_new_key(&nk, dir);
	memcpy(srv.accepted, old.keyid, sizeof(srv.accepted));
	f->user = &srv;
	f->handler = one_key_server;
	fake_clock_init(&clock, &fc);
	cr_assert(eq(int, ag_poll_new(&p, t, &clock, &po, &err), 0), "%s", err.msg);
	cr_assert(eq(int, ag_poll_once(&delay, p, &err), 0), "%s", err.msg);
	cr_assert(eq(sz, fake_nreq(f), 2));
	cr_assert(
	    eq(str, S(json_string_value(json_object_get(fake_req(f, 0), "keyid"))), nk.keyid));
	cr_assert(
	    eq(str, S(json_string_value(json_object_get(fake_req(f, 1), "keyid"))), old.keyid));
	cr_assert(yes(!ag_state_exists(dir, AG_KEY_NEW_FILE)));
	key_on_disk(&now, dir, AG_KEY_FILE);
	cr_assert(eq(str, now.keyid, old.keyid));
	cr_assert(eq(str, S(ag_poll_keyid(p)), old.keyid));
	ag_poll_free(p);
	ag_transport_free(t);
}

Test(agent_rotate, undecided_outcomes_keep_both_keys)
{
	const char *dir = ag_test_tmpdir();
	struct server srv;
	struct fake *f;
	struct ag_transport *t = fake_new(&f);
	struct ag_key old, nk, now;
	struct fake_clock fc;
	struct ag_clock clock;
	struct ag_poll_opts po = {.dir = dir};
	struct ag_poll *p = NULL;
	struct fl_err err = {0};
	int64_t delay;

	fake_device(&old, dir, "dev-1");
	orphan_new_key(&nk, dir);
	fake_clock_init(&clock, &fc);
	cr_assert(eq(int, ag_poll_new(&p, t, &clock, &po, &err), 0), "%s", err.msg);

	/* server unreachable: nothing decided */
	fake_push(f, FL_ERROR, NULL, -1, "connection refused");
	cr_assert(eq(int, ag_poll_once(&delay, p, &err), FL_ERROR));
	cr_assert(eq(sz, fake_nreq(f), 1));
	cr_assert(ag_state_exists(dir, AG_KEY_NEW_FILE));

	/* neither key accepted: keep both rather than lose the right one */
	memset(srv.accepted, 0, sizeof(srv.accepted));
	f->user = &srv;
	f->handler = one_key_server;
	cr_assert(eq(int, ag_poll_once(&delay, p, &err), FL_EUNAUTH));
	cr_assert(eq(sz, fake_nreq(f), 3));
	cr_assert(ag_state_exists(dir, AG_KEY_NEW_FILE));
	key_on_disk(&now, dir, AG_KEY_FILE);
	cr_assert(eq(str, now.keyid, old.keyid));

	/* a 403 with the new key means the server knows it: promote */
	fake_push(f, FL_EFORBIDDEN, NULL, -1, "device is pending approval (HTTP 403)");
	cr_assert(eq(int, ag_poll_once(&delay, p, &err), FL_EFORBIDDEN));
	cr_assert(yes(!ag_state_exists(dir, AG_KEY_NEW_FILE)));
	key_on_disk(&now, dir, AG_KEY_FILE);
	cr_assert(eq(str, now.keyid, nk.keyid));
	ag_poll_free(p);
	ag_transport_free(t);
}

Test(agent_rotate, stale_identity_keyid_is_repaired)
{
	const char *dir = ag_test_tmpdir();
	struct fake *f;
	struct ag_transport *t = fake_new(&f);
	struct ag_key old, nk;
	struct fake_clock fc;
	struct ag_clock clock;
	struct ag_poll_opts po = {.dir = dir};
	struct ag_poll *p = NULL;
	char idk[FL_KEYID_LEN + 1];
	struct fl_err err = {0};

	/* crash after rename(device.key.new, device.key), before identity.json */
	fake_device(&old, dir, "dev-1");
	orphan_new_key(&nk, dir);
	cr_assert(eq(int, ag_key_promote(dir, &err), 0), "%s", err.msg);
	identity_keyid(idk, dir);
	cr_assert(eq(str, idk, old.keyid));

	fake_clock_init(&clock, &fc);
	cr_assert(eq(int, ag_poll_new(&p, t, &clock, &po, &err), 0), "%s", err.msg);
	identity_keyid(idk, dir);
	cr_assert(eq(str, idk, nk.keyid));
	cr_assert(eq(str, f->keyid, nk.keyid));
	ag_poll_free(p);
	ag_transport_free(t);
}

Test(agent_rotate, proof_message_format)
{
	struct fl_buf b = FL_BUF_INIT;

	cr_assert(eq(int, ag_rotate_proof_message(&b, "dev-1", "abcd", "PK=="), 0));
	cr_assert(eq(str, b.ptr, "fairlead-rotate-v1\ndev-1\nabcd\nPK=="));
	fl_buf_release(&b);
}

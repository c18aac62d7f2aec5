/* test_registry.c - the in-memory device index. */
#include <stdio.h>
#include <string.h>

#include "core/registry.h"
#include "fl_test.h"

static struct cp_dev dev(const char *id, const char *keyid, const char *state)
{
	struct cp_dev d;

	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", id);
	snprintf(d.keyid, sizeof(d.keyid), "%s", keyid);
	snprintf(d.state, sizeof(d.state), "%s", state);
	memset(d.pk, keyid[0], sizeof(d.pk));
	return d;
}

Test(registry, put_and_lookup_by_id_and_keyid)
{
	struct cp_registry *r = NULL;
	struct cp_dev a = dev("dev-1", "aaaa", "accepted"), b = dev("dev-2", "bbbb", "pending");
	struct cp_dev out;

	cr_assert_eq(cp_registry_new(&r, NULL), 0);
	cr_assert_eq(cp_registry_count(r), 0);
	cr_assert_eq(cp_registry_by_id(&out, r, "dev-1"), FL_ENOTFOUND);
	cr_assert_eq(cp_registry_put(r, &a), 0);
	cr_assert_eq(cp_registry_put(r, &b), 0);
	cr_assert_eq(cp_registry_count(r), 2);
	cr_assert_eq(cp_registry_by_id(&out, r, "dev-1"), 0);
	cr_assert_str_eq(out.keyid, "aaaa");
	cr_assert_str_eq(out.state, "accepted");
	cr_assert_eq(out.pk[31], 'a');
	cr_assert_eq(cp_registry_by_keyid(&out, r, "bbbb"), 0);
	cr_assert_str_eq(out.id, "dev-2");
	cr_assert_str_eq(out.state, "pending");
	cr_assert_eq(cp_registry_by_keyid(&out, r, "cccc"), FL_ENOTFOUND);
	/* Lookups are copies: changing one does not change the index. */
	snprintf(out.state, sizeof(out.state), "revoked");
	cr_assert_eq(cp_registry_by_id(&out, r, "dev-2"), 0);
	cr_assert_str_eq(out.state, "pending");
	cp_registry_free(r);
}

Test(registry, put_with_new_keyid_removes_old_keyid)
{
	struct cp_registry *r = NULL;
	struct cp_dev a = dev("dev-1", "old-key", "accepted"), out;

	cr_assert_eq(cp_registry_new(&r, NULL), 0);
	cr_assert_eq(cp_registry_put(r, &a), 0);
	a = dev("dev-1", "new-key", "accepted");
	cr_assert_eq(cp_registry_put(r, &a), 0);
	cr_assert_eq(cp_registry_count(r), 1);
	cr_assert_eq(cp_registry_by_keyid(&out, r, "old-key"), FL_ENOTFOUND,
		     "a rotated-away key still authenticates");
	cr_assert_eq(cp_registry_by_keyid(&out, r, "new-key"), 0);
	cr_assert_str_eq(out.id, "dev-1");
	cr_assert_eq(out.pk[0], 'n');
	/* Put without a key removes the key index entry. */
	a = dev("dev-1", "", "revoked");
	cr_assert_eq(cp_registry_put(r, &a), 0);
	cr_assert_eq(cp_registry_by_keyid(&out, r, "new-key"), FL_ENOTFOUND);
	cr_assert_eq(cp_registry_by_id(&out, r, "dev-1"), 0);
	cr_assert_str_eq(out.state, "revoked");
	cp_registry_free(r);
}

Test(registry, setters_and_commands)
{
	struct cp_registry *r = NULL;
	struct cp_dev a = dev("dev-1", "k1", "pending"), out;

	cr_assert_eq(cp_registry_new(&r, NULL), 0);
	cr_assert_eq(cp_registry_put(r, &a), 0);
	cp_registry_set_state(r, "dev-1", "quarantined");
	cp_registry_set_desired_version(r, "dev-1", 7);
	cp_registry_add_commands(r, "dev-1", 2);
	cp_registry_add_commands(r, "dev-1", -1);
	/* unknown ids are ignored */
	cp_registry_set_state(r, "nope", "accepted");
	cp_registry_add_commands(r, "nope", 1);
	cr_assert_eq(cp_registry_by_keyid(&out, r, "k1"), 0);
	cr_assert_str_eq(out.state, "quarantined");
	cr_assert_eq(out.desired_version, 7);
	cr_assert_eq(out.open_commands, 1);
	cp_registry_add_commands(r, "dev-1", -5);
	cr_assert_eq(cp_registry_by_id(&out, r, "dev-1"), 0);
	cr_assert_eq(out.open_commands, 0);
	cr_assert_eq(cp_registry_count(r), 1);
	cp_registry_free(r);
}

Test(registry, touch_detects_changes)
{
	struct cp_registry *r = NULL;
	struct cp_dev a = dev("dev-1", "k1", "accepted");
	int inv = -1, rep = -1;

	cr_assert_eq(cp_registry_new(&r, NULL), 0);
	cr_assert_eq(cp_registry_put(r, &a), 0);
	cr_assert_eq(cp_registry_last_seen(r, "dev-1"), 0);

	cp_registry_touch(r, "dev-1", 100, 11, 22, &inv, &rep);
	cr_assert_eq(inv, 1);
	cr_assert_eq(rep, 1);
	cr_assert_eq(cp_registry_last_seen(r, "dev-1"), 100);
	/* Same hashes: nothing to write. */
	cp_registry_touch(r, "dev-1", 110, 11, 22, &inv, &rep);
	cr_assert_eq(inv, 0);
	cr_assert_eq(rep, 0);
	cr_assert_eq(cp_registry_last_seen(r, "dev-1"), 110);
	/* Only the inventory changed. */
	cp_registry_touch(r, "dev-1", 120, 12, 22, &inv, &rep);
	cr_assert_eq(inv, 1);
	cr_assert_eq(rep, 0);
	/* Hash 0 means "not sent": never a change. */
	cp_registry_touch(r, "dev-1", 130, 0, 0, &inv, &rep);
	cr_assert_eq(inv, 0);
	cr_assert_eq(rep, 0);
	/* Back to an older value is a change again. */
	cp_registry_touch(r, "dev-1", 140, 11, 23, &inv, &rep);
	cr_assert_eq(inv, 1);
	cr_assert_eq(rep, 1);
	/* last_seen never moves backwards. */
	cp_registry_touch(r, "dev-1", 50, 11, 23, &inv, &rep);
	cr_assert_eq(cp_registry_last_seen(r, "dev-1"), 140);
	/* A check-in whose changes were not queued forgets the hashes: its
	 * retry with the same values is a change again. */
	cp_registry_forget_hashes(r, "dev-1");
	cp_registry_touch(r, "dev-1", 150, 11, 23, &inv, &rep);
	cr_assert_eq(inv, 1);
	cr_assert_eq(rep, 1);
	cp_registry_forget_hashes(r, "nope");
	/* Unknown device: no change reported. */
	inv = rep = -1;
	cp_registry_touch(r, "nope", 200, 1, 1, &inv, &rep);
	cr_assert_eq(inv, 0);
	cr_assert_eq(rep, 0);
	cr_assert_eq(cp_registry_last_seen(r, "nope"), 0);
	cp_registry_free(r);
}

Test(registry, load_from_store)
{
	char path[512];
	struct cp_store *s = NULL;
	struct cp_registry *r = NULL;
	struct cp_enrollment e;
	struct cp_dev out;
	uint8_t pk[FL_ED25519_PK_LEN], sk[FL_ED25519_SK_LEN];
	char b64[64], keyid[FL_KEYID_LEN + 1];
	json_t *labels = json_object();
	struct fl_err err = {0, ""};

	cr_assert_eq(fl_crypto_init(), 0);
	snprintf(path, sizeof(path), "%s/fairlead.db", fl_test_tmpdir());
	cr_assert_eq(cp_store_open(&s, path, -1, &err), 0, "%s", err.msg);
	fl_ed25519_keypair(pk, sk);
	fl_b64_encode(b64, pk, sizeof(pk));
	fl_keyid(keyid, pk);
	cr_assert_eq(cp_store_preauth_add(s, "dev-9", b64, NULL, 1, NULL, &err), 0, "%s", err.msg);
	memset(&e, 0, sizeof(e));
	e.device_id = "dev-9";
	e.pubkey_b64 = b64;
	e.keyid = keyid;
	e.state = "accepted";
	e.labels = labels;
	e.preauth_id = "dev-9";
	e.now = 5;
	cr_assert_eq(cp_store_device_enroll(s, &e, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_store_command_add(s, "c1", "dev-9", "ping", NULL, 6, NULL, NULL), 0);

	cr_assert_eq(cp_registry_new(&r, NULL), 0);
	cr_assert_eq(cp_registry_load(r, s, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_registry_count(r), 1);
	cr_assert_eq(cp_registry_by_keyid(&out, r, keyid), 0);
	cr_assert_str_eq(out.id, "dev-9");
	cr_assert_str_eq(out.state, "accepted");
	cr_assert_eq(memcmp(out.pk, pk, sizeof(pk)), 0);
	cr_assert_eq(out.open_commands, 1);
	cp_registry_free(r);
	cp_store_free(s);
	json_decref(labels);
}

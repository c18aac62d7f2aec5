/*
 * h_enroll.c - device enrollment: a server challenge, then proof of
 * possession of the new key over it, with a token or a preauthorization.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "core/devices.h"
#include "fairlead/crypto.h"
#include "fairlead/json.h"
#include "fairlead/trust.h"
#include "fairlead/util.h"

#define CHALLENGE_TTL 120

int cp_h_enroll_challenge(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	uint8_t raw[32];
	char ch[48];

	fl_random(raw, sizeof(raw));
	fl_b64url_encode(ch, raw, sizeof(raw));
	if (cp_expset_claim(req->app->challenges, ch, req->now + CHALLENGE_TTL, req->now) < 0)
		return fl_err_set(err, FL_ENOMEM, "cannot keep challenge");
	return cp_reply(resp, 200,
			json_pack("{s:s,s:I}", "challenge", ch, "expires_at",
				  (json_int_t)(req->now + CHALLENGE_TTL)));
}

/* Inventory: a flat object of short strings, at most 64 keys. */
int cp_check_inventory(const json_t *inv, struct fl_err *err)
{
	const char *k;
	json_t *v;

	if (!json_is_object(inv) || json_object_size(inv) > 64)
		return fl_err_set(err, FL_EINVAL, "inventory must be an object of at most 64 keys");
	json_object_foreach ((json_t *)(uintptr_t)inv, k, v) {
		if (!fl_label_key_valid(k))
			return fl_err_set(err, FL_EINVAL, "bad inventory key '%.64s'", k);
		/* What the device runs, {"NAME": "VERSION"}: the one
		 * structured key, so the server can reconcile assigned against it. */
		if (strcmp(k, "running") == 0) {
			const char *name;
			json_t *ver;

			if (!json_is_object(v) || json_object_size(v) > 64)
				return fl_err_set(err, FL_EINVAL,
						  "inventory 'running' must be an object of at "
						  "most 64 NAME: VERSION entries");
			json_object_foreach (v, name, ver)
				if (!fl_id_valid(name) || !json_is_string(ver) ||
				    !fl_trust_semver_valid(json_string_value(ver)) ||
				    json_string_length(ver) > 64)
					return fl_err_set(err, FL_EINVAL,
							  "inventory 'running': bad entry "
							  "'%.64s'",
							  name);
			continue;
		}
		if (!json_is_string(v) || json_string_length(v) > 256 ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return fl_err_set(err, FL_EINVAL,
					  "inventory '%.64s' must be a string of at most 256 bytes",
					  k);
	}
	return 0;
}

int cp_h_enroll(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const char *const allowed[] = {"device_id", "pubkey",	"challenge", "token",
					      "labels",	   "inventory", "proof",     NULL};
	json_t *body = NULL, *labels = NULL, *inventory = NULL, *own = NULL;
	const char *id = NULL, *pub = NULL, *challenge = NULL, *token = NULL, *proof = NULL;
	struct cp_enroll_token et = {0};
	struct fl_buf msg = FL_BUF_INIT;
	uint8_t pk[FL_ED25519_PK_LEN], sig[FL_ED25519_SIG_LEN];
	char keyid[FL_KEYID_LEN + 1], pre_pub[64];
	size_t n;
	const char *state;
	struct cp_enrollment e;
	struct cp_audit_rec a;
	struct cp_dev d;
	int rc;

	if ((rc = cp_body_object(&body, req, allowed, err)) < 0)
		return rc;
	if ((rc = fl_json_str(&id, body, "device_id", 1, err)) < 0 ||
	    (rc = fl_json_str(&pub, body, "pubkey", 1, err)) < 0 ||
	    (rc = fl_json_str(&challenge, body, "challenge", 1, err)) < 0 ||
	    (rc = fl_json_str(&proof, body, "proof", 1, err)) < 0 ||
	    (rc = fl_json_str(&token, body, "token", 0, err)) < 0 ||
	    (rc = fl_json_obj(&own, body, "labels", 0, err)) < 0 ||
	    (rc = fl_json_obj(&inventory, body, "inventory", 0, err)) < 0)
		goto cleanup;
	if (!fl_id_valid(id)) {
		rc = fl_err_set(err, FL_EINVAL, "bad device id");
		goto cleanup;
	}
	if (fl_b64_decode(pk, sizeof(pk), &n, pub, strlen(pub)) < 0 || n != sizeof(pk)) {
		rc = fl_err_set(err, FL_EINVAL, "pubkey must be a base64 Ed25519 public key");
		goto cleanup;
	}
	if (fl_b64_decode(sig, sizeof(sig), &n, proof, strlen(proof)) < 0 || n != sizeof(sig)) {
		rc = fl_err_set(err, FL_EINVAL, "proof must be a base64 Ed25519 signature");
		goto cleanup;
	}
	if ((own && (rc = cp_device_labels_check(own, err)) < 0) ||
	    (inventory && (rc = cp_check_inventory(inventory, err)) < 0))
		goto cleanup;

	/* Proof of possession first: without it anyone could enroll someone
	 * else's key. The challenge is single use and taken only after the
	 * proof verifies, so a wrong proof does not burn a good challenge. */
	if ((rc = fl_buf_addf(&msg, "fairlead-enroll-v1\n%s\n%s\n%s", challenge, id, pub)) < 0)
		goto cleanup;
	if (fl_ed25519_verify(sig, msg.ptr, msg.len, pk) < 0) {
		rc = fl_err_set(err, FL_EUNAUTH, "proof of possession does not verify");
		goto cleanup;
	}
	if (cp_expset_take(req->app->challenges, challenge, req->now) < 0) {
		rc = fl_err_set(err, FL_EGONE, "challenge unknown, used or expired");
		goto cleanup;
	}
	fl_keyid(keyid, pk);
	labels = json_object();

	if (token) {
		char hash[65];

		fl_sha256_hex(hash, token, strlen(token));
		if ((rc = cp_store_enroll_token_by_hash(&et, req->app->store, hash, err)) < 0)
			goto cleanup;
		if (et.revoked_at || et.expires_at <= req->now || et.uses_left <= 0) {
			rc = fl_err_set(err, FL_EGONE, "enrollment token %s",
					et.revoked_at	    ? "revoked"
					: et.uses_left <= 0 ? "used up"
							    : "expired");
			goto cleanup;
		}
		/* The device's own labels first; the token's win on conflict. */
		if (own)
			json_object_update(labels, own);
		json_object_update(labels, et.labels);
		state = et.auto_accept ? "accepted" : "pending";
	} else {
		json_t *pre_labels = NULL;

		rc = cp_store_preauth_get(pre_pub, &pre_labels, req->app->store, id, err);
		if (rc == FL_ENOTFOUND)
			rc = fl_err_set(err, FL_EUNAUTH,
					"no enrollment token and device '%s' is not preauthorized",
					id);
		if (rc < 0)
			goto cleanup;
		if (own)
			json_object_update(labels, own);
		json_object_update(labels, pre_labels);
		json_decref(pre_labels);
		if (strcmp(pre_pub, pub) != 0) {
			rc = fl_err_set(err, FL_ECONFLICT,
					"key differs from the preauthorized key of '%s'", id);
			goto cleanup;
		}
		state = "accepted";
	}

	memset(&e, 0, sizeof(e));
	e.device_id = id;
	e.pubkey_b64 = pub;
	e.keyid = keyid;
	e.state = state;
	e.labels = labels;
	e.inventory = inventory;
	e.token_id = token ? et.id : NULL;
	e.preauth_id = token ? NULL : id;
	e.now = req->now;
	snprintf(req->who.actor, sizeof(req->who.actor), "device:%s", id);
	cp_audit_rec_init(&a, req, "device.enroll", id,
			  json_pack("{s:s,s:s,s:s,s:O}", "keyid", keyid, "state", state, "via",
				    token ? et.id : "preauthorization", "labels", labels));
	rc = cp_store_device_enroll(req->app->store, &e, &a, err);
	json_decref(a.details);
	if (rc < 0)
		goto cleanup;

	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", id);
	snprintf(d.state, sizeof(d.state), "%s", state);
	memcpy(d.keyid, keyid, sizeof(d.keyid));
	memcpy(d.pk, pk, sizeof(d.pk));
	cp_registry_put(req->app->reg, &d);
	rc = cp_reply(resp, 201,
		      json_pack("{s:s,s:s,s:s,s:i}", "device_id", id, "keyid", keyid, "state",
				state, "poll_interval", req->app->cfg.poll_interval));
cleanup:
	cp_enroll_token_release(&et);
	fl_buf_release(&msg);
	json_decref(labels);
	json_decref(body);
	return rc;
}

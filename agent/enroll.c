#include "agent/enroll.h"

#include <stdio.h>
#include <string.h>

#include "fairlead/json.h"
#include "fairlead/log.h"
#include "fairlead/util.h"
#include "agent/key.h"

int ag_enroll_proof_message(struct fl_buf *out, const char *challenge, const char *device_id,
			    const char *pubkey_b64)
{
	return fl_buf_addf(out, "fairlead-enroll-v1\n%s\n%s\n%s", challenge, device_id, pubkey_b64);
}

/* Turns the server's refusal into a sentence an operator can act on. */
static int explain(struct fl_err *err, int rc)
{
	switch (rc) {
	case FL_EGONE:
		return fl_err_prefix(err, "enrollment refused: the token or challenge has "
					  "expired or is used up");
	case FL_EUNAUTH:
		return fl_err_prefix(err, "enrollment refused: unknown token or bad proof");
	case FL_EEXISTS:
	case FL_ECONFLICT:
		return fl_err_prefix(err, "enrollment refused: the device id is taken or "
					  "preauthorized with another key");
	default: return fl_err_prefix(err, "enrollment failed");
	}
}

int ag_enroll_run(struct ag_identity *out, struct ag_transport *t, const struct ag_enroll_opts *o,
		  struct fl_err *err)
{
	struct fl_buf msg = FL_BUF_INIT;
	uint8_t sig[FL_ED25519_SIG_LEN];
	char proof[128], dev[65];
	const char *challenge = NULL, *state = NULL, *keyid = NULL, *got_id = NULL;
	json_t *empty = NULL, *ch = NULL, *body = NULL, *reply = NULL;
	struct ag_key key;
	int created = 0, rc;

	memset(out, 0, sizeof(*out));
	memset(&key, 0, sizeof(key));
	if ((rc = ag_state_dir_init(o->dir, err)) < 0)
		goto cleanup;
	if (ag_state_exists(o->dir, AG_IDENTITY_FILE)) {
		rc = fl_err_set(err, FL_EEXISTS,
				"this device is already enrolled (%s exists in '%s'); remove the "
				"state directory to enroll again",
				AG_IDENTITY_FILE, o->dir);
		goto cleanup;
	}
	if (o->device_id && !fl_id_valid(o->device_id)) {
		rc = fl_err_set(err, FL_EINVAL, "bad device id '%s' (1-64 of A-Z a-z 0-9 . _ -)",
				o->device_id);
		goto cleanup;
	}
	/* Reused when present: keygen may have made it for a preauthorization. */
	if ((rc = ag_key_ensure(&key, &created, o->dir, err)) < 0)
		goto cleanup;
	if (o->device_id)
		snprintf(dev, sizeof(dev), "%s", o->device_id);
	else
		snprintf(dev, sizeof(dev), "dev-%.12s", key.keyid);

	ag_transport_set_signer(t, NULL, NULL);
	if (!(empty = json_object())) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = ag_transport_json(t, &ch, "POST", "/api/v1/enroll/challenge", empty, NULL, err)) <
	    0) {
		fl_err_prefix(err, "cannot get an enrollment challenge");
		goto cleanup;
	}
	if ((rc = fl_json_str(&challenge, ch, "challenge", 1, err)) < 0) {
		fl_err_prefix(err, "bad challenge reply");
		goto cleanup;
	}

	if ((rc = ag_enroll_proof_message(&msg, challenge, dev, key.pk_b64)) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	fl_ed25519_sign(sig, msg.ptr, msg.len, key.sk);
	fl_b64_encode(proof, sig, sizeof(sig));

	body = json_pack("{s:s,s:s,s:s,s:s}", "device_id", dev, "pubkey", key.pk_b64, "challenge",
			 challenge, "proof", proof);
	if (!body || (o->token && json_object_set_new(body, "token", json_string(o->token)) < 0) ||
	    (o->labels && json_object_size(o->labels) > 0 &&
	     json_object_set(body, "labels", (json_t *)(uintptr_t)o->labels) < 0) ||
	    (o->inventory &&
	     json_object_set(body, "inventory", (json_t *)(uintptr_t)o->inventory) < 0)) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = ag_transport_json(t, &reply, "POST", "/api/v1/enroll", body, NULL, err)) < 0) {
		explain(err, rc);
		goto cleanup;
	}
	if ((rc = fl_json_str(&state, reply, "state", 1, err)) < 0 ||
	    (rc = fl_json_str(&keyid, reply, "keyid", 0, err)) < 0 ||
	    (rc = fl_json_str(&got_id, reply, "device_id", 0, err)) < 0) {
		fl_err_prefix(err, "bad enrollment reply");
		goto cleanup;
	}
	/* The server must have registered the key we hold; anything else means
	 * every later signed request would fail. */
	if (keyid && strcmp(keyid, key.keyid) != 0) {
		rc = fl_err_set(err, FL_ERROR, "server registered key id %.40s, ours is %s", keyid,
				key.keyid);
		goto cleanup;
	}
	if (got_id && (!fl_id_valid(got_id) || strcmp(got_id, dev) != 0)) {
		rc =
		    fl_err_set(err, FL_ERROR,
			       "server enrolled device id '%.64s', we asked for '%s'", got_id, dev);
		goto cleanup;
	}
	snprintf(out->device_id, sizeof(out->device_id), "%s", dev);
	snprintf(out->keyid, sizeof(out->keyid), "%s", key.keyid);
	snprintf(out->server, sizeof(out->server), "%s", o->server ? o->server : "");
	snprintf(out->state, sizeof(out->state), "%s", state);
	out->enrolled_at = o->now;
	if ((rc = ag_state_save_identity(out, o->dir, err)) < 0)
		goto cleanup;
	fl_log_fields(FL_LOG_INFO,
		      json_pack("{s:s,s:s,s:s,s:b}", "device_id", dev, "keyid", key.keyid, "state",
				state, "new_key", created),
		      "enrolled");
cleanup:
	ag_key_wipe(&key);
	fl_buf_release(&msg);
	json_decref(empty);
	json_decref(ch);
	json_decref(body);
	json_decref(reply);
	return rc;
}

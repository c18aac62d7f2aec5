#include "agent/rotate.h"

#include <stdio.h>
#include <string.h>

#include "fairlead/json.h"
#include "fairlead/log.h"
#include "agent/key.h"
#include "agent/state.h"

int ag_rotate_proof_message(struct fl_buf *out, const char *device_id, const char *old_keyid,
			    const char *new_pubkey_b64)
{
	return fl_buf_addf(out, "fairlead-rotate-v1\n%s\n%s\n%s", device_id, old_keyid,
			   new_pubkey_b64);
}

/* Only these leave the server's decision unknown: it may have committed the
 * new key before the reply was lost. Every other code is a refusal. */
static int outcome_unknown(int rc)
{
	return rc == FL_ERROR || rc == FL_ETIMEOUT || rc == FL_ENOMEM;
}

int ag_rotate_run(char new_keyid[FL_KEYID_LEN + 1], struct ag_transport *t, const char *dir,
		  struct fl_err *err)
{
	struct fl_buf msg = FL_BUF_INIT;
	struct ag_identity id;
	struct ag_key old, nk;
	uint8_t sig[FL_ED25519_SIG_LEN];
	char proof[128];
	const char *got = NULL;
	json_t *body = NULL, *reply = NULL;
	struct fl_err e2 = {0};
	int rc;

	new_keyid[0] = '\0';
	memset(&old, 0, sizeof(old));
	memset(&nk, 0, sizeof(nk));
	if ((rc = ag_state_load_identity(&id, dir, err)) < 0 ||
	    (rc = ag_key_load(&old, dir, AG_KEY_FILE, err)) < 0)
		goto cleanup;
	if (ag_state_exists(dir, AG_KEY_NEW_FILE)) {
		rc = fl_err_set(err, FL_ECONFLICT,
				"an earlier key rotation is unresolved (%s exists); a check-in "
				"('run --once') settles it",
				AG_KEY_NEW_FILE);
		goto cleanup;
	}
	ag_key_generate(&nk);
	/* On disk before the server hears of it: if we crash after the server
	 * switched keys, the only key it accepts must still exist. */
	if ((rc = ag_key_save(&nk, dir, AG_KEY_NEW_FILE, err)) < 0)
		goto cleanup;

	if (ag_rotate_proof_message(&msg, id.device_id, old.keyid, nk.pk_b64) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	fl_ed25519_sign(sig, msg.ptr, msg.len, nk.sk);
	fl_b64_encode(proof, sig, sizeof(sig));
	if (!(body = json_pack("{s:s,s:s}", "new_pubkey", nk.pk_b64, "proof", proof))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	ag_transport_set_signer(t, old.keyid, old.sk);
	rc = ag_transport_json(t, &reply, "POST", "/api/v1/device/rotate-key", body, NULL, err);
	if (rc < 0) {
		if (outcome_unknown(rc)) {
			fl_err_prefix(err, "key rotation outcome unknown (the next check-in "
					   "settles it)");
		} else {
			fl_err_prefix(err, "key rotation refused");
			if (ag_key_discard_new(dir, &e2) < 0)
				fl_log(FL_LOG_ERROR, "%s", e2.msg);
		}
		goto cleanup;
	}
	if (fl_json_str(&got, reply, "keyid", 0, NULL) == 0 && got && strcmp(got, nk.keyid) != 0) {
		/* Keep device.key.new: a check-in will tell which key works. */
		rc = fl_err_set(err, FL_ERROR, "server answered key id %.40s, expected %s", got,
				nk.keyid);
		goto cleanup;
	}
	if ((rc = ag_key_promote(dir, err)) < 0)
		goto cleanup;
	ag_transport_set_signer(t, nk.keyid, nk.sk);
	memcpy(id.keyid, nk.keyid, sizeof(id.keyid));
	/* If this write is lost, ag_poll_new repairs the keyid from device.key. */
	if ((rc = ag_state_save_identity(&id, dir, err)) < 0)
		goto cleanup;
	memcpy(new_keyid, nk.keyid, FL_KEYID_LEN + 1);
	fl_log_fields(FL_LOG_INFO,
		      json_pack("{s:s,s:s,s:s}", "device_id", id.device_id, "old_keyid", old.keyid,
				"keyid", nk.keyid),
		      "key rotated");
cleanup:
	ag_key_wipe(&old);
	ag_key_wipe(&nk);
	fl_buf_release(&msg);
	json_decref(body);
	json_decref(reply);
	return rc;
}

/*
 * h_device.c - what a signed device calls: check-in and key rotation.
 *
 * The check-in is the hot path: it reads only memory unless the device's
 * desired twin changed or commands wait for it, and it writes nothing to
 * SQLite; the write-behind batches last-seen, inventory, reported twin and
 * command results (core/writebehind.h). A check-in carrying command results
 * is answered only once they are committed: the agent forgets a result it
 * sees acknowledged.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fairlead/json.h"
#include "fairlead/map.h"
#include "fairlead/relref.h"
#include "fairlead/util.h"

#define MAX_REPORTED (64 * 1024)
#define MAX_RESULTS  16
#define DONE_TTL     600
#define MAX_REASON   512

/* Records the command results; the caller waits for the write-behind
 * before answering. */
static int take_results(struct cp_req *req, json_t *results, struct fl_err *err)
{
	size_t i;
	json_t *r;

	if (!json_is_array(results) || json_array_size(results) > MAX_RESULTS)
		return fl_err_set(err, FL_EINVAL, "command_results must be an array of at most %d",
				  MAX_RESULTS);
	/* Validate all before recording any: a bad entry rejects the check-in whole. */
	json_array_foreach (results, i, r) {
		static const char *const allowed[] = {"id", "status", "result", NULL};
		const char *id = NULL, *status = NULL;
		json_t *res = NULL;
		int rc;

		if (!json_is_object(r))
			return fl_err_set(err, FL_EINVAL, "command result must be an object");
		if ((rc = fl_json_only(r, allowed, err)) < 0 ||
		    (rc = fl_json_str(&id, r, "id", 1, err)) < 0 ||
		    (rc = fl_json_str(&status, r, "status", 1, err)) < 0 ||
		    (rc = fl_json_obj(&res, r, "result", 0, err)) < 0)
			return rc;
		if (!fl_id_valid(id) ||
		    (strcmp(status, "ok") != 0 && strcmp(status, "error") != 0 &&
		     strcmp(status, "refused") != 0))
			return fl_err_set(err, FL_EINVAL, "bad command result id or status");
	}
	json_array_foreach (results, i, r) {
		const char *id = json_string_value(json_object_get(r, "id"));
		char *res = NULL, key[140];
		json_t *rv = json_object_get(r, "result");
		int rc;

		snprintf(key, sizeof(key), "%s %s", req->who.id, id);
		/* A result the agent resends (its ack got lost, or its write failed
		 * and it is still queued) is recorded once; the wait covers it. */
		if (cp_expset_claim(req->app->done_cmds, key, req->now + DONE_TTL, req->now) < 0)
			continue;
		if (rv && !(res = fl_json_dumps(rv)))
			rc = FL_ENOMEM;
		else
			rc = cp_wb_command(req->app->wb, req->who.id, id,
					   json_string_value(json_object_get(r, "status")), res,
					   req->now);
		free(res);
		if (rc < 0) {
			/* Not recorded: forget the claim so that the agent's resend is. */
			(void)cp_expset_take(req->app->done_cmds, key, req->now);
			return fl_err_set(err, FL_EUNAVAIL, "command result not recorded; retry");
		}
		cp_registry_add_commands(req->app->reg, req->who.id, -1);
	}
	return 0;
}

/* Validates the agent's update status; *out is its compact JSON for the
 * write-behind. */
static int take_update(char **out, const json_t *u, struct fl_err *err)
{
	static const char *const allowed[] = {"release", "state", "progress", "reason", NULL};
	static const char *const states[] = {"assigned",   "downloading",  "verifying",
					     "installing", "health_check", "committed",
					     "failed",	   "rolled_back"};
	const char *release = NULL, *state = NULL, *reason = NULL;
	struct fl_relref ref;
	json_t *progress;
	int known = 0, rc;

	*out = NULL;
	if (!json_is_object(u))
		return fl_err_set(err, FL_EINVAL, "update must be an object");
	if ((rc = fl_json_only(u, allowed, err)) < 0 ||
	    (rc = fl_json_str(&release, u, "release", 1, err)) < 0 ||
	    (rc = fl_json_str(&state, u, "state", 1, err)) < 0 ||
	    (rc = fl_json_str(&reason, u, "reason", 0, err)) < 0)
		return rc;
	if (fl_relref_parse(&ref, release, NULL) < 0)
		return fl_err_set(err, FL_EINVAL, "update.release must be NAME@VERSION");
	for (size_t i = 0; i < FL_ARRAY_SIZE(states); i++)
		known |= strcmp(state, states[i]) == 0;
	if (!known)
		return fl_err_set(err, FL_EINVAL, "unknown update.state '%.32s'", state);
	progress = json_object_get(u, "progress");
	if (progress && !json_is_null(progress) &&
	    (!json_is_number(progress) || json_number_value(progress) < 0 ||
	     json_number_value(progress) > 1))
		return fl_err_set(err, FL_EINVAL, "update.progress must be a number 0..1");
	if (reason && strlen(reason) > MAX_REASON)
		return fl_err_set(err, FL_EINVAL, "update.reason over %d bytes", MAX_REASON);
	if (!(*out = fl_json_dumps(u)))
		return FL_ENOMEM;
	return 0;
}

/* Commands still open for the device, minus those whose results are waiting
 * in the write-behind batch. */
static int open_commands(json_t **out, struct cp_req *req, struct fl_err *err)
{
	json_t *rows = NULL, *keep = json_array(), *row;
	size_t i;
	int rc;

	*out = keep;
	if ((rc = cp_store_commands_list(&rows, req->app->store, req->who.id, 1, req->now, err)) <
	    0)
		return rc;
	/* The registry counted commands that expired since: none left to
	 * deliver, so later check-ins skip the query. */
	if (json_array_size(rows) == 0)
		cp_registry_set_commands(req->app->reg, req->who.id, 0);
	json_array_foreach (rows, i, row) {
		const char *id = json_string_value(json_object_get(row, "id"));
		char key[140];

		snprintf(key, sizeof(key), "%s %s", req->who.id, id);
		if (cp_expset_has(req->app->done_cmds, key, req->now))
			continue;
		json_array_append(keep, row);
		/* Not waited for: the command is delivered again until its result
		 * is stored. Out of memory is a 503 all the same, never silent. */
		if ((rc = cp_wb_command(req->app->wb, req->who.id, id, "delivered", NULL,
					req->now)) < 0) {
			json_decref(rows);
			return fl_err_set(err, rc, "command '%s' not recorded; retry", id);
		}
	}
	json_decref(rows);
	return 0;
}

int cp_checkin_may_block(const struct cp_req *req)
{
	static const char key[] = "\"command_results\"";
	const size_t n = sizeof(key) - 1;

	/* Results wait for their commit before the reply. A mention of the key
	 * anywhere in the body is enough to send the check-in to a worker: a
	 * false alarm costs a hand-off, never correctness. */
	for (size_t i = 0; req->body && i + n <= req->body_len; i++)
		if (req->body[i] == '"' && memcmp(req->body + i, key, n) == 0)
			return 1;
	return 0;
}

int cp_h_checkin(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const char *const allowed[] = {"inventory",	 "reported", "command_results",
					      "desired_version", "update",   NULL};
	json_t *body = NULL, *inv = NULL, *rep = NULL, *results, *reply = NULL, *cmds = NULL;
	json_t *update;
	char *inv_s = NULL, *rep_s = NULL, *upd_s = NULL;
	int64_t have_version = -1;
	int inv_changed, rep_changed, rc;
	struct cp_dev d;
	int jitter;

	if (req->body_len == 0) {
		body = json_object();
	} else if ((rc = cp_body_object(&body, req, allowed, err)) < 0) {
		return rc;
	}
	if ((rc = fl_json_obj(&inv, body, "inventory", 0, err)) < 0 ||
	    (rc = fl_json_obj(&rep, body, "reported", 0, err)) < 0 ||
	    (rc = fl_json_int(&have_version, body, "desired_version", 0, err)) < 0)
		goto cleanup;
	if (inv && (rc = cp_check_inventory(inv, err)) < 0)
		goto cleanup;
	/* A serialisation escapes a byte in six at most: a body that small holds
	 * no reported twin over the limit, and the twin is serialised only if it
	 * changed. A larger body is measured now, before anything is recorded. */
	if (rep && req->body_len > MAX_REPORTED / 6 &&
	    (!(rep_s = fl_json_dumps(rep)) || strlen(rep_s) > MAX_REPORTED)) {
		rc = rep_s ? fl_err_set(err, FL_ETOOBIG, "reported twin over 64 KiB") : FL_ENOMEM;
		goto cleanup;
	}
	update = json_object_get(body, "update");
	if (update && (rc = take_update(&upd_s, update, err)) < 0)
		goto cleanup;
	results = json_object_get(body, "command_results");
	if (results && (rc = take_results(req, results, err)) < 0)
		goto cleanup;

	/* Most check-ins repeat the inventory and the twin: hashing the parsed
	 * values tells, and only a change is serialised for the write-behind. */
	cp_registry_touch(req->app->reg, req->who.id, req->now, inv ? fl_json_hash(inv) : 0,
			  rep ? fl_json_hash(rep) : 0, &inv_changed, &rep_changed);
	if ((inv_changed && !(inv_s = fl_json_dumps(inv))) ||
	    (rep_changed && !rep_s && !(rep_s = fl_json_dumps(rep))))
		rc = FL_ENOMEM;
	else
		rc = cp_wb_checkin(req->app->wb, req->who.id, req->now, inv_changed ? inv_s : NULL,
				   rep_changed ? rep_s : NULL, upd_s);
	if (rc < 0) {
		/* Not queued: the agent's retry, with the same inventory and twin,
		 * must still count as a change. */
		if (inv_changed || rep_changed)
			cp_registry_forget_hashes(req->app->reg, req->who.id);
		goto cleanup;
	}
	/* Results are acknowledged only once stored (and a resent one only once
	 * its first copy is); last seen and the twin may stay written behind. */
	if (results && json_array_size(results) > 0 &&
	    (rc = cp_wb_wait(req->app->wb, cp_wb_ticket(req->app->wb), fl_mono_ms() + CP_GC_WAIT_MS,
			     err)) < 0)
		goto cleanup;
	atomic_fetch_add(&req->app->counters.checkins, 1);
	/* An update status may decide a rollout: wake its controller. */
	if (upd_s)
		cp_rollout_poke(req->app->rollouts, req->who.id);

	if ((rc = cp_registry_by_id(&d, req->app->reg, req->who.id)) < 0) {
		rc = fl_err_set(err, FL_EUNAUTH, "device vanished");
		goto cleanup;
	}
	/* Spread the fleet's next polls by ±10% so that they do not synchronise. */
	jitter = req->app->cfg.poll_interval / 10;
	reply = json_pack(
	    "{s:s,s:s,s:i,s:I}", "device_id", d.id, "state", d.state, "poll_interval",
	    req->app->cfg.poll_interval +
		(jitter ? (int)(fl_hash_str(req->id) % (uint64_t)(2 * jitter + 1)) - jitter : 0),
	    "desired_version", (json_int_t)d.desired_version);
	if (have_version != d.desired_version) {
		json_t *desired = NULL;
		int64_t v = 0;

		if ((rc = cp_store_device_desired(&desired, &v, req->app->store, d.id, err)) < 0)
			goto cleanup;
		json_object_set_new(reply, "desired", desired);
		json_object_set_new(reply, "desired_version", json_integer(v));
	}
	if (d.open_commands > 0 && (rc = open_commands(&cmds, req, err)) < 0)
		goto cleanup;
	json_object_set_new(reply, "commands", cmds ? cmds : json_array());
	cmds = NULL;
	if ((rc = cp_checkin_update(reply, req, &d, update, inv, err)) < 0)
		goto cleanup;
	rc = cp_reply(resp, 200, reply);
	reply = NULL;
cleanup:
	json_decref(cmds);
	json_decref(reply);
	free(inv_s);
	free(rep_s);
	free(upd_s);
	json_decref(body);
	return rc;
}

int cp_h_rotate_key(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const char *const allowed[] = {"new_pubkey", "proof", NULL};
	json_t *body = NULL;
	const char *pub = NULL, *proof = NULL;
	uint8_t pk[FL_ED25519_PK_LEN], sig[FL_ED25519_SIG_LEN];
	char keyid[FL_KEYID_LEN + 1];
	struct fl_buf msg = FL_BUF_INIT;
	struct cp_audit_rec a;
	struct cp_dev d;
	size_t n;
	int rc;

	if ((rc = cp_body_object(&body, req, allowed, err)) < 0)
		return rc;
	if ((rc = fl_json_str(&pub, body, "new_pubkey", 1, err)) < 0 ||
	    (rc = fl_json_str(&proof, body, "proof", 1, err)) < 0)
		goto cleanup;
	if (fl_b64_decode(pk, sizeof(pk), &n, pub, strlen(pub)) < 0 || n != sizeof(pk) ||
	    fl_b64_decode(sig, sizeof(sig), &n, proof, strlen(proof)) < 0 || n != sizeof(sig)) {
		rc = fl_err_set(err, FL_EINVAL, "new_pubkey and proof must be base64 Ed25519");
		goto cleanup;
	}
	if ((rc = fl_buf_addf(&msg, "fairlead-rotate-v1\n%s\n%s\n%s", req->who.id, req->who.keyid,
			      pub)) < 0)
		goto cleanup;
	/* The old key signed the request; the new key must sign this, or a thief
	 * of the old key could move the device to a key nobody holds. */
	if (fl_ed25519_verify(sig, msg.ptr, msg.len, pk) < 0) {
		rc = fl_err_set(err, FL_EUNAUTH, "proof by the new key does not verify");
		goto cleanup;
	}
	fl_keyid(keyid, pk);
	cp_audit_rec_init(&a, req, "device.rotate_key", req->who.id, NULL);
	a.details = json_pack("{s:s,s:s}", "old_keyid", req->who.keyid, "new_keyid", keyid);
	rc = cp_store_device_rotate_key(req->app->store, req->who.id, req->who.keyid, keyid, pub,
					req->now, &a, err);
	json_decref(a.details);
	if (rc < 0)
		goto cleanup;
	if ((rc = cp_registry_by_id(&d, req->app->reg, req->who.id)) == 0) {
		memcpy(d.keyid, keyid, sizeof(d.keyid));
		memcpy(d.pk, pk, sizeof(d.pk));
		rc = cp_registry_put(req->app->reg, &d);
	}
	if (rc == 0)
		rc = cp_reply(resp, 200, json_pack("{s:s}", "keyid", keyid));
cleanup:
	fl_buf_release(&msg);
	json_decref(body);
	return rc;
}

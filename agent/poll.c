#include "agent/poll.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/commands.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/log.h"
#include "agent/inventory.h"
#include "agent/key.h"
#include "agent/state.h"
#include "agent/update.h"

#define CHECKIN_TARGET	  "/api/v1/device/checkin"
#define MAX_INTERVAL_S	  86400
#define MAX_RETRY_AFTER_S 86400

struct ag_poll {
	struct ag_transport *t;
	struct ag_clock clock;
	struct ag_poll_opts opts;
	struct ag_identity id;
	struct ag_key key;
	struct ag_key new_key;
	int have_new;
	int64_t interval_s;
	int64_t backoff_ms; /* last backoff base; 0 while healthy */
	int64_t max_backoff_ms;
	int followed_up; /* the previous delay was an immediate follow-up */
	json_t *desired;
	int64_t desired_version;
	json_t *results; /* {"pending":[...]} as in results.json */
	struct ag_update *upd;
	char hw_model[256]; /* as last reported, for the hardware check */
};

int64_t ag_poll_interval_s(const struct ag_poll *p)
{
	return p->interval_s;
}

const char *ag_poll_keyid(const struct ag_poll *p)
{
	return p->key.keyid;
}

const char *ag_poll_device_state(const struct ag_poll *p)
{
	return p->id.state;
}

void ag_poll_free(struct ag_poll *p)
{
	if (!p)
		return;
	ag_key_wipe(&p->key);
	ag_key_wipe(&p->new_key);
	json_decref(p->desired);
	json_decref(p->results);
	ag_update_free(p->upd);
	free(p);
}

static int progress_report(void *ctx, const json_t *update, struct fl_err *err);
static int recover_running(struct ag_poll *p, struct fl_err *err);

int ag_poll_new(struct ag_poll **out, struct ag_transport *t, const struct ag_clock *clock,
		const struct ag_poll_opts *opts, struct fl_err *err)
{
	struct ag_poll *p;
	int rc;

	*out = NULL;
	if (!(p = calloc(1, sizeof(*p))))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	p->t = t;
	p->clock = *clock;
	p->opts = *opts;
	p->interval_s = AG_POLL_DEFAULT_INTERVAL;
	p->max_backoff_ms =
	    opts->max_backoff_ms > 0 ? opts->max_backoff_ms : AG_POLL_DEFAULT_MAX_BACKOFF;
	/* A kill mid-write leaves a temp file beside the intact old one; over a
	 * device's life they would pile up. Nobody else writes this directory. */
	if ((rc = fl_fs_sweep_tmp(opts->dir, NULL, err)) < 0 ||
	    (rc = ag_state_load_identity(&p->id, opts->dir, err)) < 0 ||
	    (rc = ag_key_load(&p->key, opts->dir, AG_KEY_FILE, err)) < 0 ||
	    (rc = ag_state_load_desired(&p->desired, &p->desired_version, opts->dir, err)) < 0 ||
	    (rc = ag_state_load_results(&p->results, opts->dir, err)) < 0)
		goto cleanup;
	rc = ag_key_load(&p->new_key, opts->dir, AG_KEY_NEW_FILE, err);
	if (rc == 0) {
		p->have_new = 1;
		fl_log(FL_LOG_INFO,
		       "found %s from an unfinished key rotation; the next "
		       "check-in decides which key is current",
		       AG_KEY_NEW_FILE);
	} else if (rc == FL_ENOTFOUND || rc == FL_EINVAL) {
		/* A torn new key cannot exist (atomic write), but if it is
		 * unreadable it was never sent: the old key is current. */
		if (rc == FL_EINVAL && (rc = ag_key_discard_new(opts->dir, err)) < 0)
			goto cleanup;
		fl_err_clear(err);
		rc = 0;
	} else {
		goto cleanup;
	}
	if ((rc = recover_running(p, err)) < 0)
		goto cleanup;
	/* A crash between promoting device.key and rewriting identity.json
	 * leaves a stale keyid there; the key file is the truth. */
	if (strcmp(p->id.keyid, p->key.keyid) != 0) {
		fl_log(FL_LOG_WARN, "identity.json names key %s but device.key is %s; fixing",
		       p->id.keyid, p->key.keyid);
		memcpy(p->id.keyid, p->key.keyid, sizeof(p->id.keyid));
		if ((rc = ag_state_save_identity(&p->id, opts->dir, err)) < 0)
			goto cleanup;
	}
	{
		struct ag_update_opts uo = {0};

		uo.dir = opts->dir;
		uo.device_id = p->id.device_id;
		uo.max_attempts = opts->download_attempts;
		uo.low_speed_bps = opts->low_speed_bps;
		uo.low_speed_s = opts->low_speed_s;
		uo.health_timeout_s = opts->health_timeout_s;
		uo.report = progress_report;
		uo.report_ctx = p;
		if ((rc = ag_update_open(&p->upd, t, clock, &uo, err)) < 0)
			goto cleanup;
	}
	ag_transport_set_signer(t, p->key.keyid, p->key.sk);
	*out = p;
	p = NULL;
cleanup:
	ag_poll_free(p);
	return rc;
}

/* The check-in body: inventory, reported twin, unacknowledged results. */
static int build_body(json_t **out, struct ag_poll *p, struct fl_err *err)
{
	struct ag_inventory_opts io = {p->opts.hw_model, p->opts.firmware_version,
				       p->opts.inventory_root};
	json_t *inv = NULL, *body = NULL, *pending = json_object_get(p->results, "pending");
	int rc;

	*out = NULL;
	if ((rc = ag_inventory_collect(&inv, &io, err)) < 0)
		return rc;
	{
		const char *hw = json_string_value(json_object_get(inv, "hw_model"));

		snprintf(p->hw_model, sizeof(p->hw_model), "%s", hw ? hw : "");
	}
	if ((rc = ag_update_inventory(p->upd, inv, err)) < 0) {
		json_decref(inv);
		return rc;
	}
	/* desired_version tells the server what we already have, so that it
	 * answers an unchanged twin from memory instead of reading it again. */
	body = json_pack("{s:o,s:{s:O,s:I},s:I}", "inventory", inv, "reported", "config",
			 p->desired, "applied_version", (json_int_t)p->desired_version,
			 "desired_version", (json_int_t)p->desired_version);
	inv = NULL; /* "o" stole it, even on failure */
	if (!body)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	if (json_array_size(pending) > 0 &&
	    json_object_set_new(body, "command_results", json_deep_copy(pending)) < 0) {
		json_decref(body);
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	{
		json_t *report = ag_update_report(p->upd);

		if (report && json_object_set_new(body, "update", report) < 0) {
			json_decref(body);
			return fl_err_set(err, FL_ENOMEM, "out of memory");
		}
	}
	*out = body;
	return 0;
}

static int send_checkin(json_t **reply, int64_t *retry_after, struct ag_poll *p, const json_t *body,
			const struct ag_key *k, struct fl_err *err)
{
	ag_transport_set_signer(p->t, k->keyid, k->sk);
	return ag_transport_json(p->t, reply, "POST", CHECKIN_TARGET, body, retry_after, err);
}

/* A live download report (ag_update_opts.report): a check-in that carries
 * only the update and the desired_version the loop would send, so the
 * server learns the progress and changes nothing else. The reply's update
 * and commands wait for the next real check-in; only a 403 matters. */
static int progress_report(void *ctx, const json_t *update, struct fl_err *err)
{
	struct ag_poll *p = ctx;
	json_t *body, *reply = NULL;
	int64_t retry_after = -1;
	int rc;

	/* An unsettled key rotation is decided by the real check-in, with
	 * everything it takes to promote or discard a key. */
	if (p->have_new)
		return 0;
	body = json_pack("{s:O,s:I}", "update", (json_t *)(uintptr_t)update, "desired_version",
			 (json_int_t)p->desired_version);
	if (!body)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	rc = send_checkin(&reply, &retry_after, p, body, &p->key, err);
	json_decref(body);
	json_decref(reply);
	return rc;
}

/* device.key.new won: it becomes device.key and the identity's keyid. */
static int promote_new(struct ag_poll *p, struct fl_err *err)
{
	int rc;

	if ((rc = ag_key_promote(p->opts.dir, err)) < 0)
		return rc;
	p->key = p->new_key;
	ag_key_wipe(&p->new_key);
	p->have_new = 0;
	memcpy(p->id.keyid, p->key.keyid, sizeof(p->id.keyid));
	fl_log(FL_LOG_INFO, "rotated key %s is current", p->key.keyid);
	return ag_state_save_identity(&p->id, p->opts.dir, err);
}

/* Sends the check-in, settling an unfinished rotation on the way. */
static int exchange(json_t **reply, int64_t *retry_after, struct ag_poll *p, const json_t *body,
		    struct fl_err *err)
{
	struct fl_err e2 = {0};
	int rc, rc2;

	if (!p->have_new)
		return send_checkin(reply, retry_after, p, body, &p->key, err);
	rc = send_checkin(reply, retry_after, p, body, &p->new_key, err);
	if (rc == 0 || rc == FL_EFORBIDDEN) {
		if ((rc2 = promote_new(p, &e2)) < 0)
			fl_log(FL_LOG_ERROR, "cannot promote the rotated key: %s", e2.msg);
		return rc;
	}
	if (rc != FL_EUNAUTH) {
		ag_transport_set_signer(p->t, p->key.keyid, p->key.sk);
		return rc;
	}
	fl_log(FL_LOG_INFO, "server does not know the rotated key (%s); trying the old one",
	       err ? err->msg : "");
	json_decref(*reply);
	*reply = NULL;
	rc = send_checkin(reply, retry_after, p, body, &p->key, err);
	if (rc == 0 || rc == FL_EFORBIDDEN) {
		/* Only now is it certain the rotation never happened. */
		if ((rc2 = ag_key_discard_new(p->opts.dir, &e2)) < 0)
			fl_log(FL_LOG_ERROR, "cannot remove %s: %s", AG_KEY_NEW_FILE, e2.msg);
		else
			fl_log(FL_LOG_INFO, "unfinished key rotation discarded; key %s is current",
			       p->key.keyid);
		ag_key_wipe(&p->new_key);
		p->have_new = 0;
	} else if (rc == FL_EUNAUTH) {
		fl_log(FL_LOG_ERROR,
		       "server refuses both the old and the rotated key; keeping both");
	}
	return rc;
}

/* Drops the first n pending results: those this check-in delivered. */
static void ack_results(struct ag_poll *p, size_t n)
{
	json_t *pending = json_object_get(p->results, "pending");

	while (n-- > 0 && json_array_size(pending) > 0)
		json_array_remove(pending, 0);
}

static int pending_has(const struct ag_poll *p, const char *id)
{
	json_t *pending = json_object_get(p->results, "pending"), *r;
	size_t i;

	json_array_foreach (pending, i, r) {
		const char *rid = ag_commands_id(r);

		if (rid && strcmp(rid, id) == 0)
			return 1;
	}
	return 0;
}

/* Ids of the last AG_POLL_RAN_MAX hook commands run, oldest first. */
static json_t *ran_list(struct ag_poll *p)
{
	json_t *ran = json_object_get(p->results, "ran");

	if (json_is_array(ran))
		return ran;
	if (!(ran = json_array()) || json_object_set_new(p->results, "ran", ran) < 0)
		return NULL;
	return ran;
}

static int ran_has(struct ag_poll *p, const char *id)
{
	json_t *ran = json_object_get(p->results, "ran"), *r;
	size_t i;

	json_array_foreach (ran, i, r)
		if (json_is_string(r) && strcmp(json_string_value(r), id) == 0)
			return 1;
	return 0;
}

static int ran_add(struct ag_poll *p, const char *id)
{
	json_t *ran = ran_list(p);

	if (!ran || json_array_append_new(ran, json_string(id)) < 0)
		return FL_ENOMEM;
	while (json_array_size(ran) > AG_POLL_RAN_MAX)
		json_array_remove(ran, 0);
	return 0;
}

/* Records on disk that the hook of cmd is about to run, before it does: a
 * crash while it runs then ends the command with an error at the next
 * start (recover_running) instead of running it again. */
static int mark_running(struct ag_poll *p, const char *id, const json_t *cmd, struct fl_err *err)
{
	json_t *run = json_pack("{s:s,s:O?}", "id", id, "type", json_object_get(cmd, "type"));
	int rc;

	if (!run || ran_add(p, id) < 0 || json_object_set_new(p->results, "running", run) < 0)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	if ((rc = ag_state_save_results(p->opts.dir, p->results, err)) < 0) {
		/* Not on disk, so not run: the server delivers it again. */
		json_object_del(p->results, "running");
		json_array_remove(ran_list(p), json_array_size(ran_list(p)) - 1);
	}
	return rc;
}

/* A reboot is answered before its hook runs (the hook ends the agent); the
 * "reboot" member keeps what the hook needs until the server has the answer
 * (run_due_reboot). One marker serves reboots that arrive while one waits. */
static int mark_reboot(struct ag_poll *p, const char *id, const json_t *cmd, struct fl_err *err)
{
	json_t *rb;

	if (ran_add(p, id) < 0)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	if (json_object_get(p->results, "reboot"))
		return 0;
	rb = json_pack("{s:s,s:O?}", "id", id, "args", json_object_get(cmd, "args"));
	if (!rb || json_object_set_new(p->results, "reboot", rb) < 0)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	return 0;
}

/* At start: a hook was running when the agent stopped (a crash, a kill, a
 * power cut). Whether it finished is unknown, so it is not run again; its
 * result says so, which ends the command on the server. */
static int recover_running(struct ag_poll *p, struct fl_err *err)
{
	json_t *run = json_object_get(p->results, "running"), *r;
	const char *id = ag_commands_id(run);

	if (!run)
		return 0;
	if (id && !pending_has(p, id)) {
		fl_log(FL_LOG_WARN,
		       "command %s: the agent stopped while its hook ran; not running "
		       "it again",
		       id);
		r = json_pack("{s:s,s:s,s:{s:s}}", "id", id, "status", "error", "result", "message",
			      "the agent stopped while the hook ran; it is not run again");
		if (!r || json_array_append_new(json_object_get(p->results, "pending"), r) < 0)
			return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	json_object_del(p->results, "running");
	return ag_state_save_results(p->opts.dir, p->results, err);
}

/* After a 2xx check-in: a reboot whose answer the server now has. The
 * marker leaves the disk before the hook runs, so a hook that reboots the
 * device (or kills the agent half-way) is never run again by the next
 * start. A failed hook cannot change the answer the server already has; it
 * is logged. */
static void run_due_reboot(struct ag_poll *p)
{
	json_t *rb = json_object_get(p->results, "reboot");
	const char *id = ag_commands_id(rb);
	struct fl_err e = {0};
	char cid[129];

	if (!rb || (id && pending_has(p, id)) || p->opts.defer_commands)
		return;
	snprintf(cid, sizeof(cid), "%s", id ? id : "");
	rb = json_incref(rb);
	json_object_del(p->results, "reboot");
	if (ag_state_save_results(p->opts.dir, p->results, &e) < 0) {
		/* Run it only once it cannot run again: after the next check-in. */
		fl_log(FL_LOG_ERROR, "command %s: reboot postponed: %s", cid, e.msg);
		json_object_set_new(p->results, "reboot", rb);
		return;
	}
	if (id) {
		fl_log(FL_LOG_INFO, "command %s: running the reboot hook", cid);
		if (ag_commands_reboot(p->opts.commands, cid, json_object_get(rb, "args"), &e) < 0)
			fl_log(FL_LOG_ERROR,
			       "command %s: %s; the device did not reboot, though its answer "
			       "said it would",
			       cid, e.msg);
	}
	json_decref(rb);
}

/* Applies a 2xx reply. *news is set when there is something new to report. */
static int apply_reply(int *news, struct ag_poll *p, const json_t *reply, size_t sent,
		       struct fl_err *err)
{
	json_t *desired = json_object_get(reply, "desired");
	json_t *ver = json_object_get(reply, "desired_version");
	json_t *state = json_object_get(reply, "state");
	json_t *interval = json_object_get(reply, "poll_interval");
	json_t *cmds = json_object_get(reply, "commands"), *cmd;
	int64_t now = p->clock.now(p->clock.ctx);
	int dirty = 0, hooks_run = 0, rc = 0;
	size_t i;

	*news = 0;
	if (json_is_integer(interval) && json_integer_value(interval) >= 1)
		p->interval_s = json_integer_value(interval) > MAX_INTERVAL_S
				    ? MAX_INTERVAL_S
				    : json_integer_value(interval);
	if (json_is_string(state) && json_string_length(state) < sizeof(p->id.state) &&
	    strcmp(json_string_value(state), p->id.state) != 0) {
		fl_log(FL_LOG_INFO, "device state is now %s (was %s)", json_string_value(state),
		       p->id.state);
		snprintf(p->id.state, sizeof(p->id.state), "%s", json_string_value(state));
		if ((rc = ag_state_save_identity(&p->id, p->opts.dir, err)) < 0)
			return rc;
	}

	/* Applying desired config means persisting it: from then on the reported
	 * twin says what was applied, so the server can compute the delta. */
	if (json_is_object(desired)) {
		int64_t v = json_is_integer(ver) ? json_integer_value(ver) : p->desired_version;

		if (v != p->desired_version || !json_equal(desired, p->desired)) {
			if ((rc = ag_state_save_desired(p->opts.dir, desired, v, err)) < 0)
				return rc;
			json_decref(p->desired);
			p->desired = json_incref(desired);
			p->desired_version = v;
			*news = 1;
			fl_log(FL_LOG_INFO, "applied desired config version %lld", (long long)v);
		}
	}

	if (sent > 0) {
		ack_results(p, sent);
		dirty = 1;
	}
	if (p->opts.defer_commands)
		cmds = NULL;
	json_array_foreach (cmds, i, cmd) {
		const char *id = ag_commands_id(cmd);
		enum ag_command_kind kind = ag_commands_kind(cmd, p->opts.commands);
		json_t *res = NULL;
		struct fl_err ce = {0};

		if (!id) {
			fl_log(FL_LOG_WARN, "ignoring a command without a valid id");
			continue;
		}
		if (pending_has(p, id))
			continue; /* ran already; its result goes out with the next check-in */
		if (kind != AG_CMD_BUILTIN && ran_has(p, id)) {
			/* Its result was acknowledged, yet the server lists it
			 * again: saying so ends it there, running a hook twice
			 * could do its side effect twice. */
			fl_log(FL_LOG_WARN, "command %s ran before; not running it again", id);
			res = json_pack("{s:s,s:s,s:{s:s}}", "id", id, "status", "error", "result",
					"message",
					"the command already ran on this device and its result was "
					"delivered; it is not run twice");
			if (!res)
				return fl_err_set(err, FL_ENOMEM, "out of memory");
		} else if (kind != AG_CMD_BUILTIN && hooks_run > 0) {
			/* One hook per check-in keeps the loop's wait to one
			 * timeout; the server delivers the rest again with the
			 * next reply, since they have no result yet. */
			*news = 1;
			continue;
		} else if (kind == AG_CMD_HOOK) {
			hooks_run++;
			if (mark_running(p, id, cmd, &ce) < 0) {
				fl_log(FL_LOG_ERROR, "command %s not run: %s", id, ce.msg);
				continue;
			}
			rc = ag_commands_execute(&res, cmd, p->opts.commands, now, &ce);
			json_object_del(p->results, "running");
			if (rc < 0)
				return fl_err_set(err, rc, "command %s: %s", id, ce.msg);
		} else {
			if (ag_commands_execute(&res, cmd, p->opts.commands, now, &ce) < 0) {
				fl_log(FL_LOG_WARN, "command %s: %s", id, ce.msg);
				continue;
			}
			if (kind == AG_CMD_REBOOT) {
				hooks_run++;
				if ((rc = mark_reboot(p, id, cmd, err)) < 0) {
					json_decref(res);
					return rc;
				}
			}
		}
		fl_log_fields(
		    FL_LOG_INFO,
		    json_pack("{s:s,s:O}", "command", id, "status", json_object_get(res, "status")),
		    "ran command");
		json_array_append_new(json_object_get(p->results, "pending"), res);
		dirty = 1;
		*news = 1;
		/* A hook's result reaches the disk at once: an update offered in
		 * this reply may download for minutes before the save below. */
		if (kind == AG_CMD_HOOK) {
			if ((rc = ag_state_save_results(p->opts.dir, p->results, &ce)) < 0)
				fl_log(FL_LOG_ERROR, "cannot record the result of %s: %s", id,
				       ce.msg);
			rc = 0;
		}
	}
	if (json_is_object(json_object_get(reply, "update"))) {
		json_t *before = ag_update_report(p->upd), *after;
		struct fl_err ue = {0};

		/* Refusals and failures are reported by the next check-in, not
		 * returned: the check-in itself succeeded. */
		if (ag_update_offer(p->upd, json_object_get(reply, "update"), p->hw_model, &ue) ==
		    0)
			(void)ag_update_step(p->upd, &ue);
		after = ag_update_report(p->upd);
		if (!json_equal(before, after) && !(before == NULL && after == NULL))
			*news = 1;
		json_decref(before);
		json_decref(after);
	}
	/* Results hit the disk before anything is sent, so a crash never loses
	 * one; acknowledged ones leave it only after the server has them. */
	if (dirty && (rc = ag_state_save_results(p->opts.dir, p->results, err)) < 0)
		return rc;
	return 0;
}

static int64_t interval_delay(struct ag_poll *p)
{
	return ag_clock_jitter(&p->clock, p->interval_s * 1000, AG_POLL_JITTER_PCT);
}

static int64_t backoff_delay(struct ag_poll *p)
{
	int64_t d;

	p->backoff_ms = p->backoff_ms > 0 ? p->backoff_ms * 2 : 1000;
	if (p->backoff_ms > p->max_backoff_ms)
		p->backoff_ms = p->max_backoff_ms;
	d = ag_clock_jitter(&p->clock, p->backoff_ms, AG_POLL_JITTER_PCT);
	return d > p->max_backoff_ms ? p->max_backoff_ms : d;
}

int ag_poll_once(int64_t *delay_ms, struct ag_poll *p, struct fl_err *err)
{
	json_t *body = NULL, *reply = NULL;
	int64_t retry_after = -1;
	struct fl_err local = {0};
	size_t sent;
	int news = 0, rc;

	if (!err)
		err = &local;
	*delay_ms = 0;
	/* An update interrupted by a restart, or in its health window, moves on
	 * before the check-in so that the report is current. */
	{
		struct fl_err ue = {0};

		(void)ag_update_step(p->upd, &ue);
	}
	if ((rc = build_body(&body, p, err)) < 0)
		goto done;
	sent = json_array_size(json_object_get(body, "command_results"));
	if ((rc = exchange(&reply, &retry_after, p, body, err)) < 0)
		goto done;
	if ((rc = apply_reply(&news, p, reply, sent, err)) == 0)
		run_due_reboot(p);
done:
	if (rc == 0) {
		p->backoff_ms = 0;
		if (p->opts.reports) {
			struct fl_err re = {0};

			(void)ag_reports_send(p->opts.reports, p->t, p->clock.now(p->clock.ctx),
					      AG_POLL_REPORT_BATCHES, &re);
		}
		/* One immediate follow-up reports new results and the applied twin
		 * without waiting a whole interval; never two in a row. */
		if (news && !p->followed_up) {
			*delay_ms = 0;
			p->followed_up = 1;
		} else {
			*delay_ms = interval_delay(p);
			p->followed_up = 0;
		}
		fl_log_fields(FL_LOG_DEBUG,
			      json_pack("{s:s,s:I}", "device_id", p->id.device_id, "next_ms",
					(json_int_t)*delay_ms),
			      "checked in");
		goto cleanup;
	}
	p->followed_up = 0;
	if (rc == FL_EFORBIDDEN || rc == FL_EUNAUTH) {
		/* The server is reachable and has spoken: no backoff, an operator
		 * may accept or re-admit this device at any time. */
		p->backoff_ms = 0;
		*delay_ms = interval_delay(p);
	} else if (rc == FL_EAGAIN && retry_after >= 0) {
		*delay_ms =
		    (retry_after > MAX_RETRY_AFTER_S ? MAX_RETRY_AFTER_S : retry_after) * 1000;
	} else {
		*delay_ms = backoff_delay(p);
	}
	fl_log_fields(rc == FL_EFORBIDDEN ? FL_LOG_WARN : FL_LOG_ERROR,
		      json_pack("{s:s,s:s,s:I}", "device_id", p->id.device_id, "error",
				fl_err_name(rc), "next_ms", (json_int_t)*delay_ms),
		      "check-in failed: %s", err->msg);
cleanup : {
	int64_t w = ag_update_wait_ms(p->upd);

	if (w >= 0 && w < *delay_ms)
		*delay_ms = w;
}
	json_decref(body);
	json_decref(reply);
	return rc;
}

int ag_poll_run(struct ag_poll *p, struct fl_err *err)
{
	fl_log_fields(FL_LOG_INFO,
		      json_pack("{s:s,s:s}", "device_id", p->id.device_id, "keyid", p->key.keyid),
		      "agent started");
	for (;;) {
		struct fl_err e = {0};
		int64_t delay = 0;

		/* Failures are logged by ag_poll_once and retried; only a stop
		 * request ends the loop. */
		(void)ag_poll_once(&delay, p, &e);
		if (p->clock.sleep_ms(p->clock.ctx, delay))
			break;
	}
	fl_log(FL_LOG_INFO, "stopping on signal");
	(void)err;
	return 0;
}

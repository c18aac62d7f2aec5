/*
 * exec.c - the executor: each round takes every active run one step
 * further, never blocking on a device.
 *
 * A step's action on one device (or, for a step that acts on none, its one
 * action) is a row of run_actions. The row is written as an intent, with
 * the idempotency key of (run, step, device, attempt), before the action is
 * taken; what the action made (a command id, a release) and how it ended
 * follow. After a crash an intent is taken again under the same key: a
 * device command with a key is stored once whatever the number of asks,
 * and every other action sets a state, which taking twice does not change.
 * So a resumed run never makes a device act twice.
 *
 * Actions on devices end when the device reports: a command's status, a
 * rollback's update reaching the previous release. At most
 * blast_radius.concurrency of them are unfinished at once. A failed action
 * is retried after backoff_s * 2^(attempt-1) while retries last.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assign.h"
#include "core/commands.h"
#include "core/devices.h"
#include "core/rollout.h"
#include "fairlead/crypto.h"
#include "fairlead/log.h"
#include "fairlead/relref.h"
#include "fairlead/util.h"
#include "playbook/engine_int.h"
#include "playbook/expr.h"
#include "playbook/webhook.h"
#include "store/store.h"

#define MAX_BACKOFF_S 3600
#define MAX_MOVES     8 /* steps a run may finish in one round */

static const char *const device_actions[] = {"release.rollback",
					     "device.quarantine",
					     "device.revoke",
					     "device.accept",
					     "device.label",
					     "device.command",
					     NULL};

int pb_action_on_devices(const char *action)
{
	for (const char *const *a = device_actions; *a; a++)
		if (strcmp(*a, action) == 0)
			return 1;
	return 0;
}

/* What taking or polling an action came to. */
enum act_end { ACT_OK, ACT_WAIT, ACT_FAIL };

struct act {
	struct cp_pb_engine *e;
	const json_t *run, *step, *params;
	const char *run_id, *playbook, *path, *device;
	int64_t now;
	char actor[96];
	/* out */
	char ref[192];
	json_t *result; /* owned */
	char error[512];
	int permanent; /* a failure no retry can mend */
};

static enum act_end failed(struct act *x, int permanent, const char *fmt, ...) FL_PRINTF(3, 4);
static enum act_end failed(struct act *x, int permanent, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->error, sizeof(x->error), fmt, ap);
	va_end(ap);
	x->permanent = permanent;
	return ACT_FAIL;
}

static const char *pstr(const json_t *params, const char *key)
{
	return json_string_value(json_object_get(params, key));
}

static void audit_init(struct cp_audit_rec *a, struct act *x, const char *action,
		       const char *target)
{
	a->actor = x->actor;
	a->action = action;
	a->target = target;
	a->details = NULL;
}

/* ---- the actions ---- */

static enum act_end do_command(struct act *x, const char *key)
{
	const json_t *p = x->params;
	struct cp_command_req r = {0};
	struct cp_audit_rec a;
	struct fl_err err = {0, ""};
	json_t *cmd = NULL;
	int created = 0, rc;
	int64_t ttl = json_integer_value(json_object_get(p, "deliver_by_s"));

	r.device_id = x->device;
	r.type = pstr(p, "type");
	r.args = json_object_get(p, "params");
	r.deliver_by = x->now + (ttl > 0 ? ttl : CP_CMD_TTL_DEFAULT);
	r.key = key;
	r.now = x->now;
	audit_init(&a, x, "device.command", x->device);
	rc = cp_command_issue(&cmd, &created, x->e->d.store, x->e->d.reg, &r, &a, &err);
	if (rc < 0)
		return failed(x, rc == FL_EINVAL || rc == FL_ENOTFOUND, "%s", err.msg);
	snprintf(x->ref, sizeof(x->ref), "%s", json_string_value(json_object_get(cmd, "id")));
	json_decref(cmd);
	return ACT_WAIT;
}

static enum act_end poll_command(struct act *x, const char *ref)
{
	struct fl_err err = {0, ""};
	json_t *cmd = NULL;
	const char *st;
	enum act_end end = ACT_WAIT;

	if (cp_store_command_get(&cmd, x->e->d.store, x->device, ref, x->now, &err) < 0)
		return failed(x, 1, "%s", err.msg);
	st = json_string_value(json_object_get(cmd, "status"));
	if (st && strcmp(st, "ok") == 0) {
		x->result = json_incref(json_object_get(cmd, "result"));
		end = ACT_OK;
	} else if (st && (strcmp(st, "error") == 0 || strcmp(st, "refused") == 0 ||
			  strcmp(st, "expired") == 0)) {
		const json_t *res = json_object_get(cmd, "result");
		const char *why = json_string_value(json_object_get(res, "error"));

		x->result = json_incref((json_t *)(uintptr_t)res);
		end = failed(x, strcmp(st, "refused") == 0, "command %s %s%s%s", ref, st,
			     why ? ": " : "", why ? why : "");
	}
	json_decref(cmd);
	return end;
}

static enum act_end do_rollback(struct act *x)
{
	struct fl_err err = {0, ""};
	struct fl_relref ref;
	struct cp_audit_rec a;
	json_t *dev = NULL, *rel = NULL;
	char *prev = NULL;
	enum act_end end;
	int rc;

	if (!x->e->d.director)
		return failed(x, 1, "the server has no release signing key");
	if ((rc = cp_store_device_prev_release(&prev, x->e->d.store, x->device, &err)) < 0)
		return failed(x, rc == FL_ENOTFOUND, "%s", err.msg);
	if ((rc = fl_relref_parse(&ref, prev, &err)) < 0 ||
	    (rc = cp_store_release_get(&rel, x->e->d.store, ref.name, ref.version, &err)) < 0 ||
	    (rc = cp_store_device_get(&dev, x->e->d.store, x->device, &err)) < 0 ||
	    (rc = cp_assign_check(dev, rel, &err)) < 0) {
		end = failed(x, 1, "cannot roll '%s' back to %s: %s", x->device, prev, err.msg);
		goto cleanup;
	}
	audit_init(&a, x, "device.assign", x->device);
	if ((rc = cp_device_assign(NULL, x->e->d.store, x->e->d.reg, x->e->d.director, dev, &ref,
				   rel, 1, x->now, &a, &err)) < 0) {
		end = failed(x, 0, "%s", err.msg);
		goto cleanup;
	}
	snprintf(x->ref, sizeof(x->ref), "%s", prev);
	end = ACT_WAIT;
cleanup:
	free(prev);
	json_decref(dev);
	json_decref(rel);
	return end;
}

static enum act_end poll_rollback(struct act *x, const char *ref)
{
	struct fl_err err = {0, ""};
	json_t *st = NULL;
	const char *rel, *state;
	enum act_end end = ACT_WAIT;
	int rc;

	rc = cp_store_device_update_get(&st, x->e->d.store, x->device, &err);
	if (rc == FL_ENOTFOUND)
		return ACT_WAIT;
	if (rc < 0)
		return failed(x, 0, "%s", err.msg);
	rel = json_string_value(json_object_get(st, "release"));
	state = json_string_value(json_object_get(st, "state"));
	if (rel && state && strcmp(rel, ref) == 0) {
		if (strcmp(state, "committed") == 0) {
			x->result = json_pack("{s:s,s:s}", "release", rel, "state", state);
			end = ACT_OK;
		} else if (strcmp(state, "failed") == 0 || strcmp(state, "rolled_back") == 0) {
			end = failed(x, 0, "the rollback to %s %s", ref, state);
		}
	}
	json_decref(st);
	return end;
}

static enum act_end do_state(struct act *x, const char *action)
{
	static const struct {
		const char *action, *state;
	} map[] = {{"device.quarantine", "quarantined"},
		   {"device.revoke", "revoked"},
		   {"device.accept", "accepted"}};
	struct fl_err err = {0, ""};
	struct cp_audit_rec a;
	const char *state = NULL;
	int rc;

	for (size_t i = 0; i < FL_ARRAY_SIZE(map); i++)
		if (strcmp(map[i].action, action) == 0)
			state = map[i].state;
	audit_init(&a, x, action, x->device);
	rc = cp_device_set_state(x->e->d.store, x->e->d.reg, x->device, state,
				 pstr(x->params, "reason"), x->now, &a, &err);
	if (rc < 0)
		return failed(x, rc == FL_ECONFLICT || rc == FL_ENOTFOUND, "%s", err.msg);
	x->result = json_pack("{s:s}", "state", state);
	return ACT_OK;
}

static enum act_end do_label(struct act *x)
{
	const json_t *set = json_object_get(x->params, "set"), *rm, *v;
	json_t *changes = json_deep_copy(set ? set : json_object());
	struct fl_err err = {0, ""};
	struct cp_audit_rec a;
	size_t i;
	int rc;

	if (!changes)
		return failed(x, 0, "out of memory");
	rm = json_object_get(x->params, "remove");
	json_array_foreach ((json_t *)(uintptr_t)rm, i, v)
		if (json_is_string(v))
			json_object_set_new(changes, json_string_value(v), json_null());
	audit_init(&a, x, "device.label", x->device);
	rc = cp_device_relabel(NULL, x->e->d.store, x->device, changes, &a, &err);
	json_decref(changes);
	if (rc < 0)
		return failed(x, rc == FL_EINVAL || rc == FL_ENOTFOUND, "%s", err.msg);
	return ACT_OK;
}

static enum act_end do_rollout(struct act *x, const char *what)
{
	const char *id = pstr(x->params, "rollout");
	struct fl_err err = {0, ""};
	json_t *ro = NULL;
	const char *state;
	int rc;

	if (!x->e->d.rollouts)
		return failed(x, 1, "the server has no rollout controller");
	rc = cp_rollout_control(&ro, x->e->d.rollouts, id, what, x->actor, &err);
	if (rc == FL_ECONFLICT) {
		/* already where the action takes it (a retry, a resumed run, or
		 * the controller got there first) is success */
		static const struct {
			const char *what, *state;
		} done[] = {{"pause", "paused"}, {"resume", "running"}, {"abort", "aborted"}};

		json_decref(ro);
		ro = NULL;
		if (cp_store_rollout_get(&ro, x->e->d.store, id, NULL) == 0) {
			state = json_string_value(json_object_get(ro, "state"));
			for (size_t i = 0; i < FL_ARRAY_SIZE(done); i++)
				if (strcmp(done[i].what, what) == 0 && state &&
				    strcmp(done[i].state, state) == 0)
					rc = 0;
		}
	}
	if (rc < 0) {
		json_decref(ro);
		return failed(x, rc == FL_ENOTFOUND || rc == FL_ECONFLICT, "%s", err.msg);
	}
	x->result =
	    json_pack("{s:s,s:O}", "rollout", id, "state",
		      json_object_get(ro, "state") ? json_object_get(ro, "state") : json_null());
	json_decref(ro);
	return ACT_OK;
}

static enum act_end do_alert(struct act *x, int raise)
{
	const char *name = pstr(x->params, "name"), *sev = pstr(x->params, "severity");
	struct fl_err err = {0, ""};
	json_t *rows = NULL, *row;
	int64_t id;
	size_t i;
	int rc = 0;

	if (raise) {
		json_t *expl =
		    json_pack("{s:s,s:s,s:s,s:s?}", "source", "playbook", "playbook", x->playbook,
			      "run", x->run_id, "summary", pstr(x->params, "summary"));

		rc = cp_store_alert_open(&id, x->e->d.store, name, sev ? sev : "page", "playbook",
					 x->now, expl, &err);
		json_decref(expl);
		if (rc == FL_EEXISTS)
			rc = 0; /* firing already: raised once */
		if (rc < 0)
			return failed(x, 0, "%s", err.msg);
		return ACT_OK;
	}
	if ((rc = cp_store_alerts_list(&rows, x->e->d.store, "firing", 1000, &err)) < 0)
		return failed(x, 0, "%s", err.msg);
	json_array_foreach (rows, i, row) {
		const char *slo = json_string_value(json_object_get(row, "slo"));
		const char *pair = json_string_value(json_object_get(row, "pair"));

		if (slo && pair && strcmp(slo, name) == 0 && strcmp(pair, "playbook") == 0 &&
		    (rc = cp_store_alert_resolve(
			 x->e->d.store, json_integer_value(json_object_get(row, "id")), x->now,
			 json_object_get(row, "explanation"), &err)) < 0)
			break;
	}
	json_decref(rows);
	return rc < 0 ? failed(x, 0, "%s", err.msg) : ACT_OK;
}

static void action_key(char out[48], const char *run, const char *path, const char *dev,
		       int64_t attempt);

static enum act_end do_webhook(struct act *x)
{
	struct cp_pb_webhook w = {0};
	char delivery[48];
	struct fl_err err = {0, ""};
	char *secret = NULL;
	size_t slen = 0;
	int status = 0, rc;
	int64_t timeout = json_integer_value(json_object_get(x->step, "timeout_s"));

	if ((rc = cp_pb_webhook_secret(&secret, &slen, pstr(x->params, "secret_env"), &err)) < 0)
		return failed(x, 1, "%s", err.msg);
	w.url = pstr(x->params, "url");
	w.body = json_object_get(x->params, "body");
	w.secret = secret;
	w.secret_len = slen;
	/* one delivery id for every attempt: a receiver drops a repeat */
	action_key(delivery, x->run_id, x->path, x->device, 0);
	w.delivery = delivery;
	w.timeout_s = timeout > 0 && timeout < 60 ? (int)timeout : 30;
	w.ca_file = x->e->d.webhook_ca;
	w.now = x->now;
	rc = cp_pb_webhook_post(&status, &w, &err);
	/* the key stays in memory no longer than the call */
	for (size_t i = 0; i < slen; i++)
		((volatile char *)secret)[i] = 0;
	free(secret);
	if (rc < 0)
		return failed(x, rc != FL_EAGAIN, "webhook %s: %s", w.url, err.msg);
	x->result = json_pack("{s:i}", "status", status);
	return ACT_OK;
}

/* Takes the action (again, after a crash: under the same key). */
static enum act_end act_take(struct act *x, const char *key)
{
	const char *action = json_string_value(json_object_get(x->step, "action"));

	if (strcmp(action, "device.command") == 0)
		return do_command(x, key);
	if (strcmp(action, "release.rollback") == 0)
		return do_rollback(x);
	if (strcmp(action, "device.label") == 0)
		return do_label(x);
	if (strncmp(action, "device.", 7) == 0)
		return do_state(x, action);
	if (strncmp(action, "rollout.", 8) == 0)
		return do_rollout(x, action + 8);
	if (strcmp(action, "alert.raise") == 0 || strcmp(action, "alert.resolve") == 0)
		return do_alert(x, strcmp(action, "alert.raise") == 0);
	if (strcmp(action, "webhook") == 0)
		return do_webhook(x);
	if (strcmp(action, "wait") == 0) {
		snprintf(x->ref, sizeof(x->ref), "wait");
		return ACT_WAIT;
	}
	return failed(x, 1, "unknown action '%s'", action);
}

static enum act_end act_poll(struct act *x, const json_t *row)
{
	const char *action = json_string_value(json_object_get(x->step, "action"));
	const char *ref = json_string_value(json_object_get(row, "ref"));
	int64_t started = json_integer_value(json_object_get(row, "started_at"));

	if (strcmp(action, "wait") == 0)
		return x->now - started >= json_integer_value(json_object_get(x->params, "for_s"))
			   ? ACT_OK
			   : ACT_WAIT;
	if (!ref)
		return failed(x, 1, "nothing to wait for");
	if (strcmp(action, "device.command") == 0)
		return poll_command(x, ref);
	if (strcmp(action, "release.rollback") == 0)
		return poll_rollback(x, ref);
	return ACT_OK;
}

/* ---- a step ---- */

/* The key of one attempt: short, of the characters command keys allow,
 * and the same for the same run, step, device and attempt. */
static void action_key(char out[48], const char *run, const char *path, const char *dev,
		       int64_t attempt)
{
	uint8_t h[FL_SHA256_LEN];
	char text[512];

	snprintf(text, sizeof(text), "%s\n%s\n%s\n%lld", run, path, dev, (long long)attempt);
	fl_sha256(h, text, strlen(text));
	memcpy(out, "pb-", 3);
	fl_hex_encode(out + 3, h, 20);
}

static int row_put(struct act *x, int64_t attempt, const char *state, const char *key,
		   int64_t started, int64_t next_at, struct fl_err *err)
{
	struct cp_run_action r = {0};
	int ended = strcmp(state, "ok") == 0 || strcmp(state, "error") == 0;
	json_t *res = x->result;
	int rc;

	/* a failure's result says why, with what the device answered */
	if (strcmp(state, "error") == 0)
		res = json_pack("{s:s,s:O?}", "error", x->error, "outcome", x->result);
	else
		json_incref(res);
	r.run_id = x->run_id;
	r.step = x->path;
	r.device_id = x->device;
	r.attempt = attempt;
	r.state = state;
	r.key = key;
	r.ref = x->ref[0] ? x->ref : NULL;
	r.result = res;
	r.started_at = started;
	r.next_at = next_at;
	r.ended_at = ended ? x->now : 0;
	rc = cp_store_run_action_put(x->e->d.store, &r, NULL, err);
	json_decref(res);
	return rc;
}

/* Records how taking or polling ended; a failure with retries left waits
 * for its backoff. */
static int settle(struct act *x, enum act_end end, int64_t attempt, const char *key,
		  int64_t started, struct fl_err *err)
{
	int64_t retries = json_integer_value(json_object_get(x->step, "retries"));
	int64_t backoff = json_integer_value(json_object_get(x->step, "backoff_s"));
	int64_t next = 0;
	int rc;

	if (end == ACT_WAIT)
		rc = row_put(x, attempt, "waiting", key, started, 0, err);
	else if (end == ACT_OK)
		rc = row_put(x, attempt, "ok", key, started, 0, err);
	else {
		if (!x->permanent && attempt <= retries) {
			next = backoff > 0 ? backoff : 1;
			for (int64_t i = 1; i < attempt && next < MAX_BACKOFF_S; i++)
				next *= 2;
			next = x->now + (next < MAX_BACKOFF_S ? next : MAX_BACKOFF_S);
		}
		rc = row_put(x, attempt, "error", key, started, next, err);
		fl_log(FL_LOG_WARN, "run %s step %s%s%s: %s%s", x->run_id, x->path,
		       x->device[0] ? " on " : "", x->device, x->error,
		       next ? " (will retry)" : "");
	}
	json_decref(x->result);
	x->result = NULL;
	x->ref[0] = '\0';
	x->error[0] = '\0';
	if (rc >= 0)
		pb_count(x->e, &x->e->stats.actions, end == ACT_WAIT ? 0 : 1);
	return rc;
}

/* Writes the intent of attempt, then takes it. */
static int start(struct act *x, int64_t attempt, struct fl_err *err)
{
	char key[48];
	int rc;

	action_key(key, x->run_id, x->path, x->device, attempt);
	x->ref[0] = '\0';
	if ((rc = row_put(x, attempt, "intent", key, x->now, 0, err)) < 0)
		return rc;
	return settle(x, act_take(x, key), attempt, key, x->now, err);
}

enum step_end { STEP_WAIT, STEP_OK, STEP_FAIL };

struct tally {
	int64_t total, ok, error, pending;
	int64_t settled; /* actions that ended or were taken in this pass */
	char first_error[256];
};

/* One pass over a step's actions: takes new ones up to the concurrency,
 * retries, polls, and counts. */
static int step_actions(struct tally *t, struct act *x, const json_t *devices, int64_t conc,
			struct fl_err *err)
{
	int64_t timeout = json_integer_value(json_object_get(x->step, "timeout_s"));
	int64_t retries = json_integer_value(json_object_get(x->step, "retries"));
	json_t *rows = NULL, *byd = json_object(), *row, *d;
	int64_t inflight = 0;
	size_t i;
	int rc;

	memset(t, 0, sizeof(*t));
	if (!byd)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	if ((rc = cp_store_run_actions(&rows, x->e->d.store, x->run_id, x->path, err)) < 0)
		goto cleanup;
	json_array_foreach (rows, i, row) {
		const char *st = json_string_value(json_object_get(row, "state"));

		json_object_set(byd, json_string_value(json_object_get(row, "device_id")), row);
		if (strcmp(st, "intent") == 0 || strcmp(st, "waiting") == 0)
			inflight++;
	}
	json_array_foreach ((json_t *)(uintptr_t)devices, i, d) {
		const char *st;
		int64_t attempt, started;

		x->device = json_string_value(d);
		t->total++;
		row = json_object_get(byd, x->device);
		if (!row) {
			if (inflight >= conc) {
				t->pending++;
				continue;
			}
			inflight++;
			if ((rc = start(x, 1, err)) < 0)
				goto cleanup;
			/* counted on the next pass, when its row is there */
			t->pending++;
			t->settled++;
			continue;
		}
		st = json_string_value(json_object_get(row, "state"));
		attempt = json_integer_value(json_object_get(row, "attempt"));
		started = json_integer_value(json_object_get(row, "started_at"));
		if (strcmp(st, "ok") == 0) {
			t->ok++;
		} else if (strcmp(st, "intent") == 0) {
			/* taken before a crash, or cut short: again, same key */
			const char *key = json_string_value(json_object_get(row, "key"));

			if ((rc = settle(x, act_take(x, key), attempt, key, started, err)) < 0)
				goto cleanup;
			t->pending++;
			t->settled++;
		} else if (strcmp(st, "waiting") == 0) {
			enum act_end end = act_poll(x, row);

			/* a wait has no outcome to miss: it ends when its time is up,
			 * however long past the step's timeout that is */
			if (end == ACT_WAIT && timeout > 0 && x->now - started >= timeout &&
			    strcmp(json_string_value(json_object_get(x->step, "action")), "wait") !=
				0)
				end = failed(x, 0, "no outcome within %llds", (long long)timeout);
			if (end != ACT_WAIT) {
				snprintf(x->ref, sizeof(x->ref), "%s",
					 json_string_value(json_object_get(row, "ref"))
					     ? json_string_value(json_object_get(row, "ref"))
					     : "");
				if ((rc = settle(x, end, attempt,
						 json_string_value(json_object_get(row, "key")),
						 started, err)) < 0)
					goto cleanup;
				t->settled++;
			}
			t->pending++;
		} else { /* error */
			int64_t next = json_integer_value(json_object_get(row, "next_at"));

			if (next > 0 && attempt <= retries) {
				if (next <= x->now && inflight < conc) {
					inflight++;
					if ((rc = start(x, attempt + 1, err)) < 0)
						goto cleanup;
					t->settled++;
				}
				t->pending++;
			} else {
				t->error++;
				if (!t->first_error[0])
					snprintf(t->first_error, sizeof(t->first_error), "%s%s%s",
						 x->device[0] ? x->device : "",
						 x->device[0] ? ": " : "",
						 json_string_value(json_object_get(
						     json_object_get(row, "result"), "error"))
						     ? json_string_value(json_object_get(
							   json_object_get(row, "result"), "error"))
						     : "failed");
			}
		}
	}
	rc = 0;
cleanup:
	json_decref(rows);
	json_decref(byd);
	return rc;
}

static enum step_end step_advance(struct act *x, json_t *cur, const json_t *plan, char *why,
				  size_t whylen, int *moved, struct fl_err *err, int *rcp)
{
	const char *action = json_string_value(json_object_get(x->step, "action"));
	const json_t *verify = json_object_get(x->step, "verify");
	int on_dev = pb_action_on_devices(action);
	json_t *one = NULL;
	const json_t *devices;
	int64_t conc = 1;
	struct tally t;
	int rc;

	*rcp = 0;
	if (on_dev) {
		devices = json_object_get(plan, "devices");
		conc = json_integer_value(
		    json_object_get(json_object_get(plan, "limits"), "concurrency"));
		if (conc <= 0)
			conc = 1;
	} else {
		devices = one = json_pack("[s]", "");
	}
	/* Again while a pass moved something: actions that end as they are
	 * taken (a state, a label) free their slot at once, so a step of
	 * those finishes in one round, not one round per concurrency slot. */
	for (int pass = 0; pass < 64; pass++)
		if ((rc = step_actions(&t, x, devices, conc, err)) < 0 || t.settled == 0)
			break;
	json_decref(one);
	if (rc < 0) {
		*rcp = rc;
		return STEP_WAIT;
	}
	if (t.pending > 0)
		return STEP_WAIT;
	if (verify) {
		int64_t vstart = json_integer_value(json_object_get(cur, "verify_started"));
		int64_t vnext = json_integer_value(json_object_get(cur, "verify_next"));
		int64_t timeout = json_integer_value(json_object_get(verify, "timeout_s"));
		int64_t every = json_integer_value(json_object_get(verify, "interval_s"));
		struct cp_pb_expr *ex = NULL;
		json_t *ctx;
		int truth = 0;

		if (!vstart) {
			vstart = x->now;
			json_object_set_new(cur, "verify_started", json_integer(vstart));
			*moved = 1;
		}
		if (x->now < vnext)
			return STEP_WAIT;
		ctx = json_pack(
		    "{s:{s:I,s:I,s:I,s:f,s:f},s:O,s:O,s:I}", "results", "total",
		    (json_int_t)t.total, "ok", (json_int_t)t.ok, "error", (json_int_t)t.error,
		    "ok_ratio", t.total ? (double)t.ok / (double)t.total : 1.0, "error_ratio",
		    t.total ? (double)t.error / (double)t.total : 0.0, "slo", pb_slo_root(x->e),
		    "event",
		    json_array_get(json_object_get(json_object_get(x->run, "trigger"), "events"), 0)
			? json_array_get(
			      json_object_get(json_object_get(x->run, "trigger"), "events"), 0)
			: json_null(),
		    "now", (json_int_t)x->now);
		rc = ctx ? cp_pb_expr_compile(
			       &ex, json_string_value(json_object_get(verify, "condition")), err)
			 : FL_ENOMEM;
		if (rc >= 0)
			rc = cp_pb_expr_eval(&truth, ex, ctx, err);
		cp_pb_expr_free(ex);
		json_decref(ctx);
		if (rc < 0) {
			snprintf(why, whylen, "verify: %s", err->msg);
			return STEP_FAIL;
		}
		if (truth)
			return STEP_OK;
		if (x->now - vstart >= timeout) {
			snprintf(why, whylen,
				 "verify '%s' did not hold within %llds (%lld of %lld ok)",
				 json_string_value(json_object_get(verify, "condition")),
				 (long long)timeout, (long long)t.ok, (long long)t.total);
			return STEP_FAIL;
		}
		json_object_set_new(cur, "verify_next", json_integer(x->now + every));
		*moved = 1;
		return STEP_WAIT;
	}
	if (t.error > 0) {
		snprintf(why, whylen, "%lld of %lld failed (%s)", (long long)t.error,
			 (long long)t.total, t.first_error);
		return STEP_FAIL;
	}
	return STEP_OK;
}

/* ---- a run ---- */

static int run_end(struct cp_pb_engine *e, const json_t *run, const char *state, const char *error,
		   json_t *cur, int64_t now, struct fl_err *err)
{
	struct cp_run_update u = {0};
	char actor[96];
	struct cp_audit_rec a = {actor, "run.end", NULL, NULL};
	int rc;

	snprintf(actor, sizeof(actor), "playbook:%s",
		 json_string_value(json_object_get(run, "playbook")));
	u.id = a.target = json_string_value(json_object_get(run, "id"));
	u.from_state = json_string_value(json_object_get(run, "state"));
	u.state = state;
	u.error = error;
	u.cursor = cur;
	u.ended = strcmp(state, "running") != 0 && strcmp(state, "awaiting_approval") != 0;
	u.now = now;
	u.approval_expires_at = -1;
	a.details = json_pack("{s:s,s:s?}", "state", state, "error", error);
	rc = cp_store_run_update(e->d.store, &u, u.ended ? &a : NULL, err);
	json_decref(a.details);
	if (u.ended)
		fl_log(strcmp(state, "succeeded") == 0 ? FL_LOG_INFO : FL_LOG_WARN,
		       "run %s of %s %s%s%s", u.id, actor + 9, state, error ? ": " : "",
		       error ? error : "");
	return rc;
}

static int exec_run(struct cp_pb_engine *e, const json_t *run, int64_t now, struct fl_err *err)
{
	const char *state = json_string_value(json_object_get(run, "state"));
	const json_t *def = json_object_get(run, "definition"),
		     *plan = json_object_get(run, "plan");
	const json_t *hob = json_object_get(json_object_get(def, "blast_radius"), "halt_on_burn");
	const json_t *steps = json_object_get(plan, "steps");
	json_t *cur = json_deep_copy(json_object_get(run, "cursor"));
	struct act x = {0};
	int moved = 0, rc = 0;

	if (!cur)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	if (strcmp(state, "awaiting_approval") == 0) {
		int64_t exp = json_integer_value(json_object_get(run, "approval_expires_at"));

		if (exp > 0 && now >= exp)
			rc = run_end(e, run, "expired", "no approval in time", NULL, now, err);
		goto cleanup;
	}
	if (hob) {
		const char *slo = json_string_value(json_object_get(hob, "slo"));
		double f = json_number_value(json_object_get(hob, "factor"));
		double burn = pb_slo_burn(e, slo);
		char why[256];

		if (!isnan(burn) && burn > f) {
			snprintf(why, sizeof(why), "SLO %s burns at %.2f, past %.2f", slo, burn, f);
			rc = run_end(e, run, "halted", why, NULL, now, err);
			goto cleanup;
		}
	}
	x.e = e;
	x.run = run;
	x.run_id = json_string_value(json_object_get(run, "id"));
	x.playbook = json_string_value(json_object_get(run, "playbook"));
	x.now = now;
	snprintf(x.actor, sizeof(x.actor), "playbook:%s", x.playbook);
	for (int n = 0; n < MAX_MOVES; n++) {
		int fail = json_is_true(json_object_get(cur, "on_failure"));
		int64_t i = json_integer_value(json_object_get(cur, "step"));
		int64_t failed_i = json_integer_value(json_object_get(cur, "failed"));
		const json_t *list =
		    fail ? json_object_get(json_array_get(steps, (size_t)failed_i), "on_failure")
			 : steps;
		char path[40], why[768] = "";
		enum step_end end;

		if (i >= (int64_t)json_array_size(list)) {
			rc = fail ? run_end(e, run, "failed",
					    json_string_value(json_object_get(cur, "error")), cur,
					    now, err)
				  : run_end(e, run, "succeeded", NULL, cur, now, err);
			goto cleanup;
		}
		x.step = json_array_get(list, (size_t)i);
		x.params = json_object_get(x.step, "params");
		if (fail)
			snprintf(path, sizeof(path), "%lld.on_failure.%lld", (long long)failed_i,
				 (long long)i);
		else
			snprintf(path, sizeof(path), "%lld", (long long)i);
		x.path = path;
		end = step_advance(&x, cur, plan, why, sizeof(why), &moved, err, &rc);
		if (rc < 0)
			goto cleanup;
		if (end == STEP_WAIT)
			break;
		moved = 1;
		json_object_del(cur, "verify_started");
		json_object_del(cur, "verify_next");
		if (end == STEP_OK) {
			json_object_set_new(cur, "step", json_integer(i + 1));
			continue;
		}
		{
			char msg[1024];

			snprintf(msg, sizeof(msg), "step %s failed: %s",
				 json_string_value(json_object_get(x.step, "name")), why);
			if (!fail && json_array_size(json_object_get(x.step, "on_failure")) > 0) {
				json_object_set_new(cur, "on_failure", json_true());
				json_object_set_new(cur, "failed", json_integer(i));
				json_object_set_new(cur, "step", json_integer(0));
				json_object_set_new(cur, "error", json_string(msg));
				continue;
			}
			if (fail) {
				char both[1536];

				snprintf(both, sizeof(both), "%s; then on_failure %s",
					 json_string_value(json_object_get(cur, "error")), msg);
				rc = run_end(e, run, "failed", both, cur, now, err);
			} else {
				rc = run_end(e, run, "failed", msg, cur, now, err);
			}
			goto cleanup;
		}
	}
	if (moved)
		rc = run_end(e, run, "running", NULL, cur, now, err);
cleanup:
	json_decref(x.result);
	json_decref(cur);
	return rc;
}

int pb_exec_round(struct cp_pb_engine *e, struct fl_err *err)
{
	json_t *runs = NULL, *run;
	int64_t now = pb_now(e);
	size_t i;
	int rc;

	/* the oldest first: a storm of runs is worked off in order, a bounded
	 * number a round, and never starves the runs before it */
	if ((rc = cp_store_runs_active(&runs, e->d.store, CP_PB_MAX_ACTIVE, err)) < 0)
		return rc;
	json_array_foreach (runs, i, run) {
		struct fl_err e2 = {0, ""};

		/* one run's trouble (a store conflict with an API call) is
		 * that run's: the others go on */
		if (exec_run(e, run, now, &e2) < 0)
			fl_log(FL_LOG_ERROR, "run %s: %s",
			       json_string_value(json_object_get(run, "id")), e2.msg);
	}
	json_decref(runs);
	return 0;
}

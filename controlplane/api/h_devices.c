/*
 * h_devices.c - the registry as operators see it: list, show, state changes,
 * labels, desired twin, preauthorization and commands.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "core/devices.h"
#include "core/commands.h"
#include "fairlead/crypto.h"
#include "fairlead/json.h"
#include "fairlead/selector.h"
#include "fairlead/util.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX     1000

/* Adds what memory knows better than the store: last seen (written behind)
 * and online, derived from the poll interval. */
void cp_device_overlay(json_t *dev, struct cp_req *req)
{
	const char *id = json_string_value(json_object_get(dev, "id"));
	int64_t mem = cp_registry_last_seen(req->app->reg, id);
	json_t *db = json_object_get(dev, "last_seen");
	int64_t seen = json_is_integer(db) ? json_integer_value(db) : 0;
	/* Three missed polls make a device offline. */
	int64_t window = 3 * (int64_t)req->app->cfg.poll_interval + 5;

	if (mem > seen)
		seen = mem;
	json_object_set_new(dev, "last_seen", seen ? json_integer(seen) : json_null());
	json_object_set_new(dev, "online", json_boolean(seen && req->now - seen <= window));
}

static int parse_limit(int *out, struct cp_req *req, struct fl_err *err)
{
	char buf[16];
	char *end;
	long v;
	int rc = cp_query_param(buf, sizeof(buf), req, "limit", err);

	*out = PAGE_DEFAULT;
	if (rc == FL_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	v = strtol(buf, &end, 10);
	if (*end || v < 1 || v > PAGE_MAX)
		return fl_err_set(err, FL_EINVAL, "limit must be 1..%d", PAGE_MAX);
	*out = (int)v;
	return 0;
}

int cp_h_devices_list(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	struct fl_selector *sel = NULL;
	char expr[2100] = "", cursor[128] = "", after[80] = "";
	json_t *out = json_array(), *page = NULL;
	int limit, rc, more = 1;

	if ((rc = cp_query_param(expr, sizeof(expr), req, "selector", err)) < 0 &&
	    rc != FL_ENOTFOUND)
		goto cleanup;
	if ((rc = cp_query_param(cursor, sizeof(cursor), req, "cursor", err)) < 0 &&
	    rc != FL_ENOTFOUND)
		goto cleanup;
	if ((rc = parse_limit(&limit, req, err)) < 0)
		goto cleanup;
	if ((rc = fl_selector_parse(&sel, expr, err)) < 0)
		goto cleanup;
	if (cursor[0]) {
		/* The cursor is the hex of the last id returned: opaque to clients,
		 * trivially checked here. */
		size_t n = strlen(cursor);

		if (n % 2 || n / 2 >= sizeof(after) ||
		    fl_hex_decode((uint8_t *)after, n / 2, cursor) < 0 ||
		    !fl_id_valid((after[n / 2] = '\0', after))) {
			rc = fl_err_set(err, FL_EINVAL, "bad cursor");
			goto cleanup;
		}
	}
	/* Walk the id index in chunks, filtering, until the page is full. A
	 * selective query scans more rows, but each request's work is bounded. */
	for (int scanned = 0; more && json_array_size(out) < (size_t)limit && scanned < 20000;) {
		size_t i;
		json_t *dev;

		if ((rc = cp_store_devices_page(&page, req->app->store, after, 500, err)) < 0)
			goto cleanup;
		more = json_array_size(page) == 500;
		json_array_foreach (page, i, dev) {
			const char *id = json_string_value(json_object_get(dev, "id"));

			snprintf(after, sizeof(after), "%s", id);
			scanned++;
			if (!fl_selector_match(sel, json_object_get(dev, "labels"),
					       json_string_value(json_object_get(dev, "state"))))
				continue;
			cp_device_overlay(dev, req);
			json_array_append(out, dev);
			if (json_array_size(out) == (size_t)limit) {
				more = more || i + 1 < json_array_size(page);
				break;
			}
		}
		json_decref(page);
		page = NULL;
	}
	{
		char next[sizeof(after) * 2 + 1];

		fl_hex_encode(next, after, strlen(after));
		rc = cp_reply(resp, 200,
			      json_pack("{s:o,s:o}", "devices", out, "next_cursor",
					more && after[0] ? json_string(next) : json_null()));
		out = NULL;
	}
cleanup:
	json_decref(page);
	json_decref(out);
	fl_selector_free(sel);
	return rc;
}

/* The top-level keys whose desired value differs from the reported config. */
static json_t *twin_delta(json_t *desired, json_t *reported)
{
	json_t *delta = json_object(), *config = json_object_get(reported, "config"), *v;
	const char *k;

	if (!json_is_object(config))
		config = reported;
	json_object_foreach (desired, k, v) {
		json_t *have = json_object_get(config, k);

		if (!have || !json_equal(have, v))
			json_object_set_new(delta, k,
					    json_pack("{s:O,s:O}", "desired", v, "reported",
						      have ? have : json_null()));
	}
	return delta;
}

int cp_h_device_show(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	const char *id;
	json_t *dev = NULL, *upd = NULL;
	int rc;

	if ((rc = cp_param_id(&id, req, 0, err)) < 0)
		return rc;
	if ((rc = cp_store_device_get(&dev, req->app->store, id, err)) < 0)
		return rc;
	cp_device_overlay(dev, req);
	json_object_set_new(
	    dev, "twin_delta",
	    twin_delta(json_object_get(dev, "desired"), json_object_get(dev, "reported")));
	if ((rc = cp_device_update_status(&upd, req, dev, err)) < 0) {
		json_decref(dev);
		return rc;
	}
	json_object_set_new(dev, "update", upd);
	return cp_reply(resp, 200, dev);
}

/* accept, reject, quarantine, revoke and decommission share one handler; the
 * route's last path segment is the action. */
int cp_h_device_state(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const struct {
		const char *action, *state;
	} actions[] = {{"accept", "accepted"},
		       {"reject", "rejected"},
		       {"quarantine", "quarantined"},
		       {"revoke", "revoked"},
		       {"decommission", "decommissioned"}};
	static const char *const allowed[] = {"reason", NULL};
	const char *action = strrchr(req->route->pattern, '/') + 1, *state = NULL, *id;
	const char *reason = NULL;
	struct cp_audit_rec a;
	json_t *body = NULL, *dev = NULL;
	char verb[40];
	int rc;

	for (size_t i = 0; i < FL_ARRAY_SIZE(actions); i++)
		if (strcmp(actions[i].action, action) == 0)
			state = actions[i].state;
	if ((rc = cp_param_id(&id, req, 0, err)) < 0)
		return rc;
	if (req->body_len > 0) {
		if ((rc = cp_body_object(&body, req, allowed, err)) < 0 ||
		    (rc = fl_json_str(&reason, body, "reason", 0, err)) < 0)
			goto cleanup;
		if (reason && strlen(reason) > 512) {
			rc = fl_err_set(err, FL_EINVAL, "reason too long");
			goto cleanup;
		}
	}
	snprintf(verb, sizeof(verb), "device.%s", action);
	cp_audit_rec_init(&a, req, verb, id, NULL);
	if ((rc = cp_device_set_state(req->app->store, req->app->reg, id, state, reason, req->now,
				      &a, err)) < 0)
		goto cleanup;
	if ((rc = cp_store_device_get(&dev, req->app->store, id, err)) == 0) {
		cp_device_overlay(dev, req);
		rc = cp_reply(resp, 200, dev);
	}
cleanup:
	json_decref(body);
	return rc;
}

int cp_h_device_labels(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const char *const allowed[] = {"labels", NULL};
	json_t *body = NULL, *changes = NULL, *dev = NULL;
	struct cp_audit_rec a;
	const char *id;
	int rc;

	if ((rc = cp_param_id(&id, req, 0, err)) < 0)
		return rc;
	if ((rc = cp_body_object(&body, req, allowed, err)) < 0 ||
	    (rc = fl_json_obj(&changes, body, "labels", 1, err)) < 0)
		goto cleanup;
	cp_audit_rec_init(&a, req, "device.label", id, NULL);
	if ((rc = cp_device_relabel(&dev, req->app->store, id, changes, &a, err)) < 0)
		goto cleanup;
	cp_device_overlay(dev, req);
	json_object_del(dev, "desired");
	json_object_del(dev, "reported");
	rc = cp_reply(resp, 200, json_incref(dev));
cleanup:
	json_decref(dev);
	json_decref(body);
	return rc;
}

int cp_h_device_desired(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *desired = NULL, *dev = NULL;
	struct cp_audit_rec a;
	int64_t version = 0;
	const char *id;
	int rc;

	if ((rc = cp_param_id(&id, req, 0, err)) < 0)
		return rc;
	/* Any object: the desired twin is the operator's free-form configuration. */
	if ((rc = cp_body_object(&desired, req, NULL, err)) < 0)
		return rc;
	if (req->body_len > 64 * 1024) {
		rc = fl_err_set(err, FL_ETOOBIG, "desired twin over 64 KiB");
		goto cleanup;
	}
	if ((rc = fl_json_doc_check(desired, "desired twin", err)) < 0)
		goto cleanup;
	cp_audit_rec_init(&a, req, "device.desire", id, desired);
	if ((rc = cp_store_device_set_desired(&version, req->app->store, id, desired, &a, err)) < 0)
		goto cleanup;
	cp_registry_set_desired_version(req->app->reg, id, version);
	if ((rc = cp_store_device_get(&dev, req->app->store, id, err)) == 0) {
		cp_device_overlay(dev, req);
		rc = cp_reply(resp, 200, dev);
	}
cleanup:
	json_decref(desired);
	return rc;
}

int cp_h_device_preauth(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const char *const allowed[] = {"id", "pubkey", "labels", NULL};
	json_t *body = NULL, *labels = NULL;
	const char *id = NULL, *pub = NULL;
	uint8_t pk[FL_ED25519_PK_LEN];
	char keyid[FL_KEYID_LEN + 1];
	struct cp_audit_rec a;
	size_t n;
	int rc;

	if ((rc = cp_body_object(&body, req, allowed, err)) < 0)
		return rc;
	if ((rc = fl_json_str(&id, body, "id", 1, err)) < 0 ||
	    (rc = fl_json_str(&pub, body, "pubkey", 1, err)) < 0 ||
	    (rc = fl_json_obj(&labels, body, "labels", 0, err)) < 0)
		goto cleanup;
	if (!fl_id_valid(id)) {
		rc = fl_err_set(err, FL_EINVAL, "bad device id");
		goto cleanup;
	}
	if (fl_b64_decode(pk, sizeof(pk), &n, pub, strlen(pub)) < 0 || n != sizeof(pk)) {
		rc = fl_err_set(err, FL_EINVAL, "pubkey must be a base64 Ed25519 public key");
		goto cleanup;
	}
	if (labels && (rc = cp_device_labels_check(labels, err)) < 0)
		goto cleanup;
	fl_keyid(keyid, pk);
	cp_audit_rec_init(&a, req, "device.preauthorize", id, NULL);
	a.details = json_pack("{s:s}", "keyid", keyid);
	rc = cp_store_preauth_add(req->app->store, id, pub, labels, req->now, &a, err);
	json_decref(a.details);
	if (rc == 0)
		rc = cp_reply(resp, 201, json_pack("{s:s,s:s}", "id", id, "keyid", keyid));
cleanup:
	json_decref(body);
	return rc;
}

int cp_h_command_create(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const char *const allowed[] = {"type", "args", "deliver_by", "idempotency_key",
					      NULL};
	struct cp_command_req r = {.now = req->now};
	json_t *body = NULL, *cmd = NULL;
	struct cp_audit_rec a;
	int created = 0, rc;

	if ((rc = cp_param_id(&r.device_id, req, 0, err)) < 0)
		return rc;
	if ((rc = cp_body_object(&body, req, allowed, err)) < 0 ||
	    (rc = fl_json_str(&r.type, body, "type", 1, err)) < 0 ||
	    (rc = fl_json_obj(&r.args, body, "args", 0, err)) < 0 ||
	    (rc = fl_json_int(&r.deliver_by, body, "deliver_by", 0, err)) < 0 ||
	    (rc = fl_json_str(&r.key, body, "idempotency_key", 0, err)) < 0)
		goto cleanup;
	if (json_object_get(body, "deliver_by") && r.deliver_by <= 0) {
		rc = fl_err_set(err, FL_EINVAL, "deliver_by must be after now");
		goto cleanup;
	}
	cp_audit_rec_init(&a, req, "device.command", r.device_id, NULL);
	if ((rc = cp_command_issue(&cmd, &created, req->app->store, req->app->reg, &r, &a, err)) <
	    0)
		goto cleanup;
	/* The same idempotency key again: the first command, 200. */
	rc = cp_reply(resp, created ? 201 : 200, cmd);
	cmd = NULL;
cleanup:
	json_decref(cmd);
	json_decref(body);
	return rc;
}

int cp_h_command_get(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *cmd = NULL;
	const char *id, *cid;
	int rc;

	if ((rc = cp_param_id(&id, req, 0, err)) < 0 || (rc = cp_param_id(&cid, req, 1, err)) < 0)
		return rc;
	if ((rc = cp_store_command_get(&cmd, req->app->store, id, cid, req->now, err)) < 0)
		return rc;
	return cp_reply(resp, 200, cmd);
}

int cp_h_commands_list(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *rows = NULL, *dev = NULL;
	const char *id;
	int rc;

	if ((rc = cp_param_id(&id, req, 0, err)) < 0)
		return rc;
	if ((rc = cp_store_device_get(&dev, req->app->store, id, err)) < 0)
		return rc;
	json_decref(dev);
	if ((rc = cp_store_commands_list(&rows, req->app->store, id, 0, req->now, err)) < 0)
		return rc;
	return cp_reply(resp, 200, json_pack("{s:o}", "commands", rows));
}

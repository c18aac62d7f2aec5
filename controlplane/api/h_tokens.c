/*
 * h_tokens.c - operator API tokens and device enrollment tokens. A secret is
 * shown once, in the create reply; only its hash is stored.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "core/devices.h"
#include "fairlead/crypto.h"
#include "fairlead/json.h"
#include "fairlead/util.h"

static int ttl_field(int64_t *out, json_t *body, int required, struct fl_err *err)
{
	json_t *v = json_object_get(body, "ttl");

	*out = 0;
	if (!v || json_is_null(v))
		return required ? fl_err_set(err, FL_EINVAL, "field 'ttl' is required") : 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) <= 0 || json_integer_value(v) > 10LL * 365 * 86400)
			return fl_err_set(err, FL_EINVAL, "ttl out of range");
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return fl_err_set(err, FL_EINVAL, "ttl must be a duration like \"24h\" or seconds");
	if (fl_duration_parse(out, json_string_value(v), err) < 0)
		return FL_EINVAL;
	if (*out > 10LL * 365 * 86400)
		return fl_err_set(err, FL_EINVAL, "ttl out of range");
	return 0;
}

int cp_h_token_create(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const char *const allowed[] = {"role", "name", "ttl", NULL};
	json_t *body = NULL;
	const char *role = NULL, *name = "";
	char *secret = NULL, *id = NULL, hash[65];
	struct cp_token t;
	struct cp_audit_rec a;
	int64_t ttl;
	int rc;

	if ((rc = cp_body_object(&body, req, allowed, err)) < 0)
		return rc;
	if ((rc = fl_json_str(&role, body, "role", 1, err)) < 0 ||
	    (rc = fl_json_str(&name, body, "name", 0, err)) < 0 ||
	    (rc = ttl_field(&ttl, body, 0, err)) < 0)
		goto cleanup;
	if (!cp_role_parse(role)) {
		rc = fl_err_set(
		    err, FL_EINVAL,
		    "role must be admin, release-manager, operator, viewer or automation");
		goto cleanup;
	}
	if (strlen(name) > 64) {
		rc = fl_err_set(err, FL_EINVAL, "name longer than 64 bytes");
		goto cleanup;
	}
	secret = fl_token_new("flt", 32);
	id = fl_token_new("tok", 9);
	if (!secret || !id) {
		rc = FL_ENOMEM;
		goto cleanup;
	}
	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%s", id);
	snprintf(t.role, sizeof(t.role), "%s", role);
	snprintf(t.name, sizeof(t.name), "%s", name);
	t.created_at = req->now;
	t.expires_at = ttl ? req->now + ttl : 0;
	fl_sha256_hex(hash, secret, strlen(secret));
	cp_audit_rec_init(&a, req, "token.create", t.id, NULL);
	a.details = json_pack("{s:s,s:s}", "role", role, "name", name);
	rc = cp_store_token_add(req->app->store, &t, hash, &a, err);
	json_decref(a.details);
	if (rc == 0)
		rc = cp_reply(resp, 201,
			      json_pack("{s:s,s:s,s:s,s:s,s:I,s:o}", "id", t.id, "token", secret,
					"role", role, "name", name, "created_at",
					(json_int_t)t.created_at, "expires_at",
					t.expires_at ? json_integer(t.expires_at) : json_null()));
cleanup:
	if (secret)
		memset(secret, 0, strlen(secret));
	free(secret);
	free(id);
	json_decref(body);
	return rc;
}

int cp_h_tokens_list(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *rows = NULL;
	int rc = cp_store_tokens_list(&rows, req->app->store, err);

	if (rc < 0)
		return rc;
	return cp_reply(resp, 200, json_pack("{s:o}", "tokens", rows));
}

typedef int (*revoke_fn)(struct cp_store *, const char *, int64_t, const struct cp_audit_rec *,
			 struct fl_err *);

/* Revoking either kind of token: the same shape, audited under action. */
static int revoke(struct cp_resp *resp, struct cp_req *req, const char *action, revoke_fn fn,
		  struct fl_err *err)
{
	struct cp_audit_rec a;
	const char *id;
	int rc;

	if ((rc = cp_param_id(&id, req, 0, err)) < 0)
		return rc;
	cp_audit_rec_init(&a, req, action, id, NULL);
	if ((rc = fn(req->app->store, id, req->now, &a, err)) < 0)
		return rc;
	return cp_reply(resp, 200, json_pack("{s:s,s:b}", "id", id, "revoked", 1));
}

int cp_h_token_revoke(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	return revoke(resp, req, "token.revoke", cp_store_token_revoke, err);
}

int cp_h_etoken_create(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const char *const allowed[] = {"uses", "ttl", "labels", "auto_accept", NULL};
	json_t *body = NULL, *labels = NULL;
	struct cp_enroll_token t;
	struct cp_audit_rec a;
	char *secret = NULL, *id = NULL, hash[65];
	int64_t uses = 1, ttl = 0;
	int auto_accept = 0, rc;

	memset(&t, 0, sizeof(t));
	if (req->body_len == 0)
		body = json_object();
	else if ((rc = cp_body_object(&body, req, allowed, err)) < 0)
		return rc;
	if ((rc = fl_json_int(&uses, body, "uses", 0, err)) < 0 ||
	    (rc = ttl_field(&ttl, body, 0, err)) < 0 ||
	    (rc = fl_json_obj(&labels, body, "labels", 0, err)) < 0 ||
	    (rc = fl_json_bool(&auto_accept, body, "auto_accept", 0, err)) < 0)
		goto cleanup;
	if (uses < 1 || uses > 1000000) {
		rc = fl_err_set(err, FL_EINVAL, "uses must be 1..1000000");
		goto cleanup;
	}
	if (labels && (rc = cp_device_labels_check(labels, err)) < 0)
		goto cleanup;
	secret = fl_token_new("fle", 24); /* 192 bits, over the 128 the design asks */
	id = fl_token_new("et", 9);
	if (!secret || !id) {
		rc = FL_ENOMEM;
		goto cleanup;
	}
	snprintf(t.id, sizeof(t.id), "%s", id);
	t.max_uses = t.uses_left = uses;
	t.labels = labels; /* borrowed: not released below */
	t.auto_accept = auto_accept;
	t.created_at = req->now;
	t.expires_at = req->now + (ttl ? ttl : 24 * 3600);
	fl_sha256_hex(hash, secret, strlen(secret));
	cp_audit_rec_init(&a, req, "enroll_token.create", t.id, NULL);
	a.details = json_pack("{s:I,s:I,s:b,s:o}", "uses", (json_int_t)uses, "expires_at",
			      (json_int_t)t.expires_at, "auto_accept", auto_accept, "labels",
			      labels ? json_incref(labels) : json_object());
	rc = cp_store_enroll_token_add(req->app->store, &t, hash, &a, err);
	json_decref(a.details);
	if (rc == 0)
		rc = cp_reply(resp, 201,
			      json_pack("{s:s,s:s,s:I,s:I,s:b,s:o,s:I}", "id", t.id, "token",
					secret, "uses", (json_int_t)uses, "expires_at",
					(json_int_t)t.expires_at, "auto_accept", auto_accept,
					"labels", labels ? json_incref(labels) : json_object(),
					"created_at", (json_int_t)t.created_at));
cleanup:
	if (secret)
		memset(secret, 0, strlen(secret));
	free(secret);
	free(id);
	json_decref(body);
	return rc;
}

int cp_h_etokens_list(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *rows = NULL;
	int rc = cp_store_enroll_tokens_list(&rows, req->app->store, err);

	if (rc < 0)
		return rc;
	return cp_reply(resp, 200, json_pack("{s:o}", "enroll_tokens", rows));
}

int cp_h_etoken_revoke(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	return revoke(resp, req, "enroll_token.revoke", cp_store_enroll_token_revoke, err);
}

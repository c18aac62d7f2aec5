/*
 * h_runs.c - playbook runs: list, show, start by hand, approve, deny and
 * cancel. The engine (playbook/engine.c) owns every decision; these
 * handlers parse the request and hand it over.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fairlead/json.h"
#include "fairlead/util.h"
#include "playbook/engine.h"

static const char *actor(const struct cp_req *req)
{
	return req->who.actor[0] ? req->who.actor : "anonymous";
}

int cp_h_runs_list(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const char *const states[] = {
	    "awaiting_approval", "running", "succeeded", "failed", "halted",
	    "cancelled",	 "denied",  "expired",	 NULL};
	char state[24] = "", playbook[80] = "", limit_s[16] = "";
	json_t *rows = NULL;
	long limit = 100;
	int rc, ok = 0;

	if (((rc = cp_query_param(state, sizeof(state), req, "state", err)) < 0 &&
	     rc != FL_ENOTFOUND) ||
	    ((rc = cp_query_param(playbook, sizeof(playbook), req, "playbook", err)) < 0 &&
	     rc != FL_ENOTFOUND) ||
	    ((rc = cp_query_param(limit_s, sizeof(limit_s), req, "limit", err)) < 0 &&
	     rc != FL_ENOTFOUND))
		return rc;
	for (const char *const *s = states; *s; s++)
		ok |= strcmp(*s, state) == 0;
	if (state[0] && !ok)
		return fl_err_set(err, FL_EINVAL,
				  "state must be awaiting_approval, running, succeeded, failed, "
				  "halted, cancelled, denied or expired");
	if (limit_s[0]) {
		char *end;

		limit = strtol(limit_s, &end, 10);
		if (*end || limit < 1 || limit > 1000)
			return fl_err_set(err, FL_EINVAL, "limit must be 1 to 1000");
	}
	if ((rc = cp_store_runs_list(&rows, req->app->store, playbook[0] ? playbook : NULL,
				     state[0] ? state : NULL, (int)limit, err)) < 0)
		return rc;
	return cp_reply(resp, 200, json_pack("{s:o}", "runs", rows));
}

int cp_h_run_show(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *run = NULL;
	const char *id;
	int rc;

	if ((rc = cp_param_id(&id, req, 0, err)) < 0 ||
	    (rc = cp_store_run_get(&run, req->app->store, id, err)) < 0)
		return rc;
	return cp_reply(resp, 200, run);
}

/* POST /api/v1/playbooks/{name}/run: {"params": {...}} or nothing. */
int cp_h_run_start(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const char *const allowed[] = {"params", NULL};
	json_t *body = NULL, *run = NULL, *params = NULL;
	const char *name;
	int rc;

	if ((rc = cp_param_id(&name, req, 0, err)) < 0)
		return rc;
	if (req->body_len > 0 && ((rc = cp_body_object(&body, req, allowed, err)) < 0 ||
				  (rc = fl_json_obj(&params, body, "params", 0, err)) < 0))
		goto cleanup;
	if ((rc = cp_pb_run_start(&run, req->app->playbooks, name, params, actor(req), err)) < 0)
		goto cleanup;
	rc = cp_reply(resp, 201, run);
cleanup:
	json_decref(body);
	return rc;
}

/* approve and deny: {"plan_hash": HASH}, the hash of the plan the approver
 * reviewed (run show prints it). */
static int decide(struct cp_resp *resp, struct cp_req *req, int approve, struct fl_err *err)
{
	static const char *const allowed[] = {"plan_hash", NULL};
	json_t *body = NULL, *run = NULL;
	const char *id, *hash = NULL;
	int rc;

	if ((rc = cp_param_id(&id, req, 0, err)) < 0)
		return rc;
	if ((rc = cp_body_object(&body, req, allowed, err)) < 0 ||
	    (rc = fl_json_str(&hash, body, "plan_hash", 1, err)) < 0)
		goto cleanup;
	if ((rc = cp_pb_run_decide(&run, req->app->playbooks, id, actor(req),
				   cp_role_name(req->who.role), hash, approve, err)) < 0)
		goto cleanup;
	rc = cp_reply(resp, 200, run);
cleanup:
	json_decref(body);
	return rc;
}

int cp_h_run_approve(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	return decide(resp, req, 1, err);
}

int cp_h_run_deny(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	return decide(resp, req, 0, err);
}

int cp_h_run_cancel(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const char *const allowed[] = {NULL};
	json_t *body = NULL, *run = NULL;
	const char *id;
	int rc;

	if ((rc = cp_param_id(&id, req, 0, err)) < 0)
		return rc;
	if (req->body_len > 0 && (rc = cp_body_object(&body, req, allowed, err)) < 0)
		return rc;
	json_decref(body);
	if ((rc = cp_pb_run_cancel(&run, req->app->playbooks, id, actor(req), err)) < 0)
		return rc;
	return cp_reply(resp, 200, run);
}

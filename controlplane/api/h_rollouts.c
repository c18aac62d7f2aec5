/*
 * h_rollouts.c - canary rollouts: start, list, status and manual control.
 * The controller (core/rollout.c) owns every decision; these handlers only
 * parse the request and hand it over.
 */
#include <string.h>

#include "api.h"
#include "core/rollout.h"

static int ready(struct cp_req *req, struct fl_err *err)
{
	if (!req->app->rollouts)
		return fl_err_set(err, FL_EAGAIN, "rollouts need the release parts of the server");
	return 0;
}

int cp_h_rollout_start(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *body = NULL, *out = NULL;
	int rc;

	if ((rc = ready(req, err)) < 0 || (rc = cp_body_object(&body, req, NULL, err)) < 0)
		return rc;
	rc = cp_rollout_start(&out, req->app->rollouts, body,
			      req->who.actor[0] ? req->who.actor : "anonymous", err);
	json_decref(body);
	return rc < 0 ? rc : cp_reply(resp, 201, out);
}

int cp_h_rollouts_list(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	char state[16] = "all";
	json_t *rows = NULL;
	int rc;

	rc = cp_query_param(state, sizeof(state), req, "state", err);
	if (rc < 0 && rc != FL_ENOTFOUND)
		return rc;
	if (strcmp(state, "all") != 0 && strcmp(state, "active") != 0 &&
	    strcmp(state, "running") != 0 && strcmp(state, "paused") != 0 &&
	    strcmp(state, "done") != 0 && strcmp(state, "aborted") != 0)
		return fl_err_set(err, FL_EINVAL,
				  "state must be all, active, running, paused, done or aborted");
	if ((rc = cp_store_rollouts_list(&rows, req->app->store,
					 strcmp(state, "all") == 0 ? NULL : state, 500, err)) < 0)
		return rc;
	return cp_reply(resp, 200, json_pack("{s:o}", "rollouts", rows));
}

int cp_h_rollout_show(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *out = NULL;
	const char *id;
	int rc;

	if ((rc = ready(req, err)) < 0 || (rc = cp_param_id(&id, req, 0, err)) < 0 ||
	    (rc = cp_rollout_status(&out, req->app->rollouts, id, err)) < 0)
		return rc;
	return cp_reply(resp, 200, out);
}

/* POST /api/v1/rollouts/{id}/{action}: an empty body or {}. */
static int control(struct cp_resp *resp, struct cp_req *req, const char *action, struct fl_err *err)
{
	static const char *const allowed[] = {NULL};
	json_t *body = NULL, *out = NULL;
	const char *id;
	int rc;

	if ((rc = ready(req, err)) < 0 || (rc = cp_param_id(&id, req, 0, err)) < 0)
		return rc;
	if (req->body_len > 0 && (rc = cp_body_object(&body, req, allowed, err)) < 0)
		return rc;
	json_decref(body);
	if ((rc = cp_rollout_control(&out, req->app->rollouts, id, action,
				     req->who.actor[0] ? req->who.actor : "anonymous", err)) < 0)
		return rc;
	return cp_reply(resp, 200, out);
}

int cp_h_rollout_pause(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	return control(resp, req, "pause", err);
}

int cp_h_rollout_resume(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	return control(resp, req, "resume", err);
}

int cp_h_rollout_abort(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	return control(resp, req, "abort", err);
}

int cp_h_rollout_promote(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	return control(resp, req, "promote", err);
}

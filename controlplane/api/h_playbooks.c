/*
 * h_playbooks.c - playbook files checked and tried by the server, which
 * holds the devices a dry run plans against. Nothing here stores, sends or
 * audits anything.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fairlead/json.h"
#include "playbook/dryrun.h"
#include "playbook/format.h"

/* The file name errors name: ?file=NAME, else "playbook". */
static void file_name(char *out, size_t cap, const struct cp_req *req)
{
	if (cp_query_param(out, cap, req, "file", NULL) < 0 || !out[0])
		snprintf(out, cap, "playbook");
}

int cp_h_playbook_validate(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	char file[128];
	json_t *pb = NULL;
	int rc;

	file_name(file, sizeof(file), req);
	if (!req->body || req->body_len == 0)
		return fl_err_set(err, FL_EINVAL, "request body must be a playbook file");
	if ((rc = cp_pb_parse(&pb, req->body, req->body_len, file, err)) < 0)
		return rc;
	return cp_reply(resp, 200, json_pack("{s:o}", "playbook", pb));
}

int cp_h_playbook_test(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const char *const allowed[] = {"file", "playbook", "events", NULL};
	const char *file = NULL, *text = NULL;
	json_t *body = NULL, *pb = NULL, *report = NULL, *events;
	int rc;

	if ((rc = cp_body_object(&body, req, allowed, err)) < 0 ||
	    (rc = fl_json_str(&file, body, "file", 0, err)) < 0 ||
	    (rc = fl_json_str(&text, body, "playbook", 1, err)) < 0)
		goto cleanup;
	events = json_object_get(body, "events");
	if (!json_is_array(events)) {
		rc = fl_err_set(err, FL_EINVAL, "events must be an array of events");
		goto cleanup;
	}
	if ((rc = cp_pb_parse(&pb, text, strlen(text), file ? file : "playbook", err)) < 0 ||
	    (rc = cp_pb_dryrun(&report, req->app->store, pb, events, req->now, err)) < 0)
		goto cleanup;
	json_object_set(report, "playbook", pb);
	rc = cp_reply(resp, 200, report);
	report = NULL;
cleanup:
	json_decref(report);
	json_decref(pb);
	json_decref(body);
	return rc;
}

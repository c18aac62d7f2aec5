/*
 * h_playbooks.c - playbook files checked and tried by the server, which
 * holds the devices a dry run plans against (validate, test: nothing stored,
 * sent or audited), and the stored playbooks managed through the API.
 *
 * A playbook loaded from the playbook directory (source "file") belongs to
 * its file: the API may enable or disable it, an emergency stop that must
 * work for every playbook, but neither replace nor delete it.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fairlead/json.h"
#include "playbook/dryrun.h"
#include "playbook/format.h"
#include "playbook/load.h"

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

/* ======================= stored playbooks ======================= */

/* The {name} of the path, in the grammar of a playbook's name (format.h). */
static int pb_name(const char **out, struct cp_req *req, struct fl_err *err)
{
	const char *n = req->params[0];
	size_t len = strlen(n);

	if (len < 1 || len > 63 ||
	    !((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= '0' && n[0] <= '9')) ||
	    strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789-") != len)
		return fl_err_set(err, FL_EINVAL,
				  "bad playbook name '%.64s': use [a-z0-9][a-z0-9-]*, at most 63",
				  n);
	*out = n;
	return 0;
}

/* A list row: the stored row's fields and its definition's trigger type and
 * description (when it has one), without the definition. */
static json_t *summary(const json_t *row)
{
	const json_t *def = json_object_get(row, "definition");
	json_t *desc = json_object_get(def, "description");
	json_t *o = json_pack(
	    "{s:O,s:O,s:O,s:O,s:O,s:O}", "name", json_object_get(row, "name"), "version",
	    json_object_get(row, "version"), "enabled", json_object_get(row, "enabled"), "source",
	    json_object_get(row, "source"), "updated_at", json_object_get(row, "updated_at"),
	    "trigger", json_object_get(json_object_get(def, "trigger"), "type"));

	if (o && json_is_string(desc) && json_object_set(o, "description", desc) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int cp_h_playbooks_list(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *rows = NULL, *out = NULL, *row;
	size_t i;
	int rc;

	if ((rc = cp_store_playbooks_list(&rows, req->app->store, err)) < 0)
		return rc;
	if (!(out = json_array())) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	json_array_foreach (rows, i, row) {
		if (json_array_append_new(out, summary(row)) < 0) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	rc = cp_reply(resp, 200, json_pack("{s:O}", "playbooks", out));
cleanup:
	json_decref(out);
	json_decref(rows);
	return rc;
}

int cp_h_playbook_show(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *row = NULL;
	const char *name;
	int rc;

	if ((rc = pb_name(&name, req, err)) < 0 ||
	    (rc = cp_store_playbook_get(&row, req->app->store, name, err)) < 0)
		return rc;
	return cp_reply(resp, 200, row);
}

/* The stored row of name, NULL when there is none. */
static int stored_row(json_t **out, struct cp_req *req, const char *name, struct fl_err *err)
{
	int rc = cp_store_playbook_get(out, req->app->store, name, err);

	if (rc == FL_ENOTFOUND) {
		fl_err_clear(err);
		*out = NULL;
		return 0;
	}
	return rc;
}

static int from_file(const json_t *row)
{
	return row && strcmp(json_string_value(json_object_get(row, "source")), "file") == 0;
}

int cp_h_playbook_put(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *pb = NULL, *old = NULL, *row = NULL, *details = NULL;
	const char *name, *bname, *result;
	struct cp_audit_rec a;
	char file[128];
	int rc, changed = 0;

	if ((rc = pb_name(&name, req, err)) < 0)
		return rc;
	if (cp_query_param(file, sizeof(file), req, "file", NULL) < 0 || !file[0])
		snprintf(file, sizeof(file), "%s", name);
	if (!req->body || req->body_len == 0)
		return fl_err_set(err, FL_EINVAL, "request body must be a playbook file");
	if ((rc = cp_pb_parse(&pb, req->body, req->body_len, file, err)) < 0)
		goto cleanup;
	bname = json_string_value(json_object_get(pb, "name"));
	if (strcmp(bname, name) != 0) {
		rc =
		    fl_err_set(err, FL_EINVAL, "%s:%d: name: '%s' differs from '%s' in the path",
			       file, cp_pb_key_line(req->body, req->body_len, "name"), bname, name);
		goto cleanup;
	}
	if ((rc = stored_row(&old, req, name, err)) < 0)
		goto cleanup;
	if (from_file(old)) {
		rc = fl_err_set(err, FL_ECONFLICT,
				"playbook '%s' is loaded from a file of the playbook directory: "
				"change that file (the API may only enable or disable it)",
				name);
		goto cleanup;
	}
	if (!(details = json_pack("{s:O,s:O}", "version", json_object_get(pb, "version"),
				  "definition", pb))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	cp_audit_rec_init(&a, req, "playbook.put", name, details);
	rc = cp_store_playbook_put(&changed, req->app->store, pb, "api", req->now, &a, err);
	if (rc == FL_ECONFLICT)
		fl_err_prefix(err, "%s:%d", file,
			      cp_pb_key_line(req->body, req->body_len, "version"));
	if (rc < 0 || (rc = cp_store_playbook_get(&row, req->app->store, name, err)) < 0)
		goto cleanup;
	/* a racing PUT of the same new playbook may have created it first */
	result = !changed ? "unchanged" : old ? "updated" : "created";
	rc = cp_reply(resp, strcmp(result, "created") == 0 ? 201 : 200,
		      json_pack("{s:s,s:O}", "result", result, "playbook", row));
cleanup:
	json_decref(pb);
	json_decref(old);
	json_decref(row);
	json_decref(details);
	return rc;
}

int cp_h_playbook_delete(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *old = NULL, *details = NULL;
	struct cp_audit_rec a;
	const char *name;
	int rc;

	if ((rc = pb_name(&name, req, err)) < 0 ||
	    (rc = cp_store_playbook_get(&old, req->app->store, name, err)) < 0)
		return rc;
	if (from_file(old)) {
		rc = fl_err_set(err, FL_ECONFLICT,
				"playbook '%s' is loaded from a file of the playbook directory: "
				"remove that file and restart the server (the API may only "
				"enable or disable it)",
				name);
		goto cleanup;
	}
	if (!(details = json_pack("{s:O}", "version", json_object_get(old, "version")))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	cp_audit_rec_init(&a, req, "playbook.delete", name, details);
	if ((rc = cp_store_playbook_delete(req->app->store, name, req->now, &a, err)) < 0)
		goto cleanup;
	rc = cp_reply(resp, 200, json_pack("{s:s,s:b}", "name", name, "deleted", 1));
cleanup:
	json_decref(old);
	json_decref(details);
	return rc;
}

/* POST /api/v1/playbooks/{name}/enable|disable: an empty body or {}. */
static int set_enabled(struct cp_resp *resp, struct cp_req *req, int enabled, struct fl_err *err)
{
	static const char *const allowed[] = {NULL};
	json_t *body = NULL, *row = NULL;
	struct cp_audit_rec a;
	const char *name;
	int rc;

	if ((rc = pb_name(&name, req, err)) < 0)
		return rc;
	if (req->body_len > 0 && (rc = cp_body_object(&body, req, allowed, err)) < 0)
		return rc;
	json_decref(body);
	cp_audit_rec_init(&a, req, enabled ? "playbook.enable" : "playbook.disable", name, NULL);
	if ((rc = cp_store_playbook_set_enabled(req->app->store, name, enabled, req->now, &a,
						err)) < 0 ||
	    (rc = cp_store_playbook_get(&row, req->app->store, name, err)) < 0)
		return rc;
	return cp_reply(resp, 200, row);
}

int cp_h_playbook_enable(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	return set_enabled(resp, req, 1, err);
}

int cp_h_playbook_disable(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	return set_enabled(resp, req, 0, err);
}

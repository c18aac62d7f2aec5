/*
 * h_audit.c - reading the audit log. Verification is the CLI's job
 * (`fairlead audit verify` recomputes the chain itself), so that a server
 * that lies cannot also vouch for itself.
 */
#include <stdlib.h>

#include "api.h"

int cp_h_audit_list(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	char buf[24];
	char *end;
	int64_t after = 0;
	long limit = 500;
	json_t *rows = NULL, *last;
	int rc;

	if ((rc = cp_query_param(buf, sizeof(buf), req, "after", err)) == 0) {
		after = strtoll(buf, &end, 10);
		if (*end || after < 0)
			return fl_err_set(err, FL_EINVAL, "after must be a sequence number");
	} else if (rc != FL_ENOTFOUND) {
		return rc;
	}
	if ((rc = cp_query_param(buf, sizeof(buf), req, "limit", err)) == 0) {
		limit = strtol(buf, &end, 10);
		if (*end || limit < 1 || limit > 1000)
			return fl_err_set(err, FL_EINVAL, "limit must be 1..1000");
	} else if (rc != FL_ENOTFOUND) {
		return rc;
	}
	if ((rc = cp_store_audit_list(&rows, req->app->store, after, (int)limit, err)) < 0)
		return rc;
	last = json_array_get(rows, json_array_size(rows) - 1);
	return cp_reply(resp, 200,
			json_pack("{s:o,s:o}", "entries", rows, "next_after",
				  json_array_size(rows) == (size_t)limit && last
				      ? json_incref(json_object_get(last, "seq"))
				      : json_null()));
}

int cp_h_audit_head(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	char hash[65];
	int64_t seq;
	int rc = cp_store_audit_head(&seq, hash, req->app->store, err);

	if (rc < 0)
		return rc;
	return cp_reply(resp, 200, json_pack("{s:I,s:s}", "seq", (json_int_t)seq, "hash", hash));
}

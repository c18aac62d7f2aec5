/*
 * h_slo.c - SLO definitions (ours in JSON, OpenSLO v1 in YAML), their
 * status, burn-rate alerts and the event log. Definitions are validated in
 * full before anything is stored; an OpenSLO file with several SLOs is
 * stored all or nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "core/slo.h"
#include "fairlead/json.h"
#include "fairlead/util.h"

/* A stored row with the engine's last status and the firing alerts. */
static int decorate(json_t *row, struct cp_req *req, json_t *firing)
{
	const char *name = json_string_value(json_object_get(row, "name"));
	json_t *st = cp_slo_engine_status(req->app->slo, name), *mine = json_array(), *a;
	size_t i;

	if (!mine) {
		json_decref(st);
		return FL_ENOMEM;
	}
	json_array_foreach (firing, i, a) {
		if (strcmp(json_string_value(json_object_get(a, "slo")), name) == 0)
			json_array_append(mine, a);
	}
	json_object_set_new(row, "status", st ? st : json_null());
	json_object_set_new(row, "firing", mine);
	return 0;
}

int cp_h_slos_list(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *rows = NULL, *firing = NULL, *row;
	size_t i;
	int rc;

	if ((rc = cp_store_slos_list(&rows, req->app->store, err)) < 0 ||
	    (rc = cp_store_alerts_list(&firing, req->app->store, "firing", 10000, err)) < 0)
		goto cleanup;
	json_array_foreach (rows, i, row) {
		if ((rc = decorate(row, req, firing)) < 0)
			goto cleanup;
	}
	rc = cp_reply(resp, 200, json_pack("{s:O}", "slos", rows));
cleanup:
	json_decref(rows);
	json_decref(firing);
	return rc;
}

static int slo_name(const char **out, struct cp_req *req, struct fl_err *err)
{
	if (!fl_id_valid(req->params[0]))
		return fl_err_set(
		    err, FL_EINVAL,
		    "bad SLO name: use 1-64 of A-Z a-z 0-9 . _ - (not starting with . "
		    "or -)");
	*out = req->params[0];
	return 0;
}

int cp_h_slo_show(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *row = NULL, *firing = NULL;
	const char *name = NULL;
	int rc;

	if ((rc = slo_name(&name, req, err)) < 0)
		return rc;
	if ((rc = cp_store_slo_get(&row, req->app->store, name, err)) < 0 ||
	    (rc = cp_store_alerts_list(&firing, req->app->store, "firing", 10000, err)) < 0 ||
	    (rc = decorate(row, req, firing)) < 0)
		goto cleanup;
	rc = cp_reply(resp, 200, json_incref(row));
cleanup:
	json_decref(row);
	json_decref(firing);
	return rc;
}

int cp_h_slo_put(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *body = NULL, *canon = NULL, *defs = NULL;
	struct cp_slo *slo = NULL;
	struct cp_audit_rec a;
	const char *name = NULL, *bname;
	int rc;

	if ((rc = slo_name(&name, req, err)) < 0)
		return rc;
	if ((rc = cp_body_object(&body, req, NULL, err)) < 0)
		return rc;
	if (!(slo = malloc(sizeof(*slo)))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cp_slo_parse(slo, body, err)) < 0)
		goto cleanup;
	bname = slo->name;
	if (strcmp(bname, name) != 0) {
		rc = fl_err_set(err, FL_EINVAL,
				"name '%s' in the body differs from '%s' in the path", bname, name);
		goto cleanup;
	}
	if ((rc = cp_slo_to_json(&canon, slo)) < 0 || !(defs = json_pack("[O]", canon))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	cp_audit_rec_init(&a, req, "slo.put", name, canon);
	if ((rc = cp_store_slos_put(req->app->store, defs, "api", req->now, &a, err)) < 0)
		goto cleanup;
	cp_slo_engine_kick(req->app->slo);
	rc = cp_reply(
	    resp, 200,
	    json_pack("{s:s,s:O,s:s}", "name", name, "definition", canon, "source", "api"));
cleanup:
	free(slo);
	json_decref(body);
	json_decref(canon);
	json_decref(defs);
	return rc;
}

int cp_h_slo_openslo(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *defs = NULL, *names = NULL, *d;
	struct cp_audit_rec a;
	size_t i;
	int rc;

	if (!req->body || req->body_len == 0)
		return fl_err_set(err, FL_EINVAL, "request body must be an OpenSLO v1 YAML file");
	if ((rc = cp_slo_from_openslo(&defs, req->body, req->body_len, err)) < 0)
		return rc;
	if (!(names = json_array())) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	json_array_foreach (defs, i, d)
		json_array_append(names, json_object_get(d, "name"));
	cp_audit_rec_init(&a, req, "slo.import", "openslo", NULL);
	a.details = json_pack("{s:O}", "slos", names);
	rc = cp_store_slos_put(req->app->store, defs, "api", req->now, &a, err);
	json_decref(a.details);
	if (rc < 0)
		goto cleanup;
	cp_slo_engine_kick(req->app->slo);
	rc = cp_reply(resp, 200, json_pack("{s:O,s:O}", "imported", names, "definitions", defs));
cleanup:
	json_decref(names);
	json_decref(defs);
	return rc;
}

int cp_h_slo_delete(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	struct cp_audit_rec a;
	const char *name = NULL;
	int rc;

	if ((rc = slo_name(&name, req, err)) < 0)
		return rc;
	cp_audit_rec_init(&a, req, "slo.delete", name, NULL);
	if ((rc = cp_store_slo_delete(req->app->store, name, req->now, &a, err)) < 0)
		return rc;
	cp_slo_engine_kick(req->app->slo);
	return cp_reply(resp, 200, json_pack("{s:s,s:b}", "name", name, "deleted", 1));
}

static int int_param(int64_t *out, struct cp_req *req, const char *name, int64_t lo, int64_t hi,
		     struct fl_err *err)
{
	char buf[24], *end;
	long long v;
	int rc = cp_query_param(buf, sizeof(buf), req, name, err);

	if (rc == FL_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	v = strtoll(buf, &end, 10);
	if (!buf[0] || *end || v < lo || v > hi)
		return fl_err_set(err, FL_EINVAL, "%s must be %lld..%lld", name, (long long)lo,
				  (long long)hi);
	*out = v;
	return 0;
}

int cp_h_alerts_list(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	char state[16] = "all";
	json_t *rows = NULL;
	int64_t limit = 500;
	int rc;

	rc = cp_query_param(state, sizeof(state), req, "state", err);
	if (rc < 0 && rc != FL_ENOTFOUND)
		return rc;
	if (strcmp(state, "firing") != 0 && strcmp(state, "resolved") != 0 &&
	    strcmp(state, "all") != 0)
		return fl_err_set(err, FL_EINVAL, "state must be firing, resolved or all");
	if ((rc = int_param(&limit, req, "limit", 1, 1000, err)) < 0)
		return rc;
	if ((rc = cp_store_alerts_list(&rows, req->app->store,
				       strcmp(state, "all") == 0 ? NULL : state, (int)limit, err)) <
	    0)
		return rc;
	return cp_reply(resp, 200, json_pack("{s:o}", "alerts", rows));
}

int cp_h_events_list(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	int64_t after = 0, limit = 500;
	json_t *rows = NULL, *last;
	int rc;

	if ((rc = int_param(&after, req, "after", 0, INT64_MAX, err)) < 0 ||
	    (rc = int_param(&limit, req, "limit", 1, 1000, err)) < 0)
		return rc;
	if ((rc = cp_store_events_list(&rows, req->app->store, after, (int)limit, err)) < 0)
		return rc;
	last = json_array_get(rows, json_array_size(rows) - 1);
	return cp_reply(resp, 200,
			json_pack("{s:o,s:o}", "events", rows, "next_after",
				  json_array_size(rows) == (size_t)limit && last
				      ? json_incref(json_object_get(last, "seq"))
				      : json_null()));
}

int cp_h_events_stream(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	const char *last = req->header(req->conn, "Last-Event-ID");
	int64_t after = -1;
	int rc;

	/* A reconnecting EventSource sends the last id it saw; a first
	 * connection may ask for a backlog with ?after=SEQ; otherwise the
	 * stream starts at the newest event. */
	if (last && *last) {
		char *end;
		long long v = strtoll(last, &end, 10);

		if (*end || v < 0 || last[0] < '0' || last[0] > '9')
			return fl_err_set(err, FL_EINVAL, "Last-Event-ID is not a sequence number");
		after = v;
	} else if ((rc = int_param(&after, req, "after", 0, INT64_MAX, err)) < 0) {
		return rc;
	}
	if (!req->app->events)
		return fl_err_set(err, FL_EUNAVAIL, "the event stream is not running");
	resp->status = 200;
	resp->sse = 1;
	resp->sse_after = after;
	return 0;
}

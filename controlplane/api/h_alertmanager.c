/*
 * h_alertmanager.c - the inbound webhook of Prometheus Alertmanager (its
 * payload version 4): each alert becomes one "alertmanager" event, which
 * playbooks with that trigger take (docs/playbooks.md). A payload is
 * checked whole before anything is written, and its alerts land in one
 * transaction with one audit entry.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fairlead/json.h"

#define AM_MAX_ALERTS 1000
#define AM_MAX_LABELS 64
#define AM_MAX_TEXT   4096

/* A label or annotation set: at most AM_MAX_LABELS string values. */
static int string_map(const json_t *m, const char *what, size_t idx, struct fl_err *err)
{
	const char *k;
	json_t *v;

	if (!json_is_object(m) || json_object_size(m) > AM_MAX_LABELS)
		return fl_err_set(err, FL_EINVAL,
				  "alerts[%zu].%s must be an object of at most %d strings", idx,
				  what, AM_MAX_LABELS);
	json_object_foreach ((json_t *)(uintptr_t)m, k, v)
		if (!json_is_string(v) || strlen(k) > 256 || json_string_length(v) > AM_MAX_TEXT)
			return fl_err_set(err, FL_EINVAL,
					  "alerts[%zu].%s.%.64s must be a string of at "
					  "most %d bytes",
					  idx, what, k, AM_MAX_TEXT);
	return 0;
}

static int opt_string(const json_t *o, const char *key, size_t idx, struct fl_err *err)
{
	const json_t *v = json_object_get(o, key);

	if (v && (!json_is_string(v) || json_string_length(v) > AM_MAX_TEXT))
		return fl_err_set(err, FL_EINVAL, "alerts[%zu].%s must be a string", idx, key);
	return 0;
}

int cp_h_alertmanager(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *body = NULL, *alerts, *a, **bodies = NULL;
	const char **subjects = NULL, *version = NULL, *status;
	struct cp_audit_rec rec;
	size_t i, n;
	int rc;

	/* the payload's own fields are Alertmanager's: unknown ones are kept
	 * out of the events but do not refuse it (a newer Alertmanager adds
	 * some), the ones read are checked */
	if ((rc = cp_body_object(&body, req, NULL, err)) < 0)
		return rc;
	if ((rc = fl_json_str(&version, body, "version", 1, err)) < 0)
		goto cleanup;
	if (strcmp(version, "4") != 0) {
		rc = fl_err_set(err, FL_EINVAL,
				"version must be \"4\" (Alertmanager's webhook payload)");
		goto cleanup;
	}
	alerts = json_object_get(body, "alerts");
	if (!json_is_array(alerts) || json_array_size(alerts) == 0 ||
	    json_array_size(alerts) > AM_MAX_ALERTS) {
		rc = fl_err_set(err, FL_EINVAL, "alerts must be an array of 1 to %d alerts",
				AM_MAX_ALERTS);
		goto cleanup;
	}
	for (const char *const *k =
		 (const char *const[]){"receiver", "groupKey", "externalURL", NULL};
	     *k; k++) {
		const json_t *v = json_object_get(body, *k);

		if (v && !json_is_string(v)) {
			rc = fl_err_set(err, FL_EINVAL, "%s must be a string", *k);
			goto cleanup;
		}
	}
	n = json_array_size(alerts);
	json_array_foreach (alerts, i, a) {
		if (!json_is_object(a)) {
			rc = fl_err_set(err, FL_EINVAL, "alerts[%zu] must be an object", i);
			goto cleanup;
		}
		status = json_string_value(json_object_get(a, "status"));
		if (!status || (strcmp(status, "firing") != 0 && strcmp(status, "resolved") != 0)) {
			rc = fl_err_set(err, FL_EINVAL,
					"alerts[%zu].status must be firing or resolved", i);
			goto cleanup;
		}
		if ((rc = string_map(json_object_get(a, "labels"), "labels", i, err)) < 0 ||
		    (json_object_get(a, "annotations") &&
		     (rc = string_map(json_object_get(a, "annotations"), "annotations", i, err)) <
			 0) ||
		    (rc = opt_string(a, "startsAt", i, err)) < 0 ||
		    (rc = opt_string(a, "endsAt", i, err)) < 0 ||
		    (rc = opt_string(a, "fingerprint", i, err)) < 0 ||
		    (rc = opt_string(a, "generatorURL", i, err)) < 0)
			goto cleanup;
	}
	subjects = calloc(n, sizeof(*subjects));
	bodies = calloc(n, sizeof(*bodies));
	if (!subjects || !bodies) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	json_array_foreach (alerts, i, a) {
		const json_t *labels = json_object_get(a, "labels");
		const char *name = json_string_value(json_object_get(labels, "alertname"));

		subjects[i] = name ? name : "alert";
		bodies[i] = json_pack(
		    "{s:{s:O,s:O,s:o,s:O?,s:O?,s:O?,s:O?},s:O,s:O?,s:O?,s:O?}", "alert", "status",
		    json_object_get(a, "status"), "labels", labels, "annotations",
		    json_object_get(a, "annotations")
			? json_incref(json_object_get(a, "annotations"))
			: json_object(),
		    "startsAt", json_object_get(a, "startsAt"), "endsAt",
		    json_object_get(a, "endsAt"), "fingerprint", json_object_get(a, "fingerprint"),
		    "generatorURL", json_object_get(a, "generatorURL"), "labels", labels,
		    "receiver", json_object_get(body, "receiver"), "group_key",
		    json_object_get(body, "groupKey"), "external_url",
		    json_object_get(body, "externalURL"));
		if (!bodies[i]) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	cp_audit_rec_init(&rec, req, "alertmanager.receive",
			  json_string_value(json_object_get(body, "receiver")), NULL);
	rec.details = json_pack("{s:I}", "alerts", (json_int_t)n);
	rc = cp_store_events_append(req->app->store, "alertmanager", subjects, bodies, n, req->now,
				    &rec, err);
	json_decref(rec.details);
	if (rc < 0)
		goto cleanup;
	cp_pb_engine_kick(req->app->playbooks);
	rc = cp_reply(resp, 200, json_pack("{s:I}", "accepted", (json_int_t)n));
cleanup:
	for (i = 0; bodies && i < json_array_size(json_object_get(body, "alerts")); i++)
		json_decref(bodies[i]);
	free(bodies);
	free(subjects);
	json_decref(body);
	return rc;
}

#include "core/devices.h"

#include <string.h>

#include "core/assign.h"
#include "fairlead/buf.h"
#include "fairlead/util.h"

int cp_device_labels_check(const json_t *labels, struct fl_err *err)
{
	const char *k;
	json_t *v;

	if (!json_is_object(labels))
		return fl_err_set(err, FL_EINVAL, "labels must be an object");
	if (json_object_size(labels) > 64)
		return fl_err_set(err, FL_EINVAL, "too many labels (64 at most)");
	json_object_foreach ((json_t *)(uintptr_t)labels, k, v) {
		if (!fl_label_key_valid(k) || strcmp(k, "state") == 0)
			return fl_err_set(err, FL_EINVAL, "bad label key '%.64s'", k);
		if (!json_is_string(v) || !fl_label_value_valid(json_string_value(v)))
			return fl_err_set(err, FL_EINVAL, "bad value for label '%.64s'", k);
	}
	return 0;
}

int cp_device_set_state(struct cp_store *s, struct cp_registry *reg, const char *id,
			const char *state, const char *reason, int64_t now, struct cp_audit_rec *a,
			struct fl_err *err)
{
	struct cp_dev d;
	int rc;

	if (cp_registry_by_id(&d, reg, id) < 0)
		return fl_err_set(err, FL_ENOTFOUND, "device '%s' not found", id);
	/* Decommissioned is the end of a device's life; revoked is final for its
	 * identity: neither comes back (a new identity enrolls instead). */
	if ((strcmp(d.state, "decommissioned") == 0 ||
	     (strcmp(d.state, "revoked") == 0 && strcmp(state, "decommissioned") != 0)) &&
	    strcmp(d.state, state) != 0)
		return fl_err_set(err, FL_ECONFLICT, "device '%s' is %s and cannot become %s", id,
				  d.state, state);
	a->details = json_pack("{s:s,s:s,s:s?}", "from", d.state, "to", state, "reason", reason);
	rc = cp_store_device_set_state(s, id, state, reason, now, a, err);
	json_decref(a->details);
	a->details = NULL;
	if (rc < 0)
		return rc;
	/* In memory right after the commit: the device's very next request sees it. */
	cp_registry_set_state(reg, id, state);
	return 0;
}

int cp_device_relabel(json_t **out, struct cp_store *s, const char *id, const json_t *changes,
		      struct cp_audit_rec *a, struct fl_err *err)
{
	json_t *dev = NULL, *labels = NULL, *v;
	const char *k;
	int rc;

	if (out)
		*out = NULL;
	if ((rc = cp_store_device_get(&dev, s, id, err)) < 0)
		return rc;
	labels = json_deep_copy(json_object_get(dev, "labels"));
	if (!labels) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	json_object_foreach ((json_t *)(uintptr_t)changes, k, v) {
		if (json_is_null(v))
			json_object_del(labels, k);
		else
			json_object_set(labels, k, v);
	}
	if ((rc = cp_device_labels_check(labels, err)) < 0)
		goto cleanup;
	a->details = (json_t *)(uintptr_t)changes;
	rc = cp_store_device_set_labels(s, id, labels, a, err);
	a->details = NULL;
	if (rc < 0)
		goto cleanup;
	json_object_set(dev, "labels", labels);
	if (out) {
		*out = dev;
		dev = NULL;
	}
cleanup:
	json_decref(labels);
	json_decref(dev);
	return rc;
}

int cp_device_assign(json_t **summary, struct cp_store *s, struct cp_registry *reg,
		     struct cp_director *d, const json_t *dev, const struct fl_relref *ref,
		     const json_t *rel, int rollback, int64_t now, struct cp_audit_rec *a,
		     struct fl_err *err)
{
	const char *id = json_string_value(json_object_get(dev, "id"));
	struct cp_assignment_row r;
	struct fl_buf env = FL_BUF_INIT;
	char text[160];
	int rc;

	if (summary)
		*summary = NULL;
	snprintf(text, sizeof(text), "%s@%s", ref->name, ref->version);
	if ((rc = cp_assign_sign(&r, &env, d, id, ref, rel, rollback, now, err)) < 0)
		goto cleanup;
	a->details = json_pack("{s:s,s:b}", "release", text, "rollback", rollback);
	rc = cp_store_assignment_set(s, &r, a, err);
	json_decref(a->details);
	a->details = NULL;
	if (rc < 0)
		goto cleanup;
	cp_registry_set_assigned(reg, id, text);
	if (summary)
		*summary =
		    json_pack("{s:s,s:s,s:I,s:b,s:I,s:I}", "release", text, "release_sha256",
			      json_string_value(json_object_get(rel, "sha256")), "counter",
			      (json_int_t)r.counter, "rollback", rollback, "issued_at",
			      (json_int_t)r.issued_at, "expires_at", (json_int_t)r.expires_at);
cleanup:
	fl_buf_release(&env);
	return rc;
}

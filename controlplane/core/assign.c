/* assign.c - who may receive a release, and signing its assignment. */
#include "core/assign.h"

#include <stdio.h>
#include <string.h>

int cp_assign_check(const json_t *dev, const json_t *rel, struct fl_err *err)
{
	const char *state = json_string_value(json_object_get(dev, "state"));
	const char *hw =
	    json_string_value(json_object_get(json_object_get(dev, "inventory"), "hw_model"));
	const json_t *hardware = json_object_get(rel, "hardware"), *h;
	size_t i;

	/* Only an accepted device checks in for releases and may download
	 * artifacts; an assignment to any other would wait unseen, and go out
	 * by surprise the day the device is accepted again. */
	if (!state || strcmp(state, "accepted") != 0)
		return fl_err_set(err, FL_ECONFLICT,
				  "device is %s; only accepted devices receive releases",
				  state ? state : "in no state");
	if (json_array_size(hardware) == 0)
		return 0;
	json_array_foreach ((json_t *)(uintptr_t)hardware, i, h)
		if (hw && json_is_string(h) && strcmp(json_string_value(h), hw) == 0)
			return 0;
	return fl_err_set(err, FL_ECONFLICT,
			  "release hardware does not include the device's hw_model");
}

int cp_assign_sign(struct cp_assignment_row *row, struct fl_buf *env, struct cp_director *d,
		   const char *device_id, const struct fl_relref *ref, const json_t *rel,
		   int rollback, int64_t now, struct fl_err *err)
{
	struct cp_assignment_payload p = {0};
	char text[FL_RELREF_NAME_MAX + FL_RELREF_VERSION_MAX + 2];
	int rc;

	memset(row, 0, sizeof(*row));
	snprintf(text, sizeof(text), "%s@%s", ref->name, ref->version);
	p.device_id = device_id;
	p.release = text;
	p.release_sha256 = json_string_value(json_object_get(rel, "sha256"));
	p.counter = json_integer_value(json_object_get(rel, "counter"));
	p.rollback = rollback;
	if (!p.release_sha256)
		return fl_err_set(err, FL_ERROR, "release %s has no sha256", text);
	if ((rc = cp_director_sign_assignment(env, d, &p, now, err)) < 0)
		return rc;
	*row = (struct cp_assignment_row){device_id, ref->name, ref->version, p.counter,
					  rollback,  p.issued,	p.expires,    env->ptr};
	return 0;
}

#include "agent/root.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/state.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/log.h"

int ag_root_envelope_from_json(struct fl_envelope *out, const json_t *v, struct fl_err *err)
{
	char *s;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(v))
		return fl_err_set(err, FL_EINVAL, "envelope is not an object");
	if (!(s = fl_json_dumps(v)))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	rc = fl_envelope_parse(out, s, strlen(s), err);
	free(s);
	return rc;
}

static int save(const char *dir, const struct fl_envelope *e, struct fl_err *err)
{
	struct fl_buf b = FL_BUF_INIT;
	char path[AG_PATH_MAX];
	int rc;

	if ((rc = ag_state_path(path, sizeof(path), dir, AG_ROOT_FILE, err)) < 0 ||
	    (rc = fl_envelope_dump(&b, e, err)) < 0)
		goto cleanup;
	rc = fl_fs_write_atomic(path, b.ptr, b.len, 0644, err);
cleanup:
	fl_buf_release(&b);
	return rc;
}

static int read_envelope(struct fl_envelope *e, const char *path, struct fl_err *err)
{
	struct fl_buf b = FL_BUF_INIT;
	int rc;

	fl_buf_init(&b, FL_ENVELOPE_MAX_BYTES);
	if ((rc = fl_fs_read(&b, path, err)) == 0)
		rc = fl_envelope_parse(e, b.ptr, b.len, err);
	fl_buf_release(&b);
	return rc;
}

int ag_root_install(struct fl_trust_root *out, const char *dir, const char *path, int64_t now,
		    struct fl_err *err)
{
	struct fl_envelope e = {0};
	int rc;

	if ((rc = read_envelope(&e, path, err)) < 0 ||
	    (rc = fl_trust_root_load(out, &e, err)) < 0) {
		fl_err_prefix(err, "root '%s' refused", path);
		goto cleanup;
	}
	if (out->expires <= now) {
		rc = fl_err_set(err, FL_EGONE, "root '%s' (version %lld) has expired", path,
				(long long)out->version);
		goto cleanup;
	}
	rc = save(dir, &e, err);
cleanup:
	fl_envelope_release(&e);
	return rc;
}

int ag_root_load(struct fl_trust_root *out, const char *dir, struct fl_err *err)
{
	struct fl_envelope e = {0};
	char path[AG_PATH_MAX];
	int rc;

	if ((rc = ag_state_path(path, sizeof(path), dir, AG_ROOT_FILE, err)) < 0)
		return rc;
	/* Our own file, but checking its signatures again costs little and
	 * catches a root that was swapped on disk. */
	if ((rc = read_envelope(&e, path, err)) == 0 && (rc = fl_trust_root_load(out, &e, err)) < 0)
		fl_err_prefix(err, "'%s' is not a valid root", path);
	fl_envelope_release(&e);
	return rc;
}

int ag_root_follow(struct fl_trust_root *trusted, struct ag_transport *t, const char *dir,
		   int64_t target, int64_t now, struct fl_err *err)
{
	int steps = 0, rc = 0;

	while (trusted->version < target) {
		struct fl_trust_root next = *trusted;
		struct fl_envelope e = {0};
		json_t *reply = NULL;
		char path[64];

		if (++steps > FL_TRUST_MAX_ROOT_ROTATIONS)
			return fl_err_set(err, FL_ETOOBIG, "more than %d root rotations at once",
					  FL_TRUST_MAX_ROOT_ROTATIONS);
		snprintf(path, sizeof(path), "/api/v1/root/%lld", (long long)trusted->version + 1);
		rc = ag_transport_json(t, &reply, "GET", path, NULL, NULL, err);
		if (rc == 0)
			rc = ag_root_envelope_from_json(&e, reply, err);
		json_decref(reply);
		if (rc == 0)
			rc = fl_trust_root_update(&next, &e, err);
		if (rc == 0)
			rc = save(dir, &e, err);
		fl_envelope_release(&e);
		if (rc < 0)
			return fl_err_prefix(err, "root rotation to version %lld refused",
					     (long long)trusted->version + 1);
		*trusted = next;
		fl_log(FL_LOG_INFO, "trusted root is now version %lld", (long long)next.version);
	}
	if (trusted->expires <= now)
		return fl_err_set(err, FL_EGONE,
				  "trusted root version %lld has expired (freeze attack?)",
				  (long long)trusted->version);
	return 0;
}

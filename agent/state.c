#include "agent/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fairlead/buf.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/util.h"

/* State files are small; a cap keeps a runaway file from eating the RAM of a
 * small device. */
#define STATE_MAX (1u << 20)

int ag_state_path(char *out, size_t cap, const char *dir, const char *name, struct fl_err *err)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= cap)
		return fl_err_set(err, FL_EINVAL, "state path too long: '%s/%s'", dir, name);
	return 0;
}

int ag_state_dir_init(const char *dir, struct fl_err *err)
{
	if (!dir || !*dir)
		return fl_err_set(err, FL_EINVAL, "no state directory given (--state DIR)");
	return fl_fs_mkdir_p(dir, 0700, err);
}

int ag_state_exists(const char *dir, const char *name)
{
	char path[AG_PATH_MAX];

	if (ag_state_path(path, sizeof(path), dir, name, NULL) < 0)
		return 0;
	return fl_fs_exists(path);
}

int ag_state_lock(int *out_fd, const char *dir, struct fl_err *err)
{
	char path[AG_PATH_MAX], pid[24];
	ssize_t n;
	int fd = -1, rc;

	*out_fd = -1;
	if ((rc = ag_state_path(path, sizeof(path), dir, AG_LOCK_FILE, err)) < 0)
		return rc;
	/* flock, not fcntl locks: those are dropped when any descriptor of the
	 * file closes, and are shared with children after fork. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = fl_err_set(err, errno == ENOENT ? FL_ENOTFOUND : FL_ERROR,
				"cannot lock state directory %s: %s", dir, strerror(errno));
		goto cleanup;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK) {
			rc = fl_err_set(err, FL_ERROR, "cannot lock state directory %s: %s", dir,
					strerror(errno));
			goto cleanup;
		}
		/* The holder may not have written its pid yet: then it is unknown. */
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		rc = fl_err_set(err, FL_ECONFLICT,
				"state directory %s is in use by another fairlead-agent (pid %s)",
				dir, pid[0] ? pid : "unknown");
		goto cleanup;
	}
	/* A pid left by a holder that died is stale but harmless: the kernel
	 * dropped its lock. */
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		rc = fl_err_set(err, FL_ERROR, "cannot write %s: %s", path, strerror(errno));
		goto cleanup;
	}
	*out_fd = fd;
	fd = -1;
cleanup:
	if (fd >= 0)
		close(fd);
	return rc;
}

int ag_state_read_json(json_t **out, const char *dir, const char *name, size_t cap,
		       struct fl_err *err)
{
	struct fl_buf b = FL_BUF_INIT;
	char path[AG_PATH_MAX];
	int rc;

	*out = NULL;
	if ((rc = ag_state_path(path, sizeof(path), dir, name, err)) < 0)
		return rc;
	fl_buf_init(&b, cap);
	if ((rc = fl_fs_read(&b, path, err)) < 0)
		goto cleanup;
	if ((rc = fl_json_parse_object(out, b.ptr, b.len, err)) < 0)
		fl_err_prefix(err, "'%s' is corrupt", path);
cleanup:
	fl_buf_release(&b);
	return rc;
}

int ag_state_write_json(const char *dir, const char *name, const json_t *v, struct fl_err *err)
{
	struct fl_buf b = FL_BUF_INIT;
	char path[AG_PATH_MAX];
	int rc;

	if ((rc = ag_state_path(path, sizeof(path), dir, name, err)) < 0)
		return rc;
	if (fl_json_dump(&b, v) < 0 || fl_buf_put(&b, "\n", 1) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	rc = fl_fs_write_atomic(path, b.ptr, b.len, 0600, err);
cleanup:
	fl_buf_release(&b);
	return rc;
}

/* Copies a required string field into a fixed buffer. */
static int copy_str(char *out, size_t cap, const json_t *obj, const char *key, struct fl_err *err)
{
	const char *s = NULL;
	int rc;

	if ((rc = fl_json_str(&s, obj, key, 1, err)) < 0)
		return rc;
	if (strlen(s) >= cap)
		return fl_err_set(err, FL_EINVAL, "field '%s' is too long", key);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

int ag_state_load_identity(struct ag_identity *out, const char *dir, struct fl_err *err)
{
	char path[AG_PATH_MAX];
	json_t *o = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = ag_state_read_json(&o, dir, AG_IDENTITY_FILE, STATE_MAX, err)) < 0) {
		if (rc == FL_ENOTFOUND)
			fl_err_set(err, rc,
				   "this device is not enrolled: no %s in '%s' "
				   "(run 'fairlead-agent --state DIR enroll' first)",
				   AG_IDENTITY_FILE, dir);
		else
			fl_err_prefix(err, "cannot load identity");
		goto cleanup;
	}
	if ((rc = copy_str(out->device_id, sizeof(out->device_id), o, "device_id", err)) < 0 ||
	    (rc = copy_str(out->keyid, sizeof(out->keyid), o, "keyid", err)) < 0 ||
	    (rc = copy_str(out->server, sizeof(out->server), o, "server", err)) < 0 ||
	    (rc = copy_str(out->state, sizeof(out->state), o, "state", err)) < 0 ||
	    (rc = fl_json_int(&out->enrolled_at, o, "enrolled_at", 1, err)) < 0)
		goto bad;
	if (!fl_id_valid(out->device_id)) {
		rc = fl_err_set(err, FL_EINVAL, "bad device_id '%s'", out->device_id);
		goto bad;
	}
	goto cleanup;
bad:
	ag_state_path(path, sizeof(path), dir, AG_IDENTITY_FILE, NULL);
	fl_err_prefix(err, "cannot load identity: '%s' is corrupt", path);
cleanup:
	json_decref(o);
	return rc;
}

int ag_state_save_identity(const struct ag_identity *id, const char *dir, struct fl_err *err)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:s}", "device_id", id->device_id, "keyid",
			      id->keyid, "server", id->server, "enrolled_at",
			      (json_int_t)id->enrolled_at, "state", id->state);
	int rc;

	if (!o)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	rc = ag_state_write_json(dir, AG_IDENTITY_FILE, o, err);
	json_decref(o);
	return rc;
}

int ag_state_load_desired(json_t **desired, int64_t *version, const char *dir, struct fl_err *err)
{
	json_t *o = NULL, *d = NULL;
	int64_t v = 0;
	int rc;

	*desired = NULL;
	*version = 0;
	rc = ag_state_read_json(&o, dir, AG_DESIRED_FILE, STATE_MAX, err);
	if (rc == FL_ENOTFOUND) {
		fl_err_clear(err);
		if (!(*desired = json_object()))
			return fl_err_set(err, FL_ENOMEM, "out of memory");
		return 0;
	}
	if (rc < 0)
		return rc;
	if ((rc = fl_json_int(&v, o, "desired_version", 1, err)) < 0 ||
	    (rc = fl_json_obj(&d, o, "desired", 1, err)) < 0) {
		fl_err_prefix(err, "'%s' is corrupt", AG_DESIRED_FILE);
		goto cleanup;
	}
	*desired = json_incref(d);
	*version = v;
cleanup:
	json_decref(o);
	return rc;
}

int ag_state_save_desired(const char *dir, const json_t *desired, int64_t version,
			  struct fl_err *err)
{
	json_t *o = json_pack("{s:I,s:O}", "desired_version", (json_int_t)version, "desired",
			      (json_t *)(uintptr_t)desired);
	int rc;

	if (!o)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	rc = ag_state_write_json(dir, AG_DESIRED_FILE, o, err);
	json_decref(o);
	return rc;
}

int ag_state_load_results(json_t **out, const char *dir, struct fl_err *err)
{
	json_t *o = NULL;
	int rc;

	*out = NULL;
	rc = ag_state_read_json(&o, dir, AG_RESULTS_FILE, STATE_MAX, err);
	if (rc == FL_ENOTFOUND) {
		fl_err_clear(err);
		if (!(*out = json_pack("{s:[]}", "pending")))
			return fl_err_set(err, FL_ENOMEM, "out of memory");
		return 0;
	}
	if (rc < 0)
		return rc;
	if (!json_is_array(json_object_get(o, "pending"))) {
		json_decref(o);
		return fl_err_set(err, FL_EINVAL, "'%s' is corrupt: no pending list",
				  AG_RESULTS_FILE);
	}
	*out = o;
	return 0;
}

int ag_state_save_results(const char *dir, const json_t *results, struct fl_err *err)
{
	return ag_state_write_json(dir, AG_RESULTS_FILE, results, err);
}

#include "agent/download.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/crash.h"
#include "agent/state.h"
#include "fairlead/crypto.h"
#include "fairlead/fs.h"
#include "fairlead/log.h"

#define PART_SUFFIX ".part"
#define CHUNK	    65536

struct sink {
	int fd;
	struct fl_sha256_ctx sha;
	int64_t have;
	int failed;  /* errno of a failed write */
	int stopped; /* progress asked to stop */
	const struct ag_download_opts *o;
};

static int open_slot(int *dfd, const char *slot_path, struct fl_err *err)
{
	*dfd = open(slot_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*dfd < 0)
		return fl_err_set(err, FL_ERROR, "cannot open slot '%s': %s", slot_path,
				  strerror(errno));
	return 0;
}

/* Opens name in the slot without following a link, and insists on a
 * regular file: a FIFO or device would block or leak elsewhere. */
static int open_file(int *fd, int dfd, const char *name, int flags, struct fl_err *err)
{
	struct stat st;

	*fd = openat(dfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
	if (*fd < 0) {
		if (errno == ENOENT)
			return fl_err_set(err, FL_ENOTFOUND, "'%s' is absent", name);
		if (errno == ELOOP)
			return fl_err_set(err, FL_EFORBIDDEN, "'%s' in the slot is a symlink",
					  name);
		return fl_err_set(err, FL_ERROR, "cannot open '%s': %s", name, strerror(errno));
	}
	if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink > 1) {
		close(*fd);
		*fd = -1;
		return fl_err_set(err, FL_EFORBIDDEN, "'%s' in the slot is not a plain file", name);
	}
	return 0;
}

/* Hashes up to limit bytes of fd from the start; *n receives the count
 * (more than limit when the file is longer). */
static int hash_fd(struct fl_sha256_ctx *sha, int64_t *n, int fd, int64_t limit, struct fl_err *err)
{
	unsigned char buf[CHUNK];

	fl_sha256_begin(sha);
	*n = 0;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return fl_err_set(err, FL_ERROR, "seek: %s", strerror(errno));
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fl_err_set(err, FL_ERROR, "read: %s", strerror(errno));
		if (r == 0)
			return 0;
		if (*n + r > limit) {
			*n += r;
			return 0;
		}
		fl_sha256_update(sha, buf, (size_t)r);
		*n += r;
	}
}

static int digest_matches(struct fl_sha256_ctx *sha, const char *want_hex)
{
	uint8_t d[FL_SHA256_LEN];
	char hex[65];

	fl_sha256_end(sha, d);
	fl_hex_encode(hex, d, sizeof(d));
	return strcmp(hex, want_hex) == 0;
}

int ag_download_check(const char *slot_path, const struct fl_trust_artifact *a, struct fl_err *err)
{
	struct fl_sha256_ctx sha;
	int64_t n = 0;
	int dfd = -1, fd = -1, rc;

	if (!fl_trust_artifact_name_valid(a->name))
		return fl_err_set(err, FL_EFORBIDDEN, "unsafe artifact name");
	if ((rc = open_slot(&dfd, slot_path, err)) < 0 ||
	    (rc = open_file(&fd, dfd, a->name, O_RDONLY, err)) < 0 ||
	    (rc = hash_fd(&sha, &n, fd, a->length, err)) < 0)
		goto cleanup;
	if (n != a->length)
		rc = fl_err_set(err, FL_EINVAL, "artifact '%s' is %lld bytes, signed %lld", a->name,
				(long long)n, (long long)a->length);
	else if (!digest_matches(&sha, a->sha256))
		rc = fl_err_set(err, FL_EINVAL, "artifact '%s' does not match its signed sha256",
				a->name);
cleanup:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

static int sink_write(void *ctx, const void *data, size_t len)
{
	struct sink *s = ctx;
	const char *p = data;
	size_t left = len;

	while (left > 0) {
		ssize_t w = write(s->fd, p, left);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			s->failed = errno;
			return 1;
		}
		p += w;
		left -= (size_t)w;
	}
	fl_sha256_update(&s->sha, data, len);
	s->have += (int64_t)len;
	ag_crash_point("download");
	if (s->o->progress && s->o->progress(s->o->progress_ctx, s->have) != 0) {
		s->stopped = 1;
		return 1;
	}
	return 0;
}

/* Starts the part over: a server that ignored Range, or a part that is
 * longer than the signed length. */
static int restart_part(struct sink *s, struct fl_err *err)
{
	if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) < 0)
		return fl_err_set(err, FL_ERROR, "cannot truncate a part file: %s",
				  strerror(errno));
	fl_sha256_begin(&s->sha);
	s->have = 0;
	return 0;
}

/* Moves a complete, verified part to its final name durably. */
static int finish(int dfd, int fd, const char *part, const char *name, const char *slot_path,
		  struct fl_err *err)
{
	if (fsync(fd) != 0)
		return fl_err_set(err, FL_ERROR, "fsync '%s': %s", part, strerror(errno));
	if (renameat(dfd, part, dfd, name) != 0)
		return fl_err_set(err, FL_ERROR, "cannot rename '%s': %s", part, strerror(errno));
	return fl_fs_sync_dir(slot_path, err);
}

int ag_download_artifact(struct ag_transport *t, const char *slot_path,
			 const struct fl_trust_artifact *a, const struct ag_download_opts *o,
			 struct fl_err *err)
{
	struct ag_download_opts def = *o;
	struct sink s = {.fd = -1, .o = &def};
	char part[160], target[128];
	int64_t backoff, n = 0;
	int dfd = -1, rc, attempt;

	if (!fl_trust_artifact_name_valid(a->name) || a->length < 0)
		return fl_err_set(err, FL_EFORBIDDEN, "unsafe artifact name or length");
	if (def.max_attempts <= 0)
		def.max_attempts = AG_DOWNLOAD_ATTEMPTS;
	if (def.backoff_ms <= 0)
		def.backoff_ms = AG_DOWNLOAD_BACKOFF_MS;
	if (def.low_speed_bps == 0)
		def.low_speed_bps = AG_DOWNLOAD_LOW_BPS;
	if (def.low_speed_s <= 0)
		def.low_speed_s = AG_DOWNLOAD_LOW_S;
	if (def.low_speed_bps < 0)
		def.low_speed_bps = 0;
	backoff = def.backoff_ms;
	snprintf(part, sizeof(part), "%s" PART_SUFFIX, a->name);
	snprintf(target, sizeof(target), "/api/v1/device/artifacts/%s", a->sha256);

	rc = ag_download_check(slot_path, a, err);
	if (rc == 0) {
		if (def.progress && def.progress(def.progress_ctx, a->length) != 0)
			return fl_err_set(err, FL_EAGAIN, "download stopped");
		return 0;
	}
	if (rc == FL_EFORBIDDEN || (rc != FL_ENOTFOUND && rc != FL_EINVAL))
		return rc;
	fl_err_clear(err);
	if ((rc = open_slot(&dfd, slot_path, err)) < 0)
		goto cleanup;
	/* A stale final file with wrong bytes goes; the part decides. */
	if (unlinkat(dfd, a->name, 0) != 0 && errno != ENOENT) {
		rc = fl_err_set(err, FL_ERROR, "cannot remove '%s': %s", a->name, strerror(errno));
		goto cleanup;
	}
	if ((rc = open_file(&s.fd, dfd, part, O_RDWR | O_CREAT, err)) < 0)
		goto cleanup;
	/* Resume: whatever survived a restart is hashed again, since the
	 * digest state died with the old process. */
	if ((rc = hash_fd(&s.sha, &n, s.fd, a->length, err)) < 0)
		goto cleanup;
	s.have = n;
	if (n > a->length && (rc = restart_part(&s, err)) < 0)
		goto cleanup;
	if (lseek(s.fd, 0, SEEK_END) < 0) {
		rc = fl_err_set(err, FL_ERROR, "seek: %s", strerror(errno));
		goto cleanup;
	}
	if (def.progress && def.progress(def.progress_ctx, s.have) != 0) {
		rc = fl_err_set(err, FL_EAGAIN, "download stopped");
		goto cleanup;
	}

	for (attempt = 1; s.have < a->length; attempt++) {
		long status = 0;

		rc = ag_transport_fetch(t, &status, target, s.have, a->length - s.have, sink_write,
					&s, def.low_speed_bps, def.low_speed_s, err);
		if (s.stopped) {
			/* Not a transfer failure: no retry, and the part stays for
			 * the resume. */
			rc = fl_err_set(err, FL_EAGAIN, "download of '%s' stopped at %lld bytes",
					a->name, (long long)s.have);
			goto cleanup;
		}
		if (s.failed) {
			rc = fl_err_set(err, FL_ERROR, "cannot write '%s': %s", part,
					strerror(s.failed));
			goto cleanup;
		}
		if (rc == FL_ETOOBIG) {
			/* The signed length is the contract: more is an attack or a
			 * different file, and retrying would not change that. */
			fl_err_prefix(err, "artifact '%s' longer than signed", a->name);
			goto cleanup;
		}
		if (rc == FL_ECONFLICT) {
			fl_log(FL_LOG_WARN, "server ignored Range for '%s'; starting over",
			       a->name);
			if ((rc = restart_part(&s, err)) < 0)
				goto cleanup;
		} else if (rc == 0 && s.have < a->length) {
			rc = fl_err_set(err, FL_ERROR,
					"artifact '%s': transfer ended at %lld of %lld bytes",
					a->name, (long long)s.have, (long long)a->length);
		}
		if (s.have >= a->length)
			break;
		if (attempt >= def.max_attempts) {
			if (rc == 0)
				rc = FL_ERROR;
			fl_err_prefix(err, "download gave up after %d attempts", attempt);
			goto cleanup;
		}
		fl_log(FL_LOG_WARN, "download of '%s' interrupted at %lld bytes (%s); retrying",
		       a->name, (long long)s.have, err ? err->msg : "");
		fl_err_clear(err);
		if (def.clock && def.clock->sleep_ms(def.clock->ctx, backoff)) {
			rc = fl_err_set(err, FL_EAGAIN, "stop requested during a download");
			goto cleanup;
		}
		backoff = backoff * 2 > 60000 ? 60000 : backoff * 2;
	}
	fl_err_clear(err);
	if (!digest_matches(&s.sha, a->sha256)) {
		/* Wrong bytes under the right length: start from scratch next time. */
		unlinkat(dfd, part, 0);
		rc = fl_err_set(err, FL_EINVAL, "artifact '%s' does not match its signed sha256",
				a->name);
		goto cleanup;
	}
	rc = finish(dfd, s.fd, part, a->name, slot_path, err);
cleanup:
	if (s.fd >= 0)
		close(s.fd);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

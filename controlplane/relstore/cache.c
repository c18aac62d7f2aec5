#include "relstore_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fairlead/crypto.h"
#include "fairlead/fs.h"
#include "fairlead/log.h"
#include "fairlead/util.h"

/* What a cache file was when its bytes last hashed right. Any write to it
 * changes its ctime, which nobody can set back: a file whose identity still
 * matches is the file that was checked. */
struct cp_cache_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

static void id_of(struct cp_cache_id *out, const struct stat *sb)
{
	memset(out, 0, sizeof(*out));
	out->dev = sb->st_dev;
	out->ino = sb->st_ino;
	out->size = sb->st_size;
	out->mtime = sb->st_mtim;
	out->ctime = sb->st_ctim;
}

static int id_eq(const struct cp_cache_id *a, const struct cp_cache_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

int cp_relstore_cache_init(struct cp_relstore *rs, struct fl_err *err)
{
	fl_map_init(&rs->verified);
	if (pthread_mutex_init(&rs->verify_lock, NULL) != 0)
		return fl_err_set(err, FL_ERROR, "cannot create the artifact cache lock");
	if (pthread_mutex_init(&rs->memo_lock, NULL) != 0) {
		pthread_mutex_destroy(&rs->verify_lock);
		return fl_err_set(err, FL_ERROR, "cannot create the artifact cache lock");
	}
	rs->cache_locks_ok = 1;
	return 0;
}

void cp_relstore_cache_release(struct cp_relstore *rs)
{
	const char *k;
	void *v;

	for (size_t i = 0; fl_map_next(&rs->verified, &i, &k, &v);)
		free(v);
	fl_map_release(&rs->verified);
	if (rs->cache_locks_ok) {
		pthread_mutex_destroy(&rs->memo_lock);
		pthread_mutex_destroy(&rs->verify_lock);
	}
}

/* Extractions killed half-way leave "<sha>.tmp-XXXXXXXXXXXX" files behind. */
void cp_relstore_cache_sweep(const char *cache_dir)
{
	DIR *d = opendir(cache_dir);
	struct dirent *e;
	char sub[PATH_MAX];

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strlen(e->d_name) == 2 && isxdigit((unsigned char)e->d_name[0]) &&
		    isxdigit((unsigned char)e->d_name[1]) &&
		    (size_t)snprintf(sub, sizeof(sub), "%s/%s", cache_dir, e->d_name) < sizeof(sub))
			fl_fs_sweep_tmp(sub, NULL, NULL);
	closedir(d);
}

/* --- the verification memo --- */

/* 1 when the file at path is, by identity, the one last found good. */
static int memo_hit(struct cp_relstore *rs, const char *sha, const char *path)
{
	struct cp_cache_id now;
	const struct cp_cache_id *was;
	struct stat sb;
	int hit;

	if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
		return 0;
	id_of(&now, &sb);
	pthread_mutex_lock(&rs->memo_lock);
	was = fl_map_get(&rs->verified, sha);
	hit = was && id_eq(was, &now);
	pthread_mutex_unlock(&rs->memo_lock);
	return hit;
}

/* Remembers sb as good (sb NULL: forgets). Out of memory only costs a hash
 * on the next request. */
static void memo_set(struct cp_relstore *rs, const char *sha, const struct stat *sb)
{
	struct cp_cache_id *v = NULL;
	void *old = NULL;

	if (sb && (v = malloc(sizeof(*v))))
		id_of(v, sb);
	pthread_mutex_lock(&rs->memo_lock);
	if (v && fl_map_put(&rs->verified, sha, v, &old) < 0) {
		free(v);
		old = fl_map_del(&rs->verified, sha);
	} else if (!v) {
		old = fl_map_del(&rs->verified, sha);
	}
	pthread_mutex_unlock(&rs->memo_lock);
	free(old);
}

/* Hashes the cache file in chunks: 1 when it matches sha, 0 when it does not
 * (or is gone), negative on an I/O error. *sb_out: the file as hashed. */
static int file_matches(struct stat *sb_out, const char *path, const char *sha, char *buf,
			struct fl_err *err)
{
	uint8_t want[FL_SHA256_LEN], got[FL_SHA256_LEN];
	struct fl_sha256_ctx h;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0
				       : fl_err_set(err, FL_ERROR, "cannot open '%s': %s", path,
						    strerror(errno));
	if (fstat(fd, sb_out) < 0 || !S_ISREG(sb_out->st_mode)) {
		close(fd);
		return 0;
	}
	fl_sha256_begin(&h);
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fl_err_set(err, FL_ERROR, "cannot read '%s': %s", path,
					strerror(errno));
			goto cleanup;
		}
		if (n == 0)
			break;
		fl_sha256_update(&h, buf, (size_t)n);
	}
	fl_sha256_end(&h, got);
	rc = fl_hex_decode(want, sizeof(want), sha) == 0 && fl_memeq(got, want, sizeof(got));
cleanup:
	close(fd);
	return rc;
}

/* --- extraction --- */

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct sink {
	int fd;
	const char *tmp;
	struct fl_sha256_ctx h;
};

static int sink_write(void *ctx, const void *p, size_t n, struct fl_err *err)
{
	struct sink *s = ctx;

	fl_sha256_update(&s->h, p, n);
	if (write_all(s->fd, p, n) < 0)
		return fl_err_set(err, FL_ERROR, "cannot write '%s': %s", s->tmp, strerror(errno));
	return 0;
}

/* A packed blob: libgit2 streams it (it cannot: FL_ERROR, see relstore.h). */
static int stream_packed(struct sink *s, struct cp_relstore *rs, const char *sha,
			 const git_oid *oid, char *buf, struct fl_err *err)
{
	git_odb_stream *st = NULL;
	git_object_t type;
	size_t len = 0, done = 0;
	int grc, rc = 0;

	if ((grc = git_odb_open_rstream(&st, &len, &type, rs->odb, oid)) < 0)
		return cp_relstore_git_fail(err, grc == GIT_ENOTFOUND ? FL_ERROR : grc,
					    "artifact %s: cannot stream its blob (repacked?)", sha);
	if (type != GIT_OBJECT_BLOB) {
		rc = fl_err_set(err, FL_ERROR, "artifact %s: not a blob", sha);
		goto cleanup;
	}
	while (done < len) {
		size_t want_n = len - done < CHUNK ? len - done : CHUNK;
		int n = git_odb_stream_read(st, buf, want_n);

		if (n < 0) {
			rc = cp_relstore_git_fail(err, n, "artifact %s: cannot read its blob", sha);
			goto cleanup;
		}
		if (n == 0 || (size_t)n > want_n) {
			rc = fl_err_set(err, FL_ERROR, "artifact %s: blob is truncated", sha);
			goto cleanup;
		}
		if ((rc = sink_write(s, buf, (size_t)n, err)) < 0)
			goto cleanup;
		done += (size_t)n;
	}
cleanup:
	git_odb_stream_free(st);
	return rc;
}

/* Streams the blob into a temp file next to path, checks its SHA-256 and
 * renames it into place, so that a reader sees all of it or nothing. */
static int extract(struct cp_relstore *rs, const char *path, const char *sha, const git_oid *oid,
		   char *buf, struct fl_err *err)
{
	char dir[PATH_MAX], tmp[PATH_MAX], rhex[13];
	uint8_t rnd[6], want[FL_SHA256_LEN], got[FL_SHA256_LEN];
	struct sink s = {.fd = -1, .tmp = tmp};
	git_object_t type;
	uint64_t size;
	struct stat sb;
	int rc = 0;

	snprintf(dir, sizeof(dir), "%s/%.2s", rs->cache_dir, sha);
	fl_random(rnd, sizeof(rnd));
	fl_hex_encode(rhex, rnd, sizeof(rnd));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%s", path, rhex) >= sizeof(tmp))
		return fl_err_set(err, FL_ETOOBIG, "artifact cache path is too long");
	if ((rc = fl_fs_mkdir_p(dir, 0755, err)) < 0)
		return rc;
	s.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (s.fd < 0)
		return fl_err_set(err, FL_ERROR, "cannot create '%s': %s", tmp, strerror(errno));
	fl_sha256_begin(&s.h);
	/* Loose objects (all the store writes) are read here, bounded: libgit2
	 * spins forever on a truncated one. */
	rc = cp_relstore_loose_read(&type, &size, rs, oid, 0, sink_write, &s, err);
	if (rc == FL_ENOTFOUND)
		rc = stream_packed(&s, rs, sha, oid, buf, err);
	else if (rc == 0 && type != GIT_OBJECT_BLOB)
		rc = fl_err_set(err, FL_ERROR, "artifact %s: not a blob", sha);
	if (rc < 0)
		goto cleanup;
	fl_sha256_end(&s.h, got);
	/* The repository is trusted no more than the network: what is served
	 * must be what was signed. */
	if (fl_hex_decode(want, sizeof(want), sha) < 0 || !fl_memeq(got, want, sizeof(got))) {
		rc = fl_err_set(err, FL_ERROR, "artifact %s: blob does not match its sha256", sha);
		goto cleanup;
	}
	if (fsync(s.fd) < 0 || close(s.fd) < 0) {
		s.fd = -1;
		rc = fl_err_set(err, FL_ERROR, "cannot write '%s': %s", tmp, strerror(errno));
		goto cleanup;
	}
	s.fd = -1;
	if (rename(tmp, path) < 0) {
		rc = fl_err_set(err, FL_ERROR, "cannot rename '%s': %s", tmp, strerror(errno));
		goto cleanup;
	}
	tmp[0] = '\0';
	if ((rc = fl_fs_sync_dir(dir, err)) < 0)
		goto cleanup;
	/* Hashed on the way in: good as it lands. */
	if (stat(path, &sb) == 0)
		memo_set(rs, sha, &sb);
cleanup:
	if (s.fd >= 0)
		close(s.fd);
	if (tmp[0])
		unlink(tmp);
	return rc;
}

/* Under verify_lock: the cache file is good, or made good from git. */
static int verify_or_restore(struct cp_relstore *rs, const char *path, const char *sha,
			     struct fl_err *err)
{
	const git_oid *oid;
	struct stat sb;
	char *buf = malloc(CHUNK);
	int damaged = 0, rc;

	if (!buf)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	/* Another thread may have checked or extracted it while this one waited. */
	if (memo_hit(rs, sha, path)) {
		rc = 0;
		goto cleanup;
	}
	rc = file_matches(&sb, path, sha, buf, err);
	if (rc < 0)
		goto cleanup;
	if (rc == 1) {
		memo_set(rs, sha, &sb);
		rc = 0;
		goto cleanup;
	}
	memo_set(rs, sha, NULL);
	damaged = access(path, F_OK) == 0;
	if (damaged)
		fl_log(FL_LOG_WARN,
		       "artifact cache file %s does not match its sha256: re-extracting", path);
	pthread_mutex_lock(&rs->lock);
	oid = fl_map_get(&rs->index, sha);
	if (!oid)
		rc = fl_err_set(err, FL_ENOTFOUND, "artifact %s", sha);
	else
		rc = extract(rs, path, sha, oid, buf, err);
	pthread_mutex_unlock(&rs->lock);
	if (rc < 0 && rc != FL_ENOTFOUND && rc != FL_ENOMEM && rc != FL_ETOOBIG) {
		char why[sizeof(err->msg)];

		/* Bad bytes are never served: away with them, and the next request
		 * tries git again. */
		if (damaged)
			unlink(path);
		/* The cause names server paths: the log has it, the client a summary. */
		snprintf(why, sizeof(why), "%s", err ? err->msg : "?");
		fl_log(FL_LOG_ERROR, "artifact %s cannot be restored from git: %s", sha, why);
		rc = fl_err_set(err, FL_EUNAVAIL,
				"artifact %s is unavailable: its cached copy is damaged or missing "
				"and git cannot restore it (see the server log)",
				sha);
	}
cleanup:
	free(buf);
	return rc;
}

int cp_relstore_artifact_path(char *out, size_t cap, struct cp_relstore *rs, const char *sha256_hex,
			      struct fl_err *err)
{
	int rc;

	if (!cp_relstore_sha_hex_valid(sha256_hex))
		return fl_err_set(err, FL_EINVAL, "artifact hash is not 64 lower-case hex digits");
	if ((size_t)snprintf(out, cap, "%s/%.2s/%s", rs->cache_dir, sha256_hex, sha256_hex) >= cap)
		return fl_err_set(err, FL_ETOOBIG, "artifact cache path is too long");
	/* The hot path: a stat and a lookup, no hashing and no git. */
	if (memo_hit(rs, sha256_hex, out))
		return 0;
	pthread_mutex_lock(&rs->verify_lock);
	rc = verify_or_restore(rs, out, sha256_hex, err);
	pthread_mutex_unlock(&rs->verify_lock);
	return rc;
}

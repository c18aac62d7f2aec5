#include "fairlead/fs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fairlead/crypto.h"

static int dir_of(char *out, size_t cap, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		snprintf(out, cap, ".");
		return 0;
	}
	if ((size_t)(slash - path) + 1 > cap)
		return FL_EINVAL;
	if (slash == path) {
		snprintf(out, cap, "/");
		return 0;
	}
	memcpy(out, path, (size_t)(slash - path));
	out[slash - path] = '\0';
	return 0;
}

int fl_fs_sync_dir(const char *dir, struct fl_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return fl_err_set(err, FL_ERROR, "cannot open directory '%s': %s", dir,
				  strerror(errno));
	if (fsync(fd) != 0)
		rc = fl_err_set(err, FL_ERROR, "cannot sync directory '%s': %s", dir,
				strerror(errno));
	close(fd);
	return rc;
}

int fl_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		       struct fl_err *err)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	unsigned char rnd[6];
	char rhex[13];
	const char *p = data;
	size_t left = len;
	int fd = -1, rc = 0;

	if (dir_of(dir, sizeof(dir), path) < 0)
		return fl_err_set(err, FL_EINVAL, "path too long '%s'", path);
	fl_random(rnd, sizeof(rnd));
	fl_hex_encode(rhex, rnd, sizeof(rnd));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%s", path, rhex) >= sizeof(tmp))
		return fl_err_set(err, FL_EINVAL, "path too long '%s'", path);

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return fl_err_set(err, FL_ERROR, "cannot create '%s': %s", tmp, strerror(errno));
	/* open() applies the umask; the caller's mode (0600 for keys) is a promise. */
	if (fchmod(fd, mode) != 0) {
		rc = fl_err_set(err, FL_ERROR, "cannot chmod '%s': %s", tmp, strerror(errno));
		goto cleanup;
	}
	while (left > 0) {
		ssize_t n = write(fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fl_err_set(err, FL_ERROR, "cannot write '%s': %s", tmp,
					strerror(errno));
			goto cleanup;
		}
		p += n;
		left -= (size_t)n;
	}
	if (fsync(fd) != 0) {
		rc = fl_err_set(err, FL_ERROR, "cannot sync '%s': %s", tmp, strerror(errno));
		goto cleanup;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = fl_err_set(err, FL_ERROR, "cannot rename '%s' to '%s': %s", tmp, path,
				strerror(errno));
		goto cleanup;
	}
	rc = fl_fs_sync_dir(dir, err);
	return rc;

cleanup:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

static int is_tmp_name(const char *name)
{
	const char *t = strstr(name, ".tmp-");
	size_t n = 0;

	if (!t || t == name)
		return 0;
	for (t += 5; *t; t++, n++)
		if (!isxdigit((unsigned char)*t))
			return 0;
	return n == 12;
}

int fl_fs_sweep_tmp(const char *dir, int *removed, struct fl_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX];
	int n = 0;

	if (removed)
		*removed = 0;
	if (!d)
		return fl_err_set(err, FL_ERROR, "cannot open directory '%s': %s", dir,
				  strerror(errno));
	while ((e = readdir(d)))
		if (is_tmp_name(e->d_name) &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path) &&
		    unlink(path) == 0)
			n++;
	closedir(d);
	if (removed)
		*removed = n;
	return 0;
}

int fl_fs_read(struct fl_buf *b, const char *path, struct fl_err *err)
{
	char chunk[8192];
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return fl_err_set(err, FL_ENOTFOUND, "'%s' does not exist", path);
		return fl_err_set(err, FL_ERROR, "cannot open '%s': %s", path, strerror(errno));
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fl_err_set(err, FL_ERROR, "cannot read '%s': %s", path,
					strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if ((rc = fl_buf_put(b, chunk, (size_t)n)) < 0) {
			fl_err_set(err, rc, "'%s' is too large", path);
			break;
		}
	}
	close(fd);
	if (rc == 0 && !b->ptr)
		rc = fl_buf_put(b, "", 0);
	return rc;
}

int fl_fs_mkdir_p(const char *path, mode_t mode, struct fl_err *err)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return fl_err_set(err, FL_EINVAL, "bad directory path");
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return fl_err_set(err, FL_ERROR, "cannot create '%s': %s", tmp,
					  strerror(errno));
		*p = '/';
	}
	if (mkdir(tmp, mode) != 0 && errno != EEXIST)
		return fl_err_set(err, FL_ERROR, "cannot create '%s': %s", tmp, strerror(errno));
	return 0;
}

int fl_fs_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

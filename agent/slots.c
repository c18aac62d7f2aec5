#include "agent/slots.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fairlead/fs.h"
#include "fairlead/util.h"
#include "agent/state.h"

#define LINK_TMP  "current.tmp"
#define MAX_DEPTH 32

int ag_slots_path(char *out, size_t cap, const char *dir, const char *name, const char *slot,
		  struct fl_err *err)
{
	int n;

	/* The name comes from a signed release, but it still becomes a path
	 * component: "..", "/" or "" must never reach the file system. */
	if (!name || !fl_id_valid(name))
		return fl_err_set(err, FL_EINVAL, "'%.64s' is not a valid release name",
				  name ? name : "");
	n = snprintf(out, cap, "%s/" AG_SLOTS_DIR "/%s/%s", dir, name, slot);
	if (n < 0 || (size_t)n >= cap)
		return fl_err_set(err, FL_EINVAL, "slot path too long under '%s'", dir);
	return 0;
}

int ag_slots_init(const char *dir, const char *name, struct fl_err *err)
{
	char path[AG_PATH_MAX];
	int rc;

	if ((rc = ag_slots_path(path, sizeof(path), dir, name, "A", err)) < 0 ||
	    (rc = fl_fs_mkdir_p(path, 0755, err)) < 0 ||
	    (rc = ag_slots_path(path, sizeof(path), dir, name, "B", err)) < 0 ||
	    (rc = fl_fs_mkdir_p(path, 0755, err)) < 0)
		return rc;
	return 0;
}

const char *ag_slots_other(const char *slot)
{
	return strcmp(slot, "A") == 0 ? "B" : "A";
}

int ag_slots_current(char out[2], const char *dir, const char *name, struct fl_err *err)
{
	char path[AG_PATH_MAX], target[8];
	ssize_t n;
	int rc;

	out[0] = '\0';
	if ((rc = ag_slots_path(path, sizeof(path), dir, name, AG_SLOTS_CURRENT, err)) < 0)
		return rc;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		return fl_err_set(err, FL_ERROR, "cannot read '%s': %s", path, strerror(errno));
	}
	target[n] = '\0';
	if (strcmp(target, "A") != 0 && strcmp(target, "B") != 0)
		return fl_err_set(err, FL_EINVAL, "'%s' points to '%s', not to A or B", path,
				  target);
	memcpy(out, target, 2);
	return 0;
}

int ag_slots_point(const char *dir, const char *name, const char *slot, struct fl_err *err)
{
	char base[AG_PATH_MAX], cur[AG_PATH_MAX], tmp[AG_PATH_MAX];
	int rc;

	if ((rc = ag_slots_path(base, sizeof(base), dir, name, "", err)) < 0 ||
	    (rc = ag_slots_path(cur, sizeof(cur), dir, name, AG_SLOTS_CURRENT, err)) < 0 ||
	    (rc = ag_slots_path(tmp, sizeof(tmp), dir, name, LINK_TMP, err)) < 0)
		return rc;
	if (!*slot) {
		if (unlink(cur) != 0 && errno != ENOENT)
			return fl_err_set(err, FL_ERROR, "cannot remove '%s': %s", cur,
					  strerror(errno));
		return fl_fs_sync_dir(base, err);
	}
	/* A link left by a kill between symlink() and rename() is stale. */
	if (unlink(tmp) != 0 && errno != ENOENT)
		return fl_err_set(err, FL_ERROR, "cannot remove '%s': %s", tmp, strerror(errno));
	if (symlink(slot, tmp) != 0)
		return fl_err_set(err, FL_ERROR, "cannot create '%s': %s", tmp, strerror(errno));
	/* rename(2) replaces the old link in one step: readers see old or new. */
	if (rename(tmp, cur) != 0)
		return fl_err_set(err, FL_ERROR, "cannot switch '%s': %s", cur, strerror(errno));
	return fl_fs_sync_dir(base, err);
}

static int kept(const char *name, const char *const *keep, size_t nkeep)
{
	for (size_t i = 0; i < nkeep; i++)
		if (strcmp(name, keep[i]) == 0)
			return 1;
	return 0;
}

/* Empties the directory open at dfd (which it closes), depth-first. */
static int clear_fd(int dfd, const char *const *keep, size_t nkeep, int depth, struct fl_err *err)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		close(dfd);
		return fl_err_set(err, FL_ERROR, "cannot read a slot directory: %s",
				  strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    kept(de->d_name, keep, nkeep))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* gone meanwhile */
		if (S_ISDIR(st.st_mode)) {
			int sub;

			if (depth >= MAX_DEPTH) {
				rc = fl_err_set(err, FL_ETOOBIG, "slot tree deeper than %d",
						MAX_DEPTH);
				break;
			}
			sub = openat(dirfd(d), de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0 || (rc = clear_fd(sub, NULL, 0, depth + 1, err)) < 0) {
				if (sub < 0)
					rc = fl_err_set(err, FL_ERROR, "cannot open '%s': %s",
							de->d_name, strerror(errno));
				break;
			}
			if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) != 0) {
				rc = fl_err_set(err, FL_ERROR, "cannot remove '%s': %s", de->d_name,
						strerror(errno));
				break;
			}
		} else if (unlinkat(dirfd(d), de->d_name, 0) != 0) {
			rc = fl_err_set(err, FL_ERROR, "cannot remove '%s': %s", de->d_name,
					strerror(errno));
			break;
		}
	}
	closedir(d);
	return rc;
}

int ag_slots_clear(const char *dir, const char *name, const char *slot, const char *const *keep,
		   size_t nkeep, struct fl_err *err)
{
	char path[AG_PATH_MAX];
	int rc, dfd;

	if ((rc = ag_slots_path(path, sizeof(path), dir, name, slot, err)) < 0)
		return rc;
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return fl_err_set(err, FL_ERROR, "cannot open slot '%s': %s", path,
				  strerror(errno));
	if ((rc = clear_fd(dfd, keep, nkeep, 0, err)) < 0)
		return rc;
	return fl_fs_sync_dir(path, err);
}

/* A link target stays inside the slot when it is relative and has no ".."
 * component: then it can only descend from the link's own directory, and
 * every link it passes through obeys the same rule. A lexical check that
 * allows ".." is not enough, because "x/.." is the parent of wherever the
 * link x leads, not the directory holding x. */
static int link_target_ok(const char *t)
{
	const char *p = t;

	if (!*t || *t == '/')
		return 0;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		p += n;
		while (*p == '/')
			p++;
	}
	return 1;
}

static int check_fd(int dfd, int depth, struct fl_err *err)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		close(dfd);
		return fl_err_set(err, FL_ERROR, "cannot read a slot directory: %s",
				  strerror(errno));
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char target[AG_PATH_MAX];
		struct stat st;
		ssize_t n;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = fl_err_set(err, FL_ERROR, "cannot stat '%.128s': %s", de->d_name,
					strerror(errno));
		} else if (S_ISLNK(st.st_mode)) {
			n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
			if (n < 0 || (target[n] = '\0', !link_target_ok(target)))
				rc = fl_err_set(err, FL_EFORBIDDEN,
						"slot holds symlink '%.128s' pointing outside it",
						de->d_name);
		} else if (S_ISDIR(st.st_mode)) {
			int sub;

			if (depth >= MAX_DEPTH)
				rc = fl_err_set(err, FL_ETOOBIG, "slot tree deeper than %d",
						MAX_DEPTH);
			else if ((sub = openat(dirfd(d), de->d_name,
					       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
				 0)
				rc = fl_err_set(err, FL_ERROR, "cannot open '%.128s': %s",
						de->d_name, strerror(errno));
			else
				rc = check_fd(sub, depth + 1, err);
		} else if (!S_ISREG(st.st_mode)) {
			rc = fl_err_set(err, FL_EFORBIDDEN,
					"slot holds '%.128s', which is not a file, directory or "
					"symlink",
					de->d_name);
		} else if (st.st_nlink > 1) {
			/* A hard link may share its inode with a file outside. */
			rc = fl_err_set(err, FL_EFORBIDDEN, "slot holds hard-linked file '%.128s'",
					de->d_name);
		}
	}
	closedir(d);
	return rc;
}

int ag_slots_check(const char *slot_path, struct fl_err *err)
{
	int dfd = open(slot_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (dfd < 0)
		return fl_err_set(err, FL_ERROR, "cannot open slot '%s': %s", slot_path,
				  strerror(errno));
	return check_fd(dfd, 0, err);
}

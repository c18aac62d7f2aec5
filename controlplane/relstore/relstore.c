#include "relstore.h"

#include <git2.h>
#include <stdio.h>

#include "fairlead/fs.h"

int cp_relstore_init(const char *path, struct fl_err *err)
{
	git_repository *repo = NULL;
	char head[1100];
	int rc = 0;

	snprintf(head, sizeof(head), "%s/HEAD", path);
	if (fl_fs_exists(head))
		return fl_err_set(err, FL_EEXISTS, "release repository '%s' already exists", path);
	git_libgit2_init();
	if (git_repository_init(&repo, path, 1) < 0) {
		const git_error *e = git_error_last();

		rc = fl_err_set(err, FL_ERROR, "cannot create release repository '%s': %s", path,
				e ? e->message : "?");
	}
	git_repository_free(repo);
	git_libgit2_shutdown();
	return rc;
}

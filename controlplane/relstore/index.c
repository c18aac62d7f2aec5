#include "relstore_int.h"

#include <stdlib.h>
#include <string.h>

/* SHA256SUMS is ours and small; a bigger one is not ours. */
#define SUMS_MAX ((size_t)1024 * 1024)

int cp_relstore_index_put(struct cp_relstore *rs, const char *sha, const git_oid *oid,
			  struct fl_err *err)
{
	git_oid *v;
	void *old = NULL;

	if (fl_map_get(&rs->index, sha))
		return 0; /* same content, same blob */
	v = malloc(sizeof(*v));
	if (!v)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	git_oid_cpy(v, oid);
	if (fl_map_put(&rs->index, sha, v, &old) < 0) {
		free(v);
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	free(old);
	return 0;
}

/* Checks what libgit2 reads of one release commit, here or when serving,
 * before it reads any of it: its tree, the top-level files, artifacts/ and
 * the artifacts' headers (their whole bytes are checked as they are
 * extracted; reading gigabytes at every start would not scale). */
static int commit_check(struct cp_relstore *rs, const git_commit *commit, struct fl_err *err)
{
	git_tree *tree = NULL, *arts = NULL;
	int grc, rc;

	if ((rc = cp_relstore_object_check(rs, git_commit_tree_id(commit), GIT_OBJECT_TREE, 0,
					   err)) < 0)
		return rc;
	if ((grc = git_commit_tree(&tree, commit)) < 0)
		return cp_relstore_git_fail(err, grc, "release commit tree");
	for (size_t i = 0; i < git_tree_entrycount(tree); i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		git_object_t type = git_tree_entry_type(e);

		if (type != GIT_OBJECT_BLOB && type != GIT_OBJECT_TREE)
			continue; /* a submodule's commit lives elsewhere */
		if ((rc = cp_relstore_object_check(rs, git_tree_entry_id(e), type, 0, err)) < 0)
			goto cleanup;
		if (type != GIT_OBJECT_TREE || strcmp(git_tree_entry_name(e), ART_DIR) != 0)
			continue;
		if ((grc = git_tree_lookup(&arts, rs->repo, git_tree_entry_id(e))) < 0) {
			rc = cp_relstore_git_fail(err, grc, "release commit tree " ART_DIR);
			goto cleanup;
		}
		for (size_t j = 0; j < git_tree_entrycount(arts); j++) {
			const git_tree_entry *a = git_tree_entry_byindex(arts, j);

			if ((rc = cp_relstore_object_check(rs, git_tree_entry_id(a),
							   git_tree_entry_type(a), 1, err)) < 0)
				goto cleanup;
		}
		git_tree_free(arts);
		arts = NULL;
	}
cleanup:
	git_tree_free(arts);
	git_tree_free(tree);
	return rc;
}

/* Adds the artifacts that one release commit's SHA256SUMS lists; the
 * commit passed commit_check. */
static int index_commit(struct cp_relstore *rs, const git_commit *commit, struct fl_err *err)
{
	git_tree *tree = NULL;
	git_blob *sums = NULL;
	git_tree_entry *art = NULL;
	const git_tree_entry *e;
	char *text = NULL;
	char *line, *save = NULL;
	char hex[GIT_OID_HEXSZ + 1];
	int grc, rc = 0;

	git_oid_tostr(hex, sizeof(hex), git_commit_id(commit));
	if ((grc = git_commit_tree(&tree, commit)) < 0) {
		rc = cp_relstore_git_fail(err, grc, "release commit %s", hex);
		goto exit;
	}
	e = git_tree_entry_byname(tree, SUMS_FILE);
	if (!e)
		goto exit; /* no artifacts in this release */
	if ((grc = git_blob_lookup(&sums, rs->repo, git_tree_entry_id(e))) < 0) {
		rc = cp_relstore_git_fail(err, grc, "release commit %s: " SUMS_FILE, hex);
		goto exit;
	}
	if ((size_t)git_blob_rawsize(sums) > SUMS_MAX) {
		rc = fl_err_set(err, FL_ERROR, "release commit %s: " SUMS_FILE " is too big", hex);
		goto exit;
	}
	text = strndup(git_blob_rawcontent(sums), (size_t)git_blob_rawsize(sums));
	if (!text) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto exit;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* "<64 hex>  artifacts/<name>", as relstore_commit writes it. */
		if (strlen(line) < 66 || line[64] != ' ' || line[65] != ' ') {
			rc = fl_err_set(err, FL_ERROR, "release commit %s: malformed " SUMS_FILE,
					hex);
			goto exit;
		}
		line[64] = '\0';
		if (!cp_relstore_sha_hex_valid(line) ||
		    git_tree_entry_bypath(&art, tree, line + 66) < 0 ||
		    git_tree_entry_type(art) != GIT_OBJECT_BLOB) {
			rc = fl_err_set(err, FL_ERROR,
					"release commit %s: " SUMS_FILE " names a missing artifact",
					hex);
			goto exit;
		}
		if ((rc = cp_relstore_index_put(rs, line, git_tree_entry_id(art), err)) < 0)
			goto exit;
		git_tree_entry_free(art);
		art = NULL;
	}
exit:
	git_tree_entry_free(art);
	free(text);
	git_blob_free(sums);
	git_tree_free(tree);
	return rc;
}

static int todo_push(git_oid **v, size_t *n, size_t *cap, const git_oid *id, struct fl_err *err)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		git_oid *p = realloc(*v, c * sizeof(*p));

		if (!p)
			return fl_err_set(err, FL_ENOMEM, "out of memory");
		*v = p;
		*cap = c;
	}
	git_oid_cpy(&(*v)[(*n)++], id);
	return 0;
}

/* A commit that libgit2 may parse, with what it names: checked first, and
 * only once (*out NULL when seen already). */
static int commit_load(git_commit **out, struct cp_relstore *rs, struct fl_map *seen,
		       const git_oid *id, struct fl_err *err)
{
	char hex[GIT_OID_HEXSZ + 1];
	int grc, rc;

	*out = NULL;
	git_oid_tostr(hex, sizeof(hex), id);
	if (fl_map_get(seen, hex))
		return 0;
	if (fl_map_put(seen, hex, (void *)seen, NULL) < 0)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	if ((rc = cp_relstore_object_check(rs, id, GIT_OBJECT_COMMIT, 0, err)) < 0)
		return rc;
	if ((grc = git_commit_lookup(out, rs->repo, id)) < 0)
		return cp_relstore_git_fail(err, grc, "release commit %s", hex);
	if ((rc = commit_check(rs, *out, err)) < 0) {
		git_commit_free(*out);
		*out = NULL;
	}
	return rc;
}

/* The targets of the refs matching glob, resolved, onto the todo list. */
static int refs_push(git_oid **v, size_t *n, size_t *cap, struct cp_relstore *rs, const char *glob,
		     struct fl_err *err)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL, *res = NULL;
	int grc, rc = 0;

	if ((grc = git_reference_iterator_glob_new(&it, rs->repo, glob)) < 0)
		return cp_relstore_git_fail(err, grc, "cannot list %s", glob);
	while ((grc = git_reference_next(&ref, it)) == 0) {
		grc = git_reference_resolve(&res, ref);
		git_reference_free(ref);
		if (grc < 0) {
			rc = cp_relstore_git_fail(err, grc, "cannot resolve %s", glob);
			goto cleanup;
		}
		rc = todo_push(v, n, cap, git_reference_target(res), err);
		git_reference_free(res);
		if (rc < 0)
			goto cleanup;
	}
	if (grc != GIT_ITEROVER)
		rc = cp_relstore_git_fail(err, grc, "cannot list %s", glob);
cleanup:
	git_reference_iterator_free(it);
	return rc;
}

/* Every object the store reads is checked before libgit2 parses it, so a
 * damaged repository fails the open naming the object, and never hangs it.
 * No git_revwalk: it parses commits before anything could check them. */
int cp_relstore_index_rebuild(struct cp_relstore *rs, struct fl_err *err)
{
	struct fl_map seen;
	git_commit *commit = NULL;
	git_object *obj = NULL;
	git_oid *todo = NULL, id;
	size_t n = 0, cap = 0;
	int is_commit, grc, rc;

	fl_map_init(&seen);
	if ((rc = refs_push(&todo, &n, &cap, rs, BRANCH_PREFIX "*", err)) < 0)
		goto cleanup;
	while (n > 0) {
		id = todo[--n];
		if ((rc = commit_load(&commit, rs, &seen, &id, err)) < 0)
			goto cleanup;
		if (!commit)
			continue;
		if ((rc = index_commit(rs, commit, err)) < 0)
			goto cleanup;
		for (unsigned i = 0; i < git_commit_parentcount(commit); i++)
			if ((rc = todo_push(&todo, &n, &cap, git_commit_parent_id(commit, i),
					    err)) < 0)
				goto cleanup;
		git_commit_free(commit);
		commit = NULL;
	}
	/* Tags: the list peels them to their commits, read_meta to the trees. */
	if ((rc = refs_push(&todo, &n, &cap, rs, TAG_PREFIX "*", err)) < 0)
		goto cleanup;
	while (n > 0) {
		id = todo[--n];
		if ((rc = cp_relstore_object_check(rs, &id, GIT_OBJECT_ANY, 0, err)) < 0)
			goto cleanup;
		if ((grc = git_object_lookup(&obj, rs->repo, &id, GIT_OBJECT_ANY)) < 0) {
			rc = cp_relstore_git_fail(err, grc, "release tag");
			goto cleanup;
		}
		is_commit = git_object_type(obj) == GIT_OBJECT_COMMIT;
		if (git_object_type(obj) == GIT_OBJECT_TAG &&
		    git_tag_target_type((git_tag *)obj) == GIT_OBJECT_COMMIT) {
			git_oid_cpy(&id, git_tag_target_id((git_tag *)obj));
			is_commit = 1;
		}
		git_object_free(obj);
		obj = NULL;
		if (is_commit && (rc = commit_load(&commit, rs, &seen, &id, err)) < 0)
			goto cleanup;
		git_commit_free(commit);
		commit = NULL;
	}
cleanup:
	git_object_free(obj);
	git_commit_free(commit);
	free(todo);
	fl_map_release(&seen);
	return rc;
}

void cp_relstore_index_release(struct fl_map *m)
{
	const char *k;
	void *v;

	for (size_t i = 0; fl_map_next(m, &i, &k, &v);)
		free(v);
	fl_map_release(m);
}

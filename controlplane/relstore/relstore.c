#include "relstore.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fairlead/crypto.h"
#include "fairlead/fs.h"
#include "fairlead/relref.h"
#include "fairlead/util.h"
#include "relstore_int.h"

#define SIG_NAME  "Fairlead"
#define SIG_EMAIL "fairlead@localhost"
#define REF_MAX	  256
#define TAG_MAX	  130 /* "NAME/VERSION": 64 + 1 + 64 + NUL */

int cp_relstore_git_fail(struct fl_err *err, int grc, const char *fmt, ...)
{
	const git_error *e = git_error_last();
	char what[200];
	int code = FL_ERROR;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	switch (grc) {
	case GIT_ENOTFOUND: code = FL_ENOTFOUND; break;
	case GIT_EEXISTS: code = FL_EEXISTS; break;
	case GIT_EMODIFIED: code = FL_ECONFLICT; break;
	case GIT_EINVALIDSPEC: code = FL_EINVAL; break;
	default: break;
	}
	return fl_err_set(err, code, "%s: %s", what,
			  e && e->message ? e->message : "libgit2 error");
}

int cp_relstore_init(const char *path, struct fl_err *err)
{
	git_repository *repo = NULL;
	char head[1100];
	int rc = 0;

	snprintf(head, sizeof(head), "%s/HEAD", path);
	if (fl_fs_exists(head))
		return fl_err_set(err, FL_EEXISTS, "release repository '%s' already exists", path);
	git_libgit2_init();
	if (git_repository_init(&repo, path, 1) < 0)
		rc = cp_relstore_git_fail(err, FL_ERROR, "cannot create release repository '%s'",
					  path);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return rc;
}

/* --- validation: everything here ends up in ref names and tree paths --- */

static int version_valid(const char *v)
{
	size_t n = v ? strlen(v) : 0;

	if (n == 0 || n > 64 || !isalnum((unsigned char)v[0]) || !isalnum((unsigned char)v[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr(".+-", v[i]))
			return 0;
	return strstr(v, "..") == NULL;
}

/* Release names are git ref components: fl_relref_name_valid says so. */
static int name_valid(const char *name)
{
	return fl_relref_name_valid(name);
}

int cp_relstore_sha_hex_valid(const char *s)
{
	size_t i;

	for (i = 0; s && i < 64; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return 0;
	return s && i == 64 && s[64] == '\0';
}

static int lineage_valid(const struct cp_release_kv *kv)
{
	size_t n;

	if (!kv->key || !kv->value || !isalpha((unsigned char)kv->key[0]))
		return 0;
	for (n = 0; kv->key[n]; n++)
		if ((!isalnum((unsigned char)kv->key[n]) && kv->key[n] != '-') || n >= 32)
			return 0;
	/* Printable ASCII only: a newline would forge further trailer lines. */
	for (n = 0; kv->value[n]; n++)
		if (kv->value[n] < 0x20 || kv->value[n] > 0x7e || n >= 256)
			return 0;
	return n > 0;
}

static int names_unique(const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(names[i], names[j]) == 0)
				return 0;
	return 1;
}

static int release_validate(const struct cp_release_files *rel, struct fl_err *err)
{
	const char **names = NULL;
	size_t n = 0;
	int rc = 0;

	if (!name_valid(rel->name))
		return fl_err_set(err, FL_EINVAL, "release name is invalid");
	if (!version_valid(rel->version))
		return fl_err_set(err, FL_EINVAL, "release version is invalid");
	if (!rel->meta && rel->meta_len)
		return fl_err_set(err, FL_EINVAL, "release metadata is missing");
	for (size_t i = 0; i < rel->n_lineage; i++)
		if (!lineage_valid(&rel->lineage[i]))
			return fl_err_set(err, FL_EINVAL, "lineage line %zu is invalid", i + 1);
	names = calloc(rel->n_artifacts + rel->n_extra + 3, sizeof(*names));
	if (!names)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	for (size_t i = 0; i < rel->n_artifacts; i++) {
		const struct cp_release_artifact *a = &rel->artifacts[i];

		if (!name_valid(a->name) || !a->path || !cp_relstore_sha_hex_valid(a->sha256_hex)) {
			rc = fl_err_set(err, FL_EINVAL,
					"artifact %zu: invalid name, path or sha256", i + 1);
			goto exit;
		}
		names[n++] = a->name;
	}
	if (!names_unique(names, n)) {
		rc = fl_err_set(err, FL_EINVAL, "artifact names are not unique");
		goto exit;
	}
	/* Extra files share the top level with our own entries. */
	n = 0;
	names[n++] = META_FILE;
	names[n++] = SUMS_FILE;
	names[n++] = ART_DIR;
	for (size_t i = 0; i < rel->n_extra; i++) {
		const struct cp_release_blob *b = &rel->extra[i];

		if (!name_valid(b->name) || (!b->data && b->len)) {
			rc = fl_err_set(err, FL_EINVAL, "extra file %zu is invalid", i + 1);
			goto exit;
		}
		names[n++] = b->name;
	}
	if (!names_unique(names, n))
		rc = fl_err_set(err, FL_EINVAL, "extra file names clash");
exit:
	free(names);
	return rc;
}

/* --- open / free --- */

int cp_relstore_open(struct cp_relstore **out, const char *repo_path, const char *cache_dir,
		     struct fl_err *err)
{
	struct cp_relstore *rs;
	int grc, rc = 0;

	*out = NULL;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	fl_map_init(&rs->index);
	if (pthread_mutex_init(&rs->lock, NULL) != 0) {
		rc = fl_err_set(err, FL_ERROR, "cannot create the release store lock");
		goto exit;
	}
	rs->lock_ok = 1;
	if ((rc = cp_relstore_cache_init(rs, err)) < 0)
		goto exit;
	if (git_libgit2_init() < 0) {
		rc = cp_relstore_git_fail(err, FL_ERROR, "cannot initialise libgit2");
		goto exit;
	}
	rs->git_ok = 1;
	if (fl_crypto_init() < 0) {
		rc = fl_err_set(err, FL_ERROR, "cannot initialise libsodium");
		goto exit;
	}
	/* Objects must be on disk before a ref names them, or a power cut could
	 * leave a tag pointing at nothing. The option is process-wide, and this
	 * module is the process's only libgit2 user. */
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
	if ((grc = git_repository_open_bare(&rs->repo, repo_path)) < 0) {
		rc = cp_relstore_git_fail(err, grc, "cannot open release repository '%s'",
					  repo_path);
		goto exit;
	}
	if ((grc = git_repository_odb(&rs->odb, rs->repo)) < 0) {
		rc = cp_relstore_git_fail(err, grc, "release repository '%s'", repo_path);
		goto exit;
	}
	/* git_repository_path ends in '/'. */
	{
		size_t len = strlen(git_repository_path(rs->repo)) + sizeof("objects");

		if (!(rs->objects_dir = malloc(len))) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto exit;
		}
		snprintf(rs->objects_dir, len, "%sobjects", git_repository_path(rs->repo));
	}
	if ((rc = fl_fs_mkdir_p(cache_dir, 0755, err)) < 0)
		goto exit;
	rs->cache_dir = strdup(cache_dir);
	if (!rs->cache_dir) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto exit;
	}
	cp_relstore_cache_sweep(rs->cache_dir);
	if ((rc = cp_relstore_index_rebuild(rs, err)) < 0)
		goto exit;
	*out = rs;
	rs = NULL;
exit:
	cp_relstore_free(rs);
	return rc;
}

void cp_relstore_free(struct cp_relstore *rs)
{
	if (!rs)
		return;
	cp_relstore_index_release(&rs->index);
	cp_relstore_cache_release(rs);
	free(rs->objects_dir);
	git_odb_free(rs->odb);
	git_repository_free(rs->repo);
	free(rs->cache_dir);
	if (rs->lock_ok)
		pthread_mutex_destroy(&rs->lock);
	if (rs->git_ok)
		git_libgit2_shutdown();
	free(rs);
}

/* --- commit --- */

/* Streams the artifact file into a blob. The object only lands when the
 * bytes have exactly the signed length and SHA-256: before that they live in
 * libgit2's temp file, which git_odb_stream_free discards. */
static int stream_artifact(git_oid *out, struct cp_relstore *rs,
			   const struct cp_release_artifact *a, char *buf, struct fl_err *err)
{
	git_odb_stream *st = NULL;
	struct fl_sha256_ctx h;
	uint8_t want[FL_SHA256_LEN], got[FL_SHA256_LEN];
	uint64_t done = 0;
	struct stat sb;
	int fd, grc, rc = 0;

	fd = open(a->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fl_err_set(err, errno == ENOENT ? FL_ENOTFOUND : FL_ERROR,
				  "artifact '%s': cannot open '%s': %s", a->name, a->path,
				  strerror(errno));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		rc = fl_err_set(err, FL_EINVAL, "artifact '%s': '%s' is not a regular file",
				a->name, a->path);
		goto exit;
	}
	if ((grc = git_odb_open_wstream(&st, rs->odb, a->length, GIT_OBJECT_BLOB)) < 0) {
		rc = cp_relstore_git_fail(err, grc, "artifact '%s'", a->name);
		goto exit;
	}
	fl_sha256_begin(&h);
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fl_err_set(err, FL_ERROR, "artifact '%s': cannot read '%s': %s",
					a->name, a->path, strerror(errno));
			goto exit;
		}
		if (n == 0)
			break;
		/* Stop at the signed length rather than stream what nobody signed. */
		if ((uint64_t)n > a->length - done) {
			rc = fl_err_set(err, FL_EINVAL,
					"artifact '%s' is longer than its signed length %llu",
					a->name, (unsigned long long)a->length);
			goto exit;
		}
		fl_sha256_update(&h, buf, (size_t)n);
		if ((grc = git_odb_stream_write(st, buf, (size_t)n)) < 0) {
			rc = cp_relstore_git_fail(err, grc, "artifact '%s'", a->name);
			goto exit;
		}
		done += (uint64_t)n;
	}
	if (done != a->length) {
		rc = fl_err_set(err, FL_EINVAL,
				"artifact '%s' is %llu bytes, not its signed length %llu", a->name,
				(unsigned long long)done, (unsigned long long)a->length);
		goto exit;
	}
	fl_sha256_end(&h, got);
	if (fl_hex_decode(want, sizeof(want), a->sha256_hex) < 0 ||
	    !fl_memeq(got, want, sizeof(got))) {
		rc = fl_err_set(err, FL_EINVAL, "artifact '%s' does not match its signed sha256",
				a->name);
		goto exit;
	}
	if ((grc = git_odb_stream_finalize_write(out, st)) < 0)
		rc = cp_relstore_git_fail(err, grc, "artifact '%s'", a->name);
exit:
	git_odb_stream_free(st);
	close(fd);
	return rc;
}

/* The tree {release.json, SHA256SUMS, extra files, artifacts/...}. */
static int build_tree(git_oid *out, struct cp_relstore *rs, const struct cp_release_files *rel,
		      const git_oid *art_ids, struct fl_err *err)
{
	git_treebuilder *root = NULL, *arts = NULL;
	struct fl_buf sums = FL_BUF_INIT;
	git_oid id;
	int grc = 0, rc = 0;

	if ((grc = git_treebuilder_new(&root, rs->repo, NULL)) < 0 ||
	    (grc = git_blob_create_from_buffer(&id, rs->repo, rel->meta ? rel->meta : "",
					       rel->meta_len)) < 0 ||
	    (grc = git_treebuilder_insert(NULL, root, META_FILE, &id, GIT_FILEMODE_BLOB)) < 0)
		goto exit;
	for (size_t i = 0; i < rel->n_extra; i++)
		if ((grc = git_blob_create_from_buffer(&id, rs->repo,
						       rel->extra[i].data ? rel->extra[i].data : "",
						       rel->extra[i].len)) < 0 ||
		    (grc = git_treebuilder_insert(NULL, root, rel->extra[i].name, &id,
						  GIT_FILEMODE_BLOB)) < 0)
			goto exit;
	/* git fsck warns about empty trees: a release without artifacts has no
	 * artifacts/ and no SHA256SUMS. */
	if (rel->n_artifacts > 0) {
		if ((grc = git_treebuilder_new(&arts, rs->repo, NULL)) < 0)
			goto exit;
		for (size_t i = 0; i < rel->n_artifacts; i++) {
			if ((grc = git_treebuilder_insert(NULL, arts, rel->artifacts[i].name,
							  &art_ids[i], GIT_FILEMODE_BLOB)) < 0)
				goto exit;
			if (fl_buf_addf(&sums, "%s  " ART_DIR "/%s\n", rel->artifacts[i].sha256_hex,
					rel->artifacts[i].name) < 0) {
				rc = fl_err_set(err, FL_ENOMEM, "out of memory");
				goto exit;
			}
		}
		if ((grc = git_treebuilder_write(&id, arts)) < 0 ||
		    (grc = git_treebuilder_insert(NULL, root, ART_DIR, &id, GIT_FILEMODE_TREE)) <
			0 ||
		    (grc = git_blob_create_from_buffer(&id, rs->repo, sums.ptr, sums.len)) < 0 ||
		    (grc = git_treebuilder_insert(NULL, root, SUMS_FILE, &id, GIT_FILEMODE_BLOB)) <
			0)
			goto exit;
	}
	grc = git_treebuilder_write(out, root);
exit:
	if (grc < 0)
		rc = cp_relstore_git_fail(err, grc, "release %s %s: cannot write the tree",
					  rel->name, rel->version);
	fl_buf_release(&sums);
	git_treebuilder_free(arts);
	git_treebuilder_free(root);
	return rc;
}

static int commit_message(struct fl_buf *b, const struct cp_release_files *rel)
{
	int rc = fl_buf_addf(b, "release %s %s\n", rel->name, rel->version);

	for (size_t i = 0; rc == 0 && i < rel->n_lineage; i++)
		rc = fl_buf_addf(b, "%s%s: %s\n", i == 0 ? "\n" : "", rel->lineage[i].key,
				 rel->lineage[i].value);
	return rc;
}

/* Puts the branch back after the tag failed: to old_tip, or away when the
 * release was the first of its name; only while it still names our commit. */
static int branch_rollback(struct cp_relstore *rs, const char *branch, const git_oid *old_tip,
			   const git_oid *ours)
{
	git_reference *ref = NULL;
	int grc;

	if (old_tip) {
		grc = git_reference_create_matching(&ref, rs->repo, branch, old_tip, 1, ours,
						    "release rollback");
	} else {
		grc = git_reference_lookup(&ref, rs->repo, branch);
		if (grc == 0 && git_reference_target(ref) &&
		    git_oid_equal(git_reference_target(ref), ours))
			grc = git_reference_delete(ref);
	}
	git_reference_free(ref);
	return grc;
}

int cp_relstore_commit_release(struct cp_relstore *rs, const struct cp_release_files *rel,
			       char out_commit_hex[41], struct fl_err *err)
{
	char branch[REF_MAX], tagref[REF_MAX], tagname[TAG_MAX];
	git_oid *art_ids = NULL, tree_id, commit_id, tag_id, old_tip, probe;
	git_tree *tree = NULL;
	git_commit *parent = NULL;
	git_object *commit = NULL;
	git_signature *sig = NULL;
	git_reference *bref = NULL, *tref = NULL;
	struct fl_buf msg = FL_BUF_INIT;
	char *buf = NULL;
	int have_parent = 0, locked = 0, valid_b = 0, valid_t = 0, grc, rc;

	out_commit_hex[0] = '\0';
	if ((rc = release_validate(rel, err)) < 0)
		return rc;
	snprintf(branch, sizeof(branch), BRANCH_PREFIX "%s", rel->name);
	snprintf(tagname, sizeof(tagname), "%s/%s", rel->name, rel->version);
	snprintf(tagref, sizeof(tagref), TAG_PREFIX "%s", tagname);
	/* Belt and braces: the validators above are stricter than git. */
	if (git_reference_name_is_valid(&valid_b, branch) < 0 ||
	    git_reference_name_is_valid(&valid_t, tagref) < 0 || !valid_b || !valid_t)
		return fl_err_set(err, FL_EINVAL, "release '%s' is not a valid ref name", tagname);
	art_ids = calloc(rel->n_artifacts + 1, sizeof(*art_ids));
	buf = malloc(CHUNK);
	if (!art_ids || !buf) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto exit;
	}

	pthread_mutex_lock(&rs->lock);
	locked = 1;
	/* Fail before streaming gigabytes when the answer is already known. */
	grc = git_reference_name_to_id(&probe, rs->repo, tagref);
	if (grc == 0) {
		rc = fl_err_set(err, FL_EEXISTS, "release %s already exists", tagname);
		goto exit;
	}
	if (grc != GIT_ENOTFOUND) {
		rc = cp_relstore_git_fail(err, grc, "release %s", tagname);
		goto exit;
	}
	grc = git_reference_name_to_id(&old_tip, rs->repo, branch);
	if (grc == 0)
		have_parent = 1;
	else if (grc != GIT_ENOTFOUND) {
		rc = cp_relstore_git_fail(err, grc, "release branch of '%s'", rel->name);
		goto exit;
	}

	/* 1. Objects: none of them is reachable until a ref moves. */
	for (size_t i = 0; i < rel->n_artifacts; i++)
		if ((rc = stream_artifact(&art_ids[i], rs, &rel->artifacts[i], buf, err)) < 0)
			goto exit;
	if ((rc = build_tree(&tree_id, rs, rel, art_ids, err)) < 0)
		goto exit;
	if (commit_message(&msg, rel) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto exit;
	}
	if ((grc = git_signature_new(&sig, SIG_NAME, SIG_EMAIL, (git_time_t)fl_now(), 0)) < 0 ||
	    (grc = git_tree_lookup(&tree, rs->repo, &tree_id)) < 0 ||
	    (have_parent && (grc = git_commit_lookup(&parent, rs->repo, &old_tip)) < 0)) {
		rc = cp_relstore_git_fail(err, grc, "release %s", tagname);
		goto exit;
	}
	{
		const git_commit *parents[1] = {parent};

		grc = git_commit_create(&commit_id, rs->repo, NULL, sig, sig, NULL, msg.ptr, tree,
					have_parent ? 1 : 0, parents);
	}
	if (grc < 0 ||
	    (grc = git_object_lookup(&commit, rs->repo, &commit_id, GIT_OBJECT_COMMIT)) < 0) {
		rc = cp_relstore_git_fail(err, grc, "release %s: cannot write the commit", tagname);
		goto exit;
	}
	fl_buf_clear(&msg);
	if (fl_buf_addf(&msg, "release %s %s\n", rel->name, rel->version) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto exit;
	}
	if ((grc = git_tag_annotation_create(&tag_id, rs->repo, tagname, commit, sig, msg.ptr)) <
	    0) {
		rc = cp_relstore_git_fail(err, grc, "release %s: cannot write the tag", tagname);
		goto exit;
	}

	/* 2. The branch, by compare-and-swap on the tip the commit was built on:
	 * another writer (another process) in between makes this fail. */
	if (have_parent)
		grc = git_reference_create_matching(&bref, rs->repo, branch, &commit_id, 1,
						    &old_tip, "release");
	else
		grc = git_reference_create(&bref, rs->repo, branch, &commit_id, 0, "release");
	if (grc == GIT_EMODIFIED || grc == GIT_EEXISTS) {
		rc = fl_err_set(err, FL_ECONFLICT, "release branch of '%s' moved meanwhile",
				rel->name);
		goto exit;
	}
	if (grc < 0) {
		rc = cp_relstore_git_fail(err, grc, "release %s: cannot move the branch", tagname);
		goto exit;
	}

	/* 3. The tag, never forced; when it fails the branch goes back. */
	grc = git_reference_create(&tref, rs->repo, tagref, &tag_id, 0, "release");
	if (grc < 0) {
		rc = grc == GIT_EEXISTS
			 ? fl_err_set(err, FL_EEXISTS, "release %s already exists", tagname)
			 : cp_relstore_git_fail(err, grc, "release %s: cannot create the tag",
						tagname);
		if (branch_rollback(rs, branch, have_parent ? &old_tip : NULL, &commit_id) < 0)
			rc = cp_relstore_git_fail(
			    err, FL_ERROR,
			    "release %s: tag failed and the branch could not be put back", tagname);
		goto exit;
	}

	/* Serving may start now. */
	for (size_t i = 0; i < rel->n_artifacts; i++)
		if ((rc = cp_relstore_index_put(rs, rel->artifacts[i].sha256_hex, &art_ids[i],
						err)) < 0)
			goto exit;
	git_oid_tostr(out_commit_hex, 41, &commit_id);
exit:
	if (locked)
		pthread_mutex_unlock(&rs->lock);
	git_reference_free(tref);
	git_reference_free(bref);
	git_signature_free(sig);
	git_object_free(commit);
	git_commit_free(parent);
	git_tree_free(tree);
	fl_buf_release(&msg);
	free(buf);
	free(art_ids);
	return rc;
}

/* --- reading releases --- */

static int release_cmp(const void *pa, const void *pb)
{
	const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	int c = strcmp(json_string_value(json_object_get(a, "name")),
		       json_string_value(json_object_get(b, "name")));
	json_int_t ta = json_integer_value(json_object_get(a, "time"));
	json_int_t tb = json_integer_value(json_object_get(b, "time"));

	if (c)
		return c;
	if (ta != tb)
		return ta < tb ? -1 : 1;
	return strcmp(json_string_value(json_object_get(a, "version")),
		      json_string_value(json_object_get(b, "version")));
}

/* One tag as a list entry; 0 with *out NULL for tags that are not releases
 * (someone's hand-made tag). */
static int release_entry(json_t **out, struct cp_relstore *rs, git_reference *ref,
			 struct fl_err *err)
{
	const char *full = git_reference_name(ref);
	char tagname[REF_MAX], commit_hex[GIT_OID_HEXSZ + 1];
	char *version;
	git_object *commit = NULL;
	git_tag *tag = NULL;
	int64_t when;
	int grc, rc = 0;

	*out = NULL;
	if (strncmp(full, TAG_PREFIX, strlen(TAG_PREFIX)) != 0 ||
	    (size_t)snprintf(tagname, sizeof(tagname), "%s", full + strlen(TAG_PREFIX)) >=
		sizeof(tagname))
		return 0;
	version = strchr(tagname, '/');
	if (!version)
		return 0;
	*version++ = '\0';
	if (!name_valid(tagname) || !version_valid(version))
		return 0;
	if ((grc = git_reference_peel(&commit, ref, GIT_OBJECT_COMMIT)) < 0) {
		rc = cp_relstore_git_fail(err, grc, "release tag '%s'", full);
		goto exit;
	}
	/* Releases carry annotated tags; a lightweight one has the commit's time. */
	if (git_reference_target(ref) &&
	    git_tag_lookup(&tag, rs->repo, git_reference_target(ref)) == 0)
		when = (int64_t)git_tag_tagger(tag)->when.time;
	else
		when = (int64_t)git_commit_time((git_commit *)commit);
	git_oid_tostr(commit_hex, sizeof(commit_hex), git_object_id(commit));
	*out = json_pack("{s:s,s:s,s:s,s:s,s:I}", "name", tagname, "version", version, "commit",
			 commit_hex, "tag", full + strlen(TAG_PREFIX), "time", (json_int_t)when);
	if (!*out)
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
exit:
	git_error_clear();
	git_tag_free(tag);
	git_object_free(commit);
	return rc;
}

int cp_relstore_list(json_t **out, struct cp_relstore *rs, struct fl_err *err)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	json_t *arr = json_array(), *entry;
	json_t **items = NULL;
	size_t n;
	int grc, rc = 0;

	*out = NULL;
	if (!arr)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	pthread_mutex_lock(&rs->lock);
	if ((grc = git_reference_iterator_new(&it, rs->repo)) < 0) {
		rc = cp_relstore_git_fail(err, grc, "cannot list releases");
		goto exit;
	}
	while ((grc = git_reference_next(&ref, it)) == 0) {
		rc = release_entry(&entry, rs, ref, err);
		git_reference_free(ref);
		if (rc < 0)
			goto exit;
		if (entry && json_array_append_new(arr, entry) < 0) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto exit;
		}
	}
	if (grc != GIT_ITEROVER) {
		rc = cp_relstore_git_fail(err, grc, "cannot list releases");
		goto exit;
	}
	/* Refs come in storage order (loose, then packed); sort for the caller. */
	n = json_array_size(arr);
	items = calloc(n + 1, sizeof(*items));
	if (!items) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto exit;
	}
	for (size_t i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(arr, i));
	qsort(items, n, sizeof(*items), release_cmp);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(arr, items[i]);
		items[i] = NULL;
	}
	*out = arr;
	arr = NULL;
exit:
	pthread_mutex_unlock(&rs->lock);
	git_reference_iterator_free(it);
	free(items);
	json_decref(arr);
	return rc;
}

int cp_relstore_read_meta(struct fl_buf *out, struct cp_relstore *rs, const char *name,
			  const char *version, struct fl_err *err)
{
	char tagref[REF_MAX];
	git_reference *ref = NULL;
	git_object *tree = NULL;
	git_blob *blob = NULL;
	const git_tree_entry *e;
	int grc, rc = 0;

	if (!name_valid(name) || !version_valid(version))
		return fl_err_set(err, FL_EINVAL, "release name or version is invalid");
	snprintf(tagref, sizeof(tagref), TAG_PREFIX "%s/%s", name, version);
	pthread_mutex_lock(&rs->lock);
	if ((grc = git_reference_lookup(&ref, rs->repo, tagref)) == 0)
		grc = git_reference_peel(&tree, ref, GIT_OBJECT_TREE);
	if (grc == GIT_ENOTFOUND) {
		rc = fl_err_set(err, FL_ENOTFOUND, "release %s/%s", name, version);
		goto exit;
	}
	if (grc < 0) {
		rc = cp_relstore_git_fail(err, grc, "release %s/%s", name, version);
		goto exit;
	}
	e = git_tree_entry_byname((git_tree *)tree, META_FILE);
	if (!e) {
		rc =
		    fl_err_set(err, FL_ENOTFOUND, "release %s/%s has no " META_FILE, name, version);
		goto exit;
	}
	/* Metadata is small (the push path bounds it); artifacts never come here. */
	if ((grc = git_blob_lookup(&blob, rs->repo, git_tree_entry_id(e))) < 0) {
		rc = cp_relstore_git_fail(err, grc, "release %s/%s: " META_FILE, name, version);
		goto exit;
	}
	rc = fl_buf_put(out, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
	if (rc < 0)
		rc =
		    fl_err_set(err, rc, "release %s/%s: " META_FILE " does not fit", name, version);
exit:
	pthread_mutex_unlock(&rs->lock);
	git_blob_free(blob);
	git_object_free(tree);
	git_reference_free(ref);
	return rc;
}

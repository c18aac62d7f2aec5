/*
 * h_releases.c - signed releases: the root chain, artifact uploads,
 * release pushes, assignments, artifact downloads and the update part of a
 * check-in.
 *
 * The server checks what it is given but signs only with its online key (the
 * timestamp and director roles); root and release signatures come from the
 * release managers' machines. Push order, so that nothing partial lands:
 * verify everything, commit to git (all or nothing inside relstore), insert
 * the row. Git is the record of what was released: if the git commit succeeded
 * and the row insert then failed (disk full, a crash between the two), the
 * reply is 500 and cp_releases_reconcile() rebuilds the row from the
 * committed release.json at the next start (until then the same push is
 * refused as existing). So a release is in both places or, after such a
 * failure and until the restart, in git alone, never half in either.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "core/assign.h"
#include "core/devices.h"
#include "fairlead/crypto.h"
#include "fairlead/envelope.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/log.h"
#include "fairlead/relref.h"
#include "fairlead/selector.h"
#include "fairlead/trust.h"
#include "fairlead/util.h"
#include "relstore/relstore.h"

#define MAX_REASON 512
#define RECV_CHUNK ((size_t)64 * 1024)

/* The release store path of an artifact. (Handlers run on the HTTP layer's
 * workers, whose stacks are large enough for libgit2 and zlib.) */
static int artifact_path(char *out, size_t cap, struct cp_req *req, const char *sha,
			 struct fl_err *err)
{
	return cp_relstore_artifact_path(out, cap, req->app->relstore, sha, err);
}

static int releases_ready(struct cp_req *req, struct fl_err *err)
{
	if (!req->app->relstore || !req->app->director)
		return fl_err_set(err, FL_EAGAIN,
				  "releases are not set up in this data directory (no "
				  "keys/server.key or releases.git; run fairleadd init)");
	return 0;
}

static int sha_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	return n == 64;
}

static int param_sha(const char **out, struct cp_req *req, int n, struct fl_err *err)
{
	if (!sha_valid(req->params[n]))
		return fl_err_set(err, FL_EINVAL, "bad sha256: use 64 lower-case hex digits");
	*out = req->params[n];
	return 0;
}

static void staging_path(char *out, size_t cap, const struct cp_req *req, const char *sha)
{
	snprintf(out, cap, "%s/staging/%.64s", req->app->cfg.data_dir, sha);
}

/* Parses a JSON body as an envelope and re-serialises it: the stored and
 * hashed bytes are always fl_envelope_dump's form (what the CLI writes), so
 * any client can recompute them from the parsed object. */
static int body_envelope(struct fl_envelope *env, struct fl_buf *canon, struct cp_req *req,
			 struct fl_err *err)
{
	int rc;

	if (!req->body || req->body_len == 0)
		return fl_err_set(err, FL_EINVAL, "request body must be an envelope");
	if ((rc = fl_envelope_parse(env, req->body, req->body_len, err)) < 0)
		return rc;
	if ((rc = fl_envelope_dump(canon, env, err)) < 0)
		fl_envelope_release(env);
	return rc;
}

/* The newest stored root, parsed (it was verified when it was put). */
static int current_root(struct fl_trust_root *out, struct cp_req *req, struct fl_err *err)
{
	struct fl_envelope env = {0};
	char *text = NULL;
	int rc;

	if ((rc = cp_store_root_get(&text, NULL, req->app->store, 0, err)) < 0)
		return rc == FL_ENOTFOUND
			   ? fl_err_set(err, FL_ECONFLICT, "no root yet: PUT /api/v1/root first")
			   : rc;
	if ((rc = fl_envelope_parse(&env, text, strlen(text), err)) == 0)
		rc = fl_trust_root_parse(out, env.payload, env.payload_len, err);
	fl_envelope_release(&env);
	free(text);
	return rc;
}

/* ---- root ---- */

int cp_h_root_get(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	int64_t version = 0;
	char *text = NULL;
	int rc;

	if (req->route->pattern[strlen(req->route->pattern) - 1] == '}') {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(req->params[0], &end, 10);
		if (errno || *end || end == req->params[0] || v < 1)
			return fl_err_set(err, FL_EINVAL,
					  "root version must be a positive integer");
		version = v;
	}
	if ((rc = cp_store_root_get(&text, NULL, req->app->store, version, err)) < 0)
		return rc;
	cp_resp_release(resp);
	resp->status = 200;
	resp->raw = text;
	resp->raw_len = strlen(text);
	return 0;
}

/* 1 when role lists the server's key with a threshold the key alone meets. */
static int role_has_server(const struct fl_trust_role *role, const struct cp_signer *s)
{
	for (size_t i = 0; i < role->nkeys; i++)
		if (memcmp(role->keys[i].pk, s->pk, sizeof(s->pk)) == 0)
			return role->threshold == 1;
	return 0;
}

int cp_h_root_put(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	struct fl_envelope env = {0};
	struct fl_buf canon = FL_BUF_INIT;
	struct fl_trust_root trusted, cand;
	const struct cp_signer *s;
	struct cp_audit_rec a;
	int first = 0, rc;

	if ((rc = releases_ready(req, err)) < 0)
		return rc;
	s = cp_director_signer(req->app->director);
	if ((rc = body_envelope(&env, &canon, req, err)) < 0)
		goto cleanup;
	rc = current_root(&trusted, req, err);
	if (rc == FL_ECONFLICT) {
		/* Trust on first use: it must verify by its own root threshold. */
		first = 1;
		fl_err_clear(err);
		if ((rc = fl_trust_root_load(&cand, &env, err)) < 0)
			goto cleanup;
	} else if (rc < 0) {
		goto cleanup;
	} else {
		cand = trusted;
		if ((rc = fl_trust_root_update(&cand, &env, err)) < 0)
			goto cleanup;
	}
	if (cand.expires <= req->now) {
		rc = fl_err_set(err, FL_EINVAL, "root version %lld has expired",
				(long long)cand.version);
		goto cleanup;
	}
	/* Without its own key in these roles the server could sign no
	 * timestamp or assignment that a device would accept. */
	if (!role_has_server(&cand.roles[FL_TRUST_ROLE_TIMESTAMP], s) ||
	    !role_has_server(&cand.roles[FL_TRUST_ROLE_DIRECTOR], s)) {
		rc = fl_err_set(err, FL_EINVAL,
				"the root's timestamp and director roles must hold this server's "
				"online key (keyid %s) with threshold 1: create the root with "
				"--timestamp-pubkey and --director-pubkey set to the contents of "
				"DATA/keys/server.pub",
				s->keyid);
		goto cleanup;
	}
	cp_audit_rec_init(&a, req, "root.put", "root", NULL);
	a.details = json_pack("{s:I,s:b}", "version", (json_int_t)cand.version, "first_use", first);
	rc = cp_store_root_add(req->app->store, cand.version, canon.ptr, req->now, &a, err);
	json_decref(a.details);
	if (rc == 0)
		rc = cp_reply(resp, 201, json_pack("{s:I}", "version", (json_int_t)cand.version));
cleanup:
	fl_envelope_release(&env);
	fl_buf_release(&canon);
	return rc;
}

/* ---- blobs ---- */

/* The length of a staged or stored artifact; FL_ENOTFOUND when neither. */
static int blob_length(int64_t *out, struct cp_req *req, const char *sha, struct fl_err *err)
{
	char path[1200];
	struct stat st;
	int rc;

	staging_path(path, sizeof(path), req, sha);
	if (stat(path, &st) == 0) {
		*out = (int64_t)st.st_size;
		return 0;
	}
	rc = artifact_path(path, sizeof(path), req, sha, err);
	if (rc < 0)
		return rc;
	if (stat(path, &st) < 0)
		return fl_err_set(err, FL_ERROR, "cannot stat %s: %s", path, strerror(errno));
	*out = (int64_t)st.st_size;
	return 0;
}

int cp_h_blob_head(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	const char *sha = NULL;
	int64_t len;
	int rc;

	if ((rc = releases_ready(req, err)) < 0 || (rc = param_sha(&sha, req, 0, err)) < 0)
		return rc;
	if ((rc = blob_length(&len, req, sha, err)) < 0)
		return rc == FL_ENOTFOUND ? fl_err_set(err, rc, "blob %s not found", sha) : rc;
	resp->head_length = len;
	return cp_reply(resp, 200,
			json_pack("{s:s,s:I}", "sha256", sha, "length", (json_int_t)len));
}

/* Streams the body into tmp while hashing it. */
static int receive(int fd, char hex[65], struct cp_req *req, struct fl_err *err)
{
	struct fl_sha256_ctx ctx;
	uint8_t digest[FL_SHA256_LEN];
	char *chunk = malloc(RECV_CHUNK);
	int n, rc = 0;

	/* On the heap: one chunk per upload, whatever the stack. */
	if (!chunk)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	fl_sha256_begin(&ctx);
	while (req->body_read < req->content_length &&
	       (n = req->read(req->conn, chunk, RECV_CHUNK)) > 0) {
		fl_sha256_update(&ctx, chunk, (size_t)n);
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, chunk + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = fl_err_set(err, FL_ERROR, "writing the upload: %s",
						strerror(errno));
				goto cleanup;
			}
			off += w;
		}
		req->body_read += n;
	}
	if (req->body_read != req->content_length) {
		rc = fl_err_set(err, FL_EINVAL, "upload ended after %lld of %lld bytes",
				(long long)req->body_read, (long long)req->content_length);
		goto cleanup;
	}
	fl_sha256_end(&ctx, digest);
	fl_hex_encode(hex, digest, sizeof(digest));
cleanup:
	free(chunk);
	return rc;
}

int cp_h_blob_put(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	char path[1200], tmp[1300] = "", hex[65], dir[1100];
	uint8_t rnd[6];
	char rhex[13];
	const char *sha = NULL;
	int64_t have;
	int fd = -1, rc;

	if ((rc = releases_ready(req, err)) < 0 || (rc = param_sha(&sha, req, 0, err)) < 0)
		return rc;
	if (!req->read || req->content_length < 0)
		return fl_err_set(err, FL_EINVAL, "Content-Length is required");
	if ((uint64_t)req->content_length > req->app->cfg.max_artifact)
		return fl_err_set(
		    err, FL_ETOOBIG, "artifact of %lld bytes is over the limit of %llu",
		    (long long)req->content_length, (unsigned long long)req->app->cfg.max_artifact);
	if (blob_length(&have, req, sha, NULL) == 0)
		return cp_reply(resp, 200,
				json_pack("{s:s,s:I}", "sha256", sha, "length", (json_int_t)have));
	staging_path(path, sizeof(path), req, sha);
	fl_random(rnd, sizeof(rnd));
	fl_hex_encode(rhex, rnd, sizeof(rnd));
	/* The fl_fs_write_atomic temp name, so that a start sweeps leftovers. */
	snprintf(tmp, sizeof(tmp), "%s.tmp-%s", path, rhex);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = fl_err_set(err, FL_ERROR, "cannot create %s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	if ((rc = receive(fd, hex, req, err)) < 0)
		goto cleanup;
	if (strcmp(hex, sha) != 0) {
		rc = fl_err_set(err, FL_EINVAL, "uploaded bytes hash to %s, not %s", hex, sha);
		goto cleanup;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		rc = fl_err_set(err, FL_ERROR, "cannot write %s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = fl_err_set(err, FL_ERROR, "cannot rename %s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	tmp[0] = '\0';
	snprintf(dir, sizeof(dir), "%s/staging", req->app->cfg.data_dir);
	fl_fs_sync_dir(dir, NULL);
	rc = cp_reply(
	    resp, 201,
	    json_pack("{s:s,s:I}", "sha256", sha, "length", (json_int_t)req->content_length));
cleanup:
	if (fd >= 0)
		close(fd);
	if (tmp[0] && rc < 0)
		unlink(tmp);
	return rc;
}

/* ---- releases ---- */

static const struct {
	const char *field, *trailer;
} lineage_keys[] = {{"source_commit", "Source-Commit"},
		    {"training_data", "Training-Data"},
		    {"parent", "Parent-Release"},
		    {"builder", "Builder"}};

/* Checks that every artifact is staged (or already stored) with its signed
 * length; fills paths[i] with the file to commit. */
static int find_artifacts(char (*paths)[1200], struct cp_req *req,
			  const struct fl_trust_release *rel, struct fl_err *err)
{
	for (size_t i = 0; i < rel->nartifacts; i++) {
		const struct fl_trust_artifact *a = &rel->artifacts[i];
		struct stat st;
		int rc;

		staging_path(paths[i], sizeof(paths[i]), req, a->sha256);
		if (stat(paths[i], &st) < 0) {
			rc = artifact_path(paths[i], sizeof(paths[i]), req, a->sha256, err);
			if (rc == FL_ENOTFOUND)
				return fl_err_set(err, FL_EINVAL,
						  "artifact '%s' (%s) is not uploaded: PUT "
						  "/api/v1/blobs/%s first",
						  a->name, a->sha256, a->sha256);
			if (rc < 0)
				return rc;
			if (stat(paths[i], &st) < 0)
				return fl_err_set(err, FL_ERROR, "cannot stat %s: %s", paths[i],
						  strerror(errno));
		}
		if ((int64_t)st.st_size != a->length)
			return fl_err_set(err, FL_EINVAL,
					  "artifact '%s' is %lld bytes uploaded, %lld signed",
					  a->name, (long long)st.st_size, (long long)a->length);
	}
	return 0;
}

/* Verifies, commits to git, inserts the row. Caller holds push_lock. */
static int push_locked(json_t **out, struct cp_req *req, const struct fl_envelope *env,
		       const struct fl_buf *canon, struct fl_err *err)
{
	struct fl_trust_root root;
	struct fl_trust_release rel = {0};
	struct cp_release_artifact *arts = NULL;
	struct cp_release_kv kv[4];
	struct cp_release_files files = {0};
	struct cp_release_row row = {0};
	struct cp_audit_rec a;
	char(*paths)[1200] = NULL;
	char sha[65], commit[41];
	json_t *existing = NULL;
	int64_t max_counter = 0;
	size_t nkv = 0;
	int rc;

	if ((rc = current_root(&root, req, err)) < 0 ||
	    (rc = fl_trust_release_verify(&rel, &root, env, req->now, err)) < 0)
		goto cleanup;
	if (strlen(rel.version) > 64) {
		rc = fl_err_set(err, FL_EINVAL, "version longer than 64 characters");
		goto cleanup;
	}
	rc = cp_store_release_get(&existing, req->app->store, rel.name, rel.version, NULL);
	if (rc == 0) {
		rc = fl_err_set(err, FL_EEXISTS, "release %s@%s already exists", rel.name,
				rel.version);
		goto cleanup;
	}
	if ((rc = cp_store_release_max_counter(&max_counter, req->app->store, rel.name, err)) < 0)
		goto cleanup;
	if (rel.counter <= max_counter) {
		rc = fl_err_set(
		    err, FL_ECONFLICT,
		    "release counter %lld of '%s' must be above %lld, the highest so far",
		    (long long)rel.counter, rel.name, (long long)max_counter);
		goto cleanup;
	}
	paths = calloc(rel.nartifacts + 1, sizeof(*paths));
	arts = calloc(rel.nartifacts + 1, sizeof(*arts));
	if (!paths || !arts) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = find_artifacts(paths, req, &rel, err)) < 0)
		goto cleanup;
	for (size_t i = 0; i < rel.nartifacts; i++) {
		arts[i].name = rel.artifacts[i].name;
		arts[i].path = paths[i];
		arts[i].length = (uint64_t)rel.artifacts[i].length;
		arts[i].sha256_hex = rel.artifacts[i].sha256;
	}
	for (size_t i = 0; i < FL_ARRAY_SIZE(lineage_keys); i++) {
		const char *v =
		    json_string_value(json_object_get(rel.lineage, lineage_keys[i].field));

		if (v && v[0]) {
			kv[nkv].key = lineage_keys[i].trailer;
			kv[nkv++].value = v;
		}
	}
	fl_sha256_hex(sha, canon->ptr, canon->len);
	files.name = rel.name;
	files.version = rel.version;
	files.meta = canon->ptr;
	files.meta_len = canon->len;
	files.artifacts = arts;
	files.n_artifacts = rel.nartifacts;
	files.lineage = kv;
	files.n_lineage = nkv;
	if ((rc = cp_relstore_commit_release(req->app->relstore, &files, commit, err)) < 0)
		goto cleanup;

	row.name = rel.name;
	row.version = rel.version;
	row.kind = rel.kind;
	row.counter = rel.counter;
	row.hardware = rel.hardware;
	row.commit = commit;
	row.sha256 = sha;
	row.envelope = canon->ptr;
	row.created_at = req->now;
	cp_audit_rec_init(&a, req, "release.push", rel.name, NULL);
	a.details = json_pack("{s:s,s:I,s:s,s:s}", "version", rel.version, "counter",
			      (json_int_t)rel.counter, "commit", commit, "sha256", sha);
	rc = cp_store_release_add(req->app->store, &row, &a, err);
	json_decref(a.details);
	if (rc < 0) {
		/* The window documented at the top of this file. */
		fl_log(FL_LOG_ERROR,
		       "release %s@%s is committed to git as %s but its row was not written: %s",
		       rel.name, rel.version, commit, err->msg);
		rc = fl_err_set(err, FL_ERROR, "release committed to git but not recorded");
		goto cleanup;
	}
	/* The staged copies are in git now; the cache serves them from there. */
	for (size_t i = 0; i < rel.nartifacts; i++) {
		char staged[1200];

		staging_path(staged, sizeof(staged), req, rel.artifacts[i].sha256);
		unlink(staged);
	}
	{
		struct fl_err terr = {0, ""};

		/* The release is stored either way; the maintenance thread retries. */
		if (cp_director_refresh(req->app->director, req->now, &terr) < 0)
			fl_log(FL_LOG_WARN, "timestamp not re-signed after a push: %s", terr.msg);
	}
	*out = json_pack("{s:s,s:s,s:I,s:s,s:s}", "name", rel.name, "version", rel.version,
			 "counter", (json_int_t)rel.counter, "commit", commit, "sha256", sha);
	rc = *out ? 0 : FL_ENOMEM;
cleanup:
	json_decref(existing);
	free(paths);
	free(arts);
	fl_trust_release_free(&rel);
	return rc;
}

int cp_h_release_push(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	struct fl_envelope env = {0};
	struct fl_buf canon = FL_BUF_INIT;
	json_t *out = NULL;
	int rc;

	if ((rc = releases_ready(req, err)) < 0)
		return rc;
	if ((rc = body_envelope(&env, &canon, req, err)) < 0)
		return rc;
	pthread_mutex_lock(&req->app->push_lock);
	rc = push_locked(&out, req, &env, &canon, err);
	pthread_mutex_unlock(&req->app->push_lock);
	if (rc == 0)
		rc = cp_reply(resp, 201, out);
	fl_envelope_release(&env);
	fl_buf_release(&canon);
	return rc;
}

int cp_h_releases_list(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	json_t *rows = NULL;
	int rc;

	if ((rc = cp_store_releases_list(&rows, req->app->store, err)) < 0)
		return rc;
	return cp_reply(resp, 200, json_pack("{s:o}", "releases", rows));
}

int cp_h_release_show(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	struct fl_envelope env = {0};
	json_t *row = NULL, *meta = NULL, *envj = NULL;
	const char *name, *text;
	int rc;

	if ((rc = cp_param_id(&name, req, 0, err)) < 0)
		return rc;
	if (!fl_trust_semver_valid(req->params[1]))
		return fl_err_set(err, FL_EINVAL, "bad version: use a semantic version");
	if ((rc = cp_store_release_get(&row, req->app->store, name, req->params[1], err)) < 0)
		return rc;
	text = json_string_value(json_object_get(row, "envelope"));
	if ((rc = fl_envelope_parse(&env, text, strlen(text), err)) < 0 ||
	    (rc = fl_json_parse(&meta, (const char *)env.payload, env.payload_len, err)) < 0 ||
	    (rc = fl_json_parse(&envj, text, strlen(text), err)) < 0)
		goto cleanup;
	json_object_del(row, "hardware");
	json_object_set_new(row, "metadata", meta);
	json_object_set_new(row, "envelope", envj);
	meta = envj = NULL;
	rc = cp_reply(resp, 200, row);
	row = NULL;
cleanup:
	json_decref(meta);
	json_decref(envj);
	json_decref(row);
	fl_envelope_release(&env);
	return rc;
}

/* ---- assignments ---- */

/* Signs and stores one device's assignment (the device passed
 * cp_assign_check); *assignment gets its summary. */
static int assign_one(json_t **assignment, struct cp_req *req, const json_t *dev,
		      const struct fl_relref *ref, const json_t *rel, int rollback,
		      struct fl_err *err)
{
	struct cp_audit_rec a;

	cp_audit_rec_init(&a, req, "device.assign", json_string_value(json_object_get(dev, "id")),
			  NULL);
	return cp_device_assign(assignment, req->app->store, req->app->reg, req->app->director, dev,
				ref, rel, rollback, req->now, &a, err);
}

/* Parses the body shared by both assign routes and loads the release. */
static int assign_body(json_t **body, struct fl_relref *ref, json_t **rel, int *rollback,
		       struct cp_req *req, const char *const *allowed, struct fl_err *err)
{
	const char *text = NULL;
	int rc;

	*rollback = 0;
	if ((rc = cp_body_object(body, req, allowed, err)) < 0 ||
	    (rc = fl_json_str(&text, *body, "release", 1, err)) < 0 ||
	    (rc = fl_json_bool(rollback, *body, "rollback", 0, err)) < 0 ||
	    (rc = fl_relref_parse(ref, text, err)) < 0)
		return rc;
	return cp_store_release_get(rel, req->app->store, ref->name, ref->version, err);
}

int cp_h_device_assign(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const char *const allowed[] = {"release", "rollback", NULL};
	json_t *body = NULL, *rel = NULL, *dev = NULL, *assignment = NULL;
	struct fl_relref ref;
	const char *id;
	int rollback, rc;

	if ((rc = releases_ready(req, err)) < 0 || (rc = cp_param_id(&id, req, 0, err)) < 0)
		return rc;
	if ((rc = cp_store_device_get(&dev, req->app->store, id, err)) < 0 ||
	    (rc = assign_body(&body, &ref, &rel, &rollback, req, allowed, err)) < 0)
		goto cleanup;
	if ((rc = cp_assign_check(dev, rel, err)) < 0) {
		fl_err_prefix(err, "cannot assign to '%s'", id);
		goto cleanup;
	}
	if ((rc = assign_one(&assignment, req, dev, &ref, rel, rollback, err)) < 0)
		goto cleanup;
	cp_device_overlay(dev, req);
	json_object_set_new(dev, "assignment", assignment);
	json_object_del(dev, "desired");
	json_object_del(dev, "reported");
	rc = cp_reply(resp, 200, json_incref(dev));
cleanup:
	json_decref(dev);
	json_decref(rel);
	json_decref(body);
	return rc;
}

int cp_h_assign(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const char *const allowed[] = {"selector", "release", "rollback", NULL};
	json_t *body = NULL, *rel = NULL, *page = NULL, *assigned = json_array(),
	       *skipped = json_array();
	struct fl_selector *sel = NULL;
	struct fl_relref ref;
	const char *expr = NULL;
	char after[80] = "";
	int rollback, more = 1, rc;

	if ((rc = releases_ready(req, err)) < 0)
		goto cleanup;
	if ((rc = assign_body(&body, &ref, &rel, &rollback, req, allowed, err)) < 0)
		goto cleanup;
	if ((rc = fl_json_str(&expr, body, "selector", 1, err)) < 0)
		goto cleanup;
	/* An empty selector would match the whole fleet: say so explicitly. */
	if (!expr[0]) {
		rc = fl_err_set(err, FL_EINVAL, "selector must not be empty");
		goto cleanup;
	}
	if ((rc = fl_selector_parse(&sel, expr, err)) < 0)
		goto cleanup;
	while (more) {
		size_t i;
		json_t *dev;

		if ((rc = cp_store_devices_page(&page, req->app->store, after, 500, err)) < 0)
			goto cleanup;
		more = json_array_size(page) == 500;
		json_array_foreach (page, i, dev) {
			const char *id = json_string_value(json_object_get(dev, "id"));
			struct fl_err why = {0, ""};

			snprintf(after, sizeof(after), "%s", id);
			if (!fl_selector_match(sel, json_object_get(dev, "labels"),
					       json_string_value(json_object_get(dev, "state"))))
				continue;
			if (cp_assign_check(dev, rel, &why) < 0) {
				json_array_append_new(
				    skipped, json_pack("{s:s,s:s}", "id", id, "reason", why.msg));
				continue;
			}
			if ((rc = assign_one(NULL, req, dev, &ref, rel, rollback, err)) < 0)
				goto cleanup;
			json_array_append_new(assigned, json_string(id));
		}
		json_decref(page);
		page = NULL;
	}
	rc = cp_reply(resp, 200, json_pack("{s:O,s:O}", "assigned", assigned, "skipped", skipped));
cleanup:
	fl_selector_free(sel);
	json_decref(page);
	json_decref(assigned);
	json_decref(skipped);
	json_decref(rel);
	json_decref(body);
	return rc;
}

/* Rebuilds the row of NAME@VERSION from its commit (see the top of this
 * file). 0 when the row exists afterwards. */
static int recover_one(struct cp_app *app, const char *name, const char *version,
		       const char *commit, int64_t when, struct fl_err *err)
{
	struct fl_buf meta = FL_BUF_INIT;
	struct fl_envelope env;
	struct fl_trust_release rel;
	struct cp_release_row row;
	struct cp_audit_rec a;
	json_t *have = NULL;
	char sha[65];
	int rc;

	memset(&env, 0, sizeof(env));
	memset(&rel, 0, sizeof(rel));
	rc = cp_store_release_get(&have, app->store, name, version, err);
	json_decref(have);
	if (rc != FL_ENOTFOUND)
		return rc;
	fl_buf_init(&meta, FL_TRUST_ROOT_MAX_BYTES * 4);
	if ((rc = cp_relstore_read_meta(&meta, app->relstore, name, version, err)) < 0 ||
	    (rc = fl_envelope_parse(&env, meta.ptr, meta.len, err)) < 0 ||
	    (rc = fl_trust_release_parse(&rel, env.payload, env.payload_len, err)) < 0)
		goto cleanup;
	fl_sha256_hex(sha, meta.ptr, meta.len);
	memset(&row, 0, sizeof(row));
	row.name = rel.name;
	row.version = rel.version;
	row.kind = rel.kind;
	row.counter = rel.counter;
	row.hardware = rel.hardware;
	row.commit = commit;
	row.sha256 = sha;
	row.envelope = meta.ptr;
	row.created_at = when;
	a.actor = "fairleadd";
	a.action = "release.recover";
	a.target = name;
	a.details = json_pack("{s:s,s:s,s:s}", "version", version, "commit", commit, "why",
			      "in git without a row");
	rc = cp_store_release_add(app->store, &row, &a, err);
	json_decref(a.details);
	if (rc == 0)
		fl_log(FL_LOG_WARN, "release %s@%s recovered from git commit %s", name, version,
		       commit);
cleanup:
	fl_trust_release_free(&rel);
	fl_envelope_release(&env);
	fl_buf_release(&meta);
	return rc;
}

int cp_releases_reconcile(struct cp_app *app, struct fl_err *err)
{
	json_t *list = NULL, *e;
	size_t i;
	int rc;

	if (!app->relstore)
		return 0;
	if ((rc = cp_relstore_list(&list, app->relstore, err)) < 0)
		return rc;
	json_array_foreach (list, i, e) {
		struct fl_err one = {0, ""};
		const char *name = json_string_value(json_object_get(e, "name"));
		const char *version = json_string_value(json_object_get(e, "version"));
		const char *commit = json_string_value(json_object_get(e, "commit"));

		if (!name || !version || !commit)
			continue;
		/* One unrecoverable release (a later counter landed meanwhile) must
		 * not keep the server from starting: say so and go on. */
		if (recover_one(app, name, version, commit,
				json_integer_value(json_object_get(e, "time")), &one) < 0)
			fl_log(FL_LOG_ERROR, "release %s@%s is in git but cannot be recorded: %s",
			       name, version, one.msg);
	}
	json_decref(list);
	return 0;
}

/* ---- devices ---- */

/* A device downloads only what it is assigned. Signatures keep artifacts
 * authentic, not confidential: a model someone trained at cost must not be
 * readable by every enrolled device that guesses its hash. */
static int artifact_assigned(struct cp_req *req, const char *sha, struct fl_err *err)
{
	struct fl_envelope env;
	struct fl_trust_release rel;
	json_t *a = NULL;
	const char *text;
	int found = 0, rc;

	memset(&env, 0, sizeof(env));
	memset(&rel, 0, sizeof(rel));
	rc = cp_store_assignment_get(&a, req->app->store, req->who.id, err);
	if (rc == FL_ENOTFOUND)
		return fl_err_set(err, FL_EFORBIDDEN, "no release is assigned to this device");
	if (rc < 0)
		return rc;
	text = json_string_value(json_object_get(a, "release_envelope"));
	if (!text || (rc = fl_envelope_parse(&env, text, strlen(text), err)) < 0 ||
	    (rc = fl_trust_release_parse(&rel, env.payload, env.payload_len, err)) < 0) {
		rc = fl_err_set(err, FL_ERROR, "stored release of the assignment is unreadable");
		goto cleanup;
	}
	for (size_t i = 0; i < rel.nartifacts; i++)
		found |= strcmp(rel.artifacts[i].sha256, sha) == 0;
	rc = found ? 0
		   : fl_err_set(err, FL_EFORBIDDEN, "artifact %s is not in the assigned release",
				sha);
cleanup:
	fl_trust_release_free(&rel);
	fl_envelope_release(&env);
	json_decref(a);
	return rc;
}

int cp_h_artifact_get(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	char path[1200];
	const char *sha = NULL;
	int rc;

	if ((rc = releases_ready(req, err)) < 0 || (rc = param_sha(&sha, req, 0, err)) < 0)
		return rc;
	if (strcmp(req->who.state, "accepted") != 0)
		return fl_err_set(err, FL_EFORBIDDEN, "a %s device receives no releases",
				  req->who.state);
	if ((rc = artifact_assigned(req, sha, err)) < 0)
		return rc;
	if ((rc = artifact_path(path, sizeof(path), req, sha, err)) < 0)
		return rc == FL_ENOTFOUND ? fl_err_set(err, rc, "artifact %s not found", sha) : rc;
	cp_resp_release(resp);
	if (!(resp->file_path = strdup(path)))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	resp->status = 200;
	snprintf(resp->etag, sizeof(resp->etag), "\"%.64s\"", sha);
	return 0;
}

/* The version `running` reports for name, or NULL. */
static const char *running_version(const json_t *inventory, const char *name)
{
	return json_string_value(json_object_get(json_object_get(inventory, "running"), name));
}

int cp_device_update_status(json_t **out, struct cp_req *req, json_t *dev, struct fl_err *err)
{
	const char *id = json_string_value(json_object_get(dev, "id"));
	json_t *inv = json_object_get(dev, "inventory"), *st = NULL, *running;
	struct fl_relref ref;
	struct cp_dev d;
	int in_sync = 1, rc;

	*out = NULL;
	if (cp_registry_by_id(&d, req->app->reg, id) < 0)
		d.assigned[0] = '\0';
	rc = cp_store_device_update_get(&st, req->app->store, id, err);
	if (rc < 0 && rc != FL_ENOTFOUND)
		return rc;
	running = json_object_get(inv, "running");
	if (d.assigned[0] && fl_relref_parse(&ref, d.assigned, NULL) == 0) {
		const char *have = running_version(inv, ref.name);

		in_sync = have && strcmp(have, ref.version) == 0;
	}
	*out = json_pack(
	    "{s:o,s:O,s:O,s:O,s:o,s:b}", "assigned",
	    d.assigned[0] ? json_string(d.assigned) : json_null(), "state",
	    st ? json_object_get(st, "state") : json_null(), "progress",
	    st && json_object_get(st, "progress") ? json_object_get(st, "progress") : json_null(),
	    "reason",
	    st && json_object_get(st, "reason") ? json_object_get(st, "reason") : json_null(),
	    "running", json_is_object(running) ? json_incref(running) : json_object(), "in_sync",
	    in_sync);
	json_decref(st);
	return *out ? 0 : fl_err_set(err, FL_ENOMEM, "out of memory");
}

int cp_checkin_update(json_t *reply, struct cp_req *req, const struct cp_dev *d,
		      const json_t *update, const json_t *inventory, struct fl_err *err)
{
	json_t *row = NULL, *ts = NULL, *a_env = NULL, *r_env = NULL;
	struct fl_relref ref;
	const char *have, *text;
	int64_t ts_version = 0, root_version = 0;
	char *root = NULL;
	int rc;

	/* Quarantined devices check in but receive no releases. */
	if (!d->assigned[0] || strcmp(d->state, "accepted") != 0 || !req->app->director)
		return 0;
	if (fl_relref_parse(&ref, d->assigned, NULL) < 0)
		return 0;
	/* From memory: a device that committed its assignment and runs it needs
	 * nothing, and costs no SQL. */
	have = running_version(inventory, ref.name);
	if (have && strcmp(have, ref.version) == 0 &&
	    (!update ||
	     (strcmp(json_string_value(json_object_get(update, "release")), d->assigned) == 0 &&
	      strcmp(json_string_value(json_object_get(update, "state")), "committed") == 0)))
		return 0;
	if ((rc = cp_director_timestamp(&ts, &ts_version, req->app->director, req->now, err)) < 0)
		goto cleanup;
	if ((rc = cp_store_assignment_get(&row, req->app->store, d->id, err)) < 0) {
		/* Unassigned meanwhile: nothing to send. */
		rc = rc == FL_ENOTFOUND ? 0 : rc;
		goto cleanup;
	}
	if ((rc = cp_store_root_get(&root, &root_version, req->app->store, 0, err)) < 0) {
		rc = rc == FL_ENOTFOUND ? 0 : rc;
		goto cleanup;
	}
	text = json_string_value(json_object_get(row, "envelope"));
	if ((rc = fl_json_parse_object(&a_env, text, strlen(text), err)) < 0)
		goto cleanup;
	text = json_string_value(json_object_get(row, "release_envelope"));
	if ((rc = fl_json_parse_object(&r_env, text, strlen(text), err)) < 0)
		goto cleanup;
	json_object_set_new(reply, "update",
			    json_pack("{s:O,s:O,s:O,s:I}", "assignment", a_env, "release", r_env,
				      "timestamp", ts, "root_version", (json_int_t)root_version));
cleanup:
	free(root);
	json_decref(a_env);
	json_decref(r_env);
	json_decref(ts);
	json_decref(row);
	return rc;
}

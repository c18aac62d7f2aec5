/*
 * relstore.h - the git release repository: the only libgit2 user.
 *
 * A bare repository in the data directory holds every release:
 *
 *   refs/heads/releases/NAME   one commit per release of NAME, each commit's
 *                              parent the previous release of that name
 *   refs/tags/NAME/VERSION     an annotated tag on that release's commit
 *
 * and each release commit's tree is
 *
 *   release.json               the signed metadata envelope, byte for byte
 *   SHA256SUMS                 "<sha256>  artifacts/<name>" lines (the format
 *                              of sha256sum(1)), so that the artifact index
 *                              can be rebuilt without hashing any blob
 *   <extra files>              e.g. signatures, at the top level
 *   artifacts/<name>           the artifacts
 *
 * The commit message is "release NAME VERSION", a blank line and the lineage
 * as "Key: value" trailer lines. The stock git client can clone the
 * repository, and `git fsck --strict` is clean on it.
 *
 * Artifacts are served from a content-addressed cache, CACHE/<sha[0:2]>/<sha>,
 * filled from git on first use. Blobs are streamed in fixed-size chunks in
 * both directions; no artifact is ever held whole in memory. The store only
 * writes loose objects and reads them itself with zlib, bounded by the file
 * (libgit2 spins forever on a truncated one); do not repack the repository
 * (`git gc`): libgit2 cannot stream packed blobs, and extraction fails.
 *
 * Damage is refused, never served: open checks every object it reads (and
 * the headers of the artifacts) before libgit2 parses it, and a cache file is
 * hashed again before it is first served, and after any change to it.
 *
 * Threads: every function may be called from any thread on one shared
 * cp_relstore. Writers, and everything that touches the git repository, are
 * serialised by a mutex inside; a cache hit in cp_relstore_artifact_path
 * costs a stat and a lookup under a short lock. Cache files are complete and
 * verified before they are renamed into place; a damaged one is replaced by
 * rename, so readers of cache files need no lock.
 */
#ifndef CP_RELSTORE_H
#define CP_RELSTORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fairlead/buf.h"
#include "fairlead/err.h"

struct cp_relstore;

/* One "Key: value" lineage line of the commit message. key: 1-32 of
 * [A-Za-z0-9-] starting with a letter ("Source-Commit", "Training-Data",
 * "Parent-Release", "Builder"); value: 1-256 printable ASCII characters. */
struct cp_release_kv {
	const char *key;
	const char *value;
};

/* A small file kept in memory: extra files such as signatures. name as
 * fl_id_valid, other than "release.json" and "SHA256SUMS". */
struct cp_release_blob {
	const char *name;
	const void *data;
	size_t len;
};

/* An artifact on local disk, with the length and SHA-256 (64 lower-case hex
 * digits) stated in the signed metadata. name as fl_id_valid. */
struct cp_release_artifact {
	const char *name;
	const char *path;
	uint64_t length;
	const char *sha256_hex;
};

struct cp_release_files {
	const char *name;    /* as fl_id_valid */
	const char *version; /* 1-64 of [A-Za-z0-9.+-], alphanumeric first and last, no ".." */
	const void *meta;    /* release.json bytes */
	size_t meta_len;
	const struct cp_release_blob *extra;
	size_t n_extra;
	const struct cp_release_artifact *artifacts;
	size_t n_artifacts;
	const struct cp_release_kv *lineage;
	size_t n_lineage;
};

/* Creates a bare repository at path (FL_EEXISTS if one is there). */
int cp_relstore_init(const char *path, struct fl_err *err);

/* Opens the bare repository at repo_path (FL_ENOTFOUND when there is none)
 * and the artifact cache in cache_dir (created when missing), and rebuilds
 * the sha256 -> blob index from every release branch. FL_ERROR "release
 * store: object SHA in PATH is unreadable: CAUSE" for a truncated, corrupt or
 * missing object. Free with cp_relstore_free. */
int cp_relstore_open(struct cp_relstore **out, const char *repo_path, const char *cache_dir,
		     struct fl_err *err);
/* NULL is fine. No call on rs may be running or start. */
void cp_relstore_free(struct cp_relstore *rs);

/* Commits one release and tags it; out_commit_hex receives the commit id.
 * All or nothing: every artifact is streamed into git and must have exactly
 * its stated length and SHA-256 (else FL_EINVAL), then the branch moves by
 * compare-and-swap from the tip it was built on (FL_ECONFLICT if another
 * process moved it), then the tag is created (FL_EEXISTS if NAME/VERSION is
 * already tagged; the branch is then put back). On any error no ref has
 * changed; unreferenced objects may remain and are harmless. FL_EINVAL for a
 * bad name, version, file name, duplicate name or lineage line. */
int cp_relstore_commit_release(struct cp_relstore *rs, const struct cp_release_files *rel,
			       char out_commit_hex[41], struct fl_err *err);

/* Writes the path of the cache file of the artifact with this SHA-256 (64
 * lower-case hex digits) into out (cap bytes), extracting it from git first
 * when it is not cached yet, or when the cached file no longer hashes to
 * sha256_hex (checked once per file identity: inode, size, mtime, ctime).
 * The file is complete and verified; serve it read-only. FL_ENOTFOUND when no
 * release holds such an artifact, FL_EINVAL for a malformed hash, FL_ETOOBIG
 * when out is too small, FL_EUNAVAIL when git cannot give the right bytes
 * (the damaged cache file is removed, the next call tries again). */
int cp_relstore_artifact_path(char *out, size_t cap, struct cp_relstore *rs, const char *sha256_hex,
			      struct fl_err *err);

/* A new JSON array (caller owns it) of every tagged release, sorted by name,
 * then tag time, then version: {"name", "version", "commit" (hex), "tag"
 * ("NAME/VERSION"), "time" (seconds since the epoch, when it was tagged)}.
 * Tags that are not NAME/VERSION of valid names are not releases: skipped. */
int cp_relstore_list(json_t **out, struct cp_relstore *rs, struct fl_err *err);

/* Appends the release.json bytes of NAME/VERSION to out (out->max bounds
 * it). FL_ENOTFOUND when there is no such release, FL_EINVAL for a bad
 * name or version. */
int cp_relstore_read_meta(struct fl_buf *out, struct cp_relstore *rs, const char *name,
			  const char *version, struct fl_err *err);

#endif

/*
 * relstore_int.h - what the release store's files share: the store itself,
 * the libgit2 error translation (relstore.c), the sha256 index (index.c), the
 * loose object reader (objects.c) and the artifact cache (cache.c). Not for
 * use outside controlplane/relstore.
 */
#ifndef CP_RELSTORE_INT_H
#define CP_RELSTORE_INT_H

#include <git2.h>
#include <pthread.h>
#include <stdint.h>

#include "fairlead/map.h"
#include "relstore.h"

/* Artifacts move through one buffer of this size: memory stays flat whatever
 * their length. */
#define CHUNK ((size_t)64 * 1024)

#define META_FILE     "release.json"
#define SUMS_FILE     "SHA256SUMS"
#define ART_DIR	      "artifacts"
#define BRANCH_PREFIX "refs/heads/releases/"
#define TAG_PREFIX    "refs/tags/"

struct cp_relstore {
	pthread_mutex_t lock; /* every libgit2 call and the index */
	int lock_ok;
	int git_ok; /* git_libgit2_init() done: shutdown owed */
	git_repository *repo;
	git_odb *odb;
	char *objects_dir; /* REPO/objects: where loose objects live */
	char *cache_dir;
	struct fl_map index; /* sha256 hex -> git_oid * (owned) of the blob */
	/* The cache: verify_lock serialises hashing and repairing cache files
	 * (taken before lock, never after); memo_lock guards verified, sha256 hex
	 * -> struct cp_cache_id * (owned) of each cache file last found good. */
	pthread_mutex_t verify_lock, memo_lock;
	int cache_locks_ok;
	struct fl_map verified;
};

/* The one translation of libgit2 errors: the message of git_error_last()
 * after the context, and the code mapped from libgit2's. */
int cp_relstore_git_fail(struct fl_err *err, int grc, const char *fmt, ...) FL_PRINTF(3, 4);

/* Receives an object's content in order, in pieces of at most CHUNK bytes. */
typedef int (*cp_relstore_sink_fn)(void *ctx, const void *p, size_t n, struct fl_err *err);

/* Reads the loose object id with zlib, never more than its file holds, so
 * that a damaged object fails here rather than inside libgit2 (which spins
 * forever inflating a truncated one). *type_out and *size_out come from its
 * header. With header_only, stops after the header; otherwise inflates all
 * of it, passing the content to sink (NULL: discarded), and requires the
 * stream to end exactly at the header's size.
 * FL_ENOTFOUND when the object is not loose (packed, or missing: ask the
 * odb); FL_ERROR "release store: object SHA in PATH is unreadable: CAUSE";
 * or the sink's error. */
int cp_relstore_loose_read(git_object_t *type_out, uint64_t *size_out, struct cp_relstore *rs,
			   const git_oid *id, int header_only, cp_relstore_sink_fn sink, void *ctx,
			   struct fl_err *err);

/* 0 when the object is readable and of type want (GIT_OBJECT_ANY: any):
 * a loose one read with cp_relstore_loose_read (whole, or its header only),
 * a packed one left to libgit2. FL_ERROR naming the object otherwise, also
 * when it is missing. Call before any libgit2 call reads the object. */
int cp_relstore_object_check(struct cp_relstore *rs, const git_oid *id, git_object_t want,
			     int header_only, struct fl_err *err);

/* The sha256 -> blob index (index.c). put: adds one artifact (the first blob
 * of a hash stays); rebuild: from every release branch at open, checking
 * each object before libgit2 reads it; release: frees the index's values. */
int cp_relstore_index_put(struct cp_relstore *rs, const char *sha, const git_oid *oid,
			  struct fl_err *err);
int cp_relstore_index_rebuild(struct cp_relstore *rs, struct fl_err *err);
void cp_relstore_index_release(struct fl_map *m);

/* The cache (cache.c). init before anything else in open, release in free;
 * sweep removes temp files that killed extractions left. */
int cp_relstore_cache_init(struct cp_relstore *rs, struct fl_err *err);
void cp_relstore_cache_release(struct cp_relstore *rs);
void cp_relstore_cache_sweep(const char *cache_dir);

/* 1 when s is 64 lower-case hex digits. */
int cp_relstore_sha_hex_valid(const char *s);

#endif

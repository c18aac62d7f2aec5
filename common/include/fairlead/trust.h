/*
 * trust.h - the release trust model: root, release, timestamp and director
 * assignment metadata, each carried as the payload of a DSSE envelope
 * (envelope.h). See docs/releases.md for the formats.
 *
 * Rules (TUF / Uptane, reference/security.md §2-3):
 *  - a key's id must equal fl_keyid(public key); only keytype "ed25519";
 *  - a role's threshold is an integer in 1..number of its (distinct) keys,
 *    and every keyid a role names must be listed under "keys";
 *  - root N+1 must be signed by a threshold of root N's root keys AND a
 *    threshold of its own root keys, and carry version exactly N+1; roots are
 *    followed one version at a time and only the last one's expiry matters;
 *  - release metadata needs a threshold of the root's release keys, the
 *    timestamp and assignments a threshold of its timestamp / director keys;
 *  - nothing expired is accepted ("now" is passed in, so callers can use a
 *    trusted time floor and tests a fixed clock).
 *
 * Payloads are parsed strictly: unknown fields, wrong types and out-of-range
 * values are errors (FL_EINVAL with the field named). Failed calls leave their
 * output and any trusted state unchanged.
 */
#ifndef FAIRLEAD_TRUST_H
#define FAIRLEAD_TRUST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fairlead/crypto.h"
#include "fairlead/envelope.h"
#include "fairlead/err.h"

#define FL_TRUST_TYPE_ROOT	 "application/vnd.fairlead.root+json"
#define FL_TRUST_TYPE_RELEASE	 "application/vnd.fairlead.release+json"
#define FL_TRUST_TYPE_TIMESTAMP	 "application/vnd.fairlead.timestamp+json"
#define FL_TRUST_TYPE_ASSIGNMENT "application/vnd.fairlead.assignment+json"

#define FL_TRUST_SPEC_VERSION	    "1"
#define FL_TRUST_MAX_KEYS	    32	/* per role and in the root's key table */
#define FL_TRUST_MAX_ARTIFACTS	    256 /* per release */
#define FL_TRUST_MAX_ROOT_ROTATIONS 256 /* roots followed in one update */
#define FL_TRUST_ROOT_MAX_BYTES	    512000

struct fl_trust_key {
	char keyid[FL_KEYID_LEN + 1];
	uint8_t pk[FL_ED25519_PK_LEN];
};

/* A role carries copies of its keys, so it can be used on its own. */
struct fl_trust_role {
	struct fl_trust_key keys[FL_TRUST_MAX_KEYS];
	size_t nkeys;
	int64_t threshold;
};

enum fl_trust_role_id {
	FL_TRUST_ROLE_ROOT,
	FL_TRUST_ROLE_RELEASE,
	FL_TRUST_ROLE_TIMESTAMP,
	FL_TRUST_ROLE_DIRECTOR,
	FL_TRUST_ROLE_COUNT,
};

/* "root", "release", "timestamp", "director". */
const char *fl_trust_role_name(enum fl_trust_role_id id);

/* Plain data, no allocation: copy it freely. */
struct fl_trust_root {
	int64_t version;
	int64_t expires; /* seconds since the epoch */
	struct fl_trust_role roles[FL_TRUST_ROLE_COUNT];
};

/* RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ" (the only form accepted) to seconds. */
int fl_trust_time_parse(int64_t *out, const char *s, struct fl_err *err);

/* Parses a root payload (JSON bytes) without checking any signature. */
int fl_trust_root_parse(struct fl_trust_root *out, const void *payload, size_t len,
			struct fl_err *err);

/* Accepts env as an initial root given out of band: a root payload signed by
 * a threshold of its own root keys. Expiry is not checked (TUF 5.2: only the
 * last root of an update must be unexpired). */
int fl_trust_root_load(struct fl_trust_root *out, const struct fl_envelope *env,
		       struct fl_err *err);

/* One rotation step: candidate must be a root payload with version exactly
 * trusted->version + 1, signed by a threshold of trusted's root keys and of
 * its own. On success *trusted becomes the candidate; on failure it is
 * untouched (FL_EUNAUTH for signatures, FL_ECONFLICT for a version other than
 * N+1, FL_EINVAL for malformed metadata). No expiry check. */
int fl_trust_root_update(struct fl_trust_root *trusted, const struct fl_envelope *candidate,
			 struct fl_err *err);

/* Follows candidates[0..n) one version at a time with fl_trust_root_update,
 * then requires the resulting root to be unexpired at now. As in TUF 5.3 each
 * verified step is kept: on failure *trusted is the last root that verified,
 * and an expired final root (freeze attack) gives FL_EGONE. More than
 * FL_TRUST_MAX_ROOT_ROTATIONS candidates: FL_ETOOBIG before any step. */
int fl_trust_root_chain(struct fl_trust_root *trusted, const struct fl_envelope *const *candidates,
			size_t n, int64_t now, struct fl_err *err);

/* ---- release metadata ---- */

struct fl_trust_artifact {
	const char *name; /* safe file name: 1-128 of [A-Za-z0-9._-], not "." or ".." */
	int64_t length;
	char sha256[65]; /* lower-case hex */
};

/* Strings and JSON values are borrowed from doc, which the struct owns. */
struct fl_trust_release {
	json_t *doc;
	const char *name;	/* fl_id_valid */
	const char *kind;	/* model, firmware or config */
	const char *version;	/* semantic version */
	int64_t counter;	/* > 0, rises with every release of a name */
	const json_t *hardware; /* array of hardware ids; empty: any */
	struct fl_trust_artifact *artifacts;
	size_t nartifacts;
	const char *install_hook; /* NULL: none */
	int64_t install_timeout_s;
	const char *health_cmd; /* NULL: none */
	int64_t health_window_s;
	const json_t *baseline; /* object, or NULL */
	const json_t *lineage;	/* {source_commit, training_data, parent, builder} */
	int64_t expires;
};

/* 1 when name is a safe artifact file name (see struct fl_trust_artifact). */
int fl_trust_artifact_name_valid(const char *name);
/* 1 for MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (semver.org 2.0.0). */
int fl_trust_semver_valid(const char *v);

/* Parses a release payload without checking signatures or expiry. */
int fl_trust_release_parse(struct fl_trust_release *out, const void *payload, size_t len,
			   struct fl_err *err);
/* Checks env against root's release role, parses it and checks its expiry
 * at now (FL_EGONE when expired). */
int fl_trust_release_verify(struct fl_trust_release *out, const struct fl_trust_root *root,
			    const struct fl_envelope *env, int64_t now, struct fl_err *err);
void fl_trust_release_free(struct fl_trust_release *r);

/* ---- timestamp (server, online key) ---- */

struct fl_trust_timestamp {
	json_t *doc;
	int64_t version;
	int64_t expires;
	const json_t *releases; /* "NAME@VERSION" -> sha256 hex of the release envelope */
};

/* Checks env against root's timestamp role, parses it, checks expiry. */
int fl_trust_timestamp_verify(struct fl_trust_timestamp *out, const struct fl_trust_root *root,
			      const struct fl_envelope *env, int64_t now, struct fl_err *err);
void fl_trust_timestamp_free(struct fl_trust_timestamp *t);

/* ---- director assignment (server, online key) ---- */

struct fl_trust_assignment {
	json_t *doc;
	const char *device_id;
	const char *release; /* NAME@VERSION */
	char release_sha256[65];
	int64_t counter;
	int rollback;
	int64_t issued;
	int64_t expires;
};

/* Checks env against root's director role, parses it, checks expiry. */
int fl_trust_assignment_verify(struct fl_trust_assignment *out, const struct fl_trust_root *root,
			       const struct fl_envelope *env, int64_t now, struct fl_err *err);
void fl_trust_assignment_free(struct fl_trust_assignment *a);

#endif

/*
 * root.h - the trusted root of release metadata, kept as its signed envelope
 * in STATE/root.json (written atomically).
 *
 * The first root arrives out of band ('enroll --root FILE') and must carry a
 * threshold of its own root keys. Later roots come from the server one
 * version at a time (GET /api/v1/root/N) and are accepted only when signed
 * by a threshold of the trusted root's root keys and of their own
 * (fl_trust_root_update); each accepted step is persisted before the next
 * is fetched, as TUF 5.3 prescribes.
 */
#ifndef AG_ROOT_H
#define AG_ROOT_H

#include <stdint.h>

#include "agent/transport.h"
#include "fairlead/err.h"
#include "fairlead/trust.h"

#define AG_ROOT_FILE "root.json"

/* Verifies the root envelope in file path by its own root threshold and
 * stores it as dir/root.json. Refuses an expired root (a fresh device must
 * not start from stale trust). */
int ag_root_install(struct fl_trust_root *out, const char *dir, const char *path, int64_t now,
		    struct fl_err *err);
/* FL_ENOTFOUND when the device has no trusted root. */
int ag_root_load(struct fl_trust_root *out, const char *dir, struct fl_err *err);
/* Follows rotations up to version target; *trusted and root.json hold the
 * last verified step even on failure. FL_EGONE when the final root is
 * expired at now (freeze). */
int ag_root_follow(struct fl_trust_root *trusted, struct ag_transport *t, const char *dir,
		   int64_t target, int64_t now, struct fl_err *err);

/* Parses an envelope carried as a JSON value (a check-in reply member). */
int ag_root_envelope_from_json(struct fl_envelope *out, const json_t *v, struct fl_err *err);

#endif

/*
 * director.h - what the server signs with its online key, kept fresh: the
 * timestamp over every stored release (timestamp role) and each device's
 * assignment (director role).
 *
 * The current timestamp envelope lives in memory as a parsed JSON object, so
 * a check-in that carries it costs no SQL. It lasts CP_TIMESTAMP_TTL; it is
 * re-signed when a release is added and, by a maintenance thread, well before
 * it expires. The same thread re-signs assignments that near their expiry.
 * Timestamp versions rise across restarts (the newest is kept in the store).
 */
#ifndef CP_DIRECTOR_H
#define CP_DIRECTOR_H

#include <jansson.h>
#include <stdint.h>

#include "core/signer.h"
#include "fairlead/err.h"
#include "store/store.h"

#define CP_TIMESTAMP_TTL     3600  /* seconds a timestamp is valid */
#define CP_TIMESTAMP_MARGIN  1200  /* re-sign when less than this is left */
#define CP_ASSIGNMENT_TTL    86400 /* seconds an assignment is valid */
#define CP_ASSIGNMENT_MARGIN 21600 /* re-sign when less than this is left */

struct cp_director;

/* signer is copied; store is borrowed. */
int cp_director_new(struct cp_director **out, struct cp_store *store,
		    const struct cp_signer *signer, struct fl_err *err);
void cp_director_free(struct cp_director *d);
/* Starts / stops the maintenance thread (interval_ms between rounds). */
int cp_director_start(struct cp_director *d, int interval_ms, struct fl_err *err);
void cp_director_stop(struct cp_director *d);

const struct cp_signer *cp_director_signer(const struct cp_director *d);

/* The current timestamp envelope (a new reference; never modify it) and its
 * version, signing one first when there is none or it nears expiry. */
int cp_director_timestamp(json_t **out, int64_t *version, struct cp_director *d, int64_t now,
			  struct fl_err *err);
/* Signs a new timestamp over the releases in the store now (after a push). */
int cp_director_refresh(struct cp_director *d, int64_t now, struct fl_err *err);
/* One maintenance round: the timestamp and every assignment near expiry. */
int cp_director_maintain(struct cp_director *d, int64_t now, struct fl_err *err);

/* Signs an assignment issued at now (expires now + CP_ASSIGNMENT_TTL) into
 * out; fills p->issued and p->expires. */
int cp_director_sign_assignment(struct fl_buf *out, struct cp_director *d,
				struct cp_assignment_payload *p, int64_t now, struct fl_err *err);

#endif

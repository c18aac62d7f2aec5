/*
 * assign.h - the one rule of who may receive a release, and the one signing
 * of an assignment. The assign routes and the rollout controller both go
 * through here, so a device refused by one is refused by the other.
 */
#ifndef CP_ASSIGN_H
#define CP_ASSIGN_H

#include <jansson.h>
#include <stdint.h>

#include "core/director.h"
#include "fairlead/buf.h"
#include "fairlead/err.h"
#include "fairlead/relref.h"
#include "store/store.h"

/* 0 when the device row dev ({"state", "inventory": {"hw_model"}}) may
 * receive the release row rel ({"hardware"}): the device is accepted, and
 * the release's hardware list is empty or names its hw_model. Otherwise
 * FL_ECONFLICT with the reason ("device is pending; only accepted devices
 * receive releases"). */
int cp_assign_check(const json_t *dev, const json_t *rel, struct fl_err *err);

/* Signs the assignment of release ref (rel its row: "sha256", "counter") to
 * device_id through the director: appends the envelope to env and fills
 * *row, which points into device_id, ref and env (they must outlive it). */
int cp_assign_sign(struct cp_assignment_row *row, struct fl_buf *env, struct cp_director *d,
		   const char *device_id, const struct fl_relref *ref, const json_t *rel,
		   int rollback, int64_t now, struct fl_err *err);

#endif

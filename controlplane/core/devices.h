/*
 * devices.h - the changes an operator or a playbook makes to a device, one
 * copy of each rule: the lifecycle of its state, its labels, and a signed
 * assignment of a release. The device routes and the playbook executor both
 * come through here.
 *
 * Each change is one store transaction with its audit entry, then the
 * in-memory registry is brought in step, so the device's very next request
 * sees it.
 */
#ifndef CP_CORE_DEVICES_H
#define CP_CORE_DEVICES_H

#include <jansson.h>
#include <stdint.h>

#include "core/director.h"
#include "core/registry.h"
#include "fairlead/err.h"
#include "fairlead/relref.h"
#include "store/store.h"

/* Labels: an object of at most 64 valid keys ("state" is reserved) to
 * valid string values. FL_EINVAL naming the first bad one. */
int cp_device_labels_check(const json_t *labels, struct fl_err *err);

/* Moves device id to state (accepted, rejected, quarantined, revoked,
 * decommissioned) with reason (may be NULL); a's details get from, to and
 * reason. A decommissioned device never changes again, and a revoked one
 * only to decommissioned (FL_ECONFLICT); the same state again is a change
 * of nothing but the audit entry. FL_ENOTFOUND for an unknown device. */
int cp_device_set_state(struct cp_store *s, struct cp_registry *reg, const char *id,
			const char *state, const char *reason, int64_t now, struct cp_audit_rec *a,
			struct fl_err *err);

/* Applies changes ({K: V} sets, {K: null} removes) to the labels of id;
 * *out (may be NULL) is the device row afterwards. */
int cp_device_relabel(json_t **out, struct cp_store *s, const char *id, const json_t *changes,
		      struct cp_audit_rec *a, struct fl_err *err);

/* Signs and stores the assignment of release ref (rel its row) to the
 * device row dev, which must pass cp_assign_check; a's details get the
 * release and rollback. *summary (may be NULL) is {"release",
 * "release_sha256","counter","rollback","issued_at","expires_at"}. */
int cp_device_assign(json_t **summary, struct cp_store *s, struct cp_registry *reg,
		     struct cp_director *d, const json_t *dev, const struct fl_relref *ref,
		     const json_t *rel, int rollback, int64_t now, struct cp_audit_rec *a,
		     struct fl_err *err);

#endif

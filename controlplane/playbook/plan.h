/*
 * plan.h - the plan of a run: the devices it acts on and its steps, frozen,
 * with the hash an approval binds to.
 *
 * The planner takes the candidate devices the targets resolved to
 * ([{"id","labels","state","inventory"}...]) and keeps, in order:
 *   1. those for which targets.where holds (roots device, event, slo, now);
 *   2. ranked by a stable hash of the playbook's name and the device id, so
 *      that a cap takes a spread of the fleet, not the first ids;
 *   3. at most blast_radius.per_label.max per value of that label (devices
 *      without the label form one group);
 *   4. at most max_devices, or max_devices_pct of the devices left after
 *      step 1 (rounded down, at least 1 when any is left).
 * Every device left out is in "skipped" with the reason. The steps'
 * parameters are rendered with the event (templates). The plan:
 *   {"playbook","version","devices":[id...],"skipped":[{"id","reason"}...],
 *    "limits":{"max_devices","concurrency","per_label"?},"steps":[...],
 *    "hash": hex SHA-256 of the canonical text of everything else}
 * The same inputs give the same plan and hash: a changed plan (other
 * devices, other steps, another version) has another hash.
 */
#ifndef CP_PLAYBOOK_PLAN_H
#define CP_PLAYBOOK_PLAN_H

#include <jansson.h>

#include "fairlead/err.h"

/* Plans pb (canonical JSON) for the event context ctx and the candidates.
 * FL_EINVAL names a template that does not render (an undefined value) or a
 * where condition that does not compile. *out is caller-owned. */
int cp_pb_plan(json_t **out, const json_t *pb, const json_t *ctx, const json_t *candidates,
	       struct fl_err *err);
/* 1 when plan's "hash" is the hash of the rest of it. */
int cp_pb_plan_hash_ok(const json_t *plan);

#endif

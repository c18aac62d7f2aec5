/*
 * dryrun.h - what a playbook would do with given events, doing nothing: the
 * `fairlead playbook test` of docs/playbooks.md.
 *
 * Each event (the "event" root of a condition: {"kind", ...}) goes through
 * the playbook in order, at now + its index in seconds unless it has "at":
 * the trigger and condition (an event of kind "schedule" or "manual" stands
 * for the engine's own tick or start), then the throttle (fresh, as after a start),
 * and every firing is planned against the store's devices as they are:
 *   {"events": [{"index","matched","throttle": "none"|"fired"|"suppressed"|
 *                "collected"|"dropped"}...],
 *    "runs": [{"events": [index...], "at", "plan": PLAN (plan.h)}...]}
 * A once_after window still open after the last event is closed at its end,
 * as it would be, and planned too. Nothing is stored, sent or audited.
 */
#ifndef CP_PLAYBOOK_DRYRUN_H
#define CP_PLAYBOOK_DRYRUN_H

#include <jansson.h>
#include <stdint.h>

#include "fairlead/err.h"

struct cp_store;

#define CP_PB_DRYRUN_MAX_EVENTS 10000

/* pb is canonical JSON; events a JSON array of at most
 * CP_PB_DRYRUN_MAX_EVENTS objects. */
int cp_pb_dryrun(json_t **out, struct cp_store *store, const json_t *pb, const json_t *events,
		 int64_t now, struct fl_err *err);

#endif

/*
 * targets.h - the devices a playbook's targets name, read from the store:
 * the candidates the planner (plan.h) caps.
 *
 * targets.selector, targets.device and targets.rollout_devices are
 * rendered with the event first (templates). A selector scans the registry
 * in the store's id order, at most CP_PB_TARGETS_MAX matches (more is
 * FL_ETOOBIG: a playbook is not a fleet-wide tool past that); a device id
 * is that device or none; rollout_devices is every device the rollout
 * touched. Each candidate is {"id","labels","state","inventory"}.
 */
#ifndef CP_PLAYBOOK_TARGETS_H
#define CP_PLAYBOOK_TARGETS_H

#include <jansson.h>

#include "fairlead/err.h"

struct cp_store;

#define CP_PB_TARGETS_MAX 100000

/* *out: a new array of candidates (empty without targets). */
int cp_pb_targets_resolve(json_t **out, struct cp_store *store, const json_t *pb, const json_t *ctx,
			  struct fl_err *err);

#endif

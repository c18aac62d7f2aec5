/*
 * selector.h - label selectors, as operators type them:
 *
 *   site=berlin,hw in (a,b),!decommissioned,tier!=gold,region notin (x)
 *
 * Terms are ANDed. "k=v" / "k==v", "k!=v", "k in (..)", "k notin (..)",
 * "k" (label present), "!k" (label absent). The key "state" and the bare
 * words pending, accepted, rejected, quarantined, revoked and decommissioned
 * refer to the device state, not to labels ("!decommissioned" hides
 * decommissioned devices). An empty expression matches everything.
 */
#ifndef FAIRLEAD_SELECTOR_H
#define FAIRLEAD_SELECTOR_H

#include <jansson.h>

#include "fairlead/err.h"

struct fl_selector;

int fl_selector_parse(struct fl_selector **out, const char *expr, struct fl_err *err);
/* 1 when labels (a JSON object of strings) and state satisfy every term. */
int fl_selector_match(const struct fl_selector *s, const json_t *labels, const char *state);
void fl_selector_free(struct fl_selector *s);
/* The labels every device it matches must have: its "k=v" terms on labels
 * (not the state), as a new object {k: v}; NULL when out of memory. */
json_t *fl_selector_labels(const struct fl_selector *s);

/* 1 when name is one of the six device states. */
int fl_device_state_valid(const char *name);

#endif

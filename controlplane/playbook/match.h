/*
 * match.h - does a playbook take an event: its trigger type, its filters and
 * its condition, against the event as playbooks see it.
 *
 * The event context is a JSON object {"event": EVENT, plus any other roots a
 * condition may read (slo, now)}. EVENT has "kind", and per kind the fields
 * docs/playbooks.md names; the filters read:
 *   slo       event.slo (a glob)          severity  event.alert.severity
 *   sli       event.alert.sli             labels    event.labels (each pair)
 *   for       event.for_s == for_s (else    from, to  event.from, event.to
 *             event.offline_s >= for_s)
 *   alertname event.alert.labels.alertname (a glob)
 *   status    event.alert.status
 * A schedule or manual trigger never matches a logged event: the engine
 * fires those itself.
 */
#ifndef CP_PLAYBOOK_MATCH_H
#define CP_PLAYBOOK_MATCH_H

#include <jansson.h>

#include "fairlead/err.h"

struct cp_pb_matcher;

/* Compiles the trigger and condition of pb (canonical JSON, cp_pb_parse)
 * once, for the many events it will see; pb is borrowed and must outlive
 * the matcher. FL_EINVAL for a condition that does not compile. */
int cp_pb_matcher_new(struct cp_pb_matcher **out, const json_t *pb, struct fl_err *err);
/* *yes is 1 when the playbook takes the event in ctx: enabled, the trigger
 * type is the event's kind, every filter holds and so does the condition.
 * Safe from several threads at once. */
int cp_pb_matcher_match(int *yes, const struct cp_pb_matcher *m, const json_t *ctx,
			struct fl_err *err);
/* The same for an event the engine makes itself: a schedule's tick or a
 * manual start (kind "schedule" or "manual", matching only those triggers).
 * Their condition still decides. */
int cp_pb_matcher_match_own(int *yes, const struct cp_pb_matcher *m, const json_t *ctx,
			    struct fl_err *err);
/* NULL: no-op. */
void cp_pb_matcher_free(struct cp_pb_matcher *m);

struct cp_pb_throttle;
/* A new throttle for pb's throttle section; *out NULL when pb has none. */
int cp_pb_throttle_for(struct cp_pb_throttle **out, const json_t *pb, struct fl_err *err);
/* The throttle key of the event in ctx: the values of pb's throttle.key
 * paths as compact JSON, one per line ("" without key paths; a missing
 * value is null). Caller frees *out. */
int cp_pb_throttle_key(char **out, const json_t *pb, const json_t *ctx);

#endif

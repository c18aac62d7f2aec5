/*
 * throttle.h - the throttles of playbooks (docs/playbooks.md, "throttle"):
 * pure logic over an injected clock, no threads, no I/O. The owner locks.
 *
 * A throttle keeps state per key, the string the engine makes of the
 * playbook's key paths ("" without them); keys are independent. Times are
 * UTC seconds; a window of W seconds that starts at s holds s <= now < s + W.
 *
 *   CP_PB_ONCE_WITHIN  the first event fires at once; the key's later events
 *                      before firing + W are suppressed; the first at or
 *                      after it fires again and starts a new window.
 *   CP_PB_ONCE_AFTER   the first event opens a window of W; the key's events
 *                      until first + W are collected; at first + W the
 *                      window fires once (from cp_pb_throttle_tick, never
 *                      from an offer) with its first CP_PB_FIRE_MAX events,
 *                      the rest counted as omitted. An event at or after the
 *                      close opens the next window.
 *   CP_PB_THRESHOLD    the key's events of the last W seconds are kept (an
 *                      event at s is dropped at s + W, counted as
 *                      suppressed); the event that makes count of them fires
 *                      those count events and the key starts again empty.
 *
 * Memory is bounded: at most max_keys keys (CP_PB_THROTTLE_MAX_KEYS unless
 * set), each of at most CP_PB_KEY_MAX bytes, holding at most CP_PB_FIRE_MAX
 * (once_after) or count (threshold) events. A new key when the table is full
 * first drops every expired key (a once_within window or threshold events
 * that no longer count: dropping them changes nothing); when none is, the
 * event is refused and counted as dropped. A once_after window is never
 * dropped, only emitted: its key counts until tick emits it.
 *
 * Events are JSON values the throttle keeps with json_incref: the caller
 * must not change an event after offering it.
 */
#ifndef CP_PB_THROTTLE_H
#define CP_PB_THROTTLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fairlead/err.h"

#define CP_PB_THROTTLE_MAX_KEYS 10000
#define CP_PB_KEY_MAX		1024 /* bytes of a key */
#define CP_PB_FIRE_MAX		100  /* events one once_after firing carries */
#define CP_PB_THRESHOLD_MAX	1000 /* the largest threshold count */
#define CP_PB_WINDOW_MIN_S	1
#define CP_PB_WINDOW_MAX_S	(30 * 86400)

enum cp_pb_throttle_kind { CP_PB_ONCE_WITHIN, CP_PB_ONCE_AFTER, CP_PB_THRESHOLD };

struct cp_pb_throttle;

/* Events counted since the throttle was made (or as restored by load). */
struct cp_pb_throttle_stats {
	int64_t offered;    /* events offered, dropped ones included */
	int64_t fired;	    /* firings */
	int64_t suppressed; /* events that will never fire: once_within's within a
			     * window, threshold's that slid out of theirs */
	int64_t omitted;    /* once_after events beyond CP_PB_FIRE_MAX of a firing */
	int64_t dropped;    /* events refused: table full, key too long */
	size_t keys;	    /* keys held now (once_after: windows not yet emitted) */
};

/* window_s in CP_PB_WINDOW_MIN_S..CP_PB_WINDOW_MAX_S; count is the
 * threshold (1..CP_PB_THRESHOLD_MAX) and must be 0 for the other kinds.
 * FL_EINVAL naming the problem, FL_ENOMEM. */
int cp_pb_throttle_new(struct cp_pb_throttle **out, enum cp_pb_throttle_kind kind, int64_t window_s,
		       int count, struct fl_err *err);
/* NULL is a no-op. */
void cp_pb_throttle_free(struct cp_pb_throttle *t);
/* Sets the key bound (1..CP_PB_THROTTLE_MAX_KEYS; for tests and small
 * deployments). Keys held beyond a lowered bound stay until they expire. */
int cp_pb_throttle_set_max_keys(struct cp_pb_throttle *t, size_t max_keys, struct fl_err *err);

/* Offers event (borrowed) under key at now. *fire is a new JSON array of the
 * events that fire now (the caller owns it) or NULL (suppressed, collected or
 * held). FL_EAGAIN when the key is new and the table is full, FL_ETOOBIG for
 * a key over CP_PB_KEY_MAX (both count the event as dropped), FL_EINVAL for
 * a NULL key or event, FL_ENOMEM. */
int cp_pb_throttle_offer(json_t **fire, struct cp_pb_throttle *t, const char *key, json_t *event,
			 int64_t now, struct fl_err *err);

/* Called for each firing of tick: events is borrowed (json_incref to keep
 * it), omitted how many more the window held. A negative return stops tick,
 * which returns it; that window and the later ones stay for the next tick. */
typedef int (*cp_pb_throttle_emit_fn)(void *arg, const char *key, json_t *events, int64_t omitted);
/* Emits every once_after window closed by now, each once, oldest first
 * (ties in key order); for the other kinds it drops expired keys and never
 * calls emit (which may be NULL for them). Cheap when nothing is due: call
 * it every second. */
int cp_pb_throttle_tick(struct cp_pb_throttle *t, int64_t now, cp_pb_throttle_emit_fn emit,
			void *arg, struct fl_err *err);

void cp_pb_throttle_stats(struct cp_pb_throttle_stats *out, const struct cp_pb_throttle *t);

/* The whole state as a new JSON object: kind, window_s, count, counters and
 * each key's times and events (the events are shared with the throttle, not
 * copied: serialise *out, do not change it). */
int cp_pb_throttle_save(json_t **out, const struct cp_pb_throttle *t, struct fl_err *err);
/* Replaces t's state with a saved one (times as saved: a window open before a
 * restart stays open for the rest of its time). FL_ECONFLICT when it was
 * saved by a throttle of another kind, window or count (the playbook
 * changed: start empty), FL_EINVAL for a malformed state or one over the
 * bounds; t is unchanged on error. */
int cp_pb_throttle_load(struct cp_pb_throttle *t, const json_t *state, struct fl_err *err);

#endif

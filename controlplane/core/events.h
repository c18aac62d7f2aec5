/*
 * events.h - the live event stream: one poller of the event log feeding
 * every subscriber (the console's Server-Sent Events).
 *
 * A hub thread reads the events after the newest it has seen, once per
 * interval whatever the number of subscribers, and appends each as SSE text
 * ("id:", "event:", "data:") to every subscriber's bounded buffer. A
 * subscriber that is behind (it resumed from an old Last-Event-ID, or its
 * buffer filled) is caught up from the log in pages. Subscribers are read
 * by the HTTP layer without blocking: an empty read arms the subscriber,
 * and the hub calls its wake function once when there is something to read
 * (new events, a keep-alive comment every 15 s, or the end of the stream).
 */
#ifndef CP_CORE_EVENTS_H
#define CP_CORE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "fairlead/buf.h"
#include "fairlead/err.h"

struct cp_store;
struct cp_events;
struct cp_events_sub;

/* Called on the hub thread, at most once per arming. Must not block or call
 * back into the hub. */
typedef void (*cp_events_wake_fn)(void *arg);

int cp_events_new(struct cp_events **out, struct cp_store *store, int poll_ms, struct fl_err *err);
/* Ends every stream (their next read returns FL_EGONE) and stops the hub
 * from adding to them; subscriptions made after it end at once. */
void cp_events_close(struct cp_events *e);
/* Joins the hub thread and frees; subscribers must be released first.
 * NULL: no-op. */
void cp_events_free(struct cp_events *e);

/* Subscribes from after (a sequence number; < 0: from the newest now). */
int cp_events_subscribe(struct cp_events_sub **out, struct cp_events *e, int64_t after,
			cp_events_wake_fn wake, void *arg, struct fl_err *err);
/* Moves up to max bytes of stream text into out (appended). Returns the
 * bytes moved, 0 when nothing is ready (the subscriber is then armed), or
 * FL_EGONE when the stream has ended. */
int cp_events_read(struct fl_buf *out, struct cp_events_sub *s, size_t max);
/* Drops the subscription; its wake function is never called after this
 * returns. NULL: no-op. */
void cp_events_unsubscribe(struct cp_events_sub *s);
/* Subscribers now. */
size_t cp_events_count(struct cp_events *e);

#endif

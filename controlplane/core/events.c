#include "core/events.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fairlead/log.h"
#include "fairlead/util.h"
#include "store/store.h"

/* Text a subscriber may have waiting before it counts as behind and is fed
 * from the log instead: a stalled viewer costs this much, never more. */
#define SUB_BUF_MAX  ((size_t)256 * 1024)
#define PAGE	     200
#define KEEPALIVE_MS 15000

struct cp_events_sub {
	struct cp_events_sub *prev, *next;
	struct cp_events *hub;
	int64_t cursor; /* last seq in buf or sent; -1: not resolved yet */
	int behind;	/* buf stopped receiving: catch up from the log */
	int armed;
	int ended;
	int64_t last_ka;
	struct fl_buf buf;
	cp_events_wake_fn wake;
	void *arg;
};

struct cp_events {
	struct cp_store *store;
	int poll_ms;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int started, stopping, closed, poke;
	int64_t head; /* newest seq the hub has seen; -1 before the first read */
	struct cp_events_sub *subs;
	size_t nsubs;
};

/* One event as SSE text. */
static int format_event(struct fl_buf *b, json_t *ev)
{
	char *data = json_dumps(ev, JSON_COMPACT);
	const char *kind = json_string_value(json_object_get(ev, "kind"));
	int rc;

	if (!data)
		return FL_ENOMEM;
	rc = fl_buf_addf(b, "id: %lld\nevent: %s\ndata: %s\n\n",
			 (long long)json_integer_value(json_object_get(ev, "seq")),
			 kind ? kind : "event", data);
	free(data);
	return rc;
}

static void wake_locked(struct cp_events_sub *s)
{
	if (s->armed && (s->buf.len || s->ended)) {
		s->armed = 0;
		s->wake(s->arg);
	}
}

/* Catches s up from the log by one page (hub thread, mu held: the log
 * read is short and bounded). */
static void catch_up(struct cp_events *e, struct cp_events_sub *s)
{
	struct fl_err err = {0, ""};
	json_t *rows = NULL, *ev;
	size_t i;

	if (cp_store_events_list(&rows, e->store, s->cursor, PAGE, &err) < 0) {
		fl_log(FL_LOG_WARN, "event stream: cannot read the event log: %s", err.msg);
		return;
	}
	json_array_foreach (rows, i, ev) {
		if (s->buf.len > SUB_BUF_MAX || format_event(&s->buf, ev) < 0)
			break;
		s->cursor = json_integer_value(json_object_get(ev, "seq"));
	}
	if (s->cursor >= e->head)
		s->behind = 0;
	json_decref(rows);
}

static void poll_once(struct cp_events *e, int64_t now)
{
	struct fl_err err = {0, ""};
	json_t *rows = NULL, *ev;
	int64_t before = e->head;
	size_t i;

	if (e->head < 0) {
		json_t *last = NULL;

		/* The head: the newest seq, found by paging from the newest
		 * known (0 at first) until the log ends. */
		e->head = 0;
		for (;;) {
			if (cp_store_events_list(&last, e->store, e->head, 1000, &err) < 0)
				break;
			if (!json_array_size(last)) {
				json_decref(last);
				break;
			}
			e->head = json_integer_value(json_object_get(
			    json_array_get(last, json_array_size(last) - 1), "seq"));
			json_decref(last);
		}
		before = e->head;
	}
	if (cp_store_events_list(&rows, e->store, e->head, PAGE, &err) < 0) {
		fl_log(FL_LOG_WARN, "event stream: cannot read the event log: %s", err.msg);
		rows = NULL;
	}
	if (rows && json_array_size(rows))
		e->head = json_integer_value(
		    json_object_get(json_array_get(rows, json_array_size(rows) - 1), "seq"));
	for (struct cp_events_sub *s = e->subs; s; s = s->next) {
		if (s->ended)
			continue;
		if (s->cursor < 0)
			s->cursor = before; /* "from now" resolves to the head */
		if (!s->behind && s->cursor == before) {
			json_array_foreach (rows, i, ev) {
				if (s->buf.len > SUB_BUF_MAX || format_event(&s->buf, ev) < 0) {
					s->behind = 1;
					break;
				}
				s->cursor = json_integer_value(json_object_get(ev, "seq"));
			}
		} else if (s->cursor < e->head) {
			s->behind = 1;
		}
		if (s->behind && s->buf.len < SUB_BUF_MAX)
			catch_up(e, s);
		/* A comment now and then keeps proxies and the client's idle
		 * timers from closing a quiet stream. */
		if (!s->buf.len && now - s->last_ka >= KEEPALIVE_MS &&
		    fl_buf_addf(&s->buf, ": keep-alive\n\n") == 0)
			s->last_ka = now;
		wake_locked(s);
	}
	json_decref(rows);
}

static void *hub_main(void *arg)
{
	struct cp_events *e = arg;

	pthread_mutex_lock(&e->mu);
	while (!e->stopping) {
		struct timespec ts;

		if (!e->closed && e->nsubs)
			poll_once(e, fl_mono_ms());
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += e->poll_ms / 1000;
		ts.tv_nsec += (long)(e->poll_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (!e->poke && !e->stopping)
			pthread_cond_timedwait(&e->cv, &e->mu, &ts);
		e->poke = 0;
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

int cp_events_new(struct cp_events **out, struct cp_store *store, int poll_ms, struct fl_err *err)
{
	struct cp_events *e = calloc(1, sizeof(*e));

	*out = NULL;
	if (!e)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	e->store = store;
	e->poll_ms = poll_ms > 0 ? poll_ms : 500;
	e->head = -1;
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, NULL);
	if (pthread_create(&e->thread, NULL, hub_main, e) != 0) {
		cp_events_free(e);
		return fl_err_set(err, FL_ERROR, "cannot start the event stream thread");
	}
	e->started = 1;
	*out = e;
	return 0;
}

void cp_events_close(struct cp_events *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->mu);
	e->closed = 1;
	for (struct cp_events_sub *s = e->subs; s; s = s->next) {
		s->ended = 1;
		wake_locked(s);
	}
	pthread_mutex_unlock(&e->mu);
}

void cp_events_free(struct cp_events *e)
{
	if (!e)
		return;
	if (e->started) {
		pthread_mutex_lock(&e->mu);
		e->stopping = 1;
		pthread_cond_broadcast(&e->cv);
		pthread_mutex_unlock(&e->mu);
		pthread_join(e->thread, NULL);
	}
	while (e->subs)
		cp_events_unsubscribe(e->subs);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

int cp_events_subscribe(struct cp_events_sub **out, struct cp_events *e, int64_t after,
			cp_events_wake_fn wake, void *arg, struct fl_err *err)
{
	struct cp_events_sub *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	s->hub = e;
	s->cursor = after < 0 ? -1 : after;
	s->wake = wake;
	s->arg = arg;
	s->last_ka = fl_mono_ms();
	fl_buf_init(&s->buf, SUB_BUF_MAX * 2);
	/* The client learns the stream is open, and how soon to reconnect. */
	if (fl_buf_addf(&s->buf, ": fairlead event stream\nretry: 3000\n\n") < 0) {
		free(s);
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&e->mu);
	s->ended = e->closed;
	s->next = e->subs;
	if (e->subs)
		e->subs->prev = s;
	e->subs = s;
	e->nsubs++;
	e->poke = 1; /* resolve and catch up now, not at the next tick */
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
	*out = s;
	return 0;
}

int cp_events_read(struct fl_buf *out, struct cp_events_sub *s, size_t max)
{
	struct cp_events *e = s->hub;
	size_t n;
	int rc;

	pthread_mutex_lock(&e->mu);
	n = s->buf.len < max ? s->buf.len : max;
	if (n) {
		rc = fl_buf_put(out, s->buf.ptr, n);
		if (rc == 0) {
			memmove(s->buf.ptr, s->buf.ptr + n, s->buf.len - n);
			s->buf.len -= n;
			rc = (int)n;
		}
	} else if (s->ended) {
		rc = FL_EGONE;
	} else {
		s->armed = 1;
		rc = 0;
	}
	/* Room again: the hub catches a subscriber that fell behind up. */
	if (s->behind && s->buf.len < SUB_BUF_MAX / 2) {
		e->poke = 1;
		pthread_cond_signal(&e->cv);
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

void cp_events_unsubscribe(struct cp_events_sub *s)
{
	struct cp_events *e;

	if (!s)
		return;
	e = s->hub;
	pthread_mutex_lock(&e->mu);
	if (s->prev)
		s->prev->next = s->next;
	else
		e->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	e->nsubs--;
	pthread_mutex_unlock(&e->mu);
	fl_buf_release(&s->buf);
	free(s);
}

size_t cp_events_count(struct cp_events *e)
{
	size_t n;

	pthread_mutex_lock(&e->mu);
	n = e->nsubs;
	pthread_mutex_unlock(&e->mu);
	return n;
}

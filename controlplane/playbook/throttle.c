/*
 * throttle.c - the throttles of playbooks. See throttle.h for the rules;
 * comments here say why.
 */
#include "playbook/throttle.h"

#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"
#include "fairlead/map.h"

/* Times accepted, so that a time plus a window never overflows. */
#define TIME_MAX (1LL << 40)

static const char *const kind_names[] = {"once_within", "once_after", "threshold"};

/* One key's state. */
struct tkey {
	int64_t at;	 /* once_within: the firing; once_after: the first event */
	json_t *events;	 /* once_after, threshold: the events held, an array */
	int64_t *times;	 /* threshold: each held event's time (count slots) */
	int64_t omitted; /* once_after: events beyond CP_PB_FIRE_MAX */
};

/* A once_after window closed but not yet emitted: out of the map, so that
 * the key's next event can open the next window before tick runs. */
struct closed {
	char *key;
	struct tkey *k;
};

struct cp_pb_throttle {
	enum cp_pb_throttle_kind kind;
	int64_t window;
	int count;
	size_t max_keys;
	struct fl_map keys; /* key -> struct tkey */
	struct closed *closed;
	size_t nclosed, capclosed;
	/* No key expires (once_after: no window closes) before this: a lower
	 * bound, so that tick and a full table scan only when something is due. */
	int64_t next_due;
	struct cp_pb_throttle_stats st;
};

static void tkey_free(struct tkey *k)
{
	if (!k)
		return;
	json_decref(k->events);
	free(k->times);
	free(k);
}

static struct tkey *tkey_new(const struct cp_pb_throttle *t)
{
	struct tkey *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	if (t->kind != CP_PB_ONCE_WITHIN && !(k->events = json_array()))
		goto fail;
	if (t->kind == CP_PB_THRESHOLD && !(k->times = calloc((size_t)t->count, sizeof(int64_t))))
		goto fail;
	return k;
fail:
	tkey_free(k);
	return NULL;
}

/* When the key stops mattering (once_after: its window closes). A threshold
 * key always holds at least one event: it is deleted when it empties. */
static int64_t due_of(const struct cp_pb_throttle *t, const struct tkey *k)
{
	if (t->kind == CP_PB_THRESHOLD)
		return k->times[json_array_size(k->events) - 1] + t->window;
	return k->at + t->window;
}

static void note_due(struct cp_pb_throttle *t, const struct tkey *k)
{
	int64_t d = due_of(t, k);

	if (d < t->next_due)
		t->next_due = d;
}

static void clear_state(struct fl_map *keys, struct closed *closed, size_t nclosed)
{
	const char *key;
	void *v;

	for (size_t i = 0; fl_map_next(keys, &i, &key, &v);)
		tkey_free(v);
	fl_map_release(keys);
	for (size_t i = 0; i < nclosed; i++) {
		free(closed[i].key);
		tkey_free(closed[i].k);
	}
	free(closed);
}

int cp_pb_throttle_new(struct cp_pb_throttle **out, enum cp_pb_throttle_kind kind, int64_t window_s,
		       int count, struct fl_err *err)
{
	struct cp_pb_throttle *t;

	*out = NULL;
	if (kind != CP_PB_ONCE_WITHIN && kind != CP_PB_ONCE_AFTER && kind != CP_PB_THRESHOLD)
		return fl_err_set(err, FL_EINVAL, "throttle kind %d unknown", (int)kind);
	if (window_s < CP_PB_WINDOW_MIN_S || window_s > CP_PB_WINDOW_MAX_S)
		return fl_err_set(err, FL_EINVAL, "throttle window %llds out of 1s..30d",
				  (long long)window_s);
	if (kind == CP_PB_THRESHOLD && (count < 1 || count > CP_PB_THRESHOLD_MAX))
		return fl_err_set(err, FL_EINVAL, "threshold count %d out of 1..%d", count,
				  CP_PB_THRESHOLD_MAX);
	if (kind != CP_PB_THRESHOLD && count != 0)
		return fl_err_set(err, FL_EINVAL, "%s takes no count", kind_names[kind]);
	if (!(t = calloc(1, sizeof(*t))))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	t->kind = kind;
	t->window = window_s;
	t->count = count;
	t->max_keys = CP_PB_THROTTLE_MAX_KEYS;
	t->next_due = INT64_MAX;
	fl_map_init(&t->keys);
	*out = t;
	return 0;
}

void cp_pb_throttle_free(struct cp_pb_throttle *t)
{
	if (!t)
		return;
	clear_state(&t->keys, t->closed, t->nclosed);
	free(t);
}

int cp_pb_throttle_set_max_keys(struct cp_pb_throttle *t, size_t max_keys, struct fl_err *err)
{
	if (max_keys < 1 || max_keys > CP_PB_THROTTLE_MAX_KEYS)
		return fl_err_set(err, FL_EINVAL, "throttle key bound %zu out of 1..%d", max_keys,
				  CP_PB_THROTTLE_MAX_KEYS);
	t->max_keys = max_keys;
	return 0;
}

static size_t held(const struct cp_pb_throttle *t)
{
	return fl_map_len(&t->keys) + t->nclosed;
}

/* Threshold: forgets the key's events of more than a window ago. */
static void slide(struct cp_pb_throttle *t, struct tkey *k, int64_t now)
{
	size_t n = json_array_size(k->events), p = 0;

	while (p < n && now - k->times[p] >= t->window)
		p++;
	if (!p)
		return;
	memmove(k->times, k->times + p, (n - p) * sizeof(int64_t));
	for (size_t i = 0; i < p; i++)
		json_array_remove(k->events, 0);
	t->st.suppressed += (int64_t)p;
}

/* Once_within and threshold: drops every key that no longer changes what
 * happens (an expired window, events that all slid out). */
static void drop_expired(struct cp_pb_throttle *t, int64_t now)
{
	int64_t next = INT64_MAX;
	const char *key;
	void *v;

	if (t->kind == CP_PB_ONCE_AFTER || now < t->next_due)
		return;
	for (size_t i = 0; fl_map_next(&t->keys, &i, &key, &v);) {
		struct tkey *k = v;
		int64_t d = due_of(t, k);

		if (d <= now) {
			if (t->kind == CP_PB_THRESHOLD)
				t->st.suppressed += (int64_t)json_array_size(k->events);
			tkey_free(fl_map_del(&t->keys, key));
		} else if (d < next) {
			next = d;
		}
	}
	t->next_due = next;
}

/* Once_after: moves k (key's, already out of the map) to the closed list. */
static int close_window(struct cp_pb_throttle *t, const char *key, struct tkey *k)
{
	char *copy;

	if (t->nclosed == t->capclosed) {
		size_t cap = t->capclosed ? 2 * t->capclosed : 16;
		struct closed *c = realloc(t->closed, cap * sizeof(*c));

		if (!c)
			return FL_ENOMEM;
		t->closed = c;
		t->capclosed = cap;
	}
	if (!(copy = strdup(key)))
		return FL_ENOMEM;
	t->closed[t->nclosed].key = copy;
	t->closed[t->nclosed++].k = k;
	return 0;
}

/* Once_after: every window closed by now to the closed list. */
static int close_due(struct cp_pb_throttle *t, int64_t now)
{
	int64_t next = INT64_MAX;
	const char *key;
	void *v;
	int rc;

	if (now < t->next_due)
		return 0;
	for (size_t i = 0; fl_map_next(&t->keys, &i, &key, &v);) {
		struct tkey *k = v;

		if (k->at + t->window <= now) {
			/* The list first: on failure the window stays in the map and
			 * next_due, untouched, still bounds it. */
			if ((rc = close_window(t, key, k)) < 0)
				return rc;
			fl_map_del(&t->keys, key);
		} else if (k->at + t->window < next) {
			next = k->at + t->window;
		}
	}
	t->next_due = next;
	return 0;
}

/* A new key may be added: room in the table, after dropping expired keys
 * when it is full. */
static int room(struct cp_pb_throttle *t, int64_t now, struct fl_err *err)
{
	if (held(t) >= t->max_keys)
		drop_expired(t, now);
	if (held(t) < t->max_keys)
		return 0;
	t->st.dropped++;
	return fl_err_set(err, FL_EAGAIN, "throttle holds %zu keys: event dropped", held(t));
}

static int add_key(struct tkey **out, struct cp_pb_throttle *t, const char *key, int64_t now,
		   struct fl_err *err)
{
	struct tkey *k;
	int rc;

	*out = NULL;
	if ((rc = room(t, now, err)) < 0)
		return rc;
	if (!(k = tkey_new(t)))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	k->at = now;
	if ((rc = fl_map_put(&t->keys, key, k, NULL)) < 0) {
		tkey_free(k);
		return fl_err_set(err, rc, "out of memory");
	}
	*out = k;
	return 0;
}

static int offer_within(json_t **fire, struct cp_pb_throttle *t, const char *key, json_t *event,
			int64_t now, struct fl_err *err)
{
	struct tkey *k = fl_map_get(&t->keys, key);
	json_t *arr;
	int rc;

	if (k && now < k->at + t->window) {
		t->st.suppressed++;
		return 0;
	}
	if (!(arr = json_array()) || json_array_append(arr, event) < 0) {
		json_decref(arr);
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	if (!k && (rc = add_key(&k, t, key, now, err)) < 0) {
		json_decref(arr);
		return rc;
	}
	k->at = now;
	note_due(t, k);
	t->st.fired++;
	*fire = arr;
	return 0;
}

static int offer_after(struct cp_pb_throttle *t, const char *key, json_t *event, int64_t now,
		       struct fl_err *err)
{
	struct tkey *k = fl_map_get(&t->keys, key);
	int rc;

	if (k && k->at + t->window <= now) {
		/* Tick is late: the closed window waits for it out of the map and
		 * this event opens the next one. */
		if ((rc = close_window(t, key, k)) < 0)
			return fl_err_set(err, rc, "out of memory");
		fl_map_del(&t->keys, key);
		k = NULL;
	}
	if (!k) {
		if ((rc = add_key(&k, t, key, now, err)) < 0)
			return rc;
		note_due(t, k);
	}
	if (json_array_size(k->events) >= CP_PB_FIRE_MAX) {
		k->omitted++;
		return 0;
	}
	if (json_array_append(k->events, event) < 0) {
		/* Only a fresh key can be empty: take it out again. */
		if (json_array_size(k->events) == 0)
			tkey_free(fl_map_del(&t->keys, key));
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	return 0;
}

static int offer_threshold(json_t **fire, struct cp_pb_throttle *t, const char *key, json_t *event,
			   int64_t now, struct fl_err *err)
{
	struct tkey *k = fl_map_get(&t->keys, key);
	size_t n;
	int rc;

	if (k)
		slide(t, k, now);
	if (!k && (rc = add_key(&k, t, key, now, err)) < 0)
		return rc;
	n = json_array_size(k->events);
	if (json_array_append(k->events, event) < 0) {
		if (n == 0)
			tkey_free(fl_map_del(&t->keys, key));
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	k->times[n++] = now;
	if (n < (size_t)t->count) {
		note_due(t, k);
		return 0;
	}
	/* The count is reached: these events fire and the key starts empty,
	 * so the next firing needs count new events. */
	*fire = json_incref(k->events);
	tkey_free(fl_map_del(&t->keys, key));
	t->st.fired++;
	return 0;
}

int cp_pb_throttle_offer(json_t **fire, struct cp_pb_throttle *t, const char *key, json_t *event,
			 int64_t now, struct fl_err *err)
{
	*fire = NULL;
	if (!key || !event)
		return fl_err_set(err, FL_EINVAL, "throttle offer without a key or event");
	if (now > TIME_MAX || now < -TIME_MAX)
		return fl_err_set(err, FL_EINVAL, "time %lld out of range", (long long)now);
	t->st.offered++;
	if (strlen(key) > CP_PB_KEY_MAX) {
		t->st.dropped++;
		return fl_err_set(err, FL_ETOOBIG, "throttle key of %zu bytes, at most %d",
				  strlen(key), CP_PB_KEY_MAX);
	}
	switch (t->kind) {
	case CP_PB_ONCE_WITHIN: return offer_within(fire, t, key, event, now, err);
	case CP_PB_ONCE_AFTER: return offer_after(t, key, event, now, err);
	case CP_PB_THRESHOLD: return offer_threshold(fire, t, key, event, now, err);
	}
	return fl_err_set(err, FL_EINVAL, "throttle kind unknown");
}

static int closed_cmp(const void *a, const void *b)
{
	const struct closed *x = a, *y = b;

	if (x->k->at != y->k->at)
		return x->k->at < y->k->at ? -1 : 1;
	return strcmp(x->key, y->key);
}

int cp_pb_throttle_tick(struct cp_pb_throttle *t, int64_t now, cp_pb_throttle_emit_fn emit,
			void *arg, struct fl_err *err)
{
	size_t i;
	int rc = 0;

	if (t->kind != CP_PB_ONCE_AFTER) {
		drop_expired(t, now);
		return 0;
	}
	if (!emit)
		return fl_err_set(err, FL_EINVAL, "once_after tick without emit");
	if ((rc = close_due(t, now)) < 0)
		return fl_err_set(err, rc, "out of memory");
	/* qsort wants a non-NULL base even for no elements */
	if (t->nclosed > 1)
		qsort(t->closed, t->nclosed, sizeof(*t->closed), closed_cmp);
	for (i = 0; i < t->nclosed; i++) {
		struct closed *c = &t->closed[i];

		if ((rc = emit(arg, c->key, c->k->events, c->k->omitted)) < 0) {
			fl_err_set(err, rc, "throttle emit of key '%.64s' failed", c->key);
			break;
		}
		t->st.fired++;
		t->st.omitted += c->k->omitted;
		free(c->key);
		tkey_free(c->k);
	}
	/* The windows not emitted stay, in order, for the next tick. */
	if (i < t->nclosed)
		memmove(t->closed, t->closed + i, (t->nclosed - i) * sizeof(*t->closed));
	t->nclosed -= i;
	return rc < 0 ? rc : 0;
}

void cp_pb_throttle_stats(struct cp_pb_throttle_stats *out, const struct cp_pb_throttle *t)
{
	*out = t->st;
	out->keys = held(t);
}

/* ---- save and load ---------------------------------------------------- */

static json_t *times_json(const struct tkey *k)
{
	json_t *a = json_array();
	size_t n = json_array_size(k->events);

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_integer(k->times[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *tkey_json(const struct cp_pb_throttle *t, const struct tkey *k)
{
	json_t *v;

	switch (t->kind) {
	case CP_PB_ONCE_WITHIN: return json_pack("{s:I}", "at", (json_int_t)k->at);
	case CP_PB_ONCE_AFTER:
		return json_pack("{s:I,s:O,s:I}", "at", (json_int_t)k->at, "events", k->events,
				 "omitted", (json_int_t)k->omitted);
	case CP_PB_THRESHOLD: break;
	}
	v = times_json(k);
	return v ? json_pack("{s:o,s:O}", "times", v, "events", k->events) : NULL;
}

int cp_pb_throttle_save(json_t **out, const struct cp_pb_throttle *t, struct fl_err *err)
{
	json_t *o, *keys = json_object(), *closed = json_array(), *v;
	const char *key;
	void *val;
	int rc = FL_ENOMEM;

	*out = NULL;
	o = json_pack("{s:s,s:I,s:i,s:{s:I,s:I,s:I,s:I,s:I}}", "kind", kind_names[t->kind],
		      "window_s", (json_int_t)t->window, "count", t->count, "stats", "offered",
		      (json_int_t)t->st.offered, "fired", (json_int_t)t->st.fired, "suppressed",
		      (json_int_t)t->st.suppressed, "omitted", (json_int_t)t->st.omitted, "dropped",
		      (json_int_t)t->st.dropped);
	if (!o || !keys || !closed)
		goto exit;
	for (size_t i = 0; fl_map_next(&t->keys, &i, &key, &val);)
		if (!(v = tkey_json(t, val)) || json_object_set_new(keys, key, v) < 0)
			goto exit;
	for (size_t i = 0; i < t->nclosed; i++) {
		v = tkey_json(t, t->closed[i].k);
		if (!v || json_object_set_new(v, "key", json_string(t->closed[i].key)) < 0) {
			json_decref(v);
			goto exit;
		}
		if (json_array_append_new(closed, v) < 0) /* v is gone either way */
			goto exit;
	}
	if (json_object_set(o, "keys", keys) < 0 ||
	    (t->kind == CP_PB_ONCE_AFTER && json_object_set(o, "closed", closed) < 0))
		goto exit;
	*out = o;
	o = NULL;
	rc = 0;
exit:
	json_decref(o);
	json_decref(keys);
	json_decref(closed);
	return rc < 0 ? fl_err_set(err, rc, "out of memory") : 0;
}

static int time_ok(int64_t *out, const json_t *v, const char *what, struct fl_err *err)
{
	if (!json_is_integer(v) || json_integer_value(v) > TIME_MAX ||
	    json_integer_value(v) < -TIME_MAX)
		return fl_err_set(err, FL_EINVAL, "throttle state: %s is not a time", what);
	*out = json_integer_value(v);
	return 0;
}

/* One saved key into a new struct tkey. */
static int tkey_load(struct tkey **out, const struct cp_pb_throttle *t, const json_t *v, int closed,
		     struct fl_err *err)
{
	static const char *const within[] = {"at", NULL};
	static const char *const after[] = {"at", "events", "omitted", NULL};
	static const char *const after_closed[] = {"at", "events", "omitted", "key", NULL};
	static const char *const thr[] = {"times", "events", NULL};
	const json_t *events = json_object_get(v, "events"), *times = json_object_get(v, "times");
	struct tkey *k = NULL;
	size_t n = json_array_size(events), i;
	json_t *x;
	int64_t om = 0;
	int rc;

	*out = NULL;
	if (!json_is_object(v))
		return fl_err_set(err, FL_EINVAL, "throttle state: a key is not an object");
	rc = fl_json_only(v,
			  t->kind == CP_PB_ONCE_WITHIN ? within
			  : t->kind == CP_PB_THRESHOLD ? thr
			  : closed		       ? after_closed
						       : after,
			  err);
	if (rc < 0)
		return rc;
	if (!(k = tkey_new(t)))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	if (t->kind != CP_PB_THRESHOLD &&
	    (rc = time_ok(&k->at, json_object_get(v, "at"), "at", err)) < 0)
		goto exit;
	if (t->kind != CP_PB_ONCE_WITHIN) {
		size_t max = t->kind == CP_PB_THRESHOLD ? (size_t)t->count - 1 : CP_PB_FIRE_MAX;

		if (!json_is_array(events) || n < 1 || n > max) {
			rc = fl_err_set(err, FL_EINVAL, "throttle state: events must be 1..%zu",
					max);
			goto exit;
		}
		json_array_foreach (events, i, x)
			if (json_array_append(k->events, x) < 0) {
				rc = fl_err_set(err, FL_ENOMEM, "out of memory");
				goto exit;
			}
	}
	if (t->kind == CP_PB_ONCE_AFTER) {
		if ((rc = fl_json_int(&om, v, "omitted", 1, err)) < 0)
			goto exit;
		if (om < 0) {
			rc = fl_err_set(err, FL_EINVAL, "throttle state: omitted < 0");
			goto exit;
		}
		k->omitted = om;
	}
	if (t->kind == CP_PB_THRESHOLD) {
		if (json_array_size(times) != n) {
			rc = fl_err_set(err, FL_EINVAL, "throttle state: one time per event");
			goto exit;
		}
		json_array_foreach (times, i, x) {
			if ((rc = time_ok(&k->times[i], x, "times", err)) < 0)
				goto exit;
			if (i && k->times[i] < k->times[i - 1]) {
				rc = fl_err_set(err, FL_EINVAL,
						"throttle state: times out of order");
				goto exit;
			}
		}
	}
	*out = k;
	k = NULL;
	rc = 0;
exit:
	tkey_free(k);
	return rc;
}

int cp_pb_throttle_load(struct cp_pb_throttle *t, const json_t *state, struct fl_err *err)
{
	static const char *const allowed[] = {"kind", "window_s", "count", "stats",
					      "keys", "closed",	  NULL};
	static const char *const stat_names[] = {"offered", "fired",   "suppressed",
						 "omitted", "dropped", NULL};
	struct cp_pb_throttle n = *t; /* the new state, swapped in on success */
	json_t *keys, *closed, *stats, *v;
	const char *kind = NULL, *key;
	int64_t window = 0, count = 0, *st[5];
	size_t i;
	int rc;

	fl_map_init(&n.keys);
	n.closed = NULL;
	n.nclosed = n.capclosed = 0;
	n.next_due = INT64_MAX;
	memset(&n.st, 0, sizeof(n.st));
	st[0] = &n.st.offered;
	st[1] = &n.st.fired;
	st[2] = &n.st.suppressed;
	st[3] = &n.st.omitted;
	st[4] = &n.st.dropped;
	if (!json_is_object(state)) {
		rc = fl_err_set(err, FL_EINVAL, "throttle state is not an object");
		goto exit;
	}
	if ((rc = fl_json_only(state, allowed, err)) < 0 ||
	    (rc = fl_json_str(&kind, state, "kind", 1, err)) < 0 ||
	    (rc = fl_json_int(&window, state, "window_s", 1, err)) < 0 ||
	    (rc = fl_json_int(&count, state, "count", 1, err)) < 0)
		goto exit;
	if (strcmp(kind, kind_names[t->kind]) != 0 || window != t->window || count != t->count) {
		rc = fl_err_set(err, FL_ECONFLICT,
				"throttle state is of %.32s %llds count %lld, the throttle is %s "
				"%llds count %d",
				kind, (long long)window, (long long)count, kind_names[t->kind],
				(long long)t->window, t->count);
		goto exit;
	}
	stats = json_object_get(state, "stats");
	if (!json_is_object(stats) || (rc = fl_json_only(stats, stat_names, err)) < 0) {
		rc = rc < 0 ? rc : fl_err_set(err, FL_EINVAL, "throttle state: stats missing");
		goto exit;
	}
	for (i = 0; stat_names[i]; i++) {
		if ((rc = fl_json_int(st[i], stats, stat_names[i], 1, err)) < 0)
			goto exit;
		if (*st[i] < 0) {
			rc = fl_err_set(err, FL_EINVAL, "throttle state: %s < 0", stat_names[i]);
			goto exit;
		}
	}
	keys = json_object_get(state, "keys");
	closed = json_object_get(state, "closed");
	if (!json_is_object(keys) || (closed && t->kind != CP_PB_ONCE_AFTER) ||
	    (closed && !json_is_array(closed))) {
		rc = fl_err_set(err, FL_EINVAL, "throttle state: bad keys or closed");
		goto exit;
	}
	if (json_object_size(keys) + json_array_size(closed) > t->max_keys) {
		rc = fl_err_set(err, FL_EINVAL, "throttle state holds %zu keys, at most %zu",
				json_object_size(keys) + json_array_size(closed), t->max_keys);
		goto exit;
	}
	json_object_foreach (keys, key, v) {
		struct tkey *k;

		if (strlen(key) > CP_PB_KEY_MAX) {
			rc = fl_err_set(err, FL_EINVAL, "throttle state: key too long");
			goto exit;
		}
		if ((rc = tkey_load(&k, t, v, 0, err)) < 0)
			goto exit;
		if ((rc = fl_map_put(&n.keys, key, k, NULL)) < 0) {
			tkey_free(k);
			rc = fl_err_set(err, rc, "out of memory");
			goto exit;
		}
		note_due(&n, k);
	}
	json_array_foreach (closed, i, v) {
		const char *ck = json_string_value(json_object_get(v, "key"));
		struct tkey *k;

		if (!ck || strlen(ck) > CP_PB_KEY_MAX) {
			rc = fl_err_set(err, FL_EINVAL, "throttle state: a closed window's key");
			goto exit;
		}
		if ((rc = tkey_load(&k, t, v, 1, err)) < 0)
			goto exit;
		if ((rc = close_window(&n, ck, k)) < 0) {
			tkey_free(k);
			rc = fl_err_set(err, rc, "out of memory");
			goto exit;
		}
	}
	/* Success: the old state goes, the new one stays. */
	clear_state(&t->keys, t->closed, t->nclosed);
	t->keys = n.keys;
	t->closed = n.closed;
	t->nclosed = n.nclosed;
	t->capclosed = n.capclosed;
	t->next_due = n.next_due;
	t->st = n.st;
	return 0;
exit:
	clear_state(&n.keys, n.closed, n.nclosed);
	return rc;
}

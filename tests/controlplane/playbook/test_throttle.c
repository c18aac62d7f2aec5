/* test_throttle.c - the playbook throttles with an injected clock: each
 * kind at its window's edges, independent keys, storms, the key bound,
 * tick, and state that survives a restart. */
#include <stdio.h>

#include "fl_test.h"
#include "playbook/throttle.h"

#define T0 1900000000LL
#define W  60

static struct cp_pb_throttle *mk(enum cp_pb_throttle_kind kind, int64_t window, int count)
{
	struct fl_err err = {0, ""};
	struct cp_pb_throttle *t = NULL;

	cr_assert_eq(cp_pb_throttle_new(&t, kind, window, count, &err), 0, "%s", err.msg);
	return t;
}

/* Offers event {"n": n} and returns the size of the firing (0: none). */
static size_t offer(struct cp_pb_throttle *t, const char *key, int n, int64_t now)
{
	struct fl_err err = {0, ""};
	json_t *ev = json_pack("{s:i}", "n", n), *fire = NULL;
	size_t sz;

	cr_assert_eq(cp_pb_throttle_offer(&fire, t, key, ev, now, &err), 0, "%s", err.msg);
	json_decref(ev);
	sz = json_array_size(fire);
	cr_assert(fire == NULL || sz > 0);
	json_decref(fire);
	return sz;
}

/* As offer, and the firing's events are numbered want[0..nwant). */
static void offer_fires(struct cp_pb_throttle *t, const char *key, int n, int64_t now,
			const int *want, size_t nwant)
{
	struct fl_err err = {0, ""};
	json_t *ev = json_pack("{s:i}", "n", n), *fire = NULL;

	cr_assert_eq(cp_pb_throttle_offer(&fire, t, key, ev, now, &err), 0, "%s", err.msg);
	json_decref(ev);
	cr_assert_eq(json_array_size(fire), nwant, "firing of %zu, want %zu", json_array_size(fire),
		     nwant);
	for (size_t i = 0; i < nwant; i++)
		cr_assert_eq(json_integer_value(json_object_get(json_array_get(fire, i), "n")),
			     want[i]);
	json_decref(fire);
}

static struct cp_pb_throttle_stats stats(const struct cp_pb_throttle *t)
{
	struct cp_pb_throttle_stats st;

	cp_pb_throttle_stats(&st, t);
	return st;
}

/* What tick emitted. */
struct emitted {
	int n;
	char keys[16][32];
	size_t sizes[16];
	int first[16];
	int64_t omitted[16];
	int fail_at; /* emit number that fails, -1: none */
};

static int collect(void *arg, const char *key, json_t *events, int64_t omitted)
{
	struct emitted *e = arg;

	if (e->n == e->fail_at) {
		e->fail_at = -1;
		return FL_ERROR;
	}
	cr_assert_lt(e->n, 16);
	snprintf(e->keys[e->n], sizeof(e->keys[0]), "%s", key);
	e->sizes[e->n] = json_array_size(events);
	e->first[e->n] = (int)json_integer_value(json_object_get(json_array_get(events, 0), "n"));
	e->omitted[e->n] = omitted;
	e->n++;
	return 0;
}

static struct emitted tick(struct cp_pb_throttle *t, int64_t now)
{
	struct fl_err err = {0, ""};
	struct emitted e = {.fail_at = -1};

	cr_assert_eq(cp_pb_throttle_tick(t, now, collect, &e, &err), 0, "%s", err.msg);
	return e;
}

/* The state through its text and back into a fresh throttle, as a restart
 * does. */
static struct cp_pb_throttle *restart(struct cp_pb_throttle *t, enum cp_pb_throttle_kind kind,
				      int count)
{
	struct fl_err err = {0, ""};
	struct cp_pb_throttle *n = mk(kind, W, count);
	json_t *st = NULL, *back;
	char *text;

	cr_assert_eq(cp_pb_throttle_save(&st, t, &err), 0, "%s", err.msg);
	text = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
	cr_assert_not_null(text);
	json_decref(st);
	cp_pb_throttle_free(t);
	back = json_loads(text, 0, NULL);
	cr_assert_not_null(back, "%s", text);
	free(text);
	cr_assert_eq(cp_pb_throttle_load(n, back, &err), 0, "%s", err.msg);
	json_decref(back);
	return n;
}

/* ---- once_within ------------------------------------------------------ */

Test(pb_throttle, once_within_window_edges)
{
	struct cp_pb_throttle *t = mk(CP_PB_ONCE_WITHIN, W, 0);
	const int one[] = {1}, four[] = {4};

	offer_fires(t, "a", 1, T0, one, 1);
	cr_assert_eq(offer(t, "a", 2, T0 + 1), 0);
	cr_assert_eq(offer(t, "a", 3, T0 + W - 1), 0);
	/* W after the firing the window is over: fires, and a new one starts */
	offer_fires(t, "a", 4, T0 + W, four, 1);
	cr_assert_eq(offer(t, "a", 5, T0 + W + 1), 0);
	cr_assert_eq(offer(t, "a", 6, T0 + 2 * W - 1), 0);
	cr_assert_eq(offer(t, "a", 7, T0 + 2 * W), 1);
	/* a window counts from its firing, not from the last event */
	cr_assert_eq(offer(t, "b", 1, T0), 1);
	cr_assert_eq(offer(t, "b", 2, T0 + W + 1), 1);
	cr_assert_eq(offer(t, "b", 3, T0 + 2 * W), 0);
	cr_assert_eq(offer(t, "b", 4, T0 + 2 * W + 1), 1);
	cr_assert_eq(stats(t).fired, 6);
	cr_assert_eq(stats(t).suppressed, 5);
	cr_assert_eq(stats(t).offered, 11);
	cp_pb_throttle_free(t);
}

Test(pb_throttle, once_within_keys_are_independent)
{
	struct cp_pb_throttle *t = mk(CP_PB_ONCE_WITHIN, W, 0);

	cr_assert_eq(offer(t, "site=a", 1, T0), 1);
	cr_assert_eq(offer(t, "site=b", 2, T0 + 10), 1);
	cr_assert_eq(offer(t, "site=a", 3, T0 + 20), 0);
	cr_assert_eq(offer(t, "", 4, T0 + 30), 1);
	cr_assert_eq(offer(t, "site=b", 5, T0 + W + 9), 0);
	cr_assert_eq(offer(t, "site=a", 6, T0 + W), 1);
	cr_assert_eq(offer(t, "site=b", 7, T0 + W + 10), 1);
	cr_assert_eq(stats(t).keys, 3);
	cp_pb_throttle_free(t);
}

Test(pb_throttle, once_within_storm)
{
	struct cp_pb_throttle *t = mk(CP_PB_ONCE_WITHIN, W, 0);
	static const char *const keys[] = {"k1", "k2", "k3"};
	int fired = 0;

	/* 1000 events in 10 s over 3 keys */
	for (int i = 0; i < 1000; i++)
		fired += (int)offer(t, keys[i % 3], i, T0 + i / 100);
	cr_assert_eq(fired, 3);
	cr_assert_eq(stats(t).fired, 3);
	cr_assert_eq(stats(t).suppressed, 997);
	cp_pb_throttle_free(t);
}

/* ---- once_after ------------------------------------------------------- */

Test(pb_throttle, once_after_window_edges)
{
	struct cp_pb_throttle *t = mk(CP_PB_ONCE_AFTER, W, 0);
	struct emitted e;

	cr_assert_eq(offer(t, "a", 1, T0), 0);
	cr_assert_eq(offer(t, "a", 2, T0 + W - 1), 0);
	cr_assert_eq(tick(t, T0 + W - 1).n, 0);
	e = tick(t, T0 + W);
	cr_assert_eq(e.n, 1);
	cr_assert_str_eq(e.keys[0], "a");
	cr_assert_eq(e.sizes[0], 2);
	cr_assert_eq(e.first[0], 1);
	cr_assert_eq(e.omitted[0], 0);
	cr_assert_eq(tick(t, T0 + W + 1).n, 0);
	cr_assert_eq(stats(t).keys, 0);
	/* an event at the close belongs to the next window, even before tick */
	cr_assert_eq(offer(t, "b", 1, T0), 0);
	cr_assert_eq(offer(t, "b", 2, T0 + W - 1), 0);
	cr_assert_eq(offer(t, "b", 3, T0 + W), 0);
	cr_assert_eq(offer(t, "b", 4, T0 + W + 1), 0);
	e = tick(t, T0 + W + 1);
	cr_assert_eq(e.n, 1);
	cr_assert_eq(e.sizes[0], 2);
	cr_assert_eq(e.first[0], 1);
	cr_assert_eq(tick(t, T0 + 2 * W - 1).n, 0);
	e = tick(t, T0 + 2 * W);
	cr_assert_eq(e.n, 1);
	cr_assert_eq(e.sizes[0], 2);
	cr_assert_eq(e.first[0], 3);
	cr_assert_eq(stats(t).fired, 3);
	cp_pb_throttle_free(t);
}

Test(pb_throttle, once_after_storm_is_one_bounded_firing)
{
	struct cp_pb_throttle *t = mk(CP_PB_ONCE_AFTER, W, 0);
	struct emitted e;

	for (int i = 0; i < 1000; i++)
		cr_assert_eq(offer(t, "k", i, T0 + i / 100), 0);
	cr_assert_eq(tick(t, T0 + W - 1).n, 0);
	e = tick(t, T0 + W);
	cr_assert_eq(e.n, 1);
	cr_assert_eq(e.sizes[0], CP_PB_FIRE_MAX);
	cr_assert_eq(e.first[0], 0);
	cr_assert_eq(e.omitted[0], 1000 - CP_PB_FIRE_MAX);
	cr_assert_eq(stats(t).omitted, 1000 - CP_PB_FIRE_MAX);
	cr_assert_eq(stats(t).fired, 1);
	cr_assert_eq(tick(t, T0 + 10 * W).n, 0);
	cp_pb_throttle_free(t);
}

Test(pb_throttle, once_after_tick_emits_oldest_first_once)
{
	struct cp_pb_throttle *t = mk(CP_PB_ONCE_AFTER, W, 0);
	struct fl_err err = {0, ""};
	struct emitted e = {.fail_at = 1};

	cr_assert_eq(offer(t, "z", 1, T0), 0);
	cr_assert_eq(offer(t, "b", 2, T0 + 1), 0);
	cr_assert_eq(offer(t, "a", 3, T0 + 1), 0);
	cr_assert_eq(offer(t, "late", 4, T0 + 5), 0);
	/* the second emit fails: tick stops there, the rest stay */
	cr_assert_eq(cp_pb_throttle_tick(t, T0 + W + 1, collect, &e, &err), FL_ERROR);
	cr_assert_eq(e.n, 1);
	cr_assert_str_eq(e.keys[0], "z");
	e = tick(t, T0 + W + 1);
	cr_assert_eq(e.n, 2);
	cr_assert_str_eq(e.keys[0], "a");
	cr_assert_str_eq(e.keys[1], "b");
	e = tick(t, T0 + W + 5);
	cr_assert_eq(e.n, 1);
	cr_assert_str_eq(e.keys[0], "late");
	cr_assert_eq(tick(t, T0 + 5 * W).n, 0);
	cr_assert_eq(stats(t).fired, 4);
	cr_assert_eq(stats(t).keys, 0);
	cp_pb_throttle_free(t);
}

/* ---- threshold -------------------------------------------------------- */

Test(pb_throttle, threshold_window_edges)
{
	struct cp_pb_throttle *t = mk(CP_PB_THRESHOLD, W, 2);
	const int pair[] = {1, 2}, late[] = {2, 3};

	/* the 2nd event W-1 after the 1st: within the window */
	cr_assert_eq(offer(t, "a", 1, T0), 0);
	offer_fires(t, "a", 2, T0 + W - 1, pair, 2);
	/* the window restarts empty: one more event does not fire */
	cr_assert_eq(offer(t, "a", 3, T0 + W), 0);
	/* W after: the 1st has slid out */
	cr_assert_eq(offer(t, "b", 1, T0), 0);
	cr_assert_eq(offer(t, "b", 2, T0 + W), 0);
	offer_fires(t, "b", 3, T0 + W + 1, late, 2);
	cr_assert_eq(stats(t).suppressed, 1);
	cr_assert_eq(stats(t).fired, 2);
	cp_pb_throttle_free(t);
}

Test(pb_throttle, threshold_slides)
{
	struct cp_pb_throttle *t = mk(CP_PB_THRESHOLD, W, 3);
	const int want[] = {2, 3, 4};

	/* 1 at T0 no longer counts at T0+W: 2, 3, 4 fire at T0+W+29 */

	cr_assert_eq(offer(t, "k", 1, T0), 0);
	cr_assert_eq(offer(t, "k", 2, T0 + 30), 0);
	cr_assert_eq(offer(t, "k", 3, T0 + W), 0);    /* 1 slid out */
	offer_fires(t, "k", 4, T0 + W + 29, want, 3); /* 2, 3, 4 within 59 s */
	cr_assert_eq(stats(t).suppressed, 1);
	cr_assert_eq(stats(t).keys, 0);
	cp_pb_throttle_free(t);
}

Test(pb_throttle, threshold_fires_on_the_count)
{
	struct cp_pb_throttle *t = mk(CP_PB_THRESHOLD, W, 3);
	const int want[] = {1, 2, 3};

	cr_assert_eq(offer(t, "k", 1, T0), 0);
	cr_assert_eq(offer(t, "other", 9, T0), 0);
	cr_assert_eq(offer(t, "k", 2, T0 + 30), 0);
	offer_fires(t, "k", 3, T0 + W - 1, want, 3);
	cp_pb_throttle_free(t);
}

Test(pb_throttle, threshold_storm)
{
	struct cp_pb_throttle *t = mk(CP_PB_THRESHOLD, W, 5);
	int firings = 0;

	for (int i = 0; i < 1000; i++) {
		size_t n = offer(t, "k", i, T0 + i / 100);

		cr_assert(n == 0 || n == 5);
		firings += n == 5;
	}
	cr_assert_eq(firings, 200);
	cr_assert_eq(stats(t).fired, 200);
	cr_assert_eq(stats(t).suppressed, 0);
	cp_pb_throttle_free(t);
}

/* ---- bounds ----------------------------------------------------------- */

Test(pb_throttle, key_bound_once_within)
{
	struct cp_pb_throttle *t = mk(CP_PB_ONCE_WITHIN, W, 0);
	struct fl_err err = {0, ""};
	json_t *ev = json_object(), *fire = NULL;
	char key[32];

	for (int i = 0; i < CP_PB_THROTTLE_MAX_KEYS; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		cr_assert_eq(offer(t, key, i, T0 + i % 10), 1);
	}
	cr_assert_eq(stats(t).keys, CP_PB_THROTTLE_MAX_KEYS);
	/* full, nothing expired: a new key is refused and counted */
	cr_assert_eq(cp_pb_throttle_offer(&fire, t, "new", ev, T0 + 30, &err), FL_EAGAIN);
	cr_assert_null(fire);
	cr_assert(strstr(err.msg, "dropped") != NULL, "%s", err.msg);
	cr_assert_eq(stats(t).dropped, 1);
	/* known keys still work */
	cr_assert_eq(offer(t, "key-5", 0, T0 + 31), 0);
	/* at T0+W the keys of T0 have expired and make room */
	cr_assert_eq(offer(t, "new", 0, T0 + W), 1);
	cr_assert_eq(stats(t).keys, CP_PB_THROTTLE_MAX_KEYS - CP_PB_THROTTLE_MAX_KEYS / 10 + 1);
	/* and their next event fires at once: nothing was lost */
	cr_assert_eq(offer(t, "key-0", 0, T0 + W), 1);
	/* tick drops the rest once expired */
	cr_assert_eq(tick(t, T0 + W + 10).n, 0);
	cr_assert_eq(stats(t).keys, 2);
	json_decref(ev);
	cp_pb_throttle_free(t);
}

Test(pb_throttle, key_bound_once_after_waits_for_tick)
{
	struct cp_pb_throttle *t = mk(CP_PB_ONCE_AFTER, W, 0);
	struct fl_err err = {0, ""};
	json_t *ev = json_object(), *fire = NULL;

	cr_assert_eq(cp_pb_throttle_set_max_keys(t, 0, &err), FL_EINVAL);
	cr_assert_eq(cp_pb_throttle_set_max_keys(t, 3, &err), 0);
	cr_assert_eq(offer(t, "a", 1, T0), 0);
	cr_assert_eq(offer(t, "b", 1, T0), 0);
	cr_assert_eq(offer(t, "c", 1, T0), 0);
	cr_assert_eq(cp_pb_throttle_offer(&fire, t, "d", ev, T0 + 1, &err), FL_EAGAIN);
	/* a closed window is not dropped before tick emits it */
	cr_assert_eq(cp_pb_throttle_offer(&fire, t, "d", ev, T0 + W + 1, &err), FL_EAGAIN);
	cr_assert_eq(stats(t).dropped, 2);
	cr_assert_eq(tick(t, T0 + W + 1).n, 3);
	cr_assert_eq(offer(t, "d", 1, T0 + W + 2), 0);
	json_decref(ev);
	cp_pb_throttle_free(t);
}

Test(pb_throttle, key_bound_threshold_and_long_keys)
{
	struct cp_pb_throttle *t = mk(CP_PB_THRESHOLD, W, 3);
	struct fl_err err = {0, ""};
	json_t *ev = json_object(), *fire = NULL;
	char big[CP_PB_KEY_MAX + 2];

	cr_assert_eq(cp_pb_throttle_set_max_keys(t, 2, &err), 0);
	cr_assert_eq(offer(t, "a", 1, T0), 0);
	cr_assert_eq(offer(t, "b", 1, T0 + 10), 0);
	cr_assert_eq(cp_pb_throttle_offer(&fire, t, "c", ev, T0 + W - 1, &err), FL_EAGAIN);
	/* a's event slid out at T0+W: its key goes, counted as suppressed */
	cr_assert_eq(offer(t, "c", 1, T0 + W), 0);
	cr_assert_eq(stats(t).suppressed, 1);
	cr_assert_eq(stats(t).dropped, 1);
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(cp_pb_throttle_offer(&fire, t, big, ev, T0 + W, &err), FL_ETOOBIG);
	cr_assert_eq(stats(t).dropped, 2);
	big[CP_PB_KEY_MAX] = '\0';
	cr_assert_eq(offer(t, big, 1, T0 + 2 * W), 0);
	cr_assert_eq(cp_pb_throttle_offer(&fire, t, NULL, ev, T0, &err), FL_EINVAL);
	cr_assert_eq(cp_pb_throttle_offer(&fire, t, "a", NULL, T0, &err), FL_EINVAL);
	json_decref(ev);
	cp_pb_throttle_free(t);
}

Test(pb_throttle, new_refuses_bad_parameters)
{
	struct fl_err err = {0, ""};
	struct cp_pb_throttle *t = (struct cp_pb_throttle *)&err;

	cr_assert_eq(cp_pb_throttle_new(&t, CP_PB_ONCE_WITHIN, 0, 0, &err), FL_EINVAL);
	cr_assert_null(t);
	cr_assert(strstr(err.msg, "window") != NULL, "%s", err.msg);
	cr_assert_eq(cp_pb_throttle_new(&t, CP_PB_ONCE_AFTER, 31 * 86400, 0, &err), FL_EINVAL);
	cr_assert_eq(cp_pb_throttle_new(&t, CP_PB_THRESHOLD, W, 0, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "count") != NULL, "%s", err.msg);
	cr_assert_eq(cp_pb_throttle_new(&t, CP_PB_THRESHOLD, W, CP_PB_THRESHOLD_MAX + 1, &err),
		     FL_EINVAL);
	cr_assert_eq(cp_pb_throttle_new(&t, CP_PB_ONCE_WITHIN, W, 5, &err), FL_EINVAL);
	cr_assert_eq(cp_pb_throttle_new(&t, (enum cp_pb_throttle_kind)7, W, 0, &err), FL_EINVAL);
	cp_pb_throttle_free(NULL);
}

/* ---- save and load ---------------------------------------------------- */

Test(pb_throttle, restart_keeps_once_within_window)
{
	struct cp_pb_throttle *t = mk(CP_PB_ONCE_WITHIN, W, 0);

	cr_assert_eq(offer(t, "a", 1, T0), 1);
	cr_assert_eq(offer(t, "a", 2, T0 + 5), 0);
	cr_assert_eq(offer(t, "b", 1, T0 + 20), 1);
	t = restart(t, CP_PB_ONCE_WITHIN, 0);
	cr_assert_eq(offer(t, "a", 3, T0 + W - 1), 0);
	cr_assert_eq(offer(t, "a", 4, T0 + W), 1);
	cr_assert_eq(offer(t, "b", 2, T0 + W), 0);
	cr_assert_eq(offer(t, "b", 3, T0 + W + 20), 1);
	cr_assert_eq(stats(t).fired, 4);
	cr_assert_eq(stats(t).suppressed, 3);
	cp_pb_throttle_free(t);
}

Test(pb_throttle, restart_keeps_once_after_windows)
{
	struct cp_pb_throttle *t = mk(CP_PB_ONCE_AFTER, W, 0);
	struct emitted e;

	for (int i = 0; i < 150; i++)
		cr_assert_eq(offer(t, "a", i, T0 + i / 10), 0);
	cr_assert_eq(offer(t, "b", 1, T0), 0);
	cr_assert_eq(offer(t, "b", 2, T0 + W), 0); /* b's first window waits closed */
	t = restart(t, CP_PB_ONCE_AFTER, 0);
	cr_assert_eq(stats(t).keys, 3);
	cr_assert_eq(offer(t, "a", 999, T0 + W - 1), 0);
	e = tick(t, T0 + W);
	cr_assert_eq(e.n, 2);
	cr_assert_str_eq(e.keys[0], "a");
	cr_assert_eq(e.sizes[0], CP_PB_FIRE_MAX);
	cr_assert_eq(e.omitted[0], 51);
	cr_assert_str_eq(e.keys[1], "b");
	cr_assert_eq(e.sizes[1], 1);
	e = tick(t, T0 + 2 * W);
	cr_assert_eq(e.n, 1);
	cr_assert_eq(e.first[0], 2);
	cp_pb_throttle_free(t);
}

Test(pb_throttle, restart_keeps_threshold_events)
{
	struct cp_pb_throttle *t = mk(CP_PB_THRESHOLD, W, 3);
	const int want[] = {1, 2, 3};

	cr_assert_eq(offer(t, "k", 1, T0), 0);
	cr_assert_eq(offer(t, "k", 2, T0 + 10), 0);
	t = restart(t, CP_PB_THRESHOLD, 3);
	offer_fires(t, "k", 3, T0 + W - 1, want, 3);
	cp_pb_throttle_free(t);
}

Test(pb_throttle, load_refuses_other_throttles_and_bad_state)
{
	struct fl_err err = {0, ""};
	struct cp_pb_throttle *t = mk(CP_PB_ONCE_WITHIN, W, 0),
			      *o = mk(CP_PB_ONCE_WITHIN, 2 * W, 0);
	json_t *st = NULL, *bad;

	cr_assert_eq(offer(t, "a", 1, T0), 1);
	cr_assert_eq(cp_pb_throttle_save(&st, t, &err), 0);
	/* the playbook's window changed: the state does not apply */
	cr_assert_eq(cp_pb_throttle_load(o, st, &err), FL_ECONFLICT);
	cr_assert(strstr(err.msg, "once_within") != NULL, "%s", err.msg);
	cp_pb_throttle_free(o);
	o = mk(CP_PB_THRESHOLD, W, 2);
	cr_assert_eq(cp_pb_throttle_load(o, st, &err), FL_ECONFLICT);
	cp_pb_throttle_free(o);
	json_decref(st);

	bad = json_pack("{s:s,s:i,s:i,s:{s:i,s:i,s:i,s:i,s:i},s:{s:{s:s}}}", "kind", "once_within",
			"window_s", W, "count", 0, "stats", "offered", 0, "fired", 0, "suppressed",
			0, "omitted", 0, "dropped", 0, "keys", "x", "at", "soon");
	cr_assert_eq(cp_pb_throttle_load(t, bad, &err), FL_EINVAL);
	json_decref(bad);
	bad = json_pack("{s:s,s:i,s:i,s:{},s:{}}", "kind", "once_within", "window_s", W, "count", 0,
			"stats", "keys");
	cr_assert_eq(cp_pb_throttle_load(t, bad, &err), FL_EINVAL);
	json_decref(bad);
	bad = json_pack("[]");
	cr_assert_eq(cp_pb_throttle_load(t, bad, &err), FL_EINVAL);
	json_decref(bad);
	/* t is unchanged by the failed loads */
	cr_assert_eq(offer(t, "a", 2, T0 + W - 1), 0);
	cr_assert_eq(stats(t).fired, 1);
	cp_pb_throttle_free(t);
}

Test(pb_throttle, load_bounds_the_state)
{
	struct fl_err err = {0, ""};
	struct cp_pb_throttle *t = mk(CP_PB_THRESHOLD, W, 2);
	json_t *st = json_pack("{s:s,s:i,s:i,s:{s:i,s:i,s:i,s:i,s:i},s:{s:{s:[i,i],s:[{},{}]}}}",
			       "kind", "threshold", "window_s", W, "count", 2, "stats", "offered",
			       0, "fired", 0, "suppressed", 0, "omitted", 0, "dropped", 0, "keys",
			       "k", "times", (int)T0, (int)T0, "events");

	/* two held events would have fired at a count of 2 */
	cr_assert_eq(cp_pb_throttle_load(t, st, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "events") != NULL, "%s", err.msg);
	json_decref(st);
	cp_pb_throttle_free(t);
}

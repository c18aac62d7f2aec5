#include "writebehind.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/log.h"
#include "fairlead/map.h"
#include "fairlead/util.h"

/* One batch: the latest state per device and every command result in order. */
struct batch {
	struct fl_map devices; /* id -> struct cp_checkin_rec * */
	struct cp_command_result *results;
	size_t nresults, capresults;
	int64_t oldest_ms;
};

struct cp_wb {
	struct cp_store *store;
	int interval_ms;
	pthread_mutex_t lock;	    /* guards cur and stats */
	pthread_mutex_t flush_lock; /* one flush at a time */
	struct cp_gc gc;	    /* command results wait for their commit */
	pthread_t thread;
	int running;
	struct batch cur;
	struct cp_wb_stats stats;
};

static void batch_release(struct batch *b)
{
	const char *k;
	void *v;

	for (size_t i = 0; fl_map_next(&b->devices, &i, &k, &v);) {
		struct cp_checkin_rec *r = v;

		free(r->inventory);
		free(r->reported);
		free(r->update);
		free(r);
	}
	fl_map_release(&b->devices);
	for (size_t i = 0; i < b->nresults; i++)
		free(b->results[i].result);
	free(b->results);
	memset(b, 0, sizeof(*b));
}

int cp_wb_new(struct cp_wb **out, struct cp_store *store, int interval_ms, struct fl_err *err)
{
	struct cp_wb *wb = calloc(1, sizeof(*wb));

	*out = NULL;
	if (!wb)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	wb->store = store;
	wb->interval_ms = interval_ms > 0 ? interval_ms : 1000;
	pthread_mutex_init(&wb->lock, NULL);
	pthread_mutex_init(&wb->flush_lock, NULL);
	cp_gc_init(&wb->gc);
	fl_map_init(&wb->cur.devices);
	*out = wb;
	return 0;
}

void cp_wb_free(struct cp_wb *wb)
{
	if (!wb)
		return;
	batch_release(&wb->cur);
	cp_gc_release(&wb->gc);
	pthread_mutex_destroy(&wb->flush_lock);
	pthread_mutex_destroy(&wb->lock);
	free(wb);
}

static int dup_into(char **dst, const char *src)
{
	char *c;

	if (!src)
		return 0;
	if (!(c = strdup(src)))
		return FL_ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

int cp_wb_checkin(struct cp_wb *wb, const char *device_id, int64_t now, const char *inventory,
		  const char *reported, const char *update)
{
	struct cp_checkin_rec *r;
	int rc = 0;

	pthread_mutex_lock(&wb->lock);
	r = fl_map_get(&wb->cur.devices, device_id);
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r || fl_map_put(&wb->cur.devices, device_id, r, NULL) < 0) {
			free(r);
			rc = FL_ENOMEM;
			goto out;
		}
		snprintf(r->device_id, sizeof(r->device_id), "%s", device_id);
	}
	if (now > r->last_seen)
		r->last_seen = now;
	if (dup_into(&r->inventory, inventory) < 0 || dup_into(&r->reported, reported) < 0 ||
	    dup_into(&r->update, update) < 0)
		rc = FL_ENOMEM;
	if (!wb->cur.oldest_ms)
		wb->cur.oldest_ms = fl_mono_ms();
out:
	pthread_mutex_unlock(&wb->lock);
	return rc;
}

int cp_wb_command(struct cp_wb *wb, const char *device_id, const char *cmd_id, const char *status,
		  const char *result, int64_t now)
{
	struct batch *b = &wb->cur;
	struct cp_command_result *c;
	int rc = 0;

	pthread_mutex_lock(&wb->lock);
	if (b->nresults == b->capresults) {
		size_t cap = b->capresults ? b->capresults * 2 : 64;
		void *p = realloc(b->results, cap * sizeof(*b->results));

		if (!p) {
			rc = FL_ENOMEM;
			goto out;
		}
		b->results = p;
		b->capresults = cap;
	}
	c = &b->results[b->nresults];
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", cmd_id);
	snprintf(c->device_id, sizeof(c->device_id), "%s", device_id);
	snprintf(c->status, sizeof(c->status), "%s", status);
	if (result && !(c->result = strdup(result))) {
		rc = FL_ENOMEM;
		goto out;
	}
	c->at = now;
	b->nresults++;
	if (!b->oldest_ms)
		b->oldest_ms = fl_mono_ms();
out:
	pthread_mutex_unlock(&wb->lock);
	return rc;
}

uint64_t cp_wb_ticket(struct cp_wb *wb)
{
	uint64_t t;

	pthread_mutex_lock(&wb->lock);
	t = cp_gc_ticket(&wb->gc);
	pthread_mutex_unlock(&wb->lock);
	return t;
}

int cp_wb_wait(struct cp_wb *wb, uint64_t ticket, int64_t deadline_ms, struct fl_err *err)
{
	return cp_gc_wait(&wb->gc, ticket, deadline_ms, err);
}

/* Moves the failed batch's contents back in front of what arrived meanwhile. */
static void requeue(struct cp_wb *wb, struct batch *b)
{
	const char *k;
	void *v;

	pthread_mutex_lock(&wb->lock);
	for (size_t i = 0; fl_map_next(&b->devices, &i, &k, &v);) {
		struct cp_checkin_rec *old = v, *cur = fl_map_get(&wb->cur.devices, k);

		if (!cur) {
			if (fl_map_put(&wb->cur.devices, k, old, NULL) == 0)
				continue;
			/* out of memory: this change is lost; say so loudly */
			fl_log(FL_LOG_ERROR, "write-behind dropped a check-in of '%s'", k);
		} else {
			if (old->last_seen > cur->last_seen)
				cur->last_seen = old->last_seen;
			if (!cur->inventory) {
				cur->inventory = old->inventory;
				old->inventory = NULL;
			}
			if (!cur->reported) {
				cur->reported = old->reported;
				old->reported = NULL;
			}
			if (!cur->update) {
				cur->update = old->update;
				old->update = NULL;
			}
		}
		free(old->inventory);
		free(old->reported);
		free(old->update);
		free(old);
	}
	fl_map_release(&b->devices);
	fl_map_init(&b->devices);
	/* Results keep their order: older ones first. */
	for (size_t i = 0; i < wb->cur.nresults; i++) {
		if (b->nresults == b->capresults) {
			size_t cap = b->capresults ? b->capresults * 2 : 64;
			void *p = realloc(b->results, cap * sizeof(*b->results));

			if (!p)
				break;
			b->results = p;
			b->capresults = cap;
		}
		b->results[b->nresults++] = wb->cur.results[i];
		wb->cur.results[i].result = NULL;
	}
	for (size_t i = 0; i < wb->cur.nresults; i++)
		free(wb->cur.results[i].result);
	free(wb->cur.results);
	wb->cur.results = b->results;
	wb->cur.nresults = b->nresults;
	wb->cur.capresults = b->capresults;
	b->results = NULL;
	b->nresults = b->capresults = 0;
	if (b->oldest_ms && (!wb->cur.oldest_ms || b->oldest_ms < wb->cur.oldest_ms))
		wb->cur.oldest_ms = b->oldest_ms;
	pthread_mutex_unlock(&wb->lock);
}

int cp_wb_flush(struct cp_wb *wb, struct fl_err *err)
{
	struct fl_err local = {0, ""};
	struct batch b;
	struct cp_checkin_rec *recs = NULL;
	const char *k;
	void *v;
	size_t n = 0;
	uint64_t gen;
	int64_t t0;
	int rc = 0;

	/* The flusher passes no err; the log needs the cause all the same. */
	if (!err)
		err = &local;
	pthread_mutex_lock(&wb->flush_lock);
	pthread_mutex_lock(&wb->lock);
	b = wb->cur;
	memset(&wb->cur, 0, sizeof(wb->cur));
	fl_map_init(&wb->cur.devices);
	gen = cp_gc_close(&wb->gc);
	pthread_mutex_unlock(&wb->lock);

	if (fl_map_len(&b.devices) == 0 && b.nresults == 0)
		goto done;
	t0 = fl_mono_ms();
	recs = calloc(fl_map_len(&b.devices) + 1, sizeof(*recs));
	if (!recs) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
	} else {
		for (size_t i = 0; fl_map_next(&b.devices, &i, &k, &v);)
			recs[n++] = *(struct cp_checkin_rec *)v; /* shallow: b still owns */
		rc = cp_store_checkins_apply(wb->store, recs, n, b.results, b.nresults, err);
	}
	free(recs);
	pthread_mutex_lock(&wb->lock);
	wb->stats.last_flush_ms = fl_mono_ms() - t0;
	if (rc < 0)
		wb->stats.flush_errors++;
	else
		wb->stats.flushes++;
	pthread_mutex_unlock(&wb->lock);
	if (rc < 0) {
		fl_log(FL_LOG_WARN, "write-behind flush failed, will retry: %s", err->msg);
		requeue(wb, &b);
	}
done:
	cp_gc_done(&wb->gc, gen, rc);
	batch_release(&b);
	pthread_mutex_unlock(&wb->flush_lock);
	return rc;
}

static void *flusher(void *arg)
{
	struct cp_wb *wb = arg;

	/* Every interval, and at once while a request waits for its commit.
	 * A failure is logged and counted inside; the batch stays queued. */
	while (!cp_gc_nap(&wb->gc, wb->interval_ms))
		(void)cp_wb_flush(wb, NULL);
	return NULL;
}

int cp_wb_start(struct cp_wb *wb, struct fl_err *err)
{
	if (pthread_create(&wb->thread, NULL, flusher, wb) != 0)
		return fl_err_set(err, FL_ERROR, "cannot start the write-behind thread");
	wb->running = 1;
	return 0;
}

int cp_wb_stop(struct cp_wb *wb, struct fl_err *err)
{
	int rc = 0;

	if (wb->running) {
		cp_gc_stop(&wb->gc);
		pthread_join(wb->thread, NULL);
		wb->running = 0;
	}
	/* A few tries: a busy database at shutdown must not lose acknowledged data. */
	for (int i = 0; i < 5; i++) {
		rc = cp_wb_flush(wb, err);
		if (rc == 0)
			break;
	}
	return rc;
}

void cp_wb_stats(struct cp_wb_stats *out, struct cp_wb *wb)
{
	pthread_mutex_lock(&wb->lock);
	*out = wb->stats;
	out->pending_devices = fl_map_len(&wb->cur.devices);
	out->pending_results = wb->cur.nresults;
	out->oldest_pending_ms = wb->cur.oldest_ms ? fl_mono_ms() - wb->cur.oldest_ms : 0;
	pthread_mutex_unlock(&wb->lock);
}

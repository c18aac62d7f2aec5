/*
 * ingest.c - the SLI report queue: dedup by seq, tagging, carbon, and the
 * flusher thread that writes batches through the store.
 */
#include "ingest.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"
#include "fairlead/log.h"
#include "fairlead/map.h"
#include "fairlead/util.h"

#define RETAIN_EVERY_MS 60000

/* What is cached per device. */
struct dev {
	int64_t seq;	 /* highest seq accepted (queued or stored) */
	int64_t dropped; /* the agent's cumulative dropped count */
	char *labels;	 /* compact JSON, keys sorted */
	char site[64], hw[64];
	int64_t tags_at; /* when the tags were read */
};

/* A batch: reports in arrival order and the device states they raise. */
struct batch {
	struct cp_sli_sample *s;
	size_t n, cap;
	struct fl_map states; /* device id -> struct cp_sli_dev_state * */
	int64_t oldest_ms;
};

struct cp_ingest {
	struct cp_store *store;
	const struct cp_carbon *carbon;
	struct cp_ingest_config cfg;
	pthread_mutex_t lock;	    /* guards devs, cur and stats */
	pthread_mutex_t flush_lock; /* one flush at a time */
	struct cp_gc gc;	    /* acknowledgements wait for their commit */
	pthread_t thread;
	int running;
	struct fl_map devs; /* id -> struct dev * */
	struct batch cur;
	struct cp_ingest_stats stats;
	int64_t last_retain_ms;
};

void cp_ingest_config_defaults(struct cp_ingest_config *c)
{
	c->flush_ms = 1000;
	c->max_pending = 20000;
	c->retention_minute_s = 2 * 86400;
	c->retention_5m_s = 35 * 86400;
	c->retention_1h_s = 400 * 86400;
}

void cp_ingest_report_release(struct cp_ingest_report *r)
{
	if (!r)
		return;
	fl_sketch_free(r->latency_ms);
	free(r->drift);
	r->latency_ms = NULL;
	r->drift = NULL;
	r->ndrift = 0;
}

static void batch_release(struct batch *b)
{
	const char *k;
	void *v;

	for (size_t i = 0; i < b->n; i++)
		cp_sli_sample_release(&b->s[i]);
	free(b->s);
	for (size_t i = 0; fl_map_next(&b->states, &i, &k, &v);)
		free(v);
	fl_map_release(&b->states);
	memset(b, 0, sizeof(*b));
	fl_map_init(&b->states);
}

/* Raises the state of id in b to seq and dropped. */
static int batch_state(struct batch *b, const char *id, int64_t seq, int64_t dropped)
{
	struct cp_sli_dev_state *st = fl_map_get(&b->states, id);

	if (!st) {
		if (!(st = calloc(1, sizeof(*st))))
			return FL_ENOMEM;
		snprintf(st->device_id, sizeof(st->device_id), "%s", id);
		if (fl_map_put(&b->states, id, st, NULL) < 0) {
			free(st);
			return FL_ENOMEM;
		}
	}
	if (seq > st->seq)
		st->seq = seq;
	if (dropped > st->dropped)
		st->dropped = dropped;
	return 0;
}

int cp_ingest_new(struct cp_ingest **out, struct cp_store *store, const struct cp_carbon *carbon,
		  const struct cp_ingest_config *cfg, struct fl_err *err)
{
	struct cp_ingest *in = calloc(1, sizeof(*in));

	*out = NULL;
	if (!in)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	in->store = store;
	in->carbon = carbon;
	cp_ingest_config_defaults(&in->cfg);
	if (cfg) {
		in->cfg = *cfg;
		if (in->cfg.flush_ms <= 0)
			in->cfg.flush_ms = 1000;
		if (in->cfg.max_pending == 0)
			in->cfg.max_pending = 20000;
	}
	pthread_mutex_init(&in->lock, NULL);
	pthread_mutex_init(&in->flush_lock, NULL);
	cp_gc_init(&in->gc);
	fl_map_init(&in->devs);
	fl_map_init(&in->cur.states);
	in->stats.capacity = in->cfg.max_pending;
	*out = in;
	return 0;
}

static void dev_free(struct dev *d)
{
	if (d)
		free(d->labels);
	free(d);
}

void cp_ingest_free(struct cp_ingest *in)
{
	const char *k;
	void *v;

	if (!in)
		return;
	batch_release(&in->cur);
	fl_map_release(&in->cur.states);
	for (size_t i = 0; fl_map_next(&in->devs, &i, &k, &v);)
		dev_free(v);
	fl_map_release(&in->devs);
	cp_gc_release(&in->gc);
	pthread_mutex_destroy(&in->flush_lock);
	pthread_mutex_destroy(&in->lock);
	free(in);
}

/* Reads the device's tags (labels, site, hw_model) from the store. */
static int load_tags(struct dev *d, struct cp_ingest *in, const char *id, int64_t now,
		     struct fl_err *err)
{
	json_t *row = NULL, *labels;
	const char *site, *hw;
	int rc;

	if ((rc = cp_store_device_get(&row, in->store, id, err)) < 0)
		return rc;
	labels = json_object_get(row, "labels");
	site = json_string_value(json_object_get(labels, "site"));
	hw = json_string_value(json_object_get(json_object_get(row, "inventory"), "hw_model"));
	free(d->labels);
	if (!(d->labels = fl_json_dumps(json_is_object(labels) ? labels : json_object()))) {
		json_decref(row);
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	snprintf(d->site, sizeof(d->site), "%s", site && *site ? site : "default");
	snprintf(d->hw, sizeof(d->hw), "%s", hw && *hw ? hw : "default");
	d->tags_at = now;
	json_decref(row);
	return 0;
}

/* A fresh cache entry for id, read from the store (outside the lock). */
static int load_dev(struct dev **out, struct cp_ingest *in, const char *id, int64_t now,
		    struct fl_err *err)
{
	struct cp_sli_dev_state st;
	struct dev *d = calloc(1, sizeof(*d));
	int rc;

	*out = NULL;
	if (!d)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	if ((rc = cp_store_sli_state(&st, in->store, id, err)) < 0 ||
	    (rc = load_tags(d, in, id, now, err)) < 0) {
		dev_free(d);
		return rc;
	}
	d->seq = st.seq;
	d->dropped = st.dropped;
	*out = d;
	return 0;
}

/* The cached entry of id, loaded on first sight and its tags refreshed when
 * stale. Returns with in->lock held on success. */
static int dev_locked(struct dev **out, struct cp_ingest *in, const char *id, int64_t now,
		      struct fl_err *err)
{
	struct dev *d, *fresh = NULL;
	int rc;

	pthread_mutex_lock(&in->lock);
	d = fl_map_get(&in->devs, id);
	if (d && now - d->tags_at < CP_INGEST_TAG_TTL) {
		*out = d;
		return 0;
	}
	pthread_mutex_unlock(&in->lock);
	if ((rc = load_dev(&fresh, in, id, now, err)) < 0)
		return rc;
	pthread_mutex_lock(&in->lock);
	if ((d = fl_map_get(&in->devs, id))) {
		/* Keep the seq we hold (it may be ahead of the store); take the tags. */
		free(d->labels);
		d->labels = fresh->labels;
		fresh->labels = NULL;
		memcpy(d->site, fresh->site, sizeof(d->site));
		memcpy(d->hw, fresh->hw, sizeof(d->hw));
		d->tags_at = fresh->tags_at;
		dev_free(fresh);
	} else if (fl_map_put(&in->devs, id, fresh, NULL) < 0) {
		pthread_mutex_unlock(&in->lock);
		dev_free(fresh);
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	} else {
		d = fresh;
	}
	*out = d;
	return 0;
}

int cp_ingest_submit(struct cp_ingest_result *res, struct cp_ingest *in, const char *device_id,
		     struct cp_ingest_report *reports, size_t n, int64_t dropped, int64_t now,
		     struct fl_err *err)
{
	struct batch *b = &in->cur;
	struct dev *d = NULL;
	size_t fresh = 0, need;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = dev_locked(&d, in, device_id, now, err)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (reports[i].seq > d->seq)
			fresh++;
	if (fresh && b->n + fresh > in->cfg.max_pending) {
		in->stats.refused += (int64_t)fresh;
		pthread_mutex_unlock(&in->lock);
		return fl_err_set(err, FL_EAGAIN, "report queue full; retry later");
	}
	need = b->n + fresh;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		void *p;

		while (cap < need)
			cap *= 2;
		if (!(p = realloc(b->s, cap * sizeof(*b->s)))) {
			pthread_mutex_unlock(&in->lock);
			return fl_err_set(err, FL_ENOMEM, "out of memory");
		}
		b->s = p;
		b->cap = cap;
	}
	/* The labels copies first: after this loop nothing can fail halfway. */
	for (size_t i = 0; i < fresh; i++) {
		memset(&b->s[b->n + i], 0, sizeof(b->s[0]));
		if (!(b->s[b->n + i].labels = strdup(d->labels))) {
			for (size_t j = 0; j < i; j++)
				free(b->s[b->n + j].labels);
			pthread_mutex_unlock(&in->lock);
			return fl_err_set(err, FL_ENOMEM, "out of memory");
		}
	}
	if (batch_state(b, device_id, d->seq, dropped > d->dropped ? dropped : d->dropped) < 0) {
		for (size_t j = 0; j < fresh; j++)
			free(b->s[b->n + j].labels);
		pthread_mutex_unlock(&in->lock);
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		struct cp_ingest_report *r = &reports[i];
		struct cp_sli_sample *x;

		if (r->seq <= d->seq) {
			res->duplicates++;
			continue;
		}
		x = &b->s[b->n++];
		snprintf(x->device_id, sizeof(x->device_id), "%s", device_id);
		x->minute = r->start - r->start % 60;
		snprintf(x->release, sizeof(x->release), "%s", r->release);
		snprintf(x->site, sizeof(x->site), "%s", d->site);
		snprintf(x->hw, sizeof(x->hw), "%s", d->hw);
		x->inferences = r->inferences;
		x->errors = r->errors;
		x->drift_checks = r->drift_checks;
		x->drift_alarms = r->drift_alarms;
		x->up_s = r->up_s;
		x->expected_s = r->expected_s;
		x->energy_j = r->energy_j;
		x->carbon_g = in->carbon ? cp_carbon_grams(in->carbon, d->site, d->hw, r->energy_j,
							   (double)(r->end - r->start))
					 : 0;
		x->latency_ms = r->latency_ms;
		x->drift = r->drift;
		x->ndrift = r->ndrift;
		r->latency_ms = NULL; /* now owned by the queue */
		r->drift = NULL;
		r->ndrift = 0;
		d->seq = r->seq;
		res->accepted++;
	}
	if (dropped > d->dropped)
		d->dropped = dropped;
	/* The batch state carries the new seq for the store. */
	batch_state(b, device_id, d->seq, d->dropped);
	if (res->accepted && !b->oldest_ms)
		b->oldest_ms = fl_mono_ms();
	in->stats.accepted += res->accepted;
	in->stats.duplicates += res->duplicates;
	res->acked_seq = d->seq;
	/* Duplicates get the ticket too: a resent report may still be waiting
	 * (requeued after a failed write) and must not be acknowledged early. */
	res->ticket = cp_gc_ticket(&in->gc);
	pthread_mutex_unlock(&in->lock);
	return 0;
}

int cp_ingest_wait(struct cp_ingest *in, uint64_t ticket, int64_t deadline_ms, struct fl_err *err)
{
	return cp_gc_wait(&in->gc, ticket, deadline_ms, err);
}

/* Puts a batch that failed to write back in front of what came meanwhile. */
static void requeue(struct cp_ingest *in, struct batch *b)
{
	struct batch *cur = &in->cur;
	const char *k;
	void *v;

	pthread_mutex_lock(&in->lock);
	if (b->n + cur->n > b->cap) {
		void *p = realloc(b->s, (b->n + cur->n) * sizeof(*b->s));

		if (!p) {
			/* Out of memory: the older batch is lost; say so loudly. */
			fl_log(FL_LOG_ERROR, "ingest dropped %zu reports (out of memory)", b->n);
			pthread_mutex_unlock(&in->lock);
			return;
		}
		b->s = p;
		b->cap = b->n + cur->n;
	}
	memcpy(b->s + b->n, cur->s, cur->n * sizeof(*b->s));
	b->n += cur->n;
	free(cur->s);
	cur->s = b->s;
	cur->n = b->n;
	cur->cap = b->cap;
	b->s = NULL;
	b->n = b->cap = 0;
	for (size_t i = 0; fl_map_next(&b->states, &i, &k, &v);) {
		struct cp_sli_dev_state *st = v;

		batch_state(cur, k, st->seq, st->dropped);
	}
	if (b->oldest_ms && (!cur->oldest_ms || b->oldest_ms < cur->oldest_ms))
		cur->oldest_ms = b->oldest_ms;
	pthread_mutex_unlock(&in->lock);
}

int cp_ingest_flush(struct cp_ingest *in, struct fl_err *err)
{
	struct cp_sli_dev_state *states = NULL;
	struct fl_err local = {0, ""};
	struct batch b;
	const char *k;
	void *v;
	size_t ns = 0;
	uint64_t gen;
	int64_t t0;
	int rc = 0;

	/* The flusher passes no err; the log needs the cause all the same. */
	if (!err)
		err = &local;
	pthread_mutex_lock(&in->flush_lock);
	pthread_mutex_lock(&in->lock);
	b = in->cur;
	memset(&in->cur, 0, sizeof(in->cur));
	fl_map_init(&in->cur.states);
	gen = cp_gc_close(&in->gc);
	pthread_mutex_unlock(&in->lock);
	if (b.n == 0 && fl_map_len(&b.states) == 0)
		goto done;
	t0 = fl_mono_ms();
	if (!(states = calloc(fl_map_len(&b.states) + 1, sizeof(*states)))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
	} else {
		for (size_t i = 0; fl_map_next(&b.states, &i, &k, &v);)
			states[ns++] = *(struct cp_sli_dev_state *)v;
		rc = cp_store_sli_write(in->store, b.s, b.n, states, ns, fl_now(), err);
	}
	free(states);
	pthread_mutex_lock(&in->lock);
	in->stats.last_flush_ms = fl_mono_ms() - t0;
	if (rc < 0)
		in->stats.flush_errors++;
	else
		in->stats.flushes++;
	pthread_mutex_unlock(&in->lock);
	if (rc < 0) {
		fl_log(FL_LOG_WARN, "SLI ingest flush failed, will retry: %s", err->msg);
		requeue(in, &b);
	}
done:
	cp_gc_done(&in->gc, gen, rc);
	batch_release(&b);
	fl_map_release(&b.states);
	pthread_mutex_unlock(&in->flush_lock);
	return rc;
}

static void retain(struct cp_ingest *in)
{
	struct fl_err err = {0, ""};
	int64_t now = fl_now();

	if (cp_store_sli_retain(in->store, now - in->cfg.retention_minute_s,
				now - in->cfg.retention_5m_s, now - in->cfg.retention_1h_s,
				&err) < 0)
		fl_log(FL_LOG_WARN, "SLI retention failed: %s", err.msg);
}

static void *flusher(void *arg)
{
	struct cp_ingest *in = arg;

	/* Every interval, and at once while a request waits for its commit. */
	while (!cp_gc_nap(&in->gc, in->cfg.flush_ms)) {
		int64_t now_ms;

		/* A failure is logged and counted inside; the batch stays queued. */
		(void)cp_ingest_flush(in, NULL);
		now_ms = fl_mono_ms();
		if (!in->last_retain_ms || now_ms - in->last_retain_ms >= RETAIN_EVERY_MS) {
			in->last_retain_ms = now_ms;
			retain(in);
		}
	}
	return NULL;
}

int cp_ingest_start(struct cp_ingest *in, struct fl_err *err)
{
	if (pthread_create(&in->thread, NULL, flusher, in) != 0)
		return fl_err_set(err, FL_ERROR, "cannot start the SLI ingest thread");
	in->running = 1;
	return 0;
}

int cp_ingest_stop(struct cp_ingest *in, struct fl_err *err)
{
	int rc = 0;

	if (in->running) {
		cp_gc_stop(&in->gc);
		pthread_join(in->thread, NULL);
		in->running = 0;
	}
	/* A few tries: a busy database at shutdown must not lose acknowledged reports. */
	for (int i = 0; i < 5; i++)
		if ((rc = cp_ingest_flush(in, err)) == 0)
			break;
	return rc;
}

void cp_ingest_stats(struct cp_ingest_stats *out, struct cp_ingest *in)
{
	pthread_mutex_lock(&in->lock);
	*out = in->stats;
	out->pending = in->cur.n;
	out->capacity = in->cfg.max_pending;
	out->oldest_pending_ms = in->cur.oldest_ms ? fl_mono_ms() - in->cur.oldest_ms : 0;
	out->devices = fl_map_len(&in->devs);
	pthread_mutex_unlock(&in->lock);
}

int cp_ingest_dropped(int64_t *out, struct cp_ingest *in, const char *device_id, struct fl_err *err)
{
	struct cp_sli_dev_state st;
	struct dev *d;
	int rc;

	pthread_mutex_lock(&in->lock);
	d = fl_map_get(&in->devs, device_id);
	*out = d ? d->dropped : 0;
	pthread_mutex_unlock(&in->lock);
	if (d)
		return 0;
	if ((rc = cp_store_sli_state(&st, in->store, device_id, err)) < 0)
		return rc;
	*out = st.dropped;
	return 0;
}

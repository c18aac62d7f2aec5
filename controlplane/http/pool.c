#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "fairlead/util.h"

struct job {
	cp_pool_fn fn;
	void *arg;
	int64_t queued_ms;
};

struct cp_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *ring;
	size_t cap, head, len;
	int stopping;
	int queue_wait_ms;
	pthread_t *threads;
	int nthreads;
	/* Mean service time in microseconds (EWMA), for Retry-After. */
	_Atomic int64_t svc_us;
	_Atomic int64_t shed;
};

static void *worker_main(void *arg)
{
	struct cp_pool *p = arg;

	for (;;) {
		struct job j;
		int64_t t0;
		int shed;

		pthread_mutex_lock(&p->mu);
		while (!p->len && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->len) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		j = p->ring[p->head];
		p->head = (p->head + 1) % p->cap;
		p->len--;
		pthread_mutex_unlock(&p->mu);

		t0 = fl_mono_ms();
		/* A job that waited past the bound is answered 503 at once: its
		 * client has been waiting, and running it would only make the
		 * next ones wait longer. */
		shed = p->stopping || t0 - j.queued_ms > p->queue_wait_ms;
		if (shed)
			atomic_fetch_add(&p->shed, 1);
		j.fn(j.arg, shed);
		if (!shed) {
			int64_t us = (fl_mono_ms() - t0) * 1000, old = atomic_load(&p->svc_us);

			atomic_store(&p->svc_us, old + (us - old) / 16);
		}
	}
}

int cp_pool_new(struct cp_pool **out, int workers, size_t queue_max, int queue_wait_ms,
		struct fl_err *err)
{
	struct cp_pool *p;
	pthread_attr_t attr;
	int rc = 0;

	*out = NULL;
	if (workers < 1 || queue_max < 1)
		return fl_err_set(err, FL_EINVAL, "pool: no workers or no queue");
	p = calloc(1, sizeof(*p));
	if (!p)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->cap = queue_max;
	p->queue_wait_ms = queue_wait_ms;
	p->ring = calloc(queue_max, sizeof(*p->ring));
	p->threads = calloc((size_t)workers, sizeof(*p->threads));
	if (!p->ring || !p->threads) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, CP_POOL_STACK);
	for (; p->nthreads < workers; p->nthreads++)
		if (pthread_create(&p->threads[p->nthreads], &attr, worker_main, p) != 0) {
			rc = fl_err_set(err, FL_ERROR, "pool: cannot start worker %d", p->nthreads);
			break;
		}
	pthread_attr_destroy(&attr);
cleanup:
	if (rc < 0) {
		cp_pool_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int cp_pool_submit(struct cp_pool *p, cp_pool_fn fn, void *arg)
{
	pthread_mutex_lock(&p->mu);
	if (p->len == p->cap || p->stopping) {
		pthread_mutex_unlock(&p->mu);
		atomic_fetch_add(&p->shed, 1);
		return FL_EAGAIN;
	}
	p->ring[(p->head + p->len) % p->cap] = (struct job){fn, arg, fl_mono_ms()};
	p->len++;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

int64_t cp_pool_retry_after(struct cp_pool *p)
{
	int64_t us = atomic_load(&p->svc_us), s;
	size_t depth = cp_pool_depth(p);

	s = (int64_t)depth * us / (p->nthreads ? p->nthreads : 1) / 1000000;
	return s < 1 ? 1 : s > 60 ? 60 : s;
}

int64_t cp_pool_shed(struct cp_pool *p)
{
	return atomic_load(&p->shed);
}

size_t cp_pool_depth(struct cp_pool *p)
{
	size_t n;

	pthread_mutex_lock(&p->mu);
	n = p->len;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void cp_pool_free(struct cp_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	free(p->ring);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

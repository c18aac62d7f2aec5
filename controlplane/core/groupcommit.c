#include "groupcommit.h"

#include <errno.h>
#include <time.h>

#include "fairlead/util.h"

/* The conditions run on the monotonic clock: a wall-clock step must neither
 * stretch a request's wait nor cut it short. */
static void cond_init(pthread_cond_t *c)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

static struct timespec mono_at(int64_t at_ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(at_ms / 1000);
	ts.tv_nsec = (long)(at_ms % 1000) * 1000000L;
	return ts;
}

void cp_gc_init(struct cp_gc *g)
{
	pthread_mutex_init(&g->lock, NULL);
	cond_init(&g->done);
	cond_init(&g->kick);
	g->open = 1;
	g->completed = g->committed = g->wanted = 0;
	g->stopping = 0;
}

void cp_gc_release(struct cp_gc *g)
{
	pthread_cond_destroy(&g->kick);
	pthread_cond_destroy(&g->done);
	pthread_mutex_destroy(&g->lock);
}

uint64_t cp_gc_ticket(struct cp_gc *g)
{
	uint64_t t;

	pthread_mutex_lock(&g->lock);
	t = g->open;
	pthread_mutex_unlock(&g->lock);
	return t;
}

uint64_t cp_gc_close(struct cp_gc *g)
{
	uint64_t gen;

	pthread_mutex_lock(&g->lock);
	gen = g->open++;
	pthread_mutex_unlock(&g->lock);
	return gen;
}

void cp_gc_done(struct cp_gc *g, uint64_t gen, int rc)
{
	pthread_mutex_lock(&g->lock);
	if (gen > g->completed)
		g->completed = gen;
	if (rc == 0 && gen > g->committed)
		g->committed = gen;
	pthread_cond_broadcast(&g->done);
	pthread_mutex_unlock(&g->lock);
}

int cp_gc_wait(struct cp_gc *g, uint64_t ticket, int64_t deadline_ms, struct fl_err *err)
{
	struct timespec ts = mono_at(deadline_ms);
	int rc = 0;

	pthread_mutex_lock(&g->lock);
	if (ticket > g->wanted) {
		g->wanted = ticket;
		pthread_cond_signal(&g->kick);
	}
	for (;;) {
		/* A later commit covers a failed generation: it was requeued into it. */
		if (g->committed >= ticket)
			break;
		if (g->completed >= ticket) {
			rc = fl_err_set(err, FL_EUNAVAIL, "the write failed; retry later");
			break;
		}
		if (fl_mono_ms() >= deadline_ms ||
		    pthread_cond_timedwait(&g->done, &g->lock, &ts) == ETIMEDOUT) {
			if (g->committed >= ticket)
				break;
			rc = fl_err_set(err, FL_EUNAVAIL, "the write is not done yet; retry later");
			break;
		}
	}
	pthread_mutex_unlock(&g->lock);
	return rc;
}

int cp_gc_nap(struct cp_gc *g, int interval_ms)
{
	struct timespec ts = mono_at(fl_mono_ms() + interval_ms);
	int stopping;

	pthread_mutex_lock(&g->lock);
	/* A failed generation counts as completed: its writers were answered and
	 * retry, so a failing store is not hammered in a loop. */
	while (!g->stopping && g->wanted <= g->completed)
		if (pthread_cond_timedwait(&g->kick, &g->lock, &ts) == ETIMEDOUT)
			break;
	stopping = g->stopping;
	pthread_mutex_unlock(&g->lock);
	return stopping;
}

void cp_gc_stop(struct cp_gc *g)
{
	pthread_mutex_lock(&g->lock);
	g->stopping = 1;
	pthread_cond_broadcast(&g->kick);
	pthread_mutex_unlock(&g->lock);
}

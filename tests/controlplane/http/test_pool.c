/* test_pool.c - the worker pool: every job runs exactly once, a full queue
 * refuses at once, a job that waited past the bound is run as shed. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "fl_test.h"
#include "http/pool.h"

static _Atomic int ran, shed_seen;
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;

static void count_job(void *arg, int shed)
{
	(void)arg;
	atomic_fetch_add(shed ? &shed_seen : &ran, 1);
}

static void blocking_job(void *arg, int shed)
{
	(void)arg;
	pthread_mutex_lock(&gate_mu);
	while (!gate_open)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
	atomic_fetch_add(shed ? &shed_seen : &ran, 1);
}

static void open_gate(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_open = 1;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

Test(http_pool, every_job_runs_once)
{
	struct cp_pool *p = NULL;

	atomic_store(&ran, 0);
	atomic_store(&shed_seen, 0);
	cr_assert_eq(cp_pool_new(&p, 4, 10000, 60000, NULL), 0);
	for (int i = 0; i < 5000; i++)
		cr_assert_eq(cp_pool_submit(p, count_job, NULL), 0);
	cp_pool_free(p);
	/* Freeing runs what was queued (shed or not): none is lost. */
	cr_assert_eq(atomic_load(&ran) + atomic_load(&shed_seen), 5000);
}

Test(http_pool, full_queue_refuses_and_late_jobs_are_shed)
{
	struct cp_pool *p = NULL;
	int refused = 0;

	atomic_store(&ran, 0);
	atomic_store(&shed_seen, 0);
	gate_open = 0;
	/* One worker held by a blocking job, a queue of 3, a 50 ms bound. */
	cr_assert_eq(cp_pool_new(&p, 1, 3, 50, NULL), 0);
	cr_assert_eq(cp_pool_submit(p, blocking_job, NULL), 0);
	while (cp_pool_depth(p) > 0)
		usleep(1000); /* the worker took it */
	for (int i = 0; i < 5; i++)
		if (cp_pool_submit(p, count_job, NULL) == FL_EAGAIN)
			refused++;
	cr_assert_eq(refused, 2);
	cr_assert_eq(cp_pool_depth(p), 3);
	usleep(100 * 1000); /* the three queued jobs are now past the bound */
	open_gate();
	cp_pool_free(p);
	cr_assert_eq(atomic_load(&ran), 1);	  /* the blocking one */
	cr_assert_eq(atomic_load(&shed_seen), 3); /* waited too long */
}

Test(http_pool, retry_after_is_at_least_one_second)
{
	struct cp_pool *p = NULL;

	cr_assert_eq(cp_pool_new(&p, 2, 10, 1000, NULL), 0);
	cr_assert_geq(cp_pool_retry_after(p), 1);
	cp_pool_free(p);
	cp_pool_free(NULL);
}

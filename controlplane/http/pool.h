/*
 * pool.h - the worker threads that run handlers off the event loop.
 *
 * A bounded FIFO of jobs and a fixed set of workers with large stacks (a
 * handler may recurse through jansson or libgit2). A job that cannot be
 * queued, or that waited longer than the queue bound before a worker took
 * it, is still run, with shed set: it must answer 503 without doing the
 * work, so that past capacity clients hear "come back later" within a
 * bounded time instead of timing out.
 */
#ifndef CP_HTTP_POOL_H
#define CP_HTTP_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "fairlead/err.h"

struct cp_pool;

/* shed: 1 when the job is to be refused (waited too long, or stopping). */
typedef void (*cp_pool_fn)(void *arg, int shed);

/* Stack size of every thread that runs a handler: the workers here and the
 * server's I/O threads, which answer inline routes (server.c). Handlers parse
 * JSON up to the nesting limit and call into libgit2 and SQLite. The fuzz
 * targets run each input on a thread of this size (tests/fuzz/fuzz.h), so
 * this is the one place it is defined. */
#define CP_POOL_STACK ((size_t)8 << 20)

int cp_pool_new(struct cp_pool **out, int workers, size_t queue_max, int queue_wait_ms,
		struct fl_err *err);
/* Queues fn(arg). FL_EAGAIN when the queue is full (fn is not called). */
int cp_pool_submit(struct cp_pool *p, cp_pool_fn fn, void *arg);
/* Seconds a refused client should wait: the queue's expected drain time,
 * at least 1. */
int64_t cp_pool_retry_after(struct cp_pool *p);
/* Jobs refused so far (queue full or waited too long). */
int64_t cp_pool_shed(struct cp_pool *p);
/* Jobs waiting now. */
size_t cp_pool_depth(struct cp_pool *p);
/* Runs what is queued (shed), joins the workers, frees. NULL: no-op. */
void cp_pool_free(struct cp_pool *p);

#endif

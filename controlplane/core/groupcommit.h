/*
 * groupcommit.h - group commit for a queue written behind by a flusher
 * thread: a writer that must not answer before its item is durable waits for
 * the flusher's transaction that holds it, and many writers share one commit.
 *
 * Items go into numbered generations. The queue hands out cp_gc_ticket() (the
 * generation now open) while it holds its own lock; everything queued before
 * that call is in the ticket's generation or an earlier one. The flusher
 * calls cp_gc_close() as it takes the batch (under the same lock), writes it,
 * requeues it on failure into the open generation, then reports the outcome
 * with cp_gc_done(). Flushes must be serial, so generations complete in order.
 *
 * cp_gc_wait() returns 0 once a generation at or after the ticket has
 * committed, FL_EUNAVAIL when the ticket's generation failed to commit or the
 * deadline passed (the writer's client retries). The flusher sleeps in
 * cp_gc_nap(): its full interval while nobody waits, not at all while a
 * writer waits for a generation not yet written.
 */
#ifndef CP_GROUPCOMMIT_H
#define CP_GROUPCOMMIT_H

#include <pthread.h>
#include <stdint.h>

#include "fairlead/err.h"

/* How long a request waits for its commit before answering 503. */
#define CP_GC_WAIT_MS 5000

struct cp_gc {
	pthread_mutex_t lock;
	pthread_cond_t done; /* a generation completed */
	pthread_cond_t kick; /* a writer waits, or stop */
	uint64_t open;	     /* the generation taking items */
	uint64_t completed;  /* the last generation written or failed */
	uint64_t committed;  /* the last generation written */
	uint64_t wanted;     /* the highest ticket waited for */
	int stopping;
};

void cp_gc_init(struct cp_gc *g);
void cp_gc_release(struct cp_gc *g);

/* The open generation. Call with the queue's lock held, after queueing. */
uint64_t cp_gc_ticket(struct cp_gc *g);
/* Flusher: closes the open generation and returns it. Call with the queue's
 * lock held, as the batch is taken. */
uint64_t cp_gc_close(struct cp_gc *g);
/* Flusher: gen was written (rc == 0) or failed (rc < 0, already requeued). */
void cp_gc_done(struct cp_gc *g, uint64_t gen, int rc);

/* Waits until ticket's items are committed or deadline_ms (fl_mono_ms())
 * passes; see above. */
int cp_gc_wait(struct cp_gc *g, uint64_t ticket, int64_t deadline_ms, struct fl_err *err);

/* Flusher: sleeps up to interval_ms, less when a writer waits; 1 once
 * cp_gc_stop() was called, else 0. */
int cp_gc_nap(struct cp_gc *g, int interval_ms);
void cp_gc_stop(struct cp_gc *g);

#endif

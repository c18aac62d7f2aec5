/*
 * engine_int.h - what the engine's files share: the engine itself
 * (engine.c: thread, loading, intake, runs by hand and approvals), the
 * context of an event (enrich.c) and the executor (exec.c).
 */
#ifndef CP_PLAYBOOK_ENGINE_INT_H
#define CP_PLAYBOOK_ENGINE_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "playbook/engine.h"

struct cp_pb_matcher;
struct cp_pb_throttle;
struct cp_sched;

/* A loaded playbook. */
struct pb_loaded {
	char name[64];
	int64_t version;
	json_t *def; /* canonical JSON */
	struct cp_pb_matcher *m;
	struct cp_pb_throttle *th; /* NULL: none */
	struct cp_sched *sched;	   /* schedule triggers */
	int64_t last_tick;
	int dirty;     /* its state changed since the last commit */
	int reads_slo; /* its condition reads the slo root */
};

struct cp_pb_engine {
	struct cp_pb_engine_deps d;
	pthread_mutex_t lock; /* one round or API call at a time */

	pthread_mutex_t tlock; /* the thread's flags */
	pthread_cond_t cond;
	int stop, kicked, running, tick_ms;
	pthread_t thread;

	struct pb_loaded *pbs;
	size_t npbs;
	int64_t rev;
	int loaded;
	int64_t cursor;	     /* written: the last event the store knows we took */
	int64_t read_seq;    /* read: the last event taken, maybe not written yet */
	int64_t last_commit; /* when the cursor and states were last written */
	int have_cursor;
	int64_t last_offline;

	/* a round's caches (enrich.c), dropped at its end */
	json_t *slos;	  /* name -> definition */
	json_t *rollouts; /* running and paused rollouts */
	json_t *slo_root; /* the slo root of expressions */
	json_t *peers;	  /* "BEFORE\nLABEL\nVALUE" -> device.offline's peers */

	/* the runs a round made, committed with the cursor */
	json_t *pending; /* [{"run": cp_run_new fields as JSON}] */

	pthread_mutex_t slock;
	struct cp_pb_engine_stats stats;
};

int64_t pb_now(struct cp_pb_engine *e);
/* Adds n to one of e->stats' counters. */
void pb_count(struct cp_pb_engine *e, int64_t *field, int64_t n);

/* ---- enrich.c ---- */

/* The event as playbooks see it, from a row of the event log ({"seq","at",
 * "kind","subject","body"}): *out is a new object (docs/playbooks.md,
 * "Events"). */
int pb_event_view(json_t **out, struct cp_pb_engine *e, const json_t *row, struct fl_err *err);
/* The slo root: {NAME: {"budget_remaining","burn_rate","firing"}} of every
 * SLO the evaluator has judged (cached for the round). Borrowed. */
json_t *pb_slo_root(struct cp_pb_engine *e);
/* The burn rate that halts a run of halt_on_burn slo: per alert pair the
 * lower of its windows, the highest over the pairs with enough events;
 * NAN when none can be judged. */
double pb_slo_burn(struct cp_pb_engine *e, const char *slo);
void pb_round_caches_drop(struct cp_pb_engine *e);

/* ---- exec.c ---- */

/* Advances every active run once. */
int pb_exec_round(struct cp_pb_engine *e, struct fl_err *err);
/* 1 for an action that acts on each target device. */
int pb_action_on_devices(const char *action);

#endif

/*
 * app.h - the server's one context: configuration and the long-lived parts
 * every handler reaches through its request (req->app).
 */
#ifndef CP_APP_H
#define CP_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/director.h"
#include "core/events.h"
#include "core/expset.h"
#include "core/ingest.h"
#include "core/ratelimit.h"
#include "core/registry.h"
#include "core/rollout.h"
#include "core/slo.h"
#include "core/writebehind.h"
#include "playbook/engine.h"
#include "store/store.h"

struct cp_config {
	char data_dir[1024];
	char listen[256];   /* "127.0.0.1:8443" */
	char web_dir[1024]; /* console files; empty: none */
	int threads;
	int poll_interval;     /* seconds suggested to agents */
	size_t max_body;       /* bytes */
	uint64_t max_artifact; /* bytes of one uploaded blob */
	/* serve needs the release parts (DATA/keys/server.key, DATA/releases.git);
	 * without it they are optional and the release routes answer 503. */
	int require_releases;
	int resign_ms;	   /* interval of the timestamp/assignment re-signing thread */
	size_t max_header; /* bytes */
	int request_timeout_ms;
	int keepalive_ms;		  /* idle time before a connection is closed */
	int flush_ms;			  /* write-behind interval */
	double device_rate, device_burst; /* per device key */
	double token_rate, token_burst;	  /* per operator token */
	double anon_rate, anon_burst;	  /* per client address, unauthenticated */
	/* SLIs */
	char carbon_path[1024];		/* --carbon FILE; empty: DATA/carbon.json if present */
	int metrics_public;		/* GET /metrics without a token */
	struct cp_ingest_config ingest; /* queue bound, retention */
	/* SLOs: definition files loaded at start (empty: DATA/slo.d)
	 * and the evaluator's interval. */
	char slo_dir[1024];
	int slo_eval_ms;
	/* Rollouts: the controller's tick (it also wakes on pokes). */
	int rollout_tick_ms;
	/* Playbooks: the engine's round interval, and the CA file webhook
	 * receivers are verified with (empty: the system's). */
	int playbook_tick_ms;
	char webhook_ca[1024];
	/* The HTTP layer (http/server.c): event-loop threads, the bounded
	 * queue in front of the workers (threads), and the connection limits
	 * and deadlines. */
	int io_threads;
	size_t queue_max;      /* requests waiting for a worker before 503 */
	int queue_wait_ms;     /* longest wait for a worker before 503 */
	int header_timeout_ms; /* a request head must be complete by then */
	size_t max_headers;    /* header lines of one request */
	int max_connections;
	int max_conn_per_ip; /* 0: no limit */
	/* Integrity: start without PRAGMA quick_check of the database (serve
	 * --skip-check), for an operator who knows the damage and must serve. */
	int skip_check;
};

void cp_config_defaults(struct cp_config *c);

/* Counters for _stats and tests, bumped by many worker threads at once. */
struct cp_counters {
	_Atomic int64_t requests;
	_Atomic int64_t errors_4xx;
	_Atomic int64_t errors_5xx;
	_Atomic int64_t checkins;
	_Atomic int64_t rate_limited;
	_Atomic int64_t replays;
	_Atomic int64_t connections;	 /* open now */
	_Atomic int64_t closed_deadline; /* closed for missing a deadline */
	_Atomic int64_t shed;		 /* refused 503: the workers were saturated */
};

struct cp_app {
	struct cp_config cfg;
	struct cp_store *store;
	struct cp_registry *reg;
	struct cp_expset *nonces;     /* "keyid nonce" of accepted device requests */
	struct cp_expset *challenges; /* enrollment challenges */
	struct cp_expset *done_cmds;  /* "device cmd" results not yet flushed */
	struct cp_ratelimit *rl_device, *rl_token, *rl_anon;
	struct cp_wb *wb;
	/* Releases: NULL when the data directory has no server key or
	 * release repository (unit tests of other parts). */
	struct cp_relstore *relstore;
	struct cp_director *director;
	/* SLI reports: the carbon table and the ingest queue. */
	struct cp_carbon *carbon;
	struct cp_ingest *ingest;
	/* One push at a time: the counter check, the git commit and the row
	 * insert must not interleave with another push. */
	pthread_mutex_t push_lock;
	/* The SLO evaluator: budgets, burn rates, alert state. */
	struct cp_slo_engine *slo;
	/* The rollout controller; NULL without the release parts. */
	struct cp_rollout_ctl *rollouts;
	/* The playbook engine (playbook/engine.h). */
	struct cp_pb_engine *playbooks;
	/* The live event stream's hub (core/events.h). */
	struct cp_events *events;
	struct cp_counters counters;
	int64_t started_at;
};

/* Opens the data directory's store and builds every part; *out owns them. */
int cp_app_new(struct cp_app **out, const struct cp_config *cfg, struct fl_err *err);
/* Stops the write-behind (flushing it) and frees everything. */
int cp_app_free(struct cp_app *app, struct fl_err *err);

#endif

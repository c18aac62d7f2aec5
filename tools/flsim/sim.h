/*
 * sim.h - fairlead-sim, the fleet simulator: one process plays thousands of
 * devices speaking the real device protocol (enrollment with proof of
 * possession, signed check-ins, SLI reports, artifact downloads, update
 * status) against fairleadd, for benchmarks (make bench), soak runs and the
 * CI smoke test.
 *
 * Modules: transport.c (the simulator's only libcurl user: the multi
 * interface, many transfers in flight on one thread), stats.c (latency
 * histograms and error counters), fleet.c (devices, scheduling, requests and
 * replies), gendb.c (the simulator's only SQLite user: registers preloaded
 * devices directly in a server's database), main.c (the command line).
 */
#ifndef FLSIM_SIM_H
#define FLSIM_SIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fairlead/crypto.h"
#include "fairlead/err.h"

/* ---- transport.c: libcurl multi ---- */

enum sim_tx_kind {
	SIM_TX_OK = 0,	   /* an HTTP status arrived */
	SIM_TX_TIMEOUT,	   /* no complete answer in time */
	SIM_TX_CONNECT,	   /* connection refused or unreachable */
	SIM_TX_TLS,	   /* handshake or certificate failure */
	SIM_TX_IO,	   /* the connection broke */
	SIM_TX_DROPPED,	   /* we dropped it on purpose (--drop) */
	SIM_TX_BAD_LENGTH, /* body over max_body */
	SIM_TX_KINDS,
};

struct sim_result {
	enum sim_tx_kind kind;
	long new_conns;	  /* connections this transfer opened (0: it reused one) */
	long retry_after; /* seconds of a Retry-After reply header; -1: none */
	long status;
	const char *body; /* kept reply body (max_body > 0), NUL-terminated */
	size_t body_len;
	int64_t bytes;	   /* reply body bytes received */
	int64_t us;	   /* from submit to completion */
	char sha256[65];   /* of the reply body when hash was asked */
	const char *error; /* libcurl's message when kind != SIM_TX_OK */
};

typedef void (*sim_done_fn)(void *ctx, const struct sim_result *r);

/* How simulated devices reach the server. */
enum sim_conn_mode {
	SIM_CONN_SHARED = 0, /* a bounded pool of kept-alive connections, as behind a gateway */
	SIM_CONN_DEVICE,     /* every device keeps its own connection alive */
	SIM_CONN_NEW,	     /* a new connection per request, resuming the device's TLS session */
};

/* One device's own way to the server (device and new modes): its easy
 * handle and a share holding its connection or its TLS session. */
struct sim_chan;

struct sim_req {
	const char *method;
	const char *url;
	const char *const *headers; /* "Name: value" */
	size_t nheaders;
	const void *body; /* copied */
	size_t body_len;
	size_t max_body; /* reply bytes to keep; 0: count and discard */
	int drop;	 /* abort at the first reply byte */
	int hash;	 /* SHA-256 of the reply body into result.sha256 */
	sim_done_fn done;
	void *ctx;
	struct sim_chan *chan; /* NULL: the shared pool; else at most one request in flight */
};

struct sim_tx_opts {
	const char *ca_file;	 /* NULL: system store */
	long max_conns;		 /* connections to the server at most (shared mode) */
	long timeout_ms;	 /* per request */
	enum sim_conn_mode mode; /* of channels made by sim_tx_chan_new */
};

struct sim_tx;

int sim_tx_new(struct sim_tx **out, const struct sim_tx_opts *o, struct fl_err *err);
void sim_tx_free(struct sim_tx *tx);
/* Queues one request; its done callback runs from sim_tx_poll. */
int sim_tx_submit(struct sim_tx *tx, const struct sim_req *r, struct fl_err *err);
/* Drives transfers for up to timeout_ms, running done callbacks. */
int sim_tx_poll(struct sim_tx *tx, int timeout_ms);
size_t sim_tx_inflight(const struct sim_tx *tx);
/* A channel for one device in tx's mode (device or new); *out is NULL in
 * shared mode, where requests take the pool. Free channels before tx. */
int sim_tx_chan_new(struct sim_chan **out, struct sim_tx *tx, struct fl_err *err);
/* Abandons the channel's request if one is in flight. */
void sim_tx_chan_free(struct sim_chan *c);
const char *sim_conn_mode_name(enum sim_conn_mode m);
const char *sim_tx_kind_name(enum sim_tx_kind k);

/* ---- stats.c ---- */

#define SIM_HIST_BUCKETS 2560

/* Log histogram of microseconds: exact below 128, then 64 sub-buckets per
 * power of two (relative error under 1/128). */
struct sim_hist {
	uint64_t c[SIM_HIST_BUCKETS];
	uint64_t n;
	uint64_t sum;
	uint64_t max;
};

void sim_hist_add(struct sim_hist *h, uint64_t us);
void sim_hist_merge(struct sim_hist *dst, const struct sim_hist *src);
/* The q-quantile in microseconds (0 when empty). */
double sim_hist_quantile(const struct sim_hist *h, double q);

/* ---- fleet.c ---- */

struct sim_run_opts {
	const char *server; /* https://HOST:PORT */
	const char *ca;
	const char *seed;      /* preloaded keys derive from it */
	const char *id_prefix; /* preloaded ids: PREFIX + 7-digit index */
	long first;	       /* first preloaded index */
	long preloaded;	       /* preloaded devices to play */
	long enroll;	       /* devices to enroll by token first */
	const char *enroll_token;
	const char *enroll_prefix;
	double interval_s; /* poll interval; 0: as fast as possible */
	int use_server_interval;
	long concurrency; /* requests in flight at most */
	long conns;	  /* connections at most (default: concurrency) */
	double duration_s;
	double warmup_s;
	double progress_s;
	double report_rate; /* share of requests that are SLI reports */
	long report_batch;  /* reports per request, <= 64 */
	long report_inferences;
	double fail_install; /* percent */
	double bad_signature;
	double drop;
	long timeout_ms;
	enum sim_conn_mode conn_mode;
	long server_pid; /* > 0: report this process's CPU time over the measured window */
	int json;
	const char *out_file;
	const char *label; /* printed in the output */
};

int sim_run(const struct sim_run_opts *o, struct fl_err *err);

struct sim_fetch_opts {
	const char *url; /* full URL of the file */
	const char *ca;
	const char *seed; /* sign as preloaded device index (fairleadd); NULL: unsigned */
	const char *id_prefix;
	long index;
	long count;
	long concurrency;
	long timeout_ms;
	int json;
	const char *out_file;
	const char *label;
};

int sim_fetch(const struct sim_fetch_opts *o, struct fl_err *err);

/* The key pair of preloaded device index under seed (deterministic). */
void sim_derive_key(uint8_t pk[FL_ED25519_PK_LEN], uint8_t sk[FL_ED25519_SK_LEN], const char *seed,
		    long index);

/* ---- gendb.c ---- */

struct sim_gendb_opts {
	const char *db;
	const char *seed;
	const char *id_prefix;
	long first;
	long count;
	const char *labels_json; /* labels of every device, "{}" by default */
};

int sim_gendb(const struct sim_gendb_opts *o, struct fl_err *err);

#endif

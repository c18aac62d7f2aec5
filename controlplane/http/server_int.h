/*
 * server_int.h - what the two halves of the HTTP layer share: the request
 * and connection state (server.c: the event loop, the workers, deadlines,
 * start and drain) and the replies (reply.c: JSON, files, live streams and
 * the console's static files). Private to controlplane/http.
 */
#ifndef CP_HTTP_SERVER_INT_H
#define CP_HTTP_SERVER_INT_H

#include <microhttpd.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <arpa/inet.h>

#include "api/api.h"
#include "fairlead/buf.h"
#include "http/parse.h"

/* The stream ring between the event loop and a handler reading its body. */
#define RING_SIZE ((size_t)64 * 1024)
/* Body bytes read and thrown away after a reply was decided early (the
 * client would not stop sending); past this the connection is closed. */
#define DISCARD_MAX ((size_t)1 << 20)
/* Longest request target kept: anything longer is refused with 414. */
#define TARGET_MAX 4096

/* A TCP connection, from accept to close, for the reaper. */
struct conn {
	struct conn *prev, *next;
	int fd;
	/* Monotonic ms by which the current phase must end; 0: none (a
	 * handler has the request). */
	_Atomic int64_t deadline;
	int killed;
};

struct cp_http {
	struct MHD_Daemon *d;
	struct cp_app *app;
	struct cp_pool *pool;
	char *pem; /* certificate and key, as loaded from server.pem */
	gnutls_datum_t ticket_key;
	pthread_mutex_t conns_mu;
	struct conn *conns;
	pthread_t reaper;
	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cv;
	int reaper_stop, reaper_started;
	_Atomic int draining;
	_Atomic int64_t inflight;
	uint8_t id_prefix[4];	  /* random per start: request ids differ across restarts */
	_Atomic uint64_t id_seq; /* and within one by a counter */
};

enum rq_phase { RQ_NEW, RQ_BODY, RQ_DISPATCHED, RQ_READY };

/* One request, from its request line to its completion. Shared between the
 * event loop and at most one worker: refs counts them. */
struct rq {
	struct cp_http *h;
	struct MHD_Connection *mc;
	struct conn *conn;
	_Atomic int refs;
	enum rq_phase phase;
	char *target; /* the raw request target, as sent */
	int64_t t0;
	char method[16];
	char remote[INET6_ADDRSTRLEN];
	/* A copy of the head: workers read headers while MHD goes on. */
	struct cp_http_hdr *hdrs;
	size_t nhdrs;
	struct fl_buf hdrbuf;
	struct cp_http_head head;
	int hdr_oom;
	const struct cp_route *route;
	int streaming;
	struct cp_req req;
	struct cp_resp resp;
	struct fl_buf body;
	size_t discarded;
	/* Guarded by mu: */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int suspended; /* the connection is suspended, waiting on a worker */
	int mhd_gone;  /* MHD completed the request: mc is no longer valid */
	struct MHD_Response *reply;
	unsigned reply_status;
	char *ring;
	size_t rhead, rlen;
	int eof;
	int counted; /* inflight was bumped */
};

/* Drops one reference; the last frees q. */
void cp_http_rq_unref(struct rq *q);
/* req->header for requests of this layer: looks in the copied head. */
const char *cp_http_rq_header(void *conn, const char *name);

/* reply.c: turns q->resp into q->reply / q->reply_status (close_after adds
 * Connection: close). */
void cp_http_build_reply(struct rq *q, int close_after);
/* A reply decided by the HTTP layer itself; phase becomes RQ_READY. */
void cp_http_layer_error(struct rq *q, int code, int status, const char *msg, int64_t retry);
/* Queues q->reply (from the access handler only) and logs the request. */
enum MHD_Result cp_http_queue_reply(struct rq *q);
/* A static console file for q (GET or HEAD under --web), or 404. */
void cp_http_serve_static(struct rq *q);
/* 1 for paths the API serves: /api/... and /metrics. */
int cp_http_is_api_path(const char *p);

#endif

/*
 * server.c - HTTPS on libmicrohttpd: an event loop holds the connections, a
 * worker pool runs the handlers.
 *
 * MHD's epoll threads read request heads and bodies and write replies for
 * every connection; they never run a handler. When a request is complete,
 * its connection is suspended and the request goes to the pool (pool.c). A
 * worker builds the reply and resumes the connection; MHD calls the access
 * handler again, and only there is the reply queued (MHD allows queueing on
 * a running connection only from its own callback). An idle or slow
 * connection therefore costs memory, never a thread.
 *
 * Streamed uploads (CP_ROUTE_STREAM) start their worker at the head: the
 * handler authenticates, then reads the body through a bounded ring that the
 * event loop fills; a full ring suspends the connection until the handler
 * has read.
 *
 * Deadlines: MHD closes a connection idle for the keep-alive time; a reaper
 * thread shuts down connections whose head is not complete within the header
 * deadline of the connection's start (or of the keep-alive time after its
 * previous reply), and whose
 * body is not complete within the request timeout, so that dribbling a byte
 * at a time keeps nothing open.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "core/events.h"
#include "fairlead/buf.h"
#include "fairlead/crypto.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/log.h"
#include "fairlead/util.h"
#include "http/parse.h"
#include "http/pool.h"
#include "http/server_int.h"
#include "http/tls.h"

void cp_http_rq_unref(struct rq *q)
{
	if (atomic_fetch_sub(&q->refs, 1) != 1)
		return;
	if (q->reply)
		MHD_destroy_response(q->reply);
	cp_resp_release(&q->resp);
	fl_buf_release(&q->body);
	fl_buf_release(&q->hdrbuf);
	free(q->hdrs);
	free(q->ring);
	free(q->target);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

const char *cp_http_rq_header(void *conn, const char *name)
{
	const struct rq *q = conn;

	for (size_t i = 0; i < q->nhdrs; i++)
		if (strcasecmp(q->hdrs[i].name, name) == 0)
			return q->hdrs[i].value;
	return NULL;
}

/* A random prefix drawn at start and a counter: unique without a
 * getrandom(2) per request, which was a system call on every check-in. */
static void new_request_id(struct cp_http *h, char out[20])
{
	uint8_t raw[9];
	uint64_t n = atomic_fetch_add(&h->id_seq, 1);

	memcpy(raw, h->id_prefix, 4);
	for (int i = 8; i >= 4; i--, n >>= 8)
		raw[i] = (uint8_t)n;
	fl_b64url_encode(out, raw, sizeof(raw));
}

/* ---- the worker side ---- */

/* Called by a worker when q's reply is built: hands it to the loop. */
static void hand_back(struct rq *q)
{
	pthread_mutex_lock(&q->mu);
	q->phase = RQ_READY;
	if (q->suspended && !q->mhd_gone) {
		q->suspended = 0;
		MHD_resume_connection(q->mc);
	}
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void run_job(void *arg, int shed)
{
	struct rq *q = arg;

	if (shed) {
		cp_error_reply(&q->resp, FL_EUNAVAIL, "the server is over capacity; retry later");
		q->resp.retry_after = cp_pool_retry_after(q->h->pool);
		atomic_fetch_add(&q->h->app->counters.errors_5xx, 1);
		atomic_fetch_add(&q->h->app->counters.shed, 1);
		cp_http_build_reply(q, q->streaming);
	} else {
		cp_api_handle(&q->resp, &q->req);
		/* A streamed body left unread: the connection is not reusable. */
		cp_http_build_reply(q, q->streaming && (q->req.content_length < 0 ||
							q->req.body_read < q->req.content_length));
	}
	hand_back(q);
	cp_http_rq_unref(q);
}

/* req->read of streamed routes: blocks the worker until the loop has put
 * bytes in the ring, the body ended (0) or the client went away (-1). */
static int stream_read(void *conn, void *buf, size_t len)
{
	struct rq *q = conn;
	size_t n, chunk;

	pthread_mutex_lock(&q->mu);
	while (!q->rlen && !q->eof && !q->mhd_gone)
		pthread_cond_wait(&q->cv, &q->mu);
	if (!q->rlen) {
		int gone = q->mhd_gone && !q->eof;

		pthread_mutex_unlock(&q->mu);
		return gone ? -1 : 0;
	}
	n = len < q->rlen ? len : q->rlen;
	chunk = RING_SIZE - q->rhead < n ? RING_SIZE - q->rhead : n;
	memcpy(buf, q->ring + q->rhead, chunk);
	memcpy((char *)buf + chunk, q->ring, n - chunk);
	q->rhead = (q->rhead + n) % RING_SIZE;
	q->rlen -= n;
	/* The loop stopped reading because the ring was full: room now. */
	if (q->suspended && !q->mhd_gone) {
		q->suspended = 0;
		MHD_resume_connection(q->mc);
	}
	pthread_mutex_unlock(&q->mu);
	return (int)n;
}

/* ---- the event-loop side ---- */

static void conn_set_deadline(struct rq *q, int64_t ms)
{
	if (q->conn)
		atomic_store(&q->conn->deadline, ms ? fl_mono_ms() + ms : 0);
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	struct rq *q = cls;

	(void)kind;
	if (q->nhdrs < q->h->app->cfg.max_headers + 1) {
		/* Offsets into hdrbuf for now; pointers once it stops growing. */
		q->hdrs[q->nhdrs].name = (const char *)(uintptr_t)q->hdrbuf.len;
		if (fl_buf_puts(&q->hdrbuf, key) < 0 || fl_buf_put(&q->hdrbuf, "", 1) < 0)
			q->hdr_oom = 1;
		q->hdrs[q->nhdrs].value = (const char *)(uintptr_t)q->hdrbuf.len;
		if (fl_buf_puts(&q->hdrbuf, value ? value : "") < 0 ||
		    fl_buf_put(&q->hdrbuf, "", 1) < 0)
			q->hdr_oom = 1;
	}
	q->nhdrs++;
	return MHD_YES;
}

/* Copies the head, checks it and fills q->req. 0, or a reply is ready. */
static int start_request(struct rq *q, const char *method, const char *version)
{
	struct cp_http *h = q->h;
	const union MHD_ConnectionInfo *ci;
	struct fl_err err = {0, ""};
	size_t total, shown;
	char *qm;
	int rc;

	q->t0 = fl_mono_ms();
	snprintf(q->method, sizeof(q->method), "%s", method);
	ci = MHD_get_connection_info(q->mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, q->remote,
				  sizeof(q->remote));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
				  q->remote, sizeof(q->remote));
	}
	if (!q->remote[0])
		snprintf(q->remote, sizeof(q->remote), "-");
	ci = MHD_get_connection_info(q->mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	q->conn = ci ? ci->socket_context : NULL;

	q->req.method = q->method;
	q->req.remote = q->remote;
	q->req.header = cp_http_rq_header;
	q->req.conn = q;
	q->req.app = h->app;
	q->req.now = fl_now();
	q->req.content_length = -1;
	new_request_id(h, q->req.id);
	q->resp.head_length = -1;

	/* The head, copied: at most max_headers + 1 lines are kept (one more
	 * than allowed, so that the check below sees the excess). */
	shown = h->app->cfg.max_headers + 1;
	q->hdrs = calloc(shown, sizeof(*q->hdrs));
	/* --max-header: the names and values (with a NUL each) fit in it. */
	fl_buf_init(&q->hdrbuf, h->app->cfg.max_header);
	if (!q->hdrs) {
		cp_http_layer_error(q, FL_ENOMEM, 0, "out of memory", 0);
		return 1;
	}
	MHD_get_connection_values(q->mc, MHD_HEADER_KIND, collect_header, q);
	total = q->nhdrs;
	if (q->nhdrs > shown)
		q->nhdrs = shown;
	if (q->hdr_oom) {
		cp_http_layer_error(q, FL_ETOOBIG, 431, "request head over the size limit", 0);
		return 1;
	}
	for (size_t i = 0; i < q->nhdrs; i++) {
		q->hdrs[i].name = q->hdrbuf.ptr + (uintptr_t)q->hdrs[i].name;
		q->hdrs[i].value = q->hdrbuf.ptr + (uintptr_t)q->hdrs[i].value;
	}
	rc = cp_http_head_check(&q->head, q->hdrs, total > q->nhdrs ? total : q->nhdrs,
				h->app->cfg.max_headers, strcmp(version, MHD_HTTP_VERSION_1_1) == 0,
				&err);
	if (rc < 0) {
		cp_http_layer_error(q, rc, rc == FL_ETOOBIG ? 431 : 400, err.msg, 0);
		return 1;
	}
	q->req.content_length = q->head.content_length;

	/* The path exactly as sent: "..", "%2F" and "%00" reach the router,
	 * which refuses them. */
	if (!q->target) {
		cp_http_layer_error(q, FL_ETOOBIG, 414, "request target too long", 0);
		return 1;
	}
	if ((qm = strchr(q->target, '?'))) {
		*qm = '\0';
		q->req.query = qm + 1;
	} else {
		q->req.query = "";
	}
	q->req.path = q->target;

	if (atomic_load(&h->draining)) {
		cp_http_layer_error(q, FL_EUNAVAIL, 0, "the server is shutting down", 1);
		return 1;
	}
	q->route = cp_api_route(q->req.method, q->req.path);
	q->streaming = q->route && (q->route->flags & CP_ROUTE_STREAM);
	if (!q->streaming && q->head.content_length > (int64_t)h->app->cfg.max_body) {
		/* Refused by its declared length before a byte of it is read. */
		cp_http_layer_error(q, FL_ETOOBIG, 0, "request body over the size limit", 0);
		return 1;
	}
	return 0;
}

/* Suspends q's connection until a worker hands back (mu held by caller). */
static void suspend_locked(struct rq *q)
{
	q->suspended = 1;
	MHD_suspend_connection(q->mc);
}

static enum MHD_Result dispatch(struct rq *q)
{
	int rc;

	q->phase = RQ_DISPATCHED;
	conn_set_deadline(q, 0);
	atomic_fetch_add(&q->refs, 1);
	/* Suspended under mu before the worker can hand back, so that its
	 * resume never precedes this suspend. */
	pthread_mutex_lock(&q->mu);
	rc = cp_pool_submit(q->h->pool, run_job, q);
	if (rc == 0)
		suspend_locked(q);
	pthread_mutex_unlock(&q->mu);
	if (rc == 0)
		return MHD_YES;
	/* The queue is full: refuse now, from here. */
	atomic_fetch_sub(&q->refs, 1);
	atomic_fetch_add(&q->h->app->counters.shed, 1);
	cp_http_layer_error(q, FL_EUNAVAIL, 0, "the server is over capacity; retry later",
			    cp_pool_retry_after(q->h->pool));
	return cp_http_queue_reply(q);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct cp_http *h = cls;
	struct rq *q = *con_cls;
	int ready;

	(void)url;
	if (!q)
		return MHD_NO; /* the URI callback could not allocate */
	if (q->phase == RQ_NEW) {
		q->mc = mc;
		if (!q->counted) {
			q->counted = 1;
			atomic_fetch_add(&h->inflight, 1);
		}
		if (start_request(q, method, version) == 0) {
			if (!cp_http_is_api_path(q->req.path)) {
				cp_http_serve_static(q);
			} else {
				q->phase = RQ_BODY;
				/* A body must arrive within the request timeout;
				 * an upload is bounded by the idle timeout only. */
				conn_set_deadline(q, q->streaming ? 0
								  : h->app->cfg.request_timeout_ms);
				if (q->streaming) {
					q->ring = malloc(RING_SIZE);
					if (!q->ring) {
						cp_http_layer_error(q, FL_ENOMEM, 0,
								    "out of memory", 0);
					} else {
						q->req.read = stream_read;
						q->phase = RQ_DISPATCHED;
						atomic_fetch_add(&q->refs, 1);
						if (cp_pool_submit(h->pool, run_job, q) < 0) {
							atomic_fetch_sub(&q->refs, 1);
							cp_http_layer_error(
							    q, FL_EUNAVAIL, 0,
							    "the server is over capacity; "
							    "retry later",
							    cp_pool_retry_after(h->pool));
						}
					}
				} else {
					fl_buf_init(&q->body, h->app->cfg.max_body);
				}
			}
		}
		/* A reply decided at the head is queued now: MHD then discards
		 * any body and closes the connection after the reply. (A
		 * streamed route's worker may have decided it already, too.) */
		pthread_mutex_lock(&q->mu);
		ready = q->phase == RQ_READY;
		pthread_mutex_unlock(&q->mu);
		return ready ? cp_http_queue_reply(q) : MHD_YES;
	}

	if (*upload_data_size) {
		if (q->streaming && q->phase == RQ_DISPATCHED) {
			size_t n = *upload_data_size, room, at, first;

			pthread_mutex_lock(&q->mu);
			if (q->phase == RQ_DISPATCHED) {
				room = RING_SIZE - q->rlen;
				n = n < room ? n : room;
				at = (q->rhead + q->rlen) % RING_SIZE;
				first = RING_SIZE - at < n ? RING_SIZE - at : n;
				memcpy(q->ring + at, upload_data, first);
				memcpy(q->ring, upload_data + first, n - first);
				q->rlen += n;
				*upload_data_size -= n;
				pthread_cond_broadcast(&q->cv);
				/* Full: stop reading until the handler has read. */
				if (*upload_data_size)
					suspend_locked(q);
				pthread_mutex_unlock(&q->mu);
				return MHD_YES;
			}
			pthread_mutex_unlock(&q->mu);
		}
		if (q->phase == RQ_BODY) {
			if (fl_buf_put(&q->body, upload_data, *upload_data_size) < 0)
				cp_http_layer_error(q, FL_ETOOBIG, 0,
						    "request body over the size limit", 0);
			else
				*upload_data_size = 0;
		}
		if (*upload_data_size) {
			/* The reply is decided (refused, or the handler did not
			 * read it all): the rest is read and dropped, up to a
			 * bound, so that the client can read the reply. */
			q->discarded += *upload_data_size;
			*upload_data_size = 0;
			if (q->discarded > DISCARD_MAX)
				return MHD_NO;
		}
		return MHD_YES;
	}

	/* The request is complete. */
	if (q->phase == RQ_BODY) {
		q->req.body = q->body.ptr;
		q->req.body_len = q->body.len;
		/* The hot path (check-ins, health) is answered here when it
		 * cannot block: two thread hand-offs cost more than the work. */
		if (cp_api_inline_ok(q->route, &q->req)) {
			conn_set_deadline(q, 0);
			cp_api_handle(&q->resp, &q->req);
			cp_http_build_reply(q, 0);
			q->phase = RQ_READY;
			return cp_http_queue_reply(q);
		}
		return dispatch(q);
	}
	pthread_mutex_lock(&q->mu);
	if (q->phase == RQ_DISPATCHED) {
		/* A streamed body ended, or a worker still has the request: wait
		 * for it to hand back. */
		q->eof = 1;
		pthread_cond_broadcast(&q->cv);
		suspend_locked(q);
		pthread_mutex_unlock(&q->mu);
		return MHD_YES;
	}
	pthread_mutex_unlock(&q->mu);
	return cp_http_queue_reply(q);
}

/* Called by MHD with the raw request target before the access handler;
 * what it returns becomes the request's context. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
	struct rq *q = calloc(1, sizeof(*q));

	(void)mc;
	if (!q)
		return NULL;
	q->h = cls;
	atomic_init(&q->refs, 1);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	if (strlen(uri) <= TARGET_MAX)
		q->target = strdup(uri);
	return q;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct cp_http *h = cls;
	struct rq *q = *con_cls;
	const union MHD_ConnectionInfo *ci;

	(void)toe;
	*con_cls = NULL;
	/* The connection may now sit idle for the keep-alive time (libmicrohttpd
	 * closes it when nothing arrives), and the next head must then be
	 * complete within the header deadline: a device that polls every few
	 * seconds keeps its connection, a client that dribbles a head on it is
	 * closed keep-alive + header deadline after the previous reply. */
	ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci && ci->socket_context)
		atomic_store(&((struct conn *)ci->socket_context)->deadline,
			     fl_mono_ms() + h->app->cfg.keepalive_ms +
				 h->app->cfg.header_timeout_ms);
	if (!q)
		return;
	if (q->counted)
		atomic_fetch_sub(&h->inflight, 1);
	pthread_mutex_lock(&q->mu);
	q->mhd_gone = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	cp_http_rq_unref(q);
}

/* The drain's "stop accepting". MHD_quiesce_daemon() would close the
 * listener instead, but on an epoll daemon with a thread pool it races the
 * I/O threads' own removal of the listen socket from their epoll sets, and
 * MHD aborts the process when it loses (seen as an abort at SIGTERM). So the
 * listener stays open until MHD_stop_daemon() and each connection accepted
 * while draining is closed at once, before TLS starts. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct cp_http *h = cls;

	(void)addr;
	(void)addrlen;
	return atomic_load(&h->draining) ? MHD_NO : MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct cp_http *h = cls;
	struct conn *c;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci;

		c = calloc(1, sizeof(*c));
		*socket_context = c;
		if (!c)
			return;
		ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
		c->fd = ci ? ci->connect_fd : -1;
		atomic_init(&c->deadline, fl_mono_ms() + h->app->cfg.header_timeout_ms);
		/* TLS session tickets, so that a device that reconnects resumes
		 * instead of paying for a full handshake. */
		ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_GNUTLS_SESSION);
		if (ci && ci->tls_session && h->ticket_key.data)
			gnutls_session_ticket_enable_server(ci->tls_session, &h->ticket_key);
		pthread_mutex_lock(&h->conns_mu);
		c->next = h->conns;
		if (h->conns)
			h->conns->prev = c;
		h->conns = c;
		pthread_mutex_unlock(&h->conns_mu);
		atomic_fetch_add(&h->app->counters.connections, 1);
		return;
	}
	c = *socket_context;
	*socket_context = NULL;
	if (!c)
		return;
	/* Unlinked before MHD closes the descriptor, so the reaper never
	 * shuts down a number that a new connection has been given. */
	pthread_mutex_lock(&h->conns_mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&h->conns_mu);
	atomic_fetch_sub(&h->app->counters.connections, 1);
	free(c);
}

static void *reaper_main(void *arg)
{
	struct cp_http *h = arg;

	pthread_mutex_lock(&h->stop_mu);
	while (!h->reaper_stop) {
		struct timespec ts;
		int64_t now = fl_mono_ms();

		pthread_mutex_lock(&h->conns_mu);
		for (struct conn *c = h->conns; c; c = c->next) {
			int64_t dl = atomic_load(&c->deadline);

			if (dl && now > dl && !c->killed && c->fd >= 0) {
				/* MHD sees the end of the stream and closes. */
				shutdown(c->fd, SHUT_RDWR);
				c->killed = 1;
				atomic_fetch_add(&h->app->counters.closed_deadline, 1);
			}
		}
		pthread_mutex_unlock(&h->conns_mu);
		fl_timespec_after(&ts, CLOCK_REALTIME, 250);
		pthread_cond_timedwait(&h->stop_cv, &h->stop_mu, &ts);
	}
	pthread_mutex_unlock(&h->stop_mu);
	return NULL;
}

/* MHD's format strings are its own literals; the attribute says so to the
 * compiler, which would otherwise refuse a format it cannot see. */
FL_PRINTF(2, 0) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	const struct cp_http *h = cls;
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	/* At start MHD says why it cannot listen; afterwards what it says is
	 * mostly about clients (bad handshakes, resets), which any client can
	 * cause: debug only, so that it cannot flood the log. */
	fl_log(h->d ? FL_LOG_DEBUG : FL_LOG_ERROR, "http: %s", msg);
}

static int parse_listen(struct sockaddr_storage *ss, const char *listen)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	long port;
	char *end;

	if (!colon || (size_t)(colon - listen) >= sizeof(host))
		return -1;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		size_t l = strlen(host);

		if (l < 3 || host[l - 1] != ']')
			return -1;
		host[l - 1] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host + 1, &s6->sin6_addr) == 1 ? 0 : -1;
	}
	((struct sockaddr_in *)ss)->sin_family = AF_INET;
	((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	if (!host[0] || strcmp(host, "*") == 0) {
		((struct sockaddr_in *)ss)->sin_addr.s_addr = htonl(INADDR_ANY);
		return 0;
	}
	return inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1 ? 0 : -1;
}

static void http_free(struct cp_http *h)
{
	if (!h)
		return;
	if (h->reaper_started) {
		pthread_mutex_lock(&h->stop_mu);
		h->reaper_stop = 1;
		pthread_cond_broadcast(&h->stop_cv);
		pthread_mutex_unlock(&h->stop_mu);
		pthread_join(h->reaper, NULL);
	}
	cp_pool_free(h->pool);
	if (h->ticket_key.data)
		gnutls_free(h->ticket_key.data);
	free(h->pem);
	pthread_cond_destroy(&h->stop_cv);
	pthread_mutex_destroy(&h->stop_mu);
	pthread_mutex_destroy(&h->conns_mu);
	free(h);
}

int cp_http_start(struct cp_http **out, struct cp_app *app, struct fl_err *err)
{
	const struct cp_config *cfg = &app->cfg;
	struct sockaddr_storage ss;
	struct cp_http *h;
	struct fl_buf pem = FL_BUF_INIT;
	char path[1100];
	unsigned idle_s;
	int rc;

	*out = NULL;
	if (parse_listen(&ss, cfg->listen) < 0)
		return fl_err_set(err, FL_EINVAL, "--listen '%s' is not ADDR:PORT", cfg->listen);
	h = calloc(1, sizeof(*h));
	if (!h)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	h->app = app;
	fl_random(h->id_prefix, sizeof(h->id_prefix));
	pthread_mutex_init(&h->conns_mu, NULL);
	pthread_mutex_init(&h->stop_mu, NULL);
	pthread_cond_init(&h->stop_cv, NULL);
	snprintf(path, sizeof(path), "%s/tls/server.pem", cfg->data_dir);
	fl_buf_init(&pem, 1 << 20);
	if ((rc = fl_fs_read(&pem, path, err)) < 0 || fl_buf_put(&pem, "", 1) < 0) {
		if (rc == 0)
			rc = fl_err_set(err, FL_ERROR, "%s is too large", path);
		fl_buf_release(&pem);
		goto cleanup;
	}
	h->pem = fl_buf_detach(&pem);
	if (gnutls_session_ticket_key_generate(&h->ticket_key) < 0)
		h->ticket_key.data = NULL; /* no resumption; full handshakes work */
	if ((rc = cp_pool_new(&h->pool, cfg->threads, cfg->queue_max, cfg->queue_wait_ms, err)) < 0)
		goto cleanup;
	if (pthread_create(&h->reaper, NULL, reaper_main, h) != 0) {
		rc = fl_err_set(err, FL_ERROR, "cannot start the connection reaper");
		goto cleanup;
	}
	h->reaper_started = 1;
	/* MHD's idle timeout is in whole seconds; 0 would mean none. */
	idle_s = (unsigned)((cfg->keepalive_ms + 999) / 1000);
	if (idle_s < 1)
		idle_s = 1;
	h->d =
	    MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TLS |
				 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TURBO,
			     0, on_accept, h, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
			     h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			     MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->io_threads,
			     /* Inline routes (check-ins) run their handler on these threads:
			      * they need the workers' stack, not whatever ulimit -s gives. */
			     MHD_OPTION_THREAD_STACK_SIZE, CP_POOL_STACK, MHD_OPTION_HTTPS_MEM_CERT,
			     h->pem, MHD_OPTION_HTTPS_MEM_KEY, h->pem, MHD_OPTION_HTTPS_PRIORITIES,
			     CP_TLS_PRIORITIES, MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
			     /* Per-connection memory holds the head and the read and write
			      * buffers. 64 KiB made file replies 12% faster (larger writes) but
			      * doubled the CPU of every new connection (make bench): agents
			      * reconnect more often than they download. --max-header is checked
			      * on the copy of the head; a head beyond this memory gets MHD's own
			      * 431. */
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(cfg->max_header + 8192),
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_conn_per_ip,
			     MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u, MHD_OPTION_URI_LOG_CALLBACK,
			     on_uri, h, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
			     MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_END);
	if (!h->d) {
		rc = fl_err_set(err, FL_ERROR,
				"cannot listen on %s (port in use, or bad TLS files in %s/tls)",
				cfg->listen, cfg->data_dir);
		goto cleanup;
	}
	*out = h;
	return 0;
cleanup:
	http_free(h);
	return rc;
}

int cp_http_port(const struct cp_http *h)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);

	return di ? di->port : -1;
}

void cp_http_stop(struct cp_http *h)
{
	int64_t until;

	if (!h)
		return;
	/* Drain: connections accepted from now are closed (on_accept); requests
	 * that begin from now get 503 with Connection: close; those in flight
	 * finish and are acknowledged. */
	atomic_store(&h->draining, 1);
	cp_events_close(h->app->events); /* live streams end */
	until = fl_mono_ms() + h->app->cfg.request_timeout_ms;
	while (atomic_load(&h->inflight) > 0 && fl_mono_ms() < until)
		usleep(10000);
	MHD_stop_daemon(h->d);
	http_free(h);
}

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
 * deadline of the connection's start (or of its previous reply), and whose
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
#include "http/tls.h"

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

static void rq_unref(struct rq *q)
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

static const char *get_header(void *conn, const char *name)
{
	const struct rq *q = conn;

	for (size_t i = 0; i < q->nhdrs; i++)
		if (strcasecmp(q->hdrs[i].name, name) == 0)
			return q->hdrs[i].value;
	return NULL;
}

static void new_request_id(char out[20])
{
	uint8_t raw[9];

	fl_random(raw, sizeof(raw));
	fl_b64url_encode(out, raw, sizeof(raw));
}

/* ---- replies ---- */

static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls, (void)pos, (void)buf, (void)max;
	return MHD_CONTENT_READER_END_OF_STREAM;
}

static void add_common(struct MHD_Response *r, const struct rq *q, const char *cache)
{
	MHD_add_response_header(r, "X-Request-Id", q->req.id);
	MHD_add_response_header(r, "Cache-Control", cache);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
}

/* The reply for a file: Range and If-None-Match answered here, the bytes
 * sent by MHD from the descriptor (sendfile where TLS allows, else in
 * bounded chunks): never the whole file in memory. */
static struct MHD_Response *file_reply(unsigned *status, struct rq *q, const char *path,
				       const char *etag, const char *ctype)
{
	struct MHD_Response *r;
	int64_t size, first = 0, last;
	struct stat st;
	char buf[96];
	int fd, rr;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	size = (int64_t)st.st_size;
	last = size - 1;
	if (etag && cp_http_etag_match(get_header(q, "If-None-Match"), etag)) {
		close(fd);
		r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
		if (r)
			MHD_add_response_header(r, "ETag", etag);
		*status = 304;
		return r;
	}
	rr = cp_http_range_parse(&first, &last, get_header(q, "Range"), size);
	if (rr < 0) {
		close(fd);
		r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
		snprintf(buf, sizeof(buf), "bytes */%" PRId64, size);
		if (r)
			MHD_add_response_header(r, "Content-Range", buf);
		*status = 416;
		return r;
	}
	r = MHD_create_response_from_fd_at_offset64((uint64_t)(last - first + 1), fd,
						    (uint64_t)first);
	if (!r) {
		close(fd);
		return NULL;
	}
	*status = rr > 0 ? 206 : 200;
	if (rr > 0) {
		snprintf(buf, sizeof(buf), "bytes %" PRId64 "-%" PRId64 "/%" PRId64, first, last,
			 size);
		MHD_add_response_header(r, "Content-Range", buf);
	}
	MHD_add_response_header(r, "Content-Type", ctype);
	MHD_add_response_header(r, "Accept-Ranges", "bytes");
	if (etag)
		MHD_add_response_header(r, "ETag", etag);
	return r;
}

/* A Server-Sent Events reply: MHD pulls text from the subscription; with
 * nothing to send the connection is suspended (no thread, no polling) until
 * the hub wakes it. */
struct sse {
	struct MHD_Connection *mc;
	struct cp_events_sub *sub;
	pthread_mutex_t mu;
	int suspended, woken;
	struct fl_buf out;
	size_t off;
};

/* Hub thread. */
static void sse_wake(void *arg)
{
	struct sse *st = arg;

	pthread_mutex_lock(&st->mu);
	if (st->suspended) {
		st->suspended = 0;
		MHD_resume_connection(st->mc);
	} else {
		st->woken = 1;
	}
	pthread_mutex_unlock(&st->mu);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse *st = cls;
	size_t n;
	int rc;

	(void)pos;
	if (st->off == st->out.len) {
		fl_buf_clear(&st->out);
		st->off = 0;
		rc = cp_events_read(&st->out, st->sub, 16384);
		if (rc == FL_EGONE)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (rc < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (rc == 0) {
			pthread_mutex_lock(&st->mu);
			if (st->woken)
				st->woken = 0; /* woken between the read and now: go on */
			else {
				st->suspended = 1;
				MHD_suspend_connection(st->mc);
			}
			pthread_mutex_unlock(&st->mu);
			return 0;
		}
	}
	n = st->out.len - st->off < max ? st->out.len - st->off : max;
	memcpy(buf, st->out.ptr + st->off, n);
	st->off += n;
	return (ssize_t)n;
}

static void sse_free(void *cls)
{
	struct sse *st = cls;

	/* After this no wake reaches st. */
	cp_events_unsubscribe(st->sub);
	fl_buf_release(&st->out);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

static struct MHD_Response *sse_reply(struct rq *q)
{
	struct fl_err err = {0, ""};
	struct MHD_Response *r;
	struct sse *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->mc = q->mc;
	pthread_mutex_init(&st->mu, NULL);
	fl_buf_init(&st->out, 0);
	if (cp_events_subscribe(&st->sub, q->h->app->events, q->resp.sse_after, sse_wake, st,
				&err) < 0) {
		pthread_mutex_destroy(&st->mu);
		free(st);
		return NULL;
	}
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, st, sse_free);
	if (!r) {
		sse_free(st);
		return NULL;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	return r;
}

/* Turns q->resp into an MHD reply in q->reply / q->reply_status. Runs on a
 * worker (or on the loop for replies decided there). */
static void build_reply(struct rq *q, int close_after)
{
	struct cp_resp *resp = &q->resp;
	struct MHD_Response *r = NULL;
	unsigned status = (unsigned)resp->status;
	char num[24];

	if (resp->file_path && resp->status < 300) {
		r = file_reply(&status, q, resp->file_path, resp->etag, "application/octet-stream");
		if (!r) {
			fl_log(FL_LOG_ERROR, "cannot open %s: %s", resp->file_path,
			       strerror(errno));
			cp_error_reply(resp, FL_ERROR, "cannot open the file");
			atomic_fetch_add(&q->h->app->counters.errors_5xx, 1);
			status = (unsigned)resp->status;
		} else {
			add_common(r, q, "private");
			resp->status = (int)status;
		}
	}
	if (resp->sse && resp->status == 200 && !(r = sse_reply(q))) {
		cp_error_reply(resp, FL_ENOMEM, "out of memory");
		status = (unsigned)resp->status;
	}
	if (!r && strcmp(q->method, "HEAD") == 0 && resp->head_length >= 0 && resp->status < 300) {
		/* HEAD states the length a GET would have; MHD sends no body. */
		r = MHD_create_response_from_callback((uint64_t)resp->head_length, 4096, no_body,
						      NULL, NULL);
		if (r)
			MHD_add_response_header(r, "Content-Type", "application/json");
	}
	if (!r && resp->raw && resp->status < 300) {
		r = MHD_create_response_from_buffer_with_free_callback(resp->raw_len, resp->raw,
								       free);
		if (r) {
			resp->raw = NULL; /* MHD owns it now */
			MHD_add_response_header(r, "Content-Type",
						resp->content_type ? resp->content_type
								   : "application/json");
		}
	}
	if (!r) {
		struct fl_buf body = FL_BUF_INIT;

		if (resp->body && fl_json_dump(&body, resp->body) < 0)
			fl_buf_clear(&body);
		if (fl_buf_put(&body, "\n", 1) < 0)
			fl_buf_clear(&body);
		r = MHD_create_response_from_buffer(body.len, body.ptr, MHD_RESPMEM_MUST_COPY);
		fl_buf_release(&body);
		if (r)
			MHD_add_response_header(r, "Content-Type", "application/json");
	}
	if (!r) {
		q->reply = NULL;
		return;
	}
	if (!resp->file_path || resp->status >= 300)
		add_common(r, q, "no-store");
	if (resp->retry_after > 0) {
		snprintf(num, sizeof(num), "%lld", (long long)resp->retry_after);
		MHD_add_response_header(r, "Retry-After", num);
	}
	/* A body refused unread must not be parsed as the next request. */
	if (close_after || resp->status == 413 || resp->status == 431)
		MHD_add_response_header(r, "Connection", "close");
	q->reply = r;
	q->reply_status = status;
}

/* A reply decided by the HTTP layer itself (limits, draining, shedding). */
static void layer_error(struct rq *q, int code, int status, const char *msg, int64_t retry)
{
	cp_error_reply(&q->resp, code, msg);
	if (status)
		q->resp.status = status;
	if (retry > 0)
		q->resp.retry_after = retry;
	if (q->resp.status >= 500)
		atomic_fetch_add(&q->h->app->counters.errors_5xx, 1);
	else
		atomic_fetch_add(&q->h->app->counters.errors_4xx, 1);
	build_reply(q, 1);
	q->phase = RQ_READY;
}

static void log_request(const struct rq *q)
{
	int status = (int)q->reply_status;
	/* A fleet's successful check-ins are its steady state: at a million
	 * devices they would be tens of thousands of lines a second, so they
	 * log at debug; everything else, and every error, at info or above.
	 * The line is not even built when its level is off. */
	enum fl_log_level lvl = status >= 500					    ? FL_LOG_ERROR
				: status < 400 && q->req.who.kind == CP_AUTH_DEVICE ? FL_LOG_DEBUG
										    : FL_LOG_INFO;

	if (!fl_log_enabled(lvl))
		return;
	fl_log_fields(lvl,
		      json_pack("{s:s,s:s,s:s,s:i,s:I,s:s,s:s}", "req", q->req.id, "method",
				q->method, "path", q->req.path ? q->req.path : "-", "status",
				status, "ms", (json_int_t)(fl_mono_ms() - q->t0), "who",
				q->req.who.actor[0] ? q->req.who.actor : "-", "remote", q->remote),
		      "request");
}

static enum MHD_Result queue_reply(struct rq *q)
{
	enum MHD_Result r;

	if (!q->reply)
		return MHD_NO; /* out of memory: close */
	/* A live stream is quiet between events and keep-alive comments; the
	 * keep-alive idle time would cut it. */
	if (q->resp.sse)
		MHD_set_connection_option(q->mc, MHD_CONNECTION_OPTION_TIMEOUT, 60u);
	r = MHD_queue_response(q->mc, q->reply_status, q->reply);
	log_request(q);
	MHD_destroy_response(q->reply);
	q->reply = NULL;
	return r;
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
		build_reply(q, q->streaming);
	} else {
		cp_api_handle(&q->resp, &q->req);
		/* A streamed body left unread: the connection is not reusable. */
		build_reply(q, q->streaming && (q->req.content_length < 0 ||
						q->req.body_read < q->req.content_length));
	}
	hand_back(q);
	rq_unref(q);
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
	q->req.header = get_header;
	q->req.conn = q;
	q->req.app = h->app;
	q->req.now = fl_now();
	q->req.content_length = -1;
	new_request_id(q->req.id);
	q->resp.head_length = -1;

	/* The head, copied: at most max_headers + 1 lines are kept (one more
	 * than allowed, so that the check below sees the excess). */
	shown = h->app->cfg.max_headers + 1;
	q->hdrs = calloc(shown, sizeof(*q->hdrs));
	fl_buf_init(&q->hdrbuf, h->app->cfg.max_header + 1024);
	if (!q->hdrs) {
		layer_error(q, FL_ENOMEM, 0, "out of memory", 0);
		return 1;
	}
	MHD_get_connection_values(q->mc, MHD_HEADER_KIND, collect_header, q);
	total = q->nhdrs;
	if (q->nhdrs > shown)
		q->nhdrs = shown;
	if (q->hdr_oom) {
		layer_error(q, FL_ETOOBIG, 431, "request head over the size limit", 0);
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
		layer_error(q, rc, rc == FL_ETOOBIG ? 431 : 400, err.msg, 0);
		return 1;
	}
	q->req.content_length = q->head.content_length;

	/* The path exactly as sent: "..", "%2F" and "%00" reach the router,
	 * which refuses them. */
	if (!q->target) {
		layer_error(q, FL_ETOOBIG, 414, "request target too long", 0);
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
		layer_error(q, FL_EUNAVAIL, 0, "the server is shutting down", 1);
		return 1;
	}
	q->route = cp_api_route(q->req.method, q->req.path);
	q->streaming = q->route && (q->route->flags & CP_ROUTE_STREAM);
	if (!q->streaming && q->head.content_length > (int64_t)h->app->cfg.max_body) {
		/* Refused by its declared length before a byte of it is read. */
		layer_error(q, FL_ETOOBIG, 0, "request body over the size limit", 0);
		return 1;
	}
	return 0;
}

/* Static console files: GET and HEAD of plain names under --web. */
static const char *content_type_of(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".mjs", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".json", "application/json"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".ico", "image/x-icon"},
	    {".txt", "text/plain; charset=utf-8"},
	    {".woff2", "font/woff2"},
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < FL_ARRAY_SIZE(types); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

static int static_name_ok(const char *p)
{
	/* Letters, digits and ._- in segments; no empty, dot-only or hidden
	 * segment: nothing that could leave the directory. */
	if (*p != '/')
		return 0;
	for (const char *s = p; *s;) {
		const char *e;

		s++;
		e = strchr(s, '/');
		if (!e)
			e = s + strlen(s);
		if (e == s && *e)
			return 0;
		if (e > s && *s == '.')
			return 0;
		for (const char *c = s; c < e; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			      (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
				return 0;
		s = e;
	}
	return 1;
}

static void serve_static(struct rq *q)
{
	const char *web = q->h->app->cfg.web_dir;
	struct MHD_Response *r = NULL;
	char path[2048];
	unsigned status = 200;
	size_t n;

	q->req.path = q->target;
	if (!web[0] || (strcmp(q->method, "GET") != 0 && strcmp(q->method, "HEAD") != 0) ||
	    !static_name_ok(q->target)) {
		layer_error(q, FL_ENOTFOUND, 0, "not found", 0);
		return;
	}
	n = (size_t)snprintf(path, sizeof(path), "%s%s", web, q->target);
	if (n < sizeof(path) - 16 && path[n - 1] == '/')
		snprintf(path + n, sizeof(path) - n, "index.html");
	if (n < sizeof(path) - 16)
		r = file_reply(&status, q, path, NULL, content_type_of(path));
	if (!r) {
		layer_error(q, FL_ENOTFOUND, 0, "not found", 0);
		return;
	}
	MHD_add_response_header(r, "X-Request-Id", q->req.id);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; frame-ancestors 'none'");
	q->reply = r;
	q->reply_status = status;
	q->phase = RQ_READY;
}

static int is_api_path(const char *p)
{
	return strncmp(p, "/api/", 5) == 0 || strcmp(p, "/metrics") == 0;
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
	layer_error(q, FL_EUNAVAIL, 0, "the server is over capacity; retry later",
		    cp_pool_retry_after(q->h->pool));
	return queue_reply(q);
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
			if (!is_api_path(q->req.path)) {
				serve_static(q);
			} else {
				q->phase = RQ_BODY;
				/* A body must arrive within the request timeout;
				 * an upload is bounded by the idle timeout only. */
				conn_set_deadline(q, q->streaming ? 0
								  : h->app->cfg.request_timeout_ms);
				if (q->streaming) {
					q->ring = malloc(RING_SIZE);
					if (!q->ring) {
						layer_error(q, FL_ENOMEM, 0, "out of memory", 0);
					} else {
						q->req.read = stream_read;
						q->phase = RQ_DISPATCHED;
						atomic_fetch_add(&q->refs, 1);
						if (cp_pool_submit(h->pool, run_job, q) < 0) {
							atomic_fetch_sub(&q->refs, 1);
							layer_error(q, FL_EUNAVAIL, 0,
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
		return ready ? queue_reply(q) : MHD_YES;
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
				layer_error(q, FL_ETOOBIG, 0, "request body over the size limit",
					    0);
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
	return queue_reply(q);
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
	/* The connection waits for its next head from now. */
	ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci && ci->socket_context)
		atomic_store(&((struct conn *)ci->socket_context)->deadline,
			     fl_mono_ms() + h->app->cfg.header_timeout_ms);
	if (!q)
		return;
	if (q->counted)
		atomic_fetch_sub(&h->inflight, 1);
	pthread_mutex_lock(&q->mu);
	q->mhd_gone = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	rq_unref(q);
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
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->stop_cv, &h->stop_mu, &ts);
	}
	pthread_mutex_unlock(&h->stop_mu);
	return NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
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
	h->d = MHD_start_daemon(
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TLS | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ERROR_LOG | MHD_USE_TURBO,
	    0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned)cfg->io_threads, MHD_OPTION_HTTPS_MEM_CERT, h->pem, MHD_OPTION_HTTPS_MEM_KEY,
	    h->pem, MHD_OPTION_HTTPS_PRIORITIES, CP_TLS_PRIORITIES, MHD_OPTION_CONNECTION_TIMEOUT,
	    idle_s,
	    /* The head must fit the per-connection memory with room for MHD's
	     * own use; beyond it MHD answers 431 itself. */
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(cfg->max_header + 8192),
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_conn_per_ip,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u, MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
	    on_connection, h, MHD_OPTION_END);
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
	MHD_socket ls;

	if (!h)
		return;
	/* Drain: stop accepting; requests that begin from now get 503 with
	 * Connection: close; those in flight finish and are acknowledged. */
	atomic_store(&h->draining, 1);
	ls = MHD_quiesce_daemon(h->d);
	cp_events_close(h->app->events); /* live streams end */
	until = fl_mono_ms() + h->app->cfg.request_timeout_ms;
	while (atomic_load(&h->inflight) > 0 && fl_mono_ms() < until)
		usleep(10000);
	MHD_stop_daemon(h->d);
	if (ls != MHD_INVALID_SOCKET)
		close(ls);
	http_free(h);
}

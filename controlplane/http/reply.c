/*
 * reply.c - the replies of the HTTP layer: a cp_resp turned into what
 * libmicrohttpd sends (JSON, raw bytes, a file with Range and ETag, a HEAD
 * length, a live event stream), the layer's own refusals, the access log
 * line, and the console's static files.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/events.h"
#include "fairlead/json.h"
#include "fairlead/log.h"
#include "fairlead/util.h"
#include "http/server_int.h"

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
	if (etag && cp_http_etag_match(cp_http_rq_header(q, "If-None-Match"), etag)) {
		close(fd);
		r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
		if (r)
			MHD_add_response_header(r, "ETag", etag);
		*status = 304;
		return r;
	}
	rr = cp_http_range_parse(&first, &last, cp_http_rq_header(q, "Range"), size);
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
void cp_http_build_reply(struct rq *q, int close_after)
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
		/* MHD takes the buffer as it is: no copy of every reply. */
		r = MHD_create_response_from_buffer_with_free_callback(body.len, body.ptr, free);
		if (r)
			body.ptr = NULL;
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
void cp_http_layer_error(struct rq *q, int code, int status, const char *msg, int64_t retry)
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
	cp_http_build_reply(q, 1);
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

enum MHD_Result cp_http_queue_reply(struct rq *q)
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

void cp_http_serve_static(struct rq *q)
{
	const char *web = q->h->app->cfg.web_dir;
	struct MHD_Response *r = NULL;
	char path[2048];
	unsigned status = 200;
	size_t n;

	q->req.path = q->target;
	if (!web[0] || (strcmp(q->method, "GET") != 0 && strcmp(q->method, "HEAD") != 0) ||
	    !static_name_ok(q->target)) {
		cp_http_layer_error(q, FL_ENOTFOUND, 0, "not found", 0);
		return;
	}
	n = (size_t)snprintf(path, sizeof(path), "%s%s", web, q->target);
	if (n < sizeof(path) - 16 && path[n - 1] == '/')
		snprintf(path + n, sizeof(path) - n, "index.html");
	if (n < sizeof(path) - 16)
		r = file_reply(&status, q, path, NULL, content_type_of(path));
	if (!r) {
		cp_http_layer_error(q, FL_ENOTFOUND, 0, "not found", 0);
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

int cp_http_is_api_path(const char *p)
{
	return strncmp(p, "/api/", 5) == 0 || strcmp(p, "/metrics") == 0;
}

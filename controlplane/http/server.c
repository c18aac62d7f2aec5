#include "server.h"

#include <civetweb.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "fairlead/buf.h"
#include "fairlead/crypto.h"
#include "fairlead/json.h"
#include "fairlead/log.h"
#include "fairlead/util.h"

struct cp_http {
	struct mg_context *ctx;
	struct cp_app *app;
};

static const char *get_header(void *conn, const char *name)
{
	return mg_get_header(conn, name);
}

static void new_request_id(char out[20])
{
	uint8_t raw[9];

	fl_random(raw, sizeof(raw));
	fl_b64url_encode(out, raw, sizeof(raw));
}

/* Parses a single "bytes=A-B", "bytes=A-" or "bytes=-N" range against size
 * into [*first, *last]. 1: a range; 0: no usable Range header (serve all);
 * -1: syntactically fine but unsatisfiable (416). Multiple ranges are served
 * whole, which RFC 9110 allows. */
static int parse_range(int64_t *first, int64_t *last, const char *h, int64_t size)
{
	char *end;
	long long a, b;

	if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	h += 6;
	errno = 0;
	if (*h == '-') {
		b = strtoll(h + 1, &end, 10);
		if (errno || *end || end == h + 1 || b < 0)
			return 0;
		if (b == 0 || size == 0)
			return -1;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 1;
	}
	a = strtoll(h, &end, 10);
	if (errno || end == h || *end != '-' || a < 0)
		return 0;
	h = end + 1;
	if (*h) {
		b = strtoll(h, &end, 10);
		if (errno || *end || b < a)
			return 0;
	} else {
		b = size - 1;
	}
	if (a >= size)
		return -1;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return 1;
}

#define SEND_CHUNK ((int64_t)64 * 1024)

/* 1 when an If-None-Match header lists etag (or is "*"). */
static int etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);

	if (!inm || !etag[0])
		return 0;
	if (strcmp(inm, "*") == 0)
		return 1;
	for (const char *p = strstr(inm, etag); p; p = strstr(p + 1, etag))
		if ((p == inm || p[-1] == ' ' || p[-1] == ',') &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return 1;
	return 0;
}

/* Streams resp->file_path in fixed chunks: never more than one chunk of it
 * in memory, whatever its size. Sets resp->status to what was sent. */
static int send_file(struct mg_connection *conn, const struct cp_req *req, struct cp_resp *resp)
{
	char *chunk = NULL, range_hdr[96] = "";
	int64_t size, first = 0, last, left;
	struct stat st;
	int fd, r;

	fd = open(resp->file_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		fl_log(FL_LOG_ERROR, "cannot open %s: %s", resp->file_path, strerror(errno));
		cp_error_reply(resp, FL_ERROR, "cannot open the file");
		atomic_fetch_add(&req->app->counters.errors_5xx, 1);
		return FL_ERROR;
	}
	size = (int64_t)st.st_size;
	last = size - 1;
	resp->status = 200;
	if (etag_matches(req->header(req->conn, "If-None-Match"), resp->etag)) {
		mg_printf(conn,
			  "HTTP/1.1 304 Not Modified\r\nETag: %s\r\nX-Request-Id: %s\r\n"
			  "Content-Length: 0\r\n\r\n",
			  resp->etag, req->id);
		resp->status = 304;
		close(fd);
		return 0;
	}
	r = parse_range(&first, &last, req->header(req->conn, "Range"), size);
	if (r < 0) {
		mg_printf(conn,
			  "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */%" PRId64
			  "\r\nContent-Length: 0\r\nX-Request-Id: %s\r\n\r\n",
			  size, req->id);
		resp->status = 416;
		close(fd);
		return 0;
	}
	if (r > 0) {
		resp->status = 206;
		snprintf(range_hdr, sizeof(range_hdr),
			 "Content-Range: bytes %" PRId64 "-%" PRId64 "/%" PRId64 "\r\n", first,
			 last, size);
	}
	left = last - first + 1;
	/* On the heap: civetweb's worker threads have small stacks. */
	if (strcmp(req->method, "HEAD") != 0 && !(chunk = malloc(SEND_CHUNK))) {
		close(fd);
		cp_error_reply(resp, FL_ENOMEM, "out of memory");
		return FL_ENOMEM;
	}
	mg_printf(conn,
		  "HTTP/1.1 %d %s\r\nContent-Type: application/octet-stream\r\n"
		  "Content-Length: %" PRId64 "\r\nAccept-Ranges: bytes\r\nETag: %s\r\n%s"
		  "X-Request-Id: %s\r\nCache-Control: private\r\n"
		  "X-Content-Type-Options: nosniff\r\n\r\n",
		  resp->status, mg_get_response_code_text(conn, resp->status), left, resp->etag,
		  range_hdr, req->id);
	while (chunk && left > 0) {
		ssize_t n =
		    pread(fd, chunk, left < SEND_CHUNK ? (size_t)left : SEND_CHUNK, (off_t)first);

		if (n <= 0 || mg_write(conn, chunk, (size_t)n) <= 0)
			break; /* the client went away, or the file is shorter: nothing to add */
		first += n;
		left -= n;
	}
	free(chunk);
	close(fd);
	return 0;
}

static void send_reply(struct mg_connection *conn, const struct cp_req *req, struct cp_resp *resp,
		       int close_after)
{
	struct fl_buf body = FL_BUF_INIT;
	char extra[128] = "";
	int head = strcmp(req->method, "HEAD") == 0;
	const char *data;
	size_t len;

	/* When the file cannot be opened, send_file turns the reply into an
	 * error, which is sent below like any other. */
	if (resp->file_path && resp->status < 300 && send_file(conn, req, resp) == 0)
		return;
	if (resp->raw && resp->status < 300) {
		data = resp->raw;
		len = resp->raw_len;
	} else {
		if (resp->body && fl_json_dump(&body, resp->body) < 0)
			fl_buf_clear(&body);
		if (fl_buf_put(&body, "\n", 1) < 0)
			fl_buf_clear(&body);
		data = body.ptr;
		len = body.len;
	}
	if (resp->retry_after > 0)
		snprintf(extra, sizeof(extra), "Retry-After: %lld\r\n",
			 (long long)resp->retry_after);
	/* A body refused unread must not be parsed as the next request. */
	if (resp->status == 413 || close_after)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			 "Connection: close\r\n");
	/* A HEAD reply states the length a GET would have (head_length), or 0:
	 * a client that sends HEAD as a plain method then waits for no body. */
	mg_printf(conn,
		  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		  "Content-Length: %lld\r\nX-Request-Id: %s\r\nCache-Control: no-store\r\n"
		  "X-Content-Type-Options: nosniff\r\n%s\r\n",
		  resp->status, mg_get_response_code_text(conn, resp->status),
		  resp->raw && resp->status < 300 && resp->content_type ? resp->content_type
									: "application/json",
		  head ? (long long)(resp->head_length >= 0 ? resp->head_length : 0)
		       : (long long)len,
		  req->id, extra);
	if (!head)
		mg_write(conn, data, len);
	fl_buf_release(&body);
}

static int read_stream(void *conn, void *buf, size_t len)
{
	return mg_read(conn, buf, len);
}

/* Reads the body within the limit. FL_ETOOBIG past it. */
static int read_body(struct fl_buf *b, struct mg_connection *conn, const struct mg_request_info *ri,
		     size_t max)
{
	char chunk[16384];
	int n;

	fl_buf_init(b, max);
	/* Refuse by the declared length before reading a byte of it. */
	if (ri->content_length > 0 && (unsigned long long)ri->content_length > max)
		return FL_ETOOBIG;
	while ((n = mg_read(conn, chunk, sizeof(chunk))) > 0)
		if (fl_buf_put(b, chunk, (size_t)n) < 0)
			return FL_ETOOBIG;
	return n < 0 ? FL_EINVAL : 0;
}

static int api_handler(struct mg_connection *conn, void *cbdata)
{
	struct cp_http *h = cbdata;
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct cp_req req;
	struct cp_resp resp = {0};
	struct fl_buf body = FL_BUF_INIT;
	int64_t t0 = fl_mono_ms();
	const struct cp_route *route;
	int streaming, rc;

	memset(&req, 0, sizeof(req));
	req.method = ri->request_method;
	/* With decode_url off, local_uri_raw is the path exactly as sent: "..",
	 * "%2F" and "%00" reach the router, which refuses them. */
	req.path = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
	req.query = ri->query_string ? ri->query_string : "";
	req.remote = ri->remote_addr;
	req.header = get_header;
	req.conn = conn;
	req.app = h->app;
	req.now = fl_now();
	new_request_id(req.id);

	route = cp_api_route(req.method, req.path);
	streaming = route && (route->flags & CP_ROUTE_STREAM);
	req.content_length = ri->content_length;
	if (streaming) {
		/* The handler reads the body itself, after authentication. */
		req.read = read_stream;
		cp_api_handle(&resp, &req);
		rc = 0;
	} else if ((rc = read_body(&body, conn, ri, h->app->cfg.max_body)) < 0) {
		cp_error_reply(&resp, rc,
			       rc == FL_ETOOBIG ? "request body over the size limit"
						: "cannot read request body");
		atomic_fetch_add(&h->app->counters.errors_4xx, 1);
	} else {
		req.body = body.ptr;
		req.body_len = body.len;
		cp_api_handle(&resp, &req);
	}
	/* A streamed body left unread would be drained by civetweb; closing
	 * tells the client not to reuse the connection for more. */
	send_reply(conn, &req, &resp,
		   streaming && (req.content_length < 0 || req.body_read < req.content_length));
	/* A fleet's successful check-ins are its steady state: at a million
	 * devices they would be tens of thousands of lines a second, so they log
	 * at debug; everything else, and every error, at info or above. */
	fl_log_fields(resp.status >= 500				    ? FL_LOG_ERROR
		      : resp.status < 400 && req.who.kind == CP_AUTH_DEVICE ? FL_LOG_DEBUG
									    : FL_LOG_INFO,
		      json_pack("{s:s,s:s,s:s,s:i,s:I,s:s,s:s}", "req", req.id, "method",
				req.method, "path", req.path, "status", resp.status, "ms",
				(json_int_t)(fl_mono_ms() - t0), "who",
				req.who.actor[0] ? req.who.actor : "-", "remote", req.remote),
		      "request");
	cp_resp_release(&resp);
	fl_buf_release(&body);
	/* civetweb wants the status back for its own bookkeeping. */
	return resp.status;
}

/* civetweb's own errors (oversized headers, timeouts, bad requests) get the
 * same JSON shape as ours. */
static int error_handler(struct mg_connection *conn, int status, const char *msg)
{
	const char *code = status == 413 || status == 431 ? "payload_too_large"
			   : status == 408		  ? "timeout"
			   : status >= 500		  ? "internal"
							  : "invalid_request";
	char body[256];
	int n = snprintf(body, sizeof(body),
			 "{\"error\":{\"code\":\"%s\",\"message\":\"HTTP %d\"}}\n", code, status);

	mg_printf(conn,
		  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
		  "Connection: close\r\n\r\n%s",
		  status, mg_get_response_code_text(conn, status), n, body);
	(void)msg;
	return 0;
}

static int log_message(const struct mg_connection *conn, const char *message)
{
	fl_log(FL_LOG_WARN, "http: %s", message);
	return 1;
}

int cp_http_start(struct cp_http **out, struct cp_app *app, struct fl_err *err)
{
	struct mg_callbacks cb;
	struct cp_http *h;
	char cert[1200], threads[16], timeout[16], maxreq[16], keepalive[16];
	char ports[300];
	const char *opts[32];
	int n = 0;

	*out = NULL;
	if (!mg_check_feature(MG_FEATURES_TLS))
		return fl_err_set(err, FL_ERROR, "civetweb lacks TLS support");
	if (!(mg_init_library(MG_FEATURES_TLS) & MG_FEATURES_TLS))
		return fl_err_set(err, FL_ERROR,
				  "civetweb could not load OpenSSL (is the libssl shim next to "
				  "fairleadd and libssl-dev installed?)");
	h = calloc(1, sizeof(*h));
	if (!h) {
		mg_exit_library();
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	h->app = app;
	snprintf(cert, sizeof(cert), "%s/tls/server.pem", app->cfg.data_dir);
	snprintf(ports, sizeof(ports), "%ss", app->cfg.listen);
	snprintf(threads, sizeof(threads), "%d", app->cfg.threads);
	snprintf(timeout, sizeof(timeout), "%d", app->cfg.request_timeout_ms);
	snprintf(maxreq, sizeof(maxreq), "%zu", app->cfg.max_header);
	opts[n++] = "listening_ports";
	opts[n++] = ports;
	opts[n++] = "ssl_certificate";
	opts[n++] = cert;
	opts[n++] = "ssl_protocol_version";
	opts[n++] = "4"; /* TLS 1.2 and newer */
	opts[n++] = "num_threads";
	opts[n++] = threads;
	opts[n++] = "request_timeout_ms";
	opts[n++] = timeout;
	opts[n++] = "max_request_size";
	opts[n++] = maxreq;
	/* The router decodes path segments itself, strictly: civetweb's decoder
	 * would turn "a%00b" into "a" and "a%2Fb" into two segments. */
	opts[n++] = "decode_url";
	opts[n++] = "no";
	opts[n++] = "enable_keep_alive";
	opts[n++] = "yes";
	/* A reply leaves as two writes (headers, then body). With Nagle on, the
	 * second waits for the client's delayed ACK of the first: 40 ms on every
	 * kept-alive request (make bench measured 354 check-ins/s at p50 44 ms,
	 * against 11k/s without it). */
	opts[n++] = "tcp_nodelay";
	opts[n++] = "1";
	/* civetweb gives each connection a worker thread for its whole life, so
	 * an idle keep-alive connection holds a thread. Agents poll every few
	 * seconds at best; keeping their connections open would let a handful of
	 * idle devices occupy every worker. A short idle time still serves bursts
	 * (the CLI paging through a list) on one connection. */
	snprintf(keepalive, sizeof(keepalive), "%d", app->cfg.keepalive_ms);
	opts[n++] = "keep_alive_timeout_ms";
	opts[n++] = keepalive;
	if (app->cfg.web_dir[0]) {
		opts[n++] = "document_root";
		opts[n++] = app->cfg.web_dir;
		opts[n++] = "enable_directory_listing";
		opts[n++] = "no";
		opts[n++] = "additional_header";
		opts[n++] = "X-Content-Type-Options: nosniff\r\nContent-Security-Policy: "
			    "default-src 'self'; frame-ancestors 'none'";
	}
	opts[n] = NULL;

	memset(&cb, 0, sizeof(cb));
	cb.http_error = error_handler;
	cb.log_message = log_message;
	h->ctx = mg_start(&cb, h, opts);
	if (!h->ctx) {
		free(h);
		mg_exit_library();
		return fl_err_set(err, FL_ERROR,
				  "cannot listen on %s (port in use, or bad TLS files "
				  "in %s/tls)",
				  app->cfg.listen, app->cfg.data_dir);
	}
	mg_set_request_handler(h->ctx, "/api/", api_handler, h);
	/* Prometheus scrapes its conventional path, routed like the API. */
	mg_set_request_handler(h->ctx, "/metrics$", api_handler, h);
	*out = h;
	return 0;
}

void cp_http_stop(struct cp_http *h)
{
	if (!h)
		return;
	/* mg_stop closes the listeners and joins the workers after their current
	 * request: in-flight requests complete and are acknowledged. */
	mg_stop(h->ctx);
	mg_exit_library();
	free(h);
}

#include "server.h"

#include <civetweb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void send_reply(struct mg_connection *conn, const struct cp_req *req,
		       const struct cp_resp *resp)
{
	struct fl_buf body = FL_BUF_INIT;
	char extra[64] = "";

	if (resp->body && fl_json_dump(&body, resp->body) < 0)
		fl_buf_clear(&body);
	if (fl_buf_put(&body, "\n", 1) < 0)
		fl_buf_clear(&body);
	if (resp->retry_after > 0)
		snprintf(extra, sizeof(extra), "Retry-After: %lld\r\n",
			 (long long)resp->retry_after);
	/* A body refused unread must not be parsed as the next request. */
	if (resp->status == 413)
		snprintf(extra, sizeof(extra), "Connection: close\r\n");
	mg_printf(conn,
		  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
		  "Content-Length: %zu\r\nX-Request-Id: %s\r\nCache-Control: no-store\r\n"
		  "X-Content-Type-Options: nosniff\r\n%s\r\n",
		  resp->status, mg_get_response_code_text(conn, resp->status), body.len, req->id,
		  extra);
	if (strcmp(req->method, "HEAD") != 0)
		mg_write(conn, body.ptr, body.len);
	fl_buf_release(&body);
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
	int rc;

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

	rc = read_body(&body, conn, ri, h->app->cfg.max_body);
	if (rc < 0) {
		cp_error_reply(&resp, rc,
			       rc == FL_ETOOBIG ? "request body over the size limit"
						: "cannot read request body");
		atomic_fetch_add(&h->app->counters.errors_4xx, 1);
	} else {
		req.body = body.ptr;
		req.body_len = body.len;
		cp_api_handle(&resp, &req);
	}
	send_reply(conn, &req, &resp);
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

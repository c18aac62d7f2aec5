/*
 * server.h - HTTPS serving: the only user of libmicrohttpd and GnuTLS.
 *
 * Reads each request into a cp_req within the configured limits (header
 * bytes and lines, body size, deadlines), hands it to cp_api_handle() on a
 * worker thread and writes the reply with X-Request-Id, one structured
 * access-log line per request. Paths outside /api/ and /metrics are the web
 * console's static files.
 */
#ifndef CP_HTTP_SERVER_H
#define CP_HTTP_SERVER_H

#include "app.h"
#include "fairlead/err.h"

struct cp_http;

/* Starts listening on app->cfg.listen with the TLS files in DATA/tls. */
int cp_http_start(struct cp_http **out, struct cp_app *app, struct fl_err *err);
/* The port listened on (useful with --listen ADDR:0). */
int cp_http_port(const struct cp_http *h);
/* Drains: stops accepting, answers new requests 503, waits (up to the
 * request timeout) for those in flight, then closes everything and frees.
 * NULL: no-op. */
void cp_http_stop(struct cp_http *h);

#endif

/*
 * server.h - HTTPS serving: the only civetweb user.
 *
 * Reads each request into a cp_req within the configured limits (header size
 * by civetweb, body size here before reading), hands it to cp_api_handle()
 * and writes the reply with X-Request-Id, one structured access-log line
 * per request. Paths outside /api/ are the web console's static files.
 */
#ifndef CP_HTTP_SERVER_H
#define CP_HTTP_SERVER_H

#include "app.h"
#include "fairlead/err.h"

struct cp_http;

/* Starts listening on app->cfg.listen with the TLS files in DATA/tls. */
int cp_http_start(struct cp_http **out, struct cp_app *app, struct fl_err *err);
/* Stops accepting, waits for requests in flight to finish, frees. */
void cp_http_stop(struct cp_http *h);

#endif

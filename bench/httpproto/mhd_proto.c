/*
 * mhd_proto.c - minimal HTTPS check-in server on libmicrohttpd, for the
 * library comparison (see RESULTS.md). Not part of the main build.
 *
 *   mhd_proto PORT CERT.pem KEY.pem [TIMEOUT_S]
 *
 * POST /checkin (JSON body up to 4 KiB) -> ~200-byte JSON; GET /health.
 * epoll, a pool of 2 threads, GnuTLS with Fairlead's priority string.
 * TIMEOUT_S (default 10) is MHD_OPTION_CONNECTION_TIMEOUT: MHD's only
 * deadline, an inactivity timeout.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "../../controlplane/http/tls.h"
#include "common.h"

struct rq {
	size_t len;
	int too_big;
	char body[HP_BODY_MAX];
};

/* Extra daemon flags: the mhd_proto_turbo target builds with MHD_USE_TURBO,
 * as fairleadd runs (it changes MHD's socket corking and Nagle handling). */
#ifndef HP_MHD_EXTRA_FLAGS
#define HP_MHD_EXTRA_FLAGS 0
#endif

static struct MHD_Response *r_checkin, *r_health, *r_404, *r_413;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	struct rq *q = *con_cls;

	(void)cls, (void)version;
	if (strcmp(method, "POST") == 0 && strcmp(url, "/checkin") == 0) {
		if (!q) {
			q = calloc(1, sizeof(*q));
			if (!q)
				return MHD_NO;
			*con_cls = q;
			return MHD_YES;
		}
		if (*data_size) {
			if (q->len + *data_size > HP_BODY_MAX)
				q->too_big = 1;
			else
				memcpy(q->body + q->len, data, *data_size);
			q->len += *data_size;
			*data_size = 0;
			return MHD_YES;
		}
		return MHD_queue_response(c, q->too_big ? 413 : 200, q->too_big ? r_413 : r_checkin);
	}
	if (strcmp(method, "GET") == 0 && strcmp(url, "/health") == 0)
		return MHD_queue_response(c, 200, r_health);
	if (!q) { /* let MHD read (and drop) any body first */
		*con_cls = calloc(1, sizeof(struct rq));
		return *con_cls ? MHD_YES : MHD_NO;
	}
	if (*data_size) {
		*data_size = 0;
		return MHD_YES;
	}
	return MHD_queue_response(c, 404, r_404);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)c, (void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

static struct MHD_Response *json(const char *s)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(s), (void *)s, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	return r;
}

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

int main(int argc, char **argv)
{
	struct MHD_Daemon *d;
	char *cert, *key;
	unsigned timeout = argc > 4 ? (unsigned)atoi(argv[4]) : 10;

	struct sockaddr_in sa;

	if (argc < 4) {
		fprintf(stderr, "usage: %s PORT CERT KEY [TIMEOUT_S]\n", argv[0]);
		return 2;
	}
	cert = hp_slurp(argv[2], NULL);
	key = hp_slurp(argv[3], NULL);
	if (!cert || !key) {
		fprintf(stderr, "cannot read cert/key\n");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r_checkin = json(HP_CHECKIN_REPLY);
	r_health = json(HP_HEALTH_REPLY);
	r_404 = json("{\"error\":\"not found\"}\n");
	r_413 = json("{\"error\":\"too large\"}\n");
	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG |
				 HP_MHD_EXTRA_FLAGS,
			     (uint16_t)atoi(argv[1]), NULL, NULL, on_request, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_HTTPS_MEM_CERT, cert,
			     MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_PRIORITIES,
			     CP_TLS_PRIORITIES, MHD_OPTION_CONNECTION_TIMEOUT, timeout,
			     MHD_OPTION_CONNECTION_LIMIT, 20000u, MHD_OPTION_LISTEN_BACKLOG_SIZE,
			     (unsigned)HP_BACKLOG, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
			     MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "MHD_start_daemon failed\n");
		return 1;
	}
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	fprintf(stderr, "mhd_proto: listening on %s (MHD %s)\n", argv[1], MHD_get_version());
	while (!stop)
		pause();
	MHD_stop_daemon(d);
	return 0;
}

/*
 * h2o_proto.c - minimal HTTPS check-in server on libh2o-evloop (h2o 2.2.5
 * as packaged by Debian, OpenSSL 3), for the library comparison (see
 * RESULTS.md). Not part of the main build.
 *
 *   h2o_proto PORT CERT.pem KEY.pem [TIMEOUT_S]
 *
 * Same behaviour as mhd_proto: POST /checkin (JSON body up to 4 KiB) ->
 * ~200-byte JSON; GET /health. An h2o event loop is single-threaded, so two
 * threads each run their own loop and context on their own SO_REUSEPORT
 * listener (the kernel spreads accepts over them): two cores, like MHD's pool
 * of 2. TIMEOUT_S (default 10) sets the TLS handshake timeout, the HTTP/1
 * request timeout and the HTTP/2 idle timeout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <h2o.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define NTHREADS 2
#define CIPHERS                                                                                    \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

static h2o_globalconf_t config;
static SSL_CTX *ssl_ctx;
static int port;

struct worker {
	pthread_t tid;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept_ctx;
};
static struct worker workers[NTHREADS];

static void reply(h2o_req_t *req, int status, const char *reason, const char *body)
{
	static h2o_generator_t gen = {NULL, NULL};
	h2o_iovec_t iov = h2o_iovec_init(body, strlen(body));

	req->res.status = status;
	req->res.reason = reason;
	req->res.content_length = iov.len;
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("application/json"));
	h2o_start_response(req, &gen);
	h2o_send(req, &iov, 1, H2O_SEND_STATE_FINAL);
}

/* h2o hands the handler a complete request: the body is already buffered
 * in req->entity (max_request_entity_size caps it, 413 past that). */
static int on_checkin(h2o_handler_t *self, h2o_req_t *req)
{
	char body[HP_BODY_MAX];

	(void)self;
	if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) ||
	    !h2o_memis(req->path_normalized.base, req->path_normalized.len,
		       H2O_STRLIT("/checkin")))
		return -1;
	if (req->entity.base && req->entity.len <= sizeof(body))
		memcpy(body, req->entity.base, req->entity.len); /* as MHD's copy */
	reply(req, 200, "OK", HP_CHECKIN_REPLY);
	return 0;
}

static int on_health(h2o_handler_t *self, h2o_req_t *req)
{
	(void)self;
	if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
	    !h2o_memis(req->path_normalized.base, req->path_normalized.len,
		       H2O_STRLIT("/health")))
		return -1;
	reply(req, 200, "OK", HP_HEALTH_REPLY);
	return 0;
}

static int on_other(h2o_handler_t *self, h2o_req_t *req)
{
	(void)self;
	reply(req, 404, "Not Found", "{\"error\":\"not found\"}\n");
	return 0;
}

static void add_handler(h2o_hostconf_t *host, const char *path,
			int (*fn)(h2o_handler_t *, h2o_req_t *))
{
	h2o_pathconf_t *pc = h2o_config_register_path(host, path, 0);
	h2o_handler_t *h = h2o_create_handler(pc, sizeof(*h));

	h->on_req = fn;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
	struct worker *w = listener->data;
	h2o_socket_t *sock;

	if (err)
		return;
	/* Drain the backlog a few at a time, as h2o's own server does. */
	for (int i = 0; i < 16; i++) {
		if (!(sock = h2o_evloop_socket_accept(listener)))
			return;
		h2o_accept(&w->accept_ctx, sock);
	}
}

static int make_listener(void)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, HP_BACKLOG)) {
		perror("listener");
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	h2o_evloop_t *loop = h2o_evloop_create();
	h2o_socket_t *ls;
	int fd;

	h2o_context_init(&w->ctx, loop, &config);
	w->accept_ctx.ctx = &w->ctx;
	w->accept_ctx.hosts = config.hosts;
	w->accept_ctx.ssl_ctx = ssl_ctx;
	if ((fd = make_listener()) < 0)
		exit(1);
	ls = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
	ls->data = w;
	h2o_socket_read_start(ls, on_accept);
	while (h2o_evloop_run(loop, INT32_MAX) == 0)
		;
	return NULL;
}

static SSL_CTX *tls_setup(const char *cert, const char *key)
{
	SSL_CTX *c = SSL_CTX_new(TLS_server_method());

	if (!c || !SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(c, CIPHERS) ||
	    /* TLS 1.3 suites in GnuTLS's order for CP_TLS_PRIORITIES (OpenSSL's
	     * default puts AES-256 first) so both servers pick the same. */
	    !SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
					 "TLS_CHACHA20_POLY1305_SHA256") ||
	    !SSL_CTX_set1_groups_list(c, "X25519:P-256:P-384") ||
	    SSL_CTX_use_certificate_chain_file(c, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1 ||
	    !SSL_CTX_check_private_key(c)) {
		ERR_print_errors_fp(stderr);
		return NULL;
	}
	SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
				   SSL_OP_NO_RENEGOTIATION);
	/* ALPN: h2 (what h2o adds over MHD) and http/1.1 as the fallback. */
	h2o_ssl_register_alpn_protocols(c, h2o_http2_alpn_protocols);
	return c;
}

int main(int argc, char **argv)
{
	h2o_hostconf_t *host;
	uint64_t timeout_ms = (argc > 4 ? (uint64_t)atoi(argv[4]) : 10) * 1000;

	if (argc < 4) {
		fprintf(stderr, "usage: %s PORT CERT KEY [TIMEOUT_S]\n", argv[0]);
		return 2;
	}
	port = atoi(argv[1]);
	signal(SIGPIPE, SIG_IGN);
	if (!(ssl_ctx = tls_setup(argv[2], argv[3])))
		return 1;
	h2o_config_init(&config);
	config.max_request_entity_size = HP_BODY_MAX;
	config.handshake_timeout = timeout_ms;
	config.http1.req_timeout = timeout_ms;
	config.http2.idle_timeout = timeout_ms;
	host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	add_handler(host, "/checkin", on_checkin);
	add_handler(host, "/health", on_health);
	add_handler(host, "/", on_other);
	for (int i = 0; i < NTHREADS; i++)
		if (pthread_create(&workers[i].tid, NULL, run, &workers[i])) {
			perror("pthread_create");
			return 1;
		}
	fprintf(stderr, "h2o_proto: listening on %d (h2o %s, %s)\n", port, H2O_VERSION,
		OpenSSL_version(OPENSSL_VERSION));
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(workers[i].tid, NULL);
	return 0;
}

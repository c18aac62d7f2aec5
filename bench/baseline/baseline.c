/*
 * fairlead-bench-baseline - the cost floor of Fairlead's check-in.
 *
 *   fairlead-bench-baseline --data DIR --listen 127.0.0.1:PORT --count N
 *                           [--seed S] [--first I] [--threads NPROC]
 *                           [--keepalive-ms 500] [--max-connections 10000]
 *   fairlead-bench-baseline --verify-bench N
 *
 * An HTTPS server that does only what no design of a signed check-in can
 * avoid, on the HTTP stack fairleadd moves to: libmicrohttpd with an epoll
 * thread pool (--threads, default one per core) and GnuTLS with the one TLS
 * policy of controlplane/http/tls.h, the certificate and key of
 * DIR/tls/server.pem, keep-alive, TCP_NODELAY and TLS session tickets
 * (resumption for devices that reconnect); reading the request and its
 * body, parsing the RFC 9421 signature headers and verifying one Ed25519
 * signature with the time window and body digest (fl_httpsig_verify), then
 * answering a small JSON reply. No registry, no replay cache, no write-behind,
 * no rate limits, no load shedding: fairleadd's rate divided by this one is
 * the share of the floor it reaches.
 *
 * The public keys are those of fairlead-sim's preloaded devices (the same
 * seed and indices), so the simulator drives both servers identically.
 * This file is the only libmicrohttpd user of its binary.
 *
 * --verify-bench N prints, as JSON, the CPU time of one Ed25519 verification
 * (fl_ed25519_verify) and of one whole fl_httpsig_verify of a signed
 * check-in, each the mean of N: the unit of the CPU-per-check-in figure.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/tls.h" /* CP_TLS_PRIORITIES: fairleadd's one TLS policy */
#include "fairlead/buf.h"
#include "fairlead/crypto.h"
#include "fairlead/fs.h"
#include "fairlead/httpsig.h"
#include "fairlead/map.h"
#include "fairlead/util.h"

#define MAX_BODY (1024 * 1024)

struct bl_key {
	char id[80];
	uint8_t pk[FL_ED25519_PK_LEN];
};

/* One request being read: its body so far. */
struct bl_req {
	struct fl_buf body;
	int too_big;
};

static struct fl_map keys;	  /* keyid -> struct bl_key; read-only once serving */
static gnutls_datum_t ticket_key; /* TLS session tickets: one key for the run */

static void bl_derive(uint8_t pk[FL_ED25519_PK_LEN], const char *seed, long index)
{
	char text[256];
	uint8_t d[FL_SHA256_LEN], sk[FL_ED25519_SK_LEN];
	int n = snprintf(text, sizeof(text), "fairlead-sim-v1\n%s\n%ld", seed, index);

	fl_sha256(d, text, (size_t)n);
	fl_ed25519_seed_keypair(pk, sk, d);
	memset(sk, 0, sizeof(sk));
}

static enum MHD_Result bl_reply(struct MHD_Connection *conn, unsigned int status, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    strlen(body), (void *)(uintptr_t)body, /* copied */ MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (!r)
		return MHD_NO;
	if (MHD_add_response_header(r, "Content-Type", "application/json") != MHD_YES ||
	    MHD_add_response_header(r, "Cache-Control", "no-store") != MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result bl_checkin(struct MHD_Connection *conn, const char *method, const char *url,
				  const struct bl_req *q)
{
	struct fl_sig_params p;
	struct fl_err err = {0, ""};
	uint8_t sig[FL_ED25519_SIG_LEN];
	const struct bl_key *k;
	char out[256];

	if (q->too_big)
		return bl_reply(conn, MHD_HTTP_CONTENT_TOO_LARGE,
				"{\"error\":{\"code\":\"payload_too_large\"}}\n");
	if (strcmp(method, "POST") == 0 &&
	    fl_httpsig_parse(
		&p, sig, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Signature-Input"),
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Signature"), &err) == 0 &&
	    (k = fl_map_get(&keys, p.keyid)) != NULL &&
	    fl_httpsig_verify(&p, sig, k->pk, method, url, "",
			      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Digest"),
			      q->body.ptr, q->body.len, fl_now(), &err) == 0) {
		snprintf(out, sizeof(out),
			 "{\"commands\":[],\"desired_version\":0,\"device_id\":\"%s\","
			 "\"poll_interval\":30,\"state\":\"accepted\"}\n",
			 k->id);
		return bl_reply(conn, MHD_HTTP_OK, out);
	}
	return bl_reply(conn, MHD_HTTP_UNAUTHORIZED,
			"{\"error\":{\"code\":\"unauthorized\",\"message\":\"bad signature\"}}\n");
}

/* libmicrohttpd calls this once with the headers, then with each piece of
 * the body, then once more with none: the reply goes out on that last call. */
static enum MHD_Result bl_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_size, void **req_cls)
{
	struct bl_req *q = *req_cls;

	(void)cls;
	(void)version;
	if (!q) {
		if (!(q = calloc(1, sizeof(*q))))
			return MHD_NO;
		fl_buf_init(&q->body, MAX_BODY);
		*req_cls = q;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		/* Over the limit the rest is read and dropped, then 413. */
		if (!q->too_big && fl_buf_put(&q->body, upload, *upload_size) < 0)
			q->too_big = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/api/v1/device/checkin") == 0)
		return bl_checkin(conn, method, url, q);
	if (strcmp(url, "/api/v1/health") == 0)
		return bl_reply(conn, MHD_HTTP_OK, "{\"status\":\"ok\"}\n");
	return bl_reply(conn, MHD_HTTP_NOT_FOUND, "{\"error\":{\"code\":\"not_found\"}}\n");
}

static void bl_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct bl_req *q = *req_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (q) {
		fl_buf_release(&q->body);
		free(q);
		*req_cls = NULL;
	}
}

/* Small replies go out at once rather than waiting on Nagle's algorithm:
 * set here explicitly, as civetweb's tcp_nodelay did, rather than relying on
 * libmicrohttpd's own corking choices. libmicrohttpd 0.9.75 keeps no TLS
 * session state of its own, so a device that reconnects would pay a full
 * handshake; the session gets tickets here (its handshake has not started
 * yet), which TLS 1.3 and 1.2 clients resume with. */
static void bl_connected(void *cls, struct MHD_Connection *conn, void **sock_cls,
			 enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo *ci;
	int one = 1;

	(void)cls;
	(void)sock_cls;
	if (toe != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	if ((ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD)))
		(void)setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION)) &&
	    ci->tls_session)
		(void)gnutls_session_ticket_enable_server((gnutls_session_t)ci->tls_session,
							  &ticket_key);
}

/* The raw path is what the device signed: no percent-decoding (civetweb's
 * decode_url=no before). */
static size_t bl_unescape(void *cls, struct MHD_Connection *conn, char *uri)
{
	(void)cls;
	(void)conn;
	return strlen(uri);
}

static double bl_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* The cost of the one verification every signed check-in needs. */
static int bl_verify_bench(long n, struct fl_err *err)
{
	static const char body[] = "{\"inventory\":{},\"desired_version\":0}";
	uint8_t pk[FL_ED25519_PK_LEN], sk[FL_ED25519_SK_LEN], sig[FL_ED25519_SIG_LEN];
	struct fl_buf si = FL_BUF_INIT, sv = FL_BUF_INIT, base = FL_BUF_INIT;
	char keyid[FL_KEYID_LEN + 1], digest[FL_DIGEST_LEN];
	struct fl_sig_params p;
	double t0, raw_us, full_us;
	volatile int bad = 0;
	int rc;

	fl_ed25519_keypair(pk, sk);
	fl_keyid(keyid, pk);
	fl_httpsig_digest(digest, body, sizeof(body) - 1);
	if ((rc = fl_httpsig_sign(&si, &sv, "POST", "/api/v1/device/checkin", "", digest, keyid, sk,
				  fl_now(), FL_SIG_DEFAULT_TTL)) < 0) {
		fl_err_set(err, rc, "cannot sign");
		goto cleanup;
	}
	if ((rc = fl_httpsig_parse(&p, sig, si.ptr, sv.ptr, err)) < 0)
		goto cleanup;
	if ((rc = fl_httpsig_base(&base, "POST", "/api/v1/device/checkin", "", digest, &p)) < 0) {
		fl_err_set(err, rc, "cannot build the signature base");
		goto cleanup;
	}
	t0 = bl_cpu_us();
	for (long i = 0; i < n; i++)
		bad |= fl_ed25519_verify(sig, base.ptr, base.len, pk) != 0;
	raw_us = (bl_cpu_us() - t0) / (double)n;
	t0 = bl_cpu_us();
	for (long i = 0; i < n; i++)
		bad |= fl_httpsig_verify(&p, sig, pk, "POST", "/api/v1/device/checkin", "", digest,
					 body, sizeof(body) - 1, fl_now(), err) != 0;
	full_us = (bl_cpu_us() - t0) / (double)n;
	if (bad || fl_httpsig_verify(&p, sig, pk, "POST", "/api/v1/device/checkin", "", digest,
				     body, sizeof(body) - 1, fl_now(), err) != 0) {
		rc = fl_err_set(err, FL_ERROR, "a benchmarked verification failed");
		goto cleanup;
	}
	printf("{\"iterations\":%ld,\"ed25519_verify_us\":%.2f,\"httpsig_verify_us\":%.2f}\n", n,
	       raw_us, full_us);
	rc = 0;
cleanup:
	memset(sk, 0, sizeof(sk));
	fl_buf_release(&base);
	fl_buf_release(&si);
	fl_buf_release(&sv);
	return rc;
}

static int bl_parse_listen(struct sockaddr_in *sa, const char *listen)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	long port;

	if (!colon || (size_t)(colon - listen) >= sizeof(host))
		return FL_EINVAL;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	port = atol(colon + 1);
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return FL_EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"listen", required_argument, NULL, 'l'},
	    {"count", required_argument, NULL, 'n'},
	    {"first", required_argument, NULL, 'f'},
	    {"seed", required_argument, NULL, 's'},
	    {"id-prefix", required_argument, NULL, 'p'},
	    {"threads", required_argument, NULL, 't'},
	    {"keepalive-ms", required_argument, NULL, 'k'},
	    {"max-connections", required_argument, NULL, 'm'},
	    {"verify-bench", required_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *data = NULL, *listen = "127.0.0.1:8444", *seed = "fairlead", *prefix = "sim-";
	long count = 0, first = 0, threads = sysconf(_SC_NPROCESSORS_ONLN), keepalive = 500;
	long maxconn = 10000, verify_n = 0;
	char path[1200];
	struct fl_buf pem = FL_BUF_INIT;
	struct fl_err err = {0, ""};
	struct bl_key *all = NULL;
	struct sockaddr_in sa;
	struct MHD_Daemon *d;
	sigset_t set;
	int c, sig;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'l': listen = optarg; break;
		case 'n': count = atol(optarg); break;
		case 'f': first = atol(optarg); break;
		case 's': seed = optarg; break;
		case 'p': prefix = optarg; break;
		case 't': threads = atol(optarg); break;
		case 'k': keepalive = atol(optarg); break;
		case 'm': maxconn = atol(optarg); break;
		case 'v': verify_n = atol(optarg); break;
		case 'h':
			printf(
			    "usage: fairlead-bench-baseline --data DIR [--listen ADDR:PORT] "
			    "--count N [--seed S] [--first I] [--threads N] [--keepalive-ms MS]\n"
			    "       [--max-connections N]\n"
			    "       fairlead-bench-baseline --verify-bench N\n");
			return 0;
		default: return 2;
		}
	}
	if (verify_n > 0) {
		if (fl_crypto_init() < 0 || bl_verify_bench(verify_n, &err) < 0) {
			fprintf(stderr, "fairlead-bench-baseline: verify bench: %s\n", err.msg);
			return 1;
		}
		return 0;
	}
	if (!data || count <= 0 || threads < 1 || threads > 512 || maxconn < 1) {
		fprintf(stderr, "fairlead-bench-baseline: --data DIR and --count N are required\n");
		return 2;
	}
	if (bl_parse_listen(&sa, listen) < 0) {
		fprintf(stderr, "fairlead-bench-baseline: bad --listen %s\n", listen);
		return 2;
	}
	if (fl_crypto_init() < 0)
		return 1;
	fl_map_init(&keys);
	if (!(all = calloc((size_t)count, sizeof(*all))))
		return 1;
	for (long i = 0; i < count; i++) {
		char keyid[FL_KEYID_LEN + 1];

		bl_derive(all[i].pk, seed, first + i);
		snprintf(all[i].id, sizeof(all[i].id), "%s%07ld", prefix, first + i);
		fl_keyid(keyid, all[i].pk);
		if (fl_map_put(&keys, keyid, &all[i], NULL) < 0)
			return 1;
	}
	/* server.pem holds the certificate and its key: GnuTLS finds each
	 * block by its PEM header. */
	snprintf(path, sizeof(path), "%s/tls/server.pem", data);
	if (fl_fs_read(&pem, path, &err) < 0) {
		fprintf(stderr, "fairlead-bench-baseline: %s\n", err.msg);
		return 1;
	}

	if (gnutls_session_ticket_key_generate(&ticket_key) < 0) {
		fprintf(stderr, "fairlead-bench-baseline: cannot make a session ticket key\n");
		fl_buf_release(&pem);
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* libmicrohttpd has one idle timeout, in whole seconds: the keep-alive
	 * time rounded up. */
	d = MHD_start_daemon(
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    bl_access, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads, MHD_OPTION_HTTPS_MEM_CERT,
	    fl_buf_cstr(&pem), MHD_OPTION_HTTPS_MEM_KEY, fl_buf_cstr(&pem),
	    MHD_OPTION_HTTPS_PRIORITIES, CP_TLS_PRIORITIES, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)((keepalive + 999) / 1000), MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)maxconn, MHD_OPTION_NOTIFY_COMPLETED, bl_completed, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, bl_connected, NULL, MHD_OPTION_UNESCAPE_CALLBACK,
	    bl_unescape, NULL, MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "fairlead-bench-baseline: cannot serve TLS on %s\n", listen);
		fl_buf_release(&pem);
		return 1;
	}
	fprintf(stderr, "fairlead-bench-baseline: serving https://%s (%ld keys, %ld threads)\n",
		listen, count, threads);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	gnutls_memset(ticket_key.data, 0, ticket_key.size);
	gnutls_free(ticket_key.data);
	fl_buf_release(&pem);
	fl_map_release(&keys);
	free(all);
	return 0;
}

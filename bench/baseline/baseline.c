/*
 * fairlead-bench-baseline - the cost floor of Fairlead's check-in.
 *
 *   fairlead-bench-baseline --data DIR --listen 127.0.0.1:PORT --count N
 *                           [--seed S] [--first I] [--threads 16]
 *                           [--keepalive-ms 500]
 *
 * An HTTPS server that does only what no design of a signed check-in can
 * avoid: civetweb with fairleadd's TLS settings (its certificate from
 * DIR/tls/server.pem, TLS 1.2+, the same thread count and keep-alive, the
 * libssl shim of DESIGN.md), reading the request and its body, parsing the
 * RFC 9421 signature headers and verifying one Ed25519 signature with the
 * time window and body digest (fl_httpsig_verify), then answering a small
 * JSON reply. No registry, no replay cache, no write-behind, no rate limits:
 * fairleadd's rate divided by this one is the share of the floor it reaches.
 *
 * The public keys are those of fairlead-sim's preloaded devices (the same
 * seed and indices), so the simulator drives both servers identically.
 * Like fairleadd's http/server.c, this file is the only civetweb user of its
 * binary.
 */
#include <civetweb.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fairlead/buf.h"
#include "fairlead/crypto.h"
#include "fairlead/httpsig.h"
#include "fairlead/map.h"
#include "fairlead/util.h"

#define MAX_BODY (1024 * 1024)

struct bl_key {
	char id[80];
	uint8_t pk[FL_ED25519_PK_LEN];
};

static struct fl_map keys; /* keyid -> struct bl_key; read-only once serving */

static void bl_derive(uint8_t pk[FL_ED25519_PK_LEN], const char *seed, long index)
{
	char text[256];
	uint8_t d[FL_SHA256_LEN], sk[FL_ED25519_SK_LEN];
	int n = snprintf(text, sizeof(text), "fairlead-sim-v1\n%s\n%ld", seed, index);

	fl_sha256(d, text, (size_t)n);
	fl_ed25519_seed_keypair(pk, sk, d);
	memset(sk, 0, sizeof(sk));
}

static void reply(struct mg_connection *conn, int status, const char *body)
{
	mg_printf(conn,
		  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		  "Cache-Control: no-store\r\n\r\n%s",
		  status, mg_get_response_code_text(conn, status), strlen(body), body);
}

static int checkin(struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct fl_buf body = FL_BUF_INIT;
	struct fl_sig_params p;
	struct fl_err err = {0, ""};
	uint8_t sig[FL_ED25519_SIG_LEN];
	const struct bl_key *k;
	char out[256], chunk[16384];
	int n, status = 401;

	(void)cbdata;
	fl_buf_init(&body, MAX_BODY);
	while ((n = mg_read(conn, chunk, sizeof(chunk))) > 0)
		if (fl_buf_put(&body, chunk, (size_t)n) < 0) {
			reply(conn, 413, "{\"error\":{\"code\":\"payload_too_large\"}}\n");
			fl_buf_release(&body);
			return 413;
		}
	if (strcmp(ri->request_method, "POST") == 0 &&
	    fl_httpsig_parse(&p, sig, mg_get_header(conn, "Signature-Input"),
			     mg_get_header(conn, "Signature"), &err) == 0 &&
	    (k = fl_map_get(&keys, p.keyid)) != NULL &&
	    fl_httpsig_verify(&p, sig, k->pk, ri->request_method,
			      ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri,
			      ri->query_string ? ri->query_string : "",
			      mg_get_header(conn, "Content-Digest"), body.ptr, body.len, fl_now(),
			      &err) == 0) {
		snprintf(out, sizeof(out),
			 "{\"commands\":[],\"desired_version\":0,\"device_id\":\"%s\","
			 "\"poll_interval\":30,\"state\":\"accepted\"}\n",
			 k->id);
		reply(conn, 200, out);
		status = 200;
	} else {
		reply(conn, 401,
		      "{\"error\":{\"code\":\"unauthorized\",\"message\":\"bad "
		      "signature\"}}\n");
	}
	fl_buf_release(&body);
	return status;
}

static int health(struct mg_connection *conn, void *cbdata)
{
	(void)cbdata;
	reply(conn, 200, "{\"status\":\"ok\"}\n");
	return 200;
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
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *data = NULL, *listen = "127.0.0.1:8444", *seed = "fairlead", *prefix = "sim-";
	long count = 0, first = 0, threads = 16, keepalive = 500;
	char cert[1200], ports[300], th[16], ka[16];
	struct bl_key *all = NULL;
	struct mg_callbacks cb;
	struct mg_context *ctx;
	const char *mopts[32];
	sigset_t set;
	int c, sig, m = 0;

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
		case 'h':
			printf("usage: fairlead-bench-baseline --data DIR [--listen ADDR:PORT] "
			       "--count N "
			       "[--seed S] [--first I] [--threads N] [--keepalive-ms MS]\n");
			return 0;
		default: return 2;
		}
	}
	if (!data || count <= 0 || threads < 1 || threads > 512) {
		fprintf(stderr, "fairlead-bench-baseline: --data DIR and --count N are required\n");
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
	if (!(mg_init_library(MG_FEATURES_TLS) & MG_FEATURES_TLS)) {
		fprintf(stderr, "fairlead-bench-baseline: civetweb could not load OpenSSL\n");
		return 1;
	}
	snprintf(cert, sizeof(cert), "%s/tls/server.pem", data);
	snprintf(ports, sizeof(ports), "%ss", listen);
	snprintf(th, sizeof(th), "%ld", threads);
	snprintf(ka, sizeof(ka), "%ld", keepalive);
	/* The TLS and connection options of controlplane/http/server.c. */
	mopts[m++] = "listening_ports";
	mopts[m++] = ports;
	mopts[m++] = "ssl_certificate";
	mopts[m++] = cert;
	mopts[m++] = "ssl_protocol_version";
	mopts[m++] = "4";
	mopts[m++] = "num_threads";
	mopts[m++] = th;
	mopts[m++] = "request_timeout_ms";
	mopts[m++] = "30000";
	mopts[m++] = "max_request_size";
	mopts[m++] = "8192";
	mopts[m++] = "decode_url";
	mopts[m++] = "no";
	mopts[m++] = "enable_keep_alive";
	mopts[m++] = "yes";
	mopts[m++] = "tcp_nodelay";
	mopts[m++] = "1";
	mopts[m++] = "keep_alive_timeout_ms";
	mopts[m++] = ka;
	mopts[m] = NULL;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	memset(&cb, 0, sizeof(cb));
	if (!(ctx = mg_start(&cb, NULL, mopts))) {
		fprintf(stderr, "fairlead-bench-baseline: cannot listen on %s\n", listen);
		return 1;
	}
	mg_set_request_handler(ctx, "/api/v1/device/checkin", checkin, NULL);
	mg_set_request_handler(ctx, "/api/v1/health", health, NULL);
	fprintf(stderr, "fairlead-bench-baseline: serving https://%s (%ld keys)\n", listen, count);
	sigwait(&set, &sig);
	mg_stop(ctx);
	mg_exit_library();
	fl_map_release(&keys);
	free(all);
	return 0;
}

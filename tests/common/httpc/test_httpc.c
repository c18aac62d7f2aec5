/*
 * test_httpc.c - the file transfers of the HTTPS client against a real
 * civetweb TLS server in this process: a streamed upload arrives whole and is
 * hashed on the server, a download resumes with Range, never takes more than
 * asked, and notices a server that ignores Range.
 */
#include <civetweb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fairlead/crypto.h"
#include "fairlead/httpc.h"
#include "fl_test.h"
#include "pki/pki.h"

static char blob_path[512];
static char upload_hash[65];
static long long upload_len;

/* PUT /upload: hashes what arrives and answers {"sha256","length"}. */
static int upload_handler(struct mg_connection *conn, void *cb)
{
	struct fl_sha256_ctx ctx;
	uint8_t d[FL_SHA256_LEN];
	char buf[8192], body[160];
	int n;

	upload_len = 0;
	fl_sha256_begin(&ctx);
	while ((n = mg_read(conn, buf, sizeof(buf))) > 0) {
		fl_sha256_update(&ctx, buf, (size_t)n);
		upload_len += n;
	}
	fl_sha256_end(&ctx, d);
	fl_hex_encode(upload_hash, d, sizeof(d));
	n = snprintf(body, sizeof(body), "{\"sha256\":\"%s\",\"length\":%lld}", upload_hash,
		     upload_len);
	mg_printf(conn,
		  "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
		  "Content-Length: %d\r\n\r\n%s",
		  n, body);
	return 201;
}

/* GET /blob: civetweb's file sender, with Range and ETag. */
static int blob_handler(struct mg_connection *conn, void *cb)
{
	mg_send_file(conn, blob_path);
	return 200;
}

/* GET /norange: the whole file with 200, whatever Range says. */
static int norange_handler(struct mg_connection *conn, void *cb)
{
	FILE *f = fopen(blob_path, "rb");
	char buf[8192];
	size_t n;
	long len;

	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	mg_printf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\n\r\n", len);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		mg_write(conn, buf, n);
	fclose(f);
	return 200;
}

struct server {
	struct mg_context *ctx;
	char url[64];
	char ca[600];
};

static void server_start(struct server *s, const char *dir)
{
	char tls[400], pem[600];
	struct mg_server_port ports[2];
	struct mg_callbacks cb;
	struct fl_err err = {0};

	snprintf(tls, sizeof(tls), "%s/tls", dir);
	cr_assert(eq(int, cp_pki_init(tls, &err), 0), "%s", err.msg);
	snprintf(pem, sizeof(pem), "%s/server.pem", tls);
	snprintf(s->ca, sizeof(s->ca), "%s/ca.pem", tls);
	{
		unsigned got = mg_init_library(MG_FEATURES_TLS);

		/* criterion's new cr_assert misreads a bare '&' expression */
		cr_assert(ne(u32, got & MG_FEATURES_TLS, 0), "mg_init_library: %u", got);
	}
	{
		const char *opts[] = {"listening_ports",
				      "127.0.0.1:0s",
				      "ssl_certificate",
				      pem,
				      "num_threads",
				      "2",
				      NULL};

		memset(&cb, 0, sizeof(cb));
		s->ctx = mg_start(&cb, NULL, opts);
	}
	cr_assert(ne(ptr, s->ctx, NULL));
	mg_set_request_handler(s->ctx, "/upload", upload_handler, NULL);
	mg_set_request_handler(s->ctx, "/blob", blob_handler, NULL);
	mg_set_request_handler(s->ctx, "/norange", norange_handler, NULL);
	cr_assert(eq(int, mg_get_server_ports(s->ctx, 2, ports), 1));
	snprintf(s->url, sizeof(s->url), "https://127.0.0.1:%d", ports[0].port);
}

static void server_stop(struct server *s)
{
	mg_stop(s->ctx);
	mg_exit_library();
}

/* A file of n pseudo-random bytes; its SHA-256 hex in hash. */
static void make_blob(const char *path, size_t n, char hash[65])
{
	FILE *f = fopen(path, "wb");
	struct fl_sha256_ctx ctx;
	uint8_t d[FL_SHA256_LEN];
	uint32_t x = 2463534242u;

	cr_assert(ne(ptr, f, NULL));
	fl_sha256_begin(&ctx);
	for (size_t i = 0; i < n; i++) {
		unsigned char c;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		c = (unsigned char)x;
		fputc(c, f);
		fl_sha256_update(&ctx, &c, 1);
	}
	fclose(f);
	fl_sha256_end(&ctx, d);
	fl_hex_encode(hash, d, sizeof(d));
}

struct sink {
	struct fl_sha256_ctx ctx;
	int64_t got;
};

static int sink_cb(void *ctx, const void *data, size_t len)
{
	struct sink *s = ctx;

	fl_sha256_update(&s->ctx, data, len);
	s->got += (int64_t)len;
	return 0;
}

static int progress_calls;
static int64_t progress_last;

static int progress_cb(void *ctx, int64_t done, int64_t total)
{
	progress_calls++;
	progress_last = done;
	cr_assert(eq(i64, total, 3000000));
	return 0;
}

Test(httpc, files)
{
	const char *dir = fl_test_tmpdir();
	struct server srv;
	struct fl_httpc *c = NULL;
	struct fl_httpc_opts o = {0};
	struct fl_http_resp r;
	struct fl_err err = {0};
	struct sink s;
	char hash[65], got[65];
	uint8_t d[FL_SHA256_LEN];
	long status;
	const int64_t n = 3000000, cut = 1234567;

	cr_assert(eq(int, fl_crypto_init(), 0));
	snprintf(blob_path, sizeof(blob_path), "%s/blob.bin", dir);
	make_blob(blob_path, (size_t)n, hash);
	server_start(&srv, dir);
	o.base_url = srv.url;
	o.ca_file = srv.ca;
	cr_assert(eq(int, fl_httpc_new(&c, &o, &err), 0), "%s", err.msg);

	/* upload: streamed, whole, with progress */
	cr_assert(
	    eq(int, fl_httpc_send_file(&r, c, "PUT", "/upload", blob_path, progress_cb, NULL, &err),
	       0),
	    "%s", err.msg);
	cr_assert(eq(long, r.status, 201));
	cr_assert(eq(i64, upload_len, n));
	cr_assert(eq(str, upload_hash, hash));
	cr_assert(gt(int, progress_calls, 1));
	cr_assert(eq(i64, progress_last, n));
	fl_http_resp_release(&r);
	cr_assert(
	    eq(int, fl_httpc_send_file(&r, c, "PUT", "/upload", "/nonexistent/x", NULL, NULL, &err),
	       FL_ENOTFOUND));

	/* whole download */
	fl_sha256_begin(&s.ctx);
	s.got = 0;
	cr_assert(eq(int, fl_httpc_fetch(&status, c, "/blob", 0, n, sink_cb, &s, 1, 30, &err), 0),
		  "%s", err.msg);
	cr_assert(eq(long, status, 200));
	fl_sha256_end(&s.ctx, d);
	fl_hex_encode(got, d, sizeof(d));
	cr_assert(eq(i64, s.got, n));
	cr_assert(eq(str, got, hash));

	/* resume: the first part by a capped fetch (stops past the cap), the rest
	 * by Range; together they hash right */
	fl_sha256_begin(&s.ctx);
	s.got = 0;
	cr_assert(eq(int, fl_httpc_fetch(&status, c, "/blob", 0, cut, sink_cb, &s, 1, 30, &err),
		     FL_ETOOBIG));
	cr_assert(le(i64, s.got, cut));
	{
		/* keep exactly the first s.got bytes, continue from there */
		int64_t have = s.got;

		cr_assert(eq(int,
			     fl_httpc_fetch(&status, c, "/blob", have, n - have, sink_cb, &s, 1, 30,
					    &err),
			     0),
			  "%s", err.msg);
		cr_assert(eq(long, status, 206));
	}
	fl_sha256_end(&s.ctx, d);
	fl_hex_encode(got, d, sizeof(d));
	cr_assert(eq(i64, s.got, n));
	cr_assert(eq(str, got, hash));

	/* a server that ignores Range is noticed before a byte is taken */
	fl_sha256_begin(&s.ctx);
	s.got = 0;
	cr_assert(eq(int, fl_httpc_fetch(&status, c, "/norange", 100, n, sink_cb, &s, 1, 30, &err),
		     FL_ECONFLICT));
	cr_assert(eq(i64, s.got, 0));

	/* an error status is an error, not data */
	s.got = 0;
	cr_assert(fl_httpc_fetch(&status, c, "/missing", 0, n, sink_cb, &s, 1, 30, &err) < 0);
	cr_assert(eq(long, status, 404));
	cr_assert(eq(i64, s.got, 0));

	fl_httpc_free(c);
	server_stop(&srv);
}

/*
 * test_httpc.c - the file transfers of the HTTPS client against a real
 * libmicrohttpd TLS server in this process (the server's TLS policy and
 * Range parser): a streamed upload arrives whole and is
 * hashed on the server, a download resumes with Range, never takes more than
 * asked, and notices a server that ignores Range.
 */
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fairlead/buf.h"
#include "fairlead/crypto.h"
#include "fairlead/fs.h"
#include "fairlead/httpc.h"
#include "fl_test.h"
#include "http/parse.h"
#include "http/tls.h"
#include "pki/pki.h"

static char blob_path[512];
static char upload_hash[65];
static long long upload_len;

struct upload {
	struct fl_sha256_ctx ctx;
	long long len;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
	enum MHD_Result rc = MHD_queue_response(c, status, r);

	MHD_destroy_response(r);
	return rc;
}

/* PUT /upload: hashes what arrives and answers {"sha256","length"}.
 * GET /blob: the file with Range (the server's own Range parser).
 * GET /norange: the whole file with 200, whatever Range says. */
static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *data,
			       size_t *data_size, void **con_cls)
{
	struct MHD_Response *r;
	struct stat st;
	int64_t first = 0, last;
	char hdr[96];
	int fd, rr;

	(void)cls, (void)version;
	if (strcmp(url, "/upload") == 0) {
		struct upload *u = *con_cls;
		uint8_t d[FL_SHA256_LEN];
		char body[160];
		int n;

		if (!u) {
			u = calloc(1, sizeof(*u));
			fl_sha256_begin(&u->ctx);
			*con_cls = u;
			return MHD_YES;
		}
		if (*data_size) {
			fl_sha256_update(&u->ctx, data, *data_size);
			u->len += (long long)*data_size;
			*data_size = 0;
			return MHD_YES;
		}
		fl_sha256_end(&u->ctx, d);
		fl_hex_encode(upload_hash, d, sizeof(d));
		upload_len = u->len;
		free(u);
		*con_cls = NULL;
		n = snprintf(body, sizeof(body), "{\"sha256\":\"%s\",\"length\":%lld}", upload_hash,
			     upload_len);
		r = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
		MHD_add_response_header(r, "Content-Type", "application/json");
		return reply(c, 201, r);
	}
	if (strcmp(method, "GET") != 0 ||
	    (strcmp(url, "/blob") != 0 && strcmp(url, "/norange") != 0) ||
	    (fd = open(blob_path, O_RDONLY)) < 0 || fstat(fd, &st) < 0)
		return reply(c, 404,
			     MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT));
	last = (int64_t)st.st_size - 1;
	rr = strcmp(url, "/blob") == 0
		 ? cp_http_range_parse(&first, &last,
				       MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range"),
				       (int64_t)st.st_size)
		 : 0;
	if (rr < 0) {
		close(fd);
		return reply(c, 416,
			     MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT));
	}
	r = MHD_create_response_from_fd_at_offset64((uint64_t)(last - first + 1), fd,
						    (uint64_t)first);
	if (rr > 0) {
		snprintf(hdr, sizeof(hdr), "bytes %lld-%lld/%lld", (long long)first,
			 (long long)last, (long long)st.st_size);
		MHD_add_response_header(r, "Content-Range", hdr);
	}
	return reply(c, rr > 0 ? 206 : 200, r);
}

struct server {
	struct MHD_Daemon *d;
	char *pem;
	char url[64];
	char ca[600];
};

static void server_start(struct server *s, const char *dir)
{
	char tls[400], pem[600];
	const union MHD_DaemonInfo *di;
	struct fl_err err = {0};
	struct fl_buf b = FL_BUF_INIT;

	snprintf(tls, sizeof(tls), "%s/tls", dir);
	cr_assert(eq(int, cp_pki_init(tls, &err), 0), "%s", err.msg);
	snprintf(pem, sizeof(pem), "%s/server.pem", tls);
	snprintf(s->ca, sizeof(s->ca), "%s/ca.pem", tls);
	cr_assert(eq(int, fl_fs_read(&b, pem, &err), 0), "%s", err.msg);
	cr_assert(eq(int, fl_buf_put(&b, "", 1), 0));
	s->pem = fl_buf_detach(&b);
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS, 0, NULL, NULL,
				handler, NULL, MHD_OPTION_HTTPS_MEM_CERT, s->pem,
				MHD_OPTION_HTTPS_MEM_KEY, s->pem, MHD_OPTION_HTTPS_PRIORITIES,
				CP_TLS_PRIORITIES, MHD_OPTION_END);
	cr_assert(ne(ptr, s->d, NULL));
	di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(s->url, sizeof(s->url), "https://127.0.0.1:%d", di->port);
}

static void server_stop(struct server *s)
{
	MHD_stop_daemon(s->d);
	free(s->pem);
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

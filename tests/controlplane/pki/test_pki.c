/*
 * test_pki.c - the control plane CA, and real TLS through libmicrohttpd
 * (GnuTLS, the server's priority string) + curl.
 *
 * The TLS test proves that what init writes is what the server can load,
 * and that a client pinning the CA accepts it, by name and by address.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#include <curl/curl.h>

#include "http/tls.h"
#include "pki/pki.h"

static char tmp_root[256];

static void path_in(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	cr_assert(n > 0 && (size_t)n < size, "path too long");
}

static void remove_tree(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char sub[512];

	if (lstat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	if (d) {
		while ((de = readdir(d)) != NULL) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			remove_tree(sub);
		}
		closedir(d);
	}
	rmdir(path);
}

static void setup(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmp_root, sizeof(tmp_root), "%s/fl_test_pki.XXXXXX",
		 base && base[0] ? base : "/tmp");
	cr_assert_not_null(mkdtemp(tmp_root), "mkdtemp");
}

static void teardown(void)
{
	remove_tree(tmp_root);
}

TestSuite(pki, .init = setup, .fini = teardown, .timeout = 60);

/* A fresh tls dir under the test's temp root. */
static void tls_dir(char *out, size_t size, const char *name)
{
	struct fl_err err = {0};
	int rc;

	path_in(out, size, tmp_root, name);
	rc = cp_pki_init(out, &err);
	cr_assert_eq(rc, 0, "cp_pki_init(%s): %s", out, err.msg);
}

static mode_t file_mode(const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	path_in(path, sizeof(path), dir, name);
	cr_assert_eq(lstat(path, &st), 0, "%s missing", path);
	cr_assert(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode), "%s type", path);
	return st.st_mode & 07777;
}

static void read_file(char *out, size_t size, const char *dir, const char *name)
{
	char path[512];
	FILE *f;
	size_t n;

	path_in(path, sizeof(path), dir, name);
	f = fopen(path, "r");
	cr_assert_not_null(f, "open %s", path);
	n = fread(out, 1, size - 1, f);
	fclose(f);
	out[n] = '\0';
}

static void copy_file(const char *from_dir, const char *to_dir, const char *name)
{
	char buf[8192];
	char path[512];
	FILE *f;

	read_file(buf, sizeof(buf), from_dir, name);
	path_in(path, sizeof(path), to_dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f, "open %s", path);
	cr_assert_eq(fputs(buf, f) >= 0, 1);
	cr_assert_eq(fclose(f), 0);
}

Test(pki, init_creates_files_with_modes)
{
	char dir[512];
	char pem[8192];
	char *cert, *key;

	/* A strict umask must not change the modes the contract promises. */
	umask(077);
	tls_dir(dir, sizeof(dir), "tls");
	cr_expect_eq(file_mode(tmp_root, "tls"), 0700);
	cr_expect_eq(file_mode(dir, CP_PKI_CA_CERT), 0644);
	cr_expect_eq(file_mode(dir, CP_PKI_CA_KEY), 0600);
	cr_expect_eq(file_mode(dir, CP_PKI_SERVER_PEM), 0600);
	cr_expect_eq(file_mode(dir, CP_PKI_SERVER_KEY), 0600);

	/* The HTTP layer loads the certificate and then the key from one file. */
	read_file(pem, sizeof(pem), dir, CP_PKI_SERVER_PEM);
	cert = strstr(pem, "-----BEGIN CERTIFICATE-----");
	key = strstr(pem, "-----BEGIN PRIVATE KEY-----");
	cr_assert(cert && key && cert < key, "server.pem layout");
	read_file(pem, sizeof(pem), dir, CP_PKI_CA_KEY);
	cr_expect_not_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));

	/* No temp files left behind. */
	cr_expect_neq(access(dir, F_OK), -1);
	{
		char tmp[512];

		path_in(tmp, sizeof(tmp), dir, ".ca.pem.tmp");
		cr_expect_eq(access(tmp, F_OK), -1);
	}
}

Test(pki, init_twice_is_eexists)
{
	struct fl_err err = {0};
	char dir[512];

	tls_dir(dir, sizeof(dir), "tls");
	cr_assert_eq(cp_pki_init(dir, &err), FL_EEXISTS);
	cr_assert_eq(err.code, FL_EEXISTS);
	cr_assert_neq(err.msg[0], '\0');
}

Test(pki, check_fresh_dir)
{
	struct fl_err err = {0};
	char dir[512];

	tls_dir(dir, sizeof(dir), "tls");
	cr_assert_eq(cp_pki_check(dir, &err), 0, "%s", err.msg);
}

Test(pki, check_fails_on_other_ca)
{
	struct fl_err err = {0};
	char a[512], b[512];

	tls_dir(a, sizeof(a), "a");
	tls_dir(b, sizeof(b), "b");
	copy_file(b, a, CP_PKI_SERVER_PEM);
	cr_assert_eq(cp_pki_check(a, &err), FL_ERROR);
	cr_assert_eq(err.code, FL_ERROR);
	cr_assert_not_null(strstr(err.msg, "server.pem"), "msg: %s", err.msg);
	cr_log_info("other CA: %s", err.msg);
}

Test(pki, check_missing_dir_is_enotfound)
{
	struct fl_err err = {0};
	char dir[512];

	path_in(dir, sizeof(dir), tmp_root, "nope");
	cr_assert_eq(cp_pki_check(dir, &err), FL_ENOTFOUND, "%s", err.msg);
}

/* ---- real TLS: the server's library and policy, curl client ---- */

static enum MHD_Result hello_handler(void *cls, struct MHD_Connection *c, const char *url,
				     const char *method, const char *version, const char *data,
				     size_t *data_size, void **ctx)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	(void)cls, (void)url, (void)method, (void)version, (void)data, (void)data_size, (void)ctx;
	r = MHD_create_response_from_buffer(5, "hello", MHD_RESPMEM_PERSISTENT);
	rc = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return rc;
}

struct body {
	char buf[256];
	size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct body *b = ud;
	size_t n = size * nmemb;

	if (n > sizeof(b->buf) - 1 - b->len)
		return 0; /* aborts the transfer: far more than "hello" */
	memcpy(b->buf + b->len, ptr, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return n;
}

/* GETs url trusting only cafile (NULL: plain HTTP). resolve, when not
 * NULL, pins a host name to 127.0.0.1 so "localhost" never tries ::1. */
static CURLcode fetch(long *out_status, struct body *out_body, const char *url, const char *cafile,
		      const char *resolve)
{
	struct curl_slist *res = NULL;
	CURL *c = curl_easy_init();
	CURLcode rc;

	*out_status = 0;
	memset(out_body, 0, sizeof(*out_body));
	cr_assert_not_null(c);
	if (resolve) {
		res = curl_slist_append(NULL, resolve);
		curl_easy_setopt(c, CURLOPT_RESOLVE, res);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out_body);
	if (cafile) {
		/* Pin: our CA only, not the system store. */
		curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, out_status);
	curl_easy_cleanup(c);
	curl_slist_free_all(res);
	return rc;
}

Test(pki, server_pem_serves_real_tls)
{
	char dir[512], other[512], pem[512], ca[512], other_ca[512];
	char url[128], resolve[64], pemdata[8192];
	const union MHD_DaemonInfo *di;
	struct MHD_Daemon *d;
	struct body body;
	long status;
	CURLcode rc;
	int port;
	FILE *f;
	size_t n;

	tls_dir(dir, sizeof(dir), "tls");
	tls_dir(other, sizeof(other), "other");
	path_in(pem, sizeof(pem), dir, CP_PKI_SERVER_PEM);
	path_in(ca, sizeof(ca), dir, CP_PKI_CA_CERT);
	path_in(other_ca, sizeof(other_ca), other, CP_PKI_CA_CERT);

	/* server.pem loaded the way fairleadd loads it: one file for the
	 * certificate and the key, under the server's TLS policy. */
	f = fopen(pem, "r");
	cr_assert_not_null(f);
	n = fread(pemdata, 1, sizeof(pemdata) - 1, f);
	fclose(f);
	pemdata[n] = '\0';
	cr_assert_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG, 0,
			     NULL, NULL, hello_handler, NULL, MHD_OPTION_HTTPS_MEM_CERT, pemdata,
			     MHD_OPTION_HTTPS_MEM_KEY, pemdata, MHD_OPTION_HTTPS_PRIORITIES,
			     CP_TLS_PRIORITIES, MHD_OPTION_END);
	cr_assert_not_null(d, "MHD_start_daemon with server.pem failed");
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	cr_assert_not_null(di);
	port = di->port;
	cr_assert(port > 0 && port < 65536, "port %d", port);

	snprintf(url, sizeof(url), "https://127.0.0.1:%d/hello", port);
	rc = fetch(&status, &body, url, ca, NULL);
	cr_expect_eq(rc, CURLE_OK, "127.0.0.1: %s", curl_easy_strerror(rc));
	cr_expect_eq(status, 200);
	cr_expect_str_eq(body.buf, "hello");

	snprintf(url, sizeof(url), "https://localhost:%d/hello", port);
	snprintf(resolve, sizeof(resolve), "localhost:%d:127.0.0.1", port);
	rc = fetch(&status, &body, url, ca, resolve);
	cr_expect_eq(rc, CURLE_OK, "localhost: %s", curl_easy_strerror(rc));
	cr_expect_eq(status, 200);
	cr_expect_str_eq(body.buf, "hello");

	/* A client pinning another CA must refuse the server. */
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/hello", port);
	rc = fetch(&status, &body, url, other_ca, NULL);
	cr_expect_eq(rc, CURLE_PEER_FAILED_VERIFICATION, "other CA: %s", curl_easy_strerror(rc));
	cr_expect_neq(status, 200);

	/* Plain HTTP to the TLS port gets nothing useful. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", port);
	rc = fetch(&status, &body, url, NULL, NULL);
	cr_expect(rc != CURLE_OK || status != 200, "plain HTTP got 200");

	/* The server survived all of the above. */
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/hello", port);
	rc = fetch(&status, &body, url, ca, NULL);
	cr_expect_eq(rc, CURLE_OK, "after: %s", curl_easy_strerror(rc));
	cr_expect_eq(status, 200);

	MHD_stop_daemon(d);
	curl_global_cleanup();
}

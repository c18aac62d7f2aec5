#include "fairlead/httpc.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fairlead/httpsig.h"
#include "fairlead/json.h"
#include "fairlead/util.h"

struct fl_httpc_share {
	CURLSH *sh;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

struct fl_httpc {
	CURL *curl;
	struct fl_httpc_share *share;
	int own_share; /* made by fl_httpc_new, freed with the client */
	char *base_url;
	char *ca_file;
	char *token;
	long timeout_ms;
	long connect_timeout_ms;
	size_t max_body;
	int signing;
	char keyid[FL_KEYID_LEN + 1];
	uint8_t sk[FL_ED25519_SK_LEN];
	char errbuf[CURL_ERROR_SIZE];
	char *hname[FL_HTTPC_MAX_HEADERS], *hvalue[FL_HTTPC_MAX_HEADERS];
};

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ctx)
{
	struct fl_httpc_share *s = ctx;

	(void)h;
	(void)access; /* one mutex per kind of data: shared reads are short */
	pthread_mutex_lock(&s->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
	struct fl_httpc_share *s = ctx;

	(void)h;
	pthread_mutex_unlock(&s->locks[data]);
}

int fl_httpc_share_new(struct fl_httpc_share **out, struct fl_err *err)
{
	struct fl_httpc_share *s;
	int i;

	*out = NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return fl_err_set(err, FL_ERROR, "cannot initialise libcurl");
	s = calloc(1, sizeof(*s));
	if (!s || !(s->sh = curl_share_init())) {
		free(s);
		curl_global_cleanup();
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s->locks[i], NULL);
	/* TLS sessions, so that a new connection (the server closed the last
	 * one) resumes instead of paying a full handshake; names, so that it
	 * skips the resolver too. Connections are not shared: each client keeps
	 * its own, which keeps one client's requests in order. */
	if (curl_share_setopt(s->sh, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
	    curl_share_setopt(s->sh, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
	    curl_share_setopt(s->sh, CURLSHOPT_USERDATA, s) != CURLSHE_OK ||
	    curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
	    curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
		fl_httpc_share_free(s);
		return fl_err_set(err, FL_ERROR, "cannot set up a libcurl share");
	}
	*out = s;
	return 0;
}

void fl_httpc_share_free(struct fl_httpc_share *s)
{
	int i;

	if (!s)
		return;
	curl_share_cleanup(s->sh);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&s->locks[i]);
	free(s);
	curl_global_cleanup();
}

int fl_httpc_new(struct fl_httpc **out, const struct fl_httpc_opts *opts, struct fl_err *err)
{
	struct fl_httpc *c;

	*out = NULL;
	if (!opts->base_url || strncmp(opts->base_url, "https://", 8) != 0)
		return fl_err_set(err, FL_EINVAL, "server URL must start with https://");
	/* curl_global_init is refcounted and thread-unsafe only on first use; we call
	 * it here because every process makes its clients before starting threads. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return fl_err_set(err, FL_ERROR, "cannot initialise libcurl");
	c = calloc(1, sizeof(*c));
	if (!c)
		goto oom;
	c->curl = curl_easy_init();
	c->share = opts->share;
	if (!c->share) {
		int rc = fl_httpc_share_new(&c->share, err);

		if (rc < 0) {
			fl_httpc_free(c); /* balances our curl_global_init */
			return rc;
		}
		c->own_share = 1;
	}
	c->base_url = strdup(opts->base_url);
	c->ca_file = opts->ca_file ? strdup(opts->ca_file) : NULL;
	c->token = opts->token ? strdup(opts->token) : NULL;
	if (!c->curl || !c->base_url || (opts->ca_file && !c->ca_file) ||
	    (opts->token && !c->token))
		goto oom;
	/* Drop a trailing slash so that base + "/api/..." is well formed. */
	if (strlen(c->base_url) > 8 && c->base_url[strlen(c->base_url) - 1] == '/')
		c->base_url[strlen(c->base_url) - 1] = '\0';
	c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 30000;
	c->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 10000;
	c->max_body = opts->max_body ? opts->max_body : 16u << 20;
	*out = c;
	return 0;
oom:
	/* fl_httpc_free balances curl_global_init; without c, we do. */
	if (c)
		fl_httpc_free(c);
	else
		curl_global_cleanup();
	return fl_err_set(err, FL_ENOMEM, "out of memory");
}

void fl_httpc_free(struct fl_httpc *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	/* After the handle: libcurl refuses to free a share still in use. */
	if (c->own_share)
		fl_httpc_share_free(c->share);
	free(c->base_url);
	free(c->ca_file);
	if (c->token) {
		memset(c->token, 0, strlen(c->token));
		free(c->token);
	}
	memset(c->sk, 0, sizeof(c->sk));
	for (size_t i = 0; i < FL_HTTPC_MAX_HEADERS; i++) {
		free(c->hname[i]);
		free(c->hvalue[i]);
	}
	free(c);
	curl_global_cleanup();
}

void fl_httpc_set_signer(struct fl_httpc *c, const char *keyid, const uint8_t sk[FL_ED25519_SK_LEN])
{
	if (!keyid || !sk) {
		c->signing = 0;
		memset(c->sk, 0, sizeof(c->sk));
		return;
	}
	c->signing = 1;
	snprintf(c->keyid, sizeof(c->keyid), "%s", keyid);
	memcpy(c->sk, sk, sizeof(c->sk));
}

static size_t write_cb(char *data, size_t size, size_t n, void *ctx)
{
	struct fl_buf *b = ctx;

	/* Returning less than asked aborts the transfer: the cap is enforced here. */
	if (fl_buf_put(b, data, size * n) < 0)
		return 0;
	return size * n;
}

static size_t header_cb(char *data, size_t size, size_t n, void *ctx)
{
	struct fl_http_resp *r = ctx;
	size_t len = size * n;

	if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0)
		r->retry_after = strtoll(data + 12, NULL, 10);
	return len;
}

static int add_header(struct curl_slist **h, const char *name, const char *value)
{
	struct fl_buf line = FL_BUF_INIT;
	struct curl_slist *n;

	if (fl_buf_addf(&line, "%s: %s", name, value) < 0)
		return FL_ENOMEM;
	n = curl_slist_append(*h, line.ptr);
	fl_buf_release(&line);
	if (!n)
		return FL_ENOMEM;
	*h = n;
	return 0;
}

/* Adds Content-Digest, Signature-Input and Signature for the device key, over
 * the body whose Content-Digest value is digest. */
static int add_signature(struct curl_slist **h, struct fl_httpc *c, const char *method,
			 const char *target, const char *digest)
{
	struct fl_buf path = FL_BUF_INIT, si = FL_BUF_INIT, sig = FL_BUF_INIT;
	const char *q = strchr(target, '?');
	int rc;

	if ((rc = fl_buf_put(&path, target, q ? (size_t)(q - target) : strlen(target))) < 0)
		goto cleanup;
	rc = fl_httpsig_sign(&si, &sig, method, path.ptr, q ? q + 1 : "", digest, c->keyid, c->sk,
			     fl_now(), FL_SIG_DEFAULT_TTL);
	if (rc == 0)
		rc = add_header(h, "Content-Digest", digest);
	if (rc == 0)
		rc = add_header(h, "Signature-Input", si.ptr);
	if (rc == 0)
		rc = add_header(h, "Signature", sig.ptr);
cleanup:
	fl_buf_release(&path);
	fl_buf_release(&si);
	fl_buf_release(&sig);
	return rc;
}

/* Everything every request shares: URL, credentials (bearer token, or the
 * device signature over the body digest), TLS pinning, timeouts. The caller
 * adds the body and response handling, then calls perform(). */
static int prepare(struct curl_slist **h, struct fl_buf *url, struct fl_httpc *c,
		   const char *method, const char *target, const char *digest,
		   const char *content_type)
{
	int rc;

	if ((rc = fl_buf_addf(url, "%s%s", c->base_url, target)) < 0)
		return rc;
	if (c->token) {
		struct fl_buf auth = FL_BUF_INIT;

		rc = fl_buf_addf(&auth, "Bearer %s", c->token);
		if (rc == 0)
			rc = add_header(h, "Authorization", auth.ptr);
		fl_buf_release(&auth);
		if (rc < 0)
			return rc;
	}
	if (c->signing && (rc = add_signature(h, c, method, target, digest)) < 0)
		return rc;
	if (content_type && (rc = add_header(h, "Content-Type", content_type)) < 0)
		return rc;
	for (size_t i = 0; i < FL_HTTPC_MAX_HEADERS; i++)
		if (c->hname[i] && (rc = add_header(h, c->hname[i], c->hvalue[i])) < 0)
			return rc;
	/* libcurl would send "Expect: 100-continue" for large bodies; one round trip less. */
	if ((rc = add_header(h, "Expect", "")) < 0)
		return rc;

	/* reset keeps live connections and caches; the share is attached again
	 * with every other option so that none depends on what reset kept. */
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_SHARE, c->share->sh);
	curl_easy_setopt(c->curl, CURLOPT_URL, url->ptr);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, *h);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file)
		curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca_file);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "fairlead/" FL_VERSION);
	c->errbuf[0] = '\0';
	return 0;
}

static int is_tls_failure(CURLcode cc)
{
	switch (cc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_USE_SSL_FAILED: return 1;
	default: return 0;
	}
}

/* OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID and X509_V_ERR_CERT_HAS_EXPIRED,
 * as CURLINFO_SSL_VERIFYRESULT reports them (this file must not include
 * OpenSSL's headers). */
#define VERIFY_NOT_YET_VALID 9
#define VERIFY_EXPIRED	     10

/* FL_ETLS for a failed handshake. A certificate rejected on time is nearly
 * always a device clock that is wrong (no RTC, NTP not synced yet), not an
 * attack, so the message says so and shows the clock the check used. */
static int tls_failure(struct fl_httpc *c, CURLcode cc, struct fl_err *err)
{
	const char *why = NULL;
	long verify = 0;
	char now[32];

	if (cc == CURLE_PEER_FAILED_VERIFICATION &&
	    curl_easy_getinfo(c->curl, CURLINFO_SSL_VERIFYRESULT, &verify) == CURLE_OK) {
		if (verify == VERIFY_NOT_YET_VALID)
			why = "is not yet valid";
		else if (verify == VERIFY_EXPIRED)
			why = "has expired";
	}
	/* The wording of OpenSSL's reason, for a libcurl that left the result
	 * unset on this path. */
	if (!why && cc == CURLE_PEER_FAILED_VERIFICATION && strstr(c->errbuf, "not yet valid"))
		why = "is not yet valid";
	if (!why && cc == CURLE_PEER_FAILED_VERIFICATION && strstr(c->errbuf, "has expired"))
		why = "has expired";
	if (!why)
		return fl_err_set(err, FL_ETLS, "TLS with %s failed: %s", c->base_url,
				  c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
	/* time(), not fl_now(): it is the clock OpenSSL checked against. */
	fl_time_fmt(now, (int64_t)time(NULL));
	return fl_err_set(err, FL_ETLS,
			  "TLS: the server certificate %s by this device's clock (%s); check the "
			  "clock",
			  why, now);
}

static int perform(struct fl_httpc *c, struct fl_err *err)
{
	CURLcode cc = curl_easy_perform(c->curl);

	if (cc == CURLE_OK)
		return 0;
	if (is_tls_failure(cc))
		return tls_failure(c, cc, err);
	return fl_err_set(err,
			  cc == CURLE_OPERATION_TIMEDOUT ? FL_ETIMEOUT
			  : cc == CURLE_WRITE_ERROR	 ? FL_ETOOBIG
							 : FL_ERROR,
			  "cannot reach %s: %s", c->base_url,
			  c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
}

static void reply_into(struct fl_httpc *c, struct fl_http_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	fl_buf_init(&resp->body, c->max_body);
	resp->retry_after = -1;
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &resp->body);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, resp);
}

int fl_httpc_set_header(struct fl_httpc *c, const char *name, const char *value, struct fl_err *err)
{
	size_t free_slot = FL_HTTPC_MAX_HEADERS;

	if (strpbrk(name, "\r\n:") || !*name || (value && strpbrk(value, "\r\n")))
		return fl_err_set(err, FL_EINVAL, "bad header '%.64s'", name);
	for (size_t i = 0; i < FL_HTTPC_MAX_HEADERS; i++) {
		if (c->hname[i] && strcasecmp(c->hname[i], name) == 0) {
			free(c->hname[i]);
			free(c->hvalue[i]);
			c->hname[i] = c->hvalue[i] = NULL;
		}
		if (!c->hname[i] && free_slot == FL_HTTPC_MAX_HEADERS)
			free_slot = i;
	}
	if (!value)
		return 0;
	if (free_slot == FL_HTTPC_MAX_HEADERS)
		return fl_err_set(err, FL_ETOOBIG, "too many headers");
	c->hname[free_slot] = strdup(name);
	c->hvalue[free_slot] = strdup(value);
	if (!c->hname[free_slot] || !c->hvalue[free_slot]) {
		free(c->hname[free_slot]);
		free(c->hvalue[free_slot]);
		c->hname[free_slot] = c->hvalue[free_slot] = NULL;
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	return 0;
}

int fl_httpc_do(struct fl_http_resp *resp, struct fl_httpc *c, const char *method,
		const char *target, const void *body, size_t len, struct fl_err *err)
{
	struct curl_slist *h = NULL;
	struct fl_buf url = FL_BUF_INIT;
	char digest[FL_DIGEST_LEN];
	int rc;

	memset(resp, 0, sizeof(*resp));
	fl_httpsig_digest(digest, body, len);
	if ((rc = prepare(&h, &url, c, method, target, digest, body ? "application/json" : NULL)) <
	    0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	reply_into(c, resp);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	if (body) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
	if ((rc = perform(c, err)) < 0) {
		fl_http_resp_release(resp);
		goto cleanup;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
cleanup:
	curl_slist_free_all(h);
	fl_buf_release(&url);
	return rc;
}

/* --- files ----------------------------------------------------------- */

struct upload {
	FILE *f;
	int64_t done, total;
	fl_httpc_progress progress;
	void *progress_ctx;
};

static size_t read_cb(char *buf, size_t size, size_t n, void *ctx)
{
	struct upload *u = ctx;
	size_t got = fread(buf, 1, size * n, u->f);

	if (got == 0 && ferror(u->f))
		return CURL_READFUNC_ABORT;
	u->done += (int64_t)got;
	if (u->progress && u->progress(u->progress_ctx, u->done, u->total) != 0)
		return CURL_READFUNC_ABORT;
	return got;
}

/* Content-Digest of a file, hashed in chunks. */
static int file_digest(char out[FL_DIGEST_LEN], FILE *f, struct fl_err *err)
{
	struct fl_sha256_ctx ctx;
	uint8_t d[FL_SHA256_LEN];
	char buf[65536], b64[48];
	size_t n;

	fl_sha256_begin(&ctx);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fl_sha256_update(&ctx, buf, n);
	if (ferror(f))
		return fl_err_set(err, FL_ERROR, "cannot read the file to send");
	fl_sha256_end(&ctx, d);
	fl_b64_encode(b64, d, sizeof(d));
	snprintf(out, FL_DIGEST_LEN, "sha-256=:%s:", b64);
	rewind(f);
	return 0;
}

int fl_httpc_send_file(struct fl_http_resp *resp, struct fl_httpc *c, const char *method,
		       const char *target, const char *path, fl_httpc_progress progress,
		       void *progress_ctx, struct fl_err *err)
{
	struct curl_slist *h = NULL;
	struct fl_buf url = FL_BUF_INIT;
	struct upload u = {NULL, 0, 0, progress, progress_ctx};
	char digest[FL_DIGEST_LEN] = "";
	struct stat st;
	int rc;

	memset(resp, 0, sizeof(*resp));
	if (!(u.f = fopen(path, "rb")) || fstat(fileno(u.f), &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = fl_err_set(err, FL_ENOTFOUND, "cannot read '%s': %s", path,
				u.f ? "not a regular file" : strerror(errno));
		goto cleanup;
	}
	u.total = (int64_t)st.st_size;
	if (c->signing && (rc = file_digest(digest, u.f, err)) < 0)
		goto cleanup;
	if ((rc = prepare(&h, &url, c, method, target, digest, "application/octet-stream")) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	reply_into(c, resp);
	/* No whole-transfer timeout: a large artifact on a slow link takes what it
	 * takes; a stalled one is cut by the low-speed limit instead. */
	curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c->curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(c->curl, CURLOPT_READDATA, &u);
	curl_easy_setopt(c->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
	if ((rc = perform(c, err)) < 0) {
		fl_http_resp_release(resp);
		goto cleanup;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
cleanup:
	if (u.f)
		fclose(u.f);
	curl_slist_free_all(h);
	fl_buf_release(&url);
	return rc;
}

struct fetch {
	int64_t offset, taken, max;
	long status;
	int refused; /* why the write callback stopped the transfer */
	fl_httpc_sink sink;
	void *sink_ctx;
	CURL *curl;
};

static size_t fetch_write_cb(char *data, size_t size, size_t n, void *ctx)
{
	struct fetch *f = ctx;
	size_t len = size * n;

	if (!f->status)
		curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &f->status);
	/* Error bodies (JSON) are not artifact bytes: drop them, keep the status. */
	if (f->status != 200 && f->status != 206)
		return len;
	if (f->offset > 0 && f->status == 200) {
		f->refused = FL_ECONFLICT;
		return 0;
	}
	if (f->taken + (int64_t)len > f->max) {
		f->refused = FL_ETOOBIG;
		return 0;
	}
	if (f->sink(f->sink_ctx, data, len) != 0) {
		f->refused = FL_ERROR;
		return 0;
	}
	f->taken += (int64_t)len;
	return len;
}

int fl_httpc_fetch(long *status, struct fl_httpc *c, const char *target, int64_t offset,
		   int64_t max_bytes, fl_httpc_sink sink, void *sink_ctx, long low_speed_bps,
		   long low_speed_s, struct fl_err *err)
{
	struct curl_slist *h = NULL;
	struct fl_buf url = FL_BUF_INIT;
	struct fetch f = {offset, 0, max_bytes, 0, 0, sink, sink_ctx, c->curl};
	char digest[FL_DIGEST_LEN], range[48];
	int rc;

	*status = 0;
	fl_httpsig_digest(digest, NULL, 0);
	if ((rc = prepare(&h, &url, c, "GET", target, digest, NULL)) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (offset > 0) {
		snprintf(range, sizeof(range), "%lld-", (long long)offset);
		curl_easy_setopt(c->curl, CURLOPT_RANGE, range);
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, NULL);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, fetch_write_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &f);
	if (low_speed_bps > 0 && low_speed_s > 0) {
		curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, low_speed_bps);
		curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, low_speed_s);
	}
	rc = perform(c, err);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
	if (f.refused == FL_ECONFLICT)
		rc = fl_err_set(err, FL_ECONFLICT, "server ignored the Range request");
	else if (f.refused == FL_ETOOBIG)
		rc = fl_err_set(err, FL_ETOOBIG, "server sent more than the %lld bytes expected",
				(long long)max_bytes);
	else if (f.refused)
		rc = fl_err_set(err, FL_ERROR, "download stopped by the receiver");
	else if (rc == 0 && *status != 200 && *status != 206)
		rc = fl_err_set(err, fl_http_status_code(*status), "download failed (HTTP %ld)",
				*status);
cleanup:
	curl_slist_free_all(h);
	fl_buf_release(&url);
	return rc;
}

void fl_http_resp_release(struct fl_http_resp *r)
{
	fl_buf_release(&r->body);
}

int fl_http_status_code(long status)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 400:
	case 422: return FL_EINVAL;
	case 401: return FL_EUNAUTH;
	case 403: return FL_EFORBIDDEN;
	case 404: return FL_ENOTFOUND;
	case 409: return FL_ECONFLICT;
	case 410: return FL_EGONE;
	case 413:
	case 431: return FL_ETOOBIG;
	case 429:
	case 503: return FL_EAGAIN;
	default: return FL_ERROR;
	}
}

int fl_httpc_json(json_t **out, struct fl_httpc *c, const char *method, const char *target,
		  const json_t *body, int64_t *retry_after, struct fl_err *err)
{
	struct fl_http_resp r;
	char *data = NULL;
	json_t *reply = NULL;
	int rc;

	if (out)
		*out = NULL;
	if (retry_after)
		*retry_after = -1;
	if (body && !(data = fl_json_dumps(body)))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	rc = fl_httpc_do(&r, c, method, target, data, data ? strlen(data) : 0, err);
	free(data);
	if (rc < 0)
		return rc;
	if (retry_after)
		*retry_after = r.retry_after;
	if (r.body.len > 0 && fl_json_parse(&reply, r.body.ptr, r.body.len, NULL) < 0)
		reply = NULL;
	rc = fl_http_status_code(r.status);
	if (rc < 0) {
		json_t *e = json_object_get(json_object_get(reply, "error"), "message");
		json_t *code = json_object_get(json_object_get(reply, "error"), "code");

		fl_err_set(err, rc, "%s (HTTP %ld%s%s)",
			   json_is_string(e) ? json_string_value(e) : "request failed", r.status,
			   json_is_string(code) ? ", " : "",
			   json_is_string(code) ? json_string_value(code) : "");
	} else if (r.body.len > 0 && !reply) {
		rc = fl_err_set(err, FL_ERROR, "server sent malformed JSON");
	} else if (out) {
		*out = reply;
		reply = NULL; /* now owned by the caller */
	}
	json_decref(reply);
	fl_http_resp_release(&r);
	return rc;
}

int fl_url_escape(struct fl_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;

	for (; *s && rc == 0; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~')
			rc = fl_buf_put(b, s, 1);
		else
			rc = fl_buf_addf(b, "%%%c%c", hex[ch >> 4], hex[ch & 15]);
	}
	return rc;
}

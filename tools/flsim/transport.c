/*
 * transport.c - the simulator's HTTPS transport: the only libcurl user of
 * fairlead-sim.
 *
 * common/src/httpc.c is the project's HTTPS client, but it is blocking: one
 * request at a time on one connection, which is right for an agent and the
 * CLI. A simulator plays thousands of devices from one thread, so it needs
 * libcurl's multi interface: many transfers in flight, connections kept alive
 * and reused across devices, TLS verified against the server's CA. That is
 * why this file exists beside httpc.c, and why nothing else in the simulator
 * includes <curl/curl.h>.
 *
 * Three ways to the server (enum sim_conn_mode). Shared: transfers take any
 * easy handle from a free list and any idle connection of the multi handle's
 * bounded pool. Device and new: each device has a channel, its own easy
 * handle with its own share handle. Within one multi handle libcurl would
 * otherwise hand any idle connection to any transfer, so the share holds
 * the device's connection cache (device: its one connection, kept alive) or
 * its TLS session cache (new: a fresh connection per request that resumes
 * the device's session, as a device that sleeps between polls would).
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fairlead/buf.h"
#include "sim.h"

struct xfer {
	CURL *easy;
	struct sim_tx *tx;
	struct curl_slist *hdrs;
	struct fl_buf req_body;
	struct fl_buf resp;
	size_t max_body;
	int drop, hash, dropped, too_big;
	struct fl_sha256_ctx sha;
	int64_t bytes;
	long retry_after;
	int64_t t0;
	sim_done_fn done;
	void *ctx;
	int active;
	struct sim_chan *chan; /* the device's own handle; NULL: from the free list */
	struct xfer *next_free;
	struct xfer *next_all;
};

struct sim_chan {
	struct xfer x;
	CURLSH *share;
};

struct sim_tx {
	CURLM *multi;
	char *ca;
	long timeout_ms;
	enum sim_conn_mode mode;
	size_t inflight;
	struct xfer *free_list;
	struct xfer *all;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const char *sim_tx_kind_name(enum sim_tx_kind k)
{
	static const char *const names[SIM_TX_KINDS] = {"ok", "timeout", "connect", "tls",
							"io", "dropped", "too_big"};

	return k < SIM_TX_KINDS ? names[k] : "unknown";
}

int sim_tx_new(struct sim_tx **out, const struct sim_tx_opts *o, struct fl_err *err)
{
	struct sim_tx *tx;
	long conns = o->max_conns > 0 ? o->max_conns : 16;

	*out = NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return fl_err_set(err, FL_ERROR, "libcurl init failed");
	if (!(tx = calloc(1, sizeof(*tx))))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	tx->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
	tx->mode = o->mode;
	if ((o->ca_file && !(tx->ca = strdup(o->ca_file))) || !(tx->multi = curl_multi_init())) {
		free(tx->ca);
		free(tx);
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	/* Devices share a bounded set of kept-alive connections, as a fleet
	 * behind one gateway would; requests beyond it wait inside libcurl.
	 * With a channel per device the bound is the number of devices. */
	if (o->mode == SIM_CONN_SHARED) {
		curl_multi_setopt(tx->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
		curl_multi_setopt(tx->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
		curl_multi_setopt(tx->multi, CURLMOPT_MAXCONNECTS, conns);
	}
	*out = tx;
	return 0;
}

/* Releases what x holds, not x itself. */
static void xfer_release(struct xfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->hdrs);
	fl_buf_release(&x->req_body);
	fl_buf_release(&x->resp);
}

static void xfer_free(struct xfer *x)
{
	if (!x)
		return;
	xfer_release(x);
	free(x);
}

const char *sim_conn_mode_name(enum sim_conn_mode m)
{
	return m == SIM_CONN_DEVICE ? "device" : m == SIM_CONN_NEW ? "new" : "shared";
}

int sim_tx_chan_new(struct sim_chan **out, struct sim_tx *tx, struct fl_err *err)
{
	struct sim_chan *c;

	*out = NULL;
	if (tx->mode == SIM_CONN_SHARED)
		return 0;
	if (!(c = calloc(1, sizeof(*c))) || !(c->x.easy = curl_easy_init()) ||
	    !(c->share = curl_share_init())) {
		if (c && c->x.easy)
			curl_easy_cleanup(c->x.easy);
		free(c);
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	}
	/* One thread drives every transfer: the share needs no lock callbacks. */
	if (curl_share_setopt(c->share, CURLSHOPT_SHARE,
			      tx->mode == SIM_CONN_DEVICE
				  ? CURL_LOCK_DATA_CONNECT
				  : CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
		sim_tx_chan_free(c);
		return fl_err_set(err, FL_ERROR, "libcurl cannot share %s",
				  tx->mode == SIM_CONN_DEVICE ? "connections" : "TLS sessions");
	}
	c->x.tx = tx;
	c->x.chan = c;
	*out = c;
	return 0;
}

void sim_tx_chan_free(struct sim_chan *c)
{
	if (!c)
		return;
	if (c->x.active) {
		curl_multi_remove_handle(c->x.tx->multi, c->x.easy);
		c->x.tx->inflight--;
	}
	/* The easy handle goes before the share it uses. */
	xfer_release(&c->x);
	if (c->share)
		curl_share_cleanup(c->share);
	free(c);
}

void sim_tx_free(struct sim_tx *tx)
{
	struct xfer *x;

	if (!tx)
		return;
	/* Transfers still in flight are abandoned. */
	while ((x = tx->all)) {
		tx->all = x->next_all;
		if (x->active)
			curl_multi_remove_handle(tx->multi, x->easy);
		xfer_free(x);
	}
	if (tx->multi)
		curl_multi_cleanup(tx->multi);
	free(tx->ca);
	free(tx);
	curl_global_cleanup();
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;

	if (x->drop) {
		x->dropped = 1;
		return 0; /* abort: the "device" vanished with the reply on the wire */
	}
	x->bytes += (int64_t)len;
	if (x->hash)
		fl_sha256_update(&x->sha, data, len);
	if (x->max_body > 0) {
		if (x->resp.len + len > x->max_body) {
			x->too_big = 1;
			return 0;
		}
		if (fl_buf_put(&x->resp, data, len) < 0)
			return 0;
	}
	return len;
}

/* A pooled transfer goes back to the free list; a channel's stays its own. */
static void xfer_put(struct sim_tx *tx, struct xfer *x)
{
	if (x->chan)
		return;
	x->next_free = tx->free_list;
	tx->free_list = x;
}

/* Notes Retry-After (delay-seconds form), which a shedding server sends
 * with 503; an HTTP-date form counts as present with 1 s. */
static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		char *end;
		long v = strtol(data + sizeof(name) - 1, &end, 10);

		x->retry_after = end != data + sizeof(name) - 1 && v >= 0 ? v : 1;
	}
	return len;
}

int sim_tx_submit(struct sim_tx *tx, const struct sim_req *r, struct fl_err *err)
{
	struct xfer *x = r->chan ? &r->chan->x : tx->free_list;

	if (r->chan) {
		if (x->active)
			return fl_err_set(err, FL_ECONFLICT,
					  "a request of this device is in flight");
		curl_easy_reset(x->easy);
	} else if (x) {
		tx->free_list = x->next_free;
		curl_easy_reset(x->easy);
	} else {
		if (!(x = calloc(1, sizeof(*x))) || !(x->easy = curl_easy_init())) {
			free(x);
			return fl_err_set(err, FL_ENOMEM, "out of memory");
		}
		x->next_all = tx->all;
		tx->all = x;
	}
	x->tx = tx;
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	fl_buf_clear(&x->req_body);
	fl_buf_clear(&x->resp);
	x->max_body = r->max_body;
	x->drop = r->drop;
	x->hash = r->hash;
	x->dropped = x->too_big = 0;
	x->bytes = 0;
	x->retry_after = -1;
	x->done = r->done;
	x->ctx = r->ctx;
	if (x->hash)
		fl_sha256_begin(&x->sha);
	for (size_t i = 0; i < r->nheaders; i++) {
		struct curl_slist *l = curl_slist_append(x->hdrs, r->headers[i]);

		if (!l)
			goto oom;
		x->hdrs = l;
	}
	/* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
	{
		struct curl_slist *l = curl_slist_append(x->hdrs, "Expect:");

		if (!l)
			goto oom;
		x->hdrs = l;
	}
	if (r->body_len && fl_buf_put(&x->req_body, r->body, r->body_len) < 0)
		goto oom;

	curl_easy_setopt(x->easy, CURLOPT_URL, r->url);
	curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (char *)x);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, tx->timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(x->easy, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "https");
	if (tx->ca)
		curl_easy_setopt(x->easy, CURLOPT_CAINFO, tx->ca);
	if (r->chan) {
		curl_easy_setopt(x->easy, CURLOPT_SHARE, r->chan->share);
		if (tx->mode == SIM_CONN_NEW) {
			curl_easy_setopt(x->easy, CURLOPT_FRESH_CONNECT, 1L);
			curl_easy_setopt(x->easy, CURLOPT_FORBID_REUSE, 1L);
		}
	}
	if (strcmp(r->method, "GET") == 0) {
		curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, r->method);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS,
				 x->req_body.ptr ? x->req_body.ptr : "");
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
	}
	x->t0 = now_us();
	if (curl_multi_add_handle(tx->multi, x->easy) != CURLM_OK) {
		xfer_put(tx, x);
		return fl_err_set(err, FL_ERROR, "cannot queue a transfer");
	}
	x->active = 1;
	tx->inflight++;
	return 0;
oom:
	xfer_put(tx, x);
	return fl_err_set(err, FL_ENOMEM, "out of memory");
}

static enum sim_tx_kind classify(CURLcode c)
{
	switch (c) {
	case CURLE_OK: return SIM_TX_OK;
	case CURLE_OPERATION_TIMEDOUT: return SIM_TX_TIMEOUT;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST: return SIM_TX_CONNECT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM: return SIM_TX_TLS;
	default: return SIM_TX_IO;
	}
}

static void finish(struct sim_tx *tx, CURL *easy, CURLcode code)
{
	struct xfer *x = NULL;
	struct sim_result r;
	uint8_t d[FL_SHA256_LEN];

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
	curl_multi_remove_handle(tx->multi, easy);
	x->active = 0;
	tx->inflight--;
	memset(&r, 0, sizeof(r));
	r.us = now_us() - x->t0;
	r.bytes = x->bytes;
	r.retry_after = x->retry_after;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
	curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &r.new_conns);
	r.kind = x->dropped ? SIM_TX_DROPPED : x->too_big ? SIM_TX_BAD_LENGTH : classify(code);
	if (r.kind != SIM_TX_OK)
		r.error = curl_easy_strerror(code);
	r.body = fl_buf_cstr(&x->resp);
	r.body_len = x->resp.len;
	if (x->hash && r.kind == SIM_TX_OK) {
		fl_sha256_end(&x->sha, d);
		fl_hex_encode(r.sha256, d, sizeof(d));
	}
	if (x->done)
		x->done(x->ctx, &r);
	xfer_put(tx, x);
}

int sim_tx_poll(struct sim_tx *tx, int timeout_ms)
{
	int running = 0, left, done = 0;
	CURLMsg *m;

	for (int round = 0; round < 2; round++) {
		curl_multi_perform(tx->multi, &running);
		while ((m = curl_multi_info_read(tx->multi, &left)))
			if (m->msg == CURLMSG_DONE) {
				finish(tx, m->easy_handle, m->data.result);
				done++;
			}
		if (done || round == 1)
			break;
		curl_multi_poll(tx->multi, NULL, 0, timeout_ms, NULL);
	}
	return done;
}

size_t sim_tx_inflight(const struct sim_tx *tx)
{
	return tx->inflight;
}

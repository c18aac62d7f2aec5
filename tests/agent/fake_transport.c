#include "fake_transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"
#include "agent/key.h"
#include "agent/state.h"

static int fake_json(void *ctx, json_t **out, const char *method, const char *target,
		     const json_t *body, int64_t *retry_after, struct fl_err *err)
{
	struct fake *f = ctx;
	struct fake_reply *r;
	json_t *rec;

	if (out)
		*out = NULL;
	if (retry_after)
		*retry_after = -1;
	rec = json_pack("{s:s,s:s,s:O?,s:s}", "method", method, "target", target, "body",
			(json_t *)(uintptr_t)body, "keyid", f->keyid);
	json_array_append_new(f->requests, rec);
	if (f->next >= f->n) {
		if (f->handler)
			return f->handler(f, out, method, target, body, retry_after, err);
		return fl_err_set(err, FL_ERROR, "fake: no scripted reply");
	}
	r = &f->replies[f->next++];
	if (retry_after)
		*retry_after = r->retry_after;
	if (r->rc < 0)
		return fl_err_set(err, r->rc, "%s", r->msg[0] ? r->msg : "fake failure");
	if (r->json && out && fl_json_parse(out, r->json, strlen(r->json), err) < 0)
		return FL_ERROR;
	return 0;
}

static int fake_fetch(void *ctx, long *status, const char *target, int64_t offset,
		      int64_t max_bytes, fl_httpc_sink sink, void *sink_ctx, long low_speed_bps,
		      long low_speed_s, struct fl_err *err)
{
	static const char prefix[] = "/api/v1/device/artifacts/";
	struct fake *f = ctx;
	struct fake_blob *b = NULL;
	unsigned char *data;
	size_t len, end, pos, sent = 0;
	int stall = 0;

	(void)low_speed_bps;
	(void)low_speed_s;
	if (f->nfetch < sizeof(f->offsets) / sizeof(f->offsets[0]))
		f->offsets[f->nfetch] = offset;
	f->nfetch++;
	*status = 404;
	for (size_t i = 0; i < f->nblobs; i++)
		if (strncmp(target, prefix, sizeof(prefix) - 1) == 0 &&
		    strcmp(target + sizeof(prefix) - 1, f->blobs[i].sha) == 0)
			b = &f->blobs[i];
	if (!b)
		return fl_err_set(err, FL_ENOTFOUND, "download failed (HTTP 404)");
	if (offset > 0 && f->ignore_range) {
		*status = 200;
		return fl_err_set(err, FL_ECONFLICT, "server ignored the Range request");
	}
	len = b->len + (f->fetch_mode == FAKE_FETCH_EXTRA ? 16 : 0);
	if (!(data = calloc(1, len + 1)))
		abort();
	memcpy(data, b->data, b->len);
	if (f->fetch_mode == FAKE_FETCH_WRONG && len > 0)
		data[len / 2] ^= 0x01;
	if (f->fetch_mode == FAKE_FETCH_TRUNCATE && len > 0)
		len--;
	end = len;
	if ((size_t)offset > len)
		offset = (int64_t)len;
	if (f->stalls > 0) {
		f->stalls--;
		stall = 1;
		end = (size_t)offset + (len - (size_t)offset) / 2;
	}
	*status = offset > 0 ? 206 : 200;
	/* Chunks, as libcurl hands them over; never past max_bytes. */
	for (pos = (size_t)offset; pos < end;) {
		size_t n = end - pos > 1000 ? 1000 : end - pos;

		if ((int64_t)(sent + n) > max_bytes) {
			n = (size_t)max_bytes - sent;
			if (n > 0 && sink(sink_ctx, data + pos, n) != 0)
				break;
			free(data);
			return fl_err_set(err, FL_ETOOBIG,
					  "server sent more than the %lld bytes expected",
					  (long long)max_bytes);
		}
		if (sink(sink_ctx, data + pos, n) != 0) {
			free(data);
			return fl_err_set(err, FL_ERROR, "download stopped by the receiver");
		}
		pos += n;
		sent += n;
		if (f->clock)
			f->clock->now += f->chunk_s;
	}
	free(data);
	if (stall)
		return fl_err_set(err, FL_ETIMEOUT, "transfer stalled");
	return 0;
}

void fake_blob(struct fake *f, const char *sha, const void *data, size_t len)
{
	struct fake_blob *b;

	if (f->nblobs >= sizeof(f->blobs) / sizeof(f->blobs[0]))
		abort();
	b = &f->blobs[f->nblobs++];
	if (sha)
		snprintf(b->sha, sizeof(b->sha), "%s", sha);
	else
		fl_sha256_hex(b->sha, data, len);
	b->data = malloc(len + 1);
	if (!b->data)
		abort();
	memcpy(b->data, data, len);
	b->len = len;
}

static void fake_set_signer(void *ctx, const char *keyid, const uint8_t sk[FL_ED25519_SK_LEN])
{
	struct fake *f = ctx;

	(void)sk;
	snprintf(f->keyid, sizeof(f->keyid), "%s", keyid ? keyid : "");
}

static void fake_free(void *ctx)
{
	struct fake *f = ctx;

	for (size_t i = 0; i < f->n; i++)
		free(f->replies[i].json);
	for (size_t i = 0; i < f->nblobs; i++)
		free(f->blobs[i].data);
	json_decref(f->requests);
	free(f);
}

struct ag_transport *fake_new(struct fake **out)
{
	struct ag_transport *t = calloc(1, sizeof(*t));
	struct fake *f = calloc(1, sizeof(*f));

	if (!t || !f)
		abort();
	f->requests = json_array();
	t->ctx = f;
	t->json = fake_json;
	t->fetch = fake_fetch;
	t->set_signer = fake_set_signer;
	t->free = fake_free;
	*out = f;
	return t;
}

void fake_push(struct fake *f, int rc, const char *json, int64_t retry_after, const char *msg)
{
	struct fake_reply *r;

	if (f->n >= sizeof(f->replies) / sizeof(f->replies[0]))
		abort();
	r = &f->replies[f->n++];
	r->rc = rc;
	r->json = json ? strdup(json) : NULL;
	r->retry_after = retry_after;
	snprintf(r->msg, sizeof(r->msg), "%s", msg ? msg : "");
}

json_t *fake_req(const struct fake *f, size_t i)
{
	return json_array_get(f->requests, i);
}

size_t fake_nreq(const struct fake *f)
{
	return json_array_size(f->requests);
}

static int64_t fc_now(void *ctx)
{
	return ((struct fake_clock *)ctx)->now;
}

static int fc_sleep(void *ctx, int64_t ms)
{
	struct fake_clock *c = ctx;

	if (c->nsleeps < sizeof(c->sleeps) / sizeof(c->sleeps[0]))
		c->sleeps[c->nsleeps] = ms;
	c->nsleeps++;
	c->now += ms / 1000;
	return c->stop_after > 0 && c->nsleeps >= c->stop_after;
}

static uint32_t fc_rand(void *ctx)
{
	struct fake_clock *c = ctx;

	if (c->nrand > 0)
		return c->rand[c->rand_next++ % c->nrand];
	/* xorshift: deterministic but spread over the whole range */
	c->state ^= c->state << 13;
	c->state ^= c->state >> 17;
	c->state ^= c->state << 5;
	return c->state;
}

void fake_clock_init(struct ag_clock *out, struct fake_clock *c)
{
	memset(c, 0, sizeof(*c));
	c->now = 1700000000;
	c->state = 2463534242u;
	out->ctx = c;
	out->now = fc_now;
	out->sleep_ms = fc_sleep;
	out->rand = fc_rand;
}

void fake_device(struct ag_key *key, const char *dir, const char *device_id)
{
	struct ag_identity id;
	struct fl_err err = {0};

	memset(&id, 0, sizeof(id));
	ag_key_generate(key);
	if (ag_key_save(key, dir, AG_KEY_FILE, &err) < 0)
		abort();
	snprintf(id.device_id, sizeof(id.device_id), "%s", device_id);
	memcpy(id.keyid, key->keyid, sizeof(id.keyid));
	snprintf(id.server, sizeof(id.server), "https://127.0.0.1:8443");
	snprintf(id.state, sizeof(id.state), "accepted");
	id.enrolled_at = 1700000000;
	if (ag_state_save_identity(&id, dir, &err) < 0)
		abort();
}

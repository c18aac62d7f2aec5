#include "agent/transport.h"

#include <stdlib.h>

#include "fairlead/httpc.h"

static int http_json(void *ctx, json_t **out, const char *method, const char *target,
		     const json_t *body, int64_t *retry_after, struct fl_err *err)
{
	return fl_httpc_json(out, ctx, method, target, body, retry_after, err);
}

static int http_fetch(void *ctx, long *status, const char *target, int64_t offset,
		      int64_t max_bytes, fl_httpc_sink sink, void *sink_ctx, long low_speed_bps,
		      long low_speed_s, struct fl_err *err)
{
	return fl_httpc_fetch(status, ctx, target, offset, max_bytes, sink, sink_ctx, low_speed_bps,
			      low_speed_s, err);
}

static void http_set_signer(void *ctx, const char *keyid, const uint8_t sk[FL_ED25519_SK_LEN])
{
	fl_httpc_set_signer(ctx, keyid, sk);
}

static void http_free(void *ctx)
{
	fl_httpc_free(ctx);
}

int ag_transport_http_new(struct ag_transport **out, const char *server, const char *ca_file,
			  struct fl_err *err)
{
	struct fl_httpc_opts opts = {0};
	struct ag_transport *t = NULL;
	struct fl_httpc *c = NULL;
	int rc;

	*out = NULL;
	opts.base_url = server;
	opts.ca_file = ca_file;
	/* A device's replies are small; a hostile or broken server must not
	 * make the agent allocate much. */
	opts.max_body = 4u << 20;
	if ((rc = fl_httpc_new(&c, &opts, err)) < 0)
		goto cleanup;
	t = calloc(1, sizeof(*t));
	if (!t) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	t->ctx = c;
	t->json = http_json;
	t->fetch = http_fetch;
	t->set_signer = http_set_signer;
	t->free = http_free;
	c = NULL;
	*out = t;
	t = NULL;
cleanup:
	fl_httpc_free(c);
	free(t);
	return rc;
}

void ag_transport_free(struct ag_transport *t)
{
	if (!t)
		return;
	if (t->free)
		t->free(t->ctx);
	free(t);
}

int ag_transport_json(struct ag_transport *t, json_t **out, const char *method, const char *target,
		      const json_t *body, int64_t *retry_after, struct fl_err *err)
{
	return t->json(t->ctx, out, method, target, body, retry_after, err);
}

int ag_transport_fetch(struct ag_transport *t, long *status, const char *target, int64_t offset,
		       int64_t max_bytes, fl_httpc_sink sink, void *sink_ctx, long low_speed_bps,
		       long low_speed_s, struct fl_err *err)
{
	*status = 0;
	if (!t->fetch)
		return fl_err_set(err, FL_ERROR, "this transport cannot download");
	return t->fetch(t->ctx, status, target, offset, max_bytes, sink, sink_ctx, low_speed_bps,
			low_speed_s, err);
}

void ag_transport_set_signer(struct ag_transport *t, const char *keyid,
			     const uint8_t sk[FL_ED25519_SK_LEN])
{
	if (t->set_signer)
		t->set_signer(t->ctx, keyid, sk);
}

#include "playbook/webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/crypto.h"
#include "fairlead/httpc.h"
#include "fairlead/util.h"

void cp_pb_webhook_sign(char *out, const char *secret, size_t secret_len, int64_t t,
			const char *body, size_t len)
{
	uint8_t mac[FL_SHA256_LEN];
	char ts[24], hex[2 * FL_SHA256_LEN + 1];

	snprintf(ts, sizeof(ts), "%lld.", (long long)t);
	fl_hmac_sha256(mac, secret, secret_len, ts, strlen(ts), body, len);
	fl_hex_encode(hex, mac, sizeof(mac));
	snprintf(out, CP_PB_WEBHOOK_SIG_MAX, "t=%lld,v1=%s", (long long)t, hex);
}

int cp_pb_webhook_secret(char **out, size_t *len, const char *env_name, struct fl_err *err)
{
	const char *v = env_name ? getenv(env_name) : NULL;

	*out = NULL;
	*len = 0;
	if (!v || !*v)
		return fl_err_set(err, FL_EINVAL,
				  "the webhook secret: environment variable %s of fairleadd is not "
				  "set",
				  env_name ? env_name : "(none)");
	/* A short key falls to an offline search from any one delivery a
	 * receiver logs; 16 bytes is the least of a random key's strength. */
	if (strlen(v) < CP_PB_WEBHOOK_SECRET_MIN)
		return fl_err_set(err, FL_EINVAL,
				  "the webhook secret in %s is %zu bytes; at least %d are needed",
				  env_name, strlen(v), CP_PB_WEBHOOK_SECRET_MIN);
	if (!(*out = strdup(v)))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	*len = strlen(v);
	return 0;
}

/* "https://host[:port]/path?q" -> base "https://host[:port]", target
 * "/path?q" ("/" when empty). */
static int split_url(char **base, const char **target, const char *url, struct fl_err *err)
{
	const char *host, *slash;

	if (!url || strncmp(url, "https://", 8) != 0)
		return fl_err_set(err, FL_EINVAL, "a webhook URL must start with https://");
	host = url + 8;
	slash = strpbrk(host, "/?");
	if (slash == host || !*host)
		return fl_err_set(err, FL_EINVAL, "the webhook URL has no host");
	*target = slash && *slash == '/' ? slash : "/";
	*base = slash ? strndup(url, (size_t)(slash - url)) : strdup(url);
	if (slash && *slash == '?')
		return fl_err_set(err, FL_EINVAL, "the webhook URL needs a path before its query");
	return *base ? 0 : fl_err_set(err, FL_ENOMEM, "out of memory");
}

int cp_pb_webhook_post(int *status, const struct cp_pb_webhook *w, struct fl_err *err)
{
	struct fl_httpc_opts o = {0};
	struct fl_httpc *c = NULL;
	struct fl_http_resp r = {0};
	char *base = NULL, *body = NULL, sig[CP_PB_WEBHOOK_SIG_MAX];
	const char *target = "/";
	int rc;

	*status = 0;
	if ((rc = split_url(&base, &target, w->url, err)) < 0)
		goto cleanup;
	if (!(body = json_dumps(w->body, JSON_COMPACT | JSON_SORT_KEYS))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	o.base_url = base;
	o.ca_file = w->ca_file;
	o.timeout_ms = (w->timeout_s > 0 ? w->timeout_s : 30) * 1000L;
	o.max_body = CP_PB_WEBHOOK_REPLY_MAX;
	cp_pb_webhook_sign(sig, w->secret, w->secret_len, w->now ? w->now : fl_now(), body,
			   strlen(body));
	if ((rc = fl_httpc_new(&c, &o, err)) < 0 ||
	    (rc = fl_httpc_set_header(c, "Fairlead-Signature", sig, err)) < 0 ||
	    (w->delivery &&
	     (rc = fl_httpc_set_header(c, "Fairlead-Delivery", w->delivery, err)) < 0))
		goto cleanup;
	rc = fl_httpc_do(&r, c, "POST", target, body, strlen(body), err);
	if (rc == FL_ETLS) {
		/* a receiver that fails verification will fail it again */
		rc = fl_err_set(err, FL_EINVAL, "%s", err->msg);
		goto cleanup;
	}
	if (rc < 0) {
		rc = fl_err_set(err, FL_EAGAIN, "%s", err->msg);
		goto cleanup;
	}
	*status = (int)r.status;
	if (r.status >= 200 && r.status < 300)
		rc = 0;
	else if (r.status == 408 || r.status == 429 || r.status >= 500)
		rc = fl_err_set(err, FL_EAGAIN, "the receiver answered HTTP %ld", r.status);
	else
		rc = fl_err_set(err, FL_EINVAL, "the receiver refused it: HTTP %ld", r.status);
cleanup:
	fl_http_resp_release(&r);
	fl_httpc_free(c);
	free(body);
	free(base);
	return rc;
}

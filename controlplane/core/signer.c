#include "signer.h"

#include <stdlib.h>
#include <string.h>

#include "fairlead/envelope.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/trust.h"
#include "fairlead/util.h"

void cp_signer_from_sk(struct cp_signer *out, const uint8_t sk[FL_ED25519_SK_LEN])
{
	memcpy(out->sk, sk, FL_ED25519_SK_LEN);
	fl_ed25519_sk_to_pk(out->pk, sk);
	fl_keyid(out->keyid, out->pk);
	fl_b64_encode(out->pub_b64, out->pk, sizeof(out->pk));
}

int cp_signer_load(struct cp_signer *out, const char *path, struct fl_err *err)
{
	struct fl_buf b = FL_BUF_INIT;
	uint8_t sk[FL_ED25519_SK_LEN];
	size_t len, n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	fl_buf_init(&b, 4096);
	if ((rc = fl_fs_read(&b, path, err)) < 0) {
		fl_err_prefix(err, "server key %s", path);
		goto cleanup;
	}
	len = b.len;
	while (len && (b.ptr[len - 1] == '\n' || b.ptr[len - 1] == '\r'))
		len--;
	if (fl_b64_decode(sk, sizeof(sk), &n, b.ptr, len) < 0 || n != sizeof(sk)) {
		rc = fl_err_set(err, FL_EINVAL, "server key %s is not a base64 Ed25519 key", path);
		goto cleanup;
	}
	cp_signer_from_sk(out, sk);
	rc = 0;
cleanup:
	memset(sk, 0, sizeof(sk));
	if (b.ptr)
		memset(b.ptr, 0, b.len);
	fl_buf_release(&b);
	return rc;
}

void cp_signer_wipe(struct cp_signer *s)
{
	memset(s, 0, sizeof(*s));
}

int cp_signer_envelope(struct fl_buf *out, const struct cp_signer *s, const char *type,
		       const json_t *payload, struct fl_err *err)
{
	struct fl_envelope e = {0};
	char *body = fl_json_dumps(payload);
	int rc;

	if (!body)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	if ((rc = fl_envelope_init(&e, type, body, strlen(body), err)) == 0 &&
	    (rc = fl_envelope_sign(&e, s->sk, err)) == 0)
		rc = fl_envelope_dump(out, &e, err);
	fl_envelope_release(&e);
	free(body);
	return rc;
}

int cp_signer_timestamp(struct fl_buf *out, const struct cp_signer *s, int64_t version,
			int64_t expires, const json_t *releases, struct fl_err *err)
{
	char exp[32];
	json_t *p;
	int rc;

	fl_time_fmt(exp, expires);
	p = json_pack("{s:s,s:I,s:s,s:O}", "_type", "timestamp", "version", (json_int_t)version,
		      "expires", exp, "releases", releases);
	if (!p)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	rc = cp_signer_envelope(out, s, FL_TRUST_TYPE_TIMESTAMP, p, err);
	json_decref(p);
	return rc;
}

int cp_signer_assignment(struct fl_buf *out, const struct cp_signer *s,
			 const struct cp_assignment_payload *a, struct fl_err *err)
{
	char issued[32], expires[32];
	json_t *p;
	int rc;

	fl_time_fmt(issued, a->issued);
	fl_time_fmt(expires, a->expires);
	p = json_pack("{s:s,s:s,s:s,s:s,s:I,s:b,s:s,s:s}", "_type", "assignment", "device_id",
		      a->device_id, "release", a->release, "release_sha256", a->release_sha256,
		      "counter", (json_int_t)a->counter, "rollback", a->rollback, "issued", issued,
		      "expires", expires);
	if (!p)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	rc = cp_signer_envelope(out, s, FL_TRUST_TYPE_ASSIGNMENT, p, err);
	json_decref(p);
	return rc;
}

/*
 * fl-sign - prints the signature headers a device would send, one per line,
 * for tests that craft, tamper with and replay signed requests with curl.
 *
 *   fl-sign KEYFILE METHOD TARGET [BODYFILE]
 *
 * KEYFILE is an agent's device.key (base64 of the Ed25519 secret key).
 * FAIRLEAD_TIME_OFFSET shifts the clock, for time-window tests.
 */
#include <stdio.h>
#include <string.h>

#include "fairlead/buf.h"
#include "fairlead/crypto.h"
#include "fairlead/fs.h"
#include "fairlead/httpsig.h"
#include "fairlead/util.h"

int main(int argc, char **argv)
{
	struct fl_buf key = FL_BUF_INIT, body = FL_BUF_INIT, path = FL_BUF_INIT;
	struct fl_buf si = FL_BUF_INIT, sig = FL_BUF_INIT;
	struct fl_err err = {0, ""};
	uint8_t sk[FL_ED25519_SK_LEN], pk[FL_ED25519_PK_LEN];
	char keyid[FL_KEYID_LEN + 1], digest[FL_DIGEST_LEN];
	const char *q;
	size_t n, len;
	int rc = 1;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: fl-sign KEYFILE METHOD TARGET [BODYFILE]\n");
		return 2;
	}
	if (fl_crypto_init() < 0 || fl_fs_read(&key, argv[1], &err) < 0)
		goto out;
	len = key.len;
	while (len && (key.ptr[len - 1] == '\n' || key.ptr[len - 1] == '\r'))
		len--;
	if (fl_b64_decode(sk, sizeof(sk), &n, key.ptr, len) < 0 || n != sizeof(sk)) {
		fl_err_set(&err, FL_EINVAL, "bad key file");
		goto out;
	}
	if (argc == 5 && fl_fs_read(&body, argv[4], &err) < 0)
		goto out;
	fl_ed25519_sk_to_pk(pk, sk);
	fl_keyid(keyid, pk);
	q = strchr(argv[3], '?');
	if (fl_buf_put(&path, argv[3], q ? (size_t)(q - argv[3]) : strlen(argv[3])) < 0)
		goto out;
	fl_httpsig_digest(digest, body.ptr, body.len);
	if (fl_httpsig_sign(&si, &sig, argv[2], path.ptr, q ? q + 1 : "", digest, keyid, sk,
			    fl_now(), FL_SIG_DEFAULT_TTL) < 0)
		goto out;
	printf("Content-Digest: %s\nSignature-Input: %s\nSignature: %s\n", digest, si.ptr, sig.ptr);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "fl-sign: %s\n", err.msg[0] ? err.msg : "failed");
	fl_buf_release(&key);
	fl_buf_release(&body);
	fl_buf_release(&path);
	fl_buf_release(&si);
	fl_buf_release(&sig);
	return rc;
}

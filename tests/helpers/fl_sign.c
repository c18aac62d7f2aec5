/*
 * fl-sign - prints the signature headers a device would send, one per line,
 * for tests that craft, tamper with and replay signed requests with curl.
 *
 *   fl-sign KEYFILE METHOD TARGET [BODYFILE]
 *   fl-sign --keygen KEYFILE      writes a new key, prints its public key
 *   fl-sign --pub KEYFILE         prints the public key (base64)
 *   fl-sign --raw KEYFILE MSGFILE prints the base64 signature of MSGFILE's bytes
 *
 * KEYFILE is an agent's device.key (base64 of the Ed25519 secret key).
 * FAIRLEAD_TIME_OFFSET shifts the clock, for time-window tests. The other
 * modes let tests build enrollment and key-rotation proofs by hand, signed
 * by the right key or the wrong one.
 */
#include <stdio.h>
#include <string.h>

#include "fairlead/buf.h"
#include "fairlead/crypto.h"
#include "fairlead/fs.h"
#include "fairlead/httpsig.h"
#include "fairlead/util.h"

static int load_key(uint8_t sk[FL_ED25519_SK_LEN], const char *file, struct fl_err *err)
{
	struct fl_buf key = FL_BUF_INIT;
	size_t n, len;
	int rc;

	if ((rc = fl_fs_read(&key, file, err)) < 0)
		return rc;
	len = key.len;
	while (len && (key.ptr[len - 1] == '\n' || key.ptr[len - 1] == '\r'))
		len--;
	rc = 0;
	if (fl_b64_decode(sk, FL_ED25519_SK_LEN, &n, key.ptr, len) < 0 || n != FL_ED25519_SK_LEN)
		rc = fl_err_set(err, FL_EINVAL, "bad key file");
	fl_buf_release(&key);
	return rc;
}

static void print_b64(const void *data, size_t len)
{
	char out[128];

	fl_b64_encode(out, data, len);
	printf("%s\n", out);
}

/* --keygen, --pub and --raw */
static int key_mode(int argc, char **argv, struct fl_err *err)
{
	uint8_t sk[FL_ED25519_SK_LEN], pk[FL_ED25519_PK_LEN], sig[FL_ED25519_SIG_LEN];
	struct fl_buf msg = FL_BUF_INIT;
	char b64[128];
	int rc;

	if (strcmp(argv[1], "--keygen") == 0 && argc == 3) {
		fl_ed25519_keypair(pk, sk);
		fl_b64_encode(b64, sk, sizeof(sk));
		if ((rc = fl_fs_write_atomic(argv[2], b64, strlen(b64), 0600, err)) < 0)
			return rc;
		print_b64(pk, sizeof(pk));
		return 0;
	}
	if (strcmp(argv[1], "--pub") == 0 && argc == 3) {
		if ((rc = load_key(sk, argv[2], err)) < 0)
			return rc;
		fl_ed25519_sk_to_pk(pk, sk);
		print_b64(pk, sizeof(pk));
		return 0;
	}
	if (strcmp(argv[1], "--raw") == 0 && argc == 4) {
		if ((rc = load_key(sk, argv[2], err)) < 0 || (rc = fl_fs_read(&msg, argv[3], err)) < 0)
			return rc;
		fl_ed25519_sign(sig, msg.ptr, msg.len, sk);
		fl_buf_release(&msg);
		print_b64(sig, sizeof(sig));
		return 0;
	}
	return fl_err_set(err, FL_EINVAL, "usage: fl-sign --keygen|--pub KEYFILE, --raw KEYFILE MSGFILE");
}

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

	if (argc >= 2 && strncmp(argv[1], "--", 2) == 0) {
		if (fl_crypto_init() < 0 || key_mode(argc, argv, &err) < 0) {
			fprintf(stderr, "fl-sign: %s\n", err.msg[0] ? err.msg : "failed");
			return 1;
		}
		return 0;
	}
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

/*
 * fuzz_httpsig.c - the device signature headers, the first bytes of a device
 * request the server looks at.
 *
 * Input: "SIGNATURE-INPUT\nSIGNATURE" (no '\n': an empty Signature). When the
 * strict parse accepts, verification runs too, against a fixed key, request
 * and clock, so a seed signed with that key reaches the signature check.
 */
#include <sodium.h>

#include "fairlead/crypto.h"
#include "fairlead/httpsig.h"
#include "fuzz.h"

/* The clock the seed corpus was signed at (see corpus/httpsig/README). */
#define FZ_NOW	  1767225600 /* 2026-01-01T00:00:00Z */
#define FZ_METHOD "POST"
#define FZ_PATH	  "/api/v1/device/checkin"
#define FZ_BODY	  "{\"inventory\":{}}"

static uint8_t pk[FL_ED25519_PK_LEN];
static char digest[FL_DIGEST_LEN];

static void init(void)
{
	static int done;
	/* Deterministic key, so the corpus can carry valid signatures. */
	static const uint8_t seed[crypto_sign_SEEDBYTES] = "fairlead fuzz key, not a secret";
	uint8_t sk[FL_ED25519_SK_LEN];

	if (done)
		return;
	if (fl_crypto_init() < 0)
		abort();
	crypto_sign_seed_keypair(pk, sk, seed);
	fl_httpsig_digest(digest, FZ_BODY, strlen(FZ_BODY));
	done = 1;
}

static int fuzz_one(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t ilen = nl ? (size_t)(nl - data) : size;
	char *input, *signature;
	struct fl_sig_params p;
	uint8_t sig[FL_ED25519_SIG_LEN];
	struct fl_err err = {0, ""};

	init();
	input = fz_strndup(data, ilen);
	signature = nl ? fz_strndup(nl + 1, size - ilen - 1) : fz_strndup(data, 0);
	if (fl_httpsig_parse(&p, sig, input, signature, &err) == 0) {
		/* The parser promises NUL-terminated, bounded strings. */
		FZ_CHECK(memchr(p.nonce, '\0', sizeof(p.nonce)) != NULL);
		FZ_CHECK(memchr(p.keyid, '\0', sizeof(p.keyid)) != NULL);
		(void)fl_httpsig_verify(&p, sig, pk, FZ_METHOD, FZ_PATH, "", digest, FZ_BODY,
					strlen(FZ_BODY), FZ_NOW, &err);
		/* A missing Content-Digest must be refused, never crash. */
		FZ_CHECK(fl_httpsig_verify(&p, sig, pk, FZ_METHOD, FZ_PATH, "", NULL, FZ_BODY,
					   strlen(FZ_BODY), FZ_NOW, &err) < 0);
	} else {
		FZ_CHECK(err.code == FL_EUNAUTH);
	}
	free(input);
	free(signature);
	return 0;
}

FZ_TARGET(fuzz_one)

#include "fairlead/crypto.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct fl_sha256_ctx) >= sizeof(crypto_hash_sha256_state),
	       "fl_sha256_ctx too small");
_Static_assert(FL_ED25519_PK_LEN == crypto_sign_PUBLICKEYBYTES, "pk size");
_Static_assert(FL_ED25519_SK_LEN == crypto_sign_SECRETKEYBYTES, "sk size");
_Static_assert(FL_ED25519_SIG_LEN == crypto_sign_BYTES, "sig size");

int fl_crypto_init(void)
{
	return sodium_init() < 0 ? FL_ERROR : 0;
}

void fl_random(void *out, size_t len)
{
	randombytes_buf(out, len);
}

void fl_sha256(uint8_t out[FL_SHA256_LEN], const void *data, size_t len)
{
	crypto_hash_sha256(out, data, len);
}

void fl_hmac_sha256(uint8_t out[FL_SHA256_LEN], const void *key, size_t keylen, const void *a,
		    size_t alen, const void *b, size_t blen)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, keylen);
	if (alen)
		crypto_auth_hmacsha256_update(&st, a, alen);
	if (blen)
		crypto_auth_hmacsha256_update(&st, b, blen);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

void fl_sha256_hex(char out[65], const void *data, size_t len)
{
	uint8_t d[FL_SHA256_LEN];

	fl_sha256(d, data, len);
	fl_hex_encode(out, d, sizeof(d));
}

void fl_sha256_begin(struct fl_sha256_ctx *ctx)
{
	crypto_hash_sha256_init((crypto_hash_sha256_state *)(void *)ctx->opaque);
}

void fl_sha256_update(struct fl_sha256_ctx *ctx, const void *data, size_t len)
{
	crypto_hash_sha256_update((crypto_hash_sha256_state *)(void *)ctx->opaque, data, len);
}

void fl_sha256_end(struct fl_sha256_ctx *ctx, uint8_t out[FL_SHA256_LEN])
{
	crypto_hash_sha256_final((crypto_hash_sha256_state *)(void *)ctx->opaque, out);
}

void fl_ed25519_keypair(uint8_t pk[FL_ED25519_PK_LEN], uint8_t sk[FL_ED25519_SK_LEN])
{
	crypto_sign_keypair(pk, sk);
}

void fl_ed25519_seed_keypair(uint8_t pk[FL_ED25519_PK_LEN], uint8_t sk[FL_ED25519_SK_LEN],
			     const uint8_t seed[32])
{
	crypto_sign_seed_keypair(pk, sk, seed);
}

void fl_ed25519_sign(uint8_t sig[FL_ED25519_SIG_LEN], const void *msg, size_t len,
		     const uint8_t sk[FL_ED25519_SK_LEN])
{
	crypto_sign_detached(sig, NULL, msg, len, sk);
}

int fl_ed25519_verify(const uint8_t sig[FL_ED25519_SIG_LEN], const void *msg, size_t len,
		      const uint8_t pk[FL_ED25519_PK_LEN])
{
	return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? 0 : FL_EUNAUTH;
}

void fl_ed25519_sk_to_pk(uint8_t pk[FL_ED25519_PK_LEN], const uint8_t sk[FL_ED25519_SK_LEN])
{
	crypto_sign_ed25519_sk_to_pk(pk, sk);
}

void fl_keyid(char out[FL_KEYID_LEN + 1], const uint8_t pk[FL_ED25519_PK_LEN])
{
	uint8_t d[FL_SHA256_LEN];

	fl_sha256(d, pk, FL_ED25519_PK_LEN);
	fl_hex_encode(out, d, FL_KEYID_LEN / 2);
}

size_t fl_b64_len(size_t len)
{
	return sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
}

void fl_b64_encode(char *out, const void *in, size_t len)
{
	sodium_bin2base64(out, fl_b64_len(len), in, len, sodium_base64_VARIANT_ORIGINAL);
}

int fl_b64_decode(uint8_t *out, size_t cap, size_t *outlen, const char *in, size_t inlen)
{
	const char *end = NULL;
	size_t n = 0;

	if (sodium_base642bin(out, cap, in, inlen, NULL, &n, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != in + inlen)
		return FL_EINVAL;
	*outlen = n;
	return 0;
}

void fl_b64url_encode(char *out, const void *in, size_t len)
{
	sodium_bin2base64(out,
			  sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
			  in, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void fl_hex_encode(char *out, const void *in, size_t len)
{
	sodium_bin2hex(out, 2 * len + 1, in, len);
}

int fl_hex_decode(uint8_t *out, size_t len, const char *hex)
{
	size_t n = 0;
	const char *end = NULL;

	if (strlen(hex) != 2 * len)
		return FL_EINVAL;
	if (sodium_hex2bin(out, len, hex, 2 * len, NULL, &n, &end) != 0 || n != len)
		return FL_EINVAL;
	return 0;
}

int fl_memeq(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}

char *fl_token_new(const char *prefix, size_t nbytes)
{
	uint8_t raw[64];
	size_t plen = strlen(prefix);
	size_t elen;
	char *out;

	if (nbytes > sizeof(raw))
		nbytes = sizeof(raw);
	elen = sodium_base64_ENCODED_LEN(nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	out = malloc(plen + 1 + elen);
	if (!out)
		return NULL;
	fl_random(raw, nbytes);
	memcpy(out, prefix, plen);
	out[plen] = '_';
	fl_b64url_encode(out + plen + 1, raw, nbytes);
	sodium_memzero(raw, sizeof(raw));
	return out;
}

int fl_pwhash(char out[128], const char *password)
{
	_Static_assert(crypto_pwhash_STRBYTES <= 128, "pwhash str");
	if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return FL_ENOMEM;
	return 0;
}

int fl_pwhash_verify(const char *hash, const char *password)
{
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0 ? 0 : FL_EUNAUTH;
}

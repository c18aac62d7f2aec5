/*
 * crypto.h - the only door to libsodium.
 *
 * Ed25519 for identities and signatures, SHA-256 for digests and key ids,
 * base64/hex codecs, constant-time compare, random tokens, Argon2id for
 * passwords. fl_crypto_init() must run once before any other call.
 */
#ifndef FAIRLEAD_CRYPTO_H
#define FAIRLEAD_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "fairlead/err.h"

#define FL_ED25519_PK_LEN  32
#define FL_ED25519_SK_LEN  64
#define FL_ED25519_SIG_LEN 64
#define FL_SHA256_LEN	   32
#define FL_KEYID_LEN	   32 /* hex chars: the first 16 bytes of SHA-256(pk) */

int fl_crypto_init(void);

void fl_random(void *out, size_t len);

void fl_sha256(uint8_t out[FL_SHA256_LEN], const void *data, size_t len);
/* Lower-case hex of SHA-256(data); out holds 65 bytes. */
void fl_sha256_hex(char out[65], const void *data, size_t len);

/* HMAC-SHA256 (RFC 2104) of the parts, concatenated, under key (any
 * length): the signature of a webhook body. */
void fl_hmac_sha256(uint8_t out[FL_SHA256_LEN], const void *key, size_t keylen,
		    const void *a, size_t alen, const void *b, size_t blen);

/* Streaming SHA-256; the state is opaque storage big enough for libsodium's. */
struct fl_sha256_ctx {
	_Alignas(16) unsigned char opaque[128];
};
void fl_sha256_begin(struct fl_sha256_ctx *ctx);
void fl_sha256_update(struct fl_sha256_ctx *ctx, const void *data, size_t len);
void fl_sha256_end(struct fl_sha256_ctx *ctx, uint8_t out[FL_SHA256_LEN]);

void fl_ed25519_keypair(uint8_t pk[FL_ED25519_PK_LEN], uint8_t sk[FL_ED25519_SK_LEN]);
/* The key pair derived from a 32-byte seed: the same seed, the same keys.
 * For simulators and tests that must recreate a fleet's keys, never for a
 * real device (its seed must come from fl_random). */
void fl_ed25519_seed_keypair(uint8_t pk[FL_ED25519_PK_LEN], uint8_t sk[FL_ED25519_SK_LEN],
			     const uint8_t seed[32]);
void fl_ed25519_sign(uint8_t sig[FL_ED25519_SIG_LEN], const void *msg, size_t len,
		     const uint8_t sk[FL_ED25519_SK_LEN]);
/* 0 when sig is pk's signature over msg, FL_EUNAUTH otherwise. */
int fl_ed25519_verify(const uint8_t sig[FL_ED25519_SIG_LEN], const void *msg, size_t len,
		      const uint8_t pk[FL_ED25519_PK_LEN]);
/* The public half of a secret key. */
void fl_ed25519_sk_to_pk(uint8_t pk[FL_ED25519_PK_LEN], const uint8_t sk[FL_ED25519_SK_LEN]);
/* Key id: hex of the first 16 bytes of SHA-256(pk); out holds 33 bytes. */
void fl_keyid(char out[FL_KEYID_LEN + 1], const uint8_t pk[FL_ED25519_PK_LEN]);

/* Standard base64 with padding. out must hold fl_b64_len(len) bytes (NUL incl). */
size_t fl_b64_len(size_t len);
void fl_b64_encode(char *out, const void *in, size_t len);
/* Decodes standard base64 (padding required) into out (cap bytes); sets *outlen.
 * FL_EINVAL on bad input or when the result would not fit. */
int fl_b64_decode(uint8_t *out, size_t cap, size_t *outlen, const char *in, size_t inlen);
/* base64url without padding, for tokens and nonces. */
void fl_b64url_encode(char *out, const void *in, size_t len);

void fl_hex_encode(char *out, const void *in, size_t len);    /* out: 2*len+1 */
int fl_hex_decode(uint8_t *out, size_t len, const char *hex); /* exact length */

/* Constant-time equality of two buffers of equal length: 1 equal, 0 not. */
int fl_memeq(const void *a, const void *b, size_t len);

/* A new random secret "PREFIX_" + base64url(nbytes random); free() it. */
char *fl_token_new(const char *prefix, size_t nbytes);

/* Argon2id password hash (libsodium string form); out holds 128 bytes. */
int fl_pwhash(char out[128], const char *password);
/* 0 when password matches hash, FL_EUNAUTH otherwise. */
int fl_pwhash_verify(const char *hash, const char *password);

#endif

/* test_crypto.c - digests, codecs and Ed25519 against published vectors. */
#include <stdlib.h>
#include <string.h>

#include "fairlead/crypto.h"
#include "fl_test.h"

static void init(void)
{
	cr_assert_eq(fl_crypto_init(), 0);
}

TestSuite(crypto, .init = init);

/* RFC 8032 §7.1, TEST 1 (empty message). */
static const char rfc_seed[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char rfc_pk[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char rfc_sig[] = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
			      "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

Test(crypto, sha256_known_vectors)
{
	char hex[65];

	fl_sha256_hex(hex, "abc", 3);
	cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	fl_sha256_hex(hex, "", 0);
	cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(crypto, sha256_streaming_matches_one_shot)
{
	struct fl_sha256_ctx ctx;
	uint8_t d[FL_SHA256_LEN];
	char hex[65], chunk[1000];

	memset(chunk, 'a', sizeof(chunk));
	fl_sha256_begin(&ctx);
	for (int i = 0; i < 1000; i++)
		fl_sha256_update(&ctx, chunk, sizeof(chunk));
	fl_sha256_end(&ctx, d);
	fl_hex_encode(hex, d, sizeof(d));
	/* FIPS 180-2: one million 'a'. */
	cr_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static const struct {
	const char *in, *out;
} b64_vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

Test(crypto, base64_rfc4648_vectors_round_trip)
{
	for (size_t i = 0; i < sizeof(b64_vectors) / sizeof(b64_vectors[0]); i++) {
		const char *in = b64_vectors[i].in;
		char enc[32];
		uint8_t dec[32];
		size_t n = 99;

		cr_assert_eq(fl_b64_len(strlen(in)), strlen(b64_vectors[i].out) + 1);
		fl_b64_encode(enc, in, strlen(in));
		cr_assert_str_eq(enc, b64_vectors[i].out);
		cr_assert_eq(fl_b64_decode(dec, sizeof(dec), &n, enc, strlen(enc)), 0, "%s", enc);
		cr_assert_eq(n, strlen(in));
		cr_assert_eq(memcmp(dec, in, n), 0);
	}
}

Test(crypto, base64_round_trip_binary)
{
	uint8_t raw[257], dec[257];
	char enc[400];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 7 + 3);
	fl_b64_encode(enc, raw, sizeof(raw));
	cr_assert_eq(fl_b64_decode(dec, sizeof(dec), &n, enc, strlen(enc)), 0);
	cr_assert_eq(n, sizeof(raw));
	cr_assert_eq(memcmp(raw, dec, n), 0);
}

Test(crypto, base64_bad_input_rejected)
{
	static const char *const bad[] = {
	    "Zg",	 /* padding required */
	    "Zg=",	 /* short padding */
	    "Z===",	 /* too much padding */
	    "Zm9v!",	 /* bad character */
	    "Zm9v\n",	 /* trailing byte */
	    "Zm9vYg==x", /* data after padding */
	    "Zm-v",	 /* base64url alphabet */
	    "Zm_v",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t out[16];
		size_t n = 0;

		cr_assert_eq(fl_b64_decode(out, sizeof(out), &n, bad[i], strlen(bad[i])), FL_EINVAL,
			     "'%s' accepted", bad[i]);
	}
}

Test(crypto, base64_decode_refuses_when_output_does_not_fit)
{
	uint8_t out[5];
	size_t n = 0;

	cr_assert_eq(fl_b64_decode(out, sizeof(out), &n, "Zm9vYmFy", 8), FL_EINVAL);
}

Test(crypto, base64_decode_fills_exact_capacity)
{
	uint8_t out[6];
	size_t n = 0;

	cr_assert_eq(fl_b64_decode(out, sizeof(out), &n, "Zm9vYmFy", 8), 0);
	cr_assert_eq(n, 6);
	cr_assert_eq(memcmp(out, "foobar", 6), 0);
}

Test(crypto, hex_codec)
{
	uint8_t out[3];
	char hex[7];

	cr_assert_eq(fl_hex_decode(out, 3, "00ff7A"), 0);
	cr_assert_eq(out[0], 0x00);
	cr_assert_eq(out[1], 0xff);
	cr_assert_eq(out[2], 0x7a);
	fl_hex_encode(hex, out, 3);
	cr_assert_str_eq(hex, "00ff7a");
	cr_assert_eq(fl_hex_decode(out, 3, "00ff7"), FL_EINVAL);
	cr_assert_eq(fl_hex_decode(out, 3, "00ff7a00"), FL_EINVAL);
	cr_assert_eq(fl_hex_decode(out, 3, "00fg7a"), FL_EINVAL);
}

Test(crypto, keyid_is_32_hex_of_sha256_prefix)
{
	uint8_t pk[FL_ED25519_PK_LEN], sk[FL_ED25519_SK_LEN];
	char keyid[FL_KEYID_LEN + 1];

	cr_assert_eq(fl_hex_decode(pk, sizeof(pk), rfc_pk), 0);
	memset(keyid, 'X', sizeof(keyid));
	fl_keyid(keyid, pk);
	cr_assert_eq(strlen(keyid), FL_KEYID_LEN);
	cr_assert_eq(FL_KEYID_LEN, 32);
	cr_assert_str_eq(keyid, "21fe31dfa154a261626bf854046fd227");

	fl_ed25519_keypair(pk, sk);
	fl_keyid(keyid, pk);
	cr_assert_eq(strlen(keyid), 32);
	for (int i = 0; i < 32; i++)
		cr_assert(strchr("0123456789abcdef", keyid[i]) != NULL);
}

Test(crypto, ed25519_rfc8032_vector)
{
	uint8_t sk[FL_ED25519_SK_LEN], pk[FL_ED25519_PK_LEN], pk2[FL_ED25519_PK_LEN];
	uint8_t want[FL_ED25519_SIG_LEN], sig[FL_ED25519_SIG_LEN];

	/* libsodium's secret key is seed || public key. */
	cr_assert_eq(fl_hex_decode(sk, 32, rfc_seed), 0);
	cr_assert_eq(fl_hex_decode(pk, 32, rfc_pk), 0);
	memcpy(sk + 32, pk, 32);
	cr_assert_eq(fl_hex_decode(want, sizeof(want), rfc_sig), 0);
	fl_ed25519_sk_to_pk(pk2, sk);
	cr_assert_eq(memcmp(pk, pk2, 32), 0);
	fl_ed25519_sign(sig, "", 0, sk);
	cr_assert_eq(memcmp(sig, want, sizeof(sig)), 0);
	cr_assert_eq(fl_ed25519_verify(want, "", 0, pk), 0);
	cr_assert_eq(fl_ed25519_verify(want, "x", 1, pk), FL_EUNAUTH);
}

Test(crypto, ed25519_sign_verify_and_tamper)
{
	uint8_t pk[FL_ED25519_PK_LEN], sk[FL_ED25519_SK_LEN];
	uint8_t pk2[FL_ED25519_PK_LEN], sk2[FL_ED25519_SK_LEN];
	uint8_t sig[FL_ED25519_SIG_LEN];
	char msg[] = "fairlead-enroll-v1\nchallenge\ndev-1\nKEY";

	fl_ed25519_keypair(pk, sk);
	fl_ed25519_keypair(pk2, sk2);
	fl_ed25519_sign(sig, msg, strlen(msg), sk);
	cr_assert_eq(fl_ed25519_verify(sig, msg, strlen(msg), pk), 0);
	/* Wrong key. */
	cr_assert_eq(fl_ed25519_verify(sig, msg, strlen(msg), pk2), FL_EUNAUTH);
	/* Shorter message. */
	cr_assert_eq(fl_ed25519_verify(sig, msg, strlen(msg) - 1, pk), FL_EUNAUTH);
	/* Every byte of the signature matters. */
	for (size_t i = 0; i < sizeof(sig); i += 7) {
		sig[i] ^= 0x01;
		cr_assert_eq(fl_ed25519_verify(sig, msg, strlen(msg), pk), FL_EUNAUTH, "byte %zu",
			     i);
		sig[i] ^= 0x01;
	}
	/* A flipped message bit. */
	msg[3] ^= 0x20;
	cr_assert_eq(fl_ed25519_verify(sig, msg, strlen(msg), pk), FL_EUNAUTH);
}

Test(crypto, memeq)
{
	cr_assert_eq(fl_memeq("abcd", "abcd", 4), 1);
	cr_assert_eq(fl_memeq("abcd", "abce", 4), 0);
	cr_assert_eq(fl_memeq("abcd", "abce", 3), 1);
}

Test(crypto, token_new_has_prefix_and_is_random)
{
	char *a = fl_token_new("flt", 32), *b = fl_token_new("flt", 32);

	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_eq(strncmp(a, "flt_", 4), 0);
	/* 32 bytes in base64url without padding: 43 characters. */
	cr_assert_eq(strlen(a), 4 + 43);
	cr_assert_str_neq(a, b);
	for (const char *p = a + 4; *p; p++)
		cr_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
				 *p) != NULL);
	free(a);
	free(b);
}

/* RFC 4231 test cases 1, 2 and 6 (a key longer than the block), the message
 * split in two parts anywhere. */
Test(crypto, hmac_sha256_rfc4231)
{
	static const struct {
		const char *key_hex, *msg, *want;
	} cases[] = {
	    {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There",
	     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
	    {"4a656665", "what do ya want for nothing?",
	     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaa",
	     "Test Using Larger Than Block-Size Key - Hash Key First",
	     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t key[256], mac[FL_SHA256_LEN];
		size_t klen = strlen(cases[i].key_hex) / 2, mlen = strlen(cases[i].msg);
		char hex[65];

		cr_assert_eq(fl_hex_decode(key, klen, cases[i].key_hex), 0);
		for (size_t cut = 0; cut <= mlen; cut += 3) {
			fl_hmac_sha256(mac, key, klen, cases[i].msg, cut, cases[i].msg + cut,
				       mlen - cut);
			fl_hex_encode(hex, mac, sizeof(mac));
			cr_assert_str_eq(hex, cases[i].want, "case %zu cut %zu", i, cut);
		}
	}
}

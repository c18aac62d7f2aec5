/*
 * fuzz_codec.c - the small decoders and validators that see raw header
 * values, ids from URLs and CLI arguments: base64, hex, durations, "K=V"
 * labels and ids.
 */
#include "fairlead/crypto.h"
#include "fairlead/util.h"
#include "fuzz.h"

static int fuzz_one(const uint8_t *data, size_t size)
{
	char *s = fz_strndup(data, size);
	struct fl_err err = {0, ""};

	if (fl_crypto_init() < 0)
		abort();

	/* base64: a signature-sized output (the too-long branch) and one that
	 * always fits; in is given with a length, unterminated. */
	{
		uint8_t small[FL_ED25519_SIG_LEN], *big = malloc(size + 1);
		size_t n = 0;

		FZ_CHECK(big != NULL);
		if (fl_b64_decode(small, sizeof(small), &n, (const char *)data, size) == 0)
			FZ_CHECK(n <= sizeof(small));
		if (fl_b64_decode(big, size + 1, &n, (const char *)data, size) == 0) {
			/* Padding is required, so the decoded length is exact. */
			char *enc = malloc(fl_b64_len(n));

			FZ_CHECK(n <= size && enc != NULL);
			fl_b64_encode(enc, big, n);
			FZ_CHECK(strlen(enc) == size);
			free(enc);
		}
		free(big);
	}

	/* hex: the exact-length contract, at the input's length and at a key's. */
	{
		uint8_t key[FL_ED25519_PK_LEN], *out = malloc(size / 2 + 1);

		FZ_CHECK(out != NULL);
		/* s ends at the first NUL of the input, as a header value would */
		if (fl_hex_decode(out, size / 2, s) == 0)
			FZ_CHECK(strlen(s) == 2 * (size / 2));
		(void)fl_hex_decode(key, sizeof(key), s);
		free(out);
	}

	{
		int64_t secs = 0;

		if (fl_duration_parse(&secs, s, &err) == 0)
			FZ_CHECK(secs > 0);
	}

	/* Tight capacities reach the truncation checks; what is accepted must
	 * satisfy the validators. */
	{
		char k[8], v[8], bk[128], bv[128];

		if (fl_label_parse(k, sizeof(k), v, sizeof(v), s, &err) == 0)
			FZ_CHECK(strlen(k) < sizeof(k) && strlen(v) < sizeof(v));
		if (fl_label_parse(bk, sizeof(bk), bv, sizeof(bv), s, &err) == 0)
			FZ_CHECK(fl_label_key_valid(bk) && fl_label_value_valid(bv));
	}

	if (fl_id_valid(s)) {
		size_t n = strlen(s);

		/* The promise that lets ids become file names. */
		FZ_CHECK(n >= 1 && n <= 64 && s[0] != '.' && s[0] != '-');
		FZ_CHECK(!strchr(s, '/') && !strstr(s, ".."));
	}
	free(s);
	return 0;
}

FZ_TARGET(fuzz_one)

#include "fairlead/httpsig.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COVERED "(\"@method\" \"@path\" \"@query\" \"content-digest\")"
#define LABEL	"fl="

void fl_httpsig_digest(char out[FL_DIGEST_LEN], const void *body, size_t len)
{
	uint8_t d[FL_SHA256_LEN];
	char b64[48];

	fl_sha256(d, body ? body : "", len);
	fl_b64_encode(b64, d, sizeof(d));
	snprintf(out, FL_DIGEST_LEN, "sha-256=:%s:", b64);
}

/* Decimal digits of v, appended: the base is built on every signed request,
 * and vsnprintf showed in its profile. */
static int put_i64(struct fl_buf *b, int64_t v)
{
	char d[24], *p = d + sizeof(d);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return fl_buf_put(b, p, (size_t)(d + sizeof(d) - p));
}

static int params_fmt(struct fl_buf *b, const struct fl_sig_params *p)
{
	int rc;

	if ((rc = fl_buf_puts(b, COVERED ";created=")) < 0 || (rc = put_i64(b, p->created)) < 0 ||
	    (rc = fl_buf_puts(b, ";expires=")) < 0 || (rc = put_i64(b, p->expires)) < 0 ||
	    (rc = fl_buf_puts(b, ";nonce=\"")) < 0 || (rc = fl_buf_puts(b, p->nonce)) < 0 ||
	    (rc = fl_buf_puts(b, "\";keyid=\"")) < 0 || (rc = fl_buf_puts(b, p->keyid)) < 0)
		return rc;
	return fl_buf_puts(b, "\";tag=\"" FL_SIG_TAG "\"");
}

int fl_httpsig_base(struct fl_buf *out, const char *method, const char *path, const char *query,
		    const char *digest, const struct fl_sig_params *p)
{
	int rc;

	if ((rc = fl_buf_puts(out, "\"@method\": ")) < 0 || (rc = fl_buf_puts(out, method)) < 0 ||
	    (rc = fl_buf_puts(out, "\n\"@path\": ")) < 0 || (rc = fl_buf_puts(out, path)) < 0 ||
	    (rc = fl_buf_puts(out, "\n\"@query\": ?")) < 0 ||
	    (rc = fl_buf_puts(out, query ? query : "")) < 0 ||
	    (rc = fl_buf_puts(out, "\n\"content-digest\": ")) < 0 ||
	    (rc = fl_buf_puts(out, digest)) < 0 ||
	    (rc = fl_buf_puts(out, "\n\"@signature-params\": ")) < 0)
		return rc;
	return params_fmt(out, p);
}

int fl_httpsig_sign(struct fl_buf *sig_input, struct fl_buf *signature, const char *method,
		    const char *path, const char *query, const char *digest, const char *keyid,
		    const uint8_t sk[FL_ED25519_SK_LEN], int64_t now, int ttl)
{
	struct fl_sig_params p;
	struct fl_buf base = FL_BUF_INIT;
	uint8_t raw[16], sig[FL_ED25519_SIG_LEN];
	char b64[96];
	int rc;

	memset(&p, 0, sizeof(p));
	p.created = now;
	p.expires = now + (ttl > 0 && ttl <= FL_SIG_MAX_TTL ? ttl : FL_SIG_DEFAULT_TTL);
	fl_random(raw, sizeof(raw));
	fl_b64url_encode(p.nonce, raw, sizeof(raw));
	snprintf(p.keyid, sizeof(p.keyid), "%s", keyid);

	if ((rc = fl_httpsig_base(&base, method, path, query, digest, &p)) < 0)
		goto cleanup;
	fl_ed25519_sign(sig, base.ptr, base.len, sk);
	fl_b64_encode(b64, sig, sizeof(sig));
	if ((rc = fl_buf_puts(sig_input, LABEL)) < 0 || (rc = params_fmt(sig_input, &p)) < 0)
		goto cleanup;
	rc = fl_buf_addf(signature, LABEL ":%s:", b64);
cleanup:
	fl_buf_release(&base);
	return rc;
}

/* Reads a decimal integer parameter value. */
static int parse_int(int64_t *out, const char **pp)
{
	const char *p = *pp;
	int64_t v = 0;
	int n = 0;

	while (isdigit((unsigned char)*p) && n < 15) {
		v = v * 10 + (*p - '0');
		p++;
		n++;
	}
	if (n == 0 || isdigit((unsigned char)*p))
		return -1;
	*out = v;
	*pp = p;
	return 0;
}

/* Reads a quoted string parameter of safe characters into out. */
static int parse_qstr(char *out, size_t cap, const char **pp)
{
	const char *p = *pp;
	size_t n = 0;

	if (*p++ != '"')
		return -1;
	while (*p && *p != '"') {
		unsigned char c = (unsigned char)*p;

		if (!(isalnum(c) || c == '-' || c == '_' || c == '.') || n + 1 >= cap)
			return -1;
		out[n++] = *p++;
	}
	if (*p != '"' || n == 0)
		return -1;
	out[n] = '\0';
	*pp = p + 1;
	return 0;
}

int fl_httpsig_parse(struct fl_sig_params *out, uint8_t sig[FL_ED25519_SIG_LEN],
		     const char *sig_input, const char *signature, struct fl_err *err)
{
	const char *p;
	char tag[32] = "", alg[32] = "";
	int have_c = 0, have_e = 0, have_n = 0, have_k = 0;
	size_t slen, siglen;

	memset(out, 0, sizeof(*out));
	if (!sig_input || !signature)
		return fl_err_set(err, FL_EUNAUTH, "request is not signed");
	if (strncmp(sig_input, LABEL COVERED, strlen(LABEL COVERED)) != 0)
		return fl_err_set(err, FL_EUNAUTH,
				  "signature must cover "
				  "@method, @path, @query and content-digest");
	p = sig_input + strlen(LABEL COVERED);
	while (*p) {
		char name[16];
		size_t n = 0;
		int rc = -1;

		if (*p++ != ';')
			return fl_err_set(err, FL_EUNAUTH, "malformed Signature-Input");
		while (islower((unsigned char)*p) && n + 1 < sizeof(name))
			name[n++] = *p++;
		name[n] = '\0';
		if (*p++ != '=')
			return fl_err_set(err, FL_EUNAUTH, "malformed Signature-Input");
		if (strcmp(name, "created") == 0 && !have_c++)
			rc = parse_int(&out->created, &p);
		else if (strcmp(name, "expires") == 0 && !have_e++)
			rc = parse_int(&out->expires, &p);
		else if (strcmp(name, "nonce") == 0 && !have_n++)
			rc = parse_qstr(out->nonce, sizeof(out->nonce), &p);
		else if (strcmp(name, "keyid") == 0 && !have_k++)
			rc = parse_qstr(out->keyid, sizeof(out->keyid), &p);
		else if (strcmp(name, "tag") == 0 && !tag[0])
			rc = parse_qstr(tag, sizeof(tag), &p);
		else if (strcmp(name, "alg") == 0 && !alg[0])
			rc = parse_qstr(alg, sizeof(alg), &p);
		if (rc < 0)
			return fl_err_set(err, FL_EUNAUTH,
					  "bad or repeated signature parameter '%s'", name);
	}
	if (!have_c || !have_e || !have_n || !have_k || !tag[0])
		return fl_err_set(err, FL_EUNAUTH,
				  "signature needs created, expires, nonce, keyid and tag");
	if (strcmp(tag, FL_SIG_TAG) != 0)
		return fl_err_set(err, FL_EUNAUTH, "unknown signature tag");
	/* The algorithm comes from the key registry; a request naming another one is
	 * an algorithm-confusion attempt, not a preference. */
	if (alg[0] && strcmp(alg, "ed25519") != 0)
		return fl_err_set(err, FL_EUNAUTH, "signature algorithm '%s' refused", alg);
	if (strlen(out->nonce) < 16)
		return fl_err_set(err, FL_EUNAUTH, "signature nonce too short");

	slen = strlen(signature);
	if (slen < 6 || strncmp(signature, LABEL ":", 4) != 0 || signature[slen - 1] != ':')
		return fl_err_set(err, FL_EUNAUTH, "malformed Signature header");
	if (fl_b64_decode(sig, FL_ED25519_SIG_LEN, &siglen, signature + 4, slen - 5) < 0 ||
	    siglen != FL_ED25519_SIG_LEN)
		return fl_err_set(err, FL_EUNAUTH, "malformed Signature value");
	return 0;
}

int fl_httpsig_verify(const struct fl_sig_params *p, const uint8_t sig[FL_ED25519_SIG_LEN],
		      const uint8_t pk[FL_ED25519_PK_LEN], const char *method, const char *path,
		      const char *query, const char *digest_hdr, const void *body, size_t len,
		      int64_t now, struct fl_err *err)
{
	char digest[FL_DIGEST_LEN];
	struct fl_buf base = FL_BUF_INIT;
	int rc;

	if (p->created > now + FL_SIG_SKEW)
		return fl_err_set(err, FL_EUNAUTH, "signature created in the future");
	if (p->expires <= p->created || p->expires > p->created + FL_SIG_MAX_TTL)
		return fl_err_set(err, FL_EUNAUTH, "signature expiry out of range");
	if (p->expires < now - FL_SIG_SKEW)
		return fl_err_set(err, FL_EUNAUTH, "signature expired");
	if (!digest_hdr)
		return fl_err_set(err, FL_EUNAUTH, "Content-Digest header missing");
	fl_httpsig_digest(digest, body, len);
	if (strlen(digest_hdr) != strlen(digest) || !fl_memeq(digest, digest_hdr, strlen(digest)))
		return fl_err_set(err, FL_EUNAUTH, "body does not match Content-Digest");
	if ((rc = fl_httpsig_base(&base, method, path, query, digest, p)) < 0)
		return fl_err_set(err, rc, "cannot build signature base");
	rc = fl_ed25519_verify(sig, base.ptr, base.len, pk);
	fl_buf_release(&base);
	if (rc < 0)
		return fl_err_set(err, FL_EUNAUTH, "bad signature");
	return 0;
}

/*
 * pki.c - CA and server certificate generation and checking (OpenSSL 3).
 */
#include "pki/pki.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define PKI_CA_DAYS	3650
#define PKI_SERVER_DAYS 825
/* notBefore lies a day in the past, for the CA and the server cert alike:
 * a device whose clock is hours behind ours (no RTC battery, NTP not yet
 * synced after boot) must still accept a cert made just now. */
#define PKI_BACKDATE_SECS 86400
#define PKI_SERIAL_BITS	  128

struct pki_ext {
	int nid;
	const char *value;
};

/* Records what failed plus OpenSSL's newest reason, and empties OpenSSL's
 * per-thread error queue so that a later, unrelated failure is not blamed on
 * this one. */
static int pki_fail(struct fl_err *err, int code, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	if (reason)
		return fl_err_set(err, code, "%s: %s", what, reason);
	return fl_err_set(err, code, "%s", what);
}

static int pki_path(char *out, size_t size, const char *dir, const char *name, struct fl_err *err)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= size)
		return fl_err_set(err, FL_EINVAL, "tls dir '%s': path too long", dir);
	return 0;
}

/* The machine's host name, lower case, or "" when it is not a plain DNS name:
 * it is pasted into an OpenSSL extension string where a comma or colon would
 * add names we never meant to certify, so anything unusual is left out. */
static void pki_hostname(char *out, size_t size)
{
	char h[256];
	size_t i, len;

	out[0] = '\0';
	if (gethostname(h, sizeof(h) - 1) != 0)
		return;
	h[sizeof(h) - 1] = '\0';
	len = strlen(h);
	if (len == 0 || len > 253 || len >= size || h[0] == '-' || h[0] == '.' || h[len - 1] == '.')
		return;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)h[i];

		if (!isalnum(c) && c != '-' && c != '.')
			return;
		h[i] = (char)tolower(c);
	}
	if (strcmp(h, "localhost") == 0)
		return;
	memcpy(out, h, len + 1);
}

/*
 * Makes a cert for key, signed by issuer_key. issuer == NULL makes it
 * self-signed. Exts are applied in order, so a subjectKeyIdentifier must
 * come before an authorityKeyIdentifier that refers to it.
 */
static int pki_make_cert(X509 **out, EVP_PKEY *key, const char *cn, X509 *issuer,
			 EVP_PKEY *issuer_key, long days, const struct pki_ext *exts, size_t n_exts,
			 struct fl_err *err)
{
	X509 *x = NULL;
	BIGNUM *serial = NULL;
	X509_NAME *name;
	X509V3_CTX v3;
	size_t i;
	int rc = 0;

	*out = NULL;
	x = X509_new();
	serial = BN_new();
	if (!x || !serial) {
		rc = fl_err_set(err, FL_ENOMEM, "pki: out of memory");
		goto cleanup;
	}
	/* A random serial keeps two CAs made on one host from issuing look-alike
	 * certs, and is what CAB rules ask for (at least 64 random bits). */
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !BN_rand(serial, PKI_SERIAL_BITS, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) ||
	    !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -PKI_BACKDATE_SECS) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) ||
	    !X509_set_pubkey(x, key)) {
		rc = pki_fail(err, FL_ERROR, "pki: cert fields");
		goto cleanup;
	}
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Fairlead",
					-1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
					0) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name)) {
		rc = pki_fail(err, FL_ERROR, "pki: cert name");
		goto cleanup;
	}
	for (i = 0; i < n_exts; i++) {
		X509_EXTENSION *ext;
		int ok;

		X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
		ext = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].value);
		ok = ext && X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
		if (!ok) {
			rc = pki_fail(err, FL_ERROR, "pki: cert extension");
			goto cleanup;
		}
	}
	if (X509_sign(x, issuer_key, EVP_sha256()) <= 0) {
		rc = pki_fail(err, FL_ERROR, "pki: signing cert");
		goto cleanup;
	}
	*out = x;
	x = NULL;
cleanup:
	BN_free(serial);
	X509_free(x);
	return rc;
}

/* Writes data to dir/name through a temp file that is fsynced and then
 * renamed over name, so readers see the old file or the whole new one. */
static int pki_write_file(int dirfd, const char *dir, const char *name, mode_t mode,
			  const char *data, size_t len, struct fl_err *err)
{
	char tmp[64];
	size_t off = 0;
	int close_rc;
	int fd = -1;
	int rc = 0;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	/* Only left behind by a crash; we hold the directory lock. */
	if (unlinkat(dirfd, tmp, 0) != 0 && errno != ENOENT) {
		rc = fl_err_set(err, FL_ERROR, "tls dir '%s': removing %s: %s", dir, tmp,
				strerror(errno));
		goto cleanup;
	}
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	/* openat's mode is filtered by the umask; the files' modes are part of
	 * the contract, so set them exactly. */
	if (fd < 0 || fchmod(fd, mode) != 0) {
		rc = fl_err_set(err, FL_ERROR, "tls dir '%s': creating %s: %s", dir, tmp,
				strerror(errno));
		goto cleanup;
	}
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fl_err_set(err, FL_ERROR, "tls dir '%s': writing %s: %s", dir, tmp,
					strerror(errno));
			goto cleanup;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0) {
		rc = fl_err_set(err, FL_ERROR, "tls dir '%s': syncing %s: %s", dir, tmp,
				strerror(errno));
		goto cleanup;
	}
	close_rc = close(fd);
	fd = -1;
	if (close_rc != 0) {
		rc = fl_err_set(err, FL_ERROR, "tls dir '%s': closing %s: %s", dir, tmp,
				strerror(errno));
		goto cleanup;
	}
	if (renameat(dirfd, tmp, dirfd, name) != 0) {
		rc = fl_err_set(err, FL_ERROR, "tls dir '%s': renaming %s: %s", dir, name,
				strerror(errno));
		goto cleanup;
	}
cleanup:
	if (fd >= 0)
		close(fd);
	if (rc)
		unlinkat(dirfd, tmp, 0);
	return rc;
}

/* Serialises certs and keys in order into one PEM file. Key material goes
 * through a secure-memory BIO, which wipes its buffer when freed. */
static int pki_write_pem(int dirfd, const char *dir, const char *name, mode_t mode, X509 *cert,
			 EVP_PKEY *key, struct fl_err *err)
{
	BIO *bio = BIO_new(key ? BIO_s_secmem() : BIO_s_mem());
	char *data;
	long len;
	int rc = 0;

	if (!bio) {
		rc = fl_err_set(err, FL_ENOMEM, "pki: out of memory");
		goto cleanup;
	}
	if ((cert && !PEM_write_bio_X509(bio, cert)) ||
	    (key && !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))) {
		rc = pki_fail(err, FL_ERROR, "pki: encoding PEM");
		goto cleanup;
	}
	len = BIO_get_mem_data(bio, &data);
	if (len <= 0) {
		rc = fl_err_set(err, FL_ERROR, "pki: encoding PEM: empty");
		goto cleanup;
	}
	rc = pki_write_file(dirfd, dir, name, mode, data, (size_t)len, err);
cleanup:
	BIO_free(bio);
	return rc;
}

/* Creates the directory if needed and returns it open and locked. */
static int pki_open_dir(int *out_fd, const char *dir, struct fl_err *err)
{
	int fd;

	*out_fd = -1;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return fl_err_set(err, FL_ERROR, "tls dir '%s': %s", dir, strerror(errno));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fl_err_set(err, FL_ERROR, "tls dir '%s': %s", dir, strerror(errno));
	/* A pre-existing directory may be wider than 0700 (and mkdir obeys the
	 * umask); it holds private keys. The lock stops two concurrent inits
	 * from mixing their files. */
	if (fchmod(fd, 0700) != 0 || flock(fd, LOCK_EX) != 0) {
		int rc = fl_err_set(err, FL_ERROR, "tls dir '%s': %s", dir, strerror(errno));
		close(fd);
		return rc;
	}
	*out_fd = fd;
	return 0;
}

int cp_pki_init(const char *tls_dir, struct fl_err *err)
{
	EVP_PKEY *ca_key = NULL;
	EVP_PKEY *srv_key = NULL;
	X509 *ca = NULL;
	X509 *srv = NULL;
	unsigned char rnd[8];
	char ca_cn[64];
	char host[256];
	char san[512];
	struct stat st;
	int dirfd = -1;
	int rc;

	if (!tls_dir || !tls_dir[0])
		return fl_err_set(err, FL_EINVAL, "tls dir: empty path");
	rc = pki_open_dir(&dirfd, tls_dir, err);
	if (rc)
		goto cleanup;
	if (fstatat(dirfd, CP_PKI_CA_CERT, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		rc =
		    fl_err_set(err, FL_EEXISTS, "tls dir '%s': %s exists", tls_dir, CP_PKI_CA_CERT);
		goto cleanup;
	}

	/* The random part makes each installation's CA name distinct, so that a
	 * client pinning one fleet's CA can tell it from another's. */
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		rc = pki_fail(err, FL_ERROR, "pki: random bytes");
		goto cleanup;
	}
	snprintf(ca_cn, sizeof(ca_cn), "Fairlead CA %02x%02x%02x%02x%02x%02x%02x%02x", rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	pki_hostname(host, sizeof(host));
	snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1%s%s", host[0] ? ",DNS:" : "",
		 host);

	ca_key = EVP_EC_gen("P-256");
	srv_key = EVP_EC_gen("P-256");
	if (!ca_key || !srv_key) {
		rc = pki_fail(err, FL_ERROR, "pki: generating P-256 key");
		goto cleanup;
	}

	{
		const struct pki_ext ca_exts[] = {
		    {NID_basic_constraints, "critical,CA:TRUE"},
		    {NID_key_usage, "critical,keyCertSign,cRLSign"},
		    {NID_subject_key_identifier, "hash"},
		};
		const struct pki_ext srv_exts[] = {
		    {NID_basic_constraints, "critical,CA:FALSE"},
		    {NID_key_usage, "critical,digitalSignature"},
		    {NID_ext_key_usage, "serverAuth"},
		    {NID_subject_alt_name, san},
		    {NID_subject_key_identifier, "hash"},
		    {NID_authority_key_identifier, "keyid:always"},
		};

		rc = pki_make_cert(&ca, ca_key, ca_cn, NULL, ca_key, PKI_CA_DAYS, ca_exts,
				   sizeof(ca_exts) / sizeof(ca_exts[0]), err);
		if (rc)
			goto cleanup;
		rc = pki_make_cert(&srv, srv_key, host[0] ? host : "localhost", ca, ca_key,
				   PKI_SERVER_DAYS, srv_exts,
				   sizeof(srv_exts) / sizeof(srv_exts[0]), err);
		if (rc)
			goto cleanup;
	}

	rc = pki_write_pem(dirfd, tls_dir, CP_PKI_CA_KEY, 0600, NULL, ca_key, err);
	if (!rc)
		rc = pki_write_pem(dirfd, tls_dir, CP_PKI_SERVER_KEY, 0600, NULL, srv_key, err);
	if (!rc)
		rc = pki_write_pem(dirfd, tls_dir, CP_PKI_SERVER_PEM, 0600, srv, srv_key, err);
	if (rc)
		goto cleanup;
	/* ca.pem is the commit marker: the other names must be durable before
	 * it appears, so a crash never leaves a ca.pem without its siblings. */
	if (fsync(dirfd) != 0) {
		rc = fl_err_set(err, FL_ERROR, "tls dir '%s': sync: %s", tls_dir, strerror(errno));
		goto cleanup;
	}
	rc = pki_write_pem(dirfd, tls_dir, CP_PKI_CA_CERT, 0644, ca, NULL, err);
	if (rc)
		goto cleanup;
	if (fsync(dirfd) != 0) {
		rc = fl_err_set(err, FL_ERROR, "tls dir '%s': sync: %s", tls_dir, strerror(errno));
		goto cleanup;
	}
cleanup:
	if (dirfd >= 0)
		close(dirfd); /* also drops the flock */
	X509_free(srv);
	X509_free(ca);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(ca_key);
	return rc;
}

static int pki_open_file(FILE **out, const char *dir, const char *name, struct fl_err *err)
{
	char path[4096];
	int rc;

	*out = NULL;
	rc = pki_path(path, sizeof(path), dir, name, err);
	if (rc)
		return rc;
	*out = fopen(path, "re");
	if (!*out)
		return fl_err_set(err, errno == ENOENT ? FL_ENOTFOUND : FL_ERROR,
				  "tls dir '%s': %s: %s", dir, name, strerror(errno));
	return 0;
}

int cp_pki_check(const char *tls_dir, struct fl_err *err)
{
	FILE *f = NULL;
	X509 *ca = NULL;
	X509 *srv = NULL;
	EVP_PKEY *key = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *sctx = NULL;
	int rc;

	if (!tls_dir || !tls_dir[0])
		return fl_err_set(err, FL_EINVAL, "tls dir: empty path");
	rc = pki_open_file(&f, tls_dir, CP_PKI_CA_CERT, err);
	if (rc)
		goto cleanup;
	ca = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	f = NULL;
	if (!ca) {
		rc = pki_fail(err, FL_ERROR, "tls dir: reading " CP_PKI_CA_CERT);
		goto cleanup;
	}

	/* server.pem is what the HTTPS server loads, so check that one file rather
	 * than server.key: cert first, then its key. */
	rc = pki_open_file(&f, tls_dir, CP_PKI_SERVER_PEM, err);
	if (rc)
		goto cleanup;
	srv = PEM_read_X509(f, NULL, NULL, NULL);
	key = srv ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	fclose(f);
	f = NULL;
	if (!srv || !key) {
		rc = pki_fail(err, FL_ERROR, "tls dir: reading " CP_PKI_SERVER_PEM);
		goto cleanup;
	}
	if (X509_check_private_key(srv, key) != 1) {
		rc = pki_fail(err, FL_ERROR,
			      "tls dir: " CP_PKI_SERVER_PEM ": key does not match certificate");
		goto cleanup;
	}

	store = X509_STORE_new();
	sctx = X509_STORE_CTX_new();
	if (!store || !sctx) {
		rc = fl_err_set(err, FL_ENOMEM, "pki: out of memory");
		goto cleanup;
	}
	if (!X509_STORE_add_cert(store, ca) || !X509_STORE_CTX_init(sctx, store, srv, NULL) ||
	    !X509_STORE_CTX_set_purpose(sctx, X509_PURPOSE_SSL_SERVER)) {
		rc = pki_fail(err, FL_ERROR, "pki: verify setup");
		goto cleanup;
	}
	if (X509_verify_cert(sctx) != 1) {
		int e = X509_STORE_CTX_get_error(sctx);
		int code = (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID)
			       ? FL_EGONE
			       : FL_ERROR;

		ERR_clear_error();
		rc = fl_err_set(err, code, "tls dir '%s': %s: %s", tls_dir, CP_PKI_SERVER_PEM,
				X509_verify_cert_error_string(e));
		goto cleanup;
	}
cleanup:
	if (f)
		fclose(f);
	X509_STORE_CTX_free(sctx);
	X509_STORE_free(store);
	EVP_PKEY_free(key);
	X509_free(srv);
	X509_free(ca);
	return rc;
}

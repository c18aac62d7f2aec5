/*
 * cmd_key.c - `fairlead key`: offline Ed25519 signing keys for root and
 * release metadata, and the file helpers the offline commands share.
 *
 * Private keys never leave the machine that generated them: the server has
 * no command that accepts one. A key file is written once (O_EXCL) with mode
 * 0600; `key public` extracts the part to hand to a root ceremony.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fairlead/crypto.h"
#include "fairlead/envelope.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/util.h"

int cli_write_new(const char *path, const void *data, size_t len, unsigned mode, struct fl_err *err)
{
	const char *p = data;
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
	if (fd < 0) {
		if (errno == EEXIST)
			return fl_err_set(err, FL_EEXISTS, "'%s' exists; not overwriting it", path);
		return fl_err_set(err, FL_ERROR, "cannot create '%s': %s", path, strerror(errno));
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fl_err_set(err, FL_ERROR, "cannot write '%s': %s", path,
					strerror(errno));
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = fl_err_set(err, FL_ERROR, "cannot sync '%s': %s", path, strerror(errno));
	close(fd);
	/* A half-written key or metadata file is worse than none. */
	if (rc < 0)
		unlink(path);
	return rc;
}

int cli_key_load(struct cli_key *out, const char *path, int need_secret, struct fl_err *err)
{
	static const char *const allowed[] = {"keytype", "keyid", "public", "private", NULL};
	struct fl_buf b;
	const char *type = NULL, *keyid = NULL, *pub = NULL, *priv = NULL;
	uint8_t pk[FL_ED25519_PK_LEN];
	json_t *doc = NULL;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	fl_buf_init(&b, 64 * 1024);
	if ((rc = fl_fs_read(&b, path, err)) < 0 ||
	    (rc = fl_json_parse_object(&doc, b.ptr, b.len, err)) < 0 ||
	    (rc = fl_json_only(doc, allowed, err)) < 0 ||
	    (rc = fl_json_str(&type, doc, "keytype", 1, err)) < 0 ||
	    (rc = fl_json_str(&keyid, doc, "keyid", 1, err)) < 0 ||
	    (rc = fl_json_str(&pub, doc, "public", 1, err)) < 0 ||
	    (rc = fl_json_str(&priv, doc, "private", 0, err)) < 0)
		goto cleanup;
	rc = FL_EINVAL;
	if (strcmp(type, "ed25519") != 0) {
		fl_err_set(err, rc, "unsupported keytype '%.32s'", type);
		goto cleanup;
	}
	if (fl_b64_decode(out->pk, sizeof(out->pk), &n, pub, strlen(pub)) < 0 ||
	    n != sizeof(out->pk)) {
		fl_err_set(err, rc, "public must be base64 of 32 bytes");
		goto cleanup;
	}
	fl_keyid(out->keyid, out->pk);
	if (strcmp(out->keyid, keyid) != 0) {
		fl_err_set(err, rc, "keyid does not match the public key");
		goto cleanup;
	}
	if (priv) {
		if (fl_b64_decode(out->sk, sizeof(out->sk), &n, priv, strlen(priv)) < 0 ||
		    n != sizeof(out->sk)) {
			fl_err_set(err, rc, "private must be base64 of 64 bytes");
			goto cleanup;
		}
		fl_ed25519_sk_to_pk(pk, out->sk);
		if (!fl_memeq(pk, out->pk, sizeof(pk))) {
			fl_err_set(err, rc, "private key does not belong to the public key");
			goto cleanup;
		}
		out->has_secret = 1;
	} else if (need_secret) {
		fl_err_set(err, rc, "this is a public key file; signing needs the private key");
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (rc < 0) {
		fl_err_prefix(err, "key file '%s'", path);
		memset(out, 0, sizeof(*out));
	}
	json_decref(doc);
	/* The buffer held the private key text. */
	if (b.ptr)
		memset(b.ptr, 0, b.len);
	fl_buf_release(&b);
	return rc;
}

int cli_envelope_load(struct fl_envelope *out, const char *path, struct fl_err *err)
{
	struct fl_buf b;
	int rc;

	fl_buf_init(&b, FL_ENVELOPE_MAX_BYTES);
	if ((rc = fl_fs_read(&b, path, err)) < 0 ||
	    (rc = fl_envelope_parse(out, b.ptr, b.len, err)) < 0)
		fl_err_prefix(err, "'%s'", path);
	fl_buf_release(&b);
	return rc;
}

int cli_envelope_sign_file(struct cli_ctx *ctx, const char *path, const char *keyfile,
			   const char *type, struct fl_err *err)
{
	struct fl_envelope e;
	struct fl_buf b = FL_BUF_INIT;
	struct cli_key key;
	int rc;

	memset(&e, 0, sizeof(e));
	if (!keyfile)
		return cli_usage(ctx, err, "--key FILE is required");
	if ((rc = fl_crypto_init()) < 0)
		return fl_err_set(err, rc, "cannot initialise libsodium");
	if ((rc = cli_key_load(&key, keyfile, 1, err)) < 0 ||
	    (rc = cli_envelope_load(&e, path, err)) < 0)
		goto cleanup;
	if (strcmp(e.type, type) != 0) {
		rc = fl_err_set(err, FL_EINVAL, "'%s' holds '%.64s', not '%s'", path, e.type, type);
		goto cleanup;
	}
	if ((rc = fl_envelope_sign(&e, key.sk, err)) < 0 ||
	    (rc = fl_envelope_dump(&b, &e, err)) < 0 ||
	    (rc = fl_fs_write_atomic(path, b.ptr, b.len, 0644, err)) < 0)
		goto cleanup;
	fprintf(ctx->out, "signed %s with key %s (%zu signature%s)\n", path, key.keyid, e.nsigs,
		e.nsigs == 1 ? "" : "s");
cleanup:
	memset(&key, 0, sizeof(key));
	fl_envelope_release(&e);
	fl_buf_release(&b);
	return rc;
}

/* {"keytype","keyid","public"[,"private"]} as indented JSON text. */
static char *key_json(const struct cli_key *k, int with_secret)
{
	char pub[64], priv[128];
	json_t *doc;
	char *s;

	fl_b64_encode(pub, k->pk, sizeof(k->pk));
	fl_b64_encode(priv, k->sk, sizeof(k->sk));
	doc = json_pack("{ssssss}", "keytype", "ed25519", "keyid", k->keyid, "public", pub);
	if (doc && with_secret && json_object_set_new(doc, "private", json_string(priv)) < 0) {
		json_decref(doc);
		doc = NULL;
	}
	memset(priv, 0, sizeof(priv));
	s = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(doc);
	return s;
}

static int cli_key_generate(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	const char *path = cli_args_get(a, "--out");
	struct cli_key k;
	char pub[64], *text = NULL;
	int rc;

	if (!path)
		return cli_usage(ctx, err, "key generate needs --out FILE");
	if ((rc = fl_crypto_init()) < 0)
		return fl_err_set(err, rc, "cannot initialise libsodium");
	memset(&k, 0, sizeof(k));
	fl_ed25519_keypair(k.pk, k.sk);
	fl_keyid(k.keyid, k.pk);
	k.has_secret = 1;
	if (!(text = key_json(&k, 1))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_write_new(path, text, strlen(text), 0600, err)) < 0)
		goto cleanup;
	fl_b64_encode(pub, k.pk, sizeof(k.pk));
	fprintf(ctx->out, "keyid   %s\npublic  %s\n", k.keyid, pub);
cleanup:
	if (text) {
		memset(text, 0, strlen(text));
		free(text);
	}
	memset(&k, 0, sizeof(k));
	return rc;
}

static int cli_key_public(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	const char *path = cli_args_get(a, "--out");
	struct cli_key k;
	char *text = NULL;
	int rc;

	if ((rc = fl_crypto_init()) < 0)
		return fl_err_set(err, rc, "cannot initialise libsodium");
	if ((rc = cli_key_load(&k, a->pos[0], 0, err)) < 0)
		return rc;
	if (!(text = key_json(&k, 0))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (path)
		rc = cli_write_new(path, text, strlen(text), 0644, err);
	else
		fprintf(ctx->out, "%s\n", text);
cleanup:
	memset(&k, 0, sizeof(k));
	free(text);
	return rc;
}

static const struct cli_optspec out_opts[] = {
    {"--out", NULL, CLI_OPT_VALUE},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_cmd key_cmds[] = {
    {"generate", "--out FILE",
     "Generates an Ed25519 signing key into FILE (mode 0600, never overwritten) and prints "
     "its keyid and public key.",
     "options:\n"
     "  --out FILE   where to write the key; keep it offline\n",
     out_opts, 0, 0, cli_key_generate},
    {"public", "KEYFILE [--out FILE]",
     "Prints (or writes to FILE) the public part of a key file, for a root ceremony.",
     "options:\n"
     "  --out FILE   write the public key file here instead of printing it\n",
     out_opts, 1, 1, cli_key_public},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct cli_family cli_key_family = {
    "key",
    "Offline signing keys for root and release metadata: generate, public.",
    key_cmds,
};

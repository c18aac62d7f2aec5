/*
 * cmd_root.c - `fairlead root`: create, sign, rotate and verify root
 * metadata offline (docs/releases.md has the key ceremony), and push it to
 * the server.
 *
 * create and rotate write unsigned envelopes; signatures are added one key
 * at a time with `root sign`, on whichever machine holds each key, so no
 * machine ever needs more than one private key.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fairlead/crypto.h"
#include "fairlead/envelope.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/trust.h"
#include "fairlead/util.h"

#define DEFAULT_EXPIRY (365 * 86400)

/* Adds the key (keyid -> {keytype, public}) to keys and its id to ids. */
static int add_key(json_t *keys, json_t *ids, const char *keyid, const char *pub)
{
	size_t i;

	for (i = 0; i < json_array_size(ids); i++)
		if (strcmp(json_string_value(json_array_get(ids, i)), keyid) == 0)
			return FL_EEXISTS;
	if (json_object_set_new(keys, keyid,
				json_pack("{ssss}", "keytype", "ed25519", "public", pub)) < 0 ||
	    json_array_append_new(ids, json_string(keyid)) < 0)
		return FL_ENOMEM;
	return 0;
}

/* Builds role r of the new root into roles, adding its keys to keys. The
 * keys come from --R-key files and --R-pubkey strings; when neither is
 * given the role (and threshold) of old is kept, and without old that is a
 * usage error. */
static int build_role(json_t *keys, json_t *roles, struct cli_ctx *ctx, const struct cli_args *a,
		      const char *r, const json_t *old, struct fl_err *err)
{
	char kopt[32], popt[32], topt[32], pub[64], keyid[FL_KEYID_LEN + 1];
	const char *words[CLI_MAX_ARGS], *t;
	json_t *ids = json_array(), *oldrole = NULL;
	int64_t threshold = 1;
	size_t nk, np, i;
	int rc = 0;

	if (!ids)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	snprintf(kopt, sizeof(kopt), "--%s-key", r);
	snprintf(popt, sizeof(popt), "--%s-pubkey", r);
	snprintf(topt, sizeof(topt), "--%s-threshold", r);
	nk = cli_args_all(words, CLI_MAX_ARGS, a, kopt);
	for (i = 0; i < nk; i++) {
		struct cli_key k;

		if ((rc = cli_key_load(&k, words[i], 0, err)) < 0)
			goto cleanup;
		/* Only the public half goes into the root. */
		fl_b64_encode(pub, k.pk, sizeof(k.pk));
		memcpy(keyid, k.keyid, sizeof(keyid));
		memset(&k, 0, sizeof(k));
		if ((rc = add_key(keys, ids, keyid, pub)) < 0)
			goto dup;
	}
	np = cli_args_all(words, CLI_MAX_ARGS, a, popt);
	for (i = 0; i < np; i++) {
		uint8_t pk[FL_ED25519_PK_LEN];
		size_t n = 0;

		if (fl_b64_decode(pk, sizeof(pk), &n, words[i], strlen(words[i])) < 0 ||
		    n != sizeof(pk)) {
			rc = cli_usage(ctx, err, "%s: not a base64 Ed25519 public key", popt);
			goto cleanup;
		}
		fl_keyid(keyid, pk);
		if ((rc = add_key(keys, ids, keyid, words[i])) < 0)
			goto dup;
	}
	if (old && (oldrole = json_object_get(json_object_get(old, "roles"), r)))
		threshold = json_integer_value(json_object_get(oldrole, "threshold"));
	if ((t = cli_args_get(a, topt)) &&
	    (rc = cli_parse_count(&threshold, ctx, topt, t, err)) < 0)
		goto cleanup;
	if (nk + np == 0) {
		json_t *oldids = json_object_get(oldrole, "keyids");

		if (!oldrole) {
			/* Online keys live on the server: their public key alone
			 * may be given. */
			if (strcmp(r, "timestamp") == 0 || strcmp(r, "director") == 0)
				rc = cli_usage(ctx, err, "the %s role needs %s FILE or %s BASE64",
					       r, kopt, popt);
			else
				rc = cli_usage(ctx, err, "the %s role needs %s FILE", r, kopt);
			goto cleanup;
		}
		for (i = 0; i < json_array_size(oldids); i++) {
			const char *id = json_string_value(json_array_get(oldids, i));
			const char *p = json_string_value(json_object_get(
			    json_object_get(json_object_get(old, "keys"), id), "public"));

			if (!id || !p || (rc = add_key(keys, ids, id, p)) < 0) {
				rc = fl_err_set(err, FL_EINVAL, "the old root's %s role is broken",
						r);
				goto cleanup;
			}
		}
	}
	if (json_object_set_new(
		roles, r, json_pack("{sOsI}", "keyids", ids, "threshold", (json_int_t)threshold)) <
	    0)
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
	goto cleanup;
dup:
	if (rc == FL_EEXISTS)
		rc = cli_usage(ctx, err, "the %s role lists one key twice", r);
	else
		rc = fl_err_set(err, rc, "out of memory");
cleanup:
	json_decref(ids);
	return rc;
}

static const char *const role_order[] = {"root", "release", "timestamp", "director"};

/* Builds the root payload from the options, on top of old (a parsed root
 * payload, or NULL for a fresh root), checks it with the same parser the
 * agents use, and writes it as an unsigned envelope to a new file. */
static int write_root(struct cli_ctx *ctx, const struct cli_args *a, const json_t *old,
		      struct fl_err *err)
{
	const char *out = cli_args_get(a, "--out"), *exp = cli_args_get(a, "--expires");
	const char *ver = cli_args_get(a, "--version");
	json_t *doc = NULL, *keys = json_object(), *roles = json_object();
	struct fl_trust_root check;
	struct fl_envelope e;
	struct fl_buf b = FL_BUF_INIT;
	int64_t version = 1, expires = fl_now() + DEFAULT_EXPIRY, secs;
	char when[32], *payload = NULL;
	int rc;

	memset(&e, 0, sizeof(e));
	if (!keys || !roles) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (!out) {
		rc = cli_usage(ctx, err, "--out FILE is required");
		goto cleanup;
	}
	if (old) {
		/* Rotation: the next version, the old expiry unless changed. */
		version = json_integer_value(json_object_get(old, "version")) + 1;
		if (fl_trust_time_parse(
			&expires, json_string_value(json_object_get(old, "expires")), err) < 0) {
			rc = FL_EINVAL;
			goto cleanup;
		}
	} else if (ver && (rc = cli_parse_count(&version, ctx, "--version", ver, err)) < 0) {
		goto cleanup;
	}
	if (exp) {
		if ((rc = fl_duration_parse(&secs, exp, err)) < 0) {
			rc = cli_usage(ctx, err, "--expires: %s", err->msg);
			goto cleanup;
		}
		expires = fl_now() + secs;
	}
	for (size_t i = 0; i < FL_ARRAY_SIZE(role_order); i++)
		if ((rc = build_role(keys, roles, ctx, a, role_order[i], old, err)) < 0)
			goto cleanup;
	fl_time_fmt(when, expires);
	doc = json_pack("{sssssIsssOsO}", "_type", "root", "spec_version", FL_TRUST_SPEC_VERSION,
			"version", (json_int_t)version, "expires", when, "keys", keys, "roles",
			roles);
	if (!doc || !(payload = fl_json_dumps(doc))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	/* Refuse what an agent would refuse (thresholds above the key count,
	 * ...) now, not after the ceremony. */
	if ((rc = fl_trust_root_parse(&check, payload, strlen(payload), err)) < 0) {
		ctx->usage = 1;
		goto cleanup;
	}
	if ((rc = fl_envelope_init(&e, FL_TRUST_TYPE_ROOT, payload, strlen(payload), err)) < 0 ||
	    (rc = fl_envelope_dump(&b, &e, err)) < 0 ||
	    (rc = cli_write_new(out, b.ptr, b.len, 0644, err)) < 0)
		goto cleanup;
	fprintf(ctx->out, "wrote unsigned root v%lld to %s (expires %s)\n", (long long)version, out,
		when);
	for (size_t i = 0; i < FL_TRUST_ROLE_COUNT; i++)
		fprintf(ctx->out, "  %-9s %lld of %zu keys\n", fl_trust_role_name(i),
			(long long)check.roles[i].threshold, check.roles[i].nkeys);
	if (old)
		fprintf(ctx->out, "sign it with a threshold of the OLD root keys and of the NEW "
				  "root keys\n");
cleanup:
	json_decref(doc);
	json_decref(keys);
	json_decref(roles);
	free(payload);
	fl_envelope_release(&e);
	fl_buf_release(&b);
	return rc;
}

static int cli_root_create(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	int rc;

	if (cli_args_has(a, "--from"))
		return cli_usage(ctx, err, "--from belongs to 'root rotate'");
	if ((rc = fl_crypto_init()) < 0)
		return fl_err_set(err, rc, "cannot initialise libsodium");
	return write_root(ctx, a, NULL, err);
}

static int cli_root_rotate(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	const char *from = cli_args_get(a, "--from");
	struct fl_trust_root parsed;
	struct fl_envelope e;
	json_t *old = NULL;
	int rc;

	if (!from)
		return cli_usage(ctx, err, "root rotate needs --from OLD");
	if (cli_args_has(a, "--version"))
		return cli_usage(ctx, err, "root rotate always writes the old version + 1");
	if ((rc = fl_crypto_init()) < 0)
		return fl_err_set(err, rc, "cannot initialise libsodium");
	if ((rc = cli_envelope_load(&e, from, err)) < 0)
		return rc;
	if (strcmp(e.type, FL_TRUST_TYPE_ROOT) != 0) {
		rc = fl_err_set(err, FL_EINVAL, "'%s' is not root metadata", from);
		goto cleanup;
	}
	if ((rc = fl_trust_root_parse(&parsed, e.payload, e.payload_len, err)) < 0 ||
	    (rc = fl_json_parse_object(&old, (const char *)e.payload, e.payload_len, err)) < 0)
		goto cleanup;
	rc = write_root(ctx, a, old, err);
cleanup:
	json_decref(old);
	fl_envelope_release(&e);
	return rc;
}

static int cli_root_sign(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	return cli_envelope_sign_file(ctx, a->pos[0], cli_args_get(a, "--key"), FL_TRUST_TYPE_ROOT,
				      err);
}

static int cli_root_verify(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	const char *trusted = cli_args_get(a, "--trusted");
	struct fl_envelope e, old;
	struct fl_trust_root t;
	const struct fl_envelope *chain[1] = {&e};
	char when[32];
	int rc;

	memset(&old, 0, sizeof(old));
	if ((rc = fl_crypto_init()) < 0)
		return fl_err_set(err, rc, "cannot initialise libsodium");
	if ((rc = cli_envelope_load(&e, a->pos[0], err)) < 0)
		return rc;
	if (trusted) {
		/* The rotation rule: OLD's root keys and FILE's own, version
		 * exactly OLD + 1, FILE unexpired. */
		if ((rc = cli_envelope_load(&old, trusted, err)) < 0 ||
		    (rc = fl_trust_root_load(&t, &old, err)) < 0 ||
		    (rc = fl_trust_root_chain(&t, chain, 1, fl_now(), err)) < 0)
			goto cleanup;
	} else {
		if ((rc = fl_trust_root_load(&t, &e, err)) < 0 ||
		    (rc = fl_trust_root_chain(&t, NULL, 0, fl_now(), err)) < 0)
			goto cleanup;
	}
	fl_time_fmt(when, t.expires);
	fprintf(ctx->out, "%s: root v%lld verified%s (expires %s)\n", a->pos[0],
		(long long)t.version, trusted ? " as the successor of the trusted root" : "", when);
cleanup:
	if (rc < 0)
		fl_err_prefix(err, "%s", a->pos[0]);
	fl_envelope_release(&e);
	fl_envelope_release(&old);
	return rc;
}

/* Publishes FILE as the server's newest root. The server is the judge of the
 * chain (version N+1, old and new root keys); checking here that FILE is
 * root metadata signed by a threshold of its own root keys and unexpired
 * catches the usual mistake, a missing signature, before the request. */
static int cli_root_push(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	const char *path = a->pos[0];
	struct fl_buf bytes;
	struct fl_envelope e;
	struct fl_trust_root t;
	json_t *reply = NULL;
	int rc;

	memset(&e, 0, sizeof(e));
	fl_buf_init(&bytes, FL_ENVELOPE_MAX_BYTES);
	if ((rc = fl_crypto_init()) < 0)
		return fl_err_set(err, rc, "cannot initialise libsodium");
	if ((rc = fl_fs_read(&bytes, path, err)) < 0 ||
	    (rc = fl_envelope_parse(&e, bytes.ptr, bytes.len, err)) < 0 ||
	    (rc = fl_trust_root_load(&t, &e, err)) < 0 ||
	    (rc = fl_trust_root_chain(&t, NULL, 0, fl_now(), err)) < 0) {
		fl_err_prefix(err, "'%s' (nothing was sent)", path);
		goto cleanup;
	}
	/* The exact bytes: the signatures cover the payload, and the server
	 * serves the envelope as it was pushed. */
	if ((rc = cli_api_raw(&reply, ctx, "PUT", "/api/v1/root", bytes.ptr, bytes.len, err)) < 0) {
		fl_err_prefix(err, "root v%lld refused", (long long)t.version);
		goto cleanup;
	}
	if (ctx->format == CLI_FMT_JSON)
		rc = cli_out_json(ctx->out, reply);
	else
		fprintf(ctx->out, "root v%lld published\n", (long long)t.version);
cleanup:
	json_decref(reply);
	fl_envelope_release(&e);
	fl_buf_release(&bytes);
	return rc;
}

#define ROLE_OPTS(r)                                                                               \
	{"--" r "-key", NULL, CLI_OPT_MULTI},                                                      \
	{                                                                                          \
		"--" r "-threshold", NULL, CLI_OPT_VALUE                                           \
	}

static const struct cli_optspec build_opts[] = {
    {"--out", NULL, CLI_OPT_VALUE},
    {"--from", NULL, CLI_OPT_VALUE},
    {"--expires", NULL, CLI_OPT_VALUE},
    {"--version", NULL, CLI_OPT_VALUE},
    ROLE_OPTS("root"),
    ROLE_OPTS("release"),
    ROLE_OPTS("timestamp"),
    ROLE_OPTS("director"),
    {"--timestamp-pubkey", NULL, CLI_OPT_MULTI},
    {"--director-pubkey", NULL, CLI_OPT_MULTI},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec sign_opts[] = {
    {"--key", NULL, CLI_OPT_VALUE},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec verify_opts[] = {
    {"--trusted", NULL, CLI_OPT_VALUE},
    {NULL, NULL, CLI_OPT_FLAG},
};

#define KEY_HELP                                                                                   \
	"  --root-key FILE           a root key (key or public key file); repeat for each\n"       \
	"  --root-threshold K        root signatures needed (default 1)\n"                         \
	"  --release-key FILE        a release key; repeat for each\n"                             \
	"  --release-threshold K     release signatures needed (default 1)\n"                      \
	"  --timestamp-key FILE      the server's timestamp key file, or\n"                        \
	"  --timestamp-pubkey B64    its public key as base64\n"                                   \
	"  --director-key FILE       the server's director key file, or\n"                         \
	"  --director-pubkey B64     its public key as base64\n"                                   \
	"  --timestamp-threshold K, --director-threshold K   (default 1)\n"

static const struct cli_cmd root_cmds[] = {
    {"create",
     "--out FILE --root-key FILE... --release-key FILE... (--timestamp-key FILE | "
     "--timestamp-pubkey B64) (--director-key FILE | --director-pubkey B64) [OPTIONS]",
     "Writes new, unsigned root metadata; then sign it with 'fairlead root sign'.",
     "options:\n"
     "  --out FILE                where to write it (never overwritten)\n" KEY_HELP
     "  --expires DURATION        lifetime, e.g. 365d (default 365d)\n"
     "  --version N               version number (default 1)\n",
     build_opts, 0, 0, cli_root_create},
    {"sign", "FILE --key KEYFILE",
     "Adds KEYFILE's signature to root metadata FILE, in place (atomically).",
     "options:\n"
     "  --key KEYFILE   a private key file from 'fairlead key generate'\n",
     sign_opts, 1, 1, cli_root_sign},
    {"rotate", "--from OLD --out NEW [key options]",
     "Writes NEW: OLD with version + 1 and the given roles replaced, unsigned. NEW needs "
     "signatures from a threshold of OLD's root keys and of its own.",
     "options:\n"
     "  --from OLD                the current root metadata\n"
     "  --out NEW                 where to write the next version\n"
     "  roles not given keep OLD's keys and threshold; a threshold alone changes it\n" KEY_HELP
     "  --expires DURATION        new lifetime (default: OLD's expiry)\n",
     build_opts, 0, 0, cli_root_rotate},
    {"verify", "FILE [--trusted OLD]",
     "Checks root metadata: signed by a threshold of its own root keys and unexpired; with "
     "--trusted, also the successor of OLD (version + 1, signed by OLD's root keys).",
     "options:\n"
     "  --trusted OLD   the root trusted so far\n",
     verify_opts, 1, 1, cli_root_verify},
    {"push", "FILE",
     "Publishes signed root metadata FILE on the server (PUT /api/v1/root). The first root "
     "must meet its own root threshold; each later one must be the next version, signed by "
     "a threshold of the old and of the new root keys.",
     "-o json: the server's reply {version}\n", NULL, 1, 1, cli_root_push},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct cli_family cli_root_family = {
    "root",
    "Root of trust for releases: create, sign, rotate, verify offline; push.",
    root_cmds,
};

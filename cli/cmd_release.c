/*
 * cmd_release.c - `fairlead release`, the offline part: create, sign and
 * verify release metadata. (push, list, show and diff need the server and
 * are not built yet; see docs/releases.md.)
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
#include "fairlead/trust.h"
#include "fairlead/util.h"

#define DEFAULT_EXPIRY		(365 * 86400)
#define DEFAULT_INSTALL_TIMEOUT 300
#define DEFAULT_HEALTH_WINDOW	60

/* Streams the file at path (opened at dirfd, without following a final
 * symlink) through SHA-256. Reads at most limit + 1 bytes when limit >= 0, so
 * a file far longer than signed is not read to its end. */
static int hash_file(int64_t *len, char hex[65], int dirfd, const char *path, int64_t limit,
		     struct fl_err *err)
{
	struct fl_sha256_ctx sha;
	uint8_t digest[FL_SHA256_LEN];
	char chunk[65536];
	int64_t total = 0;
	int fd, rc = 0;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return fl_err_set(err, errno == ENOENT ? FL_ENOTFOUND : FL_ERROR,
				  "cannot open '%s': %s", path, strerror(errno));
	fl_sha256_begin(&sha);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fl_err_set(err, FL_ERROR, "cannot read '%s': %s", path,
					strerror(errno));
			break;
		}
		if (n == 0)
			break;
		fl_sha256_update(&sha, chunk, (size_t)n);
		total += n;
		if (limit >= 0 && total > limit)
			break;
	}
	close(fd);
	fl_sha256_end(&sha, digest);
	fl_hex_encode(hex, digest, sizeof(digest));
	*len = total;
	return rc;
}

static const char *const lineage_keys[] = {"source_commit", "training_data", "parent", "builder"};

static int set_str_or_null(json_t *obj, const char *key, const char *v)
{
	return json_object_set_new(obj, key, v ? json_string(v) : json_null());
}

static int build_release(json_t **out, struct cli_ctx *ctx, const struct cli_args *a,
			 struct fl_err *err)
{
	const char *name = cli_args_get(a, "--name"), *ver = cli_args_get(a, "--version");
	const char *kind = cli_args_get(a, "--kind"), *s;
	const char *words[CLI_MAX_ARGS];
	json_t *doc = NULL, *hw, *arts, *lineage, *baseline = NULL;
	int64_t counter = 1, window = DEFAULT_HEALTH_WINDOW, expires = DEFAULT_EXPIRY;
	char when[32];
	size_t n;
	int rc;

	*out = NULL;
	if (!name || !ver || !kind)
		return cli_usage(ctx, err, "release create needs --name, --version and --kind");
	if (!fl_id_valid(name))
		return cli_usage(ctx, err, "--name: '%s' is not a valid release name", name);
	if (!fl_trust_semver_valid(ver))
		return cli_usage(ctx, err, "--version: '%s' is not a semantic version", ver);
	if (strcmp(kind, "model") != 0 && strcmp(kind, "firmware") != 0 &&
	    strcmp(kind, "config") != 0)
		return cli_usage(ctx, err, "--kind must be model, firmware or config");
	if ((s = cli_args_get(a, "--counter")) &&
	    (rc = cli_parse_count(&counter, ctx, "--counter", s, err)) < 0)
		return rc;
	if ((s = cli_args_get(a, "--health-window")) &&
	    (rc = fl_duration_parse(&window, s, err)) < 0)
		return cli_usage(ctx, err, "--health-window: %s", err->msg);
	if ((s = cli_args_get(a, "--expires")) && (rc = fl_duration_parse(&expires, s, err)) < 0)
		return cli_usage(ctx, err, "--expires: %s", err->msg);
	fl_time_fmt(when, fl_now() + expires);
	doc = json_pack("{sssssssssIs[]s[]s{snsI}s{snsI}sns{}ss}", "_type", "release", "name", name,
			"kind", kind, "version", ver, "counter", (json_int_t)counter, "hardware",
			"artifacts", "install", "hook", "timeout_s",
			(json_int_t)DEFAULT_INSTALL_TIMEOUT, "health", "cmd", "window_s",
			(json_int_t)window, "baseline", "lineage", "expires", when);
	if (!doc)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	hw = json_object_get(doc, "hardware");
	arts = json_object_get(doc, "artifacts");
	lineage = json_object_get(doc, "lineage");
	if (set_str_or_null(json_object_get(doc, "install"), "hook",
			    cli_args_get(a, "--install-hook")) < 0 ||
	    set_str_or_null(json_object_get(doc, "health"), "cmd",
			    cli_args_get(a, "--health-cmd")) < 0)
		goto oom;
	n = cli_args_all(words, CLI_MAX_ARGS, a, "--hw");
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(hw, json_string(words[i])) < 0)
			goto oom;
	for (size_t i = 0; i < FL_ARRAY_SIZE(lineage_keys); i++)
		if (json_object_set_new(lineage, lineage_keys[i], json_null()) < 0)
			goto oom;
	n = cli_args_all(words, CLI_MAX_ARGS, a, "--lineage");
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(words[i], '=');
		char key[32];
		size_t k;

		for (k = 0; eq && k < FL_ARRAY_SIZE(lineage_keys); k++)
			if (strlen(lineage_keys[k]) == (size_t)(eq - words[i]) &&
			    strncmp(lineage_keys[k], words[i], (size_t)(eq - words[i])) == 0)
				break;
		if (!eq || k == FL_ARRAY_SIZE(lineage_keys)) {
			snprintf(key, sizeof(key), "%.*s", eq ? (int)(eq - words[i]) : 0, words[i]);
			rc = cli_usage(ctx, err,
				       "--lineage takes K=V with K one of source_commit, "
				       "training_data, parent, builder (not '%s')",
				       key);
			goto fail;
		}
		if (json_object_set_new(lineage, lineage_keys[k], json_string(eq + 1)) < 0)
			goto oom;
	}
	if ((s = cli_args_get(a, "--baseline"))) {
		struct fl_buf b;

		fl_buf_init(&b, FL_ENVELOPE_MAX_PAYLOAD / 2);
		rc = fl_fs_read(&b, s, err);
		if (rc == 0)
			rc = fl_json_parse_object(&baseline, b.ptr, b.len, err);
		fl_buf_release(&b);
		if (rc < 0) {
			fl_err_prefix(err, "--baseline '%s'", s);
			goto fail;
		}
		json_object_set_new(doc, "baseline", baseline);
	}
	n = cli_args_all(words, CLI_MAX_ARGS, a, "--artifact");
	if (n == 0) {
		rc = cli_usage(ctx, err, "release create needs at least one --artifact PATH");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const char *base = strrchr(words[i], '/');
		char hex[65];
		int64_t len = 0;

		base = base ? base + 1 : words[i];
		if (!fl_trust_artifact_name_valid(base)) {
			rc = cli_usage(ctx, err,
				       "artifact name '%s' is not safe (1-128 of [A-Za-z0-9._-])",
				       base);
			goto fail;
		}
		if ((rc = hash_file(&len, hex, AT_FDCWD, words[i], -1, err)) < 0)
			goto fail;
		if (json_array_append_new(arts, json_pack("{sssIss}", "name", base, "length",
							  (json_int_t)len, "sha256", hex)) < 0)
			goto oom;
	}
	*out = doc;
	return 0;
oom:
	rc = fl_err_set(err, FL_ENOMEM, "out of memory");
fail:
	json_decref(doc);
	return rc;
}

static int cli_release_create(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	const char *out = cli_args_get(a, "--out");
	struct fl_trust_release check;
	struct fl_envelope e;
	struct fl_buf b = FL_BUF_INIT;
	json_t *doc = NULL;
	char *payload = NULL;
	int rc;

	memset(&e, 0, sizeof(e));
	if (!out)
		return cli_usage(ctx, err, "release create needs --out FILE");
	if ((rc = fl_crypto_init()) < 0)
		return fl_err_set(err, rc, "cannot initialise libsodium");
	if ((rc = build_release(&doc, ctx, a, err)) < 0)
		return rc;
	if (!(payload = fl_json_dumps(doc))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	/* The parser the agents use decides, so nothing is signed that a
	 * device would refuse (duplicate artifact names, bad hardware ids). */
	if ((rc = fl_trust_release_parse(&check, payload, strlen(payload), err)) < 0) {
		ctx->usage = 1;
		goto cleanup;
	}
	fl_trust_release_free(&check);
	if ((rc = fl_envelope_init(&e, FL_TRUST_TYPE_RELEASE, payload, strlen(payload), err)) < 0 ||
	    (rc = fl_envelope_dump(&b, &e, err)) < 0 ||
	    (rc = cli_write_new(out, b.ptr, b.len, 0644, err)) < 0)
		goto cleanup;
	fprintf(ctx->out, "wrote unsigned release %s@%s to %s (%zu artifact%s)\n",
		json_string_value(json_object_get(doc, "name")),
		json_string_value(json_object_get(doc, "version")), out,
		json_array_size(json_object_get(doc, "artifacts")),
		json_array_size(json_object_get(doc, "artifacts")) == 1 ? "" : "s");
cleanup:
	json_decref(doc);
	free(payload);
	fl_envelope_release(&e);
	fl_buf_release(&b);
	return rc;
}

static int cli_release_sign(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	return cli_envelope_sign_file(ctx, a->pos[0], cli_args_get(a, "--key"),
				      FL_TRUST_TYPE_RELEASE, err);
}

/* Checks every artifact in dir against its signed length and hash. */
static int check_artifacts(struct cli_ctx *ctx, const struct fl_trust_release *r, const char *dir,
			   struct fl_err *err)
{
	int dirfd, rc = 0;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return fl_err_set(err, FL_ERROR, "cannot open '%s': %s", dir, strerror(errno));
	for (size_t i = 0; i < r->nartifacts && rc == 0; i++) {
		const struct fl_trust_artifact *art = &r->artifacts[i];
		int64_t len = 0;
		char hex[65];

		if ((rc = hash_file(&len, hex, dirfd, art->name, art->length, err)) < 0)
			break;
		if (len != art->length)
			rc = fl_err_set(err, FL_EUNAUTH,
					"artifact '%s' is %s than signed (%lld bytes)", art->name,
					len > art->length ? "longer" : "shorter",
					(long long)art->length);
		else if (!fl_memeq(hex, art->sha256, 64))
			rc = fl_err_set(err, FL_EUNAUTH, "artifact '%s' does not match its sha256",
					art->name);
		else
			fprintf(ctx->out, "  %s: %lld bytes, sha256 ok\n", art->name,
				(long long)len);
	}
	close(dirfd);
	return rc;
}

static int cli_release_verify(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	const char *rootfile = cli_args_get(a, "--root"), *dir = cli_args_get(a, "--artifact-dir");
	struct fl_envelope re, me;
	struct fl_trust_root root;
	struct fl_trust_release r;
	char when[32];
	int rc;

	memset(&re, 0, sizeof(re));
	memset(&me, 0, sizeof(me));
	memset(&r, 0, sizeof(r));
	if (!rootfile)
		return cli_usage(ctx, err, "release verify needs --root ROOT");
	if ((rc = fl_crypto_init()) < 0)
		return fl_err_set(err, rc, "cannot initialise libsodium");
	/* ROOT is taken as the trusted root, so it must itself hold: signed
	 * by its own root keys and unexpired. */
	if ((rc = cli_envelope_load(&re, rootfile, err)) < 0 ||
	    (rc = fl_trust_root_load(&root, &re, err)) < 0 ||
	    (rc = fl_trust_root_chain(&root, NULL, 0, fl_now(), err)) < 0) {
		fl_err_prefix(err, "root");
		goto cleanup;
	}
	if ((rc = cli_envelope_load(&me, a->pos[0], err)) < 0 ||
	    (rc = fl_trust_release_verify(&r, &root, &me, fl_now(), err)) < 0) {
		fl_err_prefix(err, "%s", a->pos[0]);
		goto cleanup;
	}
	fl_time_fmt(when, r.expires);
	fprintf(ctx->out,
		"%s@%s (%s, counter %lld): signatures meet the threshold of %lld under "
		"root v%lld; expires %s\n",
		r.name, r.version, r.kind, (long long)r.counter,
		(long long)root.roles[FL_TRUST_ROLE_RELEASE].threshold, (long long)root.version,
		when);
	if (dir)
		rc = check_artifacts(ctx, &r, dir, err);
cleanup:
	fl_trust_release_free(&r);
	fl_envelope_release(&re);
	fl_envelope_release(&me);
	return rc;
}

static const struct cli_optspec create_opts[] = {
    {"--name", NULL, CLI_OPT_VALUE},
    {"--version", NULL, CLI_OPT_VALUE},
    {"--kind", NULL, CLI_OPT_VALUE},
    {"--artifact", NULL, CLI_OPT_MULTI},
    {"--hw", NULL, CLI_OPT_MULTI},
    {"--health-cmd", NULL, CLI_OPT_VALUE},
    {"--health-window", NULL, CLI_OPT_VALUE},
    {"--install-hook", NULL, CLI_OPT_VALUE},
    {"--baseline", NULL, CLI_OPT_VALUE},
    {"--lineage", NULL, CLI_OPT_MULTI},
    {"--counter", NULL, CLI_OPT_VALUE},
    {"--expires", NULL, CLI_OPT_VALUE},
    {"--out", NULL, CLI_OPT_VALUE},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec sign_opts[] = {
    {"--key", NULL, CLI_OPT_VALUE},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec verify_opts[] = {
    {"--root", NULL, CLI_OPT_VALUE},
    {"--artifact-dir", NULL, CLI_OPT_VALUE},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_cmd release_cmds[] = {
    {"create",
     "--name N --version V --kind model|firmware|config --artifact PATH... --out FILE "
     "[OPTIONS]",
     "Writes unsigned release metadata: each artifact's name (its basename), length and "
     "sha256.",
     "options:\n"
     "  --name N             release name (1-64 of [A-Za-z0-9._-])\n"
     "  --version V          semantic version, e.g. 1.4.0 or 2.0.0-rc.1\n"
     "  --kind K             model, firmware or config\n"
     "  --artifact PATH      a file to ship; repeat for each\n"
     "  --hw H               compatible hardware id; repeat (none: any hardware)\n"
     "  --health-cmd CMD     command that must pass during the health window\n"
     "  --health-window S    health window, e.g. 60s, 5m (default 60s)\n"
     "  --install-hook CMD   command run to install (default: none)\n"
     "  --baseline FILE      drift baseline, a JSON object\n"
     "  --lineage K=V        source_commit, training_data, parent or builder; repeat\n"
     "  --counter N          release counter, must rise for every release of a name "
     "(default 1)\n"
     "  --expires DURATION   lifetime of the metadata (default 365d)\n"
     "  --out FILE           where to write it (never overwritten)\n",
     create_opts, 0, 0, cli_release_create},
    {"sign", "META --key KEYFILE",
     "Adds KEYFILE's signature to release metadata META, in place (atomically). Each "
     "release manager runs this with their own key until the threshold is met.",
     "options:\n"
     "  --key KEYFILE   a private key file from 'fairlead key generate'\n",
     sign_opts, 1, 1, cli_release_sign},
    {"verify", "META --root ROOT [--artifact-dir DIR]",
     "Checks META against the release keys and threshold of ROOT and its expiry; with "
     "--artifact-dir, also every artifact's length and sha256.",
     "options:\n"
     "  --root ROOT          the trusted root metadata\n"
     "  --artifact-dir DIR   directory holding the artifacts by name\n",
     verify_opts, 1, 1, cli_release_verify},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct cli_family cli_release_family = {
    "release",
    "Signed releases, offline: create, sign, verify.",
    release_cmds,
};

/*
 * cmd_release.c - `fairlead release`: create, sign and verify release
 * metadata offline; push it with its artifacts, and list, show and diff the
 * releases on the server (or, for show and diff, in local files).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fairlead/crypto.h"
#include "fairlead/envelope.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/relref.h"
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
	if (!fl_relref_name_valid(name))
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

/* Checks every artifact in dir against its signed length and hash; verbose
 * prints one line per good artifact. */
static int check_artifacts(struct cli_ctx *ctx, const struct fl_trust_release *r, const char *dir,
			   int verbose, struct fl_err *err)
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
		else if (verbose)
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
		rc = check_artifacts(ctx, &r, dir, 1, err);
cleanup:
	fl_trust_release_free(&r);
	fl_envelope_release(&re);
	fl_envelope_release(&me);
	return rc;
}

/* ---- push ---- */

/* "1.5 MiB": sizes for people; exact byte counts stay in -o json. */
static void fmt_size(char out[32], int64_t n)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	size_t u = 0;

	if (n < 1024) {
		snprintf(out, 32, "%lld B", (long long)n);
		return;
	}
	for (v /= 1024; v >= 1024 && u + 1 < FL_ARRAY_SIZE(units); u++)
		v /= 1024;
	snprintf(out, 32, "%.1f %s", v, units[u]);
}

#define BAR_WIDTH 30

struct progress {
	FILE *f;
	const char *name;
	int64_t last_ms;
	int last_pct;
};

/* Redraws "  NAME [#####.....]  42%  1.2 MiB / 3.0 MiB" in place. At most
 * ten redraws a second, so a fast upload does not wait on the terminal. */
static int draw_progress(void *p, int64_t done, int64_t total)
{
	struct progress *pr = p;
	int64_t now = fl_mono_ms();
	int pct = total > 0 ? (int)(done * 100 / total) : 100, fill;
	char bar[BAR_WIDTH + 1], d[32], t[32];

	if (pct == pr->last_pct || (done < total && now - pr->last_ms < 100))
		return 0;
	pr->last_ms = now;
	pr->last_pct = pct;
	fill = pct * BAR_WIDTH / 100;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(BAR_WIDTH - fill));
	bar[BAR_WIDTH] = '\0';
	fmt_size(d, done);
	fmt_size(t, total);
	fprintf(pr->f, "\r  %-24.24s [%s] %3d%%  %s / %s   ", pr->name, bar, pct, d, t);
	fflush(pr->f);
	return 0;
}

/* Uploads one artifact unless the server already has its bytes (HEAD), so
 * a push that failed half-way resumes with what is missing. */
static int push_blob(struct cli_ctx *ctx, const char *dir, const struct fl_trust_artifact *art,
		     int quiet, struct fl_err *err)
{
	struct fl_buf target = FL_BUF_INIT, path = FL_BUF_INIT;
	struct fl_http_resp resp;
	struct progress pr = {ctx->errf, art->name, 0, -1};
	struct fl_httpc *http;
	int tty = !quiet && isatty(fileno(ctx->errf)), rc;
	char size[32];

	memset(&resp, 0, sizeof(resp));
	fmt_size(size, art->length);
	if (fl_buf_addf(&target, "/api/v1/blobs/%s", art->sha256) < 0 ||
	    fl_buf_addf(&path, "%s/%s", dir, art->name) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	rc = cli_api(NULL, ctx, "HEAD", target.ptr, NULL, err);
	if (rc == 0) {
		if (!quiet)
			fprintf(ctx->errf, "  %s: %s, already on the server\n", art->name, size);
		goto cleanup;
	}
	if (rc != FL_ENOTFOUND) {
		fl_err_prefix(err, "cannot check artifact '%s' on the server", art->name);
		goto cleanup;
	}
	if ((rc = cli_http(&http, ctx, err)) < 0)
		goto cleanup;
	if (tty)
		draw_progress(&pr, 0, art->length);
	rc = fl_httpc_send_file(&resp, http, "PUT", target.ptr, path.ptr,
				tty ? draw_progress : NULL, &pr, err);
	if (tty)
		fputc('\n', ctx->errf);
	if (rc < 0) {
		fl_err_prefix(err, "upload of artifact '%s' failed", art->name);
		goto cleanup;
	}
	if ((rc = cli_reply_error(err, &resp)) < 0) {
		fl_err_prefix(err, "upload of artifact '%s' refused", art->name);
		goto cleanup;
	}
	if (!quiet && !tty)
		fprintf(ctx->errf, "  %s: uploaded %s\n", art->name, size);
cleanup:
	fl_http_resp_release(&resp);
	fl_buf_release(&target);
	fl_buf_release(&path);
	return rc;
}

/* Checks what the server would check, before anything is sent: a release
 * envelope that parses strictly, is signed and unexpired (and, with a root,
 * meets its threshold), and artifacts whose bytes match it. */
static int push_precheck(struct cli_ctx *ctx, const struct fl_envelope *e,
			 const struct fl_trust_release *r, const char *meta, const char *dir,
			 const char *rootfile, struct fl_err *err)
{
	struct fl_envelope re;
	struct fl_trust_root root;
	char when[32];
	int rc;

	if (e->nsigs == 0)
		return fl_err_set(err, FL_EUNAUTH,
				  "'%s' is unsigned; sign it with 'fairlead release sign' first",
				  meta);
	if (r->expires <= fl_now()) {
		fl_time_fmt(when, r->expires);
		return fl_err_set(err, FL_EGONE, "'%s' expired at %s", meta, when);
	}
	if (rootfile) {
		memset(&re, 0, sizeof(re));
		if ((rc = cli_envelope_load(&re, rootfile, err)) == 0 &&
		    (rc = fl_trust_root_load(&root, &re, err)) == 0)
			rc = fl_envelope_verify(e, FL_TRUST_TYPE_RELEASE,
						&root.roles[FL_TRUST_ROLE_RELEASE], err);
		fl_envelope_release(&re);
		if (rc < 0)
			return fl_err_prefix(err, "'%s' against --root", meta);
	}
	if ((rc = check_artifacts(ctx, r, dir, 0, err)) < 0) {
		char msg[sizeof(err->msg)];

		memcpy(msg, err->msg, sizeof(msg));
		fl_err_set(err, rc, "%s (in '%s'%s)", msg, dir,
			   rc == FL_ENOTFOUND ? "; use --artifact-dir DIR" : "");
	}
	return rc;
}

static int cli_release_push(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	const char *meta = a->pos[0], *dir = cli_args_get(a, "--artifact-dir");
	int quiet = cli_args_has(a, "--quiet");
	struct fl_buf bytes;
	struct fl_envelope e;
	struct fl_trust_release r;
	json_t *reply = NULL;
	char *metacopy = NULL;
	int rc;

	memset(&e, 0, sizeof(e));
	memset(&r, 0, sizeof(r));
	fl_buf_init(&bytes, FL_ENVELOPE_MAX_BYTES);
	if ((rc = fl_crypto_init()) < 0)
		return fl_err_set(err, rc, "cannot initialise libsodium");
	if ((rc = fl_fs_read(&bytes, meta, err)) < 0 ||
	    (rc = fl_envelope_parse(&e, bytes.ptr, bytes.len, err)) < 0) {
		fl_err_prefix(err, "'%s'", meta);
		goto cleanup;
	}
	if (strcmp(e.type, FL_TRUST_TYPE_RELEASE) != 0) {
		rc = fl_err_set(err, FL_EINVAL, "'%s' holds '%.64s', not release metadata", meta,
				e.type);
		goto cleanup;
	}
	if ((rc = fl_trust_release_parse(&r, e.payload, e.payload_len, err)) < 0) {
		fl_err_prefix(err, "'%s'", meta);
		goto cleanup;
	}
	/* release create records artifacts by basename only (the signed
	 * metadata must not carry local paths), so they are looked up next to
	 * META unless told otherwise. */
	if (!dir) {
		if (!(metacopy = strdup(meta))) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
		dir = dirname(metacopy);
	}
	if ((rc = push_precheck(ctx, &e, &r, meta, dir, cli_args_get(a, "--root"), err)) < 0) {
		fl_err_prefix(err, "push of '%s' refused locally, nothing was sent", meta);
		goto cleanup;
	}
	if (!quiet)
		fprintf(ctx->errf, "pushing %s@%s (%zu artifact%s)\n", r.name, r.version,
			r.nartifacts, r.nartifacts == 1 ? "" : "s");
	for (size_t i = 0; i < r.nartifacts; i++) {
		size_t j;

		/* Two names with the same bytes are one blob. */
		for (j = 0; j < i; j++)
			if (strcmp(r.artifacts[j].sha256, r.artifacts[i].sha256) == 0)
				break;
		if (j == i && (rc = push_blob(ctx, dir, &r.artifacts[i], quiet, err)) < 0)
			goto cleanup;
	}
	if ((rc = cli_api_raw(&reply, ctx, "POST", "/api/v1/releases", bytes.ptr, bytes.len, err)) <
	    0) {
		fl_err_prefix(err, "release refused");
		goto cleanup;
	}
	if (ctx->format == CLI_FMT_JSON) {
		rc = cli_out_json(ctx->out, reply);
	} else {
		const json_t *commit = json_object_get(reply, "commit");

		fprintf(ctx->out, "%s@%s pushed (counter %lld), commit %s\n", r.name, r.version,
			(long long)r.counter,
			json_is_string(commit) ? json_string_value(commit) : "-");
	}
cleanup:
	json_decref(reply);
	free(metacopy);
	fl_trust_release_free(&r);
	fl_envelope_release(&e);
	fl_buf_release(&bytes);
	return rc;
}

/* ---- list, show, diff ---- */

static int cli_release_list(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	static const char *const headers[] = {"NAME",	 "VERSION", "KIND",
					      "COUNTER", "CREATED", "COMMIT"};
	struct cli_table *t = NULL;
	struct fl_buf counter = FL_BUF_INIT, created = FL_BUF_INIT;
	json_t *reply = NULL, *list, *item;
	size_t i;
	int rc;

	(void)a;
	if ((rc = cli_api(&reply, ctx, "GET", "/api/v1/releases", NULL, err)) < 0)
		goto cleanup;
	if (!json_is_array(list = json_object_get(reply, "releases"))) {
		rc = fl_err_set(err, FL_ERROR, "the server's reply has no release list");
		goto cleanup;
	}
	if (ctx->format == CLI_FMT_JSON) {
		rc = cli_out_json(ctx->out, list);
		goto cleanup;
	}
	if ((rc = cli_table_new(&t, FL_ARRAY_SIZE(headers), headers)) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	json_array_foreach (list, i, item) {
		const char *commit = json_string_value(json_object_get(item, "commit"));
		char shortc[13] = "-";
		const char *row[6];

		/* Twelve hex digits name a commit unambiguously in practice and
		 * keep the table narrow; -o json has the full id. */
		if (commit)
			snprintf(shortc, sizeof(shortc), "%s", commit);
		fl_buf_clear(&counter);
		fl_buf_clear(&created);
		if (cli_fmt_cell(&counter, json_object_get(item, "counter")) < 0 ||
		    cli_fmt_time(&created, json_object_get(item, "created_at")) < 0) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
		row[0] = json_string_value(json_object_get(item, "name"));
		row[1] = json_string_value(json_object_get(item, "version"));
		row[2] = json_string_value(json_object_get(item, "kind"));
		row[3] = fl_buf_cstr(&counter);
		row[4] = fl_buf_cstr(&created);
		row[5] = shortc;
		if ((rc = cli_table_row(t, row)) < 0) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	rc = cli_table_print(ctx->out, t);
cleanup:
	cli_table_free(t);
	fl_buf_release(&counter);
	fl_buf_release(&created);
	json_decref(reply);
	return rc;
}

/* One release as show and diff see it, from the server or from a file. */
struct rel_view {
	char label[200]; /* what the user named: NAME@VERSION or the file */
	json_t *meta;	 /* the release payload */
	json_t *keyids;	 /* array of the signatures' keyids */
	json_t *whole;	 /* -o json: the server object, or {metadata, envelope, sha256} */
};

static void rel_view_release(struct rel_view *v)
{
	json_decref(v->meta);
	json_decref(v->keyids);
	json_decref(v->whole);
	memset(v, 0, sizeof(*v));
}

static int view_from_file(struct rel_view *v, const char *path, struct fl_err *err)
{
	struct fl_buf bytes;
	struct fl_envelope e;
	struct fl_trust_release r;
	json_t *env = NULL;
	char sha[65];
	int rc;

	memset(&e, 0, sizeof(e));
	memset(&r, 0, sizeof(r));
	fl_buf_init(&bytes, FL_ENVELOPE_MAX_BYTES);
	if ((rc = fl_fs_read(&bytes, path, err)) < 0 ||
	    (rc = fl_envelope_parse(&e, bytes.ptr, bytes.len, err)) < 0)
		goto fail;
	if (strcmp(e.type, FL_TRUST_TYPE_RELEASE) != 0) {
		rc = fl_err_set(err, FL_EINVAL, "holds '%.64s', not release metadata", e.type);
		goto fail;
	}
	if ((rc = fl_trust_release_parse(&r, e.payload, e.payload_len, err)) < 0 ||
	    (rc = fl_json_parse_object(&env, bytes.ptr, bytes.len, err)) < 0)
		goto fail;
	fl_sha256_hex(sha, bytes.ptr, bytes.len);
	v->meta = json_incref(r.doc);
	v->keyids = json_array();
	for (size_t i = 0; v->keyids && i < e.nsigs; i++)
		if (json_array_append_new(v->keyids, json_string(e.sigs[i].keyid)) < 0)
			break;
	v->whole = json_pack("{sOsOss}", "metadata", v->meta, "envelope", env, "sha256", sha);
	if (!v->keyids || json_array_size(v->keyids) != e.nsigs || !v->whole) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto fail;
	}
	goto cleanup;
fail:
	fl_err_prefix(err, "'%s'", path);
cleanup:
	json_decref(env);
	fl_trust_release_free(&r);
	fl_envelope_release(&e);
	fl_buf_release(&bytes);
	return rc;
}

static int view_from_server(struct rel_view *v, struct cli_ctx *ctx, const char *ref,
			    struct fl_err *err)
{
	struct fl_buf target = FL_BUF_INIT;
	struct fl_relref rr;
	json_t *sigs, *s;
	size_t i;
	int rc;

	if (fl_relref_parse(&rr, ref, err) < 0)
		return cli_usage(ctx, err, "%s", err->msg);
	if (cli_target(&target, "/api/v1/releases/", rr.name, "/") < 0 ||
	    fl_url_escape(&target, rr.version) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&v->whole, ctx, "GET", target.ptr, NULL, err)) < 0) {
		fl_err_prefix(err, "%s", ref);
		goto cleanup;
	}
	/* json_is_object evaluates its argument twice: no incref inside it. */
	v->meta = json_object_get(v->whole, "metadata");
	if (!json_is_object(v->meta)) {
		v->meta = NULL;
		rc = fl_err_set(err, FL_ERROR, "the server's reply for %s has no metadata", ref);
		goto cleanup;
	}
	json_incref(v->meta);
	if (!(v->keyids = json_array())) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	sigs = json_object_get(json_object_get(v->whole, "envelope"), "signatures");
	json_array_foreach (sigs, i, s)
		if (json_is_string(json_object_get(s, "keyid")) &&
		    json_array_append(v->keyids, json_object_get(s, "keyid")) < 0) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
cleanup:
	fl_buf_release(&target);
	return rc;
}

/* An existing file is read offline; anything else must be NAME@VERSION on
 * the server. A file wins, so "./a@1.0.0" can always name a file. */
static int view_load(struct rel_view *v, struct cli_ctx *ctx, const char *arg, struct fl_err *err)
{
	struct stat st;
	int rc;

	memset(v, 0, sizeof(*v));
	snprintf(v->label, sizeof(v->label), "%s", arg);
	if (stat(arg, &st) == 0 && S_ISREG(st.st_mode))
		rc = view_from_file(v, arg, err);
	else if (strchr(arg, '@'))
		rc = view_from_server(v, ctx, arg, err);
	else
		rc =
		    cli_usage(ctx, err, "'%.80s' is neither a metadata file nor NAME@VERSION", arg);
	if (rc < 0)
		rel_view_release(v);
	return rc;
}

/* "key: value" with the value as a table cell (null: "-"). */
static void print_field(FILE *f, const char *key, const json_t *v)
{
	struct fl_buf b = FL_BUF_INIT;

	if (cli_fmt_cell(&b, v) == 0)
		fprintf(f, "%-12s %s\n", key, fl_buf_cstr(&b));
	fl_buf_release(&b);
}

static int print_view(FILE *f, const struct rel_view *v)
{
	const json_t *m = v->meta, *x;
	struct fl_buf b = FL_BUF_INIT;
	size_t i;
	int rc = 0;

	fprintf(f, "%-12s %s@%s\n", "release:", json_string_value(json_object_get(m, "name")),
		json_string_value(json_object_get(m, "version")));
	print_field(f, "kind:", json_object_get(m, "kind"));
	print_field(f, "counter:", json_object_get(m, "counter"));
	print_field(f, "expires:", json_object_get(m, "expires"));
	if ((x = json_object_get(v->whole, "commit")))
		print_field(f, "commit:", x);
	/* The hash the timestamp and assignments name this release by. */
	if (json_is_string(x = json_object_get(v->whole, "sha256")))
		fprintf(f, "%-12s sha256 %s\n", "envelope:", json_string_value(x));
	if ((x = json_object_get(v->whole, "created_at")) && (rc = cli_fmt_time(&b, x)) == 0)
		fprintf(f, "%-12s %s\n", "created:", fl_buf_cstr(&b));
	x = json_object_get(m, "hardware");
	fprintf(f, "%-12s", "hardware:");
	for (i = 0; i < json_array_size(x); i++)
		fprintf(f, "%s%s", i ? ", " : " ", json_string_value(json_array_get(x, i)));
	fprintf(f, "%s\n", json_array_size(x) ? "" : " any");
	x = json_object_get(m, "install");
	fprintf(f, "%-12s hook ", "install:");
	fl_buf_clear(&b);
	if ((rc = cli_fmt_cell(&b, json_object_get(x, "hook"))) == 0)
		fprintf(f, "%s, timeout %llds\n", fl_buf_cstr(&b),
			(long long)json_integer_value(json_object_get(x, "timeout_s")));
	x = json_object_get(m, "health");
	fprintf(f, "%-12s cmd ", "health:");
	fl_buf_clear(&b);
	if (rc == 0 && (rc = cli_fmt_cell(&b, json_object_get(x, "cmd"))) == 0)
		fprintf(f, "%s, window %llds\n", fl_buf_cstr(&b),
			(long long)json_integer_value(json_object_get(x, "window_s")));
	x = json_object_get(m, "baseline");
	if (json_is_object(x))
		fprintf(f, "%-12s %zu feature%s\n", "baseline:", json_object_size(x),
			json_object_size(x) == 1 ? "" : "s");
	else
		fprintf(f, "%-12s none\n", "baseline:");
	fprintf(f, "lineage:\n");
	for (i = 0; i < FL_ARRAY_SIZE(lineage_keys); i++) {
		fl_buf_clear(&b);
		if (rc == 0 && (rc = cli_fmt_cell(&b, json_object_get(json_object_get(m, "lineage"),
								      lineage_keys[i]))) == 0)
			fprintf(f, "  %-14s %s\n", lineage_keys[i], fl_buf_cstr(&b));
	}
	x = json_object_get(m, "artifacts");
	fprintf(f, "artifacts:\n");
	for (i = 0; i < json_array_size(x); i++) {
		const json_t *art = json_array_get(x, i);
		int64_t len = json_integer_value(json_object_get(art, "length"));
		char size[32];

		fmt_size(size, len);
		fprintf(f, "  %s  %lld bytes%s%s%s  sha256 %s\n",
			json_string_value(json_object_get(art, "name")), (long long)len,
			len >= 1024 ? " (" : "", len >= 1024 ? size : "", len >= 1024 ? ")" : "",
			json_string_value(json_object_get(art, "sha256")));
	}
	fprintf(f, "signatures:  %zu\n", json_array_size(v->keyids));
	for (i = 0; i < json_array_size(v->keyids); i++)
		fprintf(f, "  %s\n", json_string_value(json_array_get(v->keyids, i)));
	fl_buf_release(&b);
	if (rc == 0 && ferror(f))
		rc = FL_ERROR;
	return rc;
}

static int cli_release_show(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	struct rel_view v;
	int rc;

	if ((rc = view_load(&v, ctx, a->pos[0], err)) < 0)
		return rc;
	if (ctx->format == CLI_FMT_JSON)
		rc = cli_out_json(ctx->out, v.whole);
	else if ((rc = print_view(ctx->out, &v)) < 0)
		rc = fl_err_set(err, FL_ERROR, "cannot write the output");
	rel_view_release(&v);
	return rc;
}

/* ---- diff ---- */

/* Equal, with a missing value the same as null. */
static int same(const json_t *a, const json_t *b)
{
	if (!a || json_is_null(a))
		return !b || json_is_null(b);
	return b && json_equal(a, b);
}

/* Appends {"field","change","from"?,"to"?}; NULL from/to are left out. */
static int add_change(json_t *changes, const char *field, const char *change, const json_t *from,
		      const json_t *to)
{
	json_t *c = json_pack("{ssss}", "field", field, "change", change);

	if (!c)
		return FL_ENOMEM;
	if ((from && json_object_set_new(c, "from", json_deep_copy(from)) < 0) ||
	    (to && json_object_set_new(c, "to", json_deep_copy(to)) < 0)) {
		json_decref(c);
		return FL_ENOMEM;
	}
	return json_array_append_new(changes, c) < 0 ? FL_ENOMEM : 0;
}

/* Scalar fields by path "a" or "a.b". */
static const json_t *get_path(const json_t *m, const char *path)
{
	const char *dot = strchr(path, '.');
	char head[32];

	if (!dot)
		return json_object_get(m, path);
	snprintf(head, sizeof(head), "%.*s", (int)(dot - path), path);
	return json_object_get(json_object_get(m, head), dot + 1);
}

static const json_t *find_artifact(const json_t *arts, const char *name)
{
	size_t i;
	json_t *x;

	json_array_foreach (arts, i, x) {
		const char *n = json_string_value(json_object_get(x, "name"));

		if (n && name && strcmp(n, name) == 0)
			return x;
	}
	return NULL;
}

static int in_array(const json_t *arr, const json_t *v)
{
	size_t i;
	json_t *x;

	json_array_foreach (arr, i, x)
		if (json_equal(x, v))
			return 1;
	return 0;
}

/* The changes from release a to release b, in a stable order: scalars, then
 * artifacts, hardware, baseline and lineage. */
static int diff_meta(json_t **out, const json_t *a, const json_t *b)
{
	static const char *const scalars[] = {
	    "name",	      "kind",	      "version",	   "counter",
	    "expires",	      "install.hook", "install.timeout_s", "health.cmd",
	    "health.window_s"};
	const json_t *aa = json_object_get(a, "artifacts"), *ba = json_object_get(b, "artifacts");
	const json_t *ah = json_object_get(a, "hardware"), *bh = json_object_get(b, "hardware");
	json_t *changes = json_array(), *x;
	char field[64];
	size_t i;
	int rc = 0;

	*out = NULL;
	if (!changes)
		return FL_ENOMEM;
	for (i = 0; i < FL_ARRAY_SIZE(scalars) && rc == 0; i++)
		if (!same(get_path(a, scalars[i]), get_path(b, scalars[i])))
			rc = add_change(changes, scalars[i], "changed", get_path(a, scalars[i]),
					get_path(b, scalars[i]));
	json_array_foreach (aa, i, x) {
		const json_t *y = find_artifact(ba, json_string_value(json_object_get(x, "name")));

		if (rc == 0 && !y)
			rc = add_change(changes, "artifact", "removed", x, NULL);
		else if (rc == 0 && !same(x, y))
			rc = add_change(changes, "artifact", "changed", x, y);
	}
	json_array_foreach (ba, i, x)
		if (rc == 0 && !find_artifact(aa, json_string_value(json_object_get(x, "name"))))
			rc = add_change(changes, "artifact", "added", NULL, x);
	json_array_foreach (ah, i, x)
		if (rc == 0 && !in_array(bh, x))
			rc = add_change(changes, "hardware", "removed", x, NULL);
	json_array_foreach (bh, i, x)
		if (rc == 0 && !in_array(ah, x))
			rc = add_change(changes, "hardware", "added", NULL, x);
	/* A baseline is a table of bins: whether it changed is what a reviewer
	 * needs here; show prints it in full. */
	if (rc == 0 && !same(json_object_get(a, "baseline"), json_object_get(b, "baseline")))
		rc = add_change(changes, "baseline", "changed", NULL, NULL);
	for (i = 0; i < FL_ARRAY_SIZE(lineage_keys) && rc == 0; i++) {
		snprintf(field, sizeof(field), "lineage.%s", lineage_keys[i]);
		if (!same(get_path(a, field), get_path(b, field)))
			rc = add_change(changes, field, "changed", get_path(a, field),
					get_path(b, field));
	}
	if (rc < 0) {
		json_decref(changes);
		return rc;
	}
	*out = changes;
	return 0;
}

/* One line per change, e.g. "artifact         ~ model.onnx: length 7 -> 9,
 * sha256 1a2b... -> 3c4d...". */
static int print_changes(FILE *f, const json_t *changes)
{
	struct fl_buf from = FL_BUF_INIT, to = FL_BUF_INIT;
	size_t i;
	json_t *c;
	int rc = 0;

	json_array_foreach (changes, i, c) {
		const char *field = json_string_value(json_object_get(c, "field"));
		const char *change = json_string_value(json_object_get(c, "change"));
		const json_t *a = json_object_get(c, "from"), *b = json_object_get(c, "to");

		fl_buf_clear(&from);
		fl_buf_clear(&to);
		if (strcmp(field, "artifact") == 0) {
			const json_t *x = a ? a : b;
			const char *name = json_string_value(json_object_get(x, "name"));

			if (strcmp(change, "changed") != 0) {
				fprintf(f, "%-24s %c %s (%lld bytes, sha256 %s)\n", field,
					*change == 'a' ? '+' : '-', name,
					(long long)json_integer_value(json_object_get(x, "length")),
					json_string_value(json_object_get(x, "sha256")));
				continue;
			}
			fprintf(f, "%-24s ~ %s:", field, name);
			if (!same(json_object_get(a, "length"), json_object_get(b, "length")))
				fprintf(
				    f, " length %lld -> %lld%s",
				    (long long)json_integer_value(json_object_get(a, "length")),
				    (long long)json_integer_value(json_object_get(b, "length")),
				    same(json_object_get(a, "sha256"), json_object_get(b, "sha256"))
					? ""
					: ",");
			if (!same(json_object_get(a, "sha256"), json_object_get(b, "sha256")))
				fprintf(f, " sha256 %s -> %s",
					json_string_value(json_object_get(a, "sha256")),
					json_string_value(json_object_get(b, "sha256")));
			fputc('\n', f);
		} else if (strcmp(field, "hardware") == 0) {
			fprintf(f, "%-24s %c %s\n", field, *change == 'a' ? '+' : '-',
				json_string_value(a ? a : b));
		} else if (!a && !b) {
			fprintf(f, "%-24s %s\n", field, change);
		} else {
			if ((rc = cli_fmt_cell(&from, a)) < 0 || (rc = cli_fmt_cell(&to, b)) < 0)
				break;
			fprintf(f, "%-24s %s -> %s\n", field, fl_buf_cstr(&from), fl_buf_cstr(&to));
		}
	}
	fl_buf_release(&from);
	fl_buf_release(&to);
	return rc;
}

static int cli_release_diff(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	struct rel_view va, vb;
	json_t *changes = NULL, *doc = NULL;
	int rc;

	memset(&vb, 0, sizeof(vb));
	if ((rc = fl_crypto_init()) < 0)
		return fl_err_set(err, rc, "cannot initialise libsodium");
	if ((rc = view_load(&va, ctx, a->pos[0], err)) < 0)
		return rc;
	if ((rc = view_load(&vb, ctx, a->pos[1], err)) < 0)
		goto cleanup;
	if ((rc = diff_meta(&changes, va.meta, vb.meta)) < 0) {
		rc = fl_err_set(err, rc, "out of memory");
		goto cleanup;
	}
	if (ctx->format == CLI_FMT_JSON) {
		if (!(doc = json_pack("{sssssO}", "from", va.label, "to", vb.label, "changes",
				      changes))) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
		rc = cli_out_json(ctx->out, doc);
		goto cleanup;
	}
	fprintf(ctx->out, "--- %s\n+++ %s\n", va.label, vb.label);
	if (json_array_size(changes) == 0)
		fprintf(ctx->out, "no differences in the metadata\n");
	else if ((rc = print_changes(ctx->out, changes)) < 0)
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
cleanup:
	json_decref(doc);
	json_decref(changes);
	rel_view_release(&va);
	rel_view_release(&vb);
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

static const struct cli_optspec push_opts[] = {
    {"--artifact-dir", NULL, CLI_OPT_VALUE},
    {"--root", NULL, CLI_OPT_VALUE},
    {"--quiet", "-q", CLI_OPT_FLAG},
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
    {"push", "META [--artifact-dir DIR] [--root ROOT] [--quiet]",
     "Uploads signed release metadata META and its artifacts. Checks locally first that "
     "META is signed and unexpired and that every artifact matches its signed length and "
     "sha256 (nothing is sent otherwise); skips artifacts the server already has; prints "
     "NAME@VERSION and the release's git commit.",
     "options:\n"
     "  --artifact-dir DIR   where the artifacts are, by name (default: META's directory)\n"
     "  --root ROOT          also check the signatures against this root's release keys\n"
     "  -q, --quiet          no progress on stderr (a bar on a terminal, else one line per\n"
     "                       artifact)\n"
     "  -o json              print the server's reply {name, version, counter, commit, "
     "sha256}\n",
     push_opts, 1, 1, cli_release_push},
    {"list", "", "Lists the releases on the server.",
     "table columns: NAME VERSION KIND COUNTER CREATED COMMIT; -o json: one array\n", NULL, 0, 0,
     cli_release_list},
    {"show", "NAME@VERSION|FILE",
     "Shows a release: artifacts with sizes and hashes, hardware, install and health, "
     "baseline, lineage and the signatures' key ids. A FILE is read offline.",
     "-o json: the server's object (summary, metadata, envelope); for a FILE\n"
     "{metadata, envelope, sha256}\n",
     NULL, 1, 1, cli_release_show},
    {"diff", "A B",
     "Shows what changed in the metadata from release A to release B: version, counter, "
     "artifacts added, removed or changed, hardware, install and health, baseline, "
     "lineage. A and B are NAME@VERSION on the server or metadata files (offline).",
     "-o json: {from, to, changes: [{field, change, from, to}...]}\n", NULL, 2, 2,
     cli_release_diff},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct cli_family cli_release_family = {
    "release",
    "Signed releases: create, sign, verify offline; push, list, show, diff.",
    release_cmds,
};

/*
 * test_trust_cli.c - the offline release commands end to end through
 * cli_main: keys, a 2-of-2 root, a 2-of-3 release, rotation, tampering.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli_test.h"

static char dir[256];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s", fl_test_tmpdir());
}

/* Path of name inside the test directory (rotating static buffers). */
static const char *P(const char *name)
{
	static char bufs[8][512];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

/* Runs `fairlead ARGS...` (NULL-terminated); returns the exit status and
 * keeps stderr in last_err for messages in assertions. */
static char last_err[4096];

static int fl(const char *first, ...)
{
	char *argv[64], *out = NULL, *errs = NULL;
	size_t on = 0, en = 0;
	int argc = 0, rc;
	FILE *o = open_memstream(&out, &on), *e = open_memstream(&errs, &en);
	va_list ap;

	cr_assert(o && e);
	argv[argc++] = "fairlead";
	va_start(ap, first);
	for (const char *s = first; s && argc < 63; s = va_arg(ap, const char *))
		argv[argc++] = (char *)(uintptr_t)s;
	va_end(ap);
	argv[argc] = NULL;
	rc = cli_main(argc, argv, o, e);
	fclose(o);
	fclose(e);
	snprintf(last_err, sizeof(last_err), "%s", errs ? errs : "");
	free(out);
	free(errs);
	return rc;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static void keys(void)
{
	static const char *const names[] = {"r1.key", "r2.key", "m1.key",
					    "m2.key", "m3.key", "online.key"};
	struct stat st;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		cr_assert_eq(fl("key", "generate", "--out", P(names[i]), NULL), 0, "%s", last_err);
	cr_assert_eq(stat(P("m1.key"), &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	/* Never overwritten. */
	cr_assert_eq(fl("key", "generate", "--out", P("m1.key"), NULL), 1);
	/* Release managers hand over only their public key. */
	cr_assert_eq(fl("key", "public", P("m1.key"), "--out", P("m1.pub"), NULL), 0, "%s",
		     last_err);
}

static void root(void)
{
	cr_assert_eq(fl("root", "create", "--out", P("root.json"), "--root-key", P("r1.key"),
			"--root-key", P("r2.key"), "--root-threshold", "2", "--release-key",
			P("m1.pub"), "--release-key", P("m2.key"), "--release-key", P("m3.key"),
			"--release-threshold", "2", "--timestamp-key", P("online.key"),
			"--director-key", P("online.key"), "--expires", "30d", NULL),
		     0, "%s", last_err);
	cr_assert_eq(fl("root", "verify", P("root.json"), NULL), 1);
	cr_assert_eq(fl("root", "sign", P("root.json"), "--key", P("r1.key"), NULL), 0);
	cr_assert_eq(fl("root", "verify", P("root.json"), NULL), 1);
	cr_assert_eq(fl("root", "sign", P("root.json"), "--key", P("r2.key"), NULL), 0);
	cr_assert_eq(fl("root", "verify", P("root.json"), NULL), 0, "%s", last_err);
}

TestSuite(trust_cli, .init = setup);

Test(trust_cli, two_of_three_release)
{
	keys();
	root();
	write_file(P("model.onnx"), "weights");
	cr_assert_eq(fl("release", "create", "--name", "detector", "--version", "1.0.0", "--kind",
			"model", "--artifact", P("model.onnx"), "--hw", "rpi4", "--lineage",
			"source_commit=abc123", "--counter", "4", "--out", P("rel.json"), NULL),
		     0, "%s", last_err);
	cr_assert_eq(fl("release", "verify", P("rel.json"), "--root", P("root.json"), NULL), 1);
	/* A public key file cannot sign. */
	cr_assert_eq(fl("release", "sign", P("rel.json"), "--key", P("m1.pub"), NULL), 1);
	cr_assert_eq(fl("release", "sign", P("rel.json"), "--key", P("m1.key"), NULL), 0);
	/* The same manager signing twice still counts once. */
	cr_assert_eq(fl("release", "sign", P("rel.json"), "--key", P("m1.key"), NULL), 0);
	cr_assert_eq(fl("release", "verify", P("rel.json"), "--root", P("root.json"), NULL), 1);
	cr_assert(strstr(last_err, "signed by 1 of") != NULL, "%s", last_err);
	/* A root key is not a release key. */
	cr_assert_eq(fl("release", "sign", P("rel.json"), "--key", P("r1.key"), NULL), 0);
	cr_assert_eq(fl("release", "verify", P("rel.json"), "--root", P("root.json"), NULL), 1);
	cr_assert_eq(fl("release", "sign", P("rel.json"), "--key", P("m3.key"), NULL), 0);
	cr_assert_eq(fl("release", "verify", P("rel.json"), "--root", P("root.json"),
			"--artifact-dir", dir, NULL),
		     0, "%s", last_err);
	/* A changed artifact byte. */
	write_file(P("model.onnx"), "weightz");
	cr_assert_eq(fl("release", "verify", P("rel.json"), "--root", P("root.json"),
			"--artifact-dir", dir, NULL),
		     1);
	cr_assert(strstr(last_err, "sha256") != NULL, "%s", last_err);
	/* Release metadata is not root metadata. */
	cr_assert_eq(fl("root", "sign", P("rel.json"), "--key", P("r1.key"), NULL), 1);
}

Test(trust_cli, root_rotation_needs_old_and_new)
{
	keys();
	root();
	cr_assert_eq(fl("key", "generate", "--out", P("r3.key"), NULL), 0);
	cr_assert_eq(fl("root", "rotate", "--from", P("root.json"), "--out", P("root2.json"),
			"--root-key", P("r3.key"), "--root-threshold", "1", NULL),
		     0, "%s", last_err);
	cr_assert_eq(fl("root", "sign", P("root2.json"), "--key", P("r3.key"), NULL), 0);
	cr_assert_eq(fl("root", "verify", P("root2.json"), "--trusted", P("root.json"), NULL), 1);
	cr_assert_eq(fl("root", "sign", P("root2.json"), "--key", P("r1.key"), NULL), 0);
	cr_assert_eq(fl("root", "verify", P("root2.json"), "--trusted", P("root.json"), NULL), 1);
	cr_assert_eq(fl("root", "sign", P("root2.json"), "--key", P("r2.key"), NULL), 0);
	cr_assert_eq(fl("root", "verify", P("root2.json"), "--trusted", P("root.json"), NULL), 0,
		     "%s", last_err);
	/* The old root does not follow the new one (rollback). */
	cr_assert_eq(fl("root", "verify", P("root.json"), "--trusted", P("root2.json"), NULL), 1);
}

Test(trust_cli, usage_errors)
{
	keys();
	cr_assert_eq(fl("root", "create", "--out", P("x.json"), "--root-key", P("r1.key"),
			"--root-threshold", "2", "--release-key", P("m1.key"), "--timestamp-key",
			P("online.key"), "--director-key", P("online.key"), NULL),
		     2, "%s", last_err);
	cr_assert_eq(fl("release", "create", "--name", "x", "--version", "1.0", "--kind", "model",
			"--artifact", P("m1.pub"), "--out", P("r.json"), NULL),
		     2);
	cr_assert_eq(fl("release", "create", "--name", "x", "--version", "1.0.0", "--kind", "model",
			"--artifact", P("m1.pub"), "--lineage", "colour=red", "--out", P("r.json"),
			NULL),
		     2);
	cr_assert_eq(fl("release", "verify", "--help", NULL), 0);
	cr_assert_eq(fl("key", "generate", "--help", NULL), 0);
}

/*
 * test_release_cli.c - the release commands that need no server, through
 * cli_main: diff of two metadata files, show of a file, push's local
 * pre-check, and usage errors of push, show, diff, root push and device
 * assign.
 *
 * The pre-check tests point --server at a port nobody listens on: a push that
 * got past its local checks would fail with "cannot reach", so a message
 * without it proves nothing was sent.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_test.h"

static char dir[256];
static char last_out[16384], last_err[4096];
static char server[64];

/* A loopback port that was free a moment ago: bound, then closed. */
static void pick_dead_server(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(server, sizeof(server), "https://127.0.0.1:%u", ntohs(sa.sin_port));
	close(fd);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s", fl_test_tmpdir());
	pick_dead_server();
}

static const char *P(const char *name)
{
	static char bufs[8][512];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

/* Runs `fairlead ARGS...` (NULL-terminated), keeping stdout and stderr. */
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
	snprintf(last_out, sizeof(last_out), "%s", out ? out : "");
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

#define OUT_HAS(s) cr_assert(strstr(last_out, (s)) != NULL, "no '%s' in:\n%s", (s), last_out)
#define ERR_HAS(s) cr_assert(strstr(last_err, (s)) != NULL, "no '%s' in:\n%s", (s), last_err)

/* Two signed releases of "detector" in dir: v1 (a, b; hw rpi4) and v2 (a
 * changed, b gone, c new; hw rpi4 and rpi5; a baseline; a parent). The
 * artifacts live in a/ and b/ so each META's directory holds its own. */
static void two_releases(void)
{
	cr_assert_eq(fl("key", "generate", "--out", P("m1.key"), NULL), 0, "%s", last_err);
	cr_assert_eq(mkdir(P("v1"), 0700), 0);
	cr_assert_eq(mkdir(P("v2"), 0700), 0);
	write_file(P("v1/a.bin"), "weights-1");
	write_file(P("v1/b.bin"), "bee");
	write_file(P("v2/a.bin"), "weights-two");
	write_file(P("v2/c.bin"), "sea");
	write_file(P("baseline.json"), "{\"x\": {\"bins\": [0, 1, 2]}}");
	cr_assert_eq(fl("release", "create", "--name", "detector", "--version", "1.0.0", "--kind",
			"model", "--artifact", P("v1/a.bin"), "--artifact", P("v1/b.bin"), "--hw",
			"rpi4", "--lineage", "source_commit=abc", "--counter", "1", "--out",
			P("v1/rel.json"), NULL),
		     0, "%s", last_err);
	cr_assert_eq(fl("release", "create", "--name", "detector", "--version", "1.1.0", "--kind",
			"model", "--artifact", P("v2/a.bin"), "--artifact", P("v2/c.bin"), "--hw",
			"rpi4", "--hw", "rpi5", "--baseline", P("baseline.json"), "--lineage",
			"source_commit=abc", "--lineage", "parent=detector@1.0.0", "--counter", "2",
			"--health-cmd", "/bin/true", "--out", P("v2/rel.json"), NULL),
		     0, "%s", last_err);
	cr_assert_eq(fl("release", "sign", P("v1/rel.json"), "--key", P("m1.key"), NULL), 0);
	cr_assert_eq(fl("release", "sign", P("v2/rel.json"), "--key", P("m1.key"), NULL), 0);
}

TestSuite(release_cli, .init = setup);

Test(release_cli, diff_offline)
{
	two_releases();
	cr_assert_eq(fl("release", "diff", P("v1/rel.json"), P("v2/rel.json"), NULL), 0, "%s",
		     last_err);
	OUT_HAS("version                  1.0.0 -> 1.1.0");
	OUT_HAS("counter                  1 -> 2");
	OUT_HAS("artifact                 ~ a.bin: length 9 -> 11, sha256 ");
	OUT_HAS("artifact                 - b.bin");
	OUT_HAS("artifact                 + c.bin (3 bytes, sha256 ");
	OUT_HAS("hardware                 + rpi5");
	OUT_HAS("baseline                 changed");
	OUT_HAS("health.cmd               - -> /bin/true");
	OUT_HAS("lineage.parent           - -> detector@1.0.0");
	cr_assert(strstr(last_out, "lineage.source_commit") == NULL, "%s", last_out);
	cr_assert(strstr(last_out, "kind") == NULL, "%s", last_out);

	/* A release against itself. */
	cr_assert_eq(fl("release", "diff", P("v1/rel.json"), P("v1/rel.json"), NULL), 0);
	OUT_HAS("no differences");

	/* JSON: every change as {field, change, from, to}. */
	cr_assert_eq(fl("-o", "json", "release", "diff", P("v1/rel.json"), P("v2/rel.json"), NULL),
		     0, "%s", last_err);
	{
		json_error_t je;
		json_t *doc = json_loads(last_out, 0, &je), *changes, *c;
		size_t i, added = 0, removed = 0, changed = 0;

		cr_assert_not_null(doc, "%s", je.text);
		changes = json_object_get(doc, "changes");
		cr_assert_eq(json_typeof(changes), JSON_ARRAY);
		json_array_foreach (changes, i, c) {
			const char *field = json_string_value(json_object_get(c, "field"));
			const char *change = json_string_value(json_object_get(c, "change"));

			if (strcmp(field, "artifact") != 0)
				continue;
			added += strcmp(change, "added") == 0;
			removed += strcmp(change, "removed") == 0;
			changed += strcmp(change, "changed") == 0;
		}
		cr_assert_eq(added, 1);
		cr_assert_eq(removed, 1);
		cr_assert_eq(changed, 1);
		cr_assert_eq(json_integer_value(json_object_get(json_array_get(changes, 1), "to")),
			     2, "counter is the second change");
		json_decref(doc);
	}
}

Test(release_cli, show_offline)
{
	two_releases();
	cr_assert_eq(fl("release", "show", P("v2/rel.json"), NULL), 0, "%s", last_err);
	OUT_HAS("detector@1.1.0");
	OUT_HAS("hardware:    rpi4, rpi5");
	OUT_HAS("a.bin  11 bytes");
	OUT_HAS("baseline:    1 feature");
	OUT_HAS("parent         detector@1.0.0");
	OUT_HAS("signatures:  1");
	cr_assert_eq(fl("-o", "json", "release", "show", P("v2/rel.json"), NULL), 0);
	OUT_HAS("\"metadata\"");
	OUT_HAS("\"envelope\"");
}

Test(release_cli, push_precheck_refuses_before_any_connection)
{
	two_releases();
	/* A changed artifact byte: refused locally. */
	write_file(P("v1/a.bin"), "weights-X");
	cr_assert_eq(
	    fl("--server", server, "--token", "t", "release", "push", P("v1/rel.json"), NULL), 1);
	ERR_HAS("nothing was sent");
	ERR_HAS("'a.bin' does not match its sha256");
	cr_assert(strstr(last_err, "cannot reach") == NULL, "%s", last_err);

	/* Longer than signed, and missing. */
	write_file(P("v1/a.bin"), "weights-1 and more");
	cr_assert_eq(
	    fl("--server", server, "--token", "t", "release", "push", P("v1/rel.json"), NULL), 1);
	ERR_HAS("longer than signed");
	cr_assert_eq(fl("--server", server, "--token", "t", "release", "push", P("v1/rel.json"),
			"--artifact-dir", dir, NULL),
		     1);
	ERR_HAS("use --artifact-dir");
	cr_assert(strstr(last_err, "cannot reach") == NULL, "%s", last_err);

	/* Unsigned metadata is not sent either. */
	write_file(P("v1/a.bin"), "weights-1");
	cr_assert_eq(fl("release", "create", "--name", "d", "--version", "1.0.0", "--kind", "model",
			"--artifact", P("v1/a.bin"), "--out", P("v1/unsigned.json"), NULL),
		     0, "%s", last_err);
	cr_assert_eq(
	    fl("--server", server, "--token", "t", "release", "push", P("v1/unsigned.json"), NULL),
	    1);
	ERR_HAS("unsigned");
	cr_assert(strstr(last_err, "cannot reach") == NULL, "%s", last_err);

	/* Good bytes pass the pre-check, and only then is the server tried. */
	cr_assert_eq(fl("--server", server, "--token", "t", "release", "push", P("v1/rel.json"),
			"--quiet", NULL),
		     1);
	ERR_HAS("cannot reach");
}

/* Every command that takes NAME@VERSION checks it with the one parser
 * before anything is sent: the dead server is never reached. */
Test(release_cli, release_refs_checked_locally)
{
	static const char *const bad[] = {"det@1.0", "det@", "@1.0.0", "d/t@1.0.0", "det.@1.0.0"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(fl("--server", server, "--token", "t", "rollout", "start", bad[i],
				"--selector", "site=x", NULL),
			     2, "rollout start %s", bad[i]);
		ERR_HAS("is not NAME@VERSION");
		cr_assert_eq(fl("--server", server, "--token", "t", "drift", bad[i], NULL), 2,
			     "drift %s", bad[i]);
		ERR_HAS("is not NAME@VERSION");
		cr_assert_eq(fl("--server", server, "--token", "t", "device", "assign", "dev-1",
				bad[i], NULL),
			     2, "device assign %s", bad[i]);
		ERR_HAS("is not NAME@VERSION");
		cr_assert_null(strstr(last_err, "cannot reach"), "%s", last_err);
	}
}

Test(release_cli, usage_errors)
{
	two_releases();
	cr_assert_eq(fl("release", "push", NULL), 2);
	cr_assert_eq(fl("release", "push", P("v1/rel.json"), "--bogus", NULL), 2);
	cr_assert_eq(fl("release", "diff", P("v1/rel.json"), NULL), 2);
	cr_assert_eq(fl("release", "show", "not-a-ref", NULL), 2);
	ERR_HAS("neither a metadata file nor NAME@VERSION");
	cr_assert_eq(fl("--server", server, "--token", "t", "release", "show", "det@1.0", NULL), 2);
	cr_assert_eq(fl("release", "diff", P("v1/rel.json"), "nope", NULL), 2);
	cr_assert_eq(fl("root", "push", NULL), 2);
	cr_assert_eq(fl("device", "assign", "dev-1", NULL), 2);
	cr_assert_eq(fl("device", "assign", "dev-1", "detector", NULL), 2);
	ERR_HAS("not NAME@VERSION");
	cr_assert_eq(
	    fl("device", "assign", "--selector", "site=x", "dev-1", "detector@1.0.0", NULL), 2);
	cr_assert_eq(fl("device", "assign", "--selector", "site in (", "detector@1.0.0", NULL), 2);
	cr_assert_eq(fl("device", "assign", "bad/id", "detector@1.0.0", NULL), 2);
	/* A metadata file that is not a release: an error, not a usage error. */
	cr_assert_eq(fl("release", "diff", P("m1.key"), P("v1/rel.json"), NULL), 1);
	/* A root push is checked before it is sent: release metadata is no root. */
	cr_assert_eq(fl("--server", server, "--token", "t", "root", "push", P("v1/rel.json"), NULL),
		     1);
	cr_assert(strstr(last_err, "cannot reach") == NULL, "%s", last_err);
	/* Every new command has help. */
	cr_assert_eq(fl("release", "push", "--help", NULL), 0);
	cr_assert_eq(fl("release", "list", "--help", NULL), 0);
	cr_assert_eq(fl("release", "show", "--help", NULL), 0);
	cr_assert_eq(fl("release", "diff", "--help", NULL), 0);
	cr_assert_eq(fl("root", "push", "--help", NULL), 0);
	cr_assert_eq(fl("device", "assign", "--help", NULL), 0);
	OUT_HAS("--selector EXPR");
}

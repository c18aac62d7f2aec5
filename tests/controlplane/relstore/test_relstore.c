/*
 * test_relstore.c - the git release store, on real repositories in temp
 * directories, checked with the stock git client where git has the last word.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fairlead/crypto.h"
#include "fl_test.h"
#include "relstore/relstore.h"

#define MiB ((uint64_t)1024 * 1024)

struct env {
	char dir[256];
	char repo[300];
	char cache[300];
	struct cp_relstore *rs;
};

static void env_open(struct env *e)
{
	struct fl_err err = {0};

	cr_assert(eq(int, cp_relstore_open(&e->rs, e->repo, e->cache, &err), 0), "%s", err.msg);
}

static void env_init(struct env *e)
{
	struct fl_err err = {0};

	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "%s", fl_test_tmpdir());
	snprintf(e->repo, sizeof(e->repo), "%s/releases.git", e->dir);
	snprintf(e->cache, sizeof(e->cache), "%s/cache", e->dir);
	cr_assert(eq(int, cp_relstore_init(e->repo, &err), 0), "%s", err.msg);
	env_open(e);
}

/* Runs a shell command, stdout and stderr into out; returns the exit status. */
static int FL_PRINTF(3, 4) sh(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[2048];
	size_t len = 0;
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	p = popen(cmd, "r");
	cr_assert(p != NULL, "popen %s", cmd);
	while (out && len + 1 < cap) {
		size_t n = fread(out + len, 1, cap - 1 - len, p);

		if (n == 0)
			break;
		len += n;
	}
	if (out)
		out[len] = '\0';
	else
		while (fgetc(p) != EOF)
			;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Writes len bytes to path and puts their SHA-256 in hex. Random bytes, or
 * (compressible) one random 16 KiB block over and over, which deflate shrinks
 * to almost nothing while the inflated stream stays len bytes long. */
static void make_file(char sha[65], const char *path, uint64_t len, uint32_t seed, int compressible)
{
	static unsigned char block[64 * 1024];
	struct fl_sha256_ctx h;
	uint8_t d[FL_SHA256_LEN];
	uint32_t x = seed * 2654435761u + 1;
	FILE *f = fopen(path, "wb");

	cr_assert(f != NULL);
	fl_sha256_begin(&h);
	for (uint64_t done = 0; done < len;) {
		size_t n = len - done < sizeof(block) ? (size_t)(len - done) : sizeof(block);

		if (!compressible || done == 0)
			for (size_t i = 0; i < sizeof(block); i++) {
				x ^= x << 13, x ^= x >> 17, x ^= x << 5;
				block[i] = (unsigned char)(compressible ? block[i % 16384] ^ x : x);
			}
		if (compressible && done == 0)
			for (size_t i = 16384; i < sizeof(block); i++)
				block[i] = block[i % 16384];
		cr_assert(eq(sz, fwrite(block, 1, n, f), n));
		fl_sha256_update(&h, block, n);
		done += n;
	}
	cr_assert(eq(int, fclose(f), 0));
	fl_sha256_end(&h, d);
	fl_hex_encode(sha, d, sizeof(d));
}

static void hash_file(char sha[65], const char *path)
{
	static unsigned char buf[64 * 1024];
	struct fl_sha256_ctx h;
	uint8_t d[FL_SHA256_LEN];
	FILE *f = fopen(path, "rb");
	size_t n;

	cr_assert(f != NULL, "open %s", path);
	fl_sha256_begin(&h);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fl_sha256_update(&h, buf, n);
	fclose(f);
	fl_sha256_end(&h, d);
	fl_hex_encode(sha, d, sizeof(d));
}

/* One release with one artifact of len bytes; fills rel and its arrays. */
struct onerel {
	char meta[256];
	char sha[65];
	char path[320];
	struct cp_release_artifact art;
	struct cp_release_blob sig;
	struct cp_release_kv lineage[4];
	struct cp_release_files rel;
};

static void onerel_make(struct onerel *o, const struct env *e, const char *name,
			const char *version, uint64_t len, uint32_t seed)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->meta, sizeof(o->meta), "{\"name\":\"%s\",\"version\":\"%s\"}", name, version);
	snprintf(o->path, sizeof(o->path), "%s/%s-%s.bin", e->dir, name, version);
	make_file(o->sha, o->path, len, seed, 0);
	o->art = (struct cp_release_artifact){"model.bin", o->path, len, o->sha};
	o->sig = (struct cp_release_blob){"release.sig", "signature-bytes", 15};
	o->lineage[0] = (struct cp_release_kv){"Source-Commit", "0123abcd"};
	o->lineage[1] = (struct cp_release_kv){"Training-Data", "sha256:feed"};
	o->lineage[2] = (struct cp_release_kv){"Parent-Release", "none"};
	o->lineage[3] = (struct cp_release_kv){"Builder", "ci-42"};
	o->rel = (struct cp_release_files){.name = name,
					   .version = version,
					   .meta = o->meta,
					   .meta_len = strlen(o->meta),
					   .extra = &o->sig,
					   .n_extra = 1,
					   .artifacts = &o->art,
					   .n_artifacts = 1,
					   .lineage = o->lineage,
					   .n_lineage = 4};
}

static void commit_ok(struct env *e, struct onerel *o, char hex[41])
{
	struct fl_err err = {0};

	cr_assert(eq(int, cp_relstore_commit_release(e->rs, &o->rel, hex, &err), 0), "%s", err.msg);
	cr_assert(eq(sz, strlen(hex), 40));
}

static void refs(char *out, size_t cap, const struct env *e)
{
	cr_assert(eq(
	    int,
	    sh(out, cap, "git -C %s for-each-ref --format='%%(refname) %%(objectname)'", e->repo),
	    0));
}

/* Field key of list entry i, as the char * that Criterion's str wants. */
static char *jstr_at(json_t *list, size_t i, const char *key)
{
	static char s[128];

	snprintf(s, sizeof(s), "%s",
		 json_string_value(json_object_get(json_array_get(list, i), key)));
	return s;
}

Test(relstore, releases_branches_tags_and_git_tools)
{
	struct env e;
	struct onerel a1, a2, b1;
	char c1[41], c2[41], c3[41], out[8192], path[512];
	struct fl_buf meta = FL_BUF_INIT;
	struct fl_err err = {0};
	json_t *list = NULL;
	int ok;

	env_init(&e);
	onerel_make(&a1, &e, "vision", "1.0.0", 4096, 1);
	onerel_make(&a2, &e, "vision", "1.1.0-rc.1+build.7", 10000, 2);
	onerel_make(&b1, &e, "fw-imx8", "0.1.0", 1, 3);
	commit_ok(&e, &a1, c1);
	commit_ok(&e, &a2, c2);
	commit_ok(&e, &b1, c3);

	/* Branch per name, parent chain, annotated tags. */
	cr_assert(
	    eq(int,
	       sh(out, sizeof(out), "git -C %s rev-parse releases/vision releases/vision^", e.repo),
	       0));
	cr_assert(eq(int, strncmp(out, c2, 40), 0));
	cr_assert(eq(int, strncmp(out + 41, c1, 40), 0));
	cr_assert(
	    ne(int, sh(NULL, 0, "git -C %s rev-parse -q --verify releases/vision~2", e.repo), 0));
	cr_assert(eq(int, sh(out, sizeof(out), "git -C %s rev-parse releases/fw-imx8", e.repo), 0));
	cr_assert(eq(int, strncmp(out, c3, 40), 0));
	cr_assert(eq(int,
		     sh(out, sizeof(out),
			"git -C %s for-each-ref --format='%%(refname) %%(objecttype) "
			"%%(*objectname)' refs/tags",
			e.repo),
		     0));
	cr_assert(not(eq(ptr, strstr(out, "refs/tags/vision/1.0.0 tag "), NULL)), "%s", out);
	cr_assert(not(eq(ptr, strstr(out, c1), NULL)));
	cr_assert(not(eq(ptr, strstr(out, "refs/tags/vision/1.1.0-rc.1+build.7 tag "), NULL)));
	cr_assert(not(eq(ptr, strstr(out, "refs/tags/fw-imx8/0.1.0 tag "), NULL)));

	/* Tree and lineage as git sees them. */
	cr_assert(eq(
	    int, sh(out, sizeof(out), "git -C %s ls-tree -r --name-only vision/1.0.0", e.repo), 0));
	cr_assert(eq(str, out, "SHA256SUMS\nartifacts/model.bin\nrelease.json\nrelease.sig\n"));
	cr_assert(
	    eq(int, sh(out, sizeof(out), "git -C %s show vision/1.0.0:release.json", e.repo), 0));
	cr_assert(eq(str, out, a1.meta));
	cr_assert(eq(int,
		     sh(out, sizeof(out), "git -C %s log --format='%%B--' releases/vision", e.repo),
		     0));
	cr_assert(not(eq(ptr,
			 strstr(out, "release vision 1.1.0-rc.1+build.7\n\nSource-Commit: "
				     "0123abcd\nTraining-Data: sha256:feed\nParent-Release: "
				     "none\nBuilder: ci-42\n"),
			 NULL)),
		  "%s", out);
	cr_assert(not(eq(ptr, strstr(out, "release vision 1.0.0\n\n"), NULL)), "%s", out);

	/* The stock client: fsck --strict clean, clone works, sums verify. */
	cr_assert(eq(int, sh(out, sizeof(out), "git -C %s fsck --strict --no-dangling", e.repo), 0),
		  "%s", out);
	/* HEAD names no release (there is a branch per name): git notes that, and
	 * nothing else may be said. */
	ok = strcmp(out, "") == 0 ||
	     strcmp(out, "notice: HEAD points to an unborn branch (master)\n") == 0;
	cr_assert(ok, "fsck said: %s", out);
	cr_assert(eq(int, sh(out, sizeof(out), "git clone -q %s %s/clone", e.repo, e.dir), 0), "%s",
		  out);
	cr_assert(eq(int, sh(out, sizeof(out), "git -C %s/clone tag -l", e.dir), 0));
	cr_assert(eq(str, out, "fw-imx8/0.1.0\nvision/1.0.0\nvision/1.1.0-rc.1+build.7\n"));
	cr_assert(eq(int,
		     sh(out, sizeof(out),
			"cd %s/clone && git -c advice.detachedHead=false checkout -q "
			"vision/1.1.0-rc.1+build.7 && sha256sum -c SHA256SUMS",
			e.dir),
		     0),
		  "%s", out);
	cr_assert(eq(str, out, "artifacts/model.bin: OK\n"));

	/* list and read_meta. */
	cr_assert(eq(int, cp_relstore_list(&list, e.rs, &err), 0), "%s", err.msg);
	cr_assert(eq(sz, json_array_size(list), 3));
	cr_assert(eq(str, jstr_at(list, 0, "tag"), "fw-imx8/0.1.0"));
	cr_assert(eq(str, jstr_at(list, 1, "commit"), c1));
	cr_assert(eq(str, jstr_at(list, 2, "version"), "1.1.0-rc.1+build.7"));
	cr_assert(gt(i64, json_integer_value(json_object_get(json_array_get(list, 2), "time")), 0));
	json_decref(list);
	cr_assert(eq(int, cp_relstore_read_meta(&meta, e.rs, "vision", "1.0.0", &err), 0));
	cr_assert(eq(str, meta.ptr, a1.meta));
	fl_buf_release(&meta);
	cr_assert(
	    eq(int, cp_relstore_read_meta(&meta, e.rs, "vision", "9.9.9", &err), FL_ENOTFOUND));
	cr_assert(eq(int, cp_relstore_read_meta(&meta, e.rs, "nope", "1.0.0", &err), FL_ENOTFOUND));
	fl_buf_release(&meta);

	/* The index survives a reopen: it is rebuilt from the branches. */
	cp_relstore_free(e.rs);
	env_open(&e);
	cr_assert(eq(int, cp_relstore_artifact_path(path, sizeof(path), e.rs, a1.sha, &err), 0),
		  "%s", err.msg);
	hash_file(out, path);
	cr_assert(eq(str, out, a1.sha));
	cr_assert(eq(int, cp_relstore_artifact_path(path, sizeof(path), e.rs, b1.sha, &err), 0));
	hash_file(out, path);
	cr_assert(eq(str, out, b1.sha));
	cp_relstore_free(e.rs);
}

Test(relstore, wrong_sha_or_length_changes_nothing)
{
	struct env e;
	struct onerel a1, a2;
	char c1[41], hex[41], before[4096], after[4096], obj_before[512], obj_after[512];
	struct fl_err err = {0};
	char badsha[65];

	env_init(&e);
	onerel_make(&a1, &e, "vision", "1.0.0", 4096, 1);
	commit_ok(&e, &a1, c1);
	onerel_make(&a2, &e, "vision", "1.1.0", 200000, 2);
	refs(before, sizeof(before), &e);
	cr_assert(
	    eq(int, sh(obj_before, sizeof(obj_before), "git -C %s count-objects -v", e.repo), 0));

	snprintf(badsha, sizeof(badsha), "%s", a2.sha);
	badsha[10] = badsha[10] == '0' ? '1' : '0';
	a2.art.sha256_hex = badsha;
	cr_assert(eq(int, cp_relstore_commit_release(e.rs, &a2.rel, hex, &err), FL_EINVAL));
	cr_assert(not(eq(ptr, strstr(err.msg, "sha256"), NULL)), "%s", err.msg);
	a2.art.sha256_hex = a2.sha;
	a2.art.length = 199999;
	cr_assert(eq(int, cp_relstore_commit_release(e.rs, &a2.rel, hex, &err), FL_EINVAL));
	cr_assert(not(eq(ptr, strstr(err.msg, "longer"), NULL)), "%s", err.msg);
	a2.art.length = 200001;
	cr_assert(eq(int, cp_relstore_commit_release(e.rs, &a2.rel, hex, &err), FL_EINVAL));
	a2.art.length = 200000;
	a2.art.path = "/nonexistent/file";
	cr_assert(eq(int, cp_relstore_commit_release(e.rs, &a2.rel, hex, &err), FL_ENOTFOUND));

	refs(after, sizeof(after), &e);
	cr_assert(eq(str, after, before));
	/* Not even an unreferenced object landed. */
	cr_assert(
	    eq(int, sh(obj_after, sizeof(obj_after), "git -C %s count-objects -v", e.repo), 0));
	cr_assert(eq(str, obj_after, obj_before));
	cr_assert(eq(int, cp_relstore_artifact_path(after, sizeof(after), e.rs, a2.sha, &err),
		     FL_ENOTFOUND));

	/* And the corrected release still goes in on top of the first. */
	a2.art.path = a2.path;
	commit_ok(&e, &a2, hex);
	cr_assert(
	    eq(int, sh(before, sizeof(before), "git -C %s rev-parse releases/vision^", e.repo), 0));
	cr_assert(eq(int, strncmp(before, c1, 40), 0));
	cp_relstore_free(e.rs);
}

Test(relstore, duplicate_tag_changes_nothing)
{
	struct env e;
	struct onerel a1, dup;
	char c1[41], hex[41], before[4096], after[4096];
	struct fl_buf meta = FL_BUF_INIT;
	struct fl_err err = {0};

	env_init(&e);
	onerel_make(&a1, &e, "vision", "1.0.0", 4096, 1);
	commit_ok(&e, &a1, c1);
	onerel_make(&dup, &e, "vision", "1.0.0", 8192, 9);
	snprintf(dup.meta, sizeof(dup.meta), "{\"other\":true}");
	dup.rel.meta_len = strlen(dup.meta);
	refs(before, sizeof(before), &e);
	cr_assert(eq(int, cp_relstore_commit_release(e.rs, &dup.rel, hex, &err), FL_EEXISTS));
	cr_assert(eq(str, hex, ""));
	refs(after, sizeof(after), &e);
	cr_assert(eq(str, after, before));
	cr_assert(eq(int, cp_relstore_read_meta(&meta, e.rs, "vision", "1.0.0", &err), 0));
	cr_assert(eq(str, meta.ptr, a1.meta));
	fl_buf_release(&meta);
	cr_assert(eq(int, cp_relstore_artifact_path(after, sizeof(after), e.rs, dup.sha, &err),
		     FL_ENOTFOUND));
	cp_relstore_free(e.rs);
}

Test(relstore, cache_extracts_20mib_and_unknown_hash)
{
	struct env e;
	struct onerel a;
	char hex[41], path[512], path2[512], got[65];
	struct fl_err err = {0};
	struct stat sb;

	env_init(&e);
	onerel_make(&a, &e, "big", "2.0.0", 20 * MiB, 7);
	commit_ok(&e, &a, hex);
	/* The same bytes under a second name and release: one blob, one cache file. */
	cr_assert(eq(int, cp_relstore_artifact_path(path, sizeof(path), e.rs, a.sha, &err), 0),
		  "%s", err.msg);
	cr_assert(eq(int, stat(path, &sb), 0));
	cr_assert(eq(i64, (int64_t)sb.st_size, (int64_t)(20 * MiB)));
	hash_file(got, path);
	cr_assert(eq(str, got, a.sha));
	/* Named CACHE/<sha[0:2]>/<sha>. */
	snprintf(path2, sizeof(path2), "%s/%.2s/%s", e.cache, a.sha, a.sha);
	cr_assert(eq(str, path, path2));
	/* A hit returns the same, verified file. */
	cr_assert(eq(int, cp_relstore_artifact_path(path2, sizeof(path2), e.rs, a.sha, &err), 0));
	cr_assert(eq(str, path2, path));
	/* No temp file left behind. */
	cr_assert(eq(int, sh(got, sizeof(got), "ls %s/%.2s | wc -l", e.cache, a.sha), 0));
	cr_assert(eq(str, got, "1\n"));

	cr_assert(
	    eq(int,
	       cp_relstore_artifact_path(path, sizeof(path), e.rs,
					 "0000000000000000000000000000000000000000000000000000"
					 "000000000000",
					 &err),
	       FL_ENOTFOUND));
	cr_assert(eq(int,
		     cp_relstore_artifact_path(path, sizeof(path), e.rs, "../../etc/passwd", &err),
		     FL_EINVAL));
	cr_assert(eq(int, cp_relstore_artifact_path(path, 8, e.rs, a.sha, &err), FL_ETOOBIG));
	for (char *p = a.sha; *p; p++)
		if (*p >= 'a')
			*p = (char)(*p - 'a' + 'A');
	cr_assert(
	    eq(int, cp_relstore_artifact_path(path, sizeof(path), e.rs, a.sha, &err), FL_EINVAL));
	cp_relstore_free(e.rs);
}

static long vm_hwm_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

enum rss_op { RSS_COMMIT, RSS_EXTRACT };

/* Runs one operation in a fresh child (its own peak RSS, reset to the current
 * RSS first through clear_refs) and returns the peak's growth in KiB. */
static long rss_growth_kb(struct env *e, enum rss_op op, struct onerel *o)
{
	int fds[2];
	long growth = -1;
	pid_t pid;
	int st, ok;

	cr_assert(eq(int, pipe(fds), 0));
	pid = fork();
	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		struct cp_relstore *rs = NULL;
		struct fl_err err = {0};
		char hex[41], path[512];
		long before, after, d = -1;
		int fd = open("/proc/self/clear_refs", O_WRONLY);

		if (cp_relstore_open(&rs, e->repo, e->cache, &err) == 0) {
			if (fd >= 0 && write(fd, "5", 1) != 1)
				_exit(3);
			before = vm_hwm_kb();
			if (op == RSS_COMMIT
				? cp_relstore_commit_release(rs, &o->rel, hex, &err)
				: cp_relstore_artifact_path(path, sizeof(path), rs, o->sha, &err))
				_exit(2);
			after = vm_hwm_kb();
			d = before < 0 || after < 0 ? -1 : after - before;
			cp_relstore_free(rs);
		}
		if (write(fds[1], &d, sizeof(d)) != sizeof(d))
			_exit(4);
		_exit(0); /* no atexit, no leak check of the test's state */
	}
	close(fds[1]);
	cr_assert(eq(int, (int)read(fds[0], &growth, sizeof(growth)), (int)sizeof(growth)));
	close(fds[0]);
	cr_assert(eq(int, waitpid(pid, &st, 0), pid));
	ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	cr_assert(ok, "child status %d", st);
	return growth;
}

/* Peak RSS must not grow with the artifact: streaming, not slurping. */
Test(relstore, streaming_keeps_rss_flat_for_64mib, .timeout = 300)
{
	struct env e;
	struct onerel rnd, cmp;
	char path[512], got[65];
	struct fl_err err = {0};
	long commit_kb, extract_kb, commit2_kb, extract2_kb;

	env_init(&e);
	cp_relstore_free(e.rs); /* the children open their own */
	e.rs = NULL;

	/* Random bytes: deflate cannot shrink them. */
	onerel_make(&rnd, &e, "big", "1.0.0", 64 * MiB, 11);
	commit_kb = rss_growth_kb(&e, RSS_COMMIT, &rnd);
	extract_kb = rss_growth_kb(&e, RSS_EXTRACT, &rnd);
	/* A 16 KiB block repeated: the loose object is tiny, so nothing but a
	 * whole-blob buffer could make the peak grow by 64 MiB. */
	onerel_make(&cmp, &e, "big", "1.1.0", 0, 12);
	make_file(cmp.sha, cmp.path, 64 * MiB, 12, 1);
	cmp.art.length = 64 * MiB;
	commit2_kb = rss_growth_kb(&e, RSS_COMMIT, &cmp);
	extract2_kb = rss_growth_kb(&e, RSS_EXTRACT, &cmp);
	cr_log_info("VmHWM growth, 64 MiB artifact: commit %ld KiB, extract %ld KiB (random); "
		    "commit %ld KiB, extract %ld KiB (compressible)",
		    commit_kb, extract_kb, commit2_kb, extract2_kb);
	fprintf(stderr,
		"relstore: VmHWM growth, 64 MiB artifact: commit %ld KiB, extract %ld KiB "
		"(random); commit %ld KiB, extract %ld KiB (compressible)\n",
		commit_kb, extract_kb, commit2_kb, extract2_kb);
	cr_assert(ge(long, commit_kb, 0));
	cr_assert(lt(long, commit_kb, 16 * 1024));
	cr_assert(ge(long, commit2_kb, 0));
	cr_assert(lt(long, commit2_kb, 16 * 1024));
	cr_assert(ge(long, extract2_kb, 0));
	cr_assert(lt(long, extract2_kb, 16 * 1024));
	/* libgit2 streams a loose object out of an mmap of the whole compressed
	 * file; for incompressible bytes its touched pages (file-backed, clean,
	 * reclaimable) count in VmHWM. No heap copy on top of that: the bound
	 * is the file, not the file plus the blob. */
	cr_assert(ge(long, extract_kb, 0));
	cr_assert(lt(long, extract_kb, 64 * 1024 + 16 * 1024));

	env_open(&e);
	cr_assert(eq(int, cp_relstore_artifact_path(path, sizeof(path), e.rs, rnd.sha, &err), 0));
	hash_file(got, path);
	cr_assert(eq(str, got, rnd.sha));
	cr_assert(eq(int, cp_relstore_artifact_path(path, sizeof(path), e.rs, cmp.sha, &err), 0));
	hash_file(got, path);
	cr_assert(eq(str, got, cmp.sha));
	cp_relstore_free(e.rs);
}

static void expect_einval(struct env *e, const struct cp_release_files *rel, const char *what)
{
	struct fl_err err = {0};
	char hex[41];

	cr_assert(eq(int, cp_relstore_commit_release(e->rs, rel, hex, &err), FL_EINVAL), "%s",
		  what);
}

Test(relstore, names_that_could_escape_are_rejected)
{
	static const char *bad_names[] = {"",	    "a/b",  "..",  "a..b", ".hidden", "-x",
					  "x.lock", "x.",   "a b", "a~1",  "a^",      "a:b",
					  "a@{0}",  "a\\b", "a*",  "a\n",  "\x7f"};
	static const char *bad_versions[] = {"",    "1.0/2",	"1..0",	 ".1",	"1.",
					     "-1",  "1_0",	"1@{0}", "1 0", "1.0\n",
					     "1:2", "1.lock/x", "a/../b"};
	static const char *bad_files[] = {"release.json", "SHA256SUMS", "artifacts", "../x",
					  "a/b",	  "",		".git"};
	struct env e;
	struct onerel o;
	char out[4096], hex[41];
	struct fl_buf meta = FL_BUF_INIT;
	struct fl_err err = {0};
	/* In C an embedded NUL ends the string: "ok\0/../x" arrives as "ok";
	 * callers' JSON parsing (jansson without JSON_ALLOW_NUL) rejects \u0000. */
	static const char nul_name[] = "\0abc";

	env_init(&e);
	onerel_make(&o, &e, "vision", "1.0.0", 100, 1);
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(*bad_names); i++) {
		o.rel.name = bad_names[i];
		expect_einval(&e, &o.rel, bad_names[i]);
		cr_assert(eq(int, cp_relstore_read_meta(&meta, e.rs, bad_names[i], "1.0.0", &err),
			     FL_EINVAL));
	}
	o.rel.name = nul_name;
	expect_einval(&e, &o.rel, "NUL");
	o.rel.name = "vision";
	for (size_t i = 0; i < sizeof(bad_versions) / sizeof(*bad_versions); i++) {
		o.rel.version = bad_versions[i];
		expect_einval(&e, &o.rel, bad_versions[i]);
		cr_assert(eq(int,
			     cp_relstore_read_meta(&meta, e.rs, "vision", bad_versions[i], &err),
			     FL_EINVAL));
	}
	o.rel.version = "1.0.0";
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(*bad_files); i++) {
		int escapes = !*bad_files[i] || bad_files[i][0] == '.' || strchr(bad_files[i], '/');

		/* As artifacts/<name>, our top-level names are harmless. */
		o.art.name = bad_files[i];
		if (escapes)
			expect_einval(&e, &o.rel, bad_files[i]);
		o.art.name = "model.bin";
		o.sig.name = bad_files[i];
		expect_einval(&e, &o.rel, bad_files[i]);
		o.sig.name = "release.sig";
	}
	/* Duplicate artifact names, and a lineage value forging a line. */
	{
		struct cp_release_artifact two[2] = {o.art, o.art};

		o.rel.artifacts = two;
		o.rel.n_artifacts = 2;
		expect_einval(&e, &o.rel, "duplicate artifact");
		o.rel.artifacts = &o.art;
		o.rel.n_artifacts = 1;
	}
	o.lineage[3].value = "ci\nSigned-Off-By: mallory";
	expect_einval(&e, &o.rel, "lineage newline");
	o.lineage[3].value = "";
	expect_einval(&e, &o.rel, "lineage empty");
	o.lineage[3] = (struct cp_release_kv){"Bad Key", "x"};
	expect_einval(&e, &o.rel, "lineage key");
	o.lineage[3] = (struct cp_release_kv){"Builder", "ci-42"};

	cr_assert(eq(int, sh(out, sizeof(out), "git -C %s for-each-ref", e.repo), 0));
	cr_assert(eq(str, out, ""), "refs appeared: %s", out);
	/* The same release, fixed, is accepted. */
	cr_assert(eq(int, cp_relstore_commit_release(e.rs, &o.rel, hex, &err), 0), "%s", err.msg);
	cp_relstore_free(e.rs);
}

Test(relstore, open_missing_repo_is_not_found)
{
	struct cp_relstore *rs = (struct cp_relstore *)1;
	struct fl_err err = {0};
	char repo[300], cache[300];
	const char *dir = fl_test_tmpdir();

	snprintf(repo, sizeof(repo), "%s/none.git", dir);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	cr_assert(eq(int, cp_relstore_open(&rs, repo, cache, &err), FL_ENOTFOUND));
	cr_assert(eq(ptr, rs, NULL));
	cr_assert(eq(int, cp_relstore_init(repo, &err), 0));
	cr_assert(eq(int, cp_relstore_init(repo, &err), FL_EEXISTS));
}

struct race {
	struct cp_relstore *rs;
	const char *sha;
	char path[512];
	int rc;
};

static void *race_one(void *arg)
{
	struct race *r = arg;
	struct fl_err err = {0};

	r->rc = cp_relstore_artifact_path(r->path, sizeof(r->path), r->rs, r->sha, &err);
	return NULL;
}

/* Threads asking for one uncached artifact while another release is being
 * committed: each gets the one complete file, extracted once. */
Test(relstore, concurrent_extraction_and_commit)
{
	struct env e;
	struct onerel a, b;
	struct race r[4];
	pthread_t t[4];
	char hex[41], out[256];

	env_init(&e);
	onerel_make(&a, &e, "vision", "1.0.0", 8 * MiB, 21);
	onerel_make(&b, &e, "vision", "1.1.0", 1 * MiB, 22);
	commit_ok(&e, &a, hex);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct race){.rs = e.rs, .sha = a.sha, .rc = 1};
		cr_assert(eq(int, pthread_create(&t[i], NULL, race_one, &r[i]), 0));
	}
	commit_ok(&e, &b, hex);
	for (int i = 0; i < 4; i++) {
		cr_assert(eq(int, pthread_join(t[i], NULL), 0));
		cr_assert(eq(int, r[i].rc, 0));
		cr_assert(eq(str, r[i].path, r[0].path));
	}
	hash_file(out, r[0].path);
	cr_assert(eq(str, out, a.sha));
	cr_assert(eq(int, sh(out, sizeof(out), "ls -a %s/%.2s | wc -l", e.cache, a.sha), 0));
	cr_assert(eq(str, out, "3\n")); /* ".", ".." and the file */
	cp_relstore_free(e.rs);
}

/* The loose object file of the object that rev names, made writable. */
static void object_file(char *out, size_t cap, const struct env *e, const char *rev)
{
	char hex[128];

	cr_assert(eq(int, sh(hex, sizeof(hex), "git -C %s rev-parse '%s'", e->repo, rev), 0), "%s",
		  hex);
	hex[40] = '\0';
	snprintf(out, cap, "%s/objects/%.2s/%s", e->repo, hex, hex + 2);
	cr_assert(eq(int, chmod(out, 0644), 0), "%s", out);
}

/* A truncated object made libgit2 spin forever inside the open; now the open
 * fails, naming it. The suite's timeout is the hang detector. */
Test(relstore, truncated_or_missing_object_fails_the_open, .timeout = 60)
{
	static const char *const revs[] = {
	    "releases/det",		      /* the commit */
	    "releases/det^{tree}",	      /* its tree */
	    "releases/det^{tree}:SHA256SUMS", /* read by the index */
	    "releases/det^{tree}:artifacts",  /* the artifacts' tree */
	    "det/1.0.0",		      /* the tag object */
	};
	struct env e;
	struct onerel a;
	struct fl_err err = {0};
	struct cp_relstore *rs = NULL;
	char hex[41], file[512], saved[600], out[256];
	struct stat sb;

	env_init(&e);
	onerel_make(&a, &e, "det", "1.0.0", 300000, 3);
	commit_ok(&e, &a, hex);
	cp_relstore_free(e.rs);
	for (size_t i = 0; i < sizeof(revs) / sizeof(revs[0]); i++) {
		object_file(file, sizeof(file), &e, revs[i]);
		snprintf(saved, sizeof(saved), "%s.saved", file);
		cr_assert(eq(int, sh(out, sizeof(out), "cp '%s' '%s'", file, saved), 0));
		cr_assert(eq(int, stat(file, &sb), 0));
		cr_assert(eq(int, truncate(file, sb.st_size / 2), 0));
		cr_assert(eq(int, cp_relstore_open(&rs, e.repo, e.cache, &err), FL_ERROR), "%s",
			  revs[i]);
		cr_assert(rs == NULL);
		cr_assert(strstr(err.msg, "unreadable") != NULL, "%s: %s", revs[i], err.msg);
		cr_assert(strstr(err.msg, file + strlen(e.repo) + 9) != NULL, "%s: %s", revs[i],
			  err.msg);
		/* Gone altogether: the same. */
		cr_assert(eq(int, unlink(file), 0));
		cr_assert(eq(int, cp_relstore_open(&rs, e.repo, e.cache, &err), FL_ERROR), "%s",
			  revs[i]);
		cr_assert(strstr(err.msg, "missing") != NULL, "%s: %s", revs[i], err.msg);
		cr_assert(eq(int, rename(saved, file), 0));
	}
	env_open(&e);
	cp_relstore_free(e.rs);
}

/* Overwrites 16 bytes in the middle of path, keeping its length. */
static void scribble(const char *path)
{
	struct stat sb;
	int fd = open(path, O_WRONLY);

	cr_assert(fd >= 0, "%s", path);
	cr_assert(eq(int, fstat(fd, &sb), 0));
	cr_assert(eq(long, (long)pwrite(fd, "0123456789abcdef", 16, sb.st_size / 2), 16L));
	close(fd);
}

/* A cache file that no longer hashes right is extracted again before it is
 * served; when git cannot give the bytes either, FL_EUNAVAIL, and the bad
 * file is gone. */
Test(relstore, damaged_cache_file_is_restored_or_unavailable)
{
	struct env e;
	struct onerel a;
	struct fl_err err = {0};
	char hex[41], path[512], got[65], blob[512], saved[600];

	env_init(&e);
	onerel_make(&a, &e, "det", "1.0.0", 3 * MiB + 7, 5);
	commit_ok(&e, &a, hex);
	cr_assert(eq(int, cp_relstore_artifact_path(path, sizeof(path), e.rs, a.sha, &err), 0),
		  "%s", err.msg);
	scribble(path);
	cr_assert(eq(int, cp_relstore_artifact_path(path, sizeof(path), e.rs, a.sha, &err), 0),
		  "%s", err.msg);
	hash_file(got, path);
	cr_assert(eq(str, got, a.sha));

	/* The blob truncated in git as well: nothing good to serve. */
	object_file(blob, sizeof(blob), &e, "releases/det^{tree}:artifacts/model.bin");
	snprintf(saved, sizeof(saved), "%s.saved", blob);
	cr_assert(eq(int, sh(NULL, 0, "cp '%s' '%s'", blob, saved), 0));
	cr_assert(eq(int, truncate(blob, 1000), 0));
	scribble(path);
	cr_assert(
	    eq(int, cp_relstore_artifact_path(path, sizeof(path), e.rs, a.sha, &err), FL_EUNAVAIL));
	cr_assert(strstr(err.msg, a.sha) != NULL, "%s", err.msg);
	cr_assert(strstr(err.msg, "unavailable") != NULL, "%s", err.msg);
	cr_assert(eq(int, access(path, F_OK), -1), "the damaged file is removed");
	cr_assert(
	    eq(int, cp_relstore_artifact_path(path, sizeof(path), e.rs, a.sha, &err), FL_EUNAVAIL));

	/* Repaired: served again. */
	cr_assert(eq(int, rename(saved, blob), 0));
	cr_assert(eq(int, cp_relstore_artifact_path(path, sizeof(path), e.rs, a.sha, &err), 0),
		  "%s", err.msg);
	hash_file(got, path);
	cr_assert(eq(str, got, a.sha));
	cp_relstore_free(e.rs);
}

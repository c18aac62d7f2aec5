/* test_fs.c - atomic writes, reads and directories. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fairlead/crypto.h"
#include "fairlead/fs.h"
#include "fl_test.h"

static void init(void)
{
	cr_assert_eq(fl_crypto_init(), 0);
}

TestSuite(fs, .init = init);

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

Test(fs, atomic_write_content_and_exact_mode)
{
	const char *dir = fl_test_tmpdir();
	char path[512];
	struct fl_buf b = FL_BUF_INIT;
	struct fl_err err = {0, ""};
	struct stat st;
	mode_t old = umask(022);

	snprintf(path, sizeof(path), "%s/device.key", dir);
	cr_assert_eq(fl_fs_write_atomic(path, "secret\n", 7, 0600, &err), 0, "%s", err.msg);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
	cr_assert_eq(st.st_size, 7);
	cr_assert_eq(fl_fs_read(&b, path, &err), 0, "%s", err.msg);
	cr_assert_eq(b.len, 7);
	cr_assert_str_eq(b.ptr, "secret\n");
	cr_assert_eq(count_entries(dir), 1, "temp file left behind");
	fl_buf_release(&b);

	/* A mode wider than the umask is applied exactly as asked. */
	umask(077);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	cr_assert_eq(fl_fs_write_atomic(path, "{}", 2, 0644, &err), 0, "%s", err.msg);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0644, "mode %o", st.st_mode & 07777);
	umask(old);
}

Test(fs, atomic_write_replaces_and_leaves_no_temp_files)
{
	const char *dir = fl_test_tmpdir();
	char path[512];
	struct fl_buf b = FL_BUF_INIT;
	struct stat st;

	snprintf(path, sizeof(path), "%s/f", dir);
	for (int i = 0; i < 20; i++) {
		char data[32];
		int n = snprintf(data, sizeof(data), "version %d", i);

		cr_assert_eq(fl_fs_write_atomic(path, data, (size_t)n, 0600, NULL), 0);
	}
	cr_assert_eq(fl_fs_read(&b, path, NULL), 0);
	cr_assert_str_eq(fl_buf_cstr(&b), "version 19");
	cr_assert_eq(count_entries(dir), 1);
	fl_buf_release(&b);

	/* An existing file with another mode gets the new mode. */
	cr_assert_eq(chmod(path, 0666), 0);
	cr_assert_eq(fl_fs_write_atomic(path, "x", 1, 0600, NULL), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600);
}

/* Reads the whole of an open file from offset 0 into out (NUL-terminated). */
static size_t read_fd(int fd, char *out, size_t cap)
{
	size_t n = 0;

	for (;;) {
		ssize_t r = pread(fd, out + n, cap - 1 - n, (off_t)n);

		cr_assert(r >= 0, "pread: %s", strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
	}
	out[n] = '\0';
	return n;
}

Test(fs, atomic_write_replaces_the_file_not_its_content)
{
	const char *dir = fl_test_tmpdir();
	static const char old_s[] = "{\"v\": \"old\"}\n", new_s[] = "{\"v\": \"new content\"}\n";
	char path[512], link_path[512], got[256];
	struct fl_buf b = FL_BUF_INIT;
	struct fl_err err = {0, ""};
	struct stat before, after, old;
	int fd;

	snprintf(path, sizeof(path), "%s/state.json", dir);
	snprintf(link_path, sizeof(link_path), "%s/old-link", dir);
	cr_assert_eq(fl_fs_write_atomic(path, old_s, strlen(old_s), 0644, &err), 0, "%s", err.msg);
	/* A reader that opened the file before the write, and a second name of
	 * the old file, must keep seeing the complete old content: the write
	 * puts a new file in place, it never rewrites the old one. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(fd >= 0);
	cr_assert_eq(link(path, link_path), 0, "link: %s", strerror(errno));
	cr_assert_eq(fstat(fd, &before), 0);

	cr_assert_eq(fl_fs_write_atomic(path, new_s, strlen(new_s), 0600, &err), 0, "%s", err.msg);

	cr_assert_eq(read_fd(fd, got, sizeof(got)), strlen(old_s), "old file changed: '%s'", got);
	cr_assert_str_eq(got, old_s, "an open reader saw the old file rewritten");
	cr_assert_eq(fstat(fd, &old), 0);
	cr_assert_eq(old.st_mode & 07777, 0644, "old file chmodded in place: %o",
		     old.st_mode & 07777);
	close(fd);
	cr_assert_eq(fl_fs_read(&b, link_path, &err), 0, "%s", err.msg);
	cr_assert_str_eq(fl_buf_cstr(&b), old_s, "old file rewritten in place");
	fl_buf_release(&b);

	cr_assert_eq(stat(path, &after), 0);
	cr_assert_neq(after.st_ino, before.st_ino, "path still names the old inode");
	cr_assert_eq(after.st_mode & 07777, 0600, "mode %o", after.st_mode & 07777);
	cr_assert_eq(fl_fs_read(&b, path, &err), 0, "%s", err.msg);
	cr_assert_str_eq(fl_buf_cstr(&b), new_s);
	fl_buf_release(&b);
	cr_assert_eq(count_entries(dir), 2, "temp file left behind");
}

Test(fs, atomic_write_that_fails_part_way_keeps_the_old_file)
{
	const char *dir = fl_test_tmpdir();
	char path[512], data[16384];
	struct fl_buf b = FL_BUF_INIT;
	struct fl_err err = {0, ""};
	struct rlimit saved, small;
	struct sigaction ign, saved_sa;
	struct stat st;
	int rc;

	snprintf(path, sizeof(path), "%s/device.key", dir);
	cr_assert_eq(fl_fs_write_atomic(path, "old key\n", 8, 0600, &err), 0, "%s", err.msg);
	memset(data, 'n', sizeof(data));

	/* Files may grow to 4 KiB only: the first write(2) of the 16 KiB is
	 * cut short and the next fails with EFBIG (SIGXFSZ ignored, so it does
	 * not kill the test). Not root-only: lowering a soft limit and raising
	 * it back up to the hard limit is allowed to anyone. */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	cr_assert_eq(sigaction(SIGXFSZ, &ign, &saved_sa), 0);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
	small = saved;
	small.rlim_cur = 4096;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0, "setrlimit: %s", strerror(errno));
	rc = fl_fs_write_atomic(path, data, sizeof(data), 0600, &err);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &saved), 0, "setrlimit: %s", strerror(errno));
	cr_assert_eq(sigaction(SIGXFSZ, &saved_sa, NULL), 0);

	cr_assert(rc < 0, "a write past RLIMIT_FSIZE succeeded");
	cr_assert_eq(err.code, rc);
	cr_assert(strstr(err.msg, path) != NULL, "message names no file: '%s'", err.msg);
	cr_assert(strstr(err.msg, strerror(EFBIG)) != NULL, "message: '%s'", err.msg);
	/* The old content, whole, under its mode; and nothing else. */
	cr_assert_eq(stat(path, &st), 0, "old file gone");
	cr_assert_eq(st.st_size, 8, "old file torn: size %lld", (long long)st.st_size);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
	cr_assert_eq(fl_fs_read(&b, path, &err), 0, "%s", err.msg);
	cr_assert_str_eq(fl_buf_cstr(&b), "old key\n");
	fl_buf_release(&b);
	cr_assert_eq(count_entries(dir), 1, "temp file left behind after a failed write");

	/* With the limit back, the same write goes through. */
	cr_assert_eq(fl_fs_write_atomic(path, data, sizeof(data), 0600, &err), 0, "%s", err.msg);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_size, (off_t)sizeof(data));
	cr_assert_eq(count_entries(dir), 1);
}

Test(fs, atomic_write_empty_file)
{
	const char *dir = fl_test_tmpdir();
	char path[512];
	struct fl_buf b = FL_BUF_INIT;

	snprintf(path, sizeof(path), "%s/empty", dir);
	cr_assert_eq(fl_fs_write_atomic(path, "", 0, 0600, NULL), 0);
	cr_assert_eq(fl_fs_read(&b, path, NULL), 0);
	cr_assert_not_null(b.ptr);
	cr_assert_eq(b.len, 0);
	cr_assert_str_eq(b.ptr, "");
	fl_buf_release(&b);
}

Test(fs, atomic_write_into_missing_directory_fails_cleanly)
{
	const char *dir = fl_test_tmpdir();
	char path[512];
	struct fl_err err = {0, ""};

	snprintf(path, sizeof(path), "%s/nope/f", dir);
	cr_assert_eq(fl_fs_write_atomic(path, "x", 1, 0600, &err), FL_ERROR);
	cr_assert_eq(err.code, FL_ERROR);
	cr_assert_eq(fl_fs_exists(path), 0);
	cr_assert_eq(count_entries(dir), 0);
}

Test(fs, read_missing_is_not_found)
{
	const char *dir = fl_test_tmpdir();
	char path[512];
	struct fl_buf b = FL_BUF_INIT;
	struct fl_err err = {0, ""};

	snprintf(path, sizeof(path), "%s/missing", dir);
	cr_assert_eq(fl_fs_read(&b, path, &err), FL_ENOTFOUND);
	cr_assert_eq(err.code, FL_ENOTFOUND);
	cr_assert_null(b.ptr);
	cr_assert_eq(fl_fs_exists(path), 0);
}

Test(fs, read_respects_buffer_cap)
{
	const char *dir = fl_test_tmpdir();
	char path[512], big[20000];
	struct fl_buf b;
	struct fl_err err = {0, ""};

	memset(big, 'q', sizeof(big));
	snprintf(path, sizeof(path), "%s/big", dir);
	cr_assert_eq(fl_fs_write_atomic(path, big, sizeof(big), 0600, NULL), 0);
	fl_buf_init(&b, 10000);
	cr_assert_eq(fl_fs_read(&b, path, &err), FL_ETOOBIG);
	cr_assert_eq(err.code, FL_ETOOBIG);
	fl_buf_release(&b);
	fl_buf_init(&b, sizeof(big));
	cr_assert_eq(fl_fs_read(&b, path, &err), 0);
	cr_assert_eq(b.len, sizeof(big));
	fl_buf_release(&b);
}

Test(fs, mkdir_p_creates_every_component_with_mode)
{
	const char *dir = fl_test_tmpdir();
	char path[512], mid[512];
	struct stat st;
	mode_t old = umask(0);

	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	snprintf(mid, sizeof(mid), "%s/a/b", dir);
	cr_assert_eq(fl_fs_mkdir_p(path, 0700, NULL), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(S_ISDIR(st.st_mode) ? 1 : 0, 1);
	cr_assert_eq(st.st_mode & 0777, 0700);
	cr_assert_eq(stat(mid, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700);
	/* Idempotent. */
	cr_assert_eq(fl_fs_mkdir_p(path, 0700, NULL), 0);
	cr_assert_eq(fl_fs_sync_dir(path, NULL), 0);
	cr_assert_eq(fl_fs_mkdir_p("", 0700, NULL), FL_EINVAL);
	umask(old);
}

Test(fs, sweep_removes_only_write_temps)
{
	const char *dir = fl_test_tmpdir();
	static const char *const names[] = {"state.json.tmp-0123456789ab", "key.tmp-aaaaaaaaaaaa",
					    "keep.json", "keep.tmp-short", "x.tmp-0123456789abZ"};
	char path[512];
	int removed = -1;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		f = fopen(path, "w");
		cr_assert(f != NULL);
		fclose(f);
	}
	cr_assert(eq(int, fl_fs_sweep_tmp(dir, &removed, NULL), 0));
	cr_assert(eq(int, removed, 2));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		cr_assert(eq(int, fl_fs_exists(path), i >= 2), "%s", names[i]);
	}
}

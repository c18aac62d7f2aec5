/* test_fs.c - atomic writes, reads and directories. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
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

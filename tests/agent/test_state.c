/* State files: write -> reload, defaults, corruption reported clearly. */
#include <sys/stat.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "agent_test.h"

#include "agent/key.h"
#include "agent/state.h"
#include "fairlead/fs.h"
#include "fairlead/crypto.h"
#include "fake_transport.h"

static void setup(void)
{
	cr_assert(eq(int, fl_crypto_init(), 0));
}

TestSuite(agent_state, .init = setup);

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
	char path[AG_PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	cr_assert(yes(f != NULL));
	cr_assert(eq(sz, fwrite(text, 1, len, f), len));
	fclose(f);
}

Test(agent_state, identity_round_trip)
{
	const char *dir = ag_test_tmpdir();
	struct ag_identity a, b;
	struct fl_err err = {0};

	memset(&a, 0, sizeof(a));
	snprintf(a.device_id, sizeof(a.device_id), "dev-abc");
	snprintf(a.keyid, sizeof(a.keyid), "0123456789abcdef0123456789abcdef");
	snprintf(a.server, sizeof(a.server), "https://127.0.0.1:8443");
	snprintf(a.state, sizeof(a.state), "pending");
	a.enrolled_at = 1700000123;
	cr_assert(eq(int, ag_state_save_identity(&a, dir, &err), 0), "%s", err.msg);
	cr_assert(eq(int, ag_state_load_identity(&b, dir, &err), 0), "%s", err.msg);
	cr_assert(eq(str, b.device_id, "dev-abc"));
	cr_assert(eq(str, b.keyid, a.keyid));
	cr_assert(eq(str, b.server, a.server));
	cr_assert(eq(str, b.state, "pending"));
	cr_assert(eq(i64, b.enrolled_at, 1700000123));
}

Test(agent_state, missing_identity_says_not_enrolled)
{
	const char *dir = ag_test_tmpdir();
	struct ag_identity id;
	struct fl_err err = {0};

	cr_assert(eq(int, ag_state_load_identity(&id, dir, &err), FL_ENOTFOUND));
	cr_assert(yes(strstr(err.msg, "not enrolled") != NULL), "%s", err.msg);
}

Test(agent_state, garbage_identity_is_a_clear_error)
{
	const char *dir = ag_test_tmpdir();
	struct ag_identity id;
	struct fl_err err = {0};

	write_file(dir, AG_IDENTITY_FILE, "\x01\x02garbage\xff", 11);
	cr_assert(eq(int, ag_state_load_identity(&id, dir, &err), FL_EINVAL));
	cr_assert(yes(strstr(err.msg, "identity.json") != NULL), "%s", err.msg);
	cr_assert(yes(strstr(err.msg, "corrupt") != NULL), "%s", err.msg);
}

Test(agent_state, truncated_identity_is_a_clear_error)
{
	static const char full[] =
	    "{\"device_id\":\"dev-1\",\"keyid\":\"00\",\"server\":\"https://x\","
	    "\"enrolled_at\":1,\"state\":\"accepted\"}";
	const char *dir = ag_test_tmpdir();
	struct ag_identity id;
	struct fl_err err = {0};

	/* every proper prefix, including the empty file */
	for (size_t n = 0; n < sizeof(full) - 1; n++) {
		write_file(dir, AG_IDENTITY_FILE, full, n);
		fl_err_clear(&err);
		cr_assert(eq(int, ag_state_load_identity(&id, dir, &err), FL_EINVAL), "n=%zu", n);
		cr_assert(yes(strstr(err.msg, "corrupt") != NULL), "%s", err.msg);
	}
	write_file(dir, AG_IDENTITY_FILE, full, sizeof(full) - 1);
	cr_assert(eq(int, ag_state_load_identity(&id, dir, &err), 0), "%s", err.msg);
}

Test(agent_state, identity_missing_field_is_named)
{
	const char *dir = ag_test_tmpdir();
	static const char text[] = "{\"device_id\":\"dev-1\",\"server\":\"https://x\","
				   "\"enrolled_at\":1,\"state\":\"accepted\"}";
	struct ag_identity id;
	struct fl_err err = {0};

	write_file(dir, AG_IDENTITY_FILE, text, sizeof(text) - 1);
	cr_assert(eq(int, ag_state_load_identity(&id, dir, &err), FL_EINVAL));
	cr_assert(yes(strstr(err.msg, "keyid") != NULL), "%s", err.msg);
}

Test(agent_state, desired_defaults_and_round_trip)
{
	const char *dir = ag_test_tmpdir();
	struct fl_err err = {0};
	json_t *d = NULL, *want = json_pack("{s:i,s:{s:s}}", "rate", 5, "nested", "k", "v");
	int64_t v = -1;

	cr_assert(eq(int, ag_state_load_desired(&d, &v, dir, &err), 0), "%s", err.msg);
	cr_assert(yes(json_is_object(d) && json_object_size(d) == 0));
	cr_assert(eq(i64, v, 0));
	json_decref(d);

	cr_assert(eq(int, ag_state_save_desired(dir, want, 7, &err), 0), "%s", err.msg);
	cr_assert(eq(int, ag_state_load_desired(&d, &v, dir, &err), 0), "%s", err.msg);
	cr_assert(json_equal(d, want));
	cr_assert(eq(i64, v, 7));
	json_decref(d);
	json_decref(want);
}

Test(agent_state, results_defaults_round_trip_and_corruption)
{
	const char *dir = ag_test_tmpdir();
	struct fl_err err = {0};
	json_t *r = NULL, *want = json_pack("{s:[{s:s,s:s,s:{}}]}", "pending", "id", "cmd-1",
					    "status", "ok", "result");

	cr_assert(eq(int, ag_state_load_results(&r, dir, &err), 0), "%s", err.msg);
	cr_assert(eq(sz, json_array_size(json_object_get(r, "pending")), 0));
	json_decref(r);
	cr_assert(eq(int, ag_state_save_results(dir, want, &err), 0), "%s", err.msg);
	cr_assert(eq(int, ag_state_load_results(&r, dir, &err), 0), "%s", err.msg);
	cr_assert(json_equal(r, want));
	json_decref(r);
	json_decref(want);

	write_file(dir, AG_RESULTS_FILE, "{\"pending\":[", 12);
	cr_assert(eq(int, ag_state_load_results(&r, dir, &err), FL_EINVAL));
	cr_assert(yes(strstr(err.msg, "results.json") != NULL), "%s", err.msg);
	cr_assert(yes(r == NULL));
}

Test(agent_state, key_round_trip_mode_0600)
{
	const char *dir = ag_test_tmpdir();
	char path[AG_PATH_MAX];
	struct ag_key a, b;
	struct fl_err err = {0};
	struct stat st;

	ag_key_generate(&a);
	cr_assert(eq(int, ag_key_save(&a, dir, AG_KEY_FILE, &err), 0), "%s", err.msg);
	snprintf(path, sizeof(path), "%s/%s", dir, AG_KEY_FILE);
	cr_assert(eq(int, stat(path, &st), 0));
	cr_assert(eq(int, (int)(st.st_mode & 0777), 0600));
	cr_assert(eq(int, ag_key_load(&b, dir, AG_KEY_FILE, &err), 0), "%s", err.msg);
	cr_assert(eq(int, memcmp(a.sk, b.sk, sizeof(a.sk)), 0));
	cr_assert(eq(int, memcmp(a.pk, b.pk, sizeof(a.pk)), 0));
	cr_assert(eq(str, a.keyid, b.keyid));
	cr_assert(eq(str, a.pk_b64, b.pk_b64));
	cr_assert(eq(sz, strlen(b.keyid), (size_t)FL_KEYID_LEN));
}

Test(agent_state, corrupt_key_is_rejected)
{
	const char *dir = ag_test_tmpdir();
	struct ag_key a, b;
	struct fl_err err = {0};
	char text[128];

	cr_assert(eq(int, ag_key_load(&b, dir, AG_KEY_FILE, &err), FL_ENOTFOUND));
	write_file(dir, AG_KEY_FILE, "not base64!", 11);
	cr_assert(eq(int, ag_key_load(&b, dir, AG_KEY_FILE, &err), FL_EINVAL));
	cr_assert(yes(strstr(err.msg, "corrupt") != NULL), "%s", err.msg);

	/* right length, but the public half does not belong to the secret */
	ag_key_generate(&a);
	a.sk[40] ^= 1;
	fl_b64_encode(text, a.sk, sizeof(a.sk));
	write_file(dir, AG_KEY_FILE, text, strlen(text));
	cr_assert(eq(int, ag_key_load(&b, dir, AG_KEY_FILE, &err), FL_EINVAL));
	cr_assert(yes(strstr(err.msg, "mismatch") != NULL), "%s", err.msg);
}

Test(agent_state, ensure_creates_once_then_reuses)
{
	const char *dir = ag_test_tmpdir();
	struct ag_key a, b;
	struct fl_err err = {0};
	int created = -1;

	cr_assert(eq(int, ag_key_ensure(&a, &created, dir, &err), 0), "%s", err.msg);
	cr_assert(eq(int, created, 1));
	cr_assert(eq(int, ag_key_ensure(&b, &created, dir, &err), 0), "%s", err.msg);
	cr_assert(eq(int, created, 0));
	cr_assert(eq(str, a.keyid, b.keyid));
}

Test(agent_state, atomic_writes_leave_no_temp_files)
{
	const char *dir = ag_test_tmpdir();
	struct ag_key k;
	struct dirent *de;
	json_t *d = json_object();
	struct fl_err err = {0};
	int n = 0;
	DIR *dh;

	fake_device(&k, dir, "dev-1");
	for (int i = 0; i < 5; i++)
		cr_assert(eq(int, ag_state_save_desired(dir, d, i, &err), 0));
	json_decref(d);
	dh = opendir(dir);
	cr_assert(yes(dh != NULL));
	while ((de = readdir(dh)))
		if (de->d_name[0] != '.') {
			cr_assert(yes(strstr(de->d_name, ".tmp") == NULL), "%s", de->d_name);
			n++;
		}
	closedir(dh);
	cr_assert(eq(int, n, 3)); /* device.key, identity.json, desired.json */
}

Test(agent_state, lock_is_exclusive_names_the_holder_and_is_released)
{
	const char *dir = ag_test_tmpdir();
	char want[600], missing[300];
	struct fl_err err = {0};
	int a = -1, b = -1;

	cr_assert(eq(int, ag_state_lock(&a, dir, &err), 0), "%s", err.msg);
	cr_assert(fcntl(a, F_GETFD) & FD_CLOEXEC, "hooks must not inherit the lock");
	/* flock locks belong to the open file: a second open conflicts even in
	 * this process, as another agent's would. */
	cr_assert(eq(int, ag_state_lock(&b, dir, &err), FL_ECONFLICT));
	cr_assert(eq(int, b, -1));
	snprintf(want, sizeof(want),
		 "state directory %s is in use by another fairlead-agent (pid %ld)", dir,
		 (long)getpid());
	cr_assert(eq(str, err.msg, want));
	close(a);
	cr_assert(eq(int, ag_state_lock(&b, dir, &err), 0), "%s", err.msg);
	close(b);

	snprintf(missing, sizeof(missing), "%s/absent", dir);
	cr_assert(eq(int, ag_state_lock(&a, missing, &err), FL_ENOTFOUND));
}

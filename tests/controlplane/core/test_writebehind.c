/* test_writebehind.c - check-in batches written to a real store. */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/writebehind.h"
#include "fairlead/util.h"
#include "fl_test.h"
/* After fl_test.h: it must not see the old assertion macros first. */
#include <criterion/redirect.h>

struct fixture {
	char path[512];
	struct cp_store *s;
};

static void setup_store(struct fixture *f, int ndev)
{
	struct fl_err err = {0, ""};
	json_t *labels = json_object();

	cr_assert_eq(fl_crypto_init(), 0);
	snprintf(f->path, sizeof(f->path), "%s/fairlead.db", fl_test_tmpdir());
	cr_assert_eq(cp_store_open(&f->s, f->path, -1, &err), 0, "%s", err.msg);
	for (int i = 0; i < ndev; i++) {
		uint8_t pk[FL_ED25519_PK_LEN], sk[FL_ED25519_SK_LEN];
		char b64[64], keyid[FL_KEYID_LEN + 1], id[16];
		struct cp_enrollment e;

		fl_ed25519_keypair(pk, sk);
		fl_b64_encode(b64, pk, sizeof(pk));
		fl_keyid(keyid, pk);
		snprintf(id, sizeof(id), "dev-%d", i);
		cr_assert_eq(cp_store_preauth_add(f->s, id, b64, NULL, 1, NULL, &err), 0);
		memset(&e, 0, sizeof(e));
		e.device_id = id;
		e.pubkey_b64 = b64;
		e.keyid = keyid;
		e.state = "accepted";
		e.labels = labels;
		e.preauth_id = id;
		e.now = 1;
		cr_assert_eq(cp_store_device_enroll(f->s, &e, NULL, &err), 0, "%s", err.msg);
	}
	json_decref(labels);
}

static json_t *device(struct fixture *f, const char *id)
{
	json_t *d = NULL;

	cr_assert_eq(cp_store_device_get(&d, f->s, id, NULL), 0);
	return d;
}

static int64_t last_seen(struct fixture *f, const char *id)
{
	json_t *d = device(f, id);
	int64_t v = json_integer_value(json_object_get(d, "last_seen"));

	json_decref(d);
	return v;
}

static const char *cmd_status(json_t *cmds, const char *id)
{
	size_t i;
	json_t *c;

	json_array_foreach (cmds, i, c)
		if (strcmp(json_string_value(json_object_get(c, "id")), id) == 0)
			return json_string_value(json_object_get(c, "status"));
	return "missing";
}

Test(writebehind, flush_writes_latest_values)
{
	struct fixture f;
	struct cp_wb *wb = NULL;
	struct cp_wb_stats st;
	struct fl_err err = {0, ""};
	json_t *d, *cmds = NULL;

	setup_store(&f, 2);
	cr_assert_eq(cp_store_command_add(f.s, "c1", "dev-0", "ping", NULL, 2, NULL, NULL), 0);
	cr_assert_eq(cp_store_command_add(f.s, "c2", "dev-0", "ping", NULL, 3, NULL, NULL), 0);
	cr_assert_eq(cp_wb_new(&wb, f.s, 60000, NULL), 0);

	cr_assert_eq(cp_wb_checkin(wb, "dev-0", 100, "{\"os\":\"v1\"}", "{\"r\":1}", NULL), 0);
	cr_assert_eq(cp_wb_checkin(wb, "dev-0", 110, "{\"os\":\"v2\"}", NULL, NULL), 0);
	cr_assert_eq(cp_wb_checkin(wb, "dev-0", 105, NULL, NULL, NULL), 0); /* out of order */
	cr_assert_eq(cp_wb_checkin(wb, "dev-1", 120, NULL, "{\"r\":9}", NULL), 0);
	cr_assert_eq(cp_wb_command(wb, "dev-0", "c1", "delivered", NULL, 101), 0);
	cr_assert_eq(cp_wb_command(wb, "dev-0", "c1", "ok", "{\"pong\":true}", 111), 0);
	cr_assert_eq(cp_wb_command(wb, "dev-0", "c2", "delivered", NULL, 111), 0);
	cp_wb_stats(&st, wb);
	cr_assert_eq(st.pending_devices, 2);
	cr_assert_eq(st.pending_results, 3);
	cr_assert_eq(st.flushes, 0);
	cr_assert_geq(st.oldest_pending_ms, 0);
	/* Nothing is in the store yet. */
	cr_assert_eq(last_seen(&f, "dev-0"), 0);

	cr_assert_eq(cp_wb_flush(wb, &err), 0, "%s", err.msg);
	cp_wb_stats(&st, wb);
	cr_assert_eq(st.pending_devices, 0);
	cr_assert_eq(st.pending_results, 0);
	cr_assert_eq(st.flushes, 1);
	cr_assert_eq(st.flush_errors, 0);
	cr_assert_eq(st.oldest_pending_ms, 0);

	d = device(&f, "dev-0");
	cr_assert_eq(json_integer_value(json_object_get(d, "last_seen")), 110);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "inventory"), "os")),
			 "v2");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(d, "reported"), "r")), 1);
	json_decref(d);
	d = device(&f, "dev-1");
	cr_assert_eq(json_integer_value(json_object_get(d, "last_seen")), 120);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(d, "reported"), "r")), 9);
	json_decref(d);
	cr_assert_eq(cp_store_commands_list(&cmds, f.s, "dev-0", 0, 0, NULL), 0);
	cr_assert_str_eq(cmd_status(cmds, "c1"), "ok");
	cr_assert_str_eq(cmd_status(cmds, "c2"), "delivered");
	json_decref(cmds);

	/* An empty flush is not a batch. */
	cr_assert_eq(cp_wb_flush(wb, &err), 0);
	cp_wb_stats(&st, wb);
	cr_assert_eq(st.flushes, 1);
	cr_assert_eq(cp_wb_stop(wb, &err), 0);
	cp_wb_free(wb);
	cp_store_free(f.s);
}

Test(writebehind, stop_flushes_pending)
{
	struct fixture f;
	struct cp_wb *wb = NULL;
	struct fl_err err = {0, ""};

	setup_store(&f, 3);
	/* A long interval: only stop can write these. */
	cr_assert_eq(cp_wb_new(&wb, f.s, 600000, NULL), 0);
	cr_assert_eq(cp_wb_start(wb, &err), 0, "%s", err.msg);
	for (int i = 0; i < 3; i++) {
		char id[16];

		snprintf(id, sizeof(id), "dev-%d", i);
		cr_assert_eq(cp_wb_checkin(wb, id, 1000 + i, "{\"os\":\"x\"}", NULL, NULL), 0);
	}
	cr_assert_eq(last_seen(&f, "dev-2"), 0);
	cr_assert_eq(cp_wb_stop(wb, &err), 0, "%s", err.msg);
	cr_assert_eq(last_seen(&f, "dev-0"), 1000);
	cr_assert_eq(last_seen(&f, "dev-1"), 1001);
	cr_assert_eq(last_seen(&f, "dev-2"), 1002);
	cp_wb_free(wb);
	cp_store_free(f.s);
}

Test(writebehind, flusher_thread_writes_on_its_interval)
{
	struct fixture f;
	struct cp_wb *wb = NULL;
	struct cp_wb_stats st;
	struct fl_err err = {0, ""};
	int i;

	setup_store(&f, 1);
	cr_assert_eq(cp_wb_new(&wb, f.s, 20, NULL), 0);
	cr_assert_eq(cp_wb_start(wb, &err), 0);
	cr_assert_eq(cp_wb_checkin(wb, "dev-0", 4242, NULL, NULL, NULL), 0);
	for (i = 0; i < 500 && last_seen(&f, "dev-0") != 4242; i++)
		usleep(10000);
	cr_assert_lt(i, 500, "the flusher never wrote");
	cp_wb_stats(&st, wb);
	cr_assert_geq(st.flushes, 1);
	cr_assert_eq(cp_wb_stop(wb, &err), 0);
	cp_wb_free(wb);
	cp_store_free(f.s);
}

static void raw(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
}

Test(writebehind, failed_batch_is_kept_and_retried)
{
	struct fixture f;
	struct cp_wb *wb = NULL;
	struct cp_wb_stats st;
	struct fl_err err = {0, ""};
	json_t *d, *cmds = NULL;

	setup_store(&f, 1);
	cr_assert_eq(cp_store_command_add(f.s, "cx", "dev-0", "ping", NULL, 2, NULL, NULL), 0);
	cr_assert_eq(cp_wb_new(&wb, f.s, 60000, NULL), 0);
	cr_assert_eq(cp_wb_checkin(wb, "dev-0", 500, "{\"os\":\"a\"}", NULL, NULL), 0);
	cr_assert_eq(cp_wb_command(wb, "dev-0", "cx", "delivered", NULL, 500), 0);
	/* Make every device update fail. */
	raw(f.path, "CREATE TRIGGER wb_fail BEFORE UPDATE ON devices "
		    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
	cr_assert_lt(cp_wb_flush(wb, &err), 0);
	cp_wb_stats(&st, wb);
	cr_assert_eq(st.flush_errors, 1);
	cr_assert_eq(st.flushes, 0);
	cr_assert_eq(st.pending_devices, 1, "the failed batch was dropped");
	cr_assert_eq(st.pending_results, 1);
	/* Arrivals after the failure merge with the kept batch. */
	cr_assert_eq(cp_wb_checkin(wb, "dev-0", 400, NULL, "{\"r\":2}", NULL), 0);
	cr_assert_eq(cp_wb_command(wb, "dev-0", "cx", "ok", "{\"pong\":true}", 501), 0);
	raw(f.path, "DROP TRIGGER wb_fail");
	cr_assert_eq(cp_wb_flush(wb, &err), 0, "%s", err.msg);
	cp_wb_stats(&st, wb);
	cr_assert_eq(st.pending_devices, 0);
	cr_assert_eq(st.pending_results, 0);
	cr_assert_eq(st.flushes, 1);
	d = device(&f, "dev-0");
	cr_assert_eq(json_integer_value(json_object_get(d, "last_seen")), 500);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "inventory"), "os")),
			 "a");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(d, "reported"), "r")), 2);
	json_decref(d);
	/* Results applied in order: delivered, then ok. */
	cr_assert_eq(cp_store_commands_list(&cmds, f.s, "dev-0", 0, 0, NULL), 0);
	cr_assert_str_eq(cmd_status(cmds, "cx"), "ok");
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(cmds, 0), "delivered_at")),
		     500);
	json_decref(cmds);
	cp_wb_free(wb);
	cp_store_free(f.s);
}

/* A command result's wait ends with its commit: FL_EUNAVAIL while it is not
 * written or when its write failed, 0 once a later write holds it. */
Test(writebehind, wait_follows_the_commit)
{
	struct fixture f;
	struct cp_wb *wb = NULL;
	struct fl_err err = {0, ""};
	json_t *cmds = NULL;
	uint64_t t1, t2;

	setup_store(&f, 1);
	cr_assert_eq(cp_store_command_add(f.s, "cx", "dev-0", "ping", NULL, 2, NULL, NULL), 0);
	cr_assert_eq(cp_wb_new(&wb, f.s, 60000, NULL), 0);
	cr_assert_eq(cp_wb_checkin(wb, "dev-0", 500, NULL, NULL, NULL), 0);
	cr_assert_eq(cp_wb_command(wb, "dev-0", "cx", "ok", "{\"pong\":true}", 500), 0);
	t1 = cp_wb_ticket(wb);
	cr_assert_eq(cp_wb_wait(wb, t1, fl_mono_ms(), &err), FL_EUNAVAIL, "not written yet");
	raw(f.path, "CREATE TRIGGER wb_fail BEFORE UPDATE ON devices "
		    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
	cr_assert_lt(cp_wb_flush(wb, NULL), 0);
	cr_assert_eq(cp_wb_wait(wb, t1, fl_mono_ms() + 60000, &err), FL_EUNAVAIL,
		     "a failed write is not acknowledged");
	/* The agent resends; the kept result is in the next write. */
	t2 = cp_wb_ticket(wb);
	cr_assert_gt(t2, t1);
	raw(f.path, "DROP TRIGGER wb_fail");
	cr_assert_eq(cp_wb_flush(wb, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_wb_wait(wb, t2, fl_mono_ms() + 60000, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_wb_wait(wb, t1, fl_mono_ms() + 60000, &err), 0,
		     "covered by the later write");
	cr_assert_eq(cp_store_commands_list(&cmds, f.s, "dev-0", 0, 0, NULL), 0);
	cr_assert_str_eq(cmd_status(cmds, "cx"), "ok");
	json_decref(cmds);
	cp_wb_free(wb);
	cp_store_free(f.s);
}

/* A waiter does not wait for the interval (a minute here): the flusher
 * commits as soon as someone waits. */
Test(writebehind, flusher_commits_for_a_waiter)
{
	struct fixture f;
	struct cp_wb *wb = NULL;
	struct fl_err err = {0, ""};
	json_t *cmds = NULL;

	setup_store(&f, 1);
	cr_assert_eq(cp_store_command_add(f.s, "cx", "dev-0", "ping", NULL, 2, NULL, NULL), 0);
	cr_assert_eq(cp_wb_new(&wb, f.s, 60000, NULL), 0);
	cr_assert_eq(cp_wb_start(wb, NULL), 0);
	cr_assert_eq(cp_wb_command(wb, "dev-0", "cx", "ok", NULL, 500), 0);
	cr_assert_eq(cp_wb_wait(wb, cp_wb_ticket(wb), fl_mono_ms() + 30000, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(cp_store_commands_list(&cmds, f.s, "dev-0", 0, 0, NULL), 0);
	cr_assert_str_eq(cmd_status(cmds, "cx"), "ok");
	json_decref(cmds);
	cr_assert_eq(cp_wb_stop(wb, NULL), 0);
	cp_wb_free(wb);
	cp_store_free(f.s);
}

/* The flusher passes no err: a failed flush still logs its cause. */
Test(writebehind, failed_flush_logs_its_cause, .init = cr_redirect_stderr)
{
	struct fixture f;
	struct cp_wb *wb = NULL;
	char log[8192];
	ssize_t n;
	int fd;

	setup_store(&f, 1);
	cr_assert_eq(cp_wb_new(&wb, f.s, 60000, NULL), 0);
	cr_assert_eq(cp_wb_checkin(wb, "dev-0", 500, NULL, NULL, NULL), 0);
	raw(f.path, "CREATE TRIGGER wb_fail BEFORE UPDATE ON devices "
		    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
	cr_assert_lt(cp_wb_flush(wb, NULL), 0);
	/* The line is in the pipe already (one write(2)); do not wait for EOF. */
	fd = fileno(cr_get_redirected_stderr());
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	n = read(fd, log, sizeof(log) - 1);
	cr_assert_gt(n, 0);
	log[n] = '\0';
	cr_assert(strstr(log, "write-behind flush failed, will retry: ") != NULL, "%s", log);
	cr_assert(strstr(log, "injected failure") != NULL, "the cause is missing: %s", log);
	cp_wb_free(wb);
	cp_store_free(f.s);
}

/*
 * test_reports.c - the offline buffer of SLI reports: bounded on disk,
 * drops counted and sent, everything kept delivered once after a
 * reconnection, seq never reused across crashes.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "agent/crash.h"
#include "agent/poll.h"
#include "agent/reports.h"
#include "agent_test.h"
#include "fake_transport.h"
#include "fairlead/crypto.h"

static json_t *rep(int64_t start)
{
	json_t *r = json_pack("{s:I,s:I,s:n,s:i,s:i}", "start", (json_int_t)start, "end",
			      (json_int_t)(start + 60), "release", "up_s", 60, "expected_s", 60);

	cr_assert_not_null(r);
	return r;
}

static void add(struct ag_reports *r, int64_t start)
{
	struct fl_err err = {0};
	json_t *j = rep(start);

	cr_assert_eq(ag_reports_add(r, j, &err), 0, "%s", err.msg);
	json_decref(j);
}

/* A server: remembers every seq it ever got, counts duplicates, acks the
 * highest. */
struct server {
	json_t *seen; /* {"SEQ": count} */
	int64_t acked;
	int64_t dropped;
	int calls;
};

static int serve(struct fake *f, json_t **out, const char *method, const char *target,
		 const json_t *body, int64_t *retry_after, struct fl_err *err)
{
	struct server *s = f->user;
	json_t *r;
	size_t i;

	(void)method;
	(void)retry_after;
	(void)err;
	cr_assert(eq(str, S(target), AG_REPORTS_TARGET));
	s->calls++;
	s->dropped = json_integer_value(json_object_get(body, "dropped"));
	cr_assert_leq(json_array_size(json_object_get(body, "reports")), AG_REPORTS_BATCH);
	json_array_foreach (json_object_get(body, "reports"), i, r) {
		int64_t seq = json_integer_value(json_object_get(r, "seq"));
		char k[32];

		snprintf(k, sizeof(k), "%lld", (long long)seq);
		json_object_set_new(
		    s->seen, k, json_integer(json_integer_value(json_object_get(s->seen, k)) + 1));
		if (seq > s->acked)
			s->acked = seq;
	}
	*out = json_pack("{s:i,s:i,s:I}", "accepted", 0, "duplicates", 0, "acked_seq",
			 (json_int_t)s->acked);
	return 0;
}

Test(agent_reports, offline_round_trip_with_the_bound_hit)
{
	const char *dir = ag_test_tmpdir();
	struct fake *f;
	struct ag_transport *t = fake_new(&f);
	struct ag_reports *r = NULL;
	struct server srv = {json_object(), 0, 0, 0};
	struct fl_err err = {0};
	const char *k;
	json_t *v;

	cr_assert_eq(ag_reports_open(&r, dir, 5, 0, &err), 0, "%s", err.msg);
	/* Offline: every send fails, nothing is lost but the oldest beyond 5. */
	for (int i = 0; i < 8; i++)
		add(r, 60 * i);
	cr_assert_eq(ag_reports_pending(r), 5);
	cr_assert_eq(ag_reports_dropped(r), 3);
	fake_push(f, FL_ERROR, NULL, -1, "connection refused");
	cr_assert_lt(ag_reports_send(r, t, 1000, 0, &err), 0);
	cr_assert_eq(ag_reports_pending(r), 5);
	/* Backoff: nothing goes out before it ends. */
	cr_assert_gt(ag_reports_not_before(r), 1000);
	cr_assert_eq(ag_reports_send(r, t, 1000, 0, &err), 0);
	cr_assert_eq(fake_nreq(f), 1);
	for (int i = 8; i < 10; i++)
		add(r, 60 * i);
	cr_assert_eq(ag_reports_dropped(r), 5);

	/* A restart while offline keeps everything and the counters. */
	ag_reports_free(r);
	cr_assert_eq(ag_reports_open(&r, dir, 5, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(ag_reports_pending(r), 5);
	cr_assert_eq(ag_reports_dropped(r), 5);
	cr_assert_eq(ag_reports_next_seq(r), 11);

	/* Reconnected: everything kept is delivered once, with the drops. */
	f->handler = serve;
	f->user = &srv;
	cr_assert_eq(ag_reports_send(r, t, 5000, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(ag_reports_pending(r), 0);
	cr_assert_eq(srv.dropped, 5);
	cr_assert_eq(json_object_size(srv.seen), 5);
	json_object_foreach (srv.seen, k, v) {
		long long seq = atoll(k);

		cr_assert_eq(json_integer_value(v), 1, "seq %s sent %lld times", k,
			     (long long)json_integer_value(v));
		cr_assert(yes(seq >= 6 && seq <= 10), "seq %lld", seq);
	}
	/* Nothing is sent twice, also after another restart. */
	ag_reports_free(r);
	cr_assert_eq(ag_reports_open(&r, dir, 5, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(ag_reports_pending(r), 0);
	cr_assert_eq(ag_reports_send(r, t, 6000, 0, &err), 0);
	cr_assert_eq(srv.calls, 1);
	add(r, 9999);
	cr_assert_eq(ag_reports_send(r, t, 6000, 0, &err), 0);
	cr_assert_eq(srv.calls, 2);
	cr_assert_eq(srv.acked, 11);
	ag_reports_free(r);
	ag_transport_free(t);
	json_decref(srv.seen);
}

Test(agent_reports, retry_after_keeps_and_waits)
{
	const char *dir = ag_test_tmpdir();
	struct fake *f;
	struct ag_transport *t = fake_new(&f);
	struct ag_reports *r = NULL;
	struct server srv = {json_object(), 0, 0, 0};
	struct fl_err err = {0};

	cr_assert_eq(ag_reports_open(&r, dir, 0, 0, &err), 0);
	add(r, 0);
	add(r, 60);
	fake_push(f, FL_EAGAIN, NULL, 30, "ingest queue full");
	cr_assert_eq(ag_reports_send(r, t, 100, 0, &err), FL_EAGAIN);
	cr_assert_eq(ag_reports_not_before(r), 130);
	cr_assert_eq(ag_reports_pending(r), 2);
	f->handler = serve;
	f->user = &srv;
	cr_assert_eq(ag_reports_send(r, t, 129, 0, &err), 0);
	cr_assert_eq(srv.calls, 0);
	cr_assert_eq(ag_reports_send(r, t, 130, 0, &err), 0);
	cr_assert_eq(srv.calls, 1);
	cr_assert_eq(ag_reports_pending(r), 0);
	ag_reports_free(r);
	ag_transport_free(t);
	json_decref(srv.seen);
}

Test(agent_reports, partial_ack_and_batches)
{
	const char *dir = ag_test_tmpdir();
	struct fake *f;
	struct ag_transport *t = fake_new(&f);
	struct ag_reports *r = NULL;
	struct server srv = {json_object(), 0, 0, 0};
	struct fl_err err = {0};

	cr_assert_eq(ag_reports_open(&r, dir, 0, 0, &err), 0);
	for (int i = 0; i < 3; i++)
		add(r, 60 * i);
	/* The server holds only seq 1: the others stay. */
	fake_push(f, 0, "{\"accepted\":1,\"duplicates\":0,\"acked_seq\":1}", -1, NULL);
	cr_assert_eq(ag_reports_send(r, t, 0, 0, &err), 0);
	cr_assert_eq(ag_reports_pending(r), 2);
	/* 150 reports go in batches of at most 64. */
	for (int i = 3; i < 150; i++)
		add(r, 60 * i);
	f->handler = serve;
	f->user = &srv;
	cr_assert_eq(ag_reports_send(r, t, 0, 2, &err), 0);
	cr_assert_eq(srv.calls, 2);
	cr_assert_eq(ag_reports_pending(r), 149 - 128);
	cr_assert_eq(ag_reports_send(r, t, 0, 0, &err), 0);
	cr_assert_eq(srv.calls, 3);
	cr_assert_eq(ag_reports_pending(r), 0);
	cr_assert_eq(json_object_size(srv.seen), 149);
	ag_reports_free(r);
	ag_transport_free(t);
	json_decref(srv.seen);
}

Test(agent_reports, byte_bound_and_oversized)
{
	const char *dir = ag_test_tmpdir();
	struct ag_reports *r = NULL;
	struct fl_err err = {0};
	json_t *big;
	char *s = malloc(AG_REPORTS_MAX_REPORT + 10);

	cr_assert_eq(ag_reports_open(&r, dir, 1000, 250, &err), 0);
	for (int i = 0; i < 10; i++)
		add(r, 60 * i);
	/* About 100 bytes each: the byte bound keeps a few. */
	cr_assert_lt(ag_reports_pending(r), 5);
	cr_assert_gt(ag_reports_pending(r), 0);
	cr_assert_eq(ag_reports_dropped(r) + ag_reports_pending(r), 10);
	memset(s, 'x', AG_REPORTS_MAX_REPORT + 9);
	s[AG_REPORTS_MAX_REPORT + 9] = '\0';
	big = json_pack("{s:s}", "pad", s);
	{
		uint64_t before = ag_reports_dropped(r);

		cr_assert_eq(ag_reports_add(r, big, &err), FL_ETOOBIG);
		cr_assert_eq(ag_reports_dropped(r), before + 1);
	}
	json_decref(big);
	free(s);
	ag_reports_free(r);
}

static const char *crash_at;

static void die_at(const char *point)
{
	if (strcmp(point, crash_at) == 0)
		_exit(77);
}

/* A SIGKILL at each point of an add that also drops: after the restart seq
 * never goes back, every drop is counted once, nothing kept is lost. */
Test(agent_reports, crash_at_every_point)
{
	static const char *const points[] = {"reports_state", "reports_write", "reports_written"};

	for (size_t pi = 0; pi < sizeof(points) / sizeof(points[0]); pi++) {
		const char *dir = ag_test_tmpdir();
		struct ag_reports *r = NULL;
		struct fl_err err = {0};
		uint64_t next;
		int status;
		pid_t pid;

		cr_assert_eq(ag_reports_open(&r, dir, 3, 0, &err), 0);
		for (int i = 0; i < 3; i++)
			add(r, 60 * i);
		next = ag_reports_next_seq(r);
		fflush(NULL);
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			json_t *j = rep(999);

			crash_at = points[pi];
			ag_crash_hook = die_at;
			(void)ag_reports_add(r, j, NULL);
			_exit(0);
		}
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(yes(WIFEXITED(status) && WEXITSTATUS(status) == 77), "%s", points[pi]);
		ag_reports_free(r);
		cr_assert_eq(ag_reports_open(&r, dir, 3, 0, &err), 0, "%s", err.msg);
		/* The state was written first at every point: the seq and the
		 * drop of seq 1 are on record. */
		cr_assert_eq(ag_reports_next_seq(r), next + 1, "%s", points[pi]);
		cr_assert_eq(ag_reports_dropped(r), 1, "%s", points[pi]);
		cr_assert_eq(ag_reports_pending(r),
			     strcmp(points[pi], "reports_written") == 0 ? 3 : 2, "%s", points[pi]);
		add(r, 5000);
		cr_assert_eq(ag_reports_next_seq(r), next + 2);
		cr_assert_eq(ag_reports_pending(r), 3);
		ag_reports_free(r);
	}
}

/* The check-in loop sends the buffer beside each accepted check-in, signed
 * with the device key; a failed check-in sends nothing. */
Test(agent_reports, sent_after_each_checkin)
{
	const char *dir;
	struct ag_key key;
	struct fake *f;
	struct ag_transport *t;
	struct fake_clock fc;
	struct ag_clock clock;
	struct ag_poll_opts po = {0};
	struct ag_poll *p = NULL;
	struct ag_reports *r = NULL;
	struct fl_err err = {0};
	int64_t delay;
	json_t *req;

	cr_assert_eq(fl_crypto_init(), 0);
	dir = ag_test_tmpdir();
	fake_device(&key, dir, "dev-1");
	t = fake_new(&f);
	fake_clock_init(&clock, &fc);
	fc.now = 1000;
	cr_assert_eq(ag_reports_open(&r, dir, 0, 0, &err), 0);
	add(r, 0);
	add(r, 60);
	po.dir = dir;
	po.inventory_root = dir;
	po.reports = r;
	cr_assert_eq(ag_poll_new(&p, t, &clock, &po, &err), 0, "%s", err.msg);
	fake_push(f, FL_ERROR, NULL, -1, "down");
	cr_assert_lt(ag_poll_once(&delay, p, &err), 0);
	cr_assert_eq(fake_nreq(f), 1);
	fake_push(f, 0, "{\"poll_interval\":30}", -1, NULL);
	fake_push(f, 0, "{\"accepted\":2,\"duplicates\":0,\"acked_seq\":2}", -1, NULL);
	cr_assert_eq(ag_poll_once(&delay, p, &err), 0, "%s", err.msg);
	cr_assert_eq(fake_nreq(f), 3);
	req = fake_req(f, 2);
	cr_assert(eq(str, S(json_string_value(json_object_get(req, "target"))), AG_REPORTS_TARGET));
	cr_assert(eq(str, S(json_string_value(json_object_get(req, "keyid"))), key.keyid));
	cr_assert_eq(json_array_size(json_object_get(json_object_get(req, "body"), "reports")), 2);
	cr_assert_eq(ag_reports_pending(r), 0);
	/* Nothing buffered: the next check-in goes alone. */
	fake_push(f, 0, "{\"poll_interval\":30}", -1, NULL);
	cr_assert_eq(ag_poll_once(&delay, p, &err), 0);
	cr_assert_eq(fake_nreq(f), 4);
	ag_poll_free(p);
	ag_reports_free(r);
	ag_transport_free(t);
}

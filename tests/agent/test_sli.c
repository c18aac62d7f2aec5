/*
 * test_sli.c - the agent's SLI side: the line protocol (including hostile
 * lines), aggregation per release and window, drift against the installed
 * release's baseline, the energy estimate from CPU time, uptime from the
 * heartbeat, and the socket itself with the C SDK.
 */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/slots.h"
#include "agent/sli.h"
#include "agent/state.h"
#include "agent/update.h"
#include "agent_test.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/sli_sdk.h"
#include "fairlead/util.h"
#include "fake_transport.h"

#define T0 6000000 /* a multiple of every window used here */

/* ---- parsing ---- */

static int parse(struct ag_sli_line *l, const char *s)
{
	struct fl_err err = {0};
	int rc = ag_sli_parse_line(l, s, strlen(s), &err);

	if (rc < 0)
		cr_assert_neq(err.msg[0], '\0');
	return rc;
}

Test(agent_sli, parse_good_lines)
{
	struct ag_sli_line l;

	cr_assert_eq(parse(&l, "inf model=anomaly lat_ms=1.5 ok=0 energy_j=0.25 f.temp=61.5 "
			       "f.vibration=-3e-2 future=x"),
		     0);
	cr_assert_eq(l.kind, AG_SLI_INF);
	cr_assert(eq(str, l.model, "anomaly"));
	cr_assert_float_eq(l.lat_ms, 1.5, 1e-12);
	cr_assert_eq(l.ok, 0);
	cr_assert_float_eq(l.energy_j, 0.25, 1e-12);
	cr_assert_eq(l.nfeatures, 2);
	cr_assert(eq(str, l.f[1].name, "vibration"));
	cr_assert_float_eq(l.f[1].value, -0.03, 1e-12);
	cr_assert_eq(parse(&l, "inf  model=m  lat_ms=0\r"), 0);
	cr_assert_eq(l.ok, 1);
	cr_assert_lt(l.energy_j, 0);
	cr_assert_eq(parse(&l, "err model=m code=timeout"), 0);
	cr_assert_eq(l.kind, AG_SLI_ERR);
	cr_assert_eq(parse(&l, "hb model=m.v2_x-1"), 0);
	cr_assert_eq(l.kind, AG_SLI_HB);
}

Test(agent_sli, parse_hostile_lines)
{
	static const char *const bad[] = {
	    "",
	    "inf",
	    "inf lat_ms=1",
	    "inf model=m",
	    "inf model=m lat_ms=-1",
	    "inf model=m lat_ms=nan",
	    "inf model=m lat_ms=inf",
	    "inf model=m lat_ms=1e999",
	    "inf model=m lat_ms=0x10",
	    "inf model=m lat_ms=1 ok=2",
	    "inf model=m lat_ms=1 energy_j=-0.1",
	    "inf model=m lat_ms=1 f.=3",
	    "inf model=m lat_ms=1 f.a/b=3",
	    "inf model=m lat_ms=1 f.a=",
	    "inf model=m lat_ms=1 noequals",
	    "inf model=../etc lat_ms=1",
	    "inf model=.hidden lat_ms=1",
	    "inf model=m\x01 lat_ms=1",
	    "inf model=m lat_ms=1 f.t=1\xff",
	    "INF model=m lat_ms=1",
	    "hello model=m",
	    "hb",
	    "err code=x",
	};
	struct ag_sli_line l;
	char line[AG_SLI_LINE_MAX + 64];
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_lt(parse(&l, bad[i]), 0, "accepted '%s'", bad[i]);
	/* 33 features. */
	n = (size_t)snprintf(line, sizeof(line), "inf model=m lat_ms=1");
	for (int i = 0; i <= FL_DRIFT_MAX_FEATURES; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " f.x%d=1", i);
	cr_assert_lt(parse(&l, line), 0);
	/* Longer than a line may be. */
	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line, "hb model=m x=", 13);
	cr_assert_lt(parse(&l, line), 0);
	/* A 65-character model name. */
	snprintf(line, sizeof(line), "hb model=%065d", 0);
	cr_assert_lt(parse(&l, line), 0);
}

/* ---- an SLI aggregator over a fake clock and a state directory ---- */

struct env {
	const char *dir;
	struct fake_clock fc;
	struct ag_clock clock;
	struct ag_sli *s;
	json_t *reports;
	struct ag_sli_opts o;
	/* Injected /proc: pid -> ticks. */
	uint64_t ticks[4];
	int alive[4];
};

static int collect(void *ctx, const json_t *report, struct fl_err *err)
{
	struct env *e = ctx;

	(void)err;
	json_array_append_new(e->reports, json_deep_copy(report));
	return 0;
}

static int fake_proc(void *ctx, pid_t pid, uint64_t *ticks, uint64_t *start)
{
	struct env *e = ctx;

	if (pid < 1 || pid > 3 || !e->alive[pid])
		return FL_ENOTFOUND;
	*ticks = e->ticks[pid];
	*start = 7;
	return 0;
}

/* name@version installed in slot A (current), with baseline (may be NULL)
 * in the agent's baseline cache. */
static void install(struct env *e, const char *name, const char *version, const char *slot,
		    const char *baseline)
{
	struct fl_err err = {0};
	json_t *rel = NULL, *pair;
	char rv[160], cache[256], sub[512];

	if (ag_state_read_json(&rel, e->dir, AG_RELEASES_FILE, 1 << 20, &err) < 0)
		rel = json_pack("{s:{}}", "slots");
	pair = json_object_get(json_object_get(rel, "slots"), name);
	if (!pair) {
		pair = json_pack("{s:n,s:n}", "A", "B");
		json_object_set_new(json_object_get(rel, "slots"), name, pair);
	}
	json_object_set_new(pair, slot, json_pack("{s:s,s:s}", "name", name, "version", version));
	cr_assert_eq(ag_state_write_json(e->dir, AG_RELEASES_FILE, rel, &err), 0, "%s", err.msg);
	json_decref(rel);
	cr_assert_eq(ag_slots_init(e->dir, name, &err), 0, "%s", err.msg);
	cr_assert_eq(ag_slots_point(e->dir, name, slot, &err), 0, "%s", err.msg);
	if (!baseline)
		return;
	snprintf(rv, sizeof(rv), "%s@%s", name, version);
	snprintf(sub, sizeof(sub), "%s/%s", e->dir, AG_SLI_BASELINE_DIR);
	cr_assert_eq(fl_fs_mkdir_p(sub, 0700, &err), 0);
	snprintf(cache, sizeof(cache), "%s/%s.json", AG_SLI_BASELINE_DIR, name);
	{
		json_t *b = NULL, *doc;

		cr_assert_eq(fl_json_parse(&b, baseline, strlen(baseline), &err), 0, "%s", err.msg);
		doc = json_pack("{s:s,s:o}", "release", rv, "baseline", b);
		cr_assert_eq(ag_state_write_json(e->dir, cache, doc, &err), 0);
		json_decref(doc);
	}
}

static void env_open(struct env *e)
{
	struct fl_err err = {0};

	cr_assert_eq(ag_sli_new(&e->s, &e->clock, &e->o, &err), 0, "%s", err.msg);
}

static void setup(struct env *e, int64_t window_s)
{
	memset(e, 0, sizeof(*e));
	e->dir = strdup(ag_test_tmpdir());
	fake_clock_init(&e->clock, &e->fc);
	e->fc.now = T0;
	e->reports = json_array();
	e->o.dir = e->dir;
	e->o.window_s = window_s;
	e->o.emit = collect;
	e->o.emit_ctx = e;
	e->o.proc = fake_proc;
	e->o.proc_ctx = e;
	e->o.ticks_per_s = 100;
}

static void teardown(struct env *e)
{
	ag_sli_free(e->s);
	json_decref(e->reports);
	free((char *)(uintptr_t)e->dir);
}

static void feed(struct env *e, pid_t pid, const char *fmt, ...) FL_PRINTF(3, 4);

static void feed(struct env *e, pid_t pid, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ag_sli_ingest(e->s, buf, (size_t)n, pid);
}

static void tick_at(struct env *e, int64_t t)
{
	struct fl_err err = {0};

	e->fc.now = t;
	cr_assert_eq(ag_sli_tick(e->s, &err), 0, "%s", err.msg);
}

/* The report for release (NULL: the release:null one) among the collected. */
static json_t *report_for(struct env *e, const char *release, size_t from)
{
	for (size_t i = from; i < json_array_size(e->reports); i++) {
		json_t *r = json_array_get(e->reports, i);
		const char *rel = json_string_value(json_object_get(r, "release"));

		if ((!release && !rel) || (release && rel && strcmp(rel, release) == 0))
			return r;
	}
	return NULL;
}

#define BASELINE4                                                                                  \
	"{\"temp\":{\"edges\":[-1,0,1],\"p\":[0.25,0.25,0.25,0.25],\"n\":100000},"                 \
	"\"vib\":{\"edges\":[0],\"p\":[0.5,0.5],\"n\":100000}}"

Test(agent_sli, aggregates_a_window_per_release)
{
	struct env e;
	json_t *r, *lat;
	struct ag_sli_stats st;

	setup(&e, 60);
	install(&e, "anomaly", "1.0.0", "A", BASELINE4);
	env_open(&e);
	cr_assert_eq(json_array_size(e.reports), 0);
	/* One datagram of several lines, two lines split by newlines. */
	feed(&e, 0,
	     "inf model=anomaly lat_ms=10 energy_j=0.5 f.temp=-2 f.vib=1\n"
	     "inf model=anomaly lat_ms=20 ok=0 energy_j=0.5 f.temp=0.5 f.unknown=4\n"
	     "err model=anomaly code=oom\nhb model=anomaly\n"
	     "garbage\ninf model=anomaly lat_ms=30 energy_j=1");
	tick_at(&e, T0 + 59);
	cr_assert_eq(json_array_size(e.reports), 0);
	tick_at(&e, T0 + 60);
	cr_assert_eq(json_array_size(e.reports), 1);
	r = report_for(&e, "anomaly@1.0.0", 0);
	cr_assert_not_null(r);
	cr_assert_eq(json_integer_value(json_object_get(r, "start")), T0);
	cr_assert_eq(json_integer_value(json_object_get(r, "end")), T0 + 60);
	cr_assert_eq(json_integer_value(json_object_get(r, "up_s")), 60);
	cr_assert_eq(json_integer_value(json_object_get(r, "expected_s")), 60);
	cr_assert_eq(json_integer_value(json_object_get(r, "inferences")), 4);
	cr_assert_eq(json_integer_value(json_object_get(r, "errors")), 2);
	cr_assert_float_eq(json_number_value(json_object_get(r, "energy_j")), 2.0, 1e-9);
	cr_assert(eq(str, S(json_string_value(json_object_get(r, "energy_source"))), "module"));
	lat = json_object_get(r, "latency_ms");
	cr_assert_eq(json_integer_value(json_object_get(lat, "n")), 3);
	cr_assert_float_eq(json_number_value(json_object_get(lat, "max")), 30.0, 1e-9);
	{
		json_t *d = json_object_get(r, "drift"), *t = json_array_get(d, 0);

		cr_assert_eq(json_array_size(d), 2);
		cr_assert(eq(str, S(json_string_value(json_object_get(t, "feature"))), "temp"));
		cr_assert_eq(json_integer_value(json_array_get(json_object_get(t, "counts"), 0)),
			     1);
		cr_assert_eq(json_integer_value(json_array_get(json_object_get(t, "counts"), 2)),
			     1);
		/* 2 samples over 4 bins: too few to judge. */
		cr_assert(yes(json_is_false(json_object_get(t, "judged"))));
		cr_assert(yes(json_is_false(json_object_get(t, "drifted"))));
	}
	ag_sli_stats(&st, e.s);
	cr_assert_eq(st.bad_lines, 1);
	cr_assert_eq(st.lines, 6);
	/* The next window is empty: only the uptime report. */
	tick_at(&e, T0 + 120);
	r = report_for(&e, NULL, 1);
	cr_assert_not_null(r);
	cr_assert_eq(json_integer_value(json_object_get(r, "start")), T0 + 60);
	cr_assert_eq(json_integer_value(json_object_get(r, "up_s")), 60);
	cr_assert_eq(json_integer_value(json_object_get(r, "inferences")), 0);
	teardown(&e);
}

Test(agent_sli, drift_per_window)
{
	struct env e;
	json_t *t;

	setup(&e, 60);
	install(&e, "anomaly", "1.0.0", "A", BASELINE4);
	env_open(&e);
	/* Window 1: as the baseline says, 100 per bin. */
	for (int i = 0; i < 400; i++)
		feed(&e, 0, "inf model=anomaly lat_ms=1 f.temp=%g", -1.5 + (i % 4));
	tick_at(&e, T0 + 60);
	t = json_array_get(json_object_get(report_for(&e, "anomaly@1.0.0", 0), "drift"), 0);
	cr_assert(yes(json_is_true(json_object_get(t, "judged"))));
	cr_assert(yes(json_is_false(json_object_get(t, "drifted"))));
	cr_assert_float_eq(json_number_value(json_object_get(t, "psi")), 0.0, 1e-9);
	cr_assert_gt(json_number_value(json_object_get(t, "threshold")), 0.0);
	/* Window 2: shifted, most values in the top bin. */
	for (int i = 0; i < 400; i++)
		feed(&e, 0, "inf model=anomaly lat_ms=1 f.temp=%g", i % 5 ? 2.0 : 0.5);
	tick_at(&e, T0 + 120);
	cr_assert_eq(json_array_size(e.reports), 2);
	t = json_array_get(json_object_get(json_array_get(e.reports, 1), "drift"), 0);
	cr_assert(yes(json_is_true(json_object_get(t, "judged"))));
	cr_assert(yes(json_is_true(json_object_get(t, "drifted"))));
	cr_assert_gt(json_number_value(json_object_get(t, "psi")),
		     json_number_value(json_object_get(t, "threshold")));
	cr_assert_gt(json_number_value(json_object_get(t, "js")), 0.3);
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(t, "counts"), 3)), 320);
	teardown(&e);
}

Test(agent_sli, release_flip_closes_early_and_reloads_the_baseline)
{
	struct env e;
	json_t *r1, *r2;

	setup(&e, 60);
	install(&e, "anomaly", "1.0.0", "A", BASELINE4);
	env_open(&e);
	feed(&e, 0, "inf model=anomaly lat_ms=1 f.temp=5");
	tick_at(&e, T0 + 10);
	/* The update flips to B with 2.0.0, whose baseline has no temp. */
	install(&e, "anomaly", "2.0.0", "B", "{\"vib\":{\"edges\":[0],\"p\":[0.5,0.5]}}");
	tick_at(&e, T0 + 20);
	cr_assert_eq(json_array_size(e.reports), 1);
	r1 = json_array_get(e.reports, 0);
	cr_assert(eq(str, S(json_string_value(json_object_get(r1, "release"))), "anomaly@1.0.0"));
	cr_assert_eq(json_integer_value(json_object_get(r1, "end")), T0 + 20);
	feed(&e, 0, "inf model=anomaly lat_ms=2 f.temp=5 f.vib=1");
	tick_at(&e, T0 + 60);
	r2 = report_for(&e, "anomaly@2.0.0", 0);
	cr_assert_not_null(r2);
	cr_assert_eq(json_integer_value(json_object_get(r2, "start")), T0 + 20);
	cr_assert_eq(json_integer_value(json_object_get(r2, "up_s")), 40);
	cr_assert_eq(json_array_size(json_object_get(r2, "drift")), 1);
	teardown(&e);
}

Test(agent_sli, unmapped_names_and_the_name_bound)
{
	struct env e;
	struct ag_sli_stats st;

	setup(&e, 60);
	env_open(&e);
	for (int i = 0; i < AG_SLI_MAX_NAMES + 3; i++)
		feed(&e, 0, "hb model=m%d", i);
	ag_sli_stats(&st, e.s);
	cr_assert_eq(st.bad_lines, 3);
	tick_at(&e, T0 + 60);
	/* Nothing installed under those names: only the uptime report. */
	cr_assert_eq(json_array_size(e.reports), 1);
	cr_assert_not_null(report_for(&e, NULL, 0));
	ag_sli_stats(&st, e.s);
	cr_assert_eq(st.unmapped, AG_SLI_MAX_NAMES);
	teardown(&e);
}

Test(agent_sli, energy_estimated_from_cpu_time)
{
	struct env e;
	json_t *r;

	setup(&e, 60);
	e.o.device_power_w = 3.0;
	install(&e, "anomaly", "1.0.0", "A", NULL);
	env_open(&e);
	e.alive[1] = e.alive[2] = 1;
	e.ticks[1] = 1000; /* before its first line: not this window's */
	e.ticks[2] = 50;
	feed(&e, 1, "inf model=anomaly lat_ms=1");
	feed(&e, 2, "hb model=anomaly");
	feed(&e, 1, "inf model=anomaly lat_ms=1");
	e.ticks[1] = 1200; /* 2 s */
	e.ticks[2] = 100;  /* 0.5 s */
	tick_at(&e, T0 + 60);
	r = report_for(&e, "anomaly@1.0.0", 0);
	cr_assert(eq(str, S(json_string_value(json_object_get(r, "energy_source"))), "estimated"));
	cr_assert_float_eq(json_number_value(json_object_get(r, "energy_j")), 2.5 * 3.0, 1e-9);
	cr_assert_eq(json_array_size(json_object_get(r, "drift")), 0);
	/* Next window: pid 2 is gone, pid 1 used 1 s more. */
	feed(&e, 1, "inf model=anomaly lat_ms=1");
	e.alive[2] = 0;
	e.ticks[1] = 1300;
	tick_at(&e, T0 + 120);
	r = report_for(&e, "anomaly@1.0.0", 1);
	cr_assert_float_eq(json_number_value(json_object_get(r, "energy_j")), 1.0 * 3.0, 1e-9);
	teardown(&e);
}

Test(agent_sli, proc_stat_of_a_real_child)
{
	uint64_t t1 = 0, t2 = 0, s1 = 0, s2 = 0;
	int pfd[2];
	pid_t pid;
	char c;

	cr_assert_eq(pipe(pfd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		volatile double x = 0;
		struct timespec a, b;

		/* About 0.3 s of CPU, then tell the parent and wait. */
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
		do {
			for (int i = 0; i < 100000; i++)
				x += i * 1e-9;
			clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
		} while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 300);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	cr_assert_eq(ag_sli_proc_stat(NULL, pid, &t1, &s1), 0);
	cr_assert_eq(read(pfd[0], &c, 1), 1);
	cr_assert_eq(ag_sli_proc_stat(NULL, pid, &t2, &s2), 0);
	cr_assert_eq(s1, s2);
	cr_assert_geq(t2 - t1, (uint64_t)sysconf(_SC_CLK_TCK) / 10, "%llu ticks",
		      (unsigned long long)(t2 - t1));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(pfd[0]);
	close(pfd[1]);
	cr_assert_lt(ag_sli_proc_stat(NULL, pid, &t1, &s1), 0);
}

Test(agent_sli, heartbeat_gap_is_downtime)
{
	struct env e;
	struct fl_err err = {0};
	json_t *hb, *r;

	setup(&e, 60);
	/* First start: no heartbeat, no gap. */
	env_open(&e);
	cr_assert_eq(json_array_size(e.reports), 0);
	tick_at(&e, T0 + 4);
	ag_sli_free(e.s);
	e.s = NULL;
	/* Back 10 s later: a restart, not an outage. */
	e.fc.now = T0 + 10;
	env_open(&e);
	cr_assert_eq(json_array_size(e.reports), 0);
	ag_sli_free(e.s);
	e.s = NULL;
	/* Power lost for 1000 s after the last heartbeat. */
	e.fc.now = T0 + 1010;
	env_open(&e);
	cr_assert_eq(json_array_size(e.reports), 1);
	r = json_array_get(e.reports, 0);
	cr_assert(yes(json_is_null(json_object_get(r, "release"))));
	cr_assert_eq(json_integer_value(json_object_get(r, "start")), T0 + 10);
	cr_assert_eq(json_integer_value(json_object_get(r, "end")), T0 + 1010);
	cr_assert_eq(json_integer_value(json_object_get(r, "up_s")), 0);
	cr_assert_eq(json_integer_value(json_object_get(r, "expected_s")), 1000);
	ag_sli_free(e.s);
	e.s = NULL;
	/* A month off: capped at a week. */
	e.fc.now = T0 + 1010 + 30 * 86400;
	env_open(&e);
	r = json_array_get(e.reports, 1);
	cr_assert_eq(json_integer_value(json_object_get(r, "expected_s")), AG_SLI_GAP_MAX_S);
	cr_assert_eq(json_integer_value(json_object_get(r, "end")), e.fc.now);
	/* The heartbeat moved on. */
	cr_assert_eq(ag_state_read_json(&hb, e.dir, AG_SLI_HEARTBEAT_FILE, 4096, &err), 0);
	cr_assert_eq(json_integer_value(json_object_get(hb, "t")), e.fc.now);
	json_decref(hb);
	teardown(&e);
}

Test(agent_sli, skipped_windows_are_downtime)
{
	struct env e;
	json_t *r;

	setup(&e, 60);
	env_open(&e);
	/* The process was stopped from T0+30 to T0+400. */
	tick_at(&e, T0 + 400);
	cr_assert_eq(json_array_size(e.reports), 2);
	r = json_array_get(e.reports, 1);
	cr_assert_eq(json_integer_value(json_object_get(r, "start")), T0 + 60);
	cr_assert_eq(json_integer_value(json_object_get(r, "end")), T0 + 360);
	cr_assert_eq(json_integer_value(json_object_get(r, "up_s")), 0);
	tick_at(&e, T0 + 420);
	r = json_array_get(e.reports, 2);
	cr_assert_eq(json_integer_value(json_object_get(r, "start")), T0 + 360);
	cr_assert_eq(json_integer_value(json_object_get(r, "end")), T0 + 420);
	teardown(&e);
}

/* ---- the socket, the SDK and the reference module ---- */

static void wait_lines(struct ag_sli *s, uint64_t n)
{
	struct ag_sli_stats st;

	for (int i = 0; i < 300; i++) {
		ag_sli_stats(&st, s);
		if (st.lines >= n)
			return;
		usleep(10000);
	}
	cr_fail("only %llu of %llu lines arrived", (unsigned long long)st.lines,
		(unsigned long long)n);
}

Test(agent_sli, socket_and_sdk)
{
	struct env e;
	struct fl_err err = {0};
	struct fl_sli sdk;
	struct fl_sli_feature f[2] = {{"temp", 0.5}, {"vib", -1}};
	struct ag_sli_stats st;
	char path[512];
	struct stat sb;
	json_t *r;

	setup(&e, 60);
	e.o.proc = NULL; /* the real /proc: this process sends */
	install(&e, "anomaly", "1.0.0", "A", BASELINE4);
	snprintf(path, sizeof(path), "%s/%s", e.dir, AG_SLI_SOCKET_FILE);
	/* A stale socket file from a killed agent is replaced. */
	cr_assert_eq(mkfifo(path, 0600), 0);
	env_open(&e);
	cr_assert_eq(ag_sli_start(e.s, &err), 0, "%s", err.msg);
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert(yes(S_ISSOCK(sb.st_mode)));
	cr_assert_eq(sb.st_mode & 0777, 0660);
	cr_assert_eq(fl_sli_open(&sdk, path), 0);
	cr_assert_eq(fl_sli_inf(&sdk, "anomaly", 12.5, 1, -1, f, 2), 0);
	cr_assert_eq(fl_sli_inf(&sdk, "anomaly", 7, 0, 0.25, NULL, 0), 0);
	cr_assert_eq(fl_sli_err(&sdk, "anomaly", "timeout"), 0);
	cr_assert_eq(fl_sli_hb(&sdk, "anomaly"), 0);
	/* Refused before sending. */
	cr_assert_lt(fl_sli_inf(&sdk, "anomaly", NAN, 1, -1, NULL, 0), 0);
	cr_assert_lt(fl_sli_inf(&sdk, "../x", 1, 1, -1, NULL, 0), 0);
	cr_assert_lt(fl_sli_err(&sdk, "anomaly", "bad code"), 0);
	cr_assert_eq(sdk.sent, 4);
	cr_assert_eq(sdk.invalid, 3);
	/* A hostile datagram: no newline, over the line limit. */
	{
		char big[3000];

		memset(big, 'z', sizeof(big));
		cr_assert_eq(fl_sli_send_line(&sdk, big, 1000), 0);
	}
	wait_lines(e.s, 5);
	ag_sli_stats(&st, e.s);
	cr_assert_eq(st.bad_lines, 1);
	fl_sli_close(&sdk);
	/* Closing at the end of the window: the thread ticks on its own. */
	e.fc.now = T0 + 60;
	for (int i = 0; i < 300 && json_array_size(e.reports) == 0; i++)
		usleep(10000);
	ag_sli_free(e.s);
	e.s = NULL;
	cr_assert_geq(json_array_size(e.reports), 1);
	r = report_for(&e, "anomaly@1.0.0", 0);
	cr_assert_not_null(r);
	cr_assert_eq(json_integer_value(json_object_get(r, "inferences")), 3);
	cr_assert_eq(json_integer_value(json_object_get(r, "errors")), 2);
	cr_assert(eq(str, S(json_string_value(json_object_get(r, "energy_source"))), "module"));
	/* The socket is gone with the agent; the SDK then counts failures. */
	cr_assert_neq(stat(path, &sb), 0);
	cr_assert_eq(fl_sli_open(&sdk, path), 0);
	cr_assert_lt(fl_sli_hb(&sdk, "anomaly"), 0);
	cr_assert_eq(sdk.failed, 1);
	fl_sli_close(&sdk);
	teardown(&e);
}

/* ---- the reference module, as a separate process ---- */

static int run_bin(char *out, size_t cap, const char *args)
{
	const char *bin = getenv("FL_BIN_DIR");
	char cmd[2048];
	FILE *p;
	size_t n;

	cr_assert_not_null(bin, "FL_BIN_DIR is not set (run through ctest)");
	snprintf(cmd, sizeof(cmd), "%s/fairlead-anomaly %s", bin, args);
	cr_assert_not_null(p = popen(cmd, "r"));
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	return pclose(p);
}

Test(agent_sli, anomaly_baseline_and_model_subcommands)
{
	static char out[1 << 16];
	struct fl_drift_baseline *b = calloc(1, sizeof(*b));
	struct fl_err err = {0};
	json_t *j = NULL;

	cr_assert_eq(run_bin(out, sizeof(out), "baseline --samples 20000 --bins 8"), 0);
	cr_assert_eq(fl_json_parse(&j, out, strlen(out), &err), 0, "%s", err.msg);
	cr_assert_eq(fl_drift_baseline_parse(b, j, &err), 0, "%s", err.msg);
	cr_assert_eq(b->nfeatures, 3);
	cr_assert_not_null(fl_drift_baseline_find(b, "temp"));
	cr_assert_eq(fl_drift_baseline_find(b, "vibration")->nbins, 8);
	cr_assert_eq(fl_drift_baseline_find(b, "current")->n, 20000);
	/* Equal-mass bins around the generator's mean of 60. */
	cr_assert_float_eq(fl_drift_baseline_find(b, "temp")->edges[3], 60.0, 0.3);
	json_decref(j);
	j = NULL;
	cr_assert_eq(run_bin(out, sizeof(out), "model --work-us 2400"), 0);
	cr_assert_eq(fl_json_parse(&j, out, strlen(out), &err), 0, "%s", err.msg);
	cr_assert_eq(json_integer_value(json_object_get(j, "work_us")), 2400);
	json_decref(j);
	/* Bad arguments: a usage error, nothing on stdout. */
	cr_assert_neq(run_bin(out, sizeof(out), "baseline --bins 99 2>/dev/null"), 0);
	cr_assert_eq(out[0], '\0');
	free(b);
}

/* The module against a socket bound here, with its model file behind a
 * "current" link flipped mid-run and its inputs shifted by a file. */
Test(agent_sli, anomaly_module_reports_lines)
{
	const char *dir = ag_test_tmpdir();
	char path[512], a[512], bdir[512], link[512], shf[512], args[2048], out[64], buf[2048];
	struct sockaddr_un sa = {0};
	int fd, hb = 0, inf = 0, shifted = 0, slow = 0;
	double temp_sum_late = 0;
	int late = 0;
	FILE *f;
	int64_t end;

	snprintf(path, sizeof(path), "%s/s.sock", dir);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	sa.sun_family = AF_UNIX;
	cr_assert_lt(strlen(path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	{
		int big = 1 << 20;

		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	}
	snprintf(a, sizeof(a), "%s/A", dir);
	snprintf(bdir, sizeof(bdir), "%s/B", dir);
	mkdir(a, 0700);
	mkdir(bdir, 0700);
	snprintf(args, sizeof(args), "model --work-us 200 > %s/A/model.json", dir);
	cr_assert_eq(run_bin(out, sizeof(out), args), 0);
	snprintf(args, sizeof(args), "model --work-us 3000 > %s/B/model.json", dir);
	cr_assert_eq(run_bin(out, sizeof(out), args), 0);
	snprintf(link, sizeof(link), "%s/current", dir);
	cr_assert_eq(symlink("A", link), 0);
	snprintf(shf, sizeof(shf), "%s/shift", dir);
	snprintf(args, sizeof(args),
		 "--socket %s --model %s/current/model.json --name anomaly --rate 100 "
		 "--shift-file %s --duration 3s >/dev/null 2>&1 &",
		 path, dir, shf);
	cr_assert_eq(run_bin(out, sizeof(out), args), 0);
	end = fl_mono_ms() + 4000;
	while (fl_mono_ms() < end) {
		struct pollfd pf = {fd, POLLIN, 0};
		ssize_t n;
		int64_t el = fl_mono_ms() - (end - 4000);

		if (el > 1200 && !shifted) {
			char tmp[600];

			/* The A/B flip, as the agent does it: a new link renamed over. */
			snprintf(tmp, sizeof(tmp), "%s/current.new", dir);
			cr_assert_eq(symlink("B", tmp), 0);
			cr_assert_eq(rename(tmp, link), 0);
			cr_assert_not_null(f = fopen(shf, "w"));
			fputs("4\n", f);
			fclose(f);
			shifted = 1;
		}
		if (poll(&pf, 1, 200) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		{
			struct ag_sli_line l;
			struct fl_err err = {0};
			size_t len = (size_t)n;

			if (buf[len - 1] == '\n')
				len--;
			cr_assert_eq(ag_sli_parse_line(&l, buf, len, &err), 0, "%s: %s", buf,
				     err.msg);
			cr_assert(eq(str, l.model, "anomaly"));
			hb += l.kind == AG_SLI_HB;
			if (l.kind != AG_SLI_INF)
				continue;
			inf++;
			cr_assert_eq(l.nfeatures, 3);
			cr_assert_lt(l.energy_j, 0); /* not asked to report energy */
			if (el > 2500) {
				late++;
				temp_sum_late += l.f[0].value;
				slow += l.lat_ms >= 2.9;
			}
		}
	}
	close(fd);
	cr_assert_geq(hb, 2);
	cr_assert_gt(inf, 100);
	cr_assert_gt(late, 5);
	/* After the flip: the slow model, and inputs 4 sd (20) above 60. */
	cr_assert_eq(slow, late);
	cr_assert_gt(temp_sum_late / late, 75.0);
}

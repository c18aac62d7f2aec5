/* test_ingest.c - the SLI report queue on a real store: dedup by seq, tags
 * and carbon at ingestion, the bound (FL_EAGAIN, nothing queued), retries
 * that lose nothing, and the stop that writes everything. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/ingest.h"
#include "fairlead/json.h"
#include "fairlead/util.h"
#include "fl_test.h"

#define NOW 1700000000LL

struct fixture {
	struct cp_store *store;
	struct cp_carbon *carbon;
	struct cp_ingest *in;
};

static char db_path[512];

/* A fresh database, or the last one again with reuse. */
static void setup_db(struct fixture *f, size_t max_pending, int reuse)
{
	struct fl_err err = {0, ""};
	struct cp_ingest_config cfg;
	struct cp_enrollment e = {0};
	char path[512];
	json_t *labels = json_pack("{s:s,s:s}", "site", "eu-west", "tier", "gold");
	json_t *inv = json_pack("{s:s}", "hw_model", "rpi4");
	json_t *doc = json_pack("{s:{s:i},s:{s:{s:i,s:i}}}", "grid_intensity_g_per_kwh", "eu-west",
				250, "hardware", "rpi4", "embodied_kg", 0, "lifetime_years", 1);

	if (!reuse)
		snprintf(db_path, sizeof(db_path), "%s/fairlead.db", fl_test_tmpdir());
	snprintf(path, sizeof(path), "%s", db_path);
	cr_assert_eq(cp_store_open(&f->store, path, -1, &err), 0, "%s", err.msg);
	e.device_id = "dev-1";
	e.pubkey_b64 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	e.keyid = "k1";
	e.state = "accepted";
	e.labels = labels;
	e.inventory = inv;
	e.now = NOW;
	if (!reuse)
		cr_assert_eq(cp_store_device_enroll(f->store, &e, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_carbon_parse(&f->carbon, doc, &err), 0, "%s", err.msg);
	cp_ingest_config_defaults(&cfg);
	cfg.max_pending = max_pending;
	cfg.flush_ms = 50;
	cr_assert_eq(cp_ingest_new(&f->in, f->store, f->carbon, &cfg, &err), 0);
	json_decref(labels);
	json_decref(inv);
	json_decref(doc);
}

static void setup(struct fixture *f, size_t max_pending)
{
	setup_db(f, max_pending, 0);
}

static void teardown(struct fixture *f)
{
	cp_ingest_free(f->in);
	cp_carbon_free(f->carbon);
	cp_store_free(f->store);
}

static void report(struct cp_ingest_report *r, int64_t seq, int n)
{
	memset(r, 0, sizeof(*r));
	r->seq = seq;
	r->start = NOW - NOW % 60;
	r->end = r->start + 60;
	snprintf(r->release, sizeof(r->release), "det@1.0.0");
	r->inferences = n;
	r->energy_j = 3.6e6; /* 1 kWh */
	r->up_s = r->expected_s = 60;
	cr_assert_eq(fl_sketch_new(&r->latency_ms), 0);
	for (int i = 1; i <= n; i++)
		fl_sketch_add(r->latency_ms, i);
}

static int64_t stored_inferences(struct fixture *f, double *carbon)
{
	struct cp_sli_scope sc = {"dev-1", "site=eu-west,tier=gold", "det"};
	struct cp_sli_agg *a = NULL;
	struct fl_err err = {0, ""};
	size_t n = 0;
	int64_t from = NOW - NOW % 3600, inf;

	cr_assert_eq(cp_store_sli_series(&a, &n, f->store, &sc, from, from + 3600, 3600, &err), 0,
		     "%s", err.msg);
	inf = a[0].inferences;
	if (carbon)
		*carbon = a[0].carbon_g;
	cp_sli_aggs_free(a, n);
	return inf;
}

Test(ingest, dedup_tags_and_carbon)
{
	struct fixture f;
	struct cp_ingest_report r[3];
	struct cp_ingest_result res;
	struct fl_err err = {0, ""};
	struct cp_sli_dev_state st;
	double carbon = 0;

	setup(&f, 100);
	report(&r[0], 1, 10);
	report(&r[1], 2, 20);
	cr_assert_eq(cp_ingest_submit(&res, f.in, "dev-1", r, 2, 4, NOW, &err), 0, "%s", err.msg);
	cr_assert_eq(res.accepted, 2);
	cr_assert_eq(res.duplicates, 0);
	cr_assert_eq(res.acked_seq, 2);
	cr_assert_null(r[0].latency_ms, "the queue took the sketch");
	cp_ingest_report_release(&r[0]);
	cp_ingest_report_release(&r[1]);
	report(&r[0], 2, 20);
	report(&r[1], 3, 30);
	cr_assert_eq(cp_ingest_submit(&res, f.in, "dev-1", r, 2, 4, NOW, &err), 0);
	cr_assert_eq(res.accepted, 1);
	cr_assert_eq(res.duplicates, 1);
	cr_assert_eq(res.acked_seq, 3);
	cp_ingest_report_release(&r[0]);
	cp_ingest_report_release(&r[1]);
	cr_assert_eq(cp_ingest_flush(f.in, &err), 0, "%s", err.msg);
	/* tagged with the device's labels and site: the cohort scope finds it */
	cr_assert_eq(stored_inferences(&f, &carbon), 60);
	/* 3 kWh at eu-west's 250 g/kWh, no embodied share for this hardware */
	cr_assert_lt(fabs(carbon - 750), 1e-6);
	cr_assert_eq(cp_store_sli_state(&st, f.store, "dev-1", &err), 0);
	cr_assert_eq(st.seq, 3);
	cr_assert_eq(st.dropped, 4);
	teardown(&f);

	/* a new queue on the same store knows the stored seq */
	setup_db(&f, 100, 1);
	report(&r[0], 3, 30);
	cr_assert_eq(cp_ingest_submit(&res, f.in, "dev-1", r, 1, 0, NOW, &err), 0);
	cr_assert_eq(res.duplicates, 1);
	cr_assert_eq(res.acked_seq, 3);
	cp_ingest_report_release(&r[0]);
	teardown(&f);
}

Test(ingest, a_full_queue_refuses_the_whole_batch)
{
	struct fixture f;
	struct cp_ingest_report r[3];
	struct cp_ingest_result res;
	struct cp_ingest_stats stats;
	struct fl_err err = {0, ""};

	setup(&f, 2);
	for (int i = 0; i < 3; i++)
		report(&r[i], i + 1, 5);
	cr_assert_eq(cp_ingest_submit(&res, f.in, "dev-1", r, 3, 0, NOW, &err), FL_EAGAIN);
	cr_assert_not_null(r[0].latency_ms, "nothing taken");
	cp_ingest_stats(&stats, f.in);
	cr_assert_eq(stats.pending, 0);
	cr_assert_eq(stats.refused, 3);
	cr_assert_eq(cp_ingest_submit(&res, f.in, "dev-1", r, 2, 0, NOW, &err), 0);
	cr_assert_eq(res.acked_seq, 2);
	for (int i = 0; i < 3; i++)
		cp_ingest_report_release(&r[i]);
	cr_assert_eq(cp_ingest_stop(f.in, &err), 0);
	cr_assert_eq(stored_inferences(&f, NULL), 10);
	teardown(&f);
}

Test(ingest, stop_writes_what_the_thread_did_not)
{
	struct fixture f;
	struct cp_ingest_report r;
	struct cp_ingest_result res;
	struct fl_err err = {0, ""};

	setup(&f, 100);
	cr_assert_eq(cp_ingest_start(f.in, &err), 0);
	for (int i = 1; i <= 20; i++) {
		report(&r, i, 3);
		cr_assert_eq(cp_ingest_submit(&res, f.in, "dev-1", &r, 1, 0, NOW, &err), 0);
		cp_ingest_report_release(&r);
	}
	cr_assert_eq(cp_ingest_stop(f.in, &err), 0, "%s", err.msg);
	cr_assert_eq(stored_inferences(&f, NULL), 60);
	teardown(&f);
}

Test(ingest, unknown_device_is_not_found)
{
	struct fixture f;
	struct cp_ingest_report r;
	struct cp_ingest_result res;
	struct fl_err err = {0, ""};

	setup(&f, 100);
	report(&r, 1, 3);
	cr_assert_eq(cp_ingest_submit(&res, f.in, "ghost", &r, 1, 0, NOW, &err), FL_ENOTFOUND);
	cp_ingest_report_release(&r);
	teardown(&f);
}

/* The handler's wait: the flusher (a minute's interval here) commits at once
 * for a waiter, and the reports are stored when the wait returns 0. */
Test(ingest, wait_returns_once_stored)
{
	struct fixture f;
	struct cp_ingest_report r;
	struct cp_ingest_result res;
	struct fl_err err = {0, ""};
	struct cp_ingest_config cfg;

	setup(&f, 100);
	cp_ingest_free(f.in);
	cp_ingest_config_defaults(&cfg);
	cfg.flush_ms = 60000;
	/* NOW is years ago: retention after the flush must not take the row. */
	cfg.retention_minute_s = cfg.retention_5m_s = cfg.retention_1h_s = NOW;
	cr_assert_eq(cp_ingest_new(&f.in, f.store, f.carbon, &cfg, &err), 0);
	cr_assert_eq(cp_ingest_start(f.in, &err), 0);
	report(&r, 1, 10);
	cr_assert_eq(cp_ingest_submit(&res, f.in, "dev-1", &r, 1, 0, NOW, &err), 0, "%s", err.msg);
	cp_ingest_report_release(&r);
	cr_assert_eq(cp_ingest_wait(f.in, res.ticket, fl_mono_ms() + 30000, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(stored_inferences(&f, NULL), 10);
	cr_assert_eq(cp_ingest_stop(f.in, &err), 0);
	teardown(&f);
}

/* One batch with two devices' reports stores the seq of each: the state read
 * back after a restart is what dedups the agents' resends. (The store once
 * wrote only the first device's seq: after a SIGKILL the other device's
 * resend of a stored but unacknowledged report was stored again, and its
 * stored seq stayed behind the one acknowledged.) */
Test(ingest, one_batch_stores_every_devices_seq)
{
	static const char *const ids[] = {"dev-1", "dev-2", "dev-3"};
	struct fixture f;
	struct cp_enrollment e = {0};
	struct cp_ingest_report r;
	struct cp_ingest_result res;
	struct cp_sli_dev_state st;
	struct fl_err err = {0, ""};

	setup(&f, 100);
	for (int i = 1; i < 3; i++) {
		char key[64], keyid[8];

		snprintf(key, sizeof(key), "%c%s", 'B' + i,
			 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
		snprintf(keyid, sizeof(keyid), "k%d", i + 1);
		e.device_id = ids[i];
		e.pubkey_b64 = key;
		e.keyid = keyid;
		e.state = "accepted";
		e.now = NOW;
		cr_assert_eq(cp_store_device_enroll(f.store, &e, NULL, &err), 0, "%s", err.msg);
	}
	/* Queued together, written in one flush. */
	for (int i = 0; i < 3; i++)
		for (int seq = 1; seq <= 5 + i; seq++) {
			report(&r, seq, 1);
			cr_assert_eq(cp_ingest_submit(&res, f.in, ids[i], &r, 1, 0, NOW, &err), 0,
				     "%s", err.msg);
			cp_ingest_report_release(&r);
		}
	cr_assert_eq(cp_ingest_flush(f.in, &err), 0, "%s", err.msg);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(cp_store_sli_state(&st, f.store, ids[i], &err), 0, "%s", err.msg);
		cr_assert_eq(st.seq, 5 + i, "%s: stored seq %lld", ids[i], (long long)st.seq);
	}
	teardown(&f);

	/* After a restart every device's last stored report is a duplicate. */
	setup_db(&f, 100, 1);
	for (int i = 0; i < 3; i++) {
		report(&r, 5 + i, 1);
		cr_assert_eq(cp_ingest_submit(&res, f.in, ids[i], &r, 1, 0, NOW, &err), 0, "%s",
			     err.msg);
		cr_assert_eq(res.duplicates, 1, "%s: the resend is a duplicate", ids[i]);
		cr_assert_eq(res.accepted, 0, "%s: nothing stored twice", ids[i]);
		cp_ingest_report_release(&r);
	}
	teardown(&f);
}

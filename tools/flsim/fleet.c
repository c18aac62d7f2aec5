/*
 * fleet.c - the simulated devices: who they are, when each one talks next,
 * what it sends and what it makes of the replies.
 *
 * One thread, an event loop over transport.c. Every device has at most one
 * request in flight; a min-heap orders the idle devices by the time of their
 * next request; at most --concurrency requests are in flight. With
 * --interval 0 the loop is closed (each device goes again as soon as its
 * answer is in: the highest rate the server sustains); with an interval it
 * is open (a fleet polling on schedule, with lateness reported).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "fairlead/buf.h"
#include "fairlead/envelope.h"
#include "fairlead/httpsig.h"
#include "fairlead/json.h"
#include "fairlead/sketch.h"
#include "fairlead/trust.h"
#include "fairlead/util.h"
#include "sim.h"

enum { K_ENROLL, K_CHECKIN, K_REPORT, K_ARTIFACT, K_COUNT };
static const char *const kind_names[K_COUNT] = {"enroll", "checkin", "report", "artifact"};

enum { PH_CHALLENGE, PH_ENROLL, PH_ACTIVE };

#define MAX_REPLY     (2 * 1024 * 1024)
#define MAX_ARTIFACTS 16

struct kstats {
	uint64_t sent, ok;
	uint64_t status[600];
	uint64_t tx[SIM_TX_KINDS];
	struct sim_hist hist;
};

struct upd {
	char release[132]; /* NAME@VERSION */
	char name[66];
	char version[66];
	size_t nart, next;
	char sha[MAX_ARTIFACTS][65];
	int64_t len[MAX_ARTIFACTS];
	const char *state; /* downloading, committed, failed */
	const char *reason;
};

struct sim;

struct dev {
	struct sim *s;
	char id[80];
	char keyid[FL_KEYID_LEN + 1];
	char pk_b64[48];
	uint8_t sk[FL_ED25519_SK_LEN];
	int phase;
	int kind; /* of the request in flight */
	int bad_sig, drop, retried;
	int answered; /* has had a reply: with its own connection, it is open */
	int64_t due_ms;
	int64_t desired_version;
	int64_t interval_ms;
	int64_t seq;
	char *challenge;
	json_t *results; /* command results for the next check-in */
	struct upd *upd;
	char running[200];     /* "NAME":"VERSION" pairs for inventory.running */
	struct sim_chan *chan; /* its own way to the server; NULL: the shared pool */
};

struct sim {
	const struct sim_run_opts *o;
	struct sim_tx *tx;
	struct dev *devs;
	size_t ndev;
	size_t *heap;
	size_t nheap;
	uint64_t rng;
	int64_t t0_ms, t_measure_ms, t_end_ms, t_last_progress;
	int measuring;
	size_t answered; /* devices that have had a reply */
	struct kstats ks[K_COUNT];
	struct sim_hist progress_hist;
	uint64_t progress_n;
	int reports_missing, reports_seen;
	char *sketch_json;
	int64_t seq_base;
	int64_t report_epoch;
	uint64_t samples;
	uint64_t enrolled, enroll_failed;
	uint64_t upd_offered, upd_committed, upd_failed, art_done, art_bytes, art_bad;
	uint64_t bad_sent, bad_401, bad_other, dropped, io_retries;
	int64_t late_max_ms;
	uint64_t late_count;
	int64_t interval_ms;
	uint64_t conns_opened;
	uint64_t shed_retry_after, shed_plain; /* 503s with and without Retry-After */
	/* outcomes of requests that landed after the window (not in the rates) */
	uint64_t after_ok, after_503, after_timeout, after_other;
	/* the server's CPU ticks at the start and end of the measured window */
	long long srv_ticks0, srv_ticks1;
	int srv_state; /* 0: not read, 1: start read, 2: both read, -1: unreadable */
	struct fl_err err;
	int errors_logged;
};

static int64_t mono_ms(void)
{
	return fl_mono_ms();
}

static uint64_t rnd(struct sim *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

/* 1 with probability pct percent. */
static int chance(struct sim *s, double pct)
{
	return pct > 0 && (double)(rnd(s) % 1000000) < pct * 10000.0;
}

void sim_derive_key(uint8_t pk[FL_ED25519_PK_LEN], uint8_t sk[FL_ED25519_SK_LEN], const char *seed,
		    long index)
{
	char text[256];
	uint8_t d[FL_SHA256_LEN];
	int n = snprintf(text, sizeof(text), "fairlead-sim-v1\n%s\n%ld", seed, index);

	fl_sha256(d, text, (size_t)n);
	fl_ed25519_seed_keypair(pk, sk, d);
}

/* ---- the heap of idle devices, by due time ---- */

static int before(const struct sim *s, size_t a, size_t b)
{
	return s->devs[a].due_ms < s->devs[b].due_ms;
}

static void heap_push(struct sim *s, size_t d)
{
	size_t i = s->nheap++;

	s->heap[i] = d;
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!before(s, s->heap[i], s->heap[p]))
			break;
		s->heap[i] = s->heap[p];
		s->heap[p] = d;
		i = p;
	}
}

static size_t heap_pop(struct sim *s)
{
	size_t top = s->heap[0], i = 0;

	s->heap[0] = s->heap[--s->nheap];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i, t;

		if (l < s->nheap && before(s, s->heap[l], s->heap[m]))
			m = l;
		if (r < s->nheap && before(s, s->heap[r], s->heap[m]))
			m = r;
		if (m == i)
			break;
		t = s->heap[i];
		s->heap[i] = s->heap[m];
		s->heap[m] = t;
		i = m;
	}
	return top;
}

/* ---- requests ---- */

static void on_done(void *ctx, const struct sim_result *r);

/* Sends method target for d, signed unless it is an enrollment step. */
static int send_req(struct dev *d, const char *method, const char *target, const char *body,
		    size_t len, int signed_req, size_t max_body, int hash)
{
	struct sim *s = d->s;
	struct fl_buf url = FL_BUF_INIT, si = FL_BUF_INIT, sig = FL_BUF_INIT;
	struct fl_buf h_si = FL_BUF_INIT, h_sig = FL_BUF_INIT;
	char digest[FL_DIGEST_LEN], h_dig[FL_DIGEST_LEN + 32];
	const char *hdrs[4];
	struct sim_req req;
	size_t nh = 0;
	int rc;

	if ((rc = fl_buf_addf(&url, "%s%s", s->o->server, target)) < 0)
		goto out;
	hdrs[nh++] = "Content-Type: application/json";
	if (signed_req) {
		fl_httpsig_digest(digest, body, len);
		if ((rc = fl_httpsig_sign(&si, &sig, method, target, "", digest, d->keyid, d->sk,
					  fl_now(), FL_SIG_DEFAULT_TTL)) < 0)
			goto out;
		if (d->bad_sig) {
			/* One changed base64 character: a well-formed, wrong signature. */
			sig.ptr[6] = sig.ptr[6] == 'A' ? 'B' : 'A';
		}
		snprintf(h_dig, sizeof(h_dig), "Content-Digest: %s", digest);
		if ((rc = fl_buf_addf(&h_si, "Signature-Input: %s", si.ptr)) < 0 ||
		    (rc = fl_buf_addf(&h_sig, "Signature: %s", sig.ptr)) < 0)
			goto out;
		hdrs[nh++] = h_dig;
		hdrs[nh++] = h_si.ptr;
		hdrs[nh++] = h_sig.ptr;
	}
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url.ptr;
	req.headers = hdrs;
	req.nheaders = nh;
	req.body = body;
	req.body_len = len;
	req.max_body = max_body;
	req.drop = d->drop;
	req.hash = hash;
	req.done = on_done;
	req.ctx = d;
	req.chan = d->chan;
	rc = sim_tx_submit(s->tx, &req, &s->err);
out:
	fl_buf_release(&url);
	fl_buf_release(&si);
	fl_buf_release(&sig);
	fl_buf_release(&h_si);
	fl_buf_release(&h_sig);
	return rc;
}

static int send_enroll(struct dev *d)
{
	struct sim *s = d->s;
	struct fl_buf msg = FL_BUF_INIT;
	uint8_t sig[FL_ED25519_SIG_LEN];
	char proof[100];
	json_t *b;
	char *text;
	int rc;

	if (d->phase == PH_CHALLENGE)
		return send_req(d, "POST", "/api/v1/enroll/challenge", "{}", 2, 0, MAX_REPLY, 0);
	if ((rc = fl_buf_addf(&msg, "fairlead-enroll-v1\n%s\n%s\n%s", d->challenge, d->id,
			      d->pk_b64)) < 0)
		return rc;
	fl_ed25519_sign(sig, msg.ptr, msg.len, d->sk);
	fl_buf_release(&msg);
	fl_b64_encode(proof, sig, sizeof(sig));
	b = json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s}}", "device_id", d->id, "pubkey", d->pk_b64,
		      "challenge", d->challenge, "proof", proof, "token", s->o->enroll_token,
		      "inventory", "hw_model", "sim");
	text = b ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	if (!text)
		return FL_ENOMEM;
	rc = send_req(d, "POST", "/api/v1/enroll", text, strlen(text), 0, MAX_REPLY, 0);
	free(text);
	return rc;
}

static int send_checkin(struct dev *d)
{
	struct fl_buf b = FL_BUF_INIT;
	int rc;

	rc = fl_buf_addf(&b,
			 "{\"inventory\":{\"hw_model\":\"sim\",\"firmware_version\":\"1.0.0\","
			 "\"running\":{%s}},\"desired_version\":%lld",
			 d->running, (long long)d->desired_version);
	if (rc == 0 && d->upd && d->upd->state != NULL && strcmp(d->upd->state, "downloading"))
		rc = fl_buf_addf(&b, ",\"update\":{\"release\":\"%s\",\"state\":\"%s\"%s%s%s}",
				 d->upd->release, d->upd->state,
				 d->upd->reason ? ",\"reason\":\"" : "",
				 d->upd->reason ? d->upd->reason : "", d->upd->reason ? "\"" : "");
	if (rc == 0 && d->results && json_array_size(d->results) > 0) {
		char *r = json_dumps(d->results, JSON_COMPACT);

		rc = r ? fl_buf_addf(&b, ",\"command_results\":%s", r) : FL_ENOMEM;
		free(r);
	}
	if (rc == 0)
		rc = fl_buf_puts(&b, "}");
	if (rc == 0)
		rc = send_req(d, "POST", "/api/v1/device/checkin", b.ptr, b.len, 1, MAX_REPLY, 0);
	fl_buf_release(&b);
	return rc;
}

/* An SLI report request: --report-batch windows of 60 s, each with
 * --report-inferences inferences, in the wire format of the reports API. */
static int send_report(struct dev *d)
{
	struct sim *s = d->s;
	struct fl_buf b = FL_BUF_INIT;
	long n = s->o->report_batch > 0 ? s->o->report_batch : 1;
	int rc = fl_buf_puts(&b, "{\"reports\":[");

	for (long i = 0; rc == 0 && i < n; i++) {
		int64_t seq = ++d->seq;
		int64_t start = s->report_epoch + (seq % 1440) * 60;

		rc = fl_buf_addf(
		    &b,
		    "%s{\"seq\":%lld,\"start\":%lld,\"end\":%lld,\"release\":\"sim-model@1.0.0\","
		    "\"up_s\":60,"
		    "\"expected_s\":60,\"inferences\":%ld,\"errors\":0,\"latency_ms\":%s,"
		    "\"energy_j\":%.3f,\"energy_source\":\"estimated\",\"drift\":[]}",
		    i ? "," : "", (long long)(s->seq_base + seq), (long long)start,
		    (long long)(start + 60), s->o->report_inferences, s->sketch_json,
		    0.001 * (double)s->o->report_inferences);
	}
	if (rc == 0)
		rc = fl_buf_puts(&b, "],\"dropped\":0}");
	if (rc == 0)
		rc = send_req(d, "POST", "/api/v1/device/reports", b.ptr, b.len, 1, MAX_REPLY, 0);
	fl_buf_release(&b);
	return rc;
}

static int send_artifact(struct dev *d)
{
	char target[160];

	snprintf(target, sizeof(target), "/api/v1/device/artifacts/%s", d->upd->sha[d->upd->next]);
	return send_req(d, "GET", target, "", 0, 1, 0, 1);
}

static int dispatch(struct dev *d)
{
	struct sim *s = d->s;

	d->bad_sig = d->drop = 0;
	if (d->phase != PH_ACTIVE) {
		d->kind = K_ENROLL;
		return send_enroll(d);
	}
	if (d->upd && d->upd->next < d->upd->nart) {
		d->kind = K_ARTIFACT;
		return send_artifact(d);
	}
	d->bad_sig = chance(s, s->o->bad_signature);
	d->drop = !d->bad_sig && chance(s, s->o->drop);
	if (s->o->report_rate > 0 && !s->reports_missing &&
	    (s->o->report_rate >= 1 || chance(s, s->o->report_rate * 100))) {
		d->kind = K_REPORT;
		return send_report(d);
	}
	d->kind = K_CHECKIN;
	return send_checkin(d);
}

/* ---- replies ---- */

static void start_update(struct dev *d, const json_t *update)
{
	struct sim *s = d->s;
	struct fl_envelope env;
	struct fl_trust_release rel;
	struct fl_err e = {0, ""};
	char *text = json_dumps(json_object_get(update, "release"), JSON_COMPACT);
	char ref[132];

	memset(&env, 0, sizeof(env));
	memset(&rel, 0, sizeof(rel));
	if (!text || fl_envelope_parse(&env, text, strlen(text), &e) < 0 ||
	    fl_trust_release_parse(&rel, env.payload, env.payload_len, &e) < 0)
		goto out;
	snprintf(ref, sizeof(ref), "%s@%s", rel.name, rel.version);
	/* The same offer again: still downloading, or already settled. */
	if (d->upd && strcmp(d->upd->release, ref) == 0)
		goto out;
	if (!d->upd && !(d->upd = calloc(1, sizeof(*d->upd))))
		goto out;
	memset(d->upd, 0, sizeof(*d->upd));
	snprintf(d->upd->release, sizeof(d->upd->release), "%s", ref);
	snprintf(d->upd->name, sizeof(d->upd->name), "%s", rel.name);
	snprintf(d->upd->version, sizeof(d->upd->version), "%s", rel.version);
	for (size_t i = 0; i < rel.nartifacts && i < MAX_ARTIFACTS; i++) {
		memcpy(d->upd->sha[i], rel.artifacts[i].sha256, 65);
		d->upd->len[i] = rel.artifacts[i].length;
	}
	d->upd->nart = rel.nartifacts < MAX_ARTIFACTS ? rel.nartifacts : MAX_ARTIFACTS;
	d->upd->state = "downloading";
	if (s->measuring)
		s->upd_offered++;
out:
	fl_trust_release_free(&rel);
	fl_envelope_release(&env);
	free(text);
}

/* All artifacts are in: install, or fail as the --fail-install mix says. */
static void settle_update(struct dev *d)
{
	struct sim *s = d->s;

	if (chance(s, s->o->fail_install)) {
		d->upd->state = "failed";
		d->upd->reason = "simulated install failure";
		s->upd_failed++;
		return;
	}
	d->upd->state = "committed";
	d->upd->reason = NULL;
	snprintf(d->running, sizeof(d->running), "\"%s\":\"%s\"", d->upd->name, d->upd->version);
	s->upd_committed++;
}

static void take_checkin_reply(struct dev *d, const struct sim_result *r)
{
	struct sim *s = d->s;
	json_t *j = json_loadb(r->body, r->body_len, 0, NULL), *cmds, *c, *upd;
	size_t i;

	json_decref(d->results);
	d->results = NULL;
	if (!j)
		return;
	if (json_is_integer(json_object_get(j, "desired_version")))
		d->desired_version = json_integer_value(json_object_get(j, "desired_version"));
	if (s->o->use_server_interval && json_is_integer(json_object_get(j, "poll_interval")))
		d->interval_ms = 1000 * json_integer_value(json_object_get(j, "poll_interval"));
	cmds = json_object_get(j, "commands");
	json_array_foreach (cmds, i, c) {
		const char *id = json_string_value(json_object_get(c, "id"));

		if (!id)
			continue;
		if (!d->results)
			d->results = json_array();
		json_array_append_new(d->results, json_pack("{s:s,s:s,s:{s:s}}", "id", id, "status",
							    "ok", "result", "simulated", "yes"));
	}
	upd = json_object_get(j, "update");
	if (json_is_object(upd))
		start_update(d, upd);
	json_decref(j);
}

static void take_enroll_reply(struct dev *d, const struct sim_result *r)
{
	struct sim *s = d->s;
	json_t *j = json_loadb(r->body, r->body_len, 0, NULL);

	if (d->phase == PH_CHALLENGE) {
		const char *c = json_string_value(json_object_get(j, "challenge"));

		free(d->challenge);
		d->challenge = c ? strdup(c) : NULL;
		if (d->challenge)
			d->phase = PH_ENROLL;
	} else {
		free(d->challenge);
		d->challenge = NULL;
		d->phase = PH_ACTIVE;
		s->enrolled++;
	}
	json_decref(j);
}

static void count(struct sim *s, int kind, const struct sim_result *r)
{
	struct kstats *k = &s->ks[kind];

	k->sent++;
	if (r->kind != SIM_TX_OK) {
		k->tx[r->kind]++;
		return;
	}
	k->status[r->status >= 0 && r->status < 600 ? r->status : 599]++;
	if (r->status >= 200 && r->status < 300) {
		k->ok++;
		sim_hist_add(&k->hist, (uint64_t)r->us);
		sim_hist_add(&s->progress_hist, (uint64_t)r->us);
	}
}

static void on_done(void *ctx, const struct sim_result *r)
{
	struct dev *d = ctx;
	struct sim *s = d->s;
	int64_t now = mono_ms();
	int ok = r->kind == SIM_TX_OK && r->status >= 200 && r->status < 300;
	int follow_up = 0;

	s->progress_n++;
	if (r->kind == SIM_TX_OK && !d->answered) {
		d->answered = 1;
		s->answered++;
	}
	if (now > s->t_end_ms) {
		if (r->kind == SIM_TX_TIMEOUT)
			s->after_timeout++;
		else if (r->kind != SIM_TX_OK)
			s->after_other++;
		else if (r->status == 503)
			s->after_503++;
		else
			s->after_ok++;
	} else if (s->measuring) {
		s->conns_opened += (uint64_t)(r->new_conns > 0 ? r->new_conns : 0);
		if (r->kind == SIM_TX_OK && r->status == 503) {
			if (r->retry_after >= 0)
				s->shed_retry_after++;
			else
				s->shed_plain++;
		}
	}
	/* A kept-alive connection the server closed as we reused it (its idle
	 * timeout raced our send): retried once on a fresh connection, as an
	 * agent would; counted, not an error. */
	if (r->kind == SIM_TX_IO && !d->retried && !d->drop) {
		d->retried = 1;
		s->io_retries++;
		d->due_ms = now;
		heap_push(s, (size_t)(d - s->devs));
		return;
	}
	d->retried = 0;
	if (r->kind != SIM_TX_OK && r->kind != SIM_TX_DROPPED && s->errors_logged < 5) {
		s->errors_logged++;
		fprintf(stderr, "fairlead-sim: %s %s: %s (%s)\n", kind_names[d->kind], d->id,
			sim_tx_kind_name(r->kind), r->error ? r->error : "");
	}
	if (d->bad_sig) {
		s->bad_sent++;
		if (r->kind == SIM_TX_OK && r->status == 401)
			s->bad_401++;
		else
			s->bad_other++;
	} else if (d->drop) {
		s->dropped++;
	} else if (s->measuring && now <= s->t_end_ms) {
		count(s, d->kind, r);
	} else if (d->kind == K_ENROLL) {
		count(s, d->kind, r); /* enrollment is counted whenever it happens */
	}

	switch (d->kind) {
	case K_ENROLL:
		if (ok) {
			take_enroll_reply(d, r);
			follow_up = 1;
		} else {
			s->enroll_failed++;
			d->phase = PH_CHALLENGE; /* a fresh challenge, later */
		}
		break;
	case K_CHECKIN:
		if (ok && !d->drop && !d->bad_sig) {
			take_checkin_reply(d, r);
			follow_up = d->upd && d->upd->next < d->upd->nart;
		}
		break;
	case K_REPORT:
		if (r->kind == SIM_TX_OK && r->status == 404 && !d->bad_sig && !d->drop) {
			if (!s->reports_missing)
				fprintf(stderr,
					"fairlead-sim: reports endpoint not available (404); "
					"sending check-ins instead\n");
			s->reports_missing = 1;
		} else if (ok && !d->drop && !d->bad_sig) {
			s->reports_seen = 1;
			if (s->measuring && now <= s->t_end_ms)
				s->samples +=
				    (uint64_t)(s->o->report_batch > 0 ? s->o->report_batch : 1) *
				    (uint64_t)s->o->report_inferences;
		}
		break;
	case K_ARTIFACT:
		if (ok && strcmp(r->sha256, d->upd->sha[d->upd->next]) == 0 &&
		    r->bytes == d->upd->len[d->upd->next]) {
			s->art_done++;
			s->art_bytes += (uint64_t)r->bytes;
			if (++d->upd->next == d->upd->nart)
				settle_update(d);
		} else {
			if (ok)
				s->art_bad++;
			/* Give up on this release: report it failed, as an agent would
			 * after its retries. */
			d->upd->next = d->upd->nart;
			d->upd->state = "failed";
			d->upd->reason = "simulated download failure";
			s->upd_failed++;
		}
		follow_up = 1;
		break;
	}

	if (follow_up) {
		d->due_ms = now;
	} else if (r->kind == SIM_TX_OK && r->status == 503 && r->retry_after >= 0) {
		/* A shedding server said when to come back: a device obeys (at
		 * most a minute here, so that a run stays bounded). */
		d->due_ms = now + (r->retry_after > 60 ? 60 : r->retry_after) * 1000;
	} else {
		int64_t iv = d->interval_ms;

		d->due_ms = iv <= 0 ? now : (d->due_ms + iv < now ? now : d->due_ms + iv);
	}
	heap_push(s, (size_t)(d - s->devs));
}

/* ---- setup and output ---- */

/* The latency sketch every simulated report carries, built once with the
 * agent's own sketch (fairlead/sketch.h) over a fixed spread of latencies. */
static int make_sketch(struct sim *s, struct fl_err *err)
{
	struct fl_sketch *sk = NULL;
	json_t *j = NULL;
	int rc;

	if ((rc = fl_sketch_new(&sk)) < 0)
		return fl_err_set(err, rc, "out of memory");
	for (long i = 0; rc == 0 && i < s->o->report_inferences; i++)
		rc = fl_sketch_add(sk, 4.0 + (double)(i % 97) * 0.05 + (i % 101 == 0 ? 20.0 : 0.0));
	if (rc == 0 && (rc = fl_sketch_to_json(&j, sk)) == 0 &&
	    !(s->sketch_json = fl_json_dumps(j)))
		rc = FL_ENOMEM;
	json_decref(j);
	fl_sketch_free(sk);
	return rc < 0 ? fl_err_set(err, rc, "cannot build the latency sketch") : 0;
}

/* utime + stime of process pid, in clock ticks, from /proc/PID/stat. */
static int proc_cpu_ticks(long long *out, long pid, struct fl_err *err)
{
	char path[64], line[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	*out = 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (!(f = fopen(path, "r")))
		return fl_err_set(err, FL_ENOTFOUND, "no process %ld", pid);
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	/* The command name may hold spaces and parentheses: fields count from
	 * the last ')'; utime and stime are fields 14 and 15. */
	if (!(p = strrchr(line, ')')) ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return fl_err_set(err, FL_ERROR, "cannot parse %s", path);
	*out = (long long)(ut + st);
	return 0;
}

/* Reads the server's CPU time at the start (which 1) or end (2) of the
 * measured window; a vanished server leaves the figure out, not the run. */
static void take_server_cpu(struct sim *s, int which)
{
	struct fl_err e = {0, ""};

	if (s->o->server_pid <= 0 || s->srv_state < 0 || s->srv_state >= which)
		return;
	if (proc_cpu_ticks(which == 1 ? &s->srv_ticks0 : &s->srv_ticks1, s->o->server_pid, &e) <
	    0) {
		fprintf(stderr, "fairlead-sim: server CPU: %s\n", e.msg);
		s->srv_state = -1;
		return;
	}
	s->srv_state = which;
}

static json_t *lat_json(const struct sim_hist *h)
{
	return json_pack("{s:f,s:f,s:f,s:f,s:f}", "p50", sim_hist_quantile(h, 0.50) / 1000.0, "p90",
			 sim_hist_quantile(h, 0.90) / 1000.0, "p99",
			 sim_hist_quantile(h, 0.99) / 1000.0, "max", (double)h->max / 1000.0,
			 "mean", h->n ? (double)h->sum / (double)h->n / 1000.0 : 0.0);
}

static json_t *result_json(struct sim *s, double secs)
{
	struct sim_hist *all = calloc(1, sizeof(*all));
	json_t *kinds = json_object(), *errors = json_object(), *out;
	uint64_t req = 0, ok = 0, nerr = 0;

	for (int k = 0; k < K_COUNT; k++) {
		struct kstats *ks = &s->ks[k];
		json_t *st, *tx;
		char name[64];

		if (!ks->sent)
			continue;
		st = json_object();
		tx = json_object();
		for (int c = 0; c < 600; c++) {
			if (!ks->status[c])
				continue;
			snprintf(name, sizeof(name), "%d", c);
			json_object_set_new(st, name, json_integer((json_int_t)ks->status[c]));
			if (c < 200 || c >= 300) {
				snprintf(name, sizeof(name), "%s_http_%d", kind_names[k], c);
				json_object_set_new(errors, name,
						    json_integer((json_int_t)ks->status[c]));
				nerr += ks->status[c];
			}
		}
		for (int t = 1; t < SIM_TX_KINDS; t++) {
			if (!ks->tx[t])
				continue;
			json_object_set_new(tx, sim_tx_kind_name(t),
					    json_integer((json_int_t)ks->tx[t]));
			snprintf(name, sizeof(name), "%s_%s", kind_names[k], sim_tx_kind_name(t));
			json_object_set_new(errors, name, json_integer((json_int_t)ks->tx[t]));
			nerr += ks->tx[t];
		}
		if (all)
			sim_hist_merge(all, &ks->hist);
		req += ks->sent;
		ok += ks->ok;
		json_object_set_new(
		    kinds, kind_names[k],
		    json_pack("{s:I,s:I,s:f,s:o,s:o,s:o}", "requests", (json_int_t)ks->sent, "ok",
			      (json_int_t)ks->ok, "ok_per_s",
			      secs > 0 && k != K_ENROLL ? (double)ks->ok / secs : 0.0, "latency_ms",
			      lat_json(&ks->hist), "statuses", st, "transport", tx));
	}
	out = json_pack(
	    "{s:s,s:s,s:{s:i,s:I,s:i},s:i,s:f,s:f,s:{s:I,s:I,s:I,s:f,s:o},s:o,s:o,s:I,"
	    "s:{s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I,s:I},s:{s:s,s:I,s:f},s:{s:I,s:I}}",
	    "label", s->o->label ? s->o->label : "", "server", s->o->server, "devices", "preloaded",
	    (int)s->o->preloaded, "enrolled", (json_int_t)s->enrolled, "enroll_target",
	    (int)s->o->enroll, "concurrency", (int)s->o->concurrency, "interval_s",
	    s->o->interval_s, "duration_s", secs, "total", "requests", (json_int_t)req, "ok",
	    (json_int_t)ok, "errors", (json_int_t)nerr, "ok_per_s",
	    secs > 0 ? (double)ok / secs : 0.0, "latency_ms", all ? lat_json(all) : json_object(),
	    "by_kind", kinds, "errors", errors, "enroll_failures", (json_int_t)s->enroll_failed,
	    "expected", "bad_signature_sent", (json_int_t)s->bad_sent, "bad_signature_401",
	    (json_int_t)s->bad_401, "bad_signature_other", (json_int_t)s->bad_other, "dropped",
	    (json_int_t)s->dropped, "io_retries", (json_int_t)s->io_retries, "updates", "offered",
	    (json_int_t)s->upd_offered, "committed", (json_int_t)s->upd_committed, "failed",
	    (json_int_t)s->upd_failed, "artifacts", (json_int_t)s->art_done, "artifact_bytes",
	    (json_int_t)s->art_bytes, "bad_artifacts", (json_int_t)s->art_bad, "reports",
	    "endpoint",
	    s->o->report_rate <= 0 ? "unused"
	    : s->reports_missing   ? "not_available"
	    : s->reports_seen	   ? "available"
				   : "unknown",
	    "samples", (json_int_t)s->samples, "samples_per_s",
	    secs > 0 ? (double)s->samples / secs : 0.0, "late", "max_ms",
	    (json_int_t)s->late_max_ms, "over_1s", (json_int_t)s->late_count);
	free(all);
	if (out) {
		json_object_set_new(out, "conn_mode",
				    json_string(sim_conn_mode_name(s->o->conn_mode)));
		json_object_set_new(out, "connections_opened",
				    json_integer((json_int_t)s->conns_opened));
		json_object_set_new(out, "shed",
				    json_pack("{s:I,s:I}", "with_retry_after",
					      (json_int_t)s->shed_retry_after,
					      "without_retry_after", (json_int_t)s->shed_plain));
		json_object_set_new(
		    out, "after_window",
		    json_pack("{s:I,s:I,s:I,s:I}", "answered", (json_int_t)s->after_ok, "http_503",
			      (json_int_t)s->after_503, "timeout", (json_int_t)s->after_timeout,
			      "other_transport", (json_int_t)s->after_other));
	}
	if (out && s->o->server_pid > 0) {
		/* CPU per signed check-in: the server's time over the window
		 * divided by the check-ins it answered 2xx in it. */
		double cpu = s->srv_state == 2 ? (double)(s->srv_ticks1 - s->srv_ticks0) /
						     (double)sysconf(_SC_CLK_TCK)
					       : -1;
		uint64_t n = s->ks[K_CHECKIN].ok;

		json_object_set_new(
		    out, "server_cpu",
		    json_pack("{s:I,s:o,s:o}", "pid", (json_int_t)s->o->server_pid, "cpu_s",
			      cpu >= 0 ? json_real(cpu) : json_null(), "cpu_us_per_checkin",
			      cpu >= 0 && n > 0 ? json_real(cpu * 1e6 / (double)n) : json_null()));
	}
	{
		struct rusage ru;

		/* The client's own CPU time: on a shared machine, what the server
		 * got is what remains of the cores. */
		if (out && getrusage(RUSAGE_SELF, &ru) == 0)
			json_object_set_new(
			    out, "client_cpu_s",
			    json_real((double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
				      (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6));
	}
	return out;
}

static void print_text(FILE *f, const json_t *j)
{
	const char *k;
	json_t *v;

	fprintf(f, "fairlead-sim %s: %s, %lld devices (+%lld enrolled), concurrency %lld, %.1f s\n",
		json_string_value(json_object_get(j, "label")),
		json_string_value(json_object_get(j, "server")),
		json_integer_value(json_object_get(json_object_get(j, "devices"), "preloaded")),
		json_integer_value(json_object_get(json_object_get(j, "devices"), "enrolled")),
		json_integer_value(json_object_get(j, "concurrency")),
		json_real_value(json_object_get(j, "duration_s")));
	json_object_foreach ((json_t *)(uintptr_t)json_object_get(j, "by_kind"), k, v) {
		json_t *l = json_object_get(v, "latency_ms");

		fprintf(f,
			"  %-8s %8lld requests %8lld ok %10.1f ok/s  p50 %.2f ms  p90 %.2f ms  "
			"p99 %.2f ms  max %.2f ms\n",
			k, json_integer_value(json_object_get(v, "requests")),
			json_integer_value(json_object_get(v, "ok")),
			json_real_value(json_object_get(v, "ok_per_s")),
			json_real_value(json_object_get(l, "p50")),
			json_real_value(json_object_get(l, "p90")),
			json_real_value(json_object_get(l, "p99")),
			json_real_value(json_object_get(l, "max")));
	}
	json_object_foreach ((json_t *)(uintptr_t)json_object_get(j, "errors"), k, v)
		fprintf(f, "  error %-24s %lld\n", k, json_integer_value(v));
	json_object_foreach ((json_t *)(uintptr_t)json_object_get(j, "expected"), k, v)
		if (json_integer_value(v))
			fprintf(f, "  expected %-21s %lld\n", k, json_integer_value(v));
	json_object_foreach ((json_t *)(uintptr_t)json_object_get(j, "updates"), k, v)
		if (json_integer_value(v))
			fprintf(f, "  update %-23s %lld\n", k, json_integer_value(v));
	v = json_object_get(j, "reports");
	if (strcmp(json_string_value(json_object_get(v, "endpoint")), "unused") != 0)
		fprintf(f, "  reports endpoint %s, %lld samples, %.0f samples/s\n",
			json_string_value(json_object_get(v, "endpoint")),
			json_integer_value(json_object_get(v, "samples")),
			json_real_value(json_object_get(v, "samples_per_s")));
}

static int emit(const struct sim_run_opts *o, json_t *j, int as_json, const char *out_file,
		struct fl_err *err)
{
	char *text = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);

	if (!text)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	if (out_file) {
		FILE *f = fopen(out_file, "w");

		if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0) {
			free(text);
			return fl_err_set(err, FL_ERROR, "cannot write %s", out_file);
		}
	}
	if (as_json)
		printf("%s\n", text);
	else
		print_text(stdout, j);
	fflush(stdout);
	free(text);
	(void)o;
	return 0;
}

static void progress(struct sim *s, int64_t now)
{
	double secs = (double)(now - s->t_last_progress) / 1000.0;
	uint64_t errs = 0;

	for (int k = 0; k < K_COUNT; k++)
		for (int c = 0; c < 600; c++)
			if (c < 200 || c >= 300)
				errs += s->ks[k].status[c];
	fprintf(stderr,
		"fairlead-sim: t=%.0fs %.0f req/s p50 %.2f ms p99 %.2f ms in flight %zu "
		"errors %llu enrolled %llu\n",
		(double)(now - s->t0_ms) / 1000.0, secs > 0 ? (double)s->progress_n / secs : 0,
		sim_hist_quantile(&s->progress_hist, 0.5) / 1000.0,
		sim_hist_quantile(&s->progress_hist, 0.99) / 1000.0, sim_tx_inflight(s->tx),
		(unsigned long long)errs, (unsigned long long)s->enrolled);
	memset(&s->progress_hist, 0, sizeof(s->progress_hist));
	s->progress_n = 0;
	s->t_last_progress = now;
}

int sim_run(const struct sim_run_opts *o, struct fl_err *err)
{
	struct sim *s = calloc(1, sizeof(*s));
	struct sim_tx_opts to;
	json_t *res = NULL;
	long conc = o->concurrency > 0 ? o->concurrency : 16;
	int64_t now;
	size_t i;
	int rc = 0;

	if (!s)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	s->o = o;
	s->rng =
	    (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)fl_mono_ms() ^ 0x9e3779b97f4a7c15ull;
	s->ndev = (size_t)(o->preloaded + o->enroll);
	s->seq_base = fl_now() * 100000;
	s->report_epoch = (fl_now() / 60) * 60 - 86400;
	s->interval_ms = (int64_t)(o->interval_s * 1000.0);
	if (s->ndev == 0) {
		rc = fl_err_set(err, FL_EINVAL, "no devices to play (--preloaded N or --enroll N)");
		goto cleanup;
	}
	if (!(s->devs = calloc(s->ndev, sizeof(*s->devs))) ||
	    !(s->heap = calloc(s->ndev, sizeof(*s->heap)))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (o->report_rate > 0 && (rc = make_sketch(s, err)) < 0)
		goto cleanup;
	memset(&to, 0, sizeof(to));
	to.ca_file = o->ca;
	to.max_conns = o->conns > 0 ? o->conns : conc;
	to.timeout_ms = o->timeout_ms;
	to.mode = o->conn_mode;
	if ((rc = sim_tx_new(&s->tx, &to, err)) < 0)
		goto cleanup;

	now = mono_ms();
	for (i = 0; i < s->ndev; i++) {
		struct dev *d = &s->devs[i];
		uint8_t pk[FL_ED25519_PK_LEN];

		d->s = s;
		d->interval_ms = s->interval_ms;
		if ((long)i < o->preloaded) {
			sim_derive_key(pk, d->sk, o->seed, o->first + (long)i);
			snprintf(d->id, sizeof(d->id), "%s%07ld", o->id_prefix, o->first + (long)i);
			d->phase = PH_ACTIVE;
		} else {
			fl_ed25519_keypair(pk, d->sk);
			snprintf(d->id, sizeof(d->id), "%s%07ld", o->enroll_prefix,
				 (long)i - o->preloaded);
			d->phase = PH_CHALLENGE;
		}
		fl_keyid(d->keyid, pk);
		fl_b64_encode(d->pk_b64, pk, sizeof(pk));
		if ((rc = sim_tx_chan_new(&d->chan, s->tx, err)) < 0)
			goto cleanup;
		/* An open-loop fleet starts spread over one interval. */
		d->due_ms =
		    now + (s->interval_ms > 0 ? (int64_t)(rnd(s) % (uint64_t)s->interval_ms) : 0);
		heap_push(s, i);
	}

	s->t0_ms = s->t_last_progress = mono_ms();
	s->t_measure_ms = s->t0_ms + (int64_t)(o->warmup_s * 1000.0);
	s->t_end_ms = s->t_measure_ms + (int64_t)(o->duration_s * 1000.0);
	s->measuring = o->warmup_s <= 0;
	if (s->measuring)
		take_server_cpu(s, 1);
	for (;;) {
		int timeout = 50;

		now = mono_ms();
		/* With a connection per device, the warm-up lasts until every
		 * device has opened its own (for at most two minutes more): on a
		 * machine with slow handshakes a fixed warm-up would measure
		 * handshakes instead of kept-alive check-ins. */
		if (!s->measuring && now >= s->t_measure_ms && o->conn_mode == SIM_CONN_DEVICE &&
		    s->answered < s->ndev &&
		    now < s->t0_ms + (int64_t)(o->warmup_s * 1000.0) + 120000) {
			s->t_measure_ms = now + 1;
			s->t_end_ms = s->t_measure_ms + (int64_t)(o->duration_s * 1000.0);
		}
		if (!s->measuring && now >= s->t_measure_ms) {
			/* Warm-up over: forget what it measured (handshakes, enrollment). */
			for (int k = 0; k < K_COUNT; k++)
				if (k != K_ENROLL)
					memset(&s->ks[k], 0, sizeof(s->ks[k]));
			s->samples = s->upd_offered = 0;
			s->late_max_ms = 0;
			s->late_count = 0;
			s->conns_opened = s->shed_retry_after = s->shed_plain = 0;
			s->measuring = 1;
			take_server_cpu(s, 1);
		}
		if (now >= s->t_end_ms) {
			take_server_cpu(s, 2);
			/* Let what is in flight land (counted only up to the end). */
			if (sim_tx_inflight(s->tx) == 0 || now > s->t_end_ms + 30000)
				break;
		} else {
			while (sim_tx_inflight(s->tx) < (size_t)conc && s->nheap > 0 &&
			       s->devs[s->heap[0]].due_ms <= now) {
				struct dev *d = &s->devs[heap_pop(s)];
				int64_t late = now - d->due_ms;

				if (s->interval_ms > 0 && s->measuring) {
					if (late > s->late_max_ms)
						s->late_max_ms = late;
					if (late > 1000)
						s->late_count++;
				}
				if ((rc = dispatch(d)) < 0) {
					fl_err_set(err, rc, "cannot send: %s", s->err.msg);
					goto cleanup;
				}
			}
			if (sim_tx_inflight(s->tx) < (size_t)conc && s->nheap > 0) {
				int64_t wait = s->devs[s->heap[0]].due_ms - now;

				timeout = wait < 0 ? 0 : wait > 50 ? 50 : (int)wait;
			}
		}
		sim_tx_poll(s->tx, timeout);
		if (o->progress_s > 0 &&
		    mono_ms() - s->t_last_progress >= (int64_t)(o->progress_s * 1000.0))
			progress(s, mono_ms());
	}
	if (!(res = result_json(s, (double)(s->t_end_ms - s->t_measure_ms) / 1000.0))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	rc = emit(o, res, o->json, o->out_file, err);
cleanup:
	json_decref(res);
	for (i = 0; s->devs && i < s->ndev; i++)
		sim_tx_chan_free(s->devs[i].chan); /* before the transport they belong to */
	sim_tx_free(s->tx);
	for (i = 0; s->devs && i < s->ndev; i++) {
		free(s->devs[i].challenge);
		free(s->devs[i].upd);
		json_decref(s->devs[i].results);
		memset(s->devs[i].sk, 0, sizeof(s->devs[i].sk));
	}
	free(s->devs);
	free(s->heap);
	free(s->sketch_json);
	free(s);
	return rc;
}

/* ---- fetch: one file, many times, for download throughput ---- */

struct fetcher {
	const struct sim_fetch_opts *o;
	struct sim_tx *tx;
	uint8_t sk[FL_ED25519_SK_LEN];
	char keyid[FL_KEYID_LEN + 1];
	const char *path;
	long started, done, ok;
	uint64_t bytes;
	uint64_t status[600];
	uint64_t txerr[SIM_TX_KINDS];
	struct sim_hist hist;
	struct fl_err err;
};

static void on_fetched(void *ctx, const struct sim_result *r)
{
	struct fetcher *f = ctx;

	f->done++;
	if (r->kind != SIM_TX_OK) {
		f->txerr[r->kind]++;
		return;
	}
	f->status[r->status >= 0 && r->status < 600 ? r->status : 599]++;
	if (r->status == 200) {
		f->ok++;
		f->bytes += (uint64_t)r->bytes;
		sim_hist_add(&f->hist, (uint64_t)r->us);
	}
}

static int fetch_one(struct fetcher *f)
{
	struct fl_buf si = FL_BUF_INIT, sig = FL_BUF_INIT, h_si = FL_BUF_INIT, h_sig = FL_BUF_INIT;
	char digest[FL_DIGEST_LEN], h_dig[FL_DIGEST_LEN + 32];
	const char *hdrs[3];
	struct sim_req req;
	size_t nh = 0;
	int rc = 0;

	if (f->o->seed) {
		fl_httpsig_digest(digest, "", 0);
		if ((rc = fl_httpsig_sign(&si, &sig, "GET", f->path, "", digest, f->keyid, f->sk,
					  fl_now(), FL_SIG_DEFAULT_TTL)) < 0 ||
		    (rc = fl_buf_addf(&h_si, "Signature-Input: %s", si.ptr)) < 0 ||
		    (rc = fl_buf_addf(&h_sig, "Signature: %s", sig.ptr)) < 0)
			goto out;
		snprintf(h_dig, sizeof(h_dig), "Content-Digest: %s", digest);
		hdrs[nh++] = h_dig;
		hdrs[nh++] = h_si.ptr;
		hdrs[nh++] = h_sig.ptr;
	}
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = f->o->url;
	req.headers = hdrs;
	req.nheaders = nh;
	req.done = on_fetched;
	req.ctx = f;
	rc = sim_tx_submit(f->tx, &req, &f->err);
	f->started++;
out:
	fl_buf_release(&si);
	fl_buf_release(&sig);
	fl_buf_release(&h_si);
	fl_buf_release(&h_sig);
	return rc;
}

int sim_fetch(const struct sim_fetch_opts *o, struct fl_err *err)
{
	struct fetcher *f = calloc(1, sizeof(*f));
	struct sim_tx_opts to;
	json_t *res = NULL, *st = NULL;
	const char *p;
	int64_t t0, t1;
	double secs;
	int rc;

	if (!f)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	f->o = o;
	p = strstr(o->url, "://");
	f->path = p ? strchr(p + 3, '/') : NULL;
	if (!f->path) {
		free(f);
		return fl_err_set(err, FL_EINVAL, "--url needs a path");
	}
	if (o->seed) {
		uint8_t pk[FL_ED25519_PK_LEN];

		sim_derive_key(pk, f->sk, o->seed, o->index);
		fl_keyid(f->keyid, pk);
	}
	memset(&to, 0, sizeof(to));
	to.ca_file = o->ca;
	to.max_conns = o->concurrency > 0 ? o->concurrency : 4;
	to.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 120000;
	if ((rc = sim_tx_new(&f->tx, &to, err)) < 0)
		goto cleanup;
	t0 = fl_mono_ms();
	while (f->done < o->count) {
		while (f->started < o->count &&
		       (long)sim_tx_inflight(f->tx) < (o->concurrency > 0 ? o->concurrency : 4))
			if ((rc = fetch_one(f)) < 0) {
				fl_err_set(err, rc, "cannot send: %s", f->err.msg);
				goto cleanup;
			}
		sim_tx_poll(f->tx, 50);
	}
	t1 = fl_mono_ms();
	secs = (double)(t1 - t0) / 1000.0;
	st = json_object();
	for (int c = 0; c < 600; c++)
		if (f->status[c]) {
			char name[8];

			snprintf(name, sizeof(name), "%d", c);
			json_object_set_new(st, name, json_integer((json_int_t)f->status[c]));
		}
	for (int t = 1; t < SIM_TX_KINDS; t++)
		if (f->txerr[t])
			json_object_set_new(st, sim_tx_kind_name(t),
					    json_integer((json_int_t)f->txerr[t]));
	res = json_pack("{s:s,s:s,s:i,s:i,s:i,s:I,s:f,s:f,s:o,s:o}", "label",
			o->label ? o->label : "", "url", o->url, "downloads", (int)o->count, "ok",
			(int)f->ok, "concurrency", (int)o->concurrency, "bytes",
			(json_int_t)f->bytes, "seconds", secs, "mib_per_s",
			secs > 0 ? (double)f->bytes / 1048576.0 / secs : 0.0, "latency_ms",
			lat_json(&f->hist), "statuses", st);
	st = NULL;
	if (!res) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (o->out_file || o->json) {
		char *text = json_dumps(res, JSON_INDENT(1) | JSON_SORT_KEYS);
		FILE *out = o->out_file ? fopen(o->out_file, "w") : NULL;

		if (text && out)
			fprintf(out, "%s\n", text);
		if (out)
			fclose(out);
		if (text && o->json)
			printf("%s\n", text);
		free(text);
	}
	if (!o->json)
		printf("fairlead-sim fetch %s: %ld/%ld ok, %.1f MiB/s, p50 %.1f ms, p99 %.1f ms\n",
		       o->url, f->ok, o->count, json_real_value(json_object_get(res, "mib_per_s")),
		       sim_hist_quantile(&f->hist, 0.5) / 1000.0,
		       sim_hist_quantile(&f->hist, 0.99) / 1000.0);
	rc = f->ok == o->count ? 0
			       : fl_err_set(err, FL_ERROR, "%ld of %ld downloads failed",
					    o->count - f->ok, o->count);
cleanup:
	json_decref(st);
	json_decref(res);
	sim_tx_free(f->tx);
	memset(f->sk, 0, sizeof(f->sk));
	free(f);
	return rc;
}

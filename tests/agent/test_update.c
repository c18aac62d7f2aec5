/* test_update.c - signed releases on the device: verification of every offer
 * (every kind of tampering), download into
 * the inactive slot, install hook, health window, commit and rollback, and a
 * SIGKILL (a forked child that _exit()s) at every step of the flow. Real
 * files and symlinks in a temp dir; fake transport and clock. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/crash.h"
#include "agent/download.h"
#include "agent/root.h"
#include "agent/slots.h"
#include "agent/update.h"
#include "agent_test.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/trust.h"
#include "fake_transport.h"

#define NKEYS  10
#define FUTURE "2099-01-01T00:00:00Z"
#define PAST   "2001-01-01T00:00:00Z"
#define DEV    "dev-1"
#define HW     "rpi4"

/* K0,K1 root (2 of 2); K2,K3,K4 release (2 of 3); K5 online (timestamp and
 * director); K6..K9 strangers, or the next root's keys. */
struct tkey {
	uint8_t pk[FL_ED25519_PK_LEN], sk[FL_ED25519_SK_LEN];
	char id[FL_KEYID_LEN + 1];
	char pub[64];
};
static struct tkey K[NKEYS];

static const int R01[] = {0, 1}, R23[] = {2, 3}, R67[] = {6, 7}, R5[] = {5};

static void init(void)
{
	cr_assert_eq(fl_crypto_init(), 0);
	for (size_t i = 0; i < NKEYS; i++) {
		fl_ed25519_keypair(K[i].pk, K[i].sk);
		fl_keyid(K[i].id, K[i].pk);
		fl_b64_encode(K[i].pub, K[i].pk, FL_ED25519_PK_LEN);
	}
}

TestSuite(agent_update, .init = init);

static void fmt_time(char out[32], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *role(json_t *keys, const int *idx, size_t n, int64_t t)
{
	json_t *ids = json_array();

	for (size_t i = 0; i < n; i++) {
		json_array_append_new(ids, json_string(K[idx[i]].id));
		json_object_set_new(
		    keys, K[idx[i]].id,
		    json_pack("{ssss}", "keytype", "ed25519", "public", K[idx[i]].pub));
	}
	return json_pack("{sosI}", "keyids", ids, "threshold", (json_int_t)t);
}

static json_t *root_doc(int64_t version, const int *rk, size_t nrk)
{
	static const int rel[] = {2, 3, 4};
	json_t *keys = json_object(), *roles = json_object();

	json_object_set_new(roles, "root", role(keys, rk, nrk, (int64_t)nrk));
	json_object_set_new(roles, "release", role(keys, rel, 3, 2));
	json_object_set_new(roles, "timestamp", role(keys, R5, 1, 1));
	json_object_set_new(roles, "director", role(keys, R5, 1, 1));
	return json_pack("{sssssIsssoso}", "_type", "root", "spec_version", "1", "version",
			 (json_int_t)version, "expires", FUTURE, "keys", keys, "roles", roles);
}

/* The envelope of doc (consumed) signed by K[sig[i]], as a JSON object. */
static json_t *signed_obj(const char *type, json_t *doc, const int *sig, size_t nsig, int dup)
{
	struct fl_envelope e;
	struct fl_buf b = FL_BUF_INIT;
	char *s = fl_json_dumps(doc);
	json_t *out = NULL;

	cr_assert_eq(fl_envelope_init(&e, type, s, strlen(s), NULL), 0);
	for (size_t i = 0; i < nsig; i++)
		cr_assert_eq(fl_envelope_sign(&e, K[sig[i]].sk, NULL), 0);
	if (dup) /* one key's signature repeated to reach the threshold */
		e.sigs[e.nsigs++] = e.sigs[0];
	cr_assert_eq(fl_envelope_dump(&b, &e, NULL), 0);
	cr_assert_eq(fl_json_parse(&out, b.ptr, b.len, NULL), 0);
	fl_buf_release(&b);
	fl_envelope_release(&e);
	free(s);
	json_decref(doc);
	return out;
}

/* SHA-256 of the canonical envelope bytes (what the CLI writes). */
static void env_sha(char out[65], const json_t *obj)
{
	struct fl_envelope e;
	struct fl_buf b = FL_BUF_INIT;

	cr_assert_eq(ag_root_envelope_from_json(&e, obj, NULL), 0);
	cr_assert_eq(fl_envelope_dump(&b, &e, NULL), 0);
	fl_sha256_hex(out, b.ptr, b.len);
	fl_buf_release(&b);
	fl_envelope_release(&e);
}

struct rel {
	const char *name, *version, *kind;
	int64_t counter;
	const char *art_name; /* NULL: "model.bin" */
	size_t art_len;	      /* the name may hold a NUL: then art_len_name */
	size_t art_name_len;
	const unsigned char *data;
	size_t len;
	const char *hook, *health, *hw, *expires;
	int64_t hook_timeout, window;
	const int *sig;
	size_t nsig;
	int dup;
};

static unsigned char BLOB1[70000], BLOB2[50000], BLOB3[3000];

static json_t *release_obj(const struct rel *r, char sha_out[65])
{
	static const int rel_sig[] = {2, 3};
	char sha[65];
	json_t *doc, *art;

	fl_sha256_hex(sha, r->data, r->len);
	art = json_pack("{s:s%,s:I,s:s}", "name", r->art_name ? r->art_name : "model.bin",
			r->art_name ? (r->art_name_len ? r->art_name_len : strlen(r->art_name))
				    : strlen("model.bin"),
			"length", (json_int_t)r->len, "sha256", sha);
	doc = json_pack("{s:s,s:s,s:s,s:s,s:I,s:[],s:[o],s:{s:s?,s:I},s:{s:s?,s:I},s:n,"
			"s:{s:n,s:n,s:n,s:n},s:s}",
			"_type", "release", "name", r->name, "kind", r->kind ? r->kind : "model",
			"version", r->version, "counter", (json_int_t)r->counter, "hardware",
			"artifacts", art, "install", "hook", r->hook, "timeout_s",
			(json_int_t)(r->hook_timeout ? r->hook_timeout : 30), "health", "cmd",
			r->health, "window_s", (json_int_t)r->window, "baseline", "lineage",
			"source_commit", "training_data", "parent", "builder", "expires",
			r->expires ? r->expires : FUTURE);
	cr_assert_not_null(doc);
	if (r->hw)
		json_array_append_new(json_object_get(doc, "hardware"), json_string(r->hw));
	json_t *o = signed_obj(FL_TRUST_TYPE_RELEASE, doc, r->sig ? r->sig : rel_sig,
			       r->sig ? r->nsig : 2, r->dup);
	if (sha_out)
		env_sha(sha_out, o);
	return o;
}

struct env {
	char dir[256];
	struct ag_transport *t;
	struct fake *f;
	struct fake_clock fc;
	struct ag_clock clock;
	struct ag_update *u;
	int64_t ts_version;
	int64_t issued;
	json_t *roots; /* "N" -> root envelope object served at /api/v1/root/N */
	/* Live download reports: [{"at","progress"}...]; refuse_after > 0
	 * answers FL_EFORBIDDEN from that many reports on. */
	json_t *reports;
	size_t refuse_after;
};

static int root_handler(struct fake *f, json_t **out, const char *method, const char *target,
			const json_t *body, int64_t *retry_after, struct fl_err *err)
{
	struct env *e = f->user;
	const char *v = strrchr(target, '/');
	json_t *r;

	(void)method;
	(void)body;
	(void)retry_after;
	if (strncmp(target, "/api/v1/root/", 13) != 0 || !v ||
	    !(r = json_object_get(e->roots, v + 1)))
		return fl_err_set(err, FL_ENOTFOUND, "no such root");
	*out = json_incref(r);
	return 0;
}

static int on_report(void *ctx, const json_t *update, struct fl_err *err)
{
	struct env *e = ctx;

	cr_assert(eq(str, S(json_string_value(json_object_get(update, "state"))), "downloading"));
	json_array_append_new(e->reports,
			      json_pack("{s:I,s:O}", "at", (json_int_t)e->fc.now, "progress",
					json_object_get(update, "progress")));
	if (e->refuse_after > 0 && json_array_size(e->reports) >= e->refuse_after)
		return fl_err_set(err, FL_EFORBIDDEN, "device is not accepted");
	return 0;
}

static void open_u(struct env *e)
{
	struct ag_update_opts o = {0};
	struct fl_err err = {0};

	o.dir = e->dir;
	o.device_id = DEV;
	o.max_attempts = 3;
	o.backoff_ms = 1000;
	o.health_timeout_s = 10;
	if (e->reports) {
		o.report = on_report;
		o.report_ctx = e;
	}
	cr_assert_eq(ag_update_open(&e->u, e->t, &e->clock, &o, &err), 0, "%s", err.msg);
}

static void setup(struct env *e, int with_root)
{
	char path[512];
	json_t *root;
	struct fl_err err = {0};

	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "%s", ag_test_tmpdir());
	e->t = fake_new(&e->f);
	e->f->handler = root_handler;
	e->f->user = e;
	e->roots = json_object();
	fake_clock_init(&e->clock, &e->fc);
	e->ts_version = 1;
	e->issued = e->fc.now - 10;
	for (size_t i = 0; i < sizeof(BLOB1); i++)
		BLOB1[i] = (unsigned char)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(BLOB2); i++)
		BLOB2[i] = (unsigned char)(i * 13 + 1);
	for (size_t i = 0; i < sizeof(BLOB3); i++)
		BLOB3[i] = (unsigned char)(i * 5 + 9);
	fake_blob(e->f, NULL, BLOB1, sizeof(BLOB1));
	fake_blob(e->f, NULL, BLOB2, sizeof(BLOB2));
	fake_blob(e->f, NULL, BLOB3, sizeof(BLOB3));
	if (with_root) {
		struct fl_buf b = FL_BUF_INIT;
		struct fl_trust_root tr;
		char *s;

		root = signed_obj(FL_TRUST_TYPE_ROOT, root_doc(1, R01, 2), R01, 2, 0);
		s = fl_json_dumps(root);
		snprintf(path, sizeof(path), "%s/in-root.json", e->dir);
		cr_assert_eq(fl_fs_write_atomic(path, s, strlen(s), 0600, NULL), 0);
		cr_assert_eq(ag_root_install(&tr, e->dir, path, e->fc.now, &err), 0, "%s", err.msg);
		cr_assert_eq(tr.version, 1);
		free(s);
		json_decref(root);
		fl_buf_release(&b);
	}
	open_u(e);
}

static void teardown(struct env *e)
{
	ag_update_free(e->u);
	ag_transport_free(e->t);
	json_decref(e->roots);
	json_decref(e->reports);
	ag_crash_hook = NULL;
}

static void reopen(struct env *e)
{
	ag_update_free(e->u);
	e->u = NULL;
	open_u(e);
}

/* The check-in reply's "update" for release r (consumed). */
struct offer_opts {
	const char *device, *assigned, *ts_expires, *release_sha;
	int rollback, omit_from_ts;
	int64_t counter, root_version;
};

static json_t *offer(struct env *e, json_t *rel, const struct offer_opts *oo)
{
	struct fl_trust_release r;
	struct fl_envelope env;
	char sha[65], nv[200], exp[32], iss[32], tsexp[32];
	json_t *releases, *ts, *as, *out;
	int64_t counter = 2;

	env_sha(sha, rel);
	cr_assert_eq(ag_root_envelope_from_json(&env, rel, NULL), 0);
	if (fl_trust_release_parse(&r, env.payload, env.payload_len, NULL) == 0) {
		snprintf(nv, sizeof(nv), "%s@%s", r.name, r.version);
		counter = r.counter;
		fl_trust_release_free(&r);
	} else {
		snprintf(nv, sizeof(nv), "detector@2.0.0"); /* unparsable on purpose */
	}
	releases = json_object();
	if (!oo || !oo->omit_from_ts)
		json_object_set_new(releases, oo && oo->assigned ? oo->assigned : nv,
				    json_string(oo && oo->release_sha ? oo->release_sha : sha));
	fmt_time(tsexp, e->fc.now + 3600);
	ts = signed_obj(FL_TRUST_TYPE_TIMESTAMP,
			json_pack("{s:s,s:I,s:s,s:o}", "_type", "timestamp", "version",
				  (json_int_t)e->ts_version, "expires",
				  oo && oo->ts_expires ? oo->ts_expires : tsexp, "releases",
				  releases),
			R5, 1, 0);
	fmt_time(iss, e->issued);
	fmt_time(exp, e->fc.now + 86400);
	as = signed_obj(FL_TRUST_TYPE_ASSIGNMENT,
			json_pack("{s:s,s:s,s:s,s:s,s:I,s:b,s:s,s:s}", "_type", "assignment",
				  "device_id", oo && oo->device ? oo->device : DEV, "release",
				  oo && oo->assigned ? oo->assigned : nv, "release_sha256",
				  oo && oo->release_sha ? oo->release_sha : sha, "counter",
				  (json_int_t)(oo && oo->counter ? oo->counter : counter),
				  "rollback", oo ? oo->rollback : 0, "issued", iss, "expires", exp),
			R5, 1, 0);
	out =
	    json_pack("{s:o,s:o,s:o,s:I}", "assignment", as, "release", rel, "timestamp", ts,
		      "root_version", (json_int_t)(oo && oo->root_version ? oo->root_version : 1));
	fl_envelope_release(&env);
	return out;
}

/* ag_update_offer, then drops the offer. */
static int offer_take(struct ag_update *u, json_t *off, const char *hw, struct fl_err *err)
{
	int rc = ag_update_offer(u, off, hw, err);

	json_decref(off);
	return rc;
}

static char *slurp(const char *dir, const char *name)
{
	struct fl_buf b = FL_BUF_INIT;
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (fl_fs_read(&b, path, NULL) < 0)
		return strdup("");
	return fl_buf_detach(&b);
}

static void current(char out[2], struct env *e)
{
	cr_assert_eq(ag_slots_current(out, e->dir, "detector", NULL), 0);
}

static int file_matches(struct env *e, const char *slot, const char *name, const void *data,
			size_t len)
{
	struct fl_buf b = FL_BUF_INIT;
	char path[512];
	int ok;

	snprintf(path, sizeof(path), "%s/slots/detector/%s/%s", e->dir, slot, name);
	if (fl_fs_read(&b, path, NULL) < 0)
		return 0;
	ok = b.len == len && memcmp(b.ptr, data, len) == 0;
	fl_buf_release(&b);
	return ok;
}

static size_t slot_entries(struct env *e, const char *slot)
{
	char path[512];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/slots/detector/%s", e->dir, slot);
	if (!(d = opendir(path)))
		return 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Runs an offer and the update to its end (window included). */
static int run_update(struct env *e, json_t *off, int64_t advance)
{
	struct fl_err err = {0};
	int rc = ag_update_offer(e->u, off, HW, &err);

	json_decref(off);
	if (rc < 0)
		return rc;
	rc = ag_update_step(e->u, &err);
	if (rc < 0 || strcmp(ag_update_state(e->u), "health_check") != 0)
		return rc;
	e->fc.now += advance;
	return ag_update_step(e->u, &err);
}

static const struct rel V1 = {.name = "detector",
			      .version = "1.0.0",
			      .counter = 1,
			      .data = BLOB1,
			      .len = sizeof(BLOB1),
			      .hook = "echo ok > hook.out",
			      .health = "test -f model.bin",
			      .window = 60};

/* detector 1.0.0 committed in slot A. */
static void install_v1(struct env *e)
{
	char cur[2];

	e->ts_version++;
	cr_assert_eq(run_update(e, offer(e, release_obj(&V1, NULL), NULL), 60), 0, "%s",
		     ag_update_reason(e->u));
	cr_assert(eq(str, S(ag_update_state(e->u)), "committed"));
	current(cur, e);
	cr_assert(eq(str, cur, "A"));
}

Test(agent_update, happy_path_commits_and_reports)
{
	struct env e;
	struct fl_err err = {0};
	char cur[2], *s;
	json_t *inv = json_object(), *rep;

	setup(&e, 1);
	e.ts_version++;
	cr_assert_eq(offer_take(e.u, offer(&e, release_obj(&V1, NULL), NULL), HW, &err), 0, "%s",
		     err.msg);
	cr_assert(eq(str, S(ag_update_state(e.u)), "assigned"));
	cr_assert_eq(ag_update_step(e.u, &err), 0, "%s", err.msg);
	/* Flipped, in the window: running the new release on trial. */
	cr_assert(eq(str, S(ag_update_state(e.u)), "health_check"));
	current(cur, &e);
	cr_assert(eq(str, cur, "A"));
	cr_assert(yes(file_matches(&e, "A", "model.bin", BLOB1, sizeof(BLOB1))));
	cr_assert(yes(file_matches(&e, "A", "hook.out", "ok\n", 3)));
	/* the health command is probed through the window: every 60/5 = 12 s,
	 * clamped to 10 s */
	cr_assert_eq(ag_update_wait_ms(e.u), 10000);
	e.fc.now += 30;
	cr_assert_eq(ag_update_step(e.u, &err), 0);
	cr_assert(eq(str, S(ag_update_state(e.u)), "health_check"));
	e.fc.now += 30;
	cr_assert_eq(ag_update_step(e.u, &err), 0, "%s", err.msg);
	cr_assert(eq(str, S(ag_update_state(e.u)), "committed"));

	cr_assert_eq(ag_update_inventory(e.u, inv, &err), 0);
	cr_assert(eq(
	    str, S(json_string_value(json_object_get(json_object_get(inv, "running"), "detector"))),
	    "1.0.0"));
	cr_assert(eq(str, S(json_string_value(json_object_get(inv, "model_version"))), "1.0.0"));
	rep = ag_update_report(e.u);
	cr_assert(eq(str, S(json_string_value(json_object_get(rep, "release"))), "detector@1.0.0"));
	cr_assert(eq(str, S(json_string_value(json_object_get(rep, "state"))), "committed"));
	cr_assert(eq(dbl, json_real_value(json_object_get(rep, "progress")), 1.0));
	json_decref(rep);
	json_decref(inv);
	s = slurp(e.dir, AG_RELEASES_FILE);
	cr_assert(yes(strstr(s, "\"counter\":1") != NULL), "%s", s);
	free(s);

	/* The same assignment on the next check-in changes nothing. */
	cr_assert_eq(run_update(&e, offer(&e, release_obj(&V1, NULL), NULL), 0), 0);
	cr_assert(eq(str, S(ag_update_state(e.u)), "committed"));
	cr_assert_eq(slot_entries(&e, "B"), 0);
	teardown(&e);
}

/* Trusted state snapshot for "nothing changed" checks. */
struct snap {
	char *root, *rel;
	char cur[2];
};

static void snap_take(struct snap *s, struct env *e)
{
	s->root = slurp(e->dir, AG_ROOT_FILE);
	s->rel = slurp(e->dir, AG_RELEASES_FILE);
	current(s->cur, e);
}

static void snap_same(struct snap *s, struct env *e)
{
	char *root = slurp(e->dir, AG_ROOT_FILE), *rel = slurp(e->dir, AG_RELEASES_FILE);
	char cur[2];

	current(cur, e);
	cr_assert(eq(str, root, s->root), "root.json changed");
	cr_assert(eq(str, rel, s->rel), "releases.json changed");
	cr_assert(eq(str, cur, s->cur), "current moved");
	free(root);
	free(rel);
	free(s->root);
	free(s->rel);
}

/* The offer is refused: failed with a reason containing why, the report says
 * so, nothing installed (slot B empty), trusted state unchanged. */
static void expect_refused(struct env *e, json_t *off, const char *why)
{
	struct fl_err err = {0};
	struct snap s;
	json_t *rep;

	size_t na = slot_entries(e, "A"), nb = slot_entries(e, "B");

	snap_take(&s, e);
	cr_assert_lt(ag_update_offer(e->u, off, HW, &err), 0, "offer was accepted");
	json_decref(off);
	cr_assert_eq(ag_update_step(e->u, NULL), 0);
	cr_assert(eq(str, S(ag_update_state(e->u)), "failed"));
	cr_assert(yes(strstr(ag_update_reason(e->u), why) != NULL), "reason '%s' lacks '%s'",
		  ag_update_reason(e->u), why);
	rep = ag_update_report(e->u);
	cr_assert(eq(str, S(json_string_value(json_object_get(rep, "state"))), "failed"));
	json_decref(rep);
	cr_assert_eq(slot_entries(e, "A"), na);
	cr_assert_eq(slot_entries(e, "B"), nb);
	snap_same(&s, e);
	/* A restart agrees. */
	reopen(e);
	cr_assert(eq(str, S(ag_update_state(e->u)), "failed"));
}

/* The offer verifies, but the download or install fails: same checks. */
static void expect_failed(struct env *e, json_t *off, const char *why)
{
	struct fl_err err = {0};
	struct snap s;

	snap_take(&s, e);
	cr_assert_eq(ag_update_offer(e->u, off, HW, &err), 0, "%s", err.msg);
	json_decref(off);
	cr_assert_lt(ag_update_step(e->u, &err), 0);
	cr_assert(eq(str, S(ag_update_state(e->u)), "failed"));
	cr_assert(yes(strstr(ag_update_reason(e->u), why) != NULL), "reason '%s' lacks '%s'",
		  ag_update_reason(e->u), why);
	cr_assert_eq(slot_entries(e, "B"), 0);
	snap_same(&s, e);
}

static struct rel v2(void)
{
	struct rel r = V1;

	r.version = "2.0.0";
	r.counter = 2;
	r.data = BLOB2;
	r.len = sizeof(BLOB2);
	return r;
}

Test(agent_update, tamper_artifact_bytes)
{
	struct env e;
	struct rel r = v2();

	setup(&e, 1);
	install_v1(&e);
	e.f->fetch_mode = FAKE_FETCH_WRONG;
	expect_failed(&e, offer(&e, release_obj(&r, NULL), NULL), "sha256");
	e.f->fetch_mode = FAKE_FETCH_EXTRA;
	e.issued++; /* a re-signed assignment retries a failed update */
	expect_failed(&e, offer(&e, release_obj(&r, NULL), NULL), "longer than signed");
	e.f->fetch_mode = FAKE_FETCH_TRUNCATE;
	e.issued++;
	expect_failed(&e, offer(&e, release_obj(&r, NULL), NULL), "ended at");
	/* Metadata of one release with another's artifacts: the server hands
	 * out BLOB3 under the hash v2 signed. */
	e.f->fetch_mode = FAKE_FETCH_OK;
	fl_sha256_hex(e.f->blobs[2].sha, BLOB2, sizeof(BLOB2));
	snprintf(e.f->blobs[1].sha, sizeof(e.f->blobs[1].sha), "gone");
	e.issued++;
	expect_failed(&e, offer(&e, release_obj(&r, NULL), NULL), "");
	cr_assert(yes(file_matches(&e, "A", "model.bin", BLOB1, sizeof(BLOB1))));
	teardown(&e);
}

Test(agent_update, tamper_signatures_and_freshness)
{
	static const int unknown[] = {8, 9}, one[] = {2}, rel23[] = {2, 3};
	struct env e;
	struct rel r = v2();
	struct offer_opts oo = {0};

	setup(&e, 1);
	install_v1(&e);
	r.sig = unknown, r.nsig = 2;
	expect_refused(&e, offer(&e, release_obj(&r, NULL), NULL), "release refused");
	r.sig = one, r.nsig = 1;
	expect_refused(&e, offer(&e, release_obj(&r, NULL), NULL), "release refused");
	r.dup = 1; /* K2 twice */
	expect_refused(&e, offer(&e, release_obj(&r, NULL), NULL), "release refused");
	r.sig = rel23, r.nsig = 2, r.dup = 0;
	r.expires = PAST;
	expect_refused(&e, offer(&e, release_obj(&r, NULL), NULL), "release refused");
	r.expires = NULL;
	/* Freeze: a timestamp past its expiry. */
	oo.ts_expires = PAST;
	expect_refused(&e, offer(&e, release_obj(&r, NULL), &oo), "timestamp refused");
	/* A timestamp older than the trusted one. */
	e.ts_version = 1;
	expect_refused(&e, offer(&e, release_obj(&r, NULL), NULL), "below the trusted");
	e.ts_version = 10;
	/* Another device's assignment. */
	memset(&oo, 0, sizeof(oo));
	oo.device = "dev-2";
	expect_refused(&e, offer(&e, release_obj(&r, NULL), &oo), "not this one");
	/* Not in the timestamp at all. */
	memset(&oo, 0, sizeof(oo));
	oo.omit_from_ts = 1;
	expect_refused(&e, offer(&e, release_obj(&r, NULL), &oo), "timestamp does not list");
	/* Hardware not listed. */
	r.hw = "jetson";
	expect_refused(&e, offer(&e, release_obj(&r, NULL), NULL), "hardware");
	teardown(&e);
}

Test(agent_update, tamper_mix_and_match)
{
	struct env e;
	struct rel r = v2(), other = v2();
	struct offer_opts oo = {0};
	char sha2[65];
	json_t *o2;

	setup(&e, 1);
	install_v1(&e);
	/* A different valid release served under the requested name: the
	 * director assigned detector@2.0.0 (sha2), the reply carries 1.5.0. */
	o2 = release_obj(&r, sha2);
	json_decref(o2);
	other.version = "1.5.0";
	other.counter = 5;
	oo.assigned = "detector@2.0.0";
	oo.release_sha = sha2;
	expect_refused(&e, offer(&e, release_obj(&other, NULL), &oo), "does not match");
	/* Even with the hashes lined up, the name inside must be the one
	 * assigned. */
	memset(&oo, 0, sizeof(oo));
	oo.assigned = "detector@2.0.0";
	expect_refused(&e, offer(&e, release_obj(&other, NULL), &oo), "was assigned");
	/* The assignment's counter must be the release's. */
	memset(&oo, 0, sizeof(oo));
	oo.counter = 99;
	expect_refused(&e, offer(&e, release_obj(&r, NULL), &oo), "counter");
	teardown(&e);
}

Test(agent_update, anti_rollback)
{
	struct env e;
	struct rel r = v2(), old = v2();
	struct offer_opts oo = {0};
	char cur[2];

	setup(&e, 1);
	install_v1(&e);
	r.counter = 5;
	e.ts_version++;
	cr_assert_eq(run_update(&e, offer(&e, release_obj(&r, NULL), NULL), 60), 0);
	cr_assert(eq(str, S(ag_update_state(e.u)), "committed"));
	/* Counter 3 below the committed 5, no signed rollback. */
	old.version = "1.9.0";
	old.counter = 3;
	old.data = BLOB3;
	old.len = sizeof(BLOB3);
	expect_refused(&e, offer(&e, release_obj(&old, NULL), NULL), "rollback not signed");
	/* The director signs the rollback explicitly: installed. */
	oo.rollback = 1;
	cr_assert_eq(run_update(&e, offer(&e, release_obj(&old, NULL), &oo), 60), 0, "%s",
		     ag_update_reason(e.u));
	cr_assert(eq(str, S(ag_update_state(e.u)), "committed"));
	current(cur, &e);
	cr_assert(eq(str, cur, "A"));
	cr_assert(yes(file_matches(&e, "A", "model.bin", BLOB3, sizeof(BLOB3))));
	teardown(&e);
}

Test(agent_update, unsafe_artifact_names)
{
	static const struct {
		const char *name;
		size_t len;
	} bad[] = {{"a/b", 3}, {"..", 2}, {"/etc/passwd", 11}, {"a\0b", 3}, {"../x", 4}};
	struct env e;

	setup(&e, 1);
	install_v1(&e);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rel r = v2();

		r.art_name = bad[i].name;
		r.art_name_len = bad[i].len;
		expect_refused(&e, offer(&e, release_obj(&r, NULL), NULL), "release refused");
	}
	teardown(&e);
}

static struct env *G;

/* Plants a symlink pointing outside once the download is done. */
static void plant_link(const char *point)
{
	char path[512];

	if (strcmp(point, "downloaded") != 0)
		return;
	snprintf(path, sizeof(path), "%s/slots/detector/B/evil", G->dir);
	if (symlink("../../../outside", path) != 0)
		abort();
}

Test(agent_update, symlink_out_of_slot_refused)
{
	struct env e;
	struct rel r = v2();
	struct fl_err err = {0};
	char cur[2];

	setup(&e, 1);
	install_v1(&e);
	G = &e;
	ag_crash_hook = plant_link;
	e.ts_version++;
	cr_assert_eq(offer_take(e.u, offer(&e, release_obj(&r, NULL), NULL), HW, &err), 0);
	cr_assert_lt(ag_update_step(e.u, &err), 0);
	cr_assert(eq(str, S(ag_update_state(e.u)), "failed"));
	cr_assert(yes(strstr(ag_update_reason(e.u), "symlink") != NULL), "%s",
		  ag_update_reason(e.u));
	current(cur, &e);
	cr_assert(eq(str, cur, "A"));
	cr_assert_eq(slot_entries(&e, "B"), 0);
	teardown(&e);
}

Test(agent_update, slots_check_and_nofollow)
{
	struct env e;
	struct fl_err err = {0};
	struct fl_trust_artifact a = {"model.bin", sizeof(BLOB3), ""};
	struct ag_download_opts o = {0};
	char slot[512], p[600], out[600];
	struct stat st;

	setup(&e, 1);
	cr_assert_eq(ag_slots_init(e.dir, "detector", NULL), 0);
	o.clock = &e.clock;
	fl_sha256_hex(a.sha256, BLOB3, sizeof(BLOB3));
	snprintf(slot, sizeof(slot), "%s/slots/detector/B", e.dir);
	/* Same-directory links are fine; absolute or climbing ones are not. */
	snprintf(p, sizeof(p), "%s/ok", slot);
	cr_assert_eq(symlink("model.bin", p), 0);
	cr_assert_eq(ag_slots_check(slot, &err), 0, "%s", err.msg);
	snprintf(p, sizeof(p), "%s/abs", slot);
	cr_assert_eq(symlink("/etc/passwd", p), 0);
	cr_assert_eq(ag_slots_check(slot, &err), FL_EFORBIDDEN);
	unlink(p);
	snprintf(p, sizeof(p), "%s/up", slot);
	cr_assert_eq(symlink("sub/../..", p), 0);
	cr_assert_eq(ag_slots_check(slot, &err), FL_EFORBIDDEN);
	unlink(p);
	/* A planted .part symlink is never written through (O_NOFOLLOW). */
	snprintf(out, sizeof(out), "%s/outside", e.dir);
	cr_assert_eq(fl_fs_write_atomic(out, "keep", 4, 0600, NULL), 0);
	snprintf(p, sizeof(p), "%s/model.bin.part", slot);
	cr_assert_eq(symlink(out, p), 0);
	cr_assert_eq(ag_download_artifact(e.t, slot, &a, &o, &err), FL_EFORBIDDEN);
	cr_assert_eq(stat(out, &st), 0);
	cr_assert_eq(st.st_size, 4);
	/* An unsafe name never reaches the file system. */
	a.name = "../x";
	cr_assert_eq(ag_download_artifact(e.t, slot, &a, &o, &err), FL_EFORBIDDEN);
	teardown(&e);
}

Test(agent_update, download_resumes_and_restarts)
{
	struct env e;
	struct fl_err err = {0};
	struct fl_trust_artifact a = {"model.bin", sizeof(BLOB1), ""};
	struct ag_download_opts o = {0};
	char slot[512];

	setup(&e, 1);
	cr_assert_eq(ag_slots_init(e.dir, "detector", NULL), 0);
	o.clock = &e.clock;
	o.max_attempts = 4;
	fl_sha256_hex(a.sha256, BLOB1, sizeof(BLOB1));
	snprintf(slot, sizeof(slot), "%s/slots/detector/A", e.dir);
	/* Two stalls: resumed with Range from where each stopped. */
	e.f->stalls = 2;
	cr_assert_eq(ag_download_artifact(e.t, slot, &a, &o, &err), 0, "%s", err.msg);
	cr_assert_eq(e.f->nfetch, 3);
	cr_assert_eq(e.f->offsets[0], 0);
	cr_assert_eq(e.f->offsets[1], 35000);
	cr_assert_eq(e.f->offsets[2], 52500);
	cr_assert(yes(file_matches(&e, "A", "model.bin", BLOB1, sizeof(BLOB1))));
	/* Backoff doubled through the fake clock. */
	cr_assert_eq(e.fc.sleeps[0], 1000);
	cr_assert_eq(e.fc.sleeps[1], 2000);
	/* A server that ignores Range: start over from 0. */
	unlink(strcat(strcpy((char[600]){0}, slot), "/model.bin"));
	e.f->nfetch = 0;
	e.f->stalls = 1;
	e.f->ignore_range = 1;
	cr_assert_eq(ag_download_artifact(e.t, slot, &a, &o, &err), 0, "%s", err.msg);
	cr_assert_eq(e.f->offsets[2], 0);
	cr_assert(yes(file_matches(&e, "A", "model.bin", BLOB1, sizeof(BLOB1))));
	/* Bounded: stalls forever, gives up after max_attempts. */
	unlink(strcat(strcpy((char[600]){0}, slot), "/model.bin"));
	e.f->ignore_range = 0;
	e.f->stalls = 100;
	e.f->nfetch = 0;
	cr_assert_lt(ag_download_artifact(e.t, slot, &a, &o, &err), 0);
	cr_assert_eq(e.f->nfetch, 4);
	teardown(&e);
}

Test(agent_update, health_failure_rolls_back)
{
	struct env e;
	struct rel r = v2();
	char cur[2];
	json_t *inv = json_object();

	setup(&e, 1);
	install_v1(&e);
	r.health = "exit 3";
	e.ts_version++;
	cr_assert_lt(run_update(&e, offer(&e, release_obj(&r, NULL), NULL), 60), 0);
	cr_assert(eq(str, S(ag_update_state(e.u)), "rolled_back"));
	cr_assert(yes(strstr(ag_update_reason(e.u), "status 3") != NULL), "%s",
		  ag_update_reason(e.u));
	current(cur, &e);
	cr_assert(eq(str, cur, "A"));
	cr_assert_eq(ag_update_inventory(e.u, inv, NULL), 0);
	cr_assert(eq(
	    str, S(json_string_value(json_object_get(json_object_get(inv, "running"), "detector"))),
	    "1.0.0"));
	json_decref(inv);
	/* The counter floor stays at the committed release. */
	{
		char *s = slurp(e.dir, AG_RELEASES_FILE);

		cr_assert(yes(strstr(s, "\"counter\":1") != NULL), "%s", s);
		free(s);
	}
	/* Not retried on the next check-in. */
	cr_assert_eq(run_update(&e, offer(&e, release_obj(&r, NULL), NULL), 60), 0);
	cr_assert(eq(str, S(ag_update_state(e.u)), "rolled_back"));
	/* Failing at the end of the window rolls back too. */
	r = v2();
	r.version = "2.0.1";
	r.counter = 3;
	r.health = "test ! -f second || exit 4; touch second";
	e.ts_version++;
	cr_assert_lt(run_update(&e, offer(&e, release_obj(&r, NULL), NULL), 60), 0);
	cr_assert(eq(str, S(ag_update_state(e.u)), "rolled_back"));
	current(cur, &e);
	cr_assert(eq(str, cur, "A"));
	teardown(&e);
}

Test(agent_update, health_probed_through_the_window)
{
	struct env e;
	struct rel r = v2();
	struct fl_err err = {0};
	char cur[2], stop[1200];

	setup(&e, 1);
	install_v1(&e);
	/* passes until the module "dies" (a file appears in the slot) */
	r.health = "test ! -f stop";
	e.ts_version++;
	cr_assert_eq(offer_take(e.u, offer(&e, release_obj(&r, NULL), NULL), HW, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(ag_update_step(e.u, &err), 0, "%s", err.msg);
	cr_assert(eq(str, S(ag_update_state(e.u)), "health_check"));
	current(cur, &e);
	cr_assert(eq(str, cur, "B"));
	e.fc.now += 10;
	cr_assert_eq(ag_update_step(e.u, &err), 0, "%s", err.msg);
	cr_assert(eq(str, S(ag_update_state(e.u)), "health_check"));
	snprintf(stop, sizeof(stop), "%s/slots/detector/B/stop", e.dir);
	fclose(fopen(stop, "w"));
	/* 20 s into a 60 s window: the next probe catches it */
	e.fc.now += 10;
	ag_update_step(e.u, &err);
	cr_assert(eq(str, S(ag_update_state(e.u)), "rolled_back"));
	current(cur, &e);
	cr_assert(eq(str, cur, "A"));
	teardown(&e);
}

static const struct rel FW1 = {.name = "fw",
			       .kind = "firmware",
			       .version = "1.0.0",
			       .counter = 1,
			       .art_name = "fw.bin",
			       .data = BLOB3,
			       .len = sizeof(BLOB3),
			       .health = "test -f fw.bin",
			       .window = 60};

static const char *running(struct env *e, json_t *inv, const char *name)
{
	json_object_clear(inv);
	cr_assert_eq(ag_update_inventory(e->u, inv, NULL), 0);
	return json_string_value(json_object_get(json_object_get(inv, "running"), name));
}

Test(agent_update, slots_per_release_name)
{
	struct env e;
	struct rel r = v2();
	struct fl_err err = {0};
	char cur[2], path[600];
	json_t *inv = json_object();

	setup(&e, 1);
	install_v1(&e);
	e.ts_version++;
	cr_assert_eq(run_update(&e, offer(&e, release_obj(&FW1, NULL), NULL), 60), 0, "%s",
		     ag_update_reason(e.u));
	cr_assert(eq(str, S(ag_update_state(e.u)), "committed"));
	/* Each name in its own pair, both running, both kinds reported. */
	cr_assert_eq(ag_slots_current(cur, e.dir, "fw", NULL), 0);
	cr_assert(eq(str, cur, "A"));
	current(cur, &e);
	cr_assert(eq(str, cur, "A"));
	cr_assert(yes(file_matches(&e, "A", "model.bin", BLOB1, sizeof(BLOB1))));
	snprintf(path, sizeof(path), "%s/slots/fw/current/fw.bin", e.dir);
	cr_assert_eq(access(path, F_OK), 0);
	cr_assert(eq(str, S(running(&e, inv, "detector")), "1.0.0"));
	cr_assert(eq(str, S(running(&e, inv, "fw")), "1.0.0"));
	cr_assert(eq(str, S(json_string_value(json_object_get(inv, "model_version"))), "1.0.0"));
	cr_assert(eq(str, S(json_string_value(json_object_get(inv, "firmware_version"))), "1.0.0"));
	/* A rollback of detector leaves fw alone. */
	r.health = "exit 3";
	e.ts_version++;
	cr_assert_lt(run_update(&e, offer(&e, release_obj(&r, NULL), NULL), 60), 0);
	cr_assert(eq(str, S(ag_update_state(e.u)), "rolled_back"));
	current(cur, &e);
	cr_assert(eq(str, cur, "A"));
	cr_assert_eq(ag_slots_current(cur, e.dir, "fw", NULL), 0);
	cr_assert(eq(str, cur, "A"));
	cr_assert_eq(access(path, F_OK), 0);
	cr_assert(eq(str, S(running(&e, inv, "detector")), "1.0.0"));
	cr_assert(eq(str, S(running(&e, inv, "fw")), "1.0.0"));
	/* And survives a restart. */
	reopen(&e);
	cr_assert(eq(str, S(running(&e, inv, "fw")), "1.0.0"));
	cr_assert(eq(str, S(running(&e, inv, "detector")), "1.0.0"));
	/* A name is a path component only after fl_id_valid. */
	cr_assert_eq(ag_slots_path(path, sizeof(path), e.dir, "..", "A", &err), FL_EINVAL);
	cr_assert_eq(ag_slots_path(path, sizeof(path), e.dir, "a/b", "A", &err), FL_EINVAL);
	json_decref(inv);
	teardown(&e);
}

Test(agent_update, live_download_progress)
{
	struct env e;
	struct fl_err err = {0};
	json_t *rep;
	double last = -1.0;
	int64_t at = 0;
	size_t i, n;

	setup(&e, 1);
	e.reports = json_array();
	reopen(&e);
	/* 70 chunks of 1000 bytes, one second each. */
	e.f->clock = &e.fc;
	e.f->chunk_s = 1;
	e.ts_version++;
	cr_assert_eq(offer_take(e.u, offer(&e, release_obj(&V1, NULL), NULL), HW, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(ag_update_step(e.u, &err), 0, "%s", err.msg);
	cr_assert(eq(str, S(ag_update_state(e.u)), "health_check"));
	n = json_array_size(e.reports);
	/* Every 5 s of a 70 s download, plus the artifact boundary. */
	cr_assert_geq(n, 13, "%zu reports", n);
	cr_assert_leq(n, 15, "%zu reports", n);
	json_array_foreach (e.reports, i, rep) {
		double p = json_real_value(json_object_get(rep, "progress"));
		int64_t t = json_integer_value(json_object_get(rep, "at"));

		cr_assert_gt(p, last, "progress fell at report %zu", i);
		if (i > 0 && i + 1 < n)
			cr_assert_geq(t - at, 5, "reports %zu s apart", (size_t)(t - at));
		last = p;
		at = t;
	}
	cr_assert(eq(dbl, last, 1.0));
	teardown(&e);
}

Test(agent_update, live_report_403_stops_download)
{
	struct env e;
	struct fl_err err = {0};
	char path[600];
	struct stat st;

	setup(&e, 1);
	e.reports = json_array();
	e.refuse_after = 2;
	reopen(&e);
	e.f->clock = &e.fc;
	e.f->chunk_s = 1;
	e.ts_version++;
	cr_assert_eq(offer_take(e.u, offer(&e, release_obj(&V1, NULL), NULL), HW, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(ag_update_step(e.u, &err), FL_EAGAIN, "%s", err.msg);
	/* Stopped, not failed: the part stays and nothing was retried. */
	cr_assert(eq(str, S(ag_update_state(e.u)), "downloading"));
	cr_assert_eq(json_array_size(e.reports), 2);
	cr_assert_eq(e.f->nfetch, 1);
	snprintf(path, sizeof(path), "%s/slots/detector/A/model.bin.part", e.dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_gt(st.st_size, 0);
	/* Accepted again: the download resumes where it stopped. */
	e.refuse_after = 0;
	cr_assert_eq(ag_update_step(e.u, &err), 0, "%s", err.msg);
	cr_assert(eq(str, S(ag_update_state(e.u)), "health_check"));
	cr_assert_eq(e.f->offsets[1], st.st_size);
	teardown(&e);
}

Test(agent_update, hook_timeout_fails)
{
	struct env e;
	struct rel r = v2();
	struct fl_err err = {0};
	char cur[2];

	setup(&e, 1);
	install_v1(&e);
	r.hook = "sleep 20";
	r.hook_timeout = 1;
	e.ts_version++;
	cr_assert_eq(offer_take(e.u, offer(&e, release_obj(&r, NULL), NULL), HW, &err), 0);
	cr_assert_eq(ag_update_step(e.u, &err), FL_ETIMEOUT);
	cr_assert(eq(str, S(ag_update_state(e.u)), "failed"));
	cr_assert(yes(strstr(ag_update_reason(e.u), "timed out") != NULL));
	current(cur, &e);
	cr_assert(eq(str, cur, "A"));
	cr_assert_eq(slot_entries(&e, "B"), 0);
	teardown(&e);
}

Test(agent_update, no_root_refuses_everything)
{
	struct env e;

	setup(&e, 0);
	expect_refused(&e, offer(&e, release_obj(&V1, NULL), NULL), "no trusted root");
	teardown(&e);
}

Test(agent_update, root_rotation)
{
	static const int R0167[] = {0, 1, 6, 7};
	struct env e;
	struct fl_trust_root tr;
	struct offer_opts oo = {0};
	char key[8];

	setup(&e, 1);
	install_v1(&e);
	oo.root_version = 2;
	/* Signed only by the new root keys K6, K7. */
	snprintf(key, sizeof(key), "2");
	json_object_set_new(e.roots, key,
			    signed_obj(FL_TRUST_TYPE_ROOT, root_doc(2, R67, 2), R67, 2, 0));
	expect_refused(&e, offer(&e, release_obj(&V1, NULL), &oo), "root rotation");
	/* Signed only by the old ones. */
	json_object_set_new(e.roots, key,
			    signed_obj(FL_TRUST_TYPE_ROOT, root_doc(2, R67, 2), R01, 2, 0));
	expect_refused(&e, offer(&e, release_obj(&V1, NULL), &oo), "root rotation");
	/* A version skipped: v3 served as v2. */
	json_object_set_new(e.roots, key,
			    signed_obj(FL_TRUST_TYPE_ROOT, root_doc(3, R67, 2), R0167, 4, 0));
	expect_refused(&e, offer(&e, release_obj(&V1, NULL), &oo), "root rotation");
	cr_assert_eq(ag_root_load(&tr, e.dir, NULL), 0);
	cr_assert_eq(tr.version, 1);
	/* Both: accepted, persisted, and the offer goes through. */
	json_object_set_new(e.roots, key,
			    signed_obj(FL_TRUST_TYPE_ROOT, root_doc(2, R67, 2), R0167, 4, 0));
	e.issued++;
	cr_assert_eq(offer_take(e.u, offer(&e, release_obj(&V1, NULL), &oo), HW, NULL), 0, "%s",
		     ag_update_reason(e.u));
	cr_assert_eq(ag_root_load(&tr, e.dir, NULL), 0);
	cr_assert_eq(tr.version, 2);
	(void)R23;
	teardown(&e);
}

/* ---- SIGKILL at every step ---- */

static const char *crash_at;
static int crash_nth, crash_seen;

static void die_at(const char *point)
{
	if (strcmp(point, crash_at) != 0 || ++crash_seen < crash_nth)
		return;
	if (strcmp(point, "state_write") == 0) {
		/* Killed inside the atomic write: a torn temp file remains. */
		char p[512];
		int fd;

		snprintf(p, sizeof(p), "%s/update.json.tmp-0123456789ab", G->dir);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0 && write(fd, "{\"sta", 5) < 0)
			_exit(98);
		_exit(77);
	}
	_exit(77);
}

/* After a crash: current names a slot holding exactly v1 or v2, matching
 * what releases.json says it holds. Never half-way. */
static void assert_whole(struct env *e)
{
	char cur[2];
	json_t *inv = json_object();
	const char *v;

	current(cur, e);
	cr_assert(yes(strcmp(cur, "A") == 0 || strcmp(cur, "B") == 0), "current is '%s'", cur);
	cr_assert_eq(ag_update_inventory(e->u, inv, NULL), 0);
	v = json_string_value(json_object_get(json_object_get(inv, "running"), "detector"));
	cr_assert_not_null(v, "running names nothing");
	if (strcmp(v, "1.0.0") == 0)
		cr_assert(yes(file_matches(e, cur, "model.bin", BLOB1, sizeof(BLOB1))));
	else
		cr_assert(yes(strcmp(v, "2.0.0") == 0 &&
			      file_matches(e, cur, "model.bin", BLOB2, sizeof(BLOB2))));
	json_decref(inv);
}

static void crash_case(const char *point, int nth)
{
	struct env e;
	struct rel r = v2();
	struct fl_err err = {0};
	char cur[2];
	int status = 0;
	pid_t pid;

	setup(&e, 1);
	install_v1(&e);
	G = &e;
	e.ts_version++;
	json_t *off = offer(&e, release_obj(&r, NULL), NULL);

	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		crash_at = point;
		crash_nth = nth;
		crash_seen = 0;
		ag_crash_hook = die_at;
		(void)ag_update_offer(e.u, off, HW, NULL);
		(void)ag_update_step(e.u, NULL);
		e.fc.now += 100;
		(void)ag_update_step(e.u, NULL);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(yes(WIFEXITED(status) && WEXITSTATUS(status) == 77),
		  "child did not stop at '%s' (status %d)", point, status);

	/* The restart. */
	e.fc.now += 100;
	reopen(&e);
	assert_whole(&e);
	/* The check-in goes on: the same assignment arrives again. */
	e.issued++;
	cr_assert_eq(ag_update_offer(e.u, off, HW, &err), 0, "%s", err.msg);
	json_decref(off);
	(void)ag_update_step(e.u, &err);
	assert_whole(&e);
	e.fc.now += 100;
	cr_assert_eq(ag_update_step(e.u, &err), 0, "%s: %s", point, err.msg);
	cr_assert(eq(str, S(ag_update_state(e.u)), "committed"), "%s: %s (%s)", point,
		  ag_update_state(e.u), ag_update_reason(e.u));
	current(cur, &e);
	cr_assert(eq(str, cur, "B"));
	cr_assert(yes(file_matches(&e, "B", "model.bin", BLOB2, sizeof(BLOB2))));
	assert_whole(&e);
	teardown(&e);
}

Test(agent_update, kill_after_assigned)
{
	crash_case("assigned", 1);
}
Test(agent_update, kill_during_download)
{
	crash_case("download", 20);
}
Test(agent_update, kill_after_download)
{
	crash_case("downloaded", 1);
}
Test(agent_update, kill_at_verifying)
{
	crash_case("verifying", 1);
}
Test(agent_update, kill_after_verify)
{
	crash_case("verified", 1);
}
Test(agent_update, kill_at_installing)
{
	crash_case("installing", 1);
}
Test(agent_update, kill_mid_install)
{
	crash_case("hook_ran", 1);
}
Test(agent_update, kill_before_flip)
{
	crash_case("health_check", 1);
}
Test(agent_update, kill_after_flip)
{
	crash_case("flipped", 1);
}
Test(agent_update, kill_in_health_window)
{
	crash_case("health_window", 1);
}
Test(agent_update, kill_before_commit)
{
	crash_case("before_commit", 1);
}
Test(agent_update, kill_after_commit)
{
	crash_case("committed", 1);
}
Test(agent_update, kill_while_writing_state)
{
	crash_case("state_write", 1);
}
Test(agent_update, kill_while_writing_state_late)
{
	crash_case("state_write", 6);
}

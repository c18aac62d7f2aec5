/* struct ucred and SCM_CREDENTIALS (the sender's pid) are Linux extensions. */
#define _GNU_SOURCE

#include "agent/sli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/root.h"
#include "agent/slots.h"
#include "agent/state.h"
#include "agent/update.h"
#include "fairlead/envelope.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/log.h"
#include "fairlead/sketch.h"
#include "fairlead/trust.h"
#include "fairlead/util.h"

#define REL_CAP	     (1 << 20)
#define UPDATE_CAP   (FL_ENVELOPE_MAX_BYTES + 65536)
#define BASELINE_CAP (1 << 20)

struct pid_use {
	pid_t pid;
	uint64_t base;	/* ticks at the start of the window or first sight */
	uint64_t start; /* process start time: a reused pid is another process */
};

struct agg {
	int used;
	char name[65];
	char release[160]; /* NAME@VERSION installed, "" when none */
	int64_t start;	   /* the window of this aggregate began here */
	int seen;	   /* any line in this window */
	int warned;	   /* "not installed" logged once */
	uint64_t inferences, errors;
	struct fl_sketch *lat;
	double energy_mod;
	int have_energy;
	struct fl_drift_baseline *bl; /* NULL: no baseline, no drift */
	uint64_t (*counts)[FL_DRIFT_MAX_BINS];
	struct pid_use pids[AG_SLI_MAX_PIDS];
	size_t npids;
};

struct ag_sli {
	struct ag_clock clock;
	struct ag_sli_opts o;
	char sock_path[AG_PATH_MAX];
	pthread_mutex_t mu;
	struct agg names[AG_SLI_MAX_NAMES];
	struct ag_sli_stats stats;
	int64_t win_start, win_end;
	int64_t last_hb;
	int fd;
	int stop_pipe[2];
	pthread_t thread;
	int running;
};

static const char *str_or_empty(const json_t *v)
{
	const char *s = json_string_value(v);

	return s ? s : "";
}

/* ---- the line protocol ---- */

static int word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* A finite number spanning exactly [p, p+n). */
static int parse_num(double *out, const char *p, size_t n)
{
	char tmp[64], *end = NULL;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	/* strtod takes "nan", "inf" and hex floats; the grammar is decimal. */
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789+-.eE", tmp[i]))
			return -1;
	errno = 0;
	*out = strtod(tmp, &end);
	if (errno == ERANGE || *end || !isfinite(*out))
		return -1;
	return 0;
}

static int copy_word(char *out, size_t cap, const char *p, size_t n)
{
	if (n == 0 || n >= cap)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!word_char(p[i]))
			return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

int ag_sli_parse_line(struct ag_sli_line *out, const char *line, size_t n, struct fl_err *err)
{
	const char *p = line, *e = line + n;
	int have_lat = 0;

	memset(out, 0, sizeof(*out));
	out->ok = 1;
	out->energy_j = -1;
	if (n > AG_SLI_LINE_MAX)
		return fl_err_set(err, FL_EINVAL, "line longer than %d bytes", AG_SLI_LINE_MAX);
	if (n > 0 && line[n - 1] == '\r')
		e--;
	{
		const char *w = p;

		while (p < e && *p != ' ')
			p++;
		if (p - w == 3 && memcmp(w, "inf", 3) == 0)
			out->kind = AG_SLI_INF;
		else if (p - w == 3 && memcmp(w, "err", 3) == 0)
			out->kind = AG_SLI_ERR;
		else if (p - w == 2 && memcmp(w, "hb", 2) == 0)
			out->kind = AG_SLI_HB;
		else
			return fl_err_set(err, FL_EINVAL, "unknown line type");
	}
	while (p < e) {
		const char *k, *eq, *v;
		size_t kn, vn;

		if (*p == ' ') {
			p++;
			continue;
		}
		k = p;
		while (p < e && *p != ' ')
			p++;
		if (!(eq = memchr(k, '=', (size_t)(p - k))))
			return fl_err_set(err, FL_EINVAL, "a field without '='");
		kn = (size_t)(eq - k);
		v = eq + 1;
		vn = (size_t)(p - v);
		for (const char *c = k; c < p; c++)
			if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f)
				return fl_err_set(err, FL_EINVAL, "a non-ASCII or control byte");
		if (kn == 5 && memcmp(k, "model", 5) == 0) {
			if (vn > 64 || copy_word(out->model, sizeof(out->model), v, vn) < 0 ||
			    !fl_id_valid(out->model))
				return fl_err_set(err, FL_EINVAL, "bad model name");
		} else if (out->kind != AG_SLI_INF) {
			continue; /* code= and unknown keys: forward compatible */
		} else if (kn == 6 && memcmp(k, "lat_ms", 6) == 0) {
			if (parse_num(&out->lat_ms, v, vn) < 0 || out->lat_ms < 0)
				return fl_err_set(err, FL_EINVAL, "bad lat_ms");
			have_lat = 1;
		} else if (kn == 2 && memcmp(k, "ok", 2) == 0) {
			if (vn != 1 || (*v != '0' && *v != '1'))
				return fl_err_set(err, FL_EINVAL, "ok must be 0 or 1");
			out->ok = *v == '1';
		} else if (kn == 8 && memcmp(k, "energy_j", 8) == 0) {
			if (parse_num(&out->energy_j, v, vn) < 0 || out->energy_j < 0)
				return fl_err_set(err, FL_EINVAL, "bad energy_j");
		} else if (kn >= 2 && k[0] == 'f' && k[1] == '.') {
			size_t i = out->nfeatures;

			if (i >= FL_DRIFT_MAX_FEATURES)
				return fl_err_set(err, FL_EINVAL, "more than %d features",
						  FL_DRIFT_MAX_FEATURES);
			if (copy_word(out->f[i].name, sizeof(out->f[i].name), k + 2, kn - 2) < 0)
				return fl_err_set(err, FL_EINVAL, "bad feature name");
			if (parse_num(&out->f[i].value, v, vn) < 0)
				return fl_err_set(err, FL_EINVAL, "bad value of feature %s",
						  out->f[i].name);
			out->nfeatures++;
		}
	}
	if (!out->model[0])
		return fl_err_set(err, FL_EINVAL, "no model=");
	if (out->kind == AG_SLI_INF && !have_lat)
		return fl_err_set(err, FL_EINVAL, "inf without lat_ms=");
	return 0;
}

/* ---- /proc ---- */

int ag_sli_proc_stat(void *ctx, pid_t pid, uint64_t *ticks, uint64_t *start)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0, stt = 0;
	ssize_t n;
	int fd;

	(void)ctx;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return FL_ENOTFOUND;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return FL_ENOTFOUND;
	buf[n] = '\0';
	/* comm may hold spaces and ')': fields resume after the last ')'. */
	if (!(p = strrchr(buf, ')')))
		return FL_EINVAL;
	/* After ')': state(3) ... utime(14) stime(15) ... starttime(22). */
	if (sscanf(p + 1,
		   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
		   "%*d %llu",
		   &ut, &st, &stt) != 3)
		return FL_EINVAL;
	*ticks = ut + st;
	*start = stt;
	return 0;
}

/* ---- releases and baselines ---- */

static void agg_drop_baseline(struct agg *a)
{
	free(a->bl);
	free(a->counts);
	a->bl = NULL;
	a->counts = NULL;
}

/* The version installed for name: its current slot's record in
 * releases.json. "" when nothing is installed. */
static void installed_version(char *out, size_t cap, const json_t *rel, const char *dir,
			      const char *name)
{
	struct fl_err e = {0};
	char cur[2];
	const char *v;

	out[0] = '\0';
	if (ag_slots_current(cur, dir, name, &e) < 0 || !cur[0])
		return;
	v = json_string_value(json_object_get(
	    json_object_get(json_object_get(json_object_get(rel, "slots"), name), cur), "version"));
	if (v)
		snprintf(out, cap, "%s", v);
}

/* The baseline of name@version from update.json's envelope, checked again
 * under the trusted root: update.json holds the last release installed, so
 * it is read while that is current and cached in STATE/sli/NAME.json for
 * later (another name's update overwrites update.json). */
static int baseline_from_update(json_t **out, const char *dir, const char *name,
				const char *release)
{
	struct fl_trust_root root;
	struct fl_envelope e = {0};
	struct fl_trust_release r = {0};
	struct fl_err err = {0};
	json_t *st = NULL;
	const char *env;
	int rc = FL_ENOTFOUND, have_r = 0;

	*out = NULL;
	if (ag_state_read_json(&st, dir, AG_UPDATE_FILE, UPDATE_CAP, &err) < 0)
		goto cleanup;
	env = json_string_value(json_object_get(st, "envelope"));
	if (!env || strcmp(str_or_empty(json_object_get(st, "release")), release) != 0)
		goto cleanup;
	if ((rc = ag_root_load(&root, dir, &err)) < 0 ||
	    (rc = fl_envelope_parse(&e, env, strlen(env), &err)) < 0 ||
	    (rc = fl_envelope_verify(&e, FL_TRUST_TYPE_RELEASE, &root.roles[FL_TRUST_ROLE_RELEASE],
				     &err)) < 0 ||
	    (rc = fl_trust_release_parse(&r, e.payload, e.payload_len, &err)) < 0)
		goto cleanup;
	have_r = 1;
	if (strcmp(r.name, name) != 0) {
		rc = FL_EINVAL;
		goto cleanup;
	}
	*out = r.baseline ? json_deep_copy(r.baseline) : json_null();
	rc = *out ? 0 : FL_ENOMEM;
cleanup:
	if (rc < 0 && rc != FL_ENOTFOUND)
		fl_log(FL_LOG_WARN, "no drift baseline for %s: %s", release, err.msg);
	if (have_r)
		fl_trust_release_free(&r);
	fl_envelope_release(&e);
	json_decref(st);
	return rc;
}

/* Loads the baseline of the release now installed for a's name. */
static void agg_load_baseline(struct agg *a, const char *dir)
{
	char cache[AG_PATH_MAX];
	struct fl_err err = {0};
	json_t *c = NULL, *b = NULL;

	agg_drop_baseline(a);
	if (!a->release[0])
		return;
	snprintf(cache, sizeof(cache), "%s/%s.json", AG_SLI_BASELINE_DIR, a->name);
	if (ag_state_read_json(&c, dir, cache, BASELINE_CAP, &err) == 0 &&
	    strcmp(str_or_empty(json_object_get(c, "release")), a->release) == 0) {
		b = json_incref(json_object_get(c, "baseline"));
	} else if (baseline_from_update(&b, dir, a->name, a->release) == 0) {
		json_t *doc = json_pack("{s:s,s:O}", "release", a->release, "baseline", b);
		char sub[AG_PATH_MAX];

		snprintf(sub, sizeof(sub), "%s/%s", dir, AG_SLI_BASELINE_DIR);
		if (!doc || fl_fs_mkdir_p(sub, 0700, &err) < 0 ||
		    ag_state_write_json(dir, cache, doc, &err) < 0)
			fl_log(FL_LOG_WARN, "cannot cache the baseline of %s: %s", a->release,
			       err.msg);
		json_decref(doc);
	}
	json_decref(c);
	if (!b || json_is_null(b)) {
		json_decref(b);
		return;
	}
	a->bl = calloc(1, sizeof(*a->bl));
	a->counts = calloc(FL_DRIFT_MAX_FEATURES, sizeof(*a->counts));
	if (!a->bl || !a->counts || fl_drift_baseline_parse(a->bl, b, &err) < 0) {
		fl_log(FL_LOG_WARN, "drift baseline of %s unusable: %s", a->release,
		       err.msg[0] ? err.msg : "out of memory");
		agg_drop_baseline(a);
	} else {
		fl_log(FL_LOG_INFO, "drift baseline of %s: %zu features", a->release,
		       a->bl->nfeatures);
	}
	json_decref(b);
}

/* ---- aggregation ---- */

static void agg_reset(struct agg *a, int64_t start)
{
	a->start = start;
	a->seen = 0;
	a->inferences = a->errors = 0;
	fl_sketch_reset(a->lat);
	a->energy_mod = 0;
	a->have_energy = 0;
	if (a->counts)
		memset(a->counts, 0, FL_DRIFT_MAX_FEATURES * sizeof(*a->counts));
}

static struct agg *agg_find(struct ag_sli *s, const char *name, int create)
{
	struct agg *free_slot = NULL;

	for (size_t i = 0; i < AG_SLI_MAX_NAMES; i++) {
		if (s->names[i].used && strcmp(s->names[i].name, name) == 0)
			return &s->names[i];
		if (!s->names[i].used && !free_slot)
			free_slot = &s->names[i];
	}
	if (!create || !free_slot || fl_sketch_new(&free_slot->lat) < 0)
		return NULL;
	free_slot->used = 1;
	snprintf(free_slot->name, sizeof(free_slot->name), "%s", name);
	agg_reset(free_slot, s->win_start);
	{
		json_t *rel = NULL;
		struct fl_err e = {0};
		char ver[64];

		(void)ag_state_read_json(&rel, s->o.dir, AG_RELEASES_FILE, REL_CAP, &e);
		installed_version(ver, sizeof(ver), rel, s->o.dir, name);
		json_decref(rel);
		if (ver[0])
			snprintf(free_slot->release, sizeof(free_slot->release), "%s@%s", name,
				 ver);
		agg_load_baseline(free_slot, s->o.dir);
	}
	return free_slot;
}

static void proc_read(struct ag_sli *s, pid_t pid, uint64_t *ticks, uint64_t *start, int *ok)
{
	ag_sli_proc_fn f = s->o.proc ? s->o.proc : ag_sli_proc_stat;

	*ok = f(s->o.proc_ctx, pid, ticks, start) == 0;
}

static void agg_pid(struct ag_sli *s, struct agg *a, pid_t pid)
{
	uint64_t ticks, start;
	int ok;

	if (pid <= 0)
		return;
	for (size_t i = 0; i < a->npids; i++)
		if (a->pids[i].pid == pid)
			return;
	if (a->npids >= AG_SLI_MAX_PIDS)
		return;
	proc_read(s, pid, &ticks, &start, &ok);
	if (!ok)
		return;
	/* CPU spent before the first line is not this window's. */
	a->pids[a->npids++] = (struct pid_use){pid, ticks, start};
}

static void ingest_line(struct ag_sli *s, const char *line, size_t n, pid_t pid)
{
	struct ag_sli_line l;
	struct fl_err err = {0};
	struct agg *a;

	s->stats.lines++;
	if (ag_sli_parse_line(&l, line, n, &err) < 0 || !(a = agg_find(s, l.model, 1))) {
		s->stats.bad_lines++;
		fl_log(FL_LOG_DEBUG, "sli: bad line: %s", err.msg[0] ? err.msg : "too many names");
		return;
	}
	a->seen = 1;
	agg_pid(s, a, pid);
	if (l.kind == AG_SLI_HB)
		return;
	a->inferences++;
	if (l.kind == AG_SLI_ERR || !l.ok)
		a->errors++;
	if (l.kind != AG_SLI_INF)
		return;
	(void)fl_sketch_add(a->lat, l.lat_ms);
	if (l.energy_j >= 0) {
		a->energy_mod += l.energy_j;
		a->have_energy = 1;
	}
	if (!a->bl)
		return;
	for (size_t i = 0; i < l.nfeatures; i++) {
		const struct fl_drift_feature *f = fl_drift_baseline_find(a->bl, l.f[i].name);

		if (f)
			a->counts[f - a->bl->f][fl_drift_bin(f, l.f[i].value)]++;
	}
}

void ag_sli_ingest(struct ag_sli *s, const char *data, size_t n, pid_t pid)
{
	pthread_mutex_lock(&s->mu);
	s->stats.datagrams++;
	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t len = nl ? (size_t)(nl - data) : n;

		if (len > 0)
			ingest_line(s, data, len, pid);
		if (!nl)
			break;
		n -= len + 1;
		data = nl + 1;
	}
	pthread_mutex_unlock(&s->mu);
}

/* ---- reports ---- */

/* The CPU the window's senders used, in seconds; bases move to now. */
static double agg_cpu_s(struct ag_sli *s, struct agg *a)
{
	long tps = s->o.ticks_per_s > 0 ? s->o.ticks_per_s : sysconf(_SC_CLK_TCK);
	uint64_t total = 0;
	size_t keep = 0;

	for (size_t i = 0; i < a->npids; i++) {
		uint64_t ticks, start;
		int ok;

		proc_read(s, a->pids[i].pid, &ticks, &start, &ok);
		/* Gone, or the pid now belongs to someone else: what it used
		 * since the last reading is lost, not misattributed. */
		if (!ok || start != a->pids[i].start)
			continue;
		if (ticks > a->pids[i].base)
			total += ticks - a->pids[i].base;
		a->pids[i].base = ticks;
		a->pids[keep++] = a->pids[i];
	}
	a->npids = keep;
	return tps > 0 ? (double)total / (double)tps : 0;
}

static json_t *drift_json(const struct agg *a)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && a->bl && i < a->bl->nfeatures; i++) {
		const struct fl_drift_feature *f = &a->bl->f[i];
		uint64_t m = 0;
		json_t *counts = json_array(), *d;
		double psi, js, thr;
		int judged;

		for (size_t b = 0; b < f->nbins; b++) {
			m += a->counts[i][b];
			json_array_append_new(counts, json_integer((json_int_t)a->counts[i][b]));
		}
		if (m == 0) {
			json_decref(counts);
			continue; /* nothing to compare */
		}
		psi = fl_drift_psi(f->p, a->counts[i], f->nbins);
		js = fl_drift_js(f->p, a->counts[i], f->nbins);
		thr = fl_drift_psi_threshold(f->nbins, f->n, m, FL_DRIFT_ALPHA);
		judged = fl_drift_judgeable(f->nbins, m);
		d = json_pack("{s:s,s:o,s:f,s:f,s:f,s:b,s:b}", "feature", f->name, "counts", counts,
			      "psi", isfinite(psi) ? psi : 0.0, "js", isfinite(js) ? js : 0.0,
			      "threshold", isfinite(thr) ? thr : 0.0, "judged", judged, "drifted",
			      judged && psi > thr);
		if (!d || json_array_append_new(arr, d) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static int emit(struct ag_sli *s, json_t *report, struct fl_err *err)
{
	int rc;

	if (!report)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	rc = s->o.emit ? s->o.emit(s->o.emit_ctx, report, err) : 0;
	json_decref(report);
	return rc;
}

/* A report with no inferences; agg_close fills in the rest. Every report
 * carries every count, so the server never has to guess a missing one. */
static json_t *base_report(int64_t start, int64_t end, const char *release, int64_t up_s)
{
	return json_pack("{s:I,s:I,s:s?,s:I,s:I,s:i,s:i,s:f,s:s}", "start", (json_int_t)start,
			 "end", (json_int_t)end, "release", release, "up_s", (json_int_t)up_s,
			 "expected_s", (json_int_t)(end - start), "inferences", 0, "errors", 0,
			 "energy_j", 0.0, "energy_source", "none");
}

/* a's report for [a->start, end), then a starts again at end. */
static int agg_close(struct ag_sli *s, struct agg *a, int64_t end, struct fl_err *err)
{
	json_t *r, *lat = NULL, *drift;
	double cpu = agg_cpu_s(s, a), energy = 0;
	const char *source = "none";
	int rc = 0;

	if (!a->seen || end <= a->start) {
		agg_reset(a, end);
		return 0;
	}
	if (!a->release[0]) {
		s->stats.unmapped++;
		if (!a->warned)
			fl_log(FL_LOG_WARN,
			       "sli: no release named %s is installed; its SLIs are dropped",
			       a->name);
		a->warned = 1;
		agg_reset(a, end);
		return 0;
	}
	if (a->have_energy) {
		energy = a->energy_mod;
		source = "module";
	} else if (cpu > 0) {
		energy = cpu * s->o.device_power_w;
		source = "estimated";
	}
	r = base_report(a->start, end, a->release, end - a->start);
	drift = drift_json(a);
	if (fl_sketch_to_json(&lat, a->lat) < 0 || !r || !drift) {
		json_decref(lat);
		json_decref(drift);
		json_decref(r);
		r = NULL;
	} else if (json_object_set_new(r, "latency_ms", lat) < 0 ||
		   json_object_set_new(r, "drift", drift) < 0 ||
		   json_object_set_new(r, "inferences", json_integer((json_int_t)a->inferences)) <
		       0 ||
		   json_object_set_new(r, "errors", json_integer((json_int_t)a->errors)) < 0 ||
		   json_object_set_new(r, "energy_j", json_real(energy)) < 0 ||
		   json_object_set_new(r, "energy_source", json_string(source)) < 0) {
		/* set_new steals its value even on failure: only r is ours. */
		json_decref(r);
		r = NULL;
	}
	rc = emit(s, r, err);
	agg_reset(a, end);
	return rc;
}

/* Follows A/B flips: a name whose installed release changed closes its
 * aggregate now and starts over with the new release's baseline. */
static void follow_releases(struct ag_sli *s, int64_t now)
{
	json_t *rel = NULL;
	struct fl_err e = {0};

	(void)ag_state_read_json(&rel, s->o.dir, AG_RELEASES_FILE, REL_CAP, &e);
	for (size_t i = 0; i < AG_SLI_MAX_NAMES; i++) {
		struct agg *a = &s->names[i];
		char ver[64], release[160] = "";

		if (!a->used)
			continue;
		installed_version(ver, sizeof(ver), rel, s->o.dir, a->name);
		if (ver[0])
			snprintf(release, sizeof(release), "%s@%s", a->name, ver);
		if (strcmp(release, a->release) == 0)
			continue;
		fl_log(FL_LOG_INFO, "sli: %s now runs %s", a->name,
		       release[0] ? release : "nothing");
		if (agg_close(s, a, now, &e) < 0)
			fl_log(FL_LOG_ERROR, "sli: cannot keep a report: %s", e.msg);
		memcpy(a->release, release, sizeof(release));
		agg_load_baseline(a, s->o.dir);
	}
	json_decref(rel);
}

/* Closes the window [win_start, end): a report per name, or the uptime. */
static int close_window(struct ag_sli *s, int64_t end, struct fl_err *err)
{
	int any = 0, rc = 0;

	for (size_t i = 0; i < AG_SLI_MAX_NAMES; i++) {
		struct agg *a = &s->names[i];
		int emitted = a->used && a->seen && a->release[0];

		if (!a->used)
			continue;
		/* A name that closed early at a flip keeps its own start. */
		if (a->start < s->win_start)
			a->start = s->win_start;
		if (agg_close(s, a, end, err) < 0)
			rc = rc < 0 ? rc : FL_ERROR;
		any |= emitted;
	}
	if (!any && end > s->win_start) {
		if (emit(s, base_report(s->win_start, end, NULL, end - s->win_start), err) < 0)
			rc = FL_ERROR;
	}
	return rc;
}

static int write_heartbeat(struct ag_sli *s, int64_t now, struct fl_err *err)
{
	json_t *hb = json_pack("{s:I}", "t", (json_int_t)now);
	int rc;

	if (!hb)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	rc = ag_state_write_json(s->o.dir, AG_SLI_HEARTBEAT_FILE, hb, err);
	json_decref(hb);
	if (rc == 0)
		s->last_hb = now;
	return rc;
}

static int64_t window_end(const struct ag_sli *s, int64_t t)
{
	return (t / s->o.window_s + 1) * s->o.window_s;
}

int ag_sli_tick(struct ag_sli *s, struct fl_err *err)
{
	int64_t now = s->clock.now(s->clock.ctx);
	struct fl_err e2 = {0};
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	follow_releases(s, now);
	if (now >= s->win_end) {
		rc = close_window(s, s->win_end, err);
		s->win_start = s->win_end;
		/* The process was stopped or the machine slept through whole
		 * windows: that time was not up. */
		if (now >= s->win_end + s->o.window_s) {
			int64_t to = now - now % s->o.window_s;
			if (emit(s, base_report(s->win_end, to, NULL, 0), &e2) < 0)
				rc = FL_ERROR;
			s->win_start = to;
		}
		s->win_end = window_end(s, s->win_start);
		for (size_t i = 0; i < AG_SLI_MAX_NAMES; i++)
			if (s->names[i].used)
				s->names[i].start = s->win_start;
	}
	if ((now - s->last_hb >= AG_SLI_HEARTBEAT_S || now < s->last_hb) &&
	    write_heartbeat(s, now, &e2) < 0)
		fl_log(FL_LOG_WARN, "sli: cannot write the heartbeat: %s", e2.msg);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* ---- life cycle ---- */

int ag_sli_new(struct ag_sli **out, const struct ag_clock *clock, const struct ag_sli_opts *o,
	       struct fl_err *err)
{
	struct ag_sli *s;
	json_t *hb = NULL;
	int64_t now;
	int rc;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	s->clock = *clock;
	s->o = *o;
	s->fd = -1;
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	pthread_mutex_init(&s->mu, NULL);
	if (s->o.window_s <= 0)
		s->o.window_s = AG_SLI_WINDOW_S;
	if (!(s->o.device_power_w > 0))
		s->o.device_power_w = AG_SLI_POWER_W;
	if (o->socket_path)
		rc = snprintf(s->sock_path, sizeof(s->sock_path), "%s", o->socket_path) <
			     (int)sizeof(((struct sockaddr_un *)0)->sun_path)
			 ? 0
			 : fl_err_set(err, FL_EINVAL, "socket path too long");
	else
		rc = ag_state_path(s->sock_path, sizeof(((struct sockaddr_un *)0)->sun_path),
				   o->dir, AG_SLI_SOCKET_FILE, err);
	if (rc < 0)
		goto cleanup;
	now = s->clock.now(s->clock.ctx);
	s->win_start = now;
	s->win_end = window_end(s, now);
	rc = ag_state_read_json(&hb, o->dir, AG_SLI_HEARTBEAT_FILE, 4096, err);
	if (rc == 0) {
		int64_t last = json_integer_value(json_object_get(hb, "t"));

		if (last > 0 && now - last > AG_SLI_GAP_S) {
			int64_t gap = now - last > AG_SLI_GAP_MAX_S ? AG_SLI_GAP_MAX_S : now - last;
			fl_log(FL_LOG_WARN, "sli: the agent was down for %llds", (long long)gap);
			if ((rc = emit(s, base_report(now - gap, now, NULL, 0), err)) < 0)
				goto cleanup;
		}
	} else if (rc != FL_ENOTFOUND && rc != FL_EINVAL) {
		goto cleanup;
	}
	fl_err_clear(err);
	if ((rc = write_heartbeat(s, now, err)) < 0)
		goto cleanup;
	*out = s;
	s = NULL;
cleanup:
	json_decref(hb);
	ag_sli_free(s);
	return rc;
}

static void *receiver(void *arg)
{
	struct ag_sli *s = arg;
	char *buf = malloc(AG_SLI_DGRAM_MAX);
	int64_t last_tick = 0;

	if (!buf) {
		fl_log(FL_LOG_ERROR, "sli: out of memory; receiver stopped");
		return NULL;
	}
	for (;;) {
		struct pollfd pf[2] = {{s->fd, POLLIN, 0}, {s->stop_pipe[0], POLLIN, 0}};
		int64_t now;

		if (poll(pf, 2, 1000) < 0 && errno != EINTR)
			break;
		if (pf[1].revents)
			break;
		/* Drains what is queued; a flood is bounded by the socket's
		 * receive buffer, not by us. */
		for (int i = 0; i < 256 && (pf[0].revents & POLLIN); i++) {
			union {
				struct cmsghdr h;
				char b[CMSG_SPACE(sizeof(struct ucred))];
			} ctl;
			struct iovec iov = {buf, AG_SLI_DGRAM_MAX};
			struct msghdr m = {0};
			struct cmsghdr *c;
			ssize_t n;
			pid_t pid = 0;

			m.msg_iov = &iov;
			m.msg_iovlen = 1;
			m.msg_control = ctl.b;
			m.msg_controllen = sizeof(ctl.b);
			n = recvmsg(s->fd, &m, MSG_DONTWAIT);
			if (n < 0)
				break;
			for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
				if (c->cmsg_level == SOL_SOCKET &&
				    c->cmsg_type == SCM_CREDENTIALS) {
					struct ucred uc;

					memcpy(&uc, CMSG_DATA(c), sizeof(uc));
					pid = uc.pid;
				}
			if (m.msg_flags & MSG_TRUNC) {
				pthread_mutex_lock(&s->mu);
				s->stats.datagrams++;
				s->stats.bad_lines++;
				pthread_mutex_unlock(&s->mu);
				continue;
			}
			ag_sli_ingest(s, buf, (size_t)n, pid);
		}
		now = fl_mono_ms();
		if (now - last_tick >= 1000) {
			struct fl_err e = {0};

			last_tick = now;
			if (ag_sli_tick(s, &e) < 0)
				fl_log(FL_LOG_ERROR, "sli: %s", e.msg);
		}
	}
	free(buf);
	return NULL;
}

int ag_sli_start(struct ag_sli *s, struct fl_err *err)
{
	struct sockaddr_un sa = {0};
	int one = 1;

	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, s->sock_path, strlen(s->sock_path) + 1);
	/* A socket file left by a killed agent would make bind fail. */
	if (unlink(s->sock_path) < 0 && errno != ENOENT)
		return fl_err_set(err, FL_ERROR, "unlink %s: %s", s->sock_path, strerror(errno));
	if ((s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return fl_err_set(err, FL_ERROR, "socket: %s", strerror(errno));
	if (setsockopt(s->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
	    bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(s->sock_path, 0660) < 0)
		return fl_err_set(err, FL_ERROR, "bind %s: %s", s->sock_path, strerror(errno));
	if (pipe(s->stop_pipe) < 0)
		return fl_err_set(err, FL_ERROR, "pipe: %s", strerror(errno));
	if (pthread_create(&s->thread, NULL, receiver, s) != 0)
		return fl_err_set(err, FL_ERROR, "cannot start the SLI receiver");
	s->running = 1;
	fl_log(FL_LOG_INFO, "sli: listening on %s", s->sock_path);
	return 0;
}

void ag_sli_stats(struct ag_sli_stats *out, struct ag_sli *s)
{
	pthread_mutex_lock(&s->mu);
	*out = s->stats;
	pthread_mutex_unlock(&s->mu);
}

void ag_sli_free(struct ag_sli *s)
{
	struct fl_err e = {0};

	if (!s)
		return;
	if (s->running) {
		ssize_t w = write(s->stop_pipe[1], "x", 1);

		(void)w;
		pthread_join(s->thread, NULL);
		/* The partial window is closed, so a clean stop loses nothing;
		 * the restart gap shows as downtime from the heartbeat. */
		pthread_mutex_lock(&s->mu);
		{
			int64_t now = s->clock.now(s->clock.ctx);

			if (now > s->win_start && close_window(s, now, &e) < 0)
				fl_log(FL_LOG_ERROR, "sli: %s", e.msg);
			if (write_heartbeat(s, now, &e) < 0)
				fl_log(FL_LOG_WARN, "sli: %s", e.msg);
		}
		pthread_mutex_unlock(&s->mu);
	}
	if (s->fd >= 0) {
		close(s->fd);
		unlink(s->sock_path);
	}
	for (int i = 0; i < 2; i++)
		if (s->stop_pipe[i] >= 0)
			close(s->stop_pipe[i]);
	for (size_t i = 0; i < AG_SLI_MAX_NAMES; i++) {
		fl_sketch_free(s->names[i].lat);
		agg_drop_baseline(&s->names[i]);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}

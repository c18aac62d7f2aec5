/*
 * fairlead-bench-gates - figure 4: how long one gate evaluation of a large
 * rollout takes, end to end on the server's side: reading one SLI aggregate
 * per device over the evaluation window from SQLite (cp_store_sli_devices),
 * turning them into gate inputs (the latency quantile of each merged sketch)
 * and running every gate (cp_gates_evaluate). Prints one JSON object.
 *
 *   fairlead-bench-gates [--devices N] [--canary-pct P] [--minutes M]
 *                        [--repeat R] [--no-store] [--dir DIR]
 *
 * The database is a fresh one in DIR (default: a new directory under
 * $TMPDIR), filled with M minutes of synthetic reports per device (the
 * filling is timed apart and not part of the figure) and removed afterwards.
 * --no-store times the gates alone on synthetic inputs.
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/gates.h"
#include "core/sli.h"
#include "fairlead/json.h"
#include "fairlead/sketch.h"
#include "store/store.h"

#define T0 1700000040LL /* a whole minute */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static double uniform01(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
	return sqrt(-2 * log(uniform01())) * cos(2 * M_PI * uniform01());
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void die(const char *what, const struct fl_err *err)
{
	fprintf(stderr, "fairlead-bench-gates: %s: %s\n", what, err ? err->msg : "failed");
	exit(1);
}

/* M minutes of reports for every device: canaries on det@2.0.0, the rest
 * on det@1.0.0, latencies lognormal around 40 ms per device. */
static double populate(struct cp_store *s, char **ids, size_t n, size_t ncanary, int minutes)
{
	enum { BATCH = 2000 };
	struct cp_sli_sample *x = calloc(BATCH, sizeof(*x));
	struct fl_err err = {0, ""};
	double t = now_ms();
	size_t k = 0;

	if (!x)
		die("populate", NULL);
	for (int m = 0; m < minutes; m++)
		for (size_t i = 0; i < n; i++) {
			struct cp_sli_sample *p = &x[k++];
			double mu = 40 * exp(0.3 * gauss());

			memset(p, 0, sizeof(*p));
			snprintf(p->device_id, sizeof(p->device_id), "%s", ids[i]);
			p->minute = T0 + 60 * m;
			snprintf(p->release, sizeof(p->release), "%s",
				 i < ncanary ? "det@2.0.0" : "det@1.0.0");
			p->labels = strdup("{\"site\":\"bench\"}");
			snprintf(p->hw, sizeof(p->hw), "default");
			snprintf(p->site, sizeof(p->site), "bench");
			if (!p->labels || fl_sketch_new(&p->latency_ms))
				die("populate", NULL);
			for (int j = 0; j < 60; j++)
				fl_sketch_add(p->latency_ms, mu * exp(0.2 * gauss()));
			p->inferences = 60;
			p->errors = uniform01() < 0.1;
			p->up_s = p->expected_s = 60;
			p->energy_j = 3;
			p->carbon_g = 0.3 / 3600;
			p->drift_checks = 1;
			p->drift_alarms = uniform01() < 0.02;
			if (k == BATCH || (m == minutes - 1 && i == n - 1)) {
				if (cp_store_sli_write(s, x, k, NULL, 0, T0, &err))
					die("populate", &err);
				for (size_t j = 0; j < k; j++)
					cp_sli_sample_release(&x[j]);
				k = 0;
			}
		}
	free(x);
	return now_ms() - t;
}

/* The aggregates as the gates see them. */
static void to_gate(struct cp_gate_device *d, const char *id, int canary,
		    const struct cp_sli_agg *a, double q)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->id, sizeof(d->id), "%s", id);
	d->canary = canary;
	d->outcome = canary ? CP_GATE_COMMITTED : CP_GATE_PENDING;
	d->inferences = a->inferences;
	d->latency_q_ms = a->latency_ms ? fl_sketch_quantile(a->latency_ms, q) : NAN;
	d->error_ratio = a->inferences ? (double)a->errors / (double)a->inferences : NAN;
	d->drift_ratio = a->drift_checks ? (double)a->drift_alarms / (double)a->drift_checks : NAN;
	d->carbon_per_inf_g = a->inferences ? a->carbon_g / (double)a->inferences : NAN;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"devices", required_argument, NULL, 'n'}, {"canary-pct", required_argument, NULL, 'c'},
	    {"minutes", required_argument, NULL, 'm'}, {"repeat", required_argument, NULL, 'r'},
	    {"no-store", no_argument, NULL, 's'},      {"dir", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},	       {NULL, 0, NULL, 0}};
	size_t n = 100000, ncanary;
	double pct = 50, *query = NULL, *prep = NULL, *eval = NULL, *total = NULL, fill_ms = 0;
	int minutes = 5, repeat = 3, use_store = 1, c, verdict = -1;
	char dir[512] = "", path[600], **ids = NULL;
	struct cp_store *s = NULL;
	struct cp_gate_device *devs = NULL;
	struct cp_gate_config cfg;
	struct fl_err err = {0, ""};
	json_t *out;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 'c': pct = strtod(optarg, NULL); break;
		case 'm': minutes = atoi(optarg); break;
		case 'r': repeat = atoi(optarg); break;
		case 's': use_store = 0; break;
		case 'd': snprintf(dir, sizeof(dir), "%s", optarg); break;
		default:
			fprintf(c == 'h' ? stdout : stderr,
				"usage: fairlead-bench-gates [--devices N] [--canary-pct P] "
				"[--minutes M] [--repeat R] [--no-store] [--dir DIR]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (n < 2 || n > 10000000 || !(pct > 0 && pct < 100) || minutes < 1 || minutes > 60 ||
	    repeat < 1 || repeat > 100) {
		fprintf(stderr, "fairlead-bench-gates: bad arguments\n");
		return 2;
	}
	ncanary = (size_t)ceil((double)n * pct / 100);
	if (ncanary >= n)
		ncanary = n - 1;
	ids = calloc(n, sizeof(*ids));
	devs = calloc(n, sizeof(*devs));
	query = calloc((size_t)repeat, sizeof(double));
	prep = calloc((size_t)repeat, sizeof(double));
	eval = calloc((size_t)repeat, sizeof(double));
	total = calloc((size_t)repeat, sizeof(double));
	if (!ids || !devs || !query || !prep || !eval || !total)
		die("setup", NULL);
	for (size_t i = 0; i < n; i++) {
		if (!(ids[i] = malloc(24)))
			die("setup", NULL);
		snprintf(ids[i], 24, "dev-%07zu", i);
	}
	cp_gate_config_defaults(&cfg);

	if (use_store) {
		if (!*dir) {
			const char *tmp = getenv("TMPDIR");
			snprintf(dir, sizeof(dir), "%s/flbenchgates.XXXXXX",
				 tmp && *tmp ? tmp : "/tmp");
			if (!mkdtemp(dir))
				die("mkdtemp", NULL);
		}
		snprintf(path, sizeof(path), "%s/fairlead.db", dir);
		if (cp_store_open(&s, path, -1, &err))
			die("store", &err);
		fill_ms = populate(s, ids, n, ncanary, minutes);
	}

	for (int r = 0; r < repeat; r++) {
		struct cp_sli_agg *canary = NULL, *base = NULL;
		struct cp_gate_eval e;
		double t0 = now_ms(), t1, t2, t3;

		if (use_store) {
			if (cp_store_sli_devices(&canary, (const char *const *)ids, ncanary, s,
						 "det@2.0.0", T0, T0 + 60 * minutes, &err) ||
			    cp_store_sli_devices(&base, (const char *const *)ids + ncanary,
						 n - ncanary, s, "det@1.0.0", T0, T0 + 60 * minutes,
						 &err))
				die("query", &err);
			t1 = now_ms();
			for (size_t i = 0; i < n; i++)
				to_gate(&devs[i], ids[i], i < ncanary,
					i < ncanary ? &canary[i] : &base[i - ncanary],
					cfg.latency_quantile);
			cp_sli_aggs_free(canary, ncanary);
			cp_sli_aggs_free(base, n - ncanary);
		} else {
			t1 = now_ms();
			for (size_t i = 0; i < n; i++) {
				struct cp_gate_device *d = &devs[i];
				memset(d, 0, sizeof(*d));
				snprintf(d->id, sizeof(d->id), "%s", ids[i]);
				d->canary = i < ncanary;
				d->outcome = d->canary ? CP_GATE_COMMITTED : CP_GATE_PENDING;
				d->inferences = 300;
				d->latency_q_ms = 40 * exp(0.3 * gauss());
				d->error_ratio = 0.01 * uniform01();
				d->drift_ratio = uniform01() < 0.02 ? 0.2 : 0;
				d->carbon_per_inf_g = 1e-6 * exp(0.1 * gauss());
			}
		}
		t2 = now_ms();
		if (cp_gates_evaluate(&e, devs, n, &cfg, cfg.max_looks, NULL, 0, 0, &err))
			die("gates", &err);
		t3 = now_ms();
		verdict = e.verdict;
		query[r] = use_store ? t1 - t0 : 0;
		prep[r] = t2 - t1;
		eval[r] = t3 - t2;
		total[r] = t3 - t0;
	}
	qsort(query, (size_t)repeat, sizeof(double), cmp_double);
	qsort(prep, (size_t)repeat, sizeof(double), cmp_double);
	qsort(eval, (size_t)repeat, sizeof(double), cmp_double);
	qsort(total, (size_t)repeat, sizeof(double), cmp_double);
	/* Medians of the repeats: the figure is the typical cost, not the luckiest. */
	out = json_pack("{s:i, s:i, s:i, s:i, s:b, s:f, s:f, s:f, s:f, s:f, s:f, s:s}", "devices",
			(json_int_t)n, "canary", (json_int_t)ncanary, "minutes", minutes, "repeat",
			repeat, "store", use_store, "populate_ms", fill_ms, "query_ms",
			query[repeat / 2], "prepare_ms", prep[repeat / 2], "evaluate_ms",
			eval[repeat / 2], "total_ms", total[repeat / 2], "total_min_ms", total[0],
			"verdict",
			verdict == CP_GATE_PASS	  ? "pass"
			: verdict == CP_GATE_FAIL ? "fail"
						  : "wait");
	if (!out)
		die("json", NULL);
	{
		char *txt = fl_json_dumps(out);
		if (!txt)
			die("json", NULL);
		printf("%s\n", txt);
		free(txt);
	}
	json_decref(out);
	cp_store_free(s);
	if (use_store) {
		/* Remove the database files we made (and the directory when ours). */
		const char *sfx[] = {"", "-wal", "-shm"};
		for (size_t i = 0; i < 3; i++) {
			snprintf(path, sizeof(path), "%s/fairlead.db%s", dir, sfx[i]);
			unlink(path);
		}
		rmdir(dir);
	}
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	free(devs);
	free(query);
	free(prep);
	free(eval);
	free(total);
	return 0;
}

/*
 * fairlead-anomaly - the reference inference module (docs/agent.md, "Line
 * protocol and C SDK"). It scores synthetic sensor readings (temp,
 * vibration, current) with a z-score anomaly model and reports every
 * inference to the agent through the C SDK.
 *
 * The model file is the release artifact:
 *   {"features": {"temp": {"mean": 60, "std": 5}, ...}, "threshold": 3.0,
 *    "work_us": 800}
 * An inference is the largest |z| of the readings against the model's
 * means, compared to threshold, plus a busy loop of work_us microseconds of
 * CPU that stands for the cost of a real model: a "3x slower model" is a
 * model file with 3x work_us. The file (or the symlink chain to it, such as
 * STATE/slots/NAME/current/model.json) is checked every second and re-read
 * when it changes, so an A/B flip takes effect without a restart.
 *
 * The readings come from a fixed generator (the world, not the model); --shift
 * moves every feature by X of its standard deviations, and --shift-file is
 * re-read every second so a test can shift the inputs mid-run. 'baseline'
 * prints the drift baseline of the unshifted generator for 'fairlead release
 * create --baseline FILE'.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fairlead/sli_sdk.h"

#define NFEAT	       3
#define DEFAULT_WORK   800
#define DEFAULT_THRESH 3.0
#define MAX_WORK_US    10000000

static const char *const feat_name[NFEAT] = {"temp", "vibration", "current"};
/* The world: what the sensors read when nothing has drifted. */
static const double gen_mean[NFEAT] = {60.0, 0.5, 2.0};
static const double gen_std[NFEAT] = {5.0, 0.1, 0.3};

static const char usage[] =
    "usage: fairlead-anomaly [run] [--socket PATH] [--model FILE] [--name NAME]\n"
    "                        [--rate N] [--shift X] [--shift-file FILE] [--seed S]\n"
    "                        [--duration DUR] [--energy-j-per-inf J] [--error-rate P]\n"
    "       fairlead-anomaly baseline [--samples N] [--bins B] [--seed S]\n"
    "       fairlead-anomaly model [--work-us N] [--threshold T]\n"
    "\n"
    "The reference inference module: z-score anomaly detection over synthetic\n"
    "sensor readings (temp, vibration, current), reported to the Fairlead agent.\n"
    "\n"
    "run (the default):\n"
    "  --socket PATH        the agent's SLI socket (default $FAIRLEAD_SLI_SOCKET)\n"
    "  --model FILE         model file, re-read when it or its symlink target\n"
    "                       changes (default: the built-in model)\n"
    "  --name NAME          release name reported as model= (default anomaly)\n"
    "  --rate N             inferences per second (default 20)\n"
    "  --shift X            shift the inputs by X standard deviations (default 0)\n"
    "  --shift-file FILE    read the shift from FILE every second (overrides --shift)\n"
    "  --seed S             random seed (default: from the time and the pid)\n"
    "  --duration DUR       stop after DUR seconds (suffix s, m, h; default: never)\n"
    "  --energy-j-per-inf J report J joules per inference (default: not reported,\n"
    "                       the agent estimates energy from CPU time)\n"
    "  --error-rate P       fraction of inferences that fail (err lines; default 0)\n"
    "baseline: the drift baseline JSON of the unshifted inputs on stdout\n"
    "  --samples N (default 50000)  --bins B (default 10, 2 to 64)  --seed S\n"
    "model: a model file on stdout\n"
    "  --work-us N (default 800)  --threshold T (default 3.0)\n";

struct model {
	double mean[NFEAT], std[NFEAT];
	double threshold;
	int64_t work_us;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---- randomness: xorshift64* and Box-Muller ---- */

static uint64_t rng_state = 1;

static double uniform01(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

static double gauss(void)
{
	double u = uniform01(), v = uniform01();

	if (u < 1e-300)
		u = 1e-300;
	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static void seed(uint64_t s)
{
	rng_state = s ? s * 0x9E3779B97F4A7C15ULL : 0x9E3779B97F4A7C15ULL;
	for (int i = 0; i < 8; i++)
		(void)uniform01();
}

static void read_sensors(double x[NFEAT], double shift)
{
	for (int i = 0; i < NFEAT; i++)
		x[i] = gen_mean[i] + gen_std[i] * (gauss() + shift);
}

/* ---- time ---- */

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU for work_us microseconds: the stand-in for a real model's cost. */
static double busy(int64_t work_us)
{
	int64_t end = mono_ns() + work_us * 1000;
	volatile double acc = 0;

	while (mono_ns() < end)
		for (int i = 0; i < 64; i++)
			acc += sqrt((double)i + acc * 1e-9);
	return acc;
}

/* ---- options ---- */

static int parse_double(double *out, const char *s)
{
	char *end = NULL;

	errno = 0;
	*out = strtod(s, &end);
	return s[0] && !*end && errno == 0 && isfinite(*out) ? 0 : -1;
}

static int parse_duration(double *out, const char *s)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!s[0] || errno || !isfinite(v) || v < 0 || end == s)
		return -1;
	if (!*end || strcmp(end, "s") == 0)
		*out = v;
	else if (strcmp(end, "m") == 0)
		*out = v * 60;
	else if (strcmp(end, "h") == 0)
		*out = v * 3600;
	else
		return -1;
	return 0;
}

static int bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "fairlead-anomaly: %s '%s'\n(see --help)\n", what, arg);
	return 2;
}

/* "--name VALUE" or "--name=VALUE": 1 and *v set, 0 no match, -1 missing. */
static int opt(const char **v, int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*v = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n])
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*v = argv[++*i];
	return 1;
}

/* ---- the model file ---- */

static void model_default(struct model *m)
{
	for (int i = 0; i < NFEAT; i++) {
		m->mean[i] = gen_mean[i];
		m->std[i] = gen_std[i];
	}
	m->threshold = DEFAULT_THRESH;
	m->work_us = DEFAULT_WORK;
}

static int model_load(struct model *out, const char *path, char *why, size_t cap)
{
	json_error_t je;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *f;
	struct model m;
	int rc = -1;

	model_default(&m);
	if (!j) {
		snprintf(why, cap, "%s", je.text);
		return -1;
	}
	f = json_object_get(j, "features");
	if (!json_is_object(j) || !json_is_object(f)) {
		snprintf(why, cap, "no \"features\" object");
		goto cleanup;
	}
	for (int i = 0; i < NFEAT; i++) {
		json_t *fe = json_object_get(f, feat_name[i]);
		json_t *mean = json_object_get(fe, "mean"), *sd = json_object_get(fe, "std");

		if (!json_is_number(mean) || !json_is_number(sd) || !(json_number_value(sd) > 0)) {
			snprintf(why, cap, "feature %s needs a number mean and a std > 0",
				 feat_name[i]);
			goto cleanup;
		}
		m.mean[i] = json_number_value(mean);
		m.std[i] = json_number_value(sd);
	}
	if (json_object_get(j, "threshold")) {
		if (!json_is_number(json_object_get(j, "threshold"))) {
			snprintf(why, cap, "threshold must be a number");
			goto cleanup;
		}
		m.threshold = json_number_value(json_object_get(j, "threshold"));
	}
	if (json_object_get(j, "work_us")) {
		json_t *w = json_object_get(j, "work_us");

		if (!json_is_integer(w) || json_integer_value(w) < 0 ||
		    json_integer_value(w) > MAX_WORK_US) {
			snprintf(why, cap, "work_us must be an integer 0 to %d", MAX_WORK_US);
			goto cleanup;
		}
		m.work_us = json_integer_value(w);
	}
	*out = m;
	rc = 0;
cleanup:
	json_decref(j);
	return rc;
}

/* What identifies the file behind path now (stat follows symlinks, so an
 * A/B flip of a "current" link is a different file). */
struct file_id {
	int ok;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

static struct file_id file_id(const char *path)
{
	struct file_id id = {0};
	struct stat st;

	if (stat(path, &st) == 0) {
		id.ok = 1;
		id.dev = st.st_dev;
		id.ino = st.st_ino;
		id.size = st.st_size;
		id.mtime = st.st_mtim;
	}
	return id;
}

static int file_id_eq(const struct file_id *a, const struct file_id *b)
{
	return a->ok == b->ok && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void read_shift(double *shift, const char *path)
{
	char buf[64];
	FILE *f = fopen(path, "r");
	double v;

	if (!f)
		return; /* absent: keep the last value */
	if (fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, " \t\r\n")] = '\0';
		if (parse_double(&v, buf) == 0)
			*shift = v;
	}
	fclose(f);
}

/* ---- subcommands ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmd_baseline(int argc, char **argv)
{
	long samples = 50000, bins = 10;
	unsigned long long s = 1;
	json_t *out = json_object();
	double *v;

	for (int i = 0; i < argc; i++) {
		const char *val = NULL;
		int m;
		char *end = NULL;

		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			json_decref(out);
			return 0;
		}
		if ((m = opt(&val, argc, argv, &i, "--samples")) > 0) {
			samples = strtol(val, &end, 10);
			if (!*val || *end || samples < 100 || samples > 10000000) {
				json_decref(out);
				return bad_usage("--samples: 100 to 10000000, not", val);
			}
		} else if (m == 0 && (m = opt(&val, argc, argv, &i, "--bins")) > 0) {
			bins = strtol(val, &end, 10);
			if (!*val || *end || bins < 2 || bins > 64) {
				json_decref(out);
				return bad_usage("--bins: 2 to 64, not", val);
			}
		} else if (m == 0 && (m = opt(&val, argc, argv, &i, "--seed")) > 0) {
			s = strtoull(val, &end, 10);
			if (!*val || *end) {
				json_decref(out);
				return bad_usage("--seed: a number, not", val);
			}
		} else {
			json_decref(out);
			return bad_usage(m < 0 ? "missing the value of" : "unknown argument",
					 argv[i]);
		}
	}
	if (!out || !(v = malloc((size_t)samples * sizeof(*v)))) {
		json_decref(out);
		fprintf(stderr, "fairlead-anomaly: out of memory\n");
		return 1;
	}
	seed(s);
	for (int f = 0; f < NFEAT; f++) {
		json_t *edges = json_array(), *p = json_array();
		double e[64];
		long counts[64] = {0};

		for (long i = 0; i < samples; i++)
			v[i] = gen_mean[f] + gen_std[f] * gauss();
		qsort(v, (size_t)samples, sizeof(*v), cmp_double);
		/* Equal-mass bins: edge k at the k/B quantile. */
		for (long k = 1; k < bins; k++) {
			e[k - 1] = v[(k * samples) / bins];
			json_array_append_new(edges, json_real(e[k - 1]));
		}
		for (long i = 0, b = 0; i < samples; i++) {
			while (b < bins - 1 && v[i] >= e[b])
				b++;
			counts[b]++;
		}
		for (long k = 0; k < bins; k++)
			json_array_append_new(p, json_real((double)counts[k] / (double)samples));
		json_object_set_new(
		    out, feat_name[f],
		    json_pack("{s:o,s:o,s:I}", "edges", edges, "p", p, "n", (json_int_t)samples));
	}
	free(v);
	json_dumpf(out, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
	fputc('\n', stdout);
	json_decref(out);
	return 0;
}

static int cmd_model(int argc, char **argv)
{
	struct model m;
	json_t *f, *out;

	model_default(&m);
	for (int i = 0; i < argc; i++) {
		const char *val = NULL;
		int k;
		char *end = NULL;

		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		}
		if ((k = opt(&val, argc, argv, &i, "--work-us")) > 0) {
			long long w = strtoll(val, &end, 10);

			if (!*val || *end || w < 0 || w > MAX_WORK_US)
				return bad_usage("--work-us: 0 to 10000000, not", val);
			m.work_us = w;
		} else if (k == 0 && (k = opt(&val, argc, argv, &i, "--threshold")) > 0) {
			if (parse_double(&m.threshold, val) < 0 || m.threshold <= 0)
				return bad_usage("--threshold: a number > 0, not", val);
		} else {
			return bad_usage(k < 0 ? "missing the value of" : "unknown argument",
					 argv[i]);
		}
	}
	f = json_object();
	for (int i = 0; i < NFEAT; i++)
		json_object_set_new(f, feat_name[i],
				    json_pack("{s:f,s:f}", "mean", m.mean[i], "std", m.std[i]));
	out = json_pack("{s:o,s:f,s:I}", "features", f, "threshold", m.threshold, "work_us",
			(json_int_t)m.work_us);
	json_dumpf(out, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
	fputc('\n', stdout);
	json_decref(out);
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	const char *sock = NULL, *model_path = NULL, *name = "anomaly", *shift_file = NULL;
	double rate = 20, shift = 0, duration = 0, energy = -1, error_rate = 0;
	/* Each module draws its own readings: with one shared default seed every
	 * device (and the baseline) would see the same stream, and drift
	 * statistics over a cohort would count the same sample many times. */
	unsigned long long s =
	    (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 20);
	struct model m;
	struct file_id mid = {0};
	struct fl_sli sli;
	struct sigaction sa;
	uint64_t n = 0, anomalies = 0;
	int64_t start, next, last_sec;

	for (int i = 0; i < argc; i++) {
		const char *v = NULL;
		int k;

		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		}
		if ((k = opt(&sock, argc, argv, &i, "--socket")) != 0 ||
		    (k = opt(&model_path, argc, argv, &i, "--model")) != 0 ||
		    (k = opt(&name, argc, argv, &i, "--name")) != 0 ||
		    (k = opt(&shift_file, argc, argv, &i, "--shift-file")) != 0) {
			if (k < 0)
				return bad_usage("missing the value of", argv[i]);
			continue;
		}
		if ((k = opt(&v, argc, argv, &i, "--rate")) > 0) {
			if (parse_double(&rate, v) < 0 || rate <= 0 || rate > 100000)
				return bad_usage("--rate: inferences per second, not", v);
		} else if (k == 0 && (k = opt(&v, argc, argv, &i, "--shift")) > 0) {
			if (parse_double(&shift, v) < 0)
				return bad_usage("--shift: a number, not", v);
		} else if (k == 0 && (k = opt(&v, argc, argv, &i, "--seed")) > 0) {
			char *end = NULL;

			s = strtoull(v, &end, 10);
			if (!*v || *end)
				return bad_usage("--seed: a number, not", v);
		} else if (k == 0 && (k = opt(&v, argc, argv, &i, "--duration")) > 0) {
			if (parse_duration(&duration, v) < 0)
				return bad_usage("--duration: e.g. 30s, 5m, not", v);
		} else if (k == 0 && (k = opt(&v, argc, argv, &i, "--energy-j-per-inf")) > 0) {
			if (parse_double(&energy, v) < 0 || energy < 0)
				return bad_usage("--energy-j-per-inf: joules >= 0, not", v);
		} else if (k == 0 && (k = opt(&v, argc, argv, &i, "--error-rate")) > 0) {
			if (parse_double(&error_rate, v) < 0 || error_rate < 0 || error_rate > 1)
				return bad_usage("--error-rate: 0 to 1, not", v);
		} else {
			return bad_usage(k < 0 ? "missing the value of" : "unknown argument",
					 argv[i]);
		}
	}
	if (!fl_sli__word_ok(name, 64, 1))
		return bad_usage("--name: not a valid release name:", name);
	model_default(&m);
	if (model_path) {
		char why[256];

		mid = file_id(model_path);
		if (model_load(&m, model_path, why, sizeof(why)) < 0) {
			fprintf(stderr, "fairlead-anomaly: model %s: %s\n", model_path, why);
			return 1;
		}
	}
	if (shift_file)
		read_shift(&shift, shift_file);
	if (fl_sli_open(&sli, sock) < 0)
		fprintf(stderr, "fairlead-anomaly: no agent socket (%s); running unreported\n",
			sock ? sock : "$" FL_SLI_ENV " unset");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	seed(s);
	start = next = mono_ns();
	last_sec = start - 1000000000;
	fprintf(stderr, "fairlead-anomaly: %s at %.1f/s, work_us %lld, shift %.2f\n", name, rate,
		(long long)m.work_us, shift);
	while (!stop) {
		int64_t now = mono_ns(), t0;
		double x[NFEAT], score = 0;
		struct fl_sli_feature f[NFEAT];

		if (duration > 0 && (double)(now - start) >= duration * 1e9)
			break;
		if (now - last_sec >= 1000000000) {
			last_sec = now;
			fl_sli_hb(&sli, name);
			if (shift_file)
				read_shift(&shift, shift_file);
			if (model_path) {
				struct file_id id = file_id(model_path);
				char why[256];

				if (!file_id_eq(&id, &mid)) {
					mid = id;
					if (model_load(&m, model_path, why, sizeof(why)) == 0)
						fprintf(stderr,
							"fairlead-anomaly: model reloaded, "
							"work_us %lld\n",
							(long long)m.work_us);
					else
						fprintf(stderr,
							"fairlead-anomaly: model %s: %s; keeping "
							"the last one\n",
							model_path, why);
				}
			}
		}
		read_sensors(x, shift);
		if (error_rate > 0 && uniform01() < error_rate) {
			fl_sli_err(&sli, name, "injected");
		} else {
			t0 = mono_ns();
			for (int i = 0; i < NFEAT; i++) {
				double z = fabs((x[i] - m.mean[i]) / m.std[i]);

				score = z > score ? z : score;
				f[i].name = feat_name[i];
				f[i].value = x[i];
			}
			(void)busy(m.work_us);
			anomalies += score > m.threshold;
			fl_sli_inf(&sli, name, (double)(mono_ns() - t0) / 1e6, 1, energy, f, NFEAT);
		}
		n++;
		next += (int64_t)(1e9 / rate);
		now = mono_ns();
		if (next < now - 1000000000)
			next = now; /* far behind (suspended): do not burst */
		if (next > now) {
			struct timespec ts = {(time_t)(next / 1000000000),
					      (long)(next % 1000000000)};

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		}
	}
	fprintf(stderr,
		"fairlead-anomaly: %llu inferences, %llu anomalies; lines sent %llu, failed "
		"%llu, invalid %llu\n",
		(unsigned long long)n, (unsigned long long)anomalies, (unsigned long long)sli.sent,
		(unsigned long long)sli.failed, (unsigned long long)sli.invalid);
	fl_sli_close(&sli);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "baseline") == 0)
		return cmd_baseline(argc - 2, argv + 2);
	if (argc > 1 && strcmp(argv[1], "model") == 0)
		return cmd_model(argc - 2, argv + 2);
	if (argc > 1 && strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 2, argv + 2);
	return cmd_run(argc - 1, argv + 1);
}

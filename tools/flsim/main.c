/*
 * fairlead-sim - the fleet simulator (see sim.h).
 *
 *   fairlead-sim run     --server URL --ca FILE [--preloaded N --seed S]
 *                        [--enroll N --enroll-token T] [options]
 *   fairlead-sim gen-db  --db DATA/fairlead.db --count N --seed S [--first I]
 *   fairlead-sim fetch   --url URL --ca FILE --count K [--seed S --index I]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/crypto.h"
#include "fairlead/util.h"
#include "sim.h"

static const char usage[] =
    "usage: fairlead-sim run --server URL --ca FILE [options]\n"
    "       fairlead-sim gen-db --db FILE --count N --seed S [--first I] [--id-prefix P]\n"
    "                           [--labels JSON]\n"
    "       fairlead-sim fetch --url URL --ca FILE --count K [--concurrency C]\n"
    "                          [--seed S --index I] [--json] [--out FILE]\n"
    "\n"
    "run: plays devices against fairleadd with the real device protocol.\n"
    "  --preloaded N          devices registered by gen-db with the same --seed\n"
    "  --first I              first preloaded index (default 0)\n"
    "  --seed S               key seed of preloaded devices (default 'fairlead')\n"
    "  --id-prefix P          preloaded device ids: P + 7 digits (default 'sim-')\n"
    "  --enroll N             devices that first enroll with --enroll-token\n"
    "  --enroll-token T       enrollment token (fle_...), auto-accept for check-ins\n"
    "  --enroll-prefix P      ids of enrolled devices (default 'enr-')\n"
    "  --interval SECS|server poll interval; 0 (default): as fast as possible;\n"
    "                         'server': the interval each check-in reply suggests\n"
    "  --concurrency N        requests in flight at most (default 16)\n"
    "  --conns N              connections at most (default: --concurrency)\n"
    "  --duration DUR         measured time, e.g. 10, 30s, 2h (default 10s)\n"
    "  --warmup SECS          unmeasured time first (default 0); with --conn-mode device\n"
    "                         it lasts until every device has its connection open\n"
    "  --progress SECS        a progress line on stderr every SECS (soak runs)\n"
    "  --report-rate F        share 0..1 of requests that are SLI reports (default 0)\n"
    "  --report-batch N       reports per request, 1..64 (default 1)\n"
    "  --report-inferences N  inferences (samples) per report (default 1200)\n"
    "  --fail-install PCT     updates that fail to install, percent\n"
    "  --bad-signature PCT    requests sent with a wrong signature (expect 401)\n"
    "  --drop PCT             requests abandoned at the first reply byte\n"
    "  --timeout-ms MS        per request (default 30000)\n"
    "  --conn-mode M          shared (default): devices share --conns kept-alive\n"
    "                         connections; device: each device keeps its own alive;\n"
    "                         new: a new connection per request, resuming the\n"
    "                         device's TLS session\n"
    "  --server-pid PID       report that process's CPU time over the measured window\n"
    "                         and per 2xx check-in (server_cpu in the result)\n"
    "  --json                 print the result as JSON (default: text)\n"
    "  --out FILE             also write the JSON result to FILE\n"
    "  --label L              a name for the run, kept in the result\n";

static int parse_secs(double *out, const char *s)
{
	char *end;
	double v = strtod(s, &end), mul = 1;

	if (end == s || v < 0)
		return -1;
	if (*end == 's')
		end++;
	else if (*end == 'm')
		mul = 60, end++;
	else if (*end == 'h')
		mul = 3600, end++;
	else if (*end == 'd')
		mul = 86400, end++;
	if (*end)
		return -1;
	*out = v * mul;
	return 0;
}

static int parse_long(long *out, const char *s, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int bad(const char *opt)
{
	fprintf(stderr, "fairlead-sim: bad value for %s\n", opt);
	return 2;
}

int main(int argc, char **argv)
{
	enum {
		O_SERVER = 256,
		O_CA,
		O_PRELOADED,
		O_FIRST,
		O_SEED,
		O_PREFIX,
		O_ENROLL,
		O_TOKEN,
		O_EPREFIX,
		O_INTERVAL,
		O_CONC,
		O_CONNS,
		O_DURATION,
		O_WARMUP,
		O_PROGRESS,
		O_RRATE,
		O_RBATCH,
		O_RINF,
		O_FAILINST,
		O_BADSIG,
		O_DROP,
		O_TIMEOUT,
		O_JSON,
		O_OUT,
		O_LABEL,
		O_DB,
		O_COUNT,
		O_LABELS,
		O_URL,
		O_INDEX,
		O_CONNMODE,
		O_SERVERPID,
	};
	static const struct option opts[] = {
	    {"server", required_argument, NULL, O_SERVER},
	    {"ca", required_argument, NULL, O_CA},
	    {"preloaded", required_argument, NULL, O_PRELOADED},
	    {"first", required_argument, NULL, O_FIRST},
	    {"seed", required_argument, NULL, O_SEED},
	    {"id-prefix", required_argument, NULL, O_PREFIX},
	    {"enroll", required_argument, NULL, O_ENROLL},
	    {"enroll-token", required_argument, NULL, O_TOKEN},
	    {"enroll-prefix", required_argument, NULL, O_EPREFIX},
	    {"interval", required_argument, NULL, O_INTERVAL},
	    {"concurrency", required_argument, NULL, O_CONC},
	    {"conns", required_argument, NULL, O_CONNS},
	    {"duration", required_argument, NULL, O_DURATION},
	    {"warmup", required_argument, NULL, O_WARMUP},
	    {"progress", required_argument, NULL, O_PROGRESS},
	    {"report-rate", required_argument, NULL, O_RRATE},
	    {"report-batch", required_argument, NULL, O_RBATCH},
	    {"report-inferences", required_argument, NULL, O_RINF},
	    {"fail-install", required_argument, NULL, O_FAILINST},
	    {"bad-signature", required_argument, NULL, O_BADSIG},
	    {"drop", required_argument, NULL, O_DROP},
	    {"timeout-ms", required_argument, NULL, O_TIMEOUT},
	    {"json", no_argument, NULL, O_JSON},
	    {"out", required_argument, NULL, O_OUT},
	    {"label", required_argument, NULL, O_LABEL},
	    {"db", required_argument, NULL, O_DB},
	    {"count", required_argument, NULL, O_COUNT},
	    {"labels", required_argument, NULL, O_LABELS},
	    {"url", required_argument, NULL, O_URL},
	    {"index", required_argument, NULL, O_INDEX},
	    {"conn-mode", required_argument, NULL, O_CONNMODE},
	    {"server-pid", required_argument, NULL, O_SERVERPID},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sim_run_opts r;
	struct sim_gendb_opts g;
	struct sim_fetch_opts f;
	struct fl_err err = {0, ""};
	const char *cmd;
	int c, rc;
	double pct;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	if (strcmp(cmd, "run") != 0 && strcmp(cmd, "gen-db") != 0 && strcmp(cmd, "fetch") != 0) {
		fprintf(stderr, "fairlead-sim: unknown command '%s'\n%s", cmd, usage);
		return 2;
	}
	if (fl_crypto_init() < 0) {
		fprintf(stderr, "fairlead-sim: cannot initialise libsodium\n");
		return 1;
	}
	memset(&r, 0, sizeof(r));
	memset(&g, 0, sizeof(g));
	memset(&f, 0, sizeof(f));
	r.seed = g.seed = "fairlead";
	r.id_prefix = g.id_prefix = f.id_prefix = "sim-";
	r.enroll_prefix = "enr-";
	r.concurrency = 16;
	r.duration_s = 10;
	r.report_batch = 1;
	r.report_inferences = 1200;
	r.timeout_ms = 30000;
	f.count = 10;
	f.concurrency = 4;
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(usage, stdout); return 0;
		case O_SERVER: r.server = optarg; break;
		case O_CA: r.ca = f.ca = optarg; break;
		case O_PRELOADED:
			if (parse_long(&r.preloaded, optarg, 0, 100000000) < 0)
				return bad("--preloaded");
			break;
		case O_FIRST:
			if (parse_long(&r.first, optarg, 0, 9999999) < 0)
				return bad("--first");
			g.first = r.first;
			break;
		case O_SEED: r.seed = g.seed = f.seed = optarg; break;
		case O_PREFIX: r.id_prefix = g.id_prefix = f.id_prefix = optarg; break;
		case O_ENROLL:
			if (parse_long(&r.enroll, optarg, 0, 10000000) < 0)
				return bad("--enroll");
			break;
		case O_TOKEN: r.enroll_token = optarg; break;
		case O_EPREFIX: r.enroll_prefix = optarg; break;
		case O_INTERVAL:
			if (strcmp(optarg, "server") == 0) {
				r.use_server_interval = 1;
				r.interval_s = 1;
			} else if (parse_secs(&r.interval_s, optarg) < 0) {
				return bad("--interval");
			}
			break;
		case O_CONC:
			if (parse_long(&r.concurrency, optarg, 1, 100000) < 0)
				return bad("--concurrency");
			f.concurrency = r.concurrency;
			break;
		case O_CONNS:
			if (parse_long(&r.conns, optarg, 1, 100000) < 0)
				return bad("--conns");
			break;
		case O_DURATION:
			if (parse_secs(&r.duration_s, optarg) < 0)
				return bad("--duration");
			break;
		case O_WARMUP:
			if (parse_secs(&r.warmup_s, optarg) < 0)
				return bad("--warmup");
			break;
		case O_PROGRESS:
			if (parse_secs(&r.progress_s, optarg) < 0)
				return bad("--progress");
			break;
		case O_RRATE:
			if (parse_secs(&r.report_rate, optarg) < 0 || r.report_rate > 1)
				return bad("--report-rate");
			break;
		case O_RBATCH:
			if (parse_long(&r.report_batch, optarg, 1, 64) < 0)
				return bad("--report-batch");
			break;
		case O_RINF:
			if (parse_long(&r.report_inferences, optarg, 1, 100000000) < 0)
				return bad("--report-inferences");
			break;
		case O_FAILINST:
		case O_BADSIG:
		case O_DROP:
			if (parse_secs(&pct, optarg) < 0 || pct > 100)
				return bad("a percentage");
			if (c == O_FAILINST)
				r.fail_install = pct;
			else if (c == O_BADSIG)
				r.bad_signature = pct;
			else
				r.drop = pct;
			break;
		case O_TIMEOUT:
			if (parse_long(&r.timeout_ms, optarg, 100, 3600000) < 0)
				return bad("--timeout-ms");
			f.timeout_ms = r.timeout_ms;
			break;
		case O_JSON: r.json = f.json = 1; break;
		case O_OUT: r.out_file = f.out_file = optarg; break;
		case O_LABEL: r.label = f.label = optarg; break;
		case O_DB: g.db = optarg; break;
		case O_COUNT:
			if (parse_long(&g.count, optarg, 1, 100000000) < 0)
				return bad("--count");
			f.count = g.count;
			break;
		case O_LABELS: g.labels_json = optarg; break;
		case O_URL: f.url = optarg; break;
		case O_INDEX:
			if (parse_long(&f.index, optarg, 0, 9999999) < 0)
				return bad("--index");
			break;
		case O_CONNMODE:
			if (strcmp(optarg, "shared") == 0)
				r.conn_mode = SIM_CONN_SHARED;
			else if (strcmp(optarg, "device") == 0)
				r.conn_mode = SIM_CONN_DEVICE;
			else if (strcmp(optarg, "new") == 0)
				r.conn_mode = SIM_CONN_NEW;
			else
				return bad("--conn-mode");
			break;
		case O_SERVERPID:
			if (parse_long(&r.server_pid, optarg, 1, 4194304) < 0)
				return bad("--server-pid");
			break;
		default: return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fairlead-sim: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (strcmp(cmd, "gen-db") == 0) {
		if (!g.db || g.count <= 0) {
			fprintf(stderr, "fairlead-sim: gen-db needs --db FILE and --count N\n");
			return 2;
		}
		rc = sim_gendb(&g, &err);
		if (rc == 0)
			printf("registered %ld devices %s%07ld..%s%07ld in %s\n", g.count,
			       g.id_prefix, g.first, g.id_prefix, g.first + g.count - 1, g.db);
	} else if (strcmp(cmd, "fetch") == 0) {
		if (!f.url) {
			fprintf(stderr, "fairlead-sim: fetch needs --url URL\n");
			return 2;
		}
		/* Only an explicit --seed signs (fairleadd); a plain file server gets none. */
		rc = sim_fetch(&f, &err);
	} else {
		if (!r.server) {
			fprintf(stderr, "fairlead-sim: run needs --server URL\n");
			return 2;
		}
		if (r.enroll > 0 && !r.enroll_token) {
			fprintf(stderr, "fairlead-sim: --enroll needs --enroll-token\n");
			return 2;
		}
		rc = sim_run(&r, &err);
	}
	if (rc < 0) {
		fprintf(stderr, "fairlead-sim: %s\n", err.msg[0] ? err.msg : "failed");
		return 1;
	}
	return 0;
}

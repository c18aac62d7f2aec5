/*
 * fairleadd - the Fairlead control plane.
 *
 *   fairleadd init  --data DIR
 *   fairleadd serve --data DIR [--listen 127.0.0.1:PORT] [options]
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "app.h"
#include "fairlead/crypto.h"
#include "fairlead/fs.h"
#include "fairlead/log.h"
#include "fairlead/util.h"
#include "http/server.h"
#include "pki/pki.h"
#include "relstore/relstore.h"

static const char usage_main[] =
    "usage: fairleadd init --data DIR\n"
    "       fairleadd serve --data DIR [--listen 127.0.0.1:PORT] [options]\n"
    "\n"
    "  init   create DIR: database, git release repository, TLS CA and server\n"
    "         certificate (DIR/tls/ca.pem), server keys and an admin API token\n"
    "         in DIR/admin.token (mode 0600)\n"
    "  serve  serve the API, the console and the agents over HTTPS until SIGTERM,\n"
    "         then drain requests in flight and flush pending writes\n"
    "\n"
    "Run 'fairleadd COMMAND --help' for a command's options.\n";

static const char usage_serve[] =
    "usage: fairleadd serve --data DIR [options]\n"
    "  --listen ADDR:PORT     address to listen on (default 127.0.0.1:8443)\n"
    "  --web DIR              console files to serve (default: none)\n"
    "  --threads N            worker threads that run handlers (default 16)\n"
    "  --io-threads N         event-loop threads that hold connections (default 2)\n"
    "  --queue-max N          requests waiting for a worker before 503 (default 4096)\n"
    "  --queue-wait-ms MS     longest wait for a worker before 503 (default 2000)\n"
    "  --max-connections N    open connections at most (default 20000)\n"
    "  --max-conn-per-ip N    open connections per client address (default 0: no limit)\n"
    "  --header-timeout-ms MS a request head must arrive within this (default 10000)\n"
    "  --max-headers N        header lines of a request, 431 past it (default 100)\n"
    "  --poll-interval SECS   check-in interval suggested to agents (default 30)\n"
    "  --flush-ms MS          write-behind interval (default 1000)\n"
    "  --max-body BYTES       request body limit (default 1048576)\n"
    "  --max-artifact BYTES   limit of one uploaded artifact (default 2147483648)\n"
    "  --max-header BYTES     request header limit (default 8192)\n"
    "  --request-timeout-ms MS  (default 30000)\n"
    "  --keepalive-ms MS      idle time before a connection is closed, rounded up to\n"
    "                         whole seconds (default 5000)\n"
    "  --rate-device R        requests/s per device key, burst 4R (default 10; 0: off)\n"
    "  --rate-token R         requests/s per API token, burst 4R (default 50; 0: off)\n"
    "  --rate-anon R          requests/s per address on unauthenticated routes and\n"
    "                         failed authentication, burst 5R (default 20; 0: off)\n"
    "  --log-level LEVEL      debug, info, warn or error (default info)\n"
    "  --carbon FILE          SCI carbon table (default DATA/carbon.json if present)\n"
    "  --retention-minute DUR keep per-device minute SLIs (default 2d)\n"
    "  --retention-5m DUR     keep 5-minute SLI rollups (default 35d)\n"
    "  --retention-1h DUR     keep hourly SLI rollups (default 400d)\n"
    "  --ingest-queue N       SLI reports queued before 503 (default 20000)\n"
    "  --metrics-public       serve GET /metrics without a token\n"
    "  --slo-dir DIR          SLO definition files, *.json and OpenSLO *.yaml/*.yml\n"
    "                         (default DATA/slo.d; a bad file stops the start)\n"
    "  --slo-eval-ms MS       SLO evaluation interval (default 10000)\n"
    "  --playbook-tick-ms MS  playbook engine round interval (default 250)\n"
    "  --webhook-ca FILE      CA certificates that playbook webhook receivers are\n"
    "                         verified with (default: the system's)\n"
    "  --skip-check           start without checking the database (PRAGMA quick_check)\n";

static int die(const char *what, const struct fl_err *err)
{
	fprintf(stderr, "fairleadd: %s: %s\n", what, err->msg[0] ? err->msg : "failed");
	return 1;
}

static int cmd_init(const char *dir)
{
	char path[PATH_MAX];
	struct cp_store *store = NULL;
	struct fl_err err = {0, ""};
	struct cp_token t;
	struct cp_audit_rec a;
	uint8_t pk[FL_ED25519_PK_LEN], sk[FL_ED25519_SK_LEN];
	char b64[128], hash[65];
	char *secret = NULL;
	int rc = 1;

	snprintf(path, sizeof(path), "%s/fairlead.db", dir);
	if (fl_fs_exists(path)) {
		fprintf(stderr, "fairleadd: '%s' is already initialised\n", dir);
		return 1;
	}
	if (fl_fs_mkdir_p(dir, 0700, &err) < 0)
		return die("init", &err);
	chmod(dir, 0700);
	snprintf(path, sizeof(path), "%s/tls", dir);
	if (cp_pki_init(path, &err) < 0)
		return die("TLS", &err);
	snprintf(path, sizeof(path), "%s/releases.git", dir);
	if (cp_relstore_init(path, &err) < 0)
		return die("release repository", &err);

	/* The server's online key (timestamps, director assignments). Release and
	 * root keys never live here. */
	snprintf(path, sizeof(path), "%s/keys", dir);
	if (fl_fs_mkdir_p(path, 0700, &err) < 0)
		return die("keys", &err);
	fl_ed25519_keypair(pk, sk);
	fl_b64_encode(b64, sk, sizeof(sk));
	snprintf(path, sizeof(path), "%s/keys/server.key", dir);
	if (fl_fs_write_atomic(path, b64, strlen(b64), 0600, &err) < 0)
		goto fail;
	fl_b64_encode(b64, pk, sizeof(pk));
	snprintf(path, sizeof(path), "%s/keys/server.pub", dir);
	if (fl_fs_write_atomic(path, b64, strlen(b64), 0644, &err) < 0)
		goto fail;

	snprintf(path, sizeof(path), "%s/fairlead.db", dir);
	if (cp_store_open(&store, path, -1, &err) < 0)
		goto fail;
	secret = fl_token_new("flt", 32);
	if (!secret)
		goto fail;
	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "tok-admin");
	snprintf(t.role, sizeof(t.role), "admin");
	snprintf(t.name, sizeof(t.name), "initial admin");
	t.created_at = fl_now();
	fl_sha256_hex(hash, secret, strlen(secret));
	a.actor = "fairleadd init";
	a.action = "token.create";
	a.target = t.id;
	a.details = json_pack("{s:s,s:s}", "role", "admin", "name", t.name);
	rc = cp_store_token_add(store, &t, hash, &a, &err);
	json_decref(a.details);
	if (rc < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/admin.token", dir);
	{
		char line[128];

		snprintf(line, sizeof(line), "%s\n", secret);
		if (fl_fs_write_atomic(path, line, strlen(line), 0600, &err) < 0)
			goto fail;
	}
	printf(
	    "initialised %s\n  CA certificate: %s/tls/ca.pem\n  admin token:    %s/admin.token\n",
	    dir, dir, dir);
	rc = 0;
	goto out;
fail:
	rc = die("init", &err);
out:
	memset(sk, 0, sizeof(sk));
	if (secret)
		memset(secret, 0, strlen(secret));
	free(secret);
	cp_store_free(store);
	return rc;
}

static int num_opt(long *out, const char *s, long lo, long hi, const char *name)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		fprintf(stderr, "fairleadd: %s must be %ld..%ld\n", name, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

/* Each connection is a descriptor: a server meant to hold tens of thousands
 * of them needs the soft limit raised to the hard one (or to what
 * --max-connections needs, with room for files and the database). */
static void raise_fd_limit(const struct cp_config *cfg)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)cfg->max_connections + 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < (rlim_t)cfg->max_connections)
		fl_log(FL_LOG_WARN,
		       "open files limited to %llu: fewer than --max-connections %d can be "
		       "held",
		       (unsigned long long)rl.rlim_cur, cfg->max_connections);
}

static int cmd_serve(struct cp_config *cfg)
{
	struct fl_err err = {0, ""};
	struct cp_app *app = NULL;
	struct cp_http *http = NULL;
	sigset_t set;
	int sig = 0, host_len, rc;
	char tls[1100];

	snprintf(tls, sizeof(tls), "%s/tls", cfg->data_dir);
	if (cp_pki_check(tls, &err) < 0)
		return die("TLS", &err);
	/* Block the stop signals in every thread; the main thread waits for them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit(cfg);

	if (cp_app_new(&app, cfg, &err) < 0)
		return die("start", &err);
	if (cp_releases_reconcile(app, &err) < 0) {
		cp_app_free(app, NULL);
		return die("releases", &err);
	}
	/* Signatures created in the start second are refused (core/replay.h):
	 * listen only once it is over, so that no fresh one can be made in it. */
	while (fl_now() <= app->started_at)
		usleep(20 * 1000);
	if (cp_http_start(&http, app, &err) < 0) {
		cp_app_free(app, NULL);
		return die("start", &err);
	}
	/* The bound port, not the flag's: with --listen ADDR:0 the kernel picks
	 * it, and this line is how scripts learn it. */
	host_len = strrchr(cfg->listen, ':') ? (int)(strrchr(cfg->listen, ':') - cfg->listen) : 0;
	fl_log(FL_LOG_INFO, "fairleadd %s serving https://%.*s:%d (%zu devices)", FL_VERSION,
	       host_len, cfg->listen, cp_http_port(http), cp_registry_count(app->reg));
	sigwait(&set, &sig);
	fl_log(FL_LOG_INFO, "signal %d: draining requests", sig);
	cp_http_stop(http);
	rc = cp_app_free(app, &err);
	if (rc < 0) {
		fl_log(FL_LOG_ERROR, "final flush failed: %s", err.msg);
		return 1;
	}
	fl_log(FL_LOG_INFO, "stopped cleanly");
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		O_LISTEN = 256,
		O_WEB,
		O_THREADS,
		O_POLL,
		O_FLUSH,
		O_BODY,
		O_HEADER,
		O_TIMEOUT,
		O_RDEV,
		O_RTOK,
		O_RANON,
		O_LOG,
		O_KEEPALIVE,
		O_ARTIFACT,
		O_CARBON,
		O_RET_MIN,
		O_RET_5M,
		O_RET_1H,
		O_INGEST_QUEUE,
		O_METRICS_PUBLIC,
		O_SLO_DIR,
		O_SLO_EVAL,
		O_PB_TICK,
		O_WEBHOOK_CA,
		O_IO_THREADS,
		O_QUEUE_MAX,
		O_QUEUE_WAIT,
		O_MAX_CONN,
		O_MAX_CONN_IP,
		O_HEADER_TIMEOUT,
		O_MAX_HEADERS,
		O_SKIP_CHECK
	};
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"listen", required_argument, NULL, O_LISTEN},
	    {"web", required_argument, NULL, O_WEB},
	    {"threads", required_argument, NULL, O_THREADS},
	    {"poll-interval", required_argument, NULL, O_POLL},
	    {"flush-ms", required_argument, NULL, O_FLUSH},
	    {"max-body", required_argument, NULL, O_BODY},
	    {"max-header", required_argument, NULL, O_HEADER},
	    {"request-timeout-ms", required_argument, NULL, O_TIMEOUT},
	    {"rate-device", required_argument, NULL, O_RDEV},
	    {"rate-token", required_argument, NULL, O_RTOK},
	    {"rate-anon", required_argument, NULL, O_RANON},
	    {"log-level", required_argument, NULL, O_LOG},
	    {"keepalive-ms", required_argument, NULL, O_KEEPALIVE},
	    {"max-artifact", required_argument, NULL, O_ARTIFACT},
	    {"carbon", required_argument, NULL, O_CARBON},
	    {"retention-minute", required_argument, NULL, O_RET_MIN},
	    {"retention-5m", required_argument, NULL, O_RET_5M},
	    {"retention-1h", required_argument, NULL, O_RET_1H},
	    {"ingest-queue", required_argument, NULL, O_INGEST_QUEUE},
	    {"metrics-public", no_argument, NULL, O_METRICS_PUBLIC},
	    {"slo-dir", required_argument, NULL, O_SLO_DIR},
	    {"slo-eval-ms", required_argument, NULL, O_SLO_EVAL},
	    {"playbook-tick-ms", required_argument, NULL, O_PB_TICK},
	    {"webhook-ca", required_argument, NULL, O_WEBHOOK_CA},
	    {"io-threads", required_argument, NULL, O_IO_THREADS},
	    {"queue-max", required_argument, NULL, O_QUEUE_MAX},
	    {"queue-wait-ms", required_argument, NULL, O_QUEUE_WAIT},
	    {"max-connections", required_argument, NULL, O_MAX_CONN},
	    {"max-conn-per-ip", required_argument, NULL, O_MAX_CONN_IP},
	    {"header-timeout-ms", required_argument, NULL, O_HEADER_TIMEOUT},
	    {"max-headers", required_argument, NULL, O_MAX_HEADERS},
	    {"skip-check", no_argument, NULL, O_SKIP_CHECK},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cp_config cfg;
	const char *cmd, *data = NULL;
	long v;
	int c;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage_main, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("fairleadd %s\n", FL_VERSION);
		return 0;
	}
	cmd = argv[1];
	if (strcmp(cmd, "init") != 0 && strcmp(cmd, "serve") != 0) {
		fprintf(stderr, "fairleadd: unknown command '%s'\n%s", cmd, usage_main);
		return 2;
	}
	/* The database holds token hashes and device keys: owner-only files. */
	umask(077);
	if (fl_crypto_init() < 0) {
		fprintf(stderr, "fairleadd: cannot initialise libsodium\n");
		return 1;
	}
	cp_config_defaults(&cfg);
	/* A served data directory always has its release parts (init makes them). */
	cfg.require_releases = 1;
	optind = 2;
	while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'h':
			fputs(strcmp(cmd, "init") == 0 ? "usage: fairleadd init --data DIR\n"
						       : usage_serve,
			      stdout);
			return 0;
		case O_LISTEN: snprintf(cfg.listen, sizeof(cfg.listen), "%s", optarg); break;
		case O_WEB:
			if (!realpath(optarg, cfg.web_dir)) {
				fprintf(stderr, "fairleadd: --web: '%s' not found\n", optarg);
				return 2;
			}
			break;
		case O_THREADS:
			if (num_opt(&v, optarg, 1, 512, "--threads") < 0)
				return 2;
			cfg.threads = (int)v;
			break;
		case O_POLL:
			if (num_opt(&v, optarg, 1, 86400, "--poll-interval") < 0)
				return 2;
			cfg.poll_interval = (int)v;
			break;
		case O_FLUSH:
			if (num_opt(&v, optarg, 10, 60000, "--flush-ms") < 0)
				return 2;
			cfg.flush_ms = (int)v;
			break;
		case O_BODY:
			if (num_opt(&v, optarg, 1024, 1L << 30, "--max-body") < 0)
				return 2;
			cfg.max_body = (size_t)v;
			break;
		case O_ARTIFACT: {
			char *end;
			unsigned long long n;

			errno = 0;
			n = strtoull(optarg, &end, 10);
			if (errno || *end || n < 1 || optarg[0] == '-') {
				fprintf(stderr, "fairleadd: --max-artifact must be a byte count\n");
				return 2;
			}
			cfg.max_artifact = n;
			break;
		}
		case O_HEADER:
			if (num_opt(&v, optarg, 1024, 1L << 20, "--max-header") < 0)
				return 2;
			cfg.max_header = (size_t)v;
			break;
		case O_TIMEOUT:
			if (num_opt(&v, optarg, 100, 3600000, "--request-timeout-ms") < 0)
				return 2;
			cfg.request_timeout_ms = (int)v;
			break;
		case O_KEEPALIVE:
			if (num_opt(&v, optarg, 0, 600000, "--keepalive-ms") < 0)
				return 2;
			cfg.keepalive_ms = (int)v;
			break;
		case O_RDEV:
			if (num_opt(&v, optarg, 0, 1000000, "--rate-device") < 0)
				return 2;
			cfg.device_rate = (double)v;
			cfg.device_burst = 4.0 * (double)v;
			break;
		case O_RTOK:
			if (num_opt(&v, optarg, 0, 1000000, "--rate-token") < 0)
				return 2;
			cfg.token_rate = (double)v;
			cfg.token_burst = 4.0 * (double)v;
			break;
		case O_RANON:
			if (num_opt(&v, optarg, 0, 1000000, "--rate-anon") < 0)
				return 2;
			cfg.anon_rate = (double)v;
			cfg.anon_burst = 5.0 * (double)v;
			break;
		case O_SLO_DIR:
			if (!realpath(optarg, cfg.slo_dir)) {
				fprintf(stderr, "fairleadd: --slo-dir: '%s' not found\n", optarg);
				return 2;
			}
			break;
		case O_SLO_EVAL:
			if (num_opt(&v, optarg, 50, 3600000, "--slo-eval-ms") < 0)
				return 2;
			cfg.slo_eval_ms = (int)v;
			break;
		case O_PB_TICK:
			if (num_opt(&v, optarg, 10, 60000, "--playbook-tick-ms") < 0)
				return 2;
			cfg.playbook_tick_ms = (int)v;
			break;
		case O_WEBHOOK_CA:
			if (!realpath(optarg, cfg.webhook_ca)) {
				fprintf(stderr, "fairleadd: --webhook-ca: '%s' not found\n", optarg);
				return 2;
			}
			break;
		case O_LOG: {
			enum fl_log_level lvl;

			if (fl_log_parse_level(&lvl, optarg) < 0) {
				fprintf(stderr, "fairleadd: bad --log-level '%s'\n", optarg);
				return 2;
			}
			fl_log_set_level(lvl);
			break;
		}
		case O_CARBON:
			if (!realpath(optarg, cfg.carbon_path)) {
				fprintf(stderr, "fairleadd: --carbon: '%s' not found\n", optarg);
				return 2;
			}
			break;
		case O_RET_MIN:
		case O_RET_5M:
		case O_RET_1H: {
			struct fl_err derr = {0, ""};
			int64_t secs;

			if (fl_duration_parse(&secs, optarg, &derr) < 0) {
				fprintf(stderr, "fairleadd: --retention-*: %s\n", derr.msg);
				return 2;
			}
			if (c == O_RET_MIN)
				cfg.ingest.retention_minute_s = secs;
			else if (c == O_RET_5M)
				cfg.ingest.retention_5m_s = secs;
			else
				cfg.ingest.retention_1h_s = secs;
			break;
		}
		case O_INGEST_QUEUE:
			if (num_opt(&v, optarg, 1, 10000000, "--ingest-queue") < 0)
				return 2;
			cfg.ingest.max_pending = (size_t)v;
			break;
		case O_METRICS_PUBLIC: cfg.metrics_public = 1; break;
		case O_IO_THREADS:
			if (num_opt(&v, optarg, 1, 64, "--io-threads") < 0)
				return 2;
			cfg.io_threads = (int)v;
			break;
		case O_QUEUE_MAX:
			if (num_opt(&v, optarg, 1, 1000000, "--queue-max") < 0)
				return 2;
			cfg.queue_max = (size_t)v;
			break;
		case O_QUEUE_WAIT:
			if (num_opt(&v, optarg, 1, 600000, "--queue-wait-ms") < 0)
				return 2;
			cfg.queue_wait_ms = (int)v;
			break;
		case O_MAX_CONN:
			if (num_opt(&v, optarg, 1, 10000000, "--max-connections") < 0)
				return 2;
			cfg.max_connections = (int)v;
			break;
		case O_MAX_CONN_IP:
			if (num_opt(&v, optarg, 0, 10000000, "--max-conn-per-ip") < 0)
				return 2;
			cfg.max_conn_per_ip = (int)v;
			break;
		case O_HEADER_TIMEOUT:
			if (num_opt(&v, optarg, 100, 600000, "--header-timeout-ms") < 0)
				return 2;
			cfg.header_timeout_ms = (int)v;
			break;
		case O_MAX_HEADERS:
			if (num_opt(&v, optarg, 8, 10000, "--max-headers") < 0)
				return 2;
			cfg.max_headers = (size_t)v;
			break;
		case O_SKIP_CHECK: cfg.skip_check = 1; break;
		default: return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fairleadd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!data) {
		fprintf(stderr, "fairleadd: --data DIR is required\n");
		return 2;
	}
	if (strcmp(cmd, "init") == 0)
		return cmd_init(data);
	if (!realpath(data, cfg.data_dir)) {
		fprintf(stderr, "fairleadd: data directory '%s' not found (run fairleadd init)\n",
			data);
		return 1;
	}
	return cmd_serve(&cfg);
}

/*
 * fairlead-agent: the device side of Fairlead. Parses the command line and
 * hands each subcommand to its module; all logic lives in the fl_agent
 * library so tests exercise it without this file.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/clock.h"
#include "agent/commands.h"
#include "agent/enroll.h"
#include "fairlead/crypto.h"
#include "fairlead/log.h"
#include "fairlead/util.h"
#include "agent/inventory.h"
#include "agent/key.h"
#include "agent/poll.h"
#include "agent/reports.h"
#include "agent/root.h"
#include "agent/rotate.h"
#include "agent/sli.h"
#include "agent/state.h"
#include "agent/transport.h"

#define EXIT_USAGE 2

struct globals {
	const char *server;
	const char *ca;
	const char *state;
	const char *log_level;
};

static const char usage_main[] =
    "usage: fairlead-agent [--server URL] [--ca FILE] --state DIR [--log-level LEVEL]\n"
    "                      COMMAND [ARGS]\n"
    "\n"
    "The Fairlead device agent: enrolls this device and keeps it checked in.\n"
    "\n"
    "commands:\n"
    "  enroll      generate the device key and enroll with the server\n"
    "  keygen      create the device key and print its public key\n"
    "  run         the check-in loop, until SIGTERM or SIGINT\n"
    "  rotate-key  replace the device key (signed by the old and the new key)\n"
    "\n"
    "global options:\n"
    "  --server URL       the server, https://HOST:PORT (run and rotate-key default\n"
    "                     to the one recorded at enrollment)\n"
    "  --ca FILE          PEM CA certificate to pin (default: the system store)\n"
    "  --state DIR        state directory: device key, identity, twin, results\n"
    "  --log-level LEVEL  debug, info, warn or error (default info)\n"
    "  -h, --help         this help; 'fairlead-agent COMMAND --help' for a command\n"
    "  --version          print the version\n";

static const char usage_enroll[] =
    "usage: fairlead-agent --server URL --ca FILE --state DIR enroll\n"
    "                      [--token TOKEN] [--label K=V]... [--id ID]\n"
    "                      [--hw-model M] [--firmware-version V] [--root FILE]\n"
    "\n"
    "Generates the device's Ed25519 key in DIR (mode 0600; reused when 'keygen'\n"
    "made it), proves possession of it over a server challenge and enrolls.\n"
    "Without --token the device enrolls as preauthorized ('fairlead device\n"
    "preauthorize'). Prints the device id and its state ('pending' or\n"
    "'accepted') and exits 0; exits non-zero with the reason otherwise.\n"
    "\n"
    "  --token TOKEN   enrollment token (fle_...)\n"
    "  --label K=V     label for this device, repeatable (the token's win)\n"
    "  --id ID         device id (default: dev- and 12 hex digits of the key id)\n"
    "  --hw-model M, --firmware-version V   as for 'run', sent as inventory\n"
    "  --root FILE     the initial trusted release root (root.json from the key\n"
    "                  ceremony), checked against its own root keys before\n"
    "                  anything is sent; without it no update is ever installed\n";

static const char usage_keygen[] =
    "usage: fairlead-agent --state DIR keygen\n"
    "\n"
    "Creates the device key in DIR when absent and prints its public key\n"
    "(base64) alone on stdout, for 'fairlead device preauthorize ID --pubkey'.\n";

static const char usage_run[] =
    "usage: fairlead-agent [--server URL] [--ca FILE] --state DIR run [--once]\n"
    "                      [--hw-model M] [--firmware-version V] [--max-backoff DUR]\n"
    "\n"
    "Checks in with the server at the interval it suggests (+-10%), reporting\n"
    "inventory, the applied twin and command results; applies the desired twin\n"
    "and runs commands. Backs off exponentially on errors. Stops on SIGTERM or\n"
    "SIGINT with exit status 0.\n"
    "\n"
    "  --once                  one check-in; exit 0 when the server accepted it\n"
    "  --hw-model M            hardware model (default: devicetree, DMI, unknown)\n"
    "  --firmware-version V    firmware version (default: VERSION_ID of os-release)\n"
    "  --max-backoff DUR       longest wait after errors, e.g. 60s, 5m (default 5m)\n"
    "  --download-attempts N   tries per artifact before an update fails (default 5)\n"
    "  --low-speed-limit BPS   abandon a download attempt slower than BPS bytes/s ...\n"
    "  --low-speed-time DUR    ... for this long (defaults 1024 and 60s)\n"
    "  --health-timeout DUR    longest run of a release's health command (default 5m)\n"
    "\n"
    "Command hooks (docs/agent.md, \"Command hooks\"):\n"
    "  --command-hook TYPE=PATH  run the executable PATH (absolute) for commands of\n"
    "                          TYPE: reboot, restart-module, calibrate or\n"
    "                          health-check; repeatable, once per type. Without\n"
    "                          one a type is refused; ping is built in\n"
    "  --command-timeout DUR   longest run of a command hook, 1s to 1h (default 60s)\n"
    "\n"
    "SLIs (docs/agent.md, \"SLIs and drift\"):\n"
    "  --sli-socket PATH       where inference modules report (default STATE/sli.sock)\n"
    "  --report-window DUR     length of an SLI report window (default 60s)\n"
    "  --device-power-w W      device power for the CPU-time energy estimate\n"
    "                          (default 2.0)\n"
    "  --report-buffer N       reports kept on disk while offline (default 1440);\n"
    "                          beyond it the oldest are dropped and counted\n"
    "  --no-sli                no SLI socket and no reports\n";

static const char usage_rotate[] =
    "usage: fairlead-agent [--server URL] [--ca FILE] --state DIR rotate-key\n"
    "\n"
    "Generates a new device key and asks the server to switch to it; the request\n"
    "is signed by the old key and carries a proof by the new one. Prints the new\n"
    "key id. Safe against crashes: an interrupted rotation is settled by the\n"
    "next check-in.\n";

static int usage_error(const char *usage, const char *fmt, ...) FL_PRINTF(2, 3);

static int usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fairlead-agent: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	/* The first lines of the command's usage, not a wall of text. */
	fprintf(stderr, "\n%.*s(see --help)\n", (int)strcspn(usage, "\n") + 1, usage);
	return EXIT_USAGE;
}

/* Matches argv[*i] against "--name VALUE" or "--name=VALUE". Returns 1 and
 * advances *i on a match, 0 when it is another argument, -1 when the value
 * is missing. */
static int opt_value(const char **out, int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*out = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*out = argv[++*i];
	return 1;
}

/* The global options, also accepted after the command name. */
static int global_opt(struct globals *g, int argc, char **argv, int *i)
{
	int m;

	if ((m = opt_value(&g->server, argc, argv, i, "--server")) != 0 ||
	    (m = opt_value(&g->ca, argc, argv, i, "--ca")) != 0 ||
	    (m = opt_value(&g->state, argc, argv, i, "--state")) != 0 ||
	    (m = opt_value(&g->log_level, argc, argv, i, "--log-level")) != 0)
		return m;
	return 0;
}

static int is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

static int fail(const char *what, const struct fl_err *err)
{
	fprintf(stderr, "fairlead-agent: %s: %s\n", what, err->msg[0] ? err->msg : "failed");
	return EXIT_FAILURE;
}

/* Applies the log level and checks that a state directory was given. */
static int need_state(const struct globals *g, const char *usage)
{
	enum fl_log_level level;

	if (g->log_level) {
		if (fl_log_parse_level(&level, g->log_level) < 0)
			return usage_error(usage, "bad --log-level '%s'", g->log_level);
		fl_log_set_level(level);
	}
	if (!g->state || !*g->state)
		return usage_error(usage, "%s", "--state DIR is required");
	return 0;
}

/* Makes this process the only agent on the state directory until it exits
 * (create: make the directory first, for the commands that may start it). */
static int lock_state(int *fd, const struct globals *g, int create, const char *what)
{
	struct fl_err err = {0};

	if ((create && ag_state_dir_init(g->state, &err) < 0) ||
	    ag_state_lock(fd, g->state, &err) < 0)
		return fail(what, &err);
	return 0;
}

/* The server to talk to: the flag, else the one recorded at enrollment. */
static int open_transport(struct ag_transport **t, const struct globals *g, struct fl_err *err)
{
	struct ag_identity id;
	const char *server = g->server;
	int rc;

	if (!server) {
		if ((rc = ag_state_load_identity(&id, g->state, err)) < 0)
			return rc;
		server = id.server;
		if (!*server)
			return fl_err_set(err, FL_EINVAL, "no server recorded; pass --server URL");
	}
	return ag_transport_http_new(t, server, g->ca, err);
}

static int cmd_keygen(struct globals *g, int argc, char **argv)
{
	struct fl_err err = {0};
	struct ag_key key;
	int lock = -1, rc;

	for (int i = 0; i < argc; i++) {
		int m;

		if (is_help(argv[i])) {
			fputs(usage_keygen, stdout);
			return 0;
		}
		if ((m = global_opt(g, argc, argv, &i)) == 0)
			return usage_error(usage_keygen, "unknown argument '%s'", argv[i]);
		if (m < 0)
			return usage_error(usage_keygen, "%s needs a value", argv[i]);
	}
	if ((rc = need_state(g, usage_keygen)) != 0 ||
	    (rc = lock_state(&lock, g, 1, "keygen")) != 0)
		return rc;
	if (ag_key_ensure(&key, NULL, g->state, &err) < 0) {
		rc = fail("keygen", &err);
		goto cleanup;
	}
	printf("%s\n", key.pk_b64);
	ag_key_wipe(&key);
cleanup:
	close(lock);
	return rc;
}

static int cmd_enroll(struct globals *g, int argc, char **argv)
{
	struct ag_enroll_opts eo = {0};
	struct ag_inventory_opts io = {0};
	struct ag_transport *t = NULL;
	struct ag_identity id;
	struct fl_err err = {0};
	struct fl_trust_root root;
	const char *root_file = NULL;
	json_t *labels = json_object(), *inv = NULL;
	int lock = -1, rc = EXIT_FAILURE;

	if (!labels) {
		fprintf(stderr, "fairlead-agent: out of memory\n");
		return EXIT_FAILURE;
	}
	for (int i = 0; i < argc; i++) {
		const char *v = NULL;
		int m;

		if (is_help(argv[i])) {
			fputs(usage_enroll, stdout);
			rc = 0;
			goto cleanup;
		}
		if ((m = global_opt(g, argc, argv, &i)) == 0 &&
		    (m = opt_value(&eo.token, argc, argv, &i, "--token")) == 0 &&
		    (m = opt_value(&eo.device_id, argc, argv, &i, "--id")) == 0 &&
		    (m = opt_value(&io.hw_model, argc, argv, &i, "--hw-model")) == 0 &&
		    (m = opt_value(&io.firmware_version, argc, argv, &i, "--firmware-version")) ==
			0 &&
		    (m = opt_value(&root_file, argc, argv, &i, "--root")) == 0 &&
		    (m = opt_value(&v, argc, argv, &i, "--label")) == 0) {
			rc = usage_error(usage_enroll, "unknown argument '%s'", argv[i]);
			goto cleanup;
		}
		if (m < 0) {
			rc = usage_error(usage_enroll, "%s needs a value", argv[i]);
			goto cleanup;
		}
		if (v) {
			char k[64], val[64];

			if (fl_label_parse(k, sizeof(k), val, sizeof(val), v, &err) < 0) {
				rc = usage_error(usage_enroll, "%s", err.msg);
				goto cleanup;
			}
			json_object_set_new(labels, k, json_string(val));
		}
	}
	if ((rc = need_state(g, usage_enroll)) != 0)
		goto cleanup;
	if (!g->server) {
		rc = usage_error(usage_enroll, "%s", "--server URL is required");
		goto cleanup;
	}
	rc = EXIT_FAILURE;
	if (eo.token && !*eo.token) {
		rc = usage_error(usage_enroll, "%s", "--token must not be empty");
		goto cleanup;
	}
	if ((rc = lock_state(&lock, g, 1, "enroll")) != 0)
		goto cleanup;
	rc = EXIT_FAILURE;
	/* The root is checked before the server hears of this device, so a bad
	 * file costs nothing; it is stored only once enrollment succeeded. */
	if (root_file) {
		char tmpdir[] = "/tmp/fl-root.XXXXXX";

		if (!mkdtemp(tmpdir)) {
			fprintf(stderr, "fairlead-agent: mkdtemp: %s\n", strerror(errno));
			goto cleanup;
		}
		rc = ag_root_install(&root, tmpdir, root_file, fl_now(), &err);
		{
			char p[sizeof(tmpdir) + 16];

			snprintf(p, sizeof(p), "%s/%s", tmpdir, AG_ROOT_FILE);
			unlink(p);
			rmdir(tmpdir);
		}
		if (rc < 0) {
			rc = fail("enroll", &err);
			goto cleanup;
		}
		rc = EXIT_FAILURE;
	}
	if (ag_inventory_collect(&inv, &io, &err) < 0 ||
	    ag_transport_http_new(&t, g->server, g->ca, &err) < 0) {
		rc = fail("enroll", &err);
		goto cleanup;
	}
	eo.dir = g->state;
	eo.server = g->server;
	eo.labels = labels;
	eo.inventory = inv;
	eo.now = fl_now();
	if (ag_enroll_run(&id, t, &eo, &err) < 0) {
		rc = fail("enroll", &err);
		goto cleanup;
	}
	if (root_file) {
		if (ag_root_install(&root, g->state, root_file, fl_now(), &err) < 0) {
			rc = fail("enroll --root", &err);
			goto cleanup;
		}
		fprintf(stderr, "fairlead-agent: trusting release root version %lld\n",
			(long long)root.version);
	} else {
		fprintf(stderr, "fairlead-agent: no --root given: this device will refuse every "
				"update until it has a trusted root\n");
	}
	printf("%s %s\n", id.device_id, id.state);
	rc = 0;
cleanup:
	if (lock >= 0)
		close(lock);
	ag_transport_free(t);
	json_decref(labels);
	json_decref(inv);
	return rc;
}

static int wake_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;
	ssize_t n = write(wake_pipe[1], &c, 1);

	(void)n; /* a full pipe already wakes the loop */
	errno = saved;
}

static int setup_signals(struct fl_err *err)
{
	struct sigaction sa;

	if (pipe(wake_pipe) != 0)
		return fl_err_set(err, FL_ERROR, "pipe: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		fcntl(wake_pipe[i], F_SETFD, FD_CLOEXEC);
		fcntl(wake_pipe[i], F_SETFL, O_NONBLOCK);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
		return fl_err_set(err, FL_ERROR, "sigaction: %s", strerror(errno));
	return 0;
}

static int cmd_run(struct globals *g, int argc, char **argv)
{
	struct ag_poll_opts po = {0};
	struct ag_transport *t = NULL;
	struct ag_poll *p = NULL;
	struct ag_clock clock;
	struct fl_err err = {0};
	const char *backoff = NULL, *attempts = NULL, *lsl = NULL, *lst = NULL, *hto = NULL;
	const char *window = NULL, *power = NULL, *rbuf = NULL, *cto = NULL;
	struct ag_commands_opts co = {0};
	struct ag_sli_opts so = {0};
	struct ag_sli *sli = NULL;
	struct ag_reports *reports = NULL;
	size_t report_max = 0;
	int once = 0, no_sli = 0, lock = -1, rc;

	for (int i = 0; i < argc; i++) {
		const char *hook = NULL;
		int m;

		if (is_help(argv[i])) {
			fputs(usage_run, stdout);
			return 0;
		}
		if (strcmp(argv[i], "--once") == 0) {
			once = 1;
			continue;
		}
		if (strcmp(argv[i], "--no-sli") == 0) {
			no_sli = 1;
			continue;
		}
		if ((m = global_opt(g, argc, argv, &i)) == 0 &&
		    (m = opt_value(&po.hw_model, argc, argv, &i, "--hw-model")) == 0 &&
		    (m = opt_value(&po.firmware_version, argc, argv, &i, "--firmware-version")) ==
			0 &&
		    (m = opt_value(&backoff, argc, argv, &i, "--max-backoff")) == 0 &&
		    (m = opt_value(&attempts, argc, argv, &i, "--download-attempts")) == 0 &&
		    (m = opt_value(&lsl, argc, argv, &i, "--low-speed-limit")) == 0 &&
		    (m = opt_value(&lst, argc, argv, &i, "--low-speed-time")) == 0 &&
		    (m = opt_value(&hto, argc, argv, &i, "--health-timeout")) == 0 &&
		    (m = opt_value(&so.socket_path, argc, argv, &i, "--sli-socket")) == 0 &&
		    (m = opt_value(&window, argc, argv, &i, "--report-window")) == 0 &&
		    (m = opt_value(&power, argc, argv, &i, "--device-power-w")) == 0 &&
		    (m = opt_value(&rbuf, argc, argv, &i, "--report-buffer")) == 0 &&
		    (m = opt_value(&hook, argc, argv, &i, "--command-hook")) == 0 &&
		    (m = opt_value(&cto, argc, argv, &i, "--command-timeout")) == 0)
			return usage_error(usage_run, "unknown argument '%s'", argv[i]);
		if (m < 0)
			return usage_error(usage_run, "%s needs a value", argv[i]);
		/* Checked before the agent starts: a hook that cannot run would
		 * otherwise show up only when a command needs it. */
		if (hook && ag_commands_hook_add(&co, hook, &err) < 0)
			return usage_error(usage_run, "--command-hook: %s", err.msg);
	}
	if ((rc = need_state(g, usage_run)) != 0)
		return rc;
	if (backoff) {
		int64_t s = 0;

		if (fl_duration_parse(&s, backoff, &err) < 0)
			return usage_error(usage_run, "--max-backoff: %s", err.msg);
		po.max_backoff_ms = s * 1000;
	}
	if (attempts) {
		char *end = NULL;
		long n = strtol(attempts, &end, 10);

		if (!*attempts || *end || n < 1 || n > 1000)
			return usage_error(usage_run, "--download-attempts: 1 to 1000, not '%s'",
					   attempts);
		po.download_attempts = (int)n;
	}
	if (lsl) {
		char *end = NULL;
		long n = strtol(lsl, &end, 10);

		if (!*lsl || *end || n < 0)
			return usage_error(usage_run,
					   "--low-speed-limit: bytes per second, not '%s'", lsl);
		po.low_speed_bps = n == 0 ? -1 : n;
	}
	if (lst) {
		int64_t s = 0;

		if (fl_duration_parse(&s, lst, &err) < 0 || s < 1)
			return usage_error(usage_run, "--low-speed-time: %s", err.msg);
		po.low_speed_s = (long)s;
	}
	if (hto) {
		int64_t s = 0;

		if (fl_duration_parse(&s, hto, &err) < 0 || s < 1)
			return usage_error(usage_run, "--health-timeout: %s", err.msg);
		po.health_timeout_s = s;
	}
	if (window) {
		int64_t s = 0;

		if (fl_duration_parse(&s, window, &err) < 0 || s < 1 || s > 86400)
			return usage_error(usage_run, "--report-window: 1s to 24h, not '%s'",
					   window);
		so.window_s = s;
	}
	if (power) {
		char *end = NULL;
		double w = strtod(power, &end);

		if (!*power || *end || !(w > 0) || w > 100000)
			return usage_error(usage_run, "--device-power-w: watts > 0, not '%s'",
					   power);
		so.device_power_w = w;
	}
	if (rbuf) {
		char *end = NULL;
		long n = strtol(rbuf, &end, 10);

		if (!*rbuf || *end || n < 1 || n > 1000000)
			return usage_error(usage_run, "--report-buffer: 1 to 1000000, not '%s'",
					   rbuf);
		report_max = (size_t)n;
	}
	if (cto) {
		int64_t s = 0;

		if (fl_duration_parse(&s, cto, &err) < 0 || s < 1 || s > AG_COMMANDS_TIMEOUT_MAX_S)
			return usage_error(usage_run, "--command-timeout: 1s to 1h, not '%s'", cto);
		co.timeout_s = s;
	}
	po.commands = &co;
	po.dir = g->state;
	so.dir = g->state;
	if ((rc = lock_state(&lock, g, 0, "run")) != 0)
		return rc;
	rc = EXIT_FAILURE;
	if (setup_signals(&err) < 0 || open_transport(&t, g, &err) < 0) {
		rc = fail("run", &err);
		goto cleanup;
	}
	ag_clock_system(&clock, &wake_pipe[0]);
	/* Reports kept from before are delivered even with --no-sli or --once;
	 * only the socket and new windows depend on the flag. */
	if (ag_reports_open(&reports, g->state, report_max, 0, &err) < 0) {
		rc = fail("run", &err);
		goto cleanup;
	}
	po.reports = reports;
	so.emit = ag_reports_add;
	so.emit_ctx = reports;
	if (!no_sli && !once &&
	    (ag_sli_new(&sli, &clock, &so, &err) < 0 || ag_sli_start(sli, &err) < 0)) {
		rc = fail("run: SLI socket", &err);
		goto cleanup;
	}
	if (ag_poll_new(&p, t, &clock, &po, &err) < 0) {
		rc = fail("run", &err);
		goto cleanup;
	}
	if (once) {
		int64_t delay;

		if (ag_poll_once(&delay, p, &err) < 0) {
			rc = fail("check-in", &err);
			goto cleanup;
		}
		rc = 0;
		goto cleanup;
	}
	rc = ag_poll_run(p, &err) < 0 ? fail("run", &err) : 0;
cleanup:
	ag_sli_free(sli); /* its last window goes to reports first */
	ag_poll_free(p);
	ag_reports_free(reports);
	ag_transport_free(t);
	close(lock);
	return rc;
}

static int cmd_rotate(struct globals *g, int argc, char **argv)
{
	char keyid[FL_KEYID_LEN + 1];
	struct ag_transport *t = NULL;
	struct ag_clock clock;
	struct fl_err err = {0};
	int lock = -1, rc;

	for (int i = 0; i < argc; i++) {
		int m;

		if (is_help(argv[i])) {
			fputs(usage_rotate, stdout);
			return 0;
		}
		if ((m = global_opt(g, argc, argv, &i)) == 0)
			return usage_error(usage_rotate, "unknown argument '%s'", argv[i]);
		if (m < 0)
			return usage_error(usage_rotate, "%s needs a value", argv[i]);
	}
	if ((rc = need_state(g, usage_rotate)) != 0 ||
	    (rc = lock_state(&lock, g, 0, "rotate-key")) != 0)
		return rc;
	rc = EXIT_FAILURE;
	if (open_transport(&t, g, &err) < 0) {
		rc = fail("rotate-key", &err);
		goto cleanup;
	}
	/* An earlier rotation that never heard back is settled first, by the
	 * same check-in 'run' would make. */
	if (ag_state_exists(g->state, AG_KEY_NEW_FILE)) {
		struct ag_poll *p = NULL;
		struct ag_poll_opts po = {0};
		int64_t delay;

		po.dir = g->state;
		/* 'run' knows the command hooks; this check-in leaves commands
		 * to it rather than refusing them. */
		po.defer_commands = 1;
		ag_clock_system(&clock, NULL);
		if (ag_poll_new(&p, t, &clock, &po, &err) == 0)
			(void)ag_poll_once(&delay, p, &err);
		ag_poll_free(p);
		fl_err_clear(&err);
	}
	if (ag_rotate_run(keyid, t, g->state, &err) < 0) {
		rc = fail("rotate-key", &err);
		goto cleanup;
	}
	printf("%s\n", keyid);
	rc = 0;
cleanup:
	ag_transport_free(t);
	close(lock);
	return rc;
}

int main(int argc, char **argv)
{
	struct globals g = {0};
	int i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		int m;

		if (is_help(argv[i])) {
			fputs(usage_main, stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("fairlead-agent %s\n", FL_VERSION);
			return 0;
		}
		if ((m = global_opt(&g, argc, argv, &i)) == 0)
			return usage_error(usage_main, "unknown option '%s'", argv[i]);
		if (m < 0)
			return usage_error(usage_main, "%s needs a value", argv[i]);
	}
	if (i >= argc)
		return usage_error(usage_main, "%s", "no command given");
	if (fl_crypto_init() < 0) {
		fprintf(stderr, "fairlead-agent: cannot initialise the crypto library\n");
		return EXIT_FAILURE;
	}
	if (strcmp(argv[i], "enroll") == 0)
		return cmd_enroll(&g, argc - i - 1, argv + i + 1);
	if (strcmp(argv[i], "keygen") == 0)
		return cmd_keygen(&g, argc - i - 1, argv + i + 1);
	if (strcmp(argv[i], "run") == 0)
		return cmd_run(&g, argc - i - 1, argv + i + 1);
	if (strcmp(argv[i], "rotate-key") == 0)
		return cmd_rotate(&g, argc - i - 1, argv + i + 1);
	if (strcmp(argv[i], "help") == 0) {
		fputs(usage_main, stdout);
		return 0;
	}
	return usage_error(usage_main, "unknown command '%s'", argv[i]);
}

/*
 * test_httpc_session.c - TLS of the HTTPS client against `openssl s_server
 * -www`, which answers each request on a connection of its own and writes
 * into the page whether the handshake was "New" or "Reused": a second
 * connection of a client resumes the session of the first, clients on one
 * share resume each other's, and a certificate the pinned CA did not sign is
 * a TLS error (FL_ETLS) that does not blame the clock.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fairlead/httpc.h"
#include "fl_test.h"

static char dir[256];
static char url[64];
static char ca[300];
static pid_t server = -1;

static void run(const char *cmd)
{
	if (system(cmd) != 0)
		cr_fatal("failed: %s", cmd);
}

/* A self-signed cert for 127.0.0.1 (ca.pem: client pins it), another one it
 * did not sign (other.pem), then s_server on a port it picks and prints. */
static void start(void)
{
	char cmd[1024], log[300];
	FILE *f;
	int port = 0;

	snprintf(dir, sizeof(dir), "%s", fl_test_tmpdir());
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && for n in ca other; do openssl req -x509 -newkey ec -pkeyopt "
		 "ec_paramgen_curve:P-256 -nodes -keyout $n.key -out $n.pem -days 2 "
		 "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null || exit 1; "
		 "done",
		 dir);
	run(cmd);
	snprintf(log, sizeof(log), "%s/server.out", dir);
	server = fork();
	if (server == 0) {
		char cert[300], key[300];

		snprintf(cert, sizeof(cert), "%s/ca.pem", dir);
		snprintf(key, sizeof(key), "%s/ca.key", dir);
		if (!freopen(log, "w", stdout) || !freopen("/dev/null", "w", stderr))
			_exit(127);
		execlp("openssl", "openssl", "s_server", "-www", "-accept", "127.0.0.1:0", "-cert",
		       cert, "-key", key, (char *)NULL);
		_exit(127);
	}
	cr_assert(server > 0, "fork: %s", strerror(errno));
	/* Waits for the "ACCEPT 127.0.0.1:PORT" line, not for a time. */
	for (int i = 0; i < 500 && port == 0; i++) {
		char line[128];

		if ((f = fopen(log, "r"))) {
			while (fgets(line, sizeof(line), f))
				if (sscanf(line, "ACCEPT 127.0.0.1:%d", &port) == 1)
					break;
			fclose(f);
		}
		if (port == 0)
			usleep(10000);
	}
	cr_assert(port > 0, "s_server did not start");
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
}

static void stop(void)
{
	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
	}
	server = -1;
}

TestSuite(httpc_session, .init = start, .fini = stop);

/* GET / and returns "New" or "Reused" (or "?") from s_server's page. */
static const char *handshake(struct fl_httpc *c)
{
	struct fl_http_resp r;
	struct fl_err err = {0};
	const char *kind = "?";

	cr_assert_eq(fl_httpc_do(&r, c, "GET", "/", NULL, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(r.status, 200);
	cr_assert(fl_buf_put(&r.body, "", 1) == 0);
	if (strstr(r.body.ptr, "\nReused, "))
		kind = "Reused";
	else if (strstr(r.body.ptr, "\nNew, "))
		kind = "New";
	fl_http_resp_release(&r);
	return kind;
}

Test(httpc_session, new_connection_resumes)
{
	struct fl_httpc_opts o = {.base_url = url, .ca_file = ca};
	struct fl_httpc *c = NULL;
	struct fl_err err = {0};

	cr_assert_eq(fl_httpc_new(&c, &o, &err), 0, "%s", err.msg);
	cr_expect_str_eq(handshake(c), "New");
	/* s_server closed that connection: this is a new one. */
	cr_expect_str_eq(handshake(c), "Reused");
	cr_expect_str_eq(handshake(c), "Reused");
	fl_httpc_free(c);
}

Test(httpc_session, clients_on_one_share_resume_each_other)
{
	struct fl_httpc_share *share = NULL;
	struct fl_httpc *a = NULL, *b = NULL;
	struct fl_err err = {0};

	cr_assert_eq(fl_httpc_share_new(&share, &err), 0, "%s", err.msg);
	struct fl_httpc_opts o = {.base_url = url, .ca_file = ca, .share = share};
	cr_assert_eq(fl_httpc_new(&a, &o, &err), 0, "%s", err.msg);
	cr_assert_eq(fl_httpc_new(&b, &o, &err), 0, "%s", err.msg);
	cr_expect_str_eq(handshake(a), "New");
	cr_expect_str_eq(handshake(b), "Reused", "b resumes the session a made");
	fl_httpc_free(a);
	fl_httpc_free(b);
	fl_httpc_share_free(share);
}

Test(httpc_session, clients_without_a_share_do_not)
{
	struct fl_httpc_opts o = {.base_url = url, .ca_file = ca};
	struct fl_httpc *a = NULL, *b = NULL;
	struct fl_err err = {0};

	cr_assert_eq(fl_httpc_new(&a, &o, &err), 0, "%s", err.msg);
	cr_assert_eq(fl_httpc_new(&b, &o, &err), 0, "%s", err.msg);
	cr_expect_str_eq(handshake(a), "New");
	cr_expect_str_eq(handshake(b), "New", "each client has a share of its own");
	fl_httpc_free(a);
	fl_httpc_free(b);
}

Test(httpc_session, untrusted_certificate_is_a_tls_error)
{
	char other[320];
	struct fl_httpc_opts o = {.base_url = url, .ca_file = other};
	struct fl_httpc *c = NULL;
	struct fl_http_resp r;
	struct fl_err err = {0};

	snprintf(other, sizeof(other), "%s/other.pem", dir);
	cr_assert_eq(fl_httpc_new(&c, &o, &err), 0, "%s", err.msg);
	cr_expect_eq(fl_httpc_do(&r, c, "GET", "/", NULL, 0, &err), FL_ETLS);
	cr_expect_eq(err.code, FL_ETLS);
	cr_expect(strstr(err.msg, "TLS with https://127.0.0.1:") != NULL, "%s", err.msg);
	cr_expect(strstr(err.msg, "clock") == NULL, "not a clock problem: %s", err.msg);
	fl_httpc_free(c);
}

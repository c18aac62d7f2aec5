/* test_webhook.c - the webhook sender without a receiver: the signature
 * against a value computed independently (Python's hmac), the secret's
 * rules, URLs refused before any connection, and a receiver that is not
 * there counted as worth a retry. The signed POST itself is tested against
 * a real HTTPS receiver by the integration tests. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "fl_test.h"
#include "playbook/webhook.h"

TestSuite(webhook, .timeout = 30);

Test(webhook, signature_is_hmac_of_time_dot_body)
{
	char sig[CP_PB_WEBHOOK_SIG_MAX];

	/* hmac.new(b"0123456789abcdef", b'1900000000.{"a":1}', "sha256") */
	cp_pb_webhook_sign(sig, "0123456789abcdef", 16, 1900000000LL, "{\"a\":1}", 7);
	cr_assert_str_eq(
	    sig,
	    "t=1900000000,v1=f6538ef7cd68affcd45072f60dd79775ce6daaee8950c750aa1e037f52c1277d");
	cp_pb_webhook_sign(sig, "0123456789abcdef", 16, 1900000001LL, "{\"a\":1}", 7);
	cr_assert(strstr(sig, "f6538ef7") == NULL, "the time is not signed: %s", sig);
}

Test(webhook, secret_unset_empty_short_or_good)
{
	struct fl_err err = {0, ""};
	char *s = NULL;
	size_t n = 0;

	unsetenv("FL_TEST_WH");
	cr_assert_eq(cp_pb_webhook_secret(&s, &n, "FL_TEST_WH", &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "FL_TEST_WH") != NULL && strstr(err.msg, "not set") != NULL, "%s",
		  err.msg);
	cr_assert_null(s);
	setenv("FL_TEST_WH", "", 1);
	cr_assert_eq(cp_pb_webhook_secret(&s, &n, "FL_TEST_WH", &err), FL_EINVAL);
	setenv("FL_TEST_WH", "fifteen-bytes!!", 1);
	cr_assert_eq(cp_pb_webhook_secret(&s, &n, "FL_TEST_WH", &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "15 bytes; at least 16") != NULL, "%s", err.msg);
	cr_assert_null(s);
	setenv("FL_TEST_WH", "sixteen-bytes!!!", 1);
	cr_assert_eq(cp_pb_webhook_secret(&s, &n, "FL_TEST_WH", &err), 0, "%s", err.msg);
	cr_assert_eq(n, 16);
	cr_assert_str_eq(s, "sixteen-bytes!!!");
	free(s);
	cr_assert_eq(cp_pb_webhook_secret(&s, &n, NULL, &err), FL_EINVAL);
}

static int post(struct fl_err *err, int *status, const char *url)
{
	json_t *body = json_pack("{s:i}", "a", 1);
	struct cp_pb_webhook w = {0};
	int rc;

	w.url = url;
	w.body = body;
	w.secret = "sixteen-bytes!!!";
	w.secret_len = 16;
	w.delivery = "d-1";
	w.timeout_s = 5;
	rc = cp_pb_webhook_post(status, &w, err);
	json_decref(body);
	return rc;
}

Test(webhook, urls_refused_before_connecting)
{
	static const char *const bad[] = {"http://127.0.0.1:1/x", "https://",	  "https:///path",
					  "https://host?q=1",	  "ftp://host/x", NULL};

	for (int i = 0; bad[i]; i++) {
		struct fl_err err = {0, ""};
		int status = -1;

		cr_assert_eq(post(&err, &status, bad[i]), FL_EINVAL, "%s: %s", bad[i], err.msg);
		cr_assert_eq(status, 0, "%s", bad[i]);
		cr_assert(strlen(err.msg) > 0, "%s: no reason (%d)", bad[i], err.code);
	}
}

Test(webhook, no_receiver_is_worth_a_retry)
{
	struct sockaddr_in a = {0};
	socklen_t len = sizeof(a);
	struct fl_err err = {0, ""};
	char url[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;

	/* a port that was just free: nothing listens on it */
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/hook", ntohs(a.sin_port));
	cr_assert_eq(post(&err, &status, url), FL_EAGAIN, "%s", err.msg);
	cr_assert_eq(status, 0);
}

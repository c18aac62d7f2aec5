/*
 * fuzz_router.c - everything of a request the router and the handlers parse
 * before a database row is touched: the route match and percent-decoding of
 * {placeholders}, query parameters (selectors, cursors, limits) and JSON
 * bodies, all as an authenticated admin so the handlers are reached.
 *
 * Input: "METHOD\nPATH?QUERY\nBODY"; a missing part is empty.
 *
 * One app on one data directory serves the whole run: building it per input
 * would measure sqlite, not the parsers. Writes accumulate in that store,
 * which is what a long-running server sees too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "app.h"
#include "fairlead/crypto.h"
#include "fairlead/util.h"
#include "fuzz.h"

#define ADMIN_SECRET "fuzz-admin-secret-0001"

static struct cp_app *app;
static char auth[] = "Bearer " ADMIN_SECRET;

static void die(const char *what, const struct fl_err *err)
{
	fprintf(stderr, "fuzz_router: %s: %s\n", what, err->msg);
	abort();
}

/* At exit: stop the write-behind, close the store and remove the data
 * directory, so that neither a thread nor a temp dir outlives the run. */
static void cleanup(void)
{
	static const char *const files[] = {"fairlead.db", "fairlead.db-wal", "fairlead.db-shm"};
	char path[1100];

	if (!app)
		return;
	snprintf(path, sizeof(path), "%s", app->cfg.data_dir);
	(void)cp_app_free(app, NULL);
	app = NULL;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char f[1200];

		snprintf(f, sizeof(f), "%s/%s", path, files[i]);
		(void)unlink(f);
	}
	(void)rmdir(path);
}

static void init(void)
{
	struct cp_config cfg;
	struct cp_token t;
	struct fl_err err = {0, ""};
	const char *base = getenv("TMPDIR");
	char hash[65];

	if (app)
		return;
	if (fl_crypto_init() < 0)
		abort();
	cp_config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s/flfuzz.XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(cfg.data_dir))
		abort();
	/* Millions of requests from one token and one address: a rate limit
	 * would answer 429 to nearly all of them and hide the handlers. */
	cfg.token_rate = cfg.anon_rate = cfg.device_rate = 1e12;
	cfg.token_burst = cfg.anon_burst = cfg.device_burst = 1e12;
	if (cp_app_new(&app, &cfg, &err) < 0)
		die("cp_app_new", &err);

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "fuzz-admin");
	snprintf(t.role, sizeof(t.role), "admin");
	snprintf(t.name, sizeof(t.name), "fuzz");
	t.created_at = fl_now();
	fl_sha256_hex(hash, ADMIN_SECRET, strlen(ADMIN_SECRET));
	if (cp_store_token_add(app->store, &t, hash, NULL, &err) < 0)
		die("token", &err);
	atexit(cleanup);
}

static const char *fake_header(void *conn, const char *name)
{
	(void)conn;
	return strcmp(name, "Authorization") == 0 ? auth : NULL;
}

/* The next '\n'-terminated part of [*p, end) as a new string. */
static char *take_line(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
	const uint8_t *stop = nl ? nl : end;
	char *s = fz_strndup(*p, (size_t)(stop - *p));

	*p = nl ? nl + 1 : end;
	return s;
}

static int fuzz_one(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	char *method, *target, *body, *q;
	size_t body_len;
	struct cp_req req;
	struct cp_resp resp;

	init();
	method = take_line(&p, end);
	target = take_line(&p, end);
	body_len = (size_t)(end - p);
	/* The HTTP layer's body buffer is NUL-terminated past body_len. */
	body = fz_strndup(p, body_len);
	q = strchr(target, '?');
	if (q)
		*q++ = '\0';

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = target;
	req.query = q ? q : "";
	req.body = body_len ? body : NULL;
	req.body_len = body_len;
	req.remote = "192.0.2.1";
	snprintf(req.id, sizeof(req.id), "fuzz");
	req.header = fake_header;
	req.conn = NULL;
	req.app = app;
	req.now = fl_now();
	cp_api_handle(&resp, &req);

	/* The router's promise: a status, and every error in the one shape. */
	FZ_CHECK(resp.status >= 200 && resp.status < 600);
	if (resp.status >= 400) {
		json_t *e = json_object_get(resp.body, "error");

		FZ_CHECK(json_string_value(json_object_get(e, "code")) != NULL);
		FZ_CHECK(json_string_value(json_object_get(e, "message")) != NULL);
	}
	/* A 5xx from garbage input is a server bug, not a refusal. */
	if (resp.status >= 500) {
		char *dump = json_dumps(resp.body, JSON_COMPACT);

		fprintf(stderr, "fuzz_router: %d for %s %s?%s: %s\n", resp.status, method, target,
			req.query, dump ? dump : "?");
		free(dump);
		abort();
	}
	cp_resp_release(&resp);
	free(method);
	free(target);
	free(body);
	return 0;
}

/* The app on the main thread: it owns the store's first connection. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	init();
	return 0;
}

FZ_TARGET(fuzz_one)

/*
 * fuzz_router_device.c - the device routes (check-in with inventory, twin,
 * command results and update status; SLI reports; key rotation; artifact
 * downloads) with requests signed as the agent signs them, so that the
 * handlers parse the bodies instead of answering 401.
 *
 * Input: "METHOD SUFFIX[?QUERY]\nBODY" for the request METHOD
 * /api/v1/device/SUFFIX; a first line without a space is a POST of SUFFIX.
 *
 * One app on one data directory serves the whole run, with one accepted
 * device whose Ed25519 key the harness holds. Every request gets a fresh
 * signature (a new nonce, created now) over its method, path, query and
 * body's digest, exactly the components the router verifies. Should a
 * request ever rotate the device's key, the next input enrolls a new device.
 * At start a valid check-in must be answered 200, or the target stops: a
 * target that only ever gets 401 tests nothing.
 *
 * FL_FUZZ_STATUS=1 prints how many answers of each status class the run got.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "app.h"
#include "core/registry.h"
#include "fairlead/crypto.h"
#include "fairlead/httpsig.h"
#include "fairlead/util.h"
#include "fuzz.h"

#define PREFIX "/api/v1/device/"

static struct cp_app *app;

/* The device requests are signed as. */
static struct {
	char id[65];
	char keyid[FL_KEYID_LEN + 1];
	uint8_t sk[FL_ED25519_SK_LEN];
	int serial;
} dev;

/* Headers of the request being handled; the router asks by name. */
static struct {
	char digest[FL_DIGEST_LEN];
	struct fl_buf input, sig;
} hdr;

static long statuses[6];

static void die(const char *what, const struct fl_err *err)
{
	fprintf(stderr, "fuzz_router_device: %s: %s\n", what, err ? err->msg : "");
	abort();
}

/* At exit: the status counts when asked, then stop the app and remove the
 * data directory, so that neither a thread nor a temp dir outlives the run. */
static void cleanup(void)
{
	static const char *const files[] = {"fairlead.db", "fairlead.db-wal", "fairlead.db-shm"};
	char path[1100];

	if (getenv("FL_FUZZ_STATUS"))
		fprintf(stderr, "fuzz_router_device: 2xx %ld, 3xx %ld, 4xx %ld, 5xx %ld\n",
			statuses[2], statuses[3], statuses[4], statuses[5]);
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
	fl_buf_release(&hdr.input);
	fl_buf_release(&hdr.sig);
}

/* Enrolls a new accepted device with a new key, as an enrollment would. */
static void enroll(void)
{
	struct cp_enrollment e = {0};
	struct fl_err err = {0, ""};
	uint8_t pk[FL_ED25519_PK_LEN];
	char b64[64];
	struct cp_dev d;
	json_t *labels = json_pack("{ss}", "site", "fuzz");

	fl_ed25519_keypair(pk, dev.sk);
	fl_b64_encode(b64, pk, sizeof(pk));
	fl_keyid(dev.keyid, pk);
	snprintf(dev.id, sizeof(dev.id), "fuzz-dev-%d", dev.serial++);
	e.device_id = dev.id;
	e.pubkey_b64 = b64;
	e.keyid = dev.keyid;
	e.state = "accepted";
	e.labels = labels;
	e.now = fl_now();
	if (cp_store_device_enroll(app->store, &e, NULL, &err) < 0)
		die("enroll", &err);
	json_decref(labels);
	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", dev.id);
	snprintf(d.state, sizeof(d.state), "accepted");
	memcpy(d.keyid, dev.keyid, sizeof(d.keyid));
	memcpy(d.pk, pk, sizeof(d.pk));
	if (cp_registry_put(app->reg, &d) < 0)
		die("registry", NULL);
}

static const char *fake_header(void *conn, const char *name)
{
	(void)conn;
	if (strcmp(name, "Content-Digest") == 0)
		return hdr.digest;
	if (strcmp(name, "Signature-Input") == 0)
		return hdr.input.ptr;
	if (strcmp(name, "Signature") == 0)
		return hdr.sig.ptr;
	return NULL;
}

/* Signs and handles one request; returns its status. */
static int handle(const char *method, const char *path, const char *query, const char *body,
		  size_t body_len)
{
	struct cp_req req;
	struct cp_resp resp;
	int status;

	fl_buf_release(&hdr.input);
	fl_buf_release(&hdr.sig);
	fl_httpsig_digest(hdr.digest, body, body_len);
	memset(&req, 0, sizeof(req));
	req.now = fl_now();
	if (fl_httpsig_sign(&hdr.input, &hdr.sig, method, path, query, hdr.digest, dev.keyid,
			    dev.sk, req.now, FL_SIG_DEFAULT_TTL) < 0)
		die("sign", NULL);
	req.method = method;
	req.path = path;
	req.query = query;
	req.body = body_len ? body : NULL;
	req.body_len = body_len;
	req.remote = "192.0.2.2";
	snprintf(req.id, sizeof(req.id), "fuzz");
	req.header = fake_header;
	req.conn = NULL;
	req.app = app;
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

		fprintf(stderr, "fuzz_router_device: %d for %s %s?%s: %s\n", resp.status, method,
			path, query, dump ? dump : "?");
		free(dump);
		abort();
	}
	status = resp.status;
	statuses[status / 100]++;
	cp_resp_release(&resp);
	return status;
}

static void init(void)
{
	static const char checkin[] = "{\"inventory\":{\"os\":\"linux\"},\"reported\":{}}";
	struct cp_config cfg;
	struct fl_err err = {0, ""};
	const char *base = getenv("TMPDIR");
	int status;

	if (app)
		return;
	if (fl_crypto_init() < 0)
		abort();
	cp_config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s/flfuzz.XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(cfg.data_dir))
		abort();
	/* Millions of requests from one device: a rate limit would answer 429
	 * to nearly all of them and hide the handlers. */
	cfg.token_rate = cfg.anon_rate = cfg.device_rate = 1e12;
	cfg.token_burst = cfg.anon_burst = cfg.device_burst = 1e12;
	/* Command results and reports are answered once committed: a short
	 * write-behind interval keeps each such input from waiting a second. */
	cfg.flush_ms = 5;
	if (cp_app_new(&app, &cfg, &err) < 0)
		die("cp_app_new", &err);
	atexit(cleanup);
	/* Signatures created at or before the start second are refused as
	 * possible replays across a restart (core/replay.h); the harness signs
	 * with created = now, so the app is made to have started earlier. */
	app->started_at -= 2;
	enroll();
	status = handle("POST", PREFIX "checkin", "", checkin, strlen(checkin));
	if (status != 200) {
		fprintf(stderr, "fuzz_router_device: a valid check-in got %d\n", status);
		abort();
	}
}

/* The device must still be known under its key and accepted. */
static void ensure_device(void)
{
	struct cp_dev d;

	if (cp_registry_by_keyid(&d, app->reg, dev.keyid) < 0 || strcmp(d.state, "accepted") != 0)
		enroll();
}

static int fuzz_one(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t line_len = nl ? (size_t)(nl - data) : size, body_len;
	char *line = fz_strndup(data, line_len), *body, *sp, *suffix, *q, *path;
	const char *method = "POST";

	init();
	ensure_device();
	body_len = nl ? size - line_len - 1 : 0;
	/* The HTTP layer's body buffer is NUL-terminated past body_len. */
	body = fz_strndup(nl ? nl + 1 : data + size, body_len);
	suffix = line;
	if ((sp = strchr(line, ' ')) != NULL) {
		*sp = '\0';
		method = line;
		suffix = sp + 1;
	}
	if ((q = strchr(suffix, '?')) != NULL)
		*q++ = '\0';
	if (!(path = malloc(strlen(PREFIX) + strlen(suffix) + 1)))
		abort();
	strcpy(path, PREFIX);
	strcat(path, suffix);
	(void)handle(method, path, q ? q : "", body, body_len);
	free(path);
	free(body);
	free(line);
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

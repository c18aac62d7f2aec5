/* test_router.c - cp_api_handle without HTTP: routing, authentication, the
 * role matrix, input refusals and the route table itself. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "fairlead/crypto.h"
#include "fairlead/util.h"
#include "fl_test.h"

static struct cp_app *app;

static const struct {
	const char *role, *secret;
} tokens[] = {
    {"admin", "secret-admin-0001"},	      {"release-manager", "secret-release-0001"},
    {"operator", "secret-operator-0001"},     {"viewer", "secret-viewer-0001"},
    {"automation", "secret-automation-0001"},
};

static void add_token(const char *id, const char *role, const char *secret, int64_t expires,
		      int revoke)
{
	struct cp_token t;
	char hash[65];
	struct fl_err err = {0, ""};

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%s", id);
	snprintf(t.role, sizeof(t.role), "%s", role);
	snprintf(t.name, sizeof(t.name), "test");
	t.created_at = fl_now();
	t.expires_at = expires;
	fl_sha256_hex(hash, secret, strlen(secret));
	cr_assert_eq(cp_store_token_add(app->store, &t, hash, NULL, &err), 0, "%s", err.msg);
	if (revoke)
		cr_assert_eq(cp_store_token_revoke(app->store, id, fl_now(), NULL, NULL), 0);
}

static void setup(void)
{
	struct cp_config cfg;
	struct fl_err err = {0, ""};

	cr_assert_eq(fl_crypto_init(), 0);
	cp_config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", fl_test_tmpdir());
	cr_assert_eq(cp_app_new(&app, &cfg, &err), 0, "%s", err.msg);
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
		char id[32];

		snprintf(id, sizeof(id), "tok-%zu", i);
		add_token(id, tokens[i].role, tokens[i].secret, 0, 0);
	}
	add_token("tok-revoked", "admin", "secret-revoked-0001", 0, 1);
	add_token("tok-expired", "admin", "secret-expired-0001", fl_now() - 1, 0);
}

static void teardown(void)
{
	cr_assert_eq(cp_app_free(app, NULL), 0);
	app = NULL;
}

TestSuite(router, .init = setup, .fini = teardown);

struct fake_conn {
	char auth[256];
};

static const char *fake_header(void *conn, const char *name)
{
	struct fake_conn *c = conn;

	if (strcmp(name, "Authorization") == 0 && c->auth[0])
		return c->auth;
	return NULL;
}

/* Runs one request; returns the status, *body (if wanted) the reply. */
static int call(json_t **body, const char *method, const char *path, const char *query,
		const char *secret, const char *payload)
{
	struct fake_conn conn;
	struct cp_req req;
	struct cp_resp resp;
	int status;

	memset(&conn, 0, sizeof(conn));
	if (secret)
		snprintf(conn.auth, sizeof(conn.auth), "Bearer %s", secret);
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	req.query = query ? query : "";
	req.body = payload;
	req.body_len = payload ? strlen(payload) : 0;
	req.remote = "127.0.0.1";
	snprintf(req.id, sizeof(req.id), "test");
	req.header = fake_header;
	req.conn = &conn;
	req.app = app;
	req.now = fl_now();
	cp_api_handle(&resp, &req);
	status = resp.status;
	if (status >= 400) {
		/* Every error has the one shape. */
		json_t *e = json_object_get(resp.body, "error");

		cr_assert_not_null(e, "%s %s: error reply without error object", method, path);
		cr_assert_not_null(json_string_value(json_object_get(e, "code")));
		cr_assert_not_null(json_string_value(json_object_get(e, "message")));
	}
	if (body)
		*body = json_incref(resp.body);
	cp_resp_release(&resp);
	return status;
}

static const char *error_code(json_t *body)
{
	return json_string_value(json_object_get(json_object_get(body, "error"), "code"));
}

#define ADMIN (tokens[0].secret)

Test(router, health_needs_no_auth)
{
	json_t *b = NULL;

	cr_assert_eq(call(&b, "GET", "/api/v1/health", NULL, NULL, NULL), 200);
	cr_assert_str_eq(json_string_value(json_object_get(b, "status")), "ok");
	json_decref(b);
}

Test(router, unknown_route_is_404)
{
	static const char *const paths[] = {
	    "/api/v1/nope",	     "/api/v2/health",	"/", "", "/api/v1/health/",
	    "/api/v1/devices/x/y/z", "/api/v1/devices/"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		json_t *b = NULL;

		cr_assert_eq(call(&b, "GET", paths[i], NULL, ADMIN, NULL), 404, "'%s'", paths[i]);
		cr_assert_str_eq(error_code(b), "not_found");
		json_decref(b);
	}
}

Test(router, wrong_method_is_405)
{
	static const struct {
		const char *method, *path;
	} cases[] = {
	    {"DELETE", "/api/v1/health"},
	    {"POST", "/api/v1/devices/dev-1"},
	    {"GET", "/api/v1/enroll"},
	    {"PUT", "/api/v1/tokens"},
	    {"GET", "/api/v1/devices/dev-1/labels"},
	    {"get", "/api/v1/health"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_assert_eq(call(NULL, cases[i].method, cases[i].path, NULL, ADMIN, NULL), 405,
			     "%s %s", cases[i].method, cases[i].path);
}

Test(router, token_routes_need_a_valid_token)
{
	static const char *const bad[] = {
	    NULL,		   /* no header */
	    "",			   /* empty bearer */
	    "short",		   /* under 8 characters */
	    "secret-unknown-0001", /* not in the store */
	    "secret-revoked-0001", /* revoked */
	    "secret-expired-0001", /* expired */
	    "SECRET-ADMIN-0001",   /* case matters */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *b = NULL;

		cr_assert_eq(call(&b, "GET", "/api/v1/devices", NULL, bad[i], NULL), 401,
			     "token %zu", i);
		cr_assert_str_eq(error_code(b), "unauthorized");
		json_decref(b);
	}
	cr_assert_eq(call(NULL, "GET", "/api/v1/devices", NULL, ADMIN, NULL), 200);
}

Test(router, wrong_auth_scheme_is_401)
{
	struct fake_conn conn;
	struct cp_req req;
	struct cp_resp resp;

	memset(&conn, 0, sizeof(conn));
	snprintf(conn.auth, sizeof(conn.auth), "Basic %s", ADMIN);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = "/api/v1/devices";
	req.query = "";
	req.header = fake_header;
	req.conn = &conn;
	req.app = app;
	req.now = fl_now();
	cp_api_handle(&resp, &req);
	cr_assert_eq(resp.status, 401);
	cp_resp_release(&resp);
}

Test(router, device_routes_need_a_signature)
{
	json_t *b = NULL;

	/* A bearer token is not a device signature. */
	cr_assert_eq(call(&b, "POST", "/api/v1/device/checkin", NULL, ADMIN, "{}"), 401);
	cr_assert_str_eq(error_code(b), "unauthorized");
	json_decref(b);
}

/* Status by role, in the order of tokens[]: admin, release-manager, operator,
 * viewer, automation. */
static const struct {
	const char *method, *path, *body;
	int status[5];
} matrix[] = {
    {"GET", "/api/v1/tokens", NULL, {200, 403, 403, 403, 403}},
    {"POST", "/api/v1/tokens", "{\"role\":\"viewer\",\"name\":\"m\"}", {201, 403, 403, 403, 403}},
    {"GET", "/api/v1/enroll-tokens", NULL, {200, 403, 200, 403, 403}},
    {"POST", "/api/v1/enroll-tokens", "{\"uses\":2,\"ttl\":\"1h\"}", {201, 403, 201, 403, 403}},
    {"GET", "/api/v1/devices", NULL, {200, 200, 200, 200, 200}},
    {"GET", "/api/v1/audit", NULL, {200, 403, 403, 200, 403}},
    {"GET", "/api/v1/audit/head", NULL, {200, 403, 403, 200, 403}},
    {"GET", "/api/v1/_stats", NULL, {200, 403, 403, 200, 403}},
    /* The role check comes before the handler: 404 only for those allowed. */
    {"POST", "/api/v1/devices/dev-x/accept", "{}", {404, 403, 404, 403, 404}},
    {"POST", "/api/v1/devices/dev-x/decommission", "{}", {404, 403, 404, 403, 403}},
    {"GET", "/api/v1/devices/dev-x", NULL, {404, 404, 404, 404, 404}},
};

Test(router, role_matrix)
{
	for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++)
		for (size_t r = 0; r < 5; r++) {
			json_t *b = NULL;
			int st = call(&b, matrix[i].method, matrix[i].path, NULL, tokens[r].secret,
				      matrix[i].body);

			if (st != matrix[i].status[r]) {
				char *txt = b ? json_dumps(b, JSON_COMPACT) : NULL;

				cr_fail("%s %s as %s: %d, want %d (%s)", matrix[i].method,
					matrix[i].path, tokens[r].role, st, matrix[i].status[r],
					txt ? txt : "");
			}
			if (st == 403)
				cr_assert_str_eq(error_code(b), "forbidden");
			json_decref(b);
		}
}

Test(router, created_token_works_and_revocation_takes_effect)
{
	json_t *b = NULL;
	char secret[128], path[128];

	cr_assert_eq(call(&b, "POST", "/api/v1/tokens", NULL, ADMIN,
			  "{\"role\":\"viewer\",\"name\":\"ci\",\"ttl\":\"1h\"}"),
		     201);
	snprintf(secret, sizeof(secret), "%s", json_string_value(json_object_get(b, "token")));
	snprintf(path, sizeof(path), "/api/v1/tokens/%s",
		 json_string_value(json_object_get(b, "id")));
	cr_assert_eq(strncmp(secret, "flt_", 4), 0);
	cr_assert_str_eq(json_string_value(json_object_get(b, "role")), "viewer");
	json_decref(b);
	cr_assert_eq(call(NULL, "GET", "/api/v1/audit/head", NULL, secret, NULL), 200);
	cr_assert_eq(call(NULL, "GET", "/api/v1/tokens", NULL, secret, NULL), 403);
	cr_assert_eq(call(NULL, "DELETE", path, NULL, ADMIN, NULL), 200);
	cr_assert_eq(call(NULL, "GET", "/api/v1/audit/head", NULL, secret, NULL), 401);
	cr_assert_eq(call(NULL, "DELETE", path, NULL, ADMIN, NULL), 404);
}

Test(router, bad_percent_encoding_is_400)
{
	static const char *const paths[] = {
	    "/api/v1/devices/%zz", "/api/v1/devices/%2",  "/api/v1/devices/%",
	    "/api/v1/devices/%00", "/api/v1/devices/a%0", "/api/v1/devices/%g1/commands",
	};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		json_t *b = NULL;

		cr_assert_eq(call(&b, "GET", paths[i], NULL, ADMIN, NULL), 400, "'%s'", paths[i]);
		cr_assert_str_eq(error_code(b), "invalid_request");
		json_decref(b);
	}
	/* Good escapes decode: %41 is 'A', the device just does not exist. */
	cr_assert_eq(call(NULL, "GET", "/api/v1/devices/dev%41", NULL, ADMIN, NULL), 404);
}

Test(router, bad_query_encoding_is_400)
{
	cr_assert_eq(call(NULL, "GET", "/api/v1/devices", "selector=%zz", ADMIN, NULL), 400);
	cr_assert_eq(call(NULL, "GET", "/api/v1/devices", "selector=a%00b", ADMIN, NULL), 400);
	cr_assert_eq(call(NULL, "GET", "/api/v1/devices", "selector=site%3Dberlin", ADMIN, NULL),
		     200);
	cr_assert_eq(call(NULL, "GET", "/api/v1/devices", "selector=a+in+(", ADMIN, NULL), 400);
	cr_assert_eq(call(NULL, "GET", "/api/v1/devices", "limit=0", ADMIN, NULL), 400);
	cr_assert_eq(call(NULL, "GET", "/api/v1/devices", "limit=1001", ADMIN, NULL), 400);
	cr_assert_eq(call(NULL, "GET", "/api/v1/devices", "limit=5x", ADMIN, NULL), 400);
	cr_assert_eq(call(NULL, "GET", "/api/v1/devices", "cursor=zz", ADMIN, NULL), 400);
	cr_assert_eq(call(NULL, "GET", "/api/v1/audit", "after=-1", ADMIN, NULL), 400);
}

Test(router, bad_ids_are_400)
{
	static const struct {
		const char *method, *path;
	} cases[] = {
	    {"GET", "/api/v1/devices/.."},
	    {"GET", "/api/v1/devices/%2e%2e"},
	    {"GET", "/api/v1/devices/a%2Fb"},
	    {"GET", "/api/v1/devices/-rf"},
	    {"GET", "/api/v1/devices/.hidden"},
	    {"GET", "/api/v1/devices/a%20b"},
	    {"GET",
	     "/api/v1/devices/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
	    {"GET", "/api/v1/devices/..%2F..%2Fetc/commands"},
	    {"DELETE", "/api/v1/tokens/.."},
	    {"DELETE", "/api/v1/enroll-tokens/a%2Fb"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *b = NULL;

		cr_assert_eq(call(&b, cases[i].method, cases[i].path, NULL, ADMIN, NULL), 400,
			     "%s %s", cases[i].method, cases[i].path);
		cr_assert_str_eq(error_code(b), "invalid_request");
		json_decref(b);
	}
}

Test(router, bodies_are_strict)
{
	static const struct {
		const char *path, *body;
	} cases[] = {
	    {"/api/v1/tokens", "{\"role\":\"viewer\",\"bogus\":1}"},
	    {"/api/v1/tokens", "{\"role\":\"viewer\",\"role\":\"admin\"}"},
	    {"/api/v1/tokens", "{\"role\":\"root\"}"},
	    {"/api/v1/tokens", "{\"role\":7}"},
	    {"/api/v1/tokens", "{}"},
	    {"/api/v1/tokens", "[]"},
	    {"/api/v1/tokens", "{\"role\":\"viewer\"} trailing"},
	    {"/api/v1/tokens", ""},
	    {"/api/v1/tokens", "{\"role\":\"viewer\",\"ttl\":\"soon\"}"},
	    {"/api/v1/tokens", "{\"role\":\"viewer\",\"ttl\":-5}"},
	    {"/api/v1/enroll-tokens", "{\"uses\":0}"},
	    {"/api/v1/enroll-tokens", "{\"uses\":\"2\"}"},
	    {"/api/v1/enroll-tokens", "{\"labels\":{\"state\":\"x\"}}"},
	    {"/api/v1/enroll-tokens", "{\"labels\":{\"site\":1}}"},
	    {"/api/v1/enroll-tokens", "{\"auto_accept\":1}"},
	    {"/api/v1/enroll-tokens", "{\"extra\":true}"},
	    {"/api/v1/devices/preauthorize", "{\"id\":\"dev-1\",\"pubkey\":\"bad\"}"},
	    {"/api/v1/devices/preauthorize", "{\"id\":\"../x\",\"pubkey\":\"bad\"}"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *b = NULL;

		cr_assert_eq(call(&b, "POST", cases[i].path, NULL, ADMIN, cases[i].body), 400,
			     "%s %s", cases[i].path, cases[i].body);
		cr_assert_str_eq(error_code(b), "invalid_request");
		json_decref(b);
	}
	{
		json_t *b = NULL;

		cr_assert_eq(call(&b, "POST", "/api/v1/tokens", NULL, ADMIN,
				  "{\"role\":\"viewer\",\"bogus\":1}"),
			     400);
		cr_assert(strstr(json_string_value(
				     json_object_get(json_object_get(b, "error"), "message")),
				 "bogus") != NULL);
		json_decref(b);
	}
}

Test(router, route_table_is_complete)
{
	cr_assert_gt(cp_routes_count, 0);
	for (size_t i = 0; i < cp_routes_count; i++) {
		const struct cp_route *r = &cp_routes[i];

		cr_assert_not_null(r->handler, "%s %s has no handler", r->method, r->pattern);
		cr_assert_not_null(r->summary, "%s %s has no summary", r->method, r->pattern);
		cr_assert_neq(r->summary[0], '\0', "%s %s has an empty summary", r->method,
			      r->pattern);
		/* /metrics is where Prometheus scrapes by convention */
		cr_assert(strncmp(r->pattern, "/api/v1/", 8) == 0 ||
			      strcmp(r->pattern, "/metrics") == 0,
			  "%s", r->pattern);
		cr_assert(strcmp(r->method, "GET") == 0 || strcmp(r->method, "POST") == 0 ||
			      strcmp(r->method, "PUT") == 0 || strcmp(r->method, "DELETE") == 0 ||
			      strcmp(r->method, "HEAD") == 0,
			  "%s", r->method);
		if (r->auth == CP_AUTH_TOKEN)
			cr_assert_neq(r->roles, 0, "%s %s admits no role", r->method, r->pattern);
		else
			cr_assert_eq(r->roles, 0, "%s %s: roles on a non-token route", r->method,
				     r->pattern);
		cr_assert_eq(r->roles & ~CP_ROLES_ALL, 0, "%s %s", r->method, r->pattern);
		for (size_t j = 0; j < i; j++)
			cr_assert(strcmp(r->method, cp_routes[j].method) != 0 ||
				      strcmp(r->pattern, cp_routes[j].pattern) != 0,
				  "duplicate route %s %s", r->method, r->pattern);
	}
}

Test(router, routes_endpoint_lists_the_table)
{
	json_t *b = NULL, *routes;

	cr_assert_eq(call(&b, "GET", "/api/v1/_routes", NULL, NULL, NULL), 200);
	routes = json_object_get(b, "routes");
	cr_assert_eq(json_array_size(routes), cp_routes_count);
	for (size_t i = 0; i < cp_routes_count; i++) {
		json_t *r = json_array_get(routes, i);

		cr_assert_str_eq(json_string_value(json_object_get(r, "path")),
				 cp_routes[i].pattern);
		cr_assert_str_eq(json_string_value(json_object_get(r, "method")),
				 cp_routes[i].method);
	}
	json_decref(b);
}

Test(router, role_names_round_trip)
{
	for (int b = 0; b < 5; b++) {
		const char *n = cp_role_name(1 << b);

		cr_assert_str_neq(n, "none");
		cr_assert_eq(cp_role_parse(n), 1 << b);
	}
	cr_assert_eq(cp_role_parse("root"), 0);
	cr_assert_eq(cp_role_parse(""), 0);
	cr_assert_str_eq(cp_role_name(0), "none");
	cr_assert_str_eq(cp_role_name(3), "none");
}

Test(router, error_table)
{
	static const struct {
		int code, status;
	} t[] = {
	    {FL_EINVAL, 400},  {FL_EUNAUTH, 401},   {FL_EFORBIDDEN, 403}, {FL_ENOTFOUND, 404},
	    {FL_EEXISTS, 409}, {FL_ECONFLICT, 409}, {FL_EGONE, 410},	  {FL_ETOOBIG, 413},
	    {FL_EAGAIN, 429},  {FL_ERROR, 500},	    {-999, 500},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_assert_eq(cp_error_status(t[i].code), t[i].status, "code %d", t[i].code);
}

Test(router, device_show_has_update_status)
{
	struct cp_enrollment e = {0};
	uint8_t pk[FL_ED25519_PK_LEN], sk[FL_ED25519_SK_LEN];
	char b64[64], keyid[FL_KEYID_LEN + 1];
	json_t *labels = json_object(),
	       *inv = json_pack("{s:s,s:{s:s}}", "os", "linux", "running", "det", "1.0.0"),
	       *b = NULL;

	fl_ed25519_keypair(pk, sk);
	fl_b64_encode(b64, pk, sizeof(pk));
	fl_keyid(keyid, pk);
	e.device_id = "dev-u";
	e.pubkey_b64 = b64;
	e.keyid = keyid;
	e.state = "accepted";
	e.labels = labels;
	e.inventory = inv;
	e.now = fl_now();
	cr_assert_eq(cp_store_device_enroll(app->store, &e, NULL, NULL), 0);
	cr_assert_eq(call(&b, "GET", "/api/v1/devices/dev-u", NULL, ADMIN, NULL), 200);
	cr_assert_eq(json_is_null(json_object_get(json_object_get(b, "update"), "assigned")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(
			     json_object_get(json_object_get(b, "update"), "running"), "det")),
			 "1.0.0");
	json_decref(b);
	json_decref(labels);
	json_decref(inv);
}

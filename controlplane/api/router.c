/*
 * router.c - the route table and the path every request takes through it:
 * match, authenticate, authorize, rate-limit, handle, and shape errors.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "core/replay.h"
#include "fairlead/httpsig.h"
#include "fairlead/json.h"
#include "fairlead/log.h"
#include "fairlead/util.h"

#define OPS	  (CP_ROLE_ADMIN | CP_ROLE_OPERATOR | CP_ROLE_AUTOMATION)
#define RELS	  (CP_ROLE_ADMIN | CP_ROLE_RELEASE)
#define ASSIGNERS (CP_ROLE_ADMIN | CP_ROLE_RELEASE | CP_ROLE_OPERATOR | CP_ROLE_AUTOMATION)
/* People: an approval by an automation token would approve nothing. */
#define APPROVERS (CP_ROLE_ADMIN | CP_ROLE_RELEASE | CP_ROLE_OPERATOR)

/* The API. Each route states who may call it; _routes serves this table and
 * tests check docs/openapi.yaml and the role matrix against it. */
/* clang-format off */
const struct cp_route cp_routes[] = {
	{"GET", "/api/v1/health", CP_AUTH_NONE, 0, cp_h_health, "liveness and version",
	 CP_ROUTE_INLINE},
	{"GET", "/api/v1/_routes", CP_AUTH_NONE, 0, cp_h_routes, "this route table", 0},
	{"GET", "/api/v1/_stats", CP_AUTH_TOKEN, CP_ROLE_ADMIN | CP_ROLE_VIEWER, cp_h_stats,
	 "server internals: counters, write-behind lag", 0},
	{"POST", "/api/v1/enroll/challenge", CP_AUTH_NONE, 0, cp_h_enroll_challenge,
	 "a single-use challenge for proof of possession", 0},
	{"POST", "/api/v1/enroll", CP_AUTH_NONE, 0, cp_h_enroll,
	 "enroll a device by token or preauthorization", 0},
	{"POST", "/api/v1/device/checkin", CP_AUTH_DEVICE, 0, cp_h_checkin,
	 "device check-in: inventory, twin, commands", CP_ROUTE_INLINE},
	{"POST", "/api/v1/device/rotate-key", CP_AUTH_DEVICE, 0, cp_h_rotate_key,
	 "rotate the device key (signed by old and new key)", 0},
	{"GET", "/api/v1/devices", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_devices_list,
	 "list devices by selector, with cursor pagination", 0},
	{"POST", "/api/v1/devices/preauthorize", CP_AUTH_TOKEN, CP_ROLE_ADMIN | CP_ROLE_OPERATOR,
	 cp_h_device_preauth, "preauthorize a device id and public key", 0},
	{"GET", "/api/v1/devices/{id}", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_device_show,
	 "one device with inventory and twin", 0},
	{"POST", "/api/v1/devices/{id}/accept", CP_AUTH_TOKEN, OPS, cp_h_device_state,
	 "accept a device", 0},
	{"POST", "/api/v1/devices/{id}/reject", CP_AUTH_TOKEN, OPS, cp_h_device_state,
	 "reject a device", 0},
	{"POST", "/api/v1/devices/{id}/quarantine", CP_AUTH_TOKEN, OPS, cp_h_device_state,
	 "quarantine a device", 0},
	{"POST", "/api/v1/devices/{id}/revoke", CP_AUTH_TOKEN, OPS, cp_h_device_state,
	 "revoke a device", 0},
	{"POST", "/api/v1/devices/{id}/decommission", CP_AUTH_TOKEN, CP_ROLE_ADMIN | CP_ROLE_OPERATOR,
	 cp_h_device_state, "decommission a device", 0},
	{"POST", "/api/v1/devices/{id}/labels", CP_AUTH_TOKEN, OPS, cp_h_device_labels,
	 "set or remove labels", 0},
	{"PUT", "/api/v1/devices/{id}/desired", CP_AUTH_TOKEN, OPS, cp_h_device_desired,
	 "replace the desired twin", 0},
	{"POST", "/api/v1/devices/{id}/commands", CP_AUTH_TOKEN, OPS, cp_h_command_create,
	 "queue a command for the agent", 0},
	{"GET", "/api/v1/devices/{id}/commands", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_commands_list,
	 "commands of a device", 0},
	{"GET", "/api/v1/devices/{id}/commands/{command}", CP_AUTH_TOKEN, CP_ROLES_ALL,
	 cp_h_command_get, "one command of a device", 0},
	{"GET", "/api/v1/playbooks", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_playbooks_list,
	 "stored playbooks: name, version, enabled, source, trigger", 0},
	{"GET", "/api/v1/playbooks/{name}", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_playbook_show,
	 "one stored playbook with its canonical definition", 0},
	{"PUT", "/api/v1/playbooks/{name}", CP_AUTH_TOKEN, OPS, cp_h_playbook_put,
	 "create or replace a playbook from its file (a change takes a new version)", 0},
	{"DELETE", "/api/v1/playbooks/{name}", CP_AUTH_TOKEN, OPS, cp_h_playbook_delete,
	 "delete a playbook (its runs are kept)", 0},
	{"POST", "/api/v1/playbooks/{name}/enable", CP_AUTH_TOKEN, OPS, cp_h_playbook_enable,
	 "enable a playbook", 0},
	{"POST", "/api/v1/playbooks/{name}/disable", CP_AUTH_TOKEN, OPS, cp_h_playbook_disable,
	 "disable a playbook: no new runs start", 0},
	{"POST", "/api/v1/playbooks/validate", CP_AUTH_TOKEN, CP_ROLES_ALL,
	 cp_h_playbook_validate, "check a playbook file; its canonical JSON", 0},
	{"POST", "/api/v1/playbooks/test", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_playbook_test,
	 "what a playbook would do with given events (a dry run)", 0},
	{"POST", "/api/v1/playbooks/{id}/run", CP_AUTH_TOKEN, OPS, cp_h_run_start,
	 "start a manual or scheduled playbook now", 0},
	{"POST", "/api/v1/alertmanager", CP_AUTH_TOKEN, OPS, cp_h_alertmanager,
	 "Prometheus Alertmanager webhook (payload version 4): one event per alert", 0},
	{"GET", "/api/v1/runs", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_runs_list,
	 "playbook runs, newest first", 0},
	{"GET", "/api/v1/runs/{id}", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_run_show,
	 "one run: its events, plan, approvals and actions", 0},
	{"POST", "/api/v1/runs/{id}/approve", CP_AUTH_TOKEN, APPROVERS, cp_h_run_approve,
	 "approve the plan of a run awaiting approval", 0},
	{"POST", "/api/v1/runs/{id}/deny", CP_AUTH_TOKEN, APPROVERS, cp_h_run_deny,
	 "deny a run awaiting approval", 0},
	{"POST", "/api/v1/runs/{id}/cancel", CP_AUTH_TOKEN, OPS, cp_h_run_cancel,
	 "cancel a run: no further actions", 0},
	{"POST", "/api/v1/tokens", CP_AUTH_TOKEN, CP_ROLE_ADMIN, cp_h_token_create,
	 "create an API token", 0},
	{"GET", "/api/v1/tokens", CP_AUTH_TOKEN, CP_ROLE_ADMIN, cp_h_tokens_list,
	 "list API tokens", 0},
	{"DELETE", "/api/v1/tokens/{id}", CP_AUTH_TOKEN, CP_ROLE_ADMIN, cp_h_token_revoke,
	 "revoke an API token", 0},
	{"POST", "/api/v1/enroll-tokens", CP_AUTH_TOKEN, CP_ROLE_ADMIN | CP_ROLE_OPERATOR,
	 cp_h_etoken_create, "create an enrollment token", 0},
	{"GET", "/api/v1/enroll-tokens", CP_AUTH_TOKEN, CP_ROLE_ADMIN | CP_ROLE_OPERATOR,
	 cp_h_etokens_list, "list enrollment tokens", 0},
	{"DELETE", "/api/v1/enroll-tokens/{id}", CP_AUTH_TOKEN, CP_ROLE_ADMIN | CP_ROLE_OPERATOR,
	 cp_h_etoken_revoke, "revoke an enrollment token", 0},
	{"GET", "/api/v1/audit", CP_AUTH_TOKEN, CP_ROLE_ADMIN | CP_ROLE_VIEWER, cp_h_audit_list,
	 "audit entries after a sequence number", 0},
	{"GET", "/api/v1/audit/head", CP_AUTH_TOKEN, CP_ROLE_ADMIN | CP_ROLE_VIEWER,
	 cp_h_audit_head, "the newest audit entry's seq and hash", 0},
	{"GET", "/api/v1/root", CP_AUTH_NONE, 0, cp_h_root_get, "the newest root envelope", 0},
	{"GET", "/api/v1/root/{version}", CP_AUTH_NONE, 0, cp_h_root_get,
	 "the root envelope of one version", 0},
	{"PUT", "/api/v1/root", CP_AUTH_TOKEN, CP_ROLE_ADMIN, cp_h_root_put,
	 "install the first root or the next version", 0},
	{"PUT", "/api/v1/blobs/{sha256}", CP_AUTH_TOKEN, RELS, cp_h_blob_put,
	 "upload an artifact (streamed, hashed, staged)", CP_ROUTE_STREAM},
	{"HEAD", "/api/v1/blobs/{sha256}", CP_AUTH_TOKEN, RELS, cp_h_blob_head,
	 "whether an artifact is staged or stored, and its length", 0},
	{"POST", "/api/v1/releases", CP_AUTH_TOKEN, RELS, cp_h_release_push,
	 "push a signed release whose artifacts are staged", 0},
	{"GET", "/api/v1/releases", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_releases_list,
	 "list releases", 0},
	{"GET", "/api/v1/releases/{name}/{version}", CP_AUTH_TOKEN, CP_ROLES_ALL,
	 cp_h_release_show, "one release with its metadata and envelope", 0},
	{"POST", "/api/v1/devices/{id}/assign", CP_AUTH_TOKEN, ASSIGNERS, cp_h_device_assign,
	 "assign a release to a device", 0},
	{"POST", "/api/v1/assign", CP_AUTH_TOKEN, ASSIGNERS, cp_h_assign,
	 "assign a release to every device a selector matches", 0},
	{"GET", "/api/v1/device/artifacts/{sha256}", CP_AUTH_DEVICE, 0, cp_h_artifact_get,
	 "download an artifact (Range, ETag)", 0},
	{"POST", "/api/v1/device/reports", CP_AUTH_DEVICE, 0, cp_h_reports,
	 "SLI reports of the device's agent (batched, deduplicated by seq)", 0},
	{"GET", "/api/v1/sli", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_sli,
	 "SLI summary and series of a device or cohort", 0},
	{"GET", "/api/v1/drift", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_drift,
	 "input drift of a release against its baseline, per feature", 0},
	{"GET", "/metrics", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_metrics,
	 "Prometheus metrics: server internals and fleet SLIs", CP_ROUTE_PUBLIC_OPT},
	{"GET", "/api/v1/slos", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_slos_list,
	 "SLOs with budget remaining, burn rates and firing alerts", 0},
	{"POST", "/api/v1/slos/openslo", CP_AUTH_TOKEN, OPS, cp_h_slo_openslo,
	 "import the SLOs of an OpenSLO v1 YAML file (all or nothing)", 0},
	{"GET", "/api/v1/slos/{name}", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_slo_show,
	 "one SLO with its status", 0},
	{"PUT", "/api/v1/slos/{name}", CP_AUTH_TOKEN, OPS, cp_h_slo_put,
	 "create or replace an SLO", 0},
	{"DELETE", "/api/v1/slos/{name}", CP_AUTH_TOKEN, OPS, cp_h_slo_delete,
	 "delete an SLO (its firing alerts resolve)", 0},
	{"GET", "/api/v1/alerts", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_alerts_list,
	 "burn-rate alerts by state, newest first", 0},
	{"GET", "/api/v1/events", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_events_list,
	 "events (alert transitions) after a sequence number", 0},
	{"GET", "/api/v1/events/stream", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_events_stream,
	 "the event log live, as Server-Sent Events", 0},
	{"POST", "/api/v1/rollouts", CP_AUTH_TOKEN, ASSIGNERS, cp_h_rollout_start,
	 "start a canary rollout of a release to the devices a selector matches", 0},
	{"GET", "/api/v1/rollouts", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_rollouts_list,
	 "rollouts, newest first", 0},
	{"GET", "/api/v1/rollouts/{id}", CP_AUTH_TOKEN, CP_ROLES_ALL, cp_h_rollout_show,
	 "a rollout: stage, devices per state, each gate against its threshold, history", 0},
	{"POST", "/api/v1/rollouts/{id}/pause", CP_AUTH_TOKEN, ASSIGNERS, cp_h_rollout_pause,
	 "pause a running rollout", 0},
	{"POST", "/api/v1/rollouts/{id}/resume", CP_AUTH_TOKEN, ASSIGNERS, cp_h_rollout_resume,
	 "resume a paused rollout", 0},
	{"POST", "/api/v1/rollouts/{id}/abort", CP_AUTH_TOKEN, ASSIGNERS, cp_h_rollout_abort,
	 "abort a rollout and roll every touched device back", 0},
	{"POST", "/api/v1/rollouts/{id}/promote", CP_AUTH_TOKEN, ASSIGNERS, cp_h_rollout_promote,
	 "skip the rest of the current stage's bake", 0},
};
/* clang-format on */
const size_t cp_routes_count = FL_ARRAY_SIZE(cp_routes);
_Static_assert(FL_ARRAY_SIZE(cp_routes) < CP_ROUTE_STATS_MAX, "raise CP_ROUTE_STATS_MAX");

const double cp_latency_bounds[CP_LATENCY_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
						      0.05,   0.1,   0.25,   0.5,   1,	  5};
struct cp_route_stats cp_route_stats[CP_ROUTE_STATS_MAX];

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Counts the request by route and status class and its latency (/metrics). */
static void route_observe(const struct cp_route *r, int status, int64_t t0_us)
{
	struct cp_route_stats *st =
	    &cp_route_stats[r ? (size_t)(r - cp_routes) : CP_ROUTE_STATS_MAX - 1];
	int64_t us = mono_us() - t0_us;
	size_t b = 0;

	if (status >= 100 && status < 600)
		atomic_fetch_add_explicit(&st->by_class[status / 100 - 1], 1, memory_order_relaxed);
	while (b < CP_LATENCY_BUCKETS && (double)us > cp_latency_bounds[b] * 1e6)
		b++;
	atomic_fetch_add_explicit(&st->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&st->sum_us, us, memory_order_relaxed);
}

static const char *const role_names[] = {"admin", "release-manager", "operator", "viewer",
					 "automation"};

const char *cp_role_name(int role)
{
	for (size_t i = 0; i < FL_ARRAY_SIZE(role_names); i++)
		if (role == (1 << i))
			return role_names[i];
	return "none";
}

int cp_role_parse(const char *name)
{
	for (size_t i = 0; i < FL_ARRAY_SIZE(role_names); i++)
		if (strcmp(name, role_names[i]) == 0)
			return 1 << i;
	return 0;
}

static int hexval(int c)
{
	if (isdigit(c))
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes [s, s+len) into out; refuses NUL and bad escapes. */
static int url_decode(char *out, size_t cap, const char *s, size_t len, int plus_is_space)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return FL_EINVAL;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return FL_EINVAL;
			c = hi * 16 + lo;
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		if (c == 0 || n + 1 >= cap)
			return FL_EINVAL;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

int cp_query_param(char *out, size_t cap, const struct cp_req *req, const char *name,
		   struct fl_err *err)
{
	const char *p = req->query;
	size_t nlen = strlen(name);

	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);

		if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			if (url_decode(out, cap, p + nlen + 1, len - nlen - 1, 1) < 0)
				return fl_err_set(err, FL_EINVAL, "bad query parameter '%s'", name);
			return 0;
		}
		p = amp ? amp + 1 : NULL;
	}
	return FL_ENOTFOUND;
}

/* Matches the raw path against pattern and decodes the {placeholders} into
 * params. 1 on match, 0 on none, -1 when a placeholder is badly encoded (a
 * NUL, a bad escape): that request is refused, not routed elsewhere. */
static int match(struct cp_req *req, const char *pattern, const char *path)
{
	int np = 0;

	while (*pattern && *path) {
		if (*pattern == '{') {
			const char *end = strchr(path, '/');
			size_t len = end ? (size_t)(end - path) : strlen(path);

			if (len == 0 || np >= 2)
				return 0;
			if (url_decode(req->params[np], sizeof(req->params[0]), path, len, 0) < 0)
				return -1;
			np++;
			path += len;
			pattern = strchr(pattern, '}') + 1;
			continue;
		}
		if (*pattern++ != *path++)
			return 0;
	}
	return *pattern == '\0' && *path == '\0';
}

int cp_param_id(const char **out, struct cp_req *req, int n, struct fl_err *err)
{
	if (!fl_id_valid(req->params[n]))
		return fl_err_set(err, FL_EINVAL,
				  "bad id: use 1-64 of A-Z a-z 0-9 . _ - (no '/', '..' or NUL)");
	*out = req->params[n];
	return 0;
}

int cp_reply(struct cp_resp *resp, int status, json_t *body)
{
	cp_resp_release(resp);
	resp->status = status;
	resp->body = body;
	return body ? 0 : FL_ENOMEM;
}

void cp_resp_release(struct cp_resp *r)
{
	json_decref(r->body);
	r->body = NULL;
	free(r->raw);
	r->raw = NULL;
	free(r->file_path);
	r->file_path = NULL;
}

int cp_body_object(json_t **out, struct cp_req *req, const char *const *allowed, struct fl_err *err)
{
	int rc;

	*out = NULL;
	if (!req->body || req->body_len == 0)
		return fl_err_set(err, FL_EINVAL, "request body must be a JSON object");
	if ((rc = fl_json_parse_object(out, req->body, req->body_len, err)) < 0)
		return rc;
	if (allowed && (rc = fl_json_only(*out, allowed, err)) < 0) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

void cp_audit_rec_init(struct cp_audit_rec *a, const struct cp_req *req, const char *action,
		       const char *target, json_t *details)
{
	a->actor = req->who.actor[0] ? req->who.actor : "anonymous";
	a->action = action;
	a->target = target;
	a->details = details;
}

static int auth_token(struct cp_req *req, struct fl_err *err)
{
	const char *h = req->header(req->conn, "Authorization");
	struct cp_token t;
	char hash[65];
	int rc;

	if (!h || strncmp(h, "Bearer ", 7) != 0 || strlen(h + 7) < 8 || strlen(h + 7) > 200)
		return fl_err_set(err, FL_EUNAUTH, "missing or malformed bearer token");
	fl_sha256_hex(hash, h + 7, strlen(h + 7));
	rc = cp_store_token_by_hash(&t, req->app->store, hash, err);
	if (rc == FL_ENOTFOUND)
		return fl_err_set(err, FL_EUNAUTH, "unknown token");
	if (rc < 0)
		return rc;
	if (t.revoked_at)
		return fl_err_set(err, FL_EUNAUTH, "token revoked");
	if (t.expires_at && t.expires_at <= req->now)
		return fl_err_set(err, FL_EUNAUTH, "token expired");
	req->who.kind = CP_AUTH_TOKEN;
	snprintf(req->who.id, sizeof(req->who.id), "%s", t.id);
	req->who.role = cp_role_parse(t.role);
	snprintf(req->who.actor, sizeof(req->who.actor), "token:%s (%s)", t.id, t.role);
	return 0;
}

/* Verifies the request signature, in the order of reference/security.md §4.3:
 * strict parse, key from the registry, time window, digest and signature, then
 * the nonce (so that garbage cannot fill the replay cache), then the state. */
static int auth_device(struct cp_req *req, struct fl_err *err)
{
	struct fl_sig_params p;
	uint8_t sig[FL_ED25519_SIG_LEN];
	struct cp_dev d;
	int rc;

	rc = fl_httpsig_parse(&p, sig, req->header(req->conn, "Signature-Input"),
			      req->header(req->conn, "Signature"), err);
	if (rc < 0)
		return rc;
	if (cp_registry_by_keyid(&d, req->app->reg, p.keyid) < 0)
		return fl_err_set(err, FL_EUNAUTH, "unknown device key");
	/* The replay cache starts empty but for future-dated nonces
	 * (core/replay.h): a request signed before this process started could be
	 * a replay it cannot recognise. The agent signs every attempt afresh, so
	 * refusing those costs one retry. */
	if (cp_replay_before_start(p.created, req->app->started_at))
		return fl_err_set(err, FL_EUNAUTH, "signed before the server started; sign again");
	rc = fl_httpsig_verify(&p, sig, d.pk, req->method, req->path, req->query,
			       req->header(req->conn, "Content-Digest"), req->body, req->body_len,
			       req->now, err);
	if (rc < 0)
		return rc;
	/* Keep the nonce for as long as the signature could still be accepted. */
	rc = cp_replay_claim(req->app->nonces, req->app->store, p.keyid, p.nonce, p.created,
			     p.expires + FL_SIG_SKEW + 1, req->now, err);
	if (rc == FL_EEXISTS) {
		atomic_fetch_add(&req->app->counters.replays, 1);
		return fl_err_set(err, FL_EUNAUTH, "replayed request (nonce already seen)");
	}
	if (rc < 0)
		return rc;
	req->who.kind = CP_AUTH_DEVICE;
	snprintf(req->who.id, sizeof(req->who.id), "%s", d.id);
	snprintf(req->who.keyid, sizeof(req->who.keyid), "%s", d.keyid);
	snprintf(req->who.state, sizeof(req->who.state), "%s", d.state);
	snprintf(req->who.actor, sizeof(req->who.actor), "device:%s", d.id);
	if (strcmp(d.state, "accepted") != 0 && strcmp(d.state, "quarantined") != 0)
		return fl_err_set(err, FL_EFORBIDDEN, "device is %s%s", d.state,
				  strcmp(d.state, "pending") == 0 ? " approval" : "");
	return 0;
}

static int rate_limit(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	struct cp_ratelimit *rl;
	char ident[128];
	int64_t wait = 0;

	switch (req->who.kind) {
	case CP_AUTH_DEVICE:
		rl = req->app->rl_device;
		snprintf(ident, sizeof(ident), "d:%s", req->who.keyid);
		break;
	case CP_AUTH_TOKEN:
		rl = req->app->rl_token;
		snprintf(ident, sizeof(ident), "t:%s", req->who.id);
		break;
	default:
		rl = req->app->rl_anon;
		snprintf(ident, sizeof(ident), "a:%s", req->remote ? req->remote : "?");
	}
	if (cp_ratelimit_take(rl, ident, fl_mono_ms(), &wait) < 0) {
		atomic_fetch_add(&req->app->counters.rate_limited, 1);
		resp->retry_after = wait;
		return fl_err_set(err, FL_EAGAIN, "rate limit exceeded; retry in %lld s",
				  (long long)wait);
	}
	return 0;
}

const struct cp_route *cp_api_route(const char *method, const char *path)
{
	struct cp_req scratch;

	for (size_t i = 0; i < cp_routes_count; i++) {
		memset(&scratch, 0, sizeof(scratch));
		if (match(&scratch, cp_routes[i].pattern, path) > 0 &&
		    strcmp(cp_routes[i].method, method) == 0)
			return &cp_routes[i];
	}
	return NULL;
}

int cp_api_inline_ok(const struct cp_route *r, const struct cp_req *req)
{
	if (!r || !(r->flags & CP_ROUTE_INLINE))
		return 0;
	if (r->auth == CP_AUTH_DEVICE) {
		/* A signature dated ahead of now has its nonce stored before
		 * the reply (core/replay.h). Only the number is read here; the
		 * router verifies the whole signature as always. */
		const char *in = req->header(req->conn, "Signature-Input");
		const char *c = in ? strstr(in, ";created=") : NULL;
		char *end;
		long long created;

		if (!c)
			return 0;
		created = strtoll(c + 9, &end, 10);
		if (end == c + 9 || created > req->now)
			return 0;
	}
	return r->handler != cp_h_checkin || !cp_checkin_may_block(req);
}

void cp_api_handle(struct cp_resp *resp, struct cp_req *req)
{
	const struct cp_route *r = NULL;
	struct fl_err err = {0, ""};
	int path_known = 0, rc = 0, anon_ok;
	int64_t t0_us = mono_us();

	memset(resp, 0, sizeof(*resp));
	resp->head_length = -1;
	atomic_fetch_add(&req->app->counters.requests, 1);
	for (size_t i = 0; i < cp_routes_count; i++) {
		int m = match(req, cp_routes[i].pattern, req->path);

		if (m < 0) {
			rc = fl_err_set(&err, FL_EINVAL, "bad percent-encoding in the path");
			cp_error_reply(resp, rc, err.msg);
			goto done;
		}
		if (!m)
			continue;
		path_known = 1;
		if (strcmp(cp_routes[i].method, req->method) == 0) {
			r = &cp_routes[i];
			break;
		}
	}
	if (!r) {
		rc = path_known
			 ? fl_err_set(&err, FL_EINVAL, "method %s not allowed here", req->method)
			 : fl_err_set(&err, FL_ENOTFOUND, "no route for %s %s", req->method,
				      req->path);
		cp_error_reply(resp, rc, err.msg);
		if (path_known) {
			/* 405 is the router's alone, outside the error-code table. */
			resp->status = 405;
			json_object_set_new(json_object_get(resp->body, "error"), "code",
					    json_string("method_not_allowed"));
		}
		goto done;
	}
	req->route = r;
	/* Unauthenticated routes are limited per address before any work is done. */
	if (r->auth == CP_AUTH_NONE && (rc = rate_limit(resp, req, &err)) < 0)
		goto fail;
	/* --metrics-public: anonymous scrapes, rate-limited per address. */
	anon_ok = (r->flags & CP_ROUTE_PUBLIC_OPT) && req->app->cfg.metrics_public &&
		  !req->header(req->conn, "Authorization");
	if (r->auth == CP_AUTH_TOKEN && !anon_ok)
		rc = auth_token(req, &err);
	else if (r->auth == CP_AUTH_DEVICE)
		rc = auth_device(req, &err);
	if (rc < 0) {
		/* Guessing tokens or keys is charged to the address, like enrollment. */
		struct fl_err lim = {0, ""};

		req->who.kind = CP_AUTH_NONE;
		if (rate_limit(resp, req, &lim) < 0) {
			rc = lim.code;
			err = lim;
		}
		goto fail;
	}
	if (r->auth == CP_AUTH_TOKEN && !anon_ok && !(r->roles & req->who.role)) {
		rc = fl_err_set(&err, FL_EFORBIDDEN, "role '%s' may not %s %s",
				cp_role_name(req->who.role), r->method, r->pattern);
		goto fail;
	}
	if (r->auth != CP_AUTH_NONE && (rc = rate_limit(resp, req, &err)) < 0)
		goto fail;
	rc = r->handler(resp, req, &err);
	if (rc == 0)
		goto done;
fail:
	if (rc == FL_ENOMEM || !err.msg[0])
		fl_err_set(&err, rc, "%s", fl_err_name(rc));
	cp_error_reply(resp, rc, err.msg);
	if (resp->status >= 500)
		fl_log_fields(FL_LOG_ERROR, json_pack("{s:s}", "req", req->id), "%s %s failed: %s",
			      req->method, req->path, err.msg);
done:
	route_observe(r, resp->status, t0_us);
	if (resp->status >= 500)
		atomic_fetch_add(&req->app->counters.errors_5xx, 1);
	else if (resp->status >= 400)
		atomic_fetch_add(&req->app->counters.errors_4xx, 1);
}

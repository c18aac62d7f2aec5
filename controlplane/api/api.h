/*
 * api.h - the REST API: requests in, responses out, no HTTP library and no SQL.
 *
 * The HTTP layer fills a cp_req from the wire and calls cp_api_handle(),
 * which finds the route in the one route table, authenticates (bearer token
 * or device signature), checks the route's roles, applies the rate limit,
 * runs the handler and turns any error into {"error":{"code","message"}} with
 * the status from the one error table (errors.c).
 */
#ifndef CP_API_H
#define CP_API_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "fairlead/err.h"

enum cp_auth { CP_AUTH_NONE, CP_AUTH_TOKEN, CP_AUTH_DEVICE };

enum cp_role {
	CP_ROLE_ADMIN = 1 << 0,
	CP_ROLE_RELEASE = 1 << 1,
	CP_ROLE_OPERATOR = 1 << 2,
	CP_ROLE_VIEWER = 1 << 3,
	CP_ROLE_AUTOMATION = 1 << 4,
};
#define CP_ROLES_ALL 0x1f

/* Who made the request, once authenticated. */
struct cp_principal {
	enum cp_auth kind;
	char id[65]; /* token id or device id */
	int role;    /* CP_ROLE_* for tokens */
	char keyid[FL_KEYID_LEN + 1];
	char state[16]; /* device state */
	char actor[96]; /* "token:ID (role)" or "device:ID", for the audit log */
};

struct cp_req {
	const char *method;
	const char *path;  /* decoded path, no query */
	const char *query; /* raw query without '?', "" when none */
	const char *body;
	size_t body_len;
	/* Streaming routes (CP_ROUTE_STREAM) get no body above; they read it
	 * with read() (bytes read, 0 at the end, < 0 on error) up to
	 * content_length (-1: not declared), and count what they read in
	 * body_read so the HTTP layer knows whether the connection is reusable. */
	int64_t content_length;
	int (*read)(void *conn, void *buf, size_t len);
	int64_t body_read;
	const char *remote; /* client address */
	char id[20];	    /* request id, also in X-Request-Id and the logs */
	const char *(*header)(void *conn, const char *name);
	void *conn;
	struct cp_app *app;
	int64_t now;
	/* set by the router */
	const struct cp_route *route;
	char params[2][256]; /* decoded {placeholders} in order */
	struct cp_principal who;
};

struct cp_resp {
	int status;
	json_t *body;	     /* JSON reply (owned), or NULL */
	int64_t retry_after; /* > 0: send Retry-After */
	/* Other reply kinds, each instead of body: */
	char *raw; /* exact JSON bytes to send (owned), e.g. a stored envelope */
	size_t raw_len;
	char *file_path; /* (owned) a file streamed from disk with Range and
			  * If-None-Match handled by the HTTP layer; etag is its
			  * strong ETag, e.g. "\"<sha256>\"" */
	char etag[80];
	int64_t head_length; /* >= 0 on a HEAD reply: its Content-Length */
	/* A Server-Sent Events stream of the event log from sse_after (< 0:
	 * from now), fed by the HTTP layer from app->events. */
	int sse;
	int64_t sse_after;
	const char *content_type; /* static; of a raw reply, NULL: application/json */
};

typedef int (*cp_handler)(struct cp_resp *resp, struct cp_req *req, struct fl_err *err);

/* The body is streamed to the handler instead of read into memory first. */
#define CP_ROUTE_STREAM 1
/* A token route that serves anonymous callers too when the server runs with
 * --metrics-public (GET /metrics). */
#define CP_ROUTE_PUBLIC_OPT 2

/* A route the HTTP layer may run on its event loop instead of a worker,
 * saving two thread hand-offs, when cp_api_inline_ok() says this request
 * will not block. For the hot path only: check-ins and health. */
#define CP_ROUTE_INLINE 4

struct cp_route {
	const char *method;
	const char *pattern; /* "/api/v1/devices/{id}" */
	enum cp_auth auth;
	int roles; /* CP_ROLE_* allowed (tokens only) */
	cp_handler handler;
	const char *summary;
	int flags; /* CP_ROUTE_* */
};

extern const struct cp_route cp_routes[];
extern const size_t cp_routes_count;

void cp_api_handle(struct cp_resp *resp, struct cp_req *req);
/* 1 when req (head and body read) may be handled on the HTTP layer's event
 * loop: its route is CP_ROUTE_INLINE, a device signature is not dated ahead
 * of now (those are stored before the reply), and its handler's own test
 * (a check-in carrying command results waits for their commit) says no. */
int cp_api_inline_ok(const struct cp_route *r, const struct cp_req *req);
/* The route method and raw path would reach, or NULL (no side effects): lets
 * the HTTP layer decide before reading a body whether to stream it. */
const struct cp_route *cp_api_route(const char *method, const char *path);
void cp_resp_release(struct cp_resp *r);

/* Per-route request counts by status class and a latency histogram, bumped
 * lock-free by the router for /metrics. Index: the route's position in
 * cp_routes; CP_ROUTE_STATS_MAX - 1 counts requests that matched no route. */
#define CP_ROUTE_STATS_MAX 128
#define CP_LATENCY_BUCKETS 12
extern const double cp_latency_bounds[CP_LATENCY_BUCKETS]; /* seconds, ascending */
struct cp_route_stats {
	_Atomic int64_t by_class[5];			 /* 1xx .. 5xx */
	_Atomic int64_t buckets[CP_LATENCY_BUCKETS + 1]; /* last: +Inf */
	_Atomic int64_t sum_us;
};
extern struct cp_route_stats cp_route_stats[CP_ROUTE_STATS_MAX];

/* The error table: status and code name for an FL_E* code. */
int cp_error_status(int code);
void cp_error_reply(struct cp_resp *resp, int code, const char *message);

/* Helpers for handlers. */
int cp_reply(struct cp_resp *resp, int status, json_t *body); /* steals body */
/* Parses the body as a JSON object with only the allowed keys. */
int cp_body_object(json_t **out, struct cp_req *req, const char *const *allowed,
		   struct fl_err *err);
/* Decoded query parameter into out; 0 found, FL_ENOTFOUND absent, FL_EINVAL bad. */
int cp_query_param(char *out, size_t cap, const struct cp_req *req, const char *name,
		   struct fl_err *err);
/* The {id} placeholder n, validated with fl_id_valid. */
int cp_param_id(const char **out, struct cp_req *req, int n, struct fl_err *err);
/* Appends an audit record for req's principal; details borrowed. */
void cp_audit_rec_init(struct cp_audit_rec *a, const struct cp_req *req, const char *action,
		       const char *target, json_t *details);
/* The validator of inventory shared by handlers (flat short strings);
 * labels are checked by cp_device_labels_check (core/devices.h). */
int cp_check_inventory(const json_t *inv, struct fl_err *err);
/* Adds last_seen and online from memory to a device row (h_devices.c). */
void cp_device_overlay(json_t *dev, struct cp_req *req);
/* The "update" object of a device: assigned, state, progress, reason,
 * running, in_sync (h_releases.c). */
int cp_device_update_status(json_t **out, struct cp_req *req, json_t *dev, struct fl_err *err);

/* A role's name and back. */
const char *cp_role_name(int role);
int cp_role_parse(const char *name);

/* Records every release that git holds but the database lacks (a push cut
 * short between its git commit and its row). Run before serving. */
int cp_releases_reconcile(struct cp_app *app, struct fl_err *err);

/* Handlers, one file per family. */
int cp_h_health(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_routes(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_enroll_challenge(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_enroll(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_checkin(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_checkin_may_block(const struct cp_req *req);
int cp_h_rotate_key(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_devices_list(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_device_show(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_device_state(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_device_labels(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_device_desired(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_device_preauth(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_command_create(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_commands_list(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_command_get(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_playbook_validate(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_playbook_test(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_runs_list(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_alertmanager(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_run_show(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_run_start(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_run_approve(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_run_deny(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_run_cancel(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_token_create(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_tokens_list(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_token_revoke(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_etoken_create(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_etokens_list(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_etoken_revoke(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_audit_list(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_audit_head(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_stats(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_root_get(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_root_put(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_blob_put(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_blob_head(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_release_push(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_releases_list(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_release_show(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_device_assign(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_assign(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_artifact_get(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_reports(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_sli(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_drift(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_metrics(struct cp_resp *, struct cp_req *, struct fl_err *);
/* SLOs, alerts and events (h_slo.c). */
int cp_h_slos_list(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_slo_show(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_slo_put(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_slo_openslo(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_slo_delete(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_alerts_list(struct cp_resp *, struct cp_req *, struct fl_err *);
/* Rollouts (h_rollouts.c) */
int cp_h_rollout_start(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_rollouts_list(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_rollout_show(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_rollout_pause(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_rollout_resume(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_rollout_abort(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_rollout_promote(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_events_list(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_events_stream(struct cp_resp *, struct cp_req *, struct fl_err *);
/* Stored playbooks (h_playbooks.c). */
int cp_h_playbooks_list(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_playbook_show(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_playbook_put(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_playbook_delete(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_playbook_enable(struct cp_resp *, struct cp_req *, struct fl_err *);
int cp_h_playbook_disable(struct cp_resp *, struct cp_req *, struct fl_err *);
/* The update part of a check-in reply (h_releases.c). */
int cp_checkin_update(json_t *reply, struct cp_req *req, const struct cp_dev *d,
		      const json_t *update, const json_t *inventory, struct fl_err *err);

#endif

/*
 * h_meta.c - health, the route table and server internals.
 */
#include <stdatomic.h>

#include "api.h"

int cp_h_health(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	return cp_reply(resp, 200, json_pack("{s:s,s:s}", "status", "ok", "version", FL_VERSION));
}

int cp_h_routes(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	static const char *const auth_names[] = {"none", "token", "device"};
	json_t *routes = json_array();

	for (size_t i = 0; i < cp_routes_count; i++) {
		const struct cp_route *r = &cp_routes[i];
		json_t *roles = json_array();

		for (int b = 0; b < 5; b++)
			if (r->roles & (1 << b))
				json_array_append_new(roles, json_string(cp_role_name(1 << b)));
		json_array_append_new(routes,
				      json_pack("{s:s,s:s,s:s,s:o,s:s}", "method", r->method,
						"path", r->pattern, "auth", auth_names[r->auth],
						"roles", roles, "summary", r->summary));
	}
	return cp_reply(resp, 200, json_pack("{s:o}", "routes", routes));
}

int cp_h_stats(struct cp_resp *resp, struct cp_req *req, struct fl_err *err)
{
	struct cp_app *app = req->app;
	struct cp_counters *c = &app->counters;
	struct cp_wb_stats wb;
	json_t *body;

	cp_wb_stats(&wb, app->wb);
	body = json_pack("{s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I,s:I},"
			 "s:I,s:I}",
			 "uptime_s", (json_int_t)(req->now - app->started_at), "devices",
			 (json_int_t)cp_registry_count(app->reg), "counters", "requests",
			 (json_int_t)atomic_load(&c->requests), "errors_4xx",
			 (json_int_t)atomic_load(&c->errors_4xx), "errors_5xx",
			 (json_int_t)atomic_load(&c->errors_5xx), "checkins",
			 (json_int_t)atomic_load(&c->checkins), "rate_limited",
			 (json_int_t)atomic_load(&c->rate_limited), "replays",
			 (json_int_t)atomic_load(&c->replays), "write_behind", "pending_devices",
			 (json_int_t)wb.pending_devices, "pending_results",
			 (json_int_t)wb.pending_results, "flushes", (json_int_t)wb.flushes,
			 "flush_errors", (json_int_t)wb.flush_errors, "last_flush_ms",
			 (json_int_t)wb.last_flush_ms, "lag_ms", (json_int_t)wb.oldest_pending_ms,
			 "nonces", (json_int_t)cp_expset_count(app->nonces), "challenges",
			 (json_int_t)cp_expset_count(app->challenges));
	/* The HTTP layer: connections held now, closed at a deadline, and
	 * requests shed because the workers were saturated. */
	if (body)
		json_object_set_new(body, "http",
				    json_pack("{s:I,s:I,s:I}", "connections",
					      (json_int_t)atomic_load(&c->connections),
					      "closed_deadline",
					      (json_int_t)atomic_load(&c->closed_deadline), "shed",
					      (json_int_t)atomic_load(&c->shed)));
	return cp_reply(resp, 200, body);
}

/*
 * test_plan.c - matching events to playbooks and planning runs: trigger
 * types and filters, conditions, the where condition, every blast-radius
 * cap (never exceeded, with each device left out named), rendered steps, and
 * a hash that changes with the plan and nothing else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"
#include "fl_test.h"
#include "playbook/format.h"
#include "playbook/match.h"
#include "playbook/plan.h"

static json_t *pb_of(const char *yaml)
{
	struct fl_err err = {0, ""};
	json_t *pb = NULL;

	cr_assert_eq(cp_pb_parse(&pb, yaml, strlen(yaml), "t.yaml", &err), 0, "%s", err.msg);
	return pb;
}

static json_t *json_of(const char *text)
{
	json_t *v = NULL;

	cr_assert_eq(fl_json_parse(&v, text, strlen(text), NULL), 0, "%s", text);
	return v;
}

static int matches(const json_t *pb, const char *ctx_text)
{
	struct cp_pb_matcher *m = NULL;
	struct fl_err err = {0, ""};
	json_t *ctx = json_of(ctx_text);
	int yes = -1;

	cr_assert_eq(cp_pb_matcher_new(&m, pb, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_pb_matcher_match(&yes, m, ctx, &err), 0, "%s", err.msg);
	cp_pb_matcher_free(m);
	json_decref(ctx);
	return yes;
}

#define STEPS "steps:\n  - name: s\n    action: wait\n    params: {for: 1s}\n"

Test(pb_match, type_filters_and_condition)
{
	json_t *pb = pb_of("name: a\nversion: 1\ntrigger:\n  type: alert.firing\n  slo: lat-*\n"
			   "  severity: page\n  sli: latency\n  labels: {stage: canary}\n"
			   "condition: 'event.alert.burn_rate > 10'\n" STEPS);
	const char *good = "{\"event\":{\"kind\":\"alert.firing\",\"slo\":\"lat-eu\","
			   "\"labels\":{\"stage\":\"canary\",\"site\":\"b\"},\"alert\":"
			   "{\"severity\":\"page\",\"sli\":\"latency\",\"burn_rate\":14.4}}}";

	cr_assert_eq(matches(pb, good), 1);
	cr_assert_eq(matches(pb, "{\"event\":{\"kind\":\"alert.resolved\",\"slo\":\"lat-eu\","
				 "\"labels\":{\"stage\":\"canary\"},\"alert\":{\"severity\":"
				 "\"page\",\"sli\":\"latency\",\"burn_rate\":14.4}}}"),
		     0, "another kind");
	cr_assert_eq(matches(pb, "{\"event\":{\"kind\":\"alert.firing\",\"slo\":\"err-eu\","
				 "\"labels\":{\"stage\":\"canary\"},\"alert\":{\"severity\":"
				 "\"page\",\"sli\":\"latency\",\"burn_rate\":14.4}}}"),
		     0, "slo glob");
	cr_assert_eq(matches(pb, "{\"event\":{\"kind\":\"alert.firing\",\"slo\":\"lat-eu\","
				 "\"labels\":{\"stage\":\"canary\"},\"alert\":{\"severity\":"
				 "\"ticket\",\"sli\":\"latency\",\"burn_rate\":14.4}}}"),
		     0, "severity");
	cr_assert_eq(matches(pb, "{\"event\":{\"kind\":\"alert.firing\",\"slo\":\"lat-eu\","
				 "\"labels\":{\"stage\":\"prod\"},\"alert\":{\"severity\":"
				 "\"page\",\"sli\":\"latency\",\"burn_rate\":14.4}}}"),
		     0, "labels");
	cr_assert_eq(matches(pb, "{\"event\":{\"kind\":\"alert.firing\",\"slo\":\"lat-eu\","
				 "\"alert\":{\"severity\":\"page\",\"sli\":\"latency\","
				 "\"burn_rate\":14.4}}}"),
		     0, "no labels at all");
	cr_assert_eq(matches(pb, "{\"event\":{\"kind\":\"alert.firing\",\"slo\":\"lat-eu\","
				 "\"labels\":{\"stage\":\"canary\"},\"alert\":{\"severity\":"
				 "\"page\",\"sli\":\"latency\",\"burn_rate\":6}}}"),
		     0, "condition");
	/* disabled: nothing matches */
	json_object_set_new(pb, "enabled", json_false());
	cr_assert_eq(matches(pb, good), 0);
	json_decref(pb);

	pb = pb_of("name: b\nversion: 1\ntrigger:\n  type: device.offline\n  for: 10m\n" STEPS);
	cr_assert_eq(matches(pb, "{\"event\":{\"kind\":\"device.offline\",\"offline_s\":600}}"), 1);
	cr_assert_eq(matches(pb, "{\"event\":{\"kind\":\"device.offline\",\"offline_s\":599}}"), 0);
	json_decref(pb);
	pb = pb_of("name: c\nversion: 1\ntrigger:\n  type: device.state_changed\n  to: "
		   "quarantined\n" STEPS);
	cr_assert_eq(matches(pb, "{\"event\":{\"kind\":\"device.state_changed\",\"from\":"
				 "\"accepted\",\"to\":\"quarantined\"}}"),
		     1);
	cr_assert_eq(matches(pb, "{\"event\":{\"kind\":\"device.state_changed\",\"from\":"
				 "\"quarantined\",\"to\":\"accepted\"}}"),
		     0);
	json_decref(pb);
	/* schedules and manual starts are fired by the engine, never matched */
	pb = pb_of("name: d\nversion: 1\ntrigger:\n  type: schedule\n  cron: '0 3 * * 1'\n" STEPS);
	cr_assert_eq(matches(pb, "{\"event\":{\"kind\":\"schedule\"}}"), 0);
	{
		struct cp_pb_matcher *m = NULL;
		json_t *ctx = json_of("{\"event\":{\"kind\":\"schedule\"}}");
		json_t *other = json_of("{\"event\":{\"kind\":\"manual\"}}");
		int yes = -1;

		cr_assert_eq(cp_pb_matcher_new(&m, pb, NULL), 0);
		cr_assert_eq(cp_pb_matcher_match_own(&yes, m, ctx, NULL), 0);
		cr_assert_eq(yes, 1, "the engine's own tick");
		cr_assert_eq(cp_pb_matcher_match_own(&yes, m, other, NULL), 0);
		cr_assert_eq(yes, 0, "a manual start is not this schedule");
		cp_pb_matcher_free(m);
		json_decref(ctx);
		json_decref(other);
	}
	json_decref(pb);
	pb = pb_of(
	    "name: e\nversion: 1\ntrigger:\n  type: alertmanager\n  alertname: High*\n" STEPS);
	cr_assert_eq(matches(pb, "{\"event\":{\"kind\":\"alertmanager\",\"alert\":{\"status\":"
				 "\"firing\",\"labels\":{\"alertname\":\"HighTemp\"}}}}"),
		     1, "status defaults to firing");
	cr_assert_eq(matches(pb, "{\"event\":{\"kind\":\"alertmanager\",\"alert\":{\"status\":"
				 "\"resolved\",\"labels\":{\"alertname\":\"HighTemp\"}}}}"),
		     0);
	cr_assert_eq(matches(pb, "{\"event\":{\"kind\":\"alertmanager\",\"alert\":{\"status\":"
				 "\"firing\",\"labels\":{\"alertname\":\"LowTemp\"}}}}"),
		     0);
	json_decref(pb);
}

/* n devices dev-000.. over sites s0..s(sites-1), every third one hw v2 */
static json_t *fleet(int n, int sites)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++) {
		char id[24], site[16];

		snprintf(id, sizeof(id), "dev-%03d", i);
		snprintf(site, sizeof(site), "s%d", i % sites);
		json_array_append_new(a, json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:i}}", "id", id,
						   "state", "accepted", "labels", "site", site,
						   "hw", i % 3 == 0 ? "v2" : "v1", "inventory",
						   "sensors", i % 2));
	}
	return a;
}

static json_t *plan_of(const json_t *pb, const json_t *ctx, const json_t *cands)
{
	struct fl_err err = {0, ""};
	json_t *plan = NULL;

	cr_assert_eq(cp_pb_plan(&plan, pb, ctx, cands, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_pb_plan_hash_ok(plan), 1);
	return plan;
}

static size_t skipped_for(const json_t *plan, const char *reason)
{
	size_t i, n = 0;
	json_t *s;

	json_array_foreach (json_object_get(plan, "skipped"), i, s)
		n += strcmp(json_string_value(json_object_get(s, "reason")), reason) == 0;
	return n;
}

Test(pb_plan, caps_are_never_exceeded_and_every_device_left_out_is_named)
{
	json_t *cands = fleet(100, 4), *ctx = json_of("{\"event\":{\"kind\":\"manual\"}}");
	json_t *pb, *plan, *d;
	size_t i, per_site[4] = {0};

	/* where keeps the v2 devices (34 of 100), the per-site cap 5 of each
	 * of the 4 sites (20), the cap 12 */
	pb = pb_of(
	    "name: p\nversion: 1\ntrigger: {type: manual}\n"
	    "targets:\n  selector: 'site'\n  where: 'device.labels.hw == \"v2\"'\n"
	    "blast_radius:\n  max_devices: 12\n  concurrency: 3\n  per_label: {label: site, max: "
	    "5}\n"
	    "steps:\n  - name: q\n    action: device.quarantine\n    params: {reason: 'x'}\n");
	plan = plan_of(pb, ctx, cands);
	cr_assert_eq(json_array_size(json_object_get(plan, "devices")), 12);
	cr_assert_eq(skipped_for(plan, "targets.where does not hold"), 66);
	cr_assert_eq(skipped_for(plan, "blast_radius.per_label"), 14);
	cr_assert_eq(skipped_for(plan, "blast_radius.max_devices"), 8);
	cr_assert_eq(
	    json_integer_value(json_object_get(json_object_get(plan, "limits"), "concurrency")), 3);
	json_array_foreach (json_object_get(plan, "devices"), i, d) {
		int n = atoi(json_string_value(d) + 4);

		cr_assert_eq(n % 3, 0, "%s is not v2", json_string_value(d));
		cr_assert_leq(++per_site[n % 4], 5);
	}
	/* a spread, not the lowest ids: the cap takes devices beyond the first 12 v2 ones
	 * (dev-000 to dev-033) */
	{
		int beyond = 0;

		json_array_foreach (json_object_get(plan, "devices"), i, d)
			beyond += atoi(json_string_value(d) + 4) > 33;
		cr_assert_gt(beyond, 0);
	}
	json_decref(plan);
	json_decref(pb);

	/* a percentage of what where left: 10% of 34 is 3; of 5 it is still 1 */
	pb = pb_of("name: p\nversion: 1\ntrigger: {type: manual}\n"
		   "targets:\n  selector: 'site'\n  where: 'device.labels.hw == \"v2\"'\n"
		   "blast_radius: {max_devices: '10%'}\n"
		   "steps:\n  - name: q\n    action: device.quarantine\n");
	plan = plan_of(pb, ctx, cands);
	cr_assert_eq(json_array_size(json_object_get(plan, "devices")), 3);
	json_decref(plan);
	json_decref(cands);
	cands = fleet(13, 1); /* 5 of them v2 */
	plan = plan_of(pb, ctx, cands);
	cr_assert_eq(json_array_size(json_object_get(plan, "devices")), 1);
	json_decref(plan);
	json_decref(pb);
	json_decref(cands);
	json_decref(ctx);
}

Test(pb_plan, steps_render_and_the_hash_follows_the_plan)
{
	json_t *cands = fleet(10, 2), *pb, *p1, *p2, *p3, *ctx, *ctx2;
	struct fl_err err = {0, ""};
	const char *yaml =
	    "name: r\nversion: 1\ntrigger: {type: manual}\ntargets: {selector: 'site'}\n"
	    "steps:\n  - name: pause\n    action: rollout.pause\n"
	    "    params: {rollout: '{{ event.rollout.id }}'}\n"
	    "    on_failure:\n      - name: tell\n        action: webhook\n"
	    "        params: {url: 'https://h.example/x', secret_env: K, body: {n: '{{ event.n "
	    "}}'}}\n";

	pb = pb_of(yaml);
	ctx = json_of("{\"event\":{\"kind\":\"manual\",\"rollout\":{\"id\":\"ro-7\"},\"n\":3}}");
	p1 = plan_of(pb, ctx, cands);
	cr_assert_str_eq(
	    json_string_value(json_object_get(
		json_object_get(json_array_get(json_object_get(p1, "steps"), 0), "params"),
		"rollout")),
	    "ro-7");
	/* a lone {{ }} keeps its type */
	cr_assert_eq(json_integer_value(json_object_get(
			 json_object_get(
			     json_object_get(
				 json_array_get(json_object_get(
						    json_array_get(json_object_get(p1, "steps"), 0),
						    "on_failure"),
						0),
				 "params"),
			     "body"),
			 "n")),
		     3);
	/* the same inputs: the same hash */
	p2 = plan_of(pb, ctx, cands);
	cr_assert_str_eq(json_string_value(json_object_get(p1, "hash")),
			 json_string_value(json_object_get(p2, "hash")));
	json_decref(p2);
	/* another event value, another device list, another version: each
	 * another hash */
	ctx2 = json_of("{\"event\":{\"kind\":\"manual\",\"rollout\":{\"id\":\"ro-8\"},\"n\":3}}");
	p2 = plan_of(pb, ctx2, cands);
	cr_assert_str_neq(json_string_value(json_object_get(p1, "hash")),
			  json_string_value(json_object_get(p2, "hash")));
	json_decref(p2);
	json_array_remove(cands, 0);
	p2 = plan_of(pb, ctx, cands);
	cr_assert_str_neq(json_string_value(json_object_get(p1, "hash")),
			  json_string_value(json_object_get(p2, "hash")));
	json_object_set_new(pb, "version", json_integer(2));
	p3 = plan_of(pb, ctx, cands);
	cr_assert_str_neq(json_string_value(json_object_get(p2, "hash")),
			  json_string_value(json_object_get(p3, "hash")));
	/* a tampered plan fails its hash */
	json_array_append_new(json_object_get(p3, "devices"), json_string("dev-999"));
	cr_assert_eq(cp_pb_plan_hash_ok(p3), 0);
	json_decref(p2);
	json_decref(p3);
	/* an undefined template value is an error naming the step */
	json_decref(ctx2);
	ctx2 = json_of("{\"event\":{\"kind\":\"manual\"}}");
	cr_assert_eq(cp_pb_plan(&p2, pb, ctx2, cands, &err), FL_EINVAL);
	cr_assert_null(p2);
	cr_assert(strstr(err.msg, "steps[0].params") != NULL, "%s", err.msg);
	cr_assert(strstr(err.msg, "event.rollout.id is undefined") != NULL, "%s", err.msg);
	json_decref(ctx2);
	json_decref(p1);
	json_decref(ctx);
	json_decref(pb);
	json_decref(cands);
}

#include "playbook/plan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/crypto.h"
#include "fairlead/json.h"
#include "fairlead/map.h"
#include "playbook/expr.h"
#include "playbook/template.h"

struct ranked {
	uint64_t rank;
	size_t i; /* index into the candidates */
};

static int by_rank(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* The hash of plan without its "hash" member, over its canonical text. */
static int plan_hash(char out[65], const json_t *plan)
{
	json_t *copy = json_copy((json_t *)(uintptr_t)plan);
	char *text;

	if (!copy)
		return FL_ENOMEM;
	json_object_del(copy, "hash");
	text = fl_json_dumps(copy);
	json_decref(copy);
	if (!text)
		return FL_ENOMEM;
	fl_sha256_hex(out, text, strlen(text));
	free(text);
	return 0;
}

int cp_pb_plan_hash_ok(const json_t *plan)
{
	const char *h = json_string_value(json_object_get(plan, "hash"));
	char want[65];

	return h && plan_hash(want, plan) == 0 && strcmp(h, want) == 0;
}

static int skip(json_t *skipped, const json_t *dev, const char *reason)
{
	return json_array_append_new(
	    skipped, json_pack("{s:O,s:s}", "id", json_object_get(dev, "id"), "reason", reason));
}

/* The steps with their parameters rendered, on_failure steps too. */
static int render_steps(json_t **out, const json_t *steps, const json_t *ctx, struct fl_err *err)
{
	json_t *res = json_array(), *st;
	size_t i;
	int rc = 0;

	*out = NULL;
	if (!res)
		return FL_ENOMEM;
	json_array_foreach ((json_t *)(uintptr_t)steps, i, st) {
		json_t *copy = json_deep_copy(st), *params = NULL, *fails;

		if (!copy) {
			rc = FL_ENOMEM;
			break;
		}
		if ((rc = cp_pb_tmpl_render_tree(&params, json_object_get(st, "params"), ctx,
						 err)) < 0) {
			fl_err_prefix(err, "steps[%zu].params", i);
			json_decref(copy);
			break;
		}
		json_object_set_new(copy, "params", params);
		if ((fails = json_object_get(st, "on_failure"))) {
			json_t *r = NULL;

			if ((rc = render_steps(&r, fails, ctx, err)) < 0) {
				json_decref(copy);
				break;
			}
			json_object_set_new(copy, "on_failure", r);
		}
		json_array_append_new(res, copy);
	}
	if (rc < 0) {
		json_decref(res);
		return rc;
	}
	*out = res;
	return 0;
}

int cp_pb_plan(json_t **out, const json_t *pb, const json_t *ctx, const json_t *candidates,
	       struct fl_err *err)
{
	const json_t *br = json_object_get(pb, "blast_radius");
	const json_t *per = json_object_get(br, "per_label");
	const char *where =
	    json_string_value(json_object_get(json_object_get(pb, "targets"), "where"));
	const char *name = json_string_value(json_object_get(pb, "name"));
	const char *per_label = json_string_value(json_object_get(per, "label"));
	int64_t per_max = json_integer_value(json_object_get(per, "max"));
	struct cp_pb_expr *w = NULL;
	struct ranked *order = NULL;
	json_t *devices = json_array(), *skipped = json_array(), *steps = NULL, *plan = NULL;
	json_t *dctx = NULL, *dev;
	struct fl_map groups;
	size_t n = 0, i, cap;
	char hash[65];
	int rc = 0;

	*out = NULL;
	fl_map_init(&groups);
	if (!devices || !skipped ||
	    !(order = calloc(json_array_size(candidates) + 1, sizeof(*order)))) {
		rc = FL_ENOMEM;
		goto cleanup;
	}
	if (where && (rc = cp_pb_expr_compile(&w, where, err)) < 0)
		goto cleanup;
	/* 1. where, with the device as a root beside the event's */
	if (!(dctx = json_copy((json_t *)(uintptr_t)ctx))) {
		rc = FL_ENOMEM;
		goto cleanup;
	}
	json_array_foreach ((json_t *)(uintptr_t)candidates, i, dev) {
		const char *id = json_string_value(json_object_get(dev, "id"));
		int yes = 1;

		if (!id)
			continue;
		if (w) {
			json_object_set((json_t *)dctx, "device", dev);
			if ((rc = cp_pb_expr_eval(&yes, w, dctx, err)) < 0)
				goto cleanup;
		}
		if (!yes) {
			if ((rc = skip(skipped, dev, "targets.where does not hold")) < 0)
				goto cleanup;
			continue;
		}
		/* 2. a stable spread: the hash of the playbook and the device */
		order[n].rank = fl_hash_bytes(fl_hash_str(name ? name : ""), id, strlen(id));
		order[n].i = i;
		n++;
	}
	qsort(order, n, sizeof(*order), by_rank);
	if (json_object_get(br, "max_devices_pct")) {
		cap = (size_t)(json_integer_value(json_object_get(br, "max_devices_pct")) *
			       (int64_t)n / 100);
		if (cap == 0 && n > 0)
			cap = 1;
	} else {
		cap = (size_t)json_integer_value(json_object_get(br, "max_devices"));
	}
	for (i = 0; i < n; i++) {
		dev = json_array_get(candidates, order[i].i);
		/* 3. per label value */
		if (per_label) {
			const char *v = json_string_value(
			    json_object_get(json_object_get(dev, "labels"), per_label));
			uintptr_t have = (uintptr_t)fl_map_get(&groups, v ? v : "");

			if ((int64_t)have >= per_max) {
				if ((rc = skip(skipped, dev, "blast_radius.per_label")) < 0)
					goto cleanup;
				continue;
			}
			if ((rc = fl_map_put(&groups, v ? v : "", (void *)(have + 1), NULL)) < 0)
				goto cleanup;
		}
		/* 4. the cap */
		if (json_array_size(devices) >= cap) {
			if ((rc = skip(skipped, dev, "blast_radius.max_devices")) < 0)
				goto cleanup;
			continue;
		}
		if ((rc = json_array_append(devices, json_object_get(dev, "id"))) < 0) {
			rc = FL_ENOMEM;
			goto cleanup;
		}
	}
	if ((rc = render_steps(&steps, json_object_get(pb, "steps"), ctx, err)) < 0)
		goto cleanup;
	plan =
	    json_pack("{s:O,s:O,s:O,s:O,s:{s:I,s:O},s:o}", "playbook", json_object_get(pb, "name"),
		      "version", json_object_get(pb, "version"), "devices", devices, "skipped",
		      skipped, "limits", "max_devices", (json_int_t)cap, "concurrency",
		      json_object_get(br, "concurrency"), "steps", steps);
	steps = NULL;
	if (!plan) {
		rc = FL_ENOMEM;
		goto cleanup;
	}
	if (per)
		json_object_set(json_object_get(plan, "limits"), "per_label",
				(json_t *)(uintptr_t)per);
	if ((rc = plan_hash(hash, plan)) < 0)
		goto cleanup;
	json_object_set_new(plan, "hash", json_string(hash));
	*out = plan;
	plan = NULL;
cleanup:
	json_decref(plan);
	json_decref(steps);
	json_decref(devices);
	json_decref(skipped);
	json_decref(dctx);
	cp_pb_expr_free(w);
	free(order);
	fl_map_release(&groups);
	return rc;
}

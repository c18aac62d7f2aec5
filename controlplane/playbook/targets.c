#include "playbook/targets.h"

#include <stdio.h>
#include <string.h>

#include "fairlead/selector.h"
#include "playbook/template.h"
#include "store/store.h"

/* The rendered string of a targets field. */
static int render(json_t **out, const json_t *src, const json_t *ctx, struct fl_err *err)
{
	struct cp_pb_tmpl *t = NULL;
	int rc;

	*out = NULL;
	if ((rc = cp_pb_tmpl_compile(&t, json_string_value(src), err)) < 0)
		return rc;
	rc = cp_pb_tmpl_render(out, t, ctx, err);
	cp_pb_tmpl_free(t);
	if (rc == 0 && !json_is_string(*out)) {
		json_decref(*out);
		*out = NULL;
		rc = fl_err_set(err, FL_EINVAL, "targets: the rendered value is not a string");
	}
	return rc;
}

static int candidate(json_t *out, const json_t *dev)
{
	json_t *inv = json_object_get(dev, "inventory");

	return json_array_append_new(
	    out, json_pack("{s:O,s:O,s:O,s:O}", "id", json_object_get(dev, "id"), "labels",
			   json_object_get(dev, "labels"), "state", json_object_get(dev, "state"),
			   "inventory", inv ? inv : json_object()));
}

static int by_selector(json_t *out, struct cp_store *store, const char *expr, struct fl_err *err)
{
	struct fl_selector *sel = NULL;
	char after[80] = "";
	json_t *page = NULL, *dev;
	size_t i;
	int rc, more = 1;

	if ((rc = fl_selector_parse(&sel, expr, err)) < 0)
		return fl_err_prefix(err, "targets.selector");
	while (more && rc >= 0) {
		if ((rc = cp_store_devices_page(&page, store, after, 500, err)) < 0)
			break;
		more = json_array_size(page) == 500;
		json_array_foreach (page, i, dev) {
			snprintf(after, sizeof(after), "%s",
				 json_string_value(json_object_get(dev, "id")));
			if (!fl_selector_match(sel, json_object_get(dev, "labels"),
					       json_string_value(json_object_get(dev, "state"))))
				continue;
			if (json_array_size(out) >= CP_PB_TARGETS_MAX) {
				rc = fl_err_set(err, FL_ETOOBIG,
						"targets.selector matches more than %d devices",
						CP_PB_TARGETS_MAX);
				break;
			}
			if (candidate(out, dev) < 0) {
				rc = FL_ENOMEM;
				break;
			}
		}
		json_decref(page);
		page = NULL;
	}
	fl_selector_free(sel);
	return rc < 0 ? rc : 0;
}

int cp_pb_targets_resolve(json_t **out, struct cp_store *store, const json_t *pb, const json_t *ctx,
			  struct fl_err *err)
{
	const json_t *t = json_object_get(pb, "targets"), *src;
	json_t *res = json_array(), *v = NULL, *rows = NULL, *row, *dev = NULL;
	size_t i;
	int rc = 0;

	*out = NULL;
	if (!res)
		return FL_ENOMEM;
	if ((src = json_object_get(t, "selector"))) {
		if ((rc = render(&v, src, ctx, err)) >= 0)
			rc = by_selector(res, store, json_string_value(v), err);
	} else if ((src = json_object_get(t, "device"))) {
		if ((rc = render(&v, src, ctx, err)) >= 0) {
			rc = cp_store_device_get(&dev, store, json_string_value(v), err);
			if (rc == FL_ENOTFOUND)
				rc = 0; /* no such device: no target */
			else if (rc >= 0)
				rc = candidate(res, dev) < 0 ? FL_ENOMEM : 0;
		}
	} else if ((src = json_object_get(t, "rollout_devices"))) {
		if ((rc = render(&v, src, ctx, err)) >= 0 &&
		    (rc = cp_store_rollout_devices(&rows, store, json_string_value(v), err)) >= 0) {
			/* the devices the rollout touched: given a release */
			json_array_foreach (rows, i, row) {
				const char *id =
				    json_string_value(json_object_get(row, "device_id"));

				if (json_integer_value(json_object_get(row, "assigned_at")) == 0)
					continue;
				json_decref(dev);
				dev = NULL;
				if ((rc = cp_store_device_get(&dev, store, id, err)) < 0)
					break;
				if (candidate(res, dev) < 0) {
					rc = FL_ENOMEM;
					break;
				}
			}
		} else if (rc == FL_ENOTFOUND) {
			rc = 0;
		}
	}
	json_decref(v);
	json_decref(rows);
	json_decref(dev);
	if (rc < 0) {
		json_decref(res);
		return rc;
	}
	*out = res;
	return 0;
}

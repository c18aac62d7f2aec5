/*
 * format.c - playbook files (format.h): the document above the steps, the
 * JSON line finder and the entry points. The walk's helpers are in
 * format_fields.c, the checks other modules will own in format_hooks.c, the
 * steps in format_steps.c.
 *
 * One walk serves the file and the canonical JSON: it reads the input and
 * writes the canonical form, and the two differ only in how a duration is
 * spelled ("timeout: 90s" against "timeout_s": 90, see pb_dur) and in
 * blast_radius.max_devices ("10%" against max_devices_pct), so the checks
 * cannot drift apart.
 */
#include "playbook/format.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"
#include "fairlead/selector.h"
#include "fairlead/tz.h"
#include "fairlead/util.h"
#include "playbook/format_int.h"

/* ---- the document above the steps ---- */

static int name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PB_NAME_MAX ||
	    !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return 0;
	return 1;
}

/* The labels filter: every pair must equal the event's labels. Alertmanager
 * labels are Prometheus's (names [A-Za-z_][A-Za-z0-9_]*, any value), the
 * others Fairlead's (util.h). */
static int labels_filter(struct pbc *c, json_t *out, const json_t *in, int prom)
{
	const json_t *l = NULL;
	const char *key;
	json_t *v, *copy;
	struct pb_at a;
	int rc;

	if ((rc = pb_obj(c, in, "labels", 0, &l)) < 0 || !l)
		return rc;
	a = pb_key(c, in, "labels");
	if (json_object_size(l) > 32)
		return pb_bad(c, "more than 32 labels");
	json_object_foreach ((json_t *)(uintptr_t)l, key, v) {
		struct pb_at b = pb_key(c, l, key);
		int kok = 1;

		if (prom) {
			kok = isalpha((unsigned char)key[0]) || key[0] == '_';
			for (const char *p = key; *p && kok; p++)
				kok = isalnum((unsigned char)*p) || *p == '_';
			kok = kok && strlen(key) <= 128;
		} else {
			kok = fl_label_key_valid(key);
		}
		if (!kok)
			return pb_bad(c, "bad label name");
		if (!json_is_string(v))
			return pb_wrong_type(c, v, "a string");
		if (strlen(json_string_value(v)) != json_string_length(v) ||
		    (prom ? json_string_length(v) > 1024
			  : !fl_label_value_valid(json_string_value(v))))
			return pb_bad(c, "bad label value '%.64s'", json_string_value(v));
		pb_back(c, b);
	}
	if (!(copy = json_deep_copy(l)) || (rc = pb_put(c, out, "labels", copy)) < 0)
		return pb_oom(c);
	pb_back(c, a);
	return 0;
}

/* UTC, +HH:MM, -HH:MM or an IANA name. */
static int tz_ok(const char *s)
{
	if ((s[0] == '+' || s[0] == '-') && strlen(s) == 6)
		return isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]) &&
		       s[3] == ':' && isdigit((unsigned char)s[4]) &&
		       isdigit((unsigned char)s[5]) && (s[1] - '0') * 10 + (s[2] - '0') <= 14 &&
		       s[4] <= '5';
	return fl_tz_name_valid(s);
}

static const char *const f_alert[] = {"slo", "severity", "sli", "labels", NULL};
static const char *const f_labels[] = {"labels", NULL};
static const char *const f_offline[] = {"for~", "labels", NULL};
static const char *const f_state[] = {"from", "to", "labels", NULL};
static const char *const f_schedule[] = {"cron", "tz", NULL};
static const char *const f_none[] = {NULL};
static const char *const f_alertmanager[] = {"alertname", "status", "labels", NULL};
/* Every filter of any type, so that a filter of another type is named so. */
static const char *const f_all[] = {"slo", "severity", "sli", "labels",	   "for~",   "from",
				    "to",  "cron",     "tz",  "alertname", "status", NULL};

static const struct {
	const char *type;
	const char *const *filters;
} trigger_types[] = {
    {"alert.firing", f_alert},
    {"alert.resolved", f_alert},
    {"rollout.gate_failed", f_labels},
    {"rollout.aborted", f_labels},
    {"rollout.paused", f_labels},
    {"device.update_failed", f_labels},
    {"device.rolled_back", f_labels},
    {"device.offline", f_offline},
    {"device.state_changed", f_state},
    {"schedule", f_schedule},
    {"manual", f_none},
    {"alertmanager", f_alertmanager},
};

static const char *const severities[] = {"page", "ticket", NULL};
/* The SLO module's SLI kinds (core/slo.c kind_names). */
static const char *const sli_kinds[] = {"uptime", "latency", "errors", "drift", "carbon", NULL};
static const char *const am_status[] = {"firing", "resolved", NULL};

/* A glob filter: fnmatch patterns are bounded at 256 bytes when matched. */
static int glob_filter(struct pbc *c, json_t *out, const json_t *in, const char *key)
{
	return pb_str(c, out, in, key, 0, 256, NULL);
}

static int state_filter(struct pbc *c, json_t *out, const json_t *in, const char *key)
{
	const char *s = NULL;
	struct pb_at a;
	int rc;

	if ((rc = pb_str(c, out, in, key, 0, 64, &s)) < 0 || !s)
		return rc;
	a = pb_key(c, in, key);
	if (!fl_device_state_valid(s))
		return pb_bad(c,
			      "'%.64s' is not a device state (pending, accepted, rejected, "
			      "quarantined, revoked, decommissioned)",
			      s);
	pb_back(c, a);
	return 0;
}

static int trigger(struct pbc *c, json_t *out, const json_t *doc)
{
	const json_t *t = NULL;
	const char *type = NULL, *key, *cron = NULL, *tz = NULL;
	const char *const *filters = NULL;
	json_t *o, *v;
	struct pb_at a;
	size_t k;
	int rc;

	if ((rc = pb_obj(c, doc, "trigger", PB_REQ, &t)) < 0)
		return rc;
	if (!(o = json_object()) || (rc = pb_put(c, out, "trigger", o)) < 0)
		return pb_oom(c);
	a = pb_key(c, doc, "trigger");
	if ((rc = pb_str(c, o, t, "type", PB_REQ, 64, &type)) < 0)
		return rc;
	for (k = 0; k < FL_ARRAY_SIZE(trigger_types); k++)
		if (!strcmp(trigger_types[k].type, type))
			filters = trigger_types[k].filters;
	if (!filters) {
		pb_key(c, t, "type");
		return pb_bad(c,
			      "unknown trigger type '%.64s' (alert.firing|resolved, "
			      "rollout.gate_failed|aborted|paused, "
			      "device.update_failed|rolled_back|offline|state_changed, schedule, "
			      "manual, alertmanager)",
			      type);
	}
	json_object_foreach ((json_t *)(uintptr_t)t, key, v) {
		char list[160];

		(void)v;
		if (!strcmp(key, "type") || pb_in_names(c, filters, key))
			continue;
		pb_name_list(c, list, sizeof(list), filters);
		pb_key(c, t, key);
		if (pb_in_names(c, f_all, key))
			return pb_bad(c, "not a filter of %s (%s%s)", type,
				      *filters ? "its filters: " : "it has no filters", list);
		if (!*filters)
			return pb_bad(c, "unknown field in the trigger (%s takes only type)", type);
		return pb_bad(c, "unknown field in the trigger%s (type and the filters of %s: %s)",
			      pb_spelling_hint(c, f_all, key), type, list);
	}
	if ((rc = glob_filter(c, o, t, "slo")) < 0 ||
	    (rc = pb_enum(c, o, t, "severity", 0, severities, NULL, NULL)) < 0 ||
	    (rc = pb_enum(c, o, t, "sli", 0, sli_kinds, NULL, NULL)) < 0 ||
	    (rc = labels_filter(c, o, t, !strcmp(type, "alertmanager"))) < 0 ||
	    (rc = pb_dur(c, o, t, "for", !strcmp(type, "device.offline") ? PB_REQ : 0, 60,
			 PB_DUR_MAX_S, 0, NULL)) < 0 ||
	    (rc = state_filter(c, o, t, "from")) < 0 || (rc = state_filter(c, o, t, "to")) < 0 ||
	    (rc = pb_str(c, o, t, "cron", !strcmp(type, "schedule") ? PB_REQ : 0, 256, &cron)) <
		0 ||
	    (rc = pb_str(c, NULL, t, "tz", 0, FL_TZ_NAME_MAX, &tz)) < 0 ||
	    (rc = glob_filter(c, o, t, "alertname")) < 0 ||
	    (rc = pb_enum(c, o, t, "status", 0, am_status,
			  !strcmp(type, "alertmanager") ? "firing" : NULL, NULL)) < 0)
		return rc;
	if (cron) {
		struct pb_at b = pb_key(c, t, "cron");

		if ((rc = pb_cron_check(c, cron)) < 0)
			return rc;
		pb_back(c, b);
	}
	if (!strcmp(type, "schedule")) {
		if (tz && !tz_ok(tz)) {
			pb_key(c, t, "tz");
			return pb_bad(c, "'%.64s' is not UTC, +HH:MM, -HH:MM or a time zone name",
				      tz);
		}
		if ((rc = pb_put(c, o, "tz", json_string(tz ? tz : "UTC"))) < 0)
			return rc;
	}
	pb_back(c, a);
	return 0;
}

static int throttle_key(struct pbc *c, json_t *o, const json_t *t)
{
	const json_t *k = json_object_get(t, "key");
	json_t *list = json_array(), *x;
	struct pb_at a;
	size_t i;
	int rc;

	if (!list || (rc = pb_put(c, o, "key", list)) < 0)
		return pb_oom(c);
	if (!k)
		return 0;
	a = pb_key(c, t, "key");
	if (!json_is_array(k))
		return pb_wrong_type(c, k, "a list of paths");
	if (json_array_size(k) > 8)
		return pb_bad(c, "more than 8 paths");
	json_array_foreach ((json_t *)(uintptr_t)k, i, x) {
		struct pb_at b = pb_idx(c, k, i);

		if (!json_is_string(x))
			return pb_wrong_type(c, x, "a string");
		if (json_string_length(x) == 0 || json_string_length(x) > 256 ||
		    strlen(json_string_value(x)) != json_string_length(x))
			return pb_bad(c, "expected a path of 1 to 256 bytes");
		if ((rc = pb_expr_check(c, json_string_value(x), PB_EXPR_KEY)) < 0)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (json_equal(json_array_get(k, j), x))
				return pb_bad(c, "the same path twice");
		if (json_array_append_new(list, json_string(json_string_value(x))) < 0)
			return pb_oom(c);
		pb_back(c, b);
	}
	pb_back(c, a);
	return 0;
}

static int throttle(struct pbc *c, json_t *out, const json_t *doc)
{
	static const char *const fields[] = {"once_within~", "once_after~", "threshold", "key",
					     NULL};
	static const char *const th_fields[] = {"count", "within~", NULL};
	const json_t *t = NULL, *th = NULL;
	json_t *o, *tho;
	struct pb_at a;
	char b1[64], b2[64];
	int kinds, rc;

	if ((rc = pb_obj(c, doc, "throttle", 0, &t)) < 0 || !t)
		return rc;
	if (!(o = json_object()) || (rc = pb_put(c, out, "throttle", o)) < 0)
		return pb_oom(c);
	a = pb_key(c, doc, "throttle");
	if ((rc = pb_only(c, t, fields, "the throttle")) < 0)
		return rc;
	kinds = !!json_object_get(t, pb_field(c, "once_within~", b1)) +
		!!json_object_get(t, pb_field(c, "once_after~", b2)) +
		!!json_object_get(t, "threshold");
	if (kinds != 1)
		return pb_bad(c, "give exactly one of %s, %s and threshold", b1, b2);
	if ((rc = pb_dur(c, o, t, "once_within", 0, 1, PB_DUR_MAX_S, 0, NULL)) < 0 ||
	    (rc = pb_dur(c, o, t, "once_after", 0, 1, PB_DUR_MAX_S, 0, NULL)) < 0 ||
	    (rc = pb_obj(c, t, "threshold", 0, &th)) < 0)
		return rc;
	if (th) {
		struct pb_at b = pb_key(c, t, "threshold");

		if (!(tho = json_object()) || (rc = pb_put(c, o, "threshold", tho)) < 0)
			return pb_oom(c);
		if ((rc = pb_only(c, th, th_fields, "the threshold")) < 0 ||
		    (rc = pb_int(c, tho, th, "count", PB_REQ, 1, 10000, NULL)) < 0 ||
		    (rc = pb_dur(c, tho, th, "within", PB_REQ, 1, PB_DUR_MAX_S, 0, NULL)) < 0)
			return rc;
		pb_back(c, b);
	}
	if ((rc = throttle_key(c, o, t)) < 0)
		return rc;
	pb_back(c, a);
	return 0;
}

int pb_templ_id(struct pbc *c, json_t *o, const json_t *t, const char *key, int flags,
		const char **v)
{
	struct pb_at a;
	int rc;

	if ((rc = pb_str(c, o, t, key, PB_TEMPLATE | (flags & PB_REQ), 512, v)) < 0 || !*v)
		return rc;
	a = pb_key(c, t, key);
	if (!strstr(*v, "{{") && !fl_id_valid(*v))
		return pb_bad(c, "'%.64s' is not an id (1-64 of A-Z a-z 0-9 . _ -)", *v);
	pb_back(c, a);
	return 0;
}

static int targets(struct pbc *c, json_t *out, const json_t *doc)
{
	static const char *const fields[] = {"selector", "device", "rollout_devices", "where",
					     NULL};
	const json_t *t = NULL;
	const char *sel = NULL, *dev = NULL, *ro = NULL;
	json_t *o;
	struct pb_at a;
	int rc;

	if ((rc = pb_obj(c, doc, "targets", 0, &t)) < 0 || !t)
		return rc;
	if (!(o = json_object()) || (rc = pb_put(c, out, "targets", o)) < 0)
		return pb_oom(c);
	a = pb_key(c, doc, "targets");
	if ((rc = pb_only(c, t, fields, "targets")) < 0)
		return rc;
	if (!!json_object_get(t, "selector") + !!json_object_get(t, "device") +
		!!json_object_get(t, "rollout_devices") !=
	    1)
		return pb_bad(c, "give exactly one of selector, device and rollout_devices");
	if ((rc = pb_str(c, o, t, "selector", PB_TEMPLATE | PB_EMPTY_OK, 2048, &sel)) < 0 ||
	    (rc = pb_templ_id(c, o, t, "device", 0, &dev)) < 0 ||
	    (rc = pb_templ_id(c, o, t, "rollout_devices", 0, &ro)) < 0 ||
	    (rc = pb_expr(c, o, t, "where", 0, PB_EXPR_WHERE)) < 0)
		return rc;
	if (sel && !strstr(sel, "{{")) {
		/* no template: the selector is final, so parse it now */
		struct fl_selector *s = NULL;
		struct fl_err e = {0, ""};

		pb_key(c, t, "selector");
		if (fl_selector_parse(&s, sel, &e) < 0)
			return e.code == FL_EINVAL ? pb_bad(c, "%s", e.msg) : pb_oom(c);
		fl_selector_free(s);
	}
	c->has_targets = 1;
	pb_back(c, a);
	return 0;
}

/* max_devices: an integer, or "N%" of the resolved targets. */
static int max_devices(struct pbc *c, json_t *o, const json_t *b)
{
	const json_t *m = json_object_get(b, "max_devices");
	const json_t *p = c->canon ? json_object_get(b, "max_devices_pct") : NULL;
	struct pb_at a;
	int rc;

	if (m && p)
		return pb_bad(c, "give one of max_devices and max_devices_pct");
	if (p)
		return pb_int(c, o, b, "max_devices_pct", 0, 1, 100, NULL);
	if (!m || json_is_integer(m) || c->canon) {
		if (!m)
			return pb_put(c, o, "max_devices", json_integer(100));
		return pb_int(c, o, b, "max_devices", 0, 1, 10000000, NULL);
	}
	a = pb_key(c, b, "max_devices");
	if (json_is_string(m)) {
		const char *s = json_string_value(m);
		size_t n = strlen(s);
		int pct = 0, ok = n >= 2 && n <= 4 && s[n - 1] == '%' && s[0] != '0';

		for (size_t i = 0; ok && i + 1 < n; i++) {
			ok = isdigit((unsigned char)s[i]);
			pct = pct * 10 + (s[i] - '0');
		}
		if (ok && pct >= 1 && pct <= 100) {
			if ((rc = pb_put(c, o, "max_devices_pct", json_integer(pct))) < 0)
				return rc;
			pb_back(c, a);
			return 0;
		}
	}
	return pb_bad(c, "expected an integer >= 1 or a percentage from 1%% to 100%%");
}

static int blast_radius(struct pbc *c, json_t *out, const json_t *doc)
{
	static const char *const file_fields[] = {"max_devices", "concurrency", "per_label",
						  "halt_on_burn", NULL};
	static const char *const canon_fields[] = {"max_devices", "max_devices_pct", "concurrency",
						   "per_label",	  "halt_on_burn",    NULL};
	static const char *const pl_fields[] = {"label", "max", NULL};
	static const char *const hb_fields[] = {"slo", "factor", NULL};
	const json_t *b = NULL, *pl = NULL, *hb = NULL;
	json_t *o, *empty = NULL;
	struct pb_at a;
	int rc;

	if ((rc = pb_obj(c, doc, "blast_radius", 0, &b)) < 0)
		return rc;
	if (!(o = json_object()) || (rc = pb_put(c, out, "blast_radius", o)) < 0)
		return pb_oom(c);
	if (!b) {
		/* the defaults apply without the section */
		if (!(empty = json_object()))
			return pb_oom(c);
		b = empty;
	}
	a = pb_key(c, doc, "blast_radius");
	if ((rc = pb_only(c, b, c->canon ? canon_fields : file_fields, "blast_radius")) < 0 ||
	    (rc = max_devices(c, o, b)) < 0 ||
	    (rc = pb_int(c, o, b, "concurrency", 0, 1, 1000, NULL)) < 0 ||
	    (!json_object_get(b, "concurrency") &&
	     (rc = pb_put(c, o, "concurrency", json_integer(10))) < 0) ||
	    (rc = pb_obj(c, b, "per_label", 0, &pl)) < 0 ||
	    (rc = pb_obj(c, b, "halt_on_burn", 0, &hb)) < 0)
		goto cleanup;
	if (pl) {
		struct pb_at p = pb_key(c, b, "per_label");
		const char *label = NULL;
		json_t *po = json_object();

		if (!po || (rc = pb_put(c, o, "per_label", po)) < 0) {
			rc = pb_oom(c);
			goto cleanup;
		}
		if ((rc = pb_only(c, pl, pl_fields, "per_label")) < 0 ||
		    (rc = pb_str(c, po, pl, "label", PB_REQ, 63, &label)) < 0 ||
		    (rc = pb_int(c, po, pl, "max", PB_REQ, 1, 10000000, NULL)) < 0)
			goto cleanup;
		if (!fl_label_key_valid(label)) {
			pb_key(c, pl, "label");
			rc = pb_bad(c, "'%.64s' is not a label key", label);
			goto cleanup;
		}
		pb_back(c, p);
	}
	if (hb) {
		struct pb_at h = pb_key(c, b, "halt_on_burn");
		const char *slo = NULL;
		const json_t *f = json_object_get(hb, "factor");
		json_t *ho = json_object();

		if (!ho || (rc = pb_put(c, o, "halt_on_burn", ho)) < 0) {
			rc = pb_oom(c);
			goto cleanup;
		}
		if ((rc = pb_only(c, hb, hb_fields, "halt_on_burn")) < 0 ||
		    (rc = pb_str(c, ho, hb, "slo", PB_REQ, 64, &slo)) < 0)
			goto cleanup;
		if (!fl_id_valid(slo)) {
			pb_key(c, hb, "slo");
			rc = pb_bad(c, "'%.64s' is not an SLO name", slo);
			goto cleanup;
		}
		if (!f) {
			rc = pb_missing(c, "factor");
			goto cleanup;
		}
		pb_key(c, hb, "factor");
		if (!json_is_number(f) || !(json_number_value(f) > 0) ||
		    json_number_value(f) > 1e6) {
			rc = pb_bad(c, "expected a number above 0 (a burn rate)");
			goto cleanup;
		}
		if ((rc = pb_put(c, ho, "factor", json_deep_copy(f))) < 0)
			goto cleanup;
		pb_back(c, h);
	}
	pb_back(c, a);
	rc = 0;
cleanup:
	json_decref(empty);
	return rc;
}

/* The project's roles (api/router.c role_names). */
static const char *const roles[] = {"admin",  "release-manager", "operator",
				    "viewer", "automation",	 NULL};

static int approval(struct pbc *c, json_t *out, const json_t *doc)
{
	static const char *const fields[] = {"required", "roles", "expires~", NULL};
	const json_t *ap = NULL, *r;
	json_t *o, *list;
	struct pb_at a;
	int rc;

	if ((rc = pb_obj(c, doc, "approval", 0, &ap)) < 0 || !ap)
		return rc;
	if (!(o = json_object()) || (rc = pb_put(c, out, "approval", o)) < 0)
		return pb_oom(c);
	a = pb_key(c, doc, "approval");
	if ((rc = pb_only(c, ap, fields, "approval")) < 0 ||
	    (rc = pb_int(c, o, ap, "required", PB_REQ, 1, 10, NULL)) < 0)
		return rc;
	if (!(list = json_array()) || (rc = pb_put(c, o, "roles", list)) < 0)
		return pb_oom(c);
	if (!(r = json_object_get(ap, "roles"))) {
		if (json_array_append_new(list, json_string("admin")) < 0)
			return pb_oom(c);
	} else {
		struct pb_at b = pb_key(c, ap, "roles");
		json_t *x;
		size_t i;

		if (!json_is_array(r))
			return pb_wrong_type(c, r, "a list of roles");
		if (json_array_size(r) == 0)
			return pb_bad(c, "expected at least one role");
		json_array_foreach ((json_t *)(uintptr_t)r, i, x) {
			struct pb_at e = pb_idx(c, r, i);
			const char *const *n;

			if (!json_is_string(x))
				return pb_wrong_type(c, x, "a string");
			for (n = roles; *n && strcmp(*n, json_string_value(x)); n++)
				;
			if (!*n)
				return pb_bad(c,
					      "'%.64s' is not a role (admin, release-manager, "
					      "operator, viewer, automation)",
					      json_string_value(x));
			for (size_t j = 0; j < i; j++)
				if (json_equal(json_array_get(r, j), x))
					return pb_bad(c, "role '%s' twice", *n);
			if (json_array_append_new(list, json_string(*n)) < 0)
				return pb_oom(c);
			pb_back(c, e);
		}
		pb_back(c, b);
	}
	if ((rc = pb_dur(c, o, ap, "expires", 0, 60, PB_DUR_MAX_S, 3600, NULL)) < 0)
		return rc;
	pb_back(c, a);
	return 0;
}

static int document(struct pbc *c, json_t *out, const json_t *doc)
{
	static const char *const fields[] = {"name",	     "version",	  "description", "enabled",
					     "trigger",	     "condition", "throttle",	 "targets",
					     "blast_radius", "approval",  "steps",	 NULL};
	const char *name = NULL;
	int rc;

	if (!json_is_object(doc))
		return pb_bad(c, "a playbook is %s of fields, not %s",
			      c->canon ? "an object" : "a mapping", pb_kind_of(c, doc));
	if ((rc = pb_only(c, doc, fields, "a playbook")) < 0 ||
	    (rc = pb_str(c, out, doc, "name", PB_REQ, 128, &name)) < 0)
		return rc;
	if (!name_ok(name)) {
		pb_key(c, doc, "name");
		return pb_bad(c,
			      "'%.64s' is not a name: 1-63 of a-z 0-9 -, starting with a letter "
			      "or digit",
			      name);
	}
	if ((rc = pb_int(c, out, doc, "version", PB_REQ, 1, INT32_MAX, NULL)) < 0 ||
	    (rc = pb_str(c, out, doc, "description", PB_EMPTY_OK, 1024, NULL)) < 0 ||
	    (rc = pb_bool(c, out, doc, "enabled", 1)) < 0 || (rc = trigger(c, out, doc)) < 0 ||
	    (rc = pb_expr(c, out, doc, "condition", 0, PB_EXPR_CONDITION)) < 0 ||
	    (rc = throttle(c, out, doc)) < 0 || (rc = targets(c, out, doc)) < 0 ||
	    (rc = blast_radius(c, out, doc)) < 0 || (rc = approval(c, out, doc)) < 0 ||
	    (rc = pb_steps(c, out, doc)) < 0)
		return rc;
	return 0;
}

/* The walk over one document; *out is its canonical form. */
static int walk(json_t **out, struct pbc *c, const json_t *doc)
{
	json_t *o = json_object();
	int rc;

	*out = NULL;
	if (!o || !(c->names = json_object())) {
		json_decref(o);
		return pb_oom(c);
	}
	if ((rc = document(c, o, doc)) < 0)
		goto cleanup;
	*out = o;
	o = NULL;
cleanup:
	json_decref(o);
	json_decref(c->names);
	c->names = NULL;
	return rc;
}

/* ---- the JSON line finder ----
 *
 * jansson keeps no lines for a value it parsed, so an error in a JSON file
 * finds its line again: a second pass over the (valid) text builds each
 * value's path as the walk does and stops at the error's path. A path that
 * is absent (a missing field) gives the line of its deepest present
 * ancestor. Runs once, on error; the depth is bounded by fl_json_parse's. */

struct jscan {
	const char *d;
	size_t n, i;
	int line;
	const char *want;
	char path[PB_PATH_MAX];
	size_t plen;
	int best; /* the line of the deepest ancestor of want seen */
	int done;
};

static void js_ws(struct jscan *s)
{
	while (s->i < s->n && strchr(" \t\r\n", s->d[s->i])) {
		if (s->d[s->i] == '\n')
			s->line++;
		s->i++;
	}
}

/* Past the string at s->i (a '"'); 0 when it does not end. */
static int js_string(struct jscan *s)
{
	for (s->i++; s->i < s->n; s->i++) {
		if (s->d[s->i] == '\\')
			s->i++;
		else if (s->d[s->i] == '"')
			return s->i++, 1;
	}
	return 0;
}

/* The path so far against want: exact (the answer) or an ancestor. */
static void js_at(struct jscan *s, int line)
{
	size_t n = s->plen;

	if (strncmp(s->want, s->path, n) != 0)
		return;
	if (!s->want[n]) {
		s->best = line;
		s->done = 1;
	} else if (n == 0 || s->want[n] == '.' || s->want[n] == '[') {
		s->best = line;
	}
}

static int js_value(struct jscan *s, int depth);

static int js_members(struct jscan *s, int depth, int object)
{
	size_t idx = 0;

	s->i++;
	for (;;) {
		size_t saved = s->plen;
		int line;

		js_ws(s);
		if (s->i >= s->n)
			return 0;
		if (s->d[s->i] == (object ? '}' : ']')) {
			s->i++;
			return 1;
		}
		line = s->line;
		if (object) {
			size_t a = s->i;
			json_t *k;

			if (s->d[a] != '"' || !js_string(s))
				return 0;
			k = json_loadb(s->d + a, s->i - a, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
			if (!json_is_string(k)) {
				json_decref(k);
				return 0;
			}
			pb_path_key(s->path, &s->plen, json_string_value(k));
			json_decref(k);
			js_ws(s);
			if (s->i >= s->n || s->d[s->i++] != ':')
				return 0;
			js_ws(s);
		} else {
			pb_path_idx(s->path, &s->plen, idx++);
		}
		js_at(s, object ? line : s->line);
		if (s->done || !js_value(s, depth + 1) || s->done)
			return 0;
		s->plen = saved;
		s->path[saved] = '\0';
		js_ws(s);
		if (s->i < s->n && s->d[s->i] == ',')
			s->i++;
	}
}

static int js_value(struct jscan *s, int depth)
{
	js_ws(s);
	if (s->i >= s->n || depth > FL_JSON_MAX_DEPTH)
		return 0;
	if (s->d[s->i] == '{' || s->d[s->i] == '[')
		return js_members(s, depth, s->d[s->i] == '{');
	if (s->d[s->i] == '"')
		return js_string(s);
	while (s->i < s->n && !strchr(",]} \t\r\n", s->d[s->i]))
		s->i++;
	return 1;
}

static int json_path_line(const char *d, size_t n, const char *path)
{
	struct jscan s;

	memset(&s, 0, sizeof(s));
	s.d = d;
	s.n = n;
	s.line = 1;
	s.want = path;
	js_ws(&s);
	js_at(&s, s.line);
	if (!s.done)
		js_value(&s, 0);
	return s.best > 0 ? s.best : 1;
}

/* ---- entry points ---- */

/* The file's name for messages: its last 96 bytes. */
static const char *short_name(const char *file)
{
	size_t n;

	if (!file || !*file)
		return "playbook";
	n = strlen(file);
	return n > 96 ? file + n - 96 : file;
}

/* The reader's "yaml line N: what" as line N and what. */
static const char *yaml_msg(int *line, const char *msg)
{
	int n = 0, off = 0;

	if (sscanf(msg, "yaml line %d: %n", &n, &off) == 1 && off > 0 && n > 0) {
		*line = n;
		return msg + off;
	}
	return msg;
}

/* jansson's "malformed JSON at line L column C: what" as line L and the rest. */
static void json_msg(int *line, char *out, size_t cap, const char *msg)
{
	int l = 0, col = 0, off = 0;

	if (sscanf(msg, "malformed JSON at line %d column %d: %n", &l, &col, &off) == 2 &&
	    off > 0) {
		*line = l > 0 ? l : 1;
		snprintf(out, cap, "malformed JSON (column %d): %s", col, msg + off);
		return;
	}
	snprintf(out, cap, "%s", msg);
}

int cp_pb_parse(json_t **out, const char *data, size_t len, const char *file, struct fl_err *err)
{
	struct fl_err e = {0, ""};
	struct fl_yaml_lines *lines = NULL;
	json_t *docs = NULL, *doc = NULL, *pb = NULL;
	const char *f = short_name(file), *what = NULL;
	char msg[256];
	struct pbc c;
	size_t i = 0;
	int rc, line = 1, is_json;

	*out = NULL;
	if (!data)
		data = "", len = 0;
	if (len > CP_PB_MAX_BYTES)
		return fl_err_set(err, FL_ETOOBIG,
				  "%s: %zu bytes, more than the %u a playbook may have", f, len,
				  CP_PB_MAX_BYTES);
	while (i < len && data[i] && strchr(" \t\r\n", data[i]))
		i++;
	is_json = i < len && data[i] == '{';
	memset(&c, 0, sizeof(c));
	c.err = &e;
	if (is_json) {
		if ((rc = fl_json_parse(&doc, data, len, &e)) < 0) {
			json_msg(&line, msg, sizeof(msg), e.msg);
			rc = fl_err_set(err, rc, "%s:%d: %s", f, line, msg);
			goto cleanup;
		}
	} else {
		if ((rc = fl_yaml_parse_lines(&docs, &lines, data, len, &e)) < 0) {
			what = yaml_msg(&line, e.msg);
			rc = fl_err_set(err, rc, "%s:%d: %s", f, line, what);
			goto cleanup;
		}
		if (json_array_size(docs) != 1) {
			line = json_array_size(docs) ? fl_yaml_index_line(lines, docs, 1) : 1;
			rc = fl_err_set(err, FL_EINVAL,
					json_array_size(docs)
					    ? "%s:%d: a second document: a playbook file holds one"
					    : "%s:%d: no playbook: the file is empty",
					f, line > 0 ? line : 1);
			goto cleanup;
		}
		doc = json_incref(json_array_get(docs, 0));
		c.lines = lines;
		c.line = fl_yaml_index_line(lines, docs, 0);
	}
	if ((rc = walk(&pb, &c, doc)) < 0) {
		line = c.line;
		if (rc == FL_EINVAL && is_json)
			line = json_path_line(data, len, c.path);
		rc = fl_err_set(err, rc, "%s:%d: %s", f, line > 0 ? line : 1, e.msg);
		goto cleanup;
	}
	*out = pb;
	rc = 0;
cleanup:
	json_decref(doc);
	json_decref(docs);
	fl_yaml_lines_free(lines);
	return rc;
}

int cp_pb_canonical(json_t **out, const json_t *pb, struct fl_err *err)
{
	struct pbc c;

	memset(&c, 0, sizeof(c));
	c.canon = 1;
	c.err = err;
	*out = NULL;
	if (!pb)
		return fl_err_set(err, FL_EINVAL, "no playbook");
	return walk(out, &c, pb);
}

int cp_pb_validate(const json_t *pb, struct fl_err *err)
{
	json_t *out = NULL;
	int rc = cp_pb_canonical(&out, pb, err);

	json_decref(out);
	return rc;
}

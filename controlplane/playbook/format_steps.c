/*
 * format_steps.c - a playbook's steps (format.h): the step fields, the
 * actions and each action's params.
 *
 * An action's params are closed like every other object: a param the action
 * does not take is refused by name, so a typo never silently means the
 * default. Compensation steps (on_failure) have the step's shape without
 * on_failure and verify: a compensation that could fail into another
 * compensation would need a depth bound and an order nobody can read.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "fairlead/util.h"
#include "playbook/format.h"
#include "playbook/format_int.h"

/* ---- params ---- */

struct action;
typedef int (*params_fn)(struct pbc *c, json_t *o, const json_t *p, const struct action *a);

struct action {
	const char *name;
	int on_targets; /* acts on the playbook's targets */
	params_fn params;
	const char *const *fields; /* what params may hold ('~': a duration) */
};

static int p_rollout(struct pbc *c, json_t *o, const json_t *p, const struct action *a)
{
	const char *id = NULL;

	(void)a;
	return pb_templ_id(c, o, p, "rollout", PB_REQ, &id);
}

/* release.rollback: the director signs each target's previous release;
 * there is nothing to choose. */
static int p_none(struct pbc *c, json_t *o, const json_t *p, const struct action *a)
{
	(void)c, (void)o, (void)p, (void)a;
	return 0;
}

static int p_reason(struct pbc *c, json_t *o, const json_t *p, const struct action *a)
{
	(void)a;
	return pb_str(c, o, p, "reason", PB_TEMPLATE, 1024, NULL);
}

static int label_keys_list(struct pbc *c, json_t *o, const json_t *p, const json_t *set)
{
	const json_t *r = json_object_get(p, "remove");
	json_t *list = json_array(), *x;
	struct pb_at a;
	size_t i;
	int rc;

	if (!list || (rc = pb_put(c, o, "remove", list)) < 0)
		return pb_oom(c);
	if (!r)
		return 0;
	a = pb_key(c, p, "remove");
	if (!json_is_array(r))
		return pb_bad(c, "expected a list of label keys");
	if (json_array_size(r) > 32)
		return pb_bad(c, "more than 32 labels");
	json_array_foreach ((json_t *)(uintptr_t)r, i, x) {
		struct pb_at b = pb_idx(c, r, i);

		if (!json_is_string(x) || !fl_label_key_valid(json_string_value(x)))
			return pb_bad(c, "expected a label key (1-63 of A-Z a-z 0-9 . _ - /)");
		for (size_t j = 0; j < i; j++)
			if (json_equal(json_array_get(r, j), x))
				return pb_bad(c, "label '%s' twice", json_string_value(x));
		if (set && json_object_get(set, json_string_value(x)))
			return pb_bad(c, "label '%s' is both set and removed",
				      json_string_value(x));
		if (json_array_append_new(list, json_string(json_string_value(x))) < 0)
			return pb_oom(c);
		pb_back(c, b);
	}
	pb_back(c, a);
	return 0;
}

static int p_label(struct pbc *c, json_t *o, const json_t *p, const struct action *a)
{
	const json_t *set = NULL;
	const char *key;
	json_t *so = json_object(), *v;
	int rc;

	(void)a;
	if (!so || (rc = pb_put(c, o, "set", so)) < 0)
		return pb_oom(c);
	if ((rc = pb_obj(c, p, "set", 0, &set)) < 0)
		return rc;
	if (set) {
		struct pb_at b = pb_key(c, p, "set");

		if (json_object_size(set) > 32)
			return pb_bad(c, "more than 32 labels");
		json_object_foreach ((json_t *)(uintptr_t)set, key, v) {
			struct pb_at e = pb_key(c, set, key);

			(void)v;
			if (!fl_label_key_valid(key))
				return pb_bad(c, "bad label key (1-63 of A-Z a-z 0-9 . _ - /)");
			pb_back(c, e);
			if ((rc = pb_str(c, so, set, key, PB_TEMPLATE | PB_EMPTY_OK, 512, NULL)) <
			    0)
				return rc;
			e = pb_key(c, set, key);
			if (!strstr(json_string_value(v), "{{") &&
			    !fl_label_value_valid(json_string_value(v)))
				return pb_bad(c, "bad label value (0-63 of A-Z a-z 0-9 . _ -)");
			pb_back(c, e);
		}
		pb_back(c, b);
	}
	if ((rc = label_keys_list(c, o, p, set)) < 0)
		return rc;
	if (!json_object_size(set) && !json_array_size(json_object_get(p, "remove")))
		return pb_bad(c, "give labels to set or to remove");
	return 0;
}

static const char *const command_types[] = {
    "reboot", "restart-module", "calibrate", "collect-logs", "health-check", "ping", NULL};

static int p_command(struct pbc *c, json_t *o, const json_t *p, const struct action *a)
{
	int rc;

	(void)a;
	if ((rc = pb_enum(c, o, p, "type", PB_REQ, command_types, NULL, NULL)) < 0 ||
	    (rc = pb_free_form(c, o, p, "params")) < 0 ||
	    (rc = pb_dur(c, o, p, "deliver_by", 0, 1, PB_DUR_MAX_S, 3600, NULL)) < 0)
		return rc;
	return 0;
}

static int p_webhook(struct pbc *c, json_t *o, const json_t *p, const struct action *a)
{
	const char *url = NULL, *env = NULL;
	struct pb_at b;
	int rc;

	(void)a;
	if ((rc = pb_str(c, o, p, "url", PB_REQ | PB_TEMPLATE, 2048, &url)) < 0)
		return rc;
	b = pb_key(c, p, "url");
	/* the body carries the event and an HMAC over it (secret_env names
	 * the key, required): never in clear, never unsigned */
	if (strncmp(url, "https://", 8) != 0 || !url[8] || url[8] == '/')
		return pb_bad(c, "must start with https:// and a host");
	pb_back(c, b);
	if ((rc = pb_free_form(c, o, p, "body")) < 0 ||
	    (rc = pb_str(c, o, p, "secret_env", PB_REQ, 128, &env)) < 0)
		return rc;
	if (env) {
		int ok = isalpha((unsigned char)env[0]) || env[0] == '_';

		for (const char *s = env; *s && ok; s++)
			ok = isalnum((unsigned char)*s) || *s == '_';
		b = pb_key(c, p, "secret_env");
		if (!ok)
			return pb_bad(c,
				      "'%.64s' is not an environment variable name "
				      "([A-Za-z_][A-Za-z0-9_]*)",
				      env);
		pb_back(c, b);
	}
	return 0;
}

static const char *const severities[] = {"page", "ticket", NULL};

static int p_alert(struct pbc *c, json_t *o, const json_t *p, const struct action *a)
{
	int raise = !strcmp(a->name, "alert.raise"), rc;

	if ((rc = pb_str(c, o, p, "name", PB_REQ | PB_TEMPLATE, 256, NULL)) < 0 ||
	    (rc = pb_enum(c, o, p, "severity", raise ? PB_REQ : 0, severities, NULL, NULL)) < 0 ||
	    (rc = pb_str(c, o, p, "summary", PB_TEMPLATE, 1024, NULL)) < 0)
		return rc;
	return 0;
}

static int p_wait(struct pbc *c, json_t *o, const json_t *p, const struct action *a)
{
	(void)a;
	return pb_dur(c, o, p, "for", PB_REQ, 1, PB_DUR_MAX_S, 0, NULL);
}

static const char *const f_rollout[] = {"rollout", NULL};
static const char *const f_none[] = {NULL};
static const char *const f_reason[] = {"reason", NULL};
static const char *const f_label[] = {"set", "remove", NULL};
static const char *const f_command[] = {"type", "params", "deliver_by~", NULL};
static const char *const f_webhook[] = {"url", "body", "secret_env", NULL};
static const char *const f_alert[] = {"name", "severity", "summary", NULL};
static const char *const f_wait[] = {"for~", NULL};

static const struct action actions[] = {
    {"rollout.pause", 0, p_rollout, f_rollout},
    {"rollout.resume", 0, p_rollout, f_rollout},
    {"rollout.abort", 0, p_rollout, f_rollout},
    {"release.rollback", 1, p_none, f_none},
    {"device.quarantine", 1, p_reason, f_reason},
    {"device.revoke", 1, p_reason, f_reason},
    {"device.accept", 1, p_reason, f_reason},
    {"device.label", 1, p_label, f_label},
    {"device.command", 1, p_command, f_command},
    {"webhook", 0, p_webhook, f_webhook},
    {"alert.raise", 0, p_alert, f_alert},
    {"alert.resolve", 0, p_alert, f_alert},
    {"wait", 0, p_wait, f_wait},
};

/* ---- steps ---- */

static int step_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PB_NAME_MAX ||
	    !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
		      s[i] == '_'))
			return 0;
	return 1;
}

static int verify(struct pbc *c, json_t *o, const json_t *st)
{
	static const char *const fields[] = {"condition", "timeout~", "interval~", NULL};
	const json_t *v = NULL;
	json_t *vo;
	int64_t timeout = 0, interval = 0;
	struct pb_at a;
	int rc;

	if ((rc = pb_obj(c, st, "verify", 0, &v)) < 0 || !v)
		return rc;
	if (!(vo = json_object()) || (rc = pb_put(c, o, "verify", vo)) < 0)
		return pb_oom(c);
	a = pb_key(c, st, "verify");
	if ((rc = pb_only(c, v, fields, "verify")) < 0 ||
	    (rc = pb_expr(c, vo, v, "condition", PB_REQ, PB_EXPR_VERIFY)) < 0 ||
	    (rc = pb_dur(c, vo, v, "timeout", PB_REQ, 1, PB_DUR_MAX_S, 0, &timeout)) < 0 ||
	    (rc = pb_dur(c, vo, v, "interval", 0, 1, PB_DUR_MAX_S, 30, &interval)) < 0)
		return rc;
	if (interval > timeout) {
		char b[64];

		pb_key(c, v, pb_field(c, "interval~", b));
		return pb_bad(c, "longer than the verify timeout");
	}
	pb_back(c, a);
	return 0;
}

static int steps_list(struct pbc *c, json_t *out, const json_t *in, const char *key, int comp);

static int step(struct pbc *c, json_t *o, const json_t *st, int comp)
{
	static const char *const fields[] = {"name",	   "action",  "params",
					     "timeout~",   "retries", "backoff~",
					     "on_failure", "verify",  NULL};
	const struct action *act = NULL;
	const char *name = NULL, *action = NULL;
	const json_t *p = NULL;
	json_t *po, *empty = NULL, *prev;
	char what[64];
	struct pb_at a;
	int rc;

	if (!json_is_object(st))
		return pb_bad(c, "a step is %s, not a %s", c->canon ? "an object" : "a mapping",
			      json_is_array(st) ? "list" : "scalar");
	if (comp && (json_object_get(st, "on_failure") || json_object_get(st, "verify"))) {
		const char *k = json_object_get(st, "on_failure") ? "on_failure" : "verify";

		pb_key(c, st, k);
		return pb_bad(c, "an on_failure step has no %s (no nesting)", k);
	}
	if ((rc = pb_only(c, st, fields, "a step")) < 0 ||
	    (rc = pb_str(c, o, st, "name", PB_REQ, 128, &name)) < 0)
		return rc;
	a = pb_key(c, st, "name");
	if (!step_name_ok(name))
		return pb_bad(c,
			      "'%.64s' is not a step name: 1-63 of a-z 0-9 - _, starting with a "
			      "letter or digit",
			      name);
	if ((prev = json_object_get(c->names, name)))
		return pb_bad(c, "step name '%s' is taken by %s", name, json_string_value(prev));
	pb_back(c, a);
	if (json_object_set_new(c->names, name, json_string(c->path)) < 0)
		return pb_oom(c);
	if ((rc = pb_str(c, o, st, "action", PB_REQ, 64, &action)) < 0)
		return rc;
	for (size_t i = 0; i < FL_ARRAY_SIZE(actions); i++)
		if (!strcmp(actions[i].name, action))
			act = &actions[i];
	a = pb_key(c, st, "action");
	if (!act)
		return pb_bad(c,
			      "unknown action '%.64s' (rollout.pause|resume|abort, "
			      "release.rollback, device.quarantine|revoke|accept|label|command, "
			      "webhook, alert.raise|resolve, wait)",
			      action);
	if (act->on_targets && !c->has_targets)
		return pb_bad(c, "%s acts on the targets, and the playbook has none", act->name);
	pb_back(c, a);
	if ((rc = pb_obj(c, st, "params", 0, &p)) < 0)
		return rc;
	if (!p && !(p = empty = json_object()))
		return pb_oom(c);
	if (!(po = json_object()) || (rc = pb_put(c, o, "params", po)) < 0) {
		rc = pb_oom(c);
		goto cleanup;
	}
	a = pb_key(c, st, "params");
	snprintf(what, sizeof(what), "%s params", act->name);
	if ((rc = pb_only(c, p, act->fields, what)) < 0 || (rc = act->params(c, po, p, act)) < 0)
		goto cleanup;
	pb_back(c, a);
	if ((rc = pb_dur(c, o, st, "timeout", 0, 1, PB_STEP_MAX_S, 60, NULL)) < 0 ||
	    (rc = pb_int(c, o, st, "retries", 0, 0, 10, NULL)) < 0 ||
	    (!json_object_get(st, "retries") &&
	     (rc = pb_put(c, o, "retries", json_integer(0))) < 0) ||
	    (rc = pb_dur(c, o, st, "backoff", 0, 1, PB_DUR_MAX_S, 5, NULL)) < 0 ||
	    (rc = verify(c, o, st)) < 0 ||
	    (!comp && (rc = steps_list(c, o, st, "on_failure", 1)) < 0))
		goto cleanup;
	rc = 0;
cleanup:
	json_decref(empty);
	return rc;
}

/* in[key]: a list of 1 to CP_PB_MAX_STEPS steps, into out[key]. */
static int steps_list(struct pbc *c, json_t *out, const json_t *in, const char *key, int comp)
{
	const json_t *l = json_object_get(in, key);
	json_t *list, *x;
	struct pb_at a;
	size_t i;
	int rc;

	if (!l)
		return comp ? 0 : pb_bad(c, "missing field '%s'", key);
	a = pb_key(c, in, key);
	if (!json_is_array(l))
		return pb_bad(c, "expected a list of steps, not %s",
			      json_is_object(l) ? "a single step" : "a scalar");
	if (json_array_size(l) == 0 || json_array_size(l) > CP_PB_MAX_STEPS)
		return pb_bad(c, "expected 1 to %d steps, not %zu", CP_PB_MAX_STEPS,
			      json_array_size(l));
	if (!(list = json_array()) || (rc = pb_put(c, out, key, list)) < 0)
		return pb_oom(c);
	json_array_foreach ((json_t *)(uintptr_t)l, i, x) {
		struct pb_at b = pb_idx(c, l, i);
		json_t *so = json_object();

		if (!so || json_array_append_new(list, so) < 0)
			return pb_oom(c);
		if ((rc = step(c, so, x, comp)) < 0)
			return rc;
		pb_back(c, b);
	}
	pb_back(c, a);
	return 0;
}

int pb_steps(struct pbc *c, json_t *out, const json_t *doc)
{
	return steps_list(c, out, doc, "steps", 0);
}

/*
 * trust.c - root, release, timestamp and assignment metadata: strict parsing
 * and verification against the trusted root.
 */
#include "fairlead/trust.h"

#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"
#include "fairlead/relref.h"
#include "fairlead/util.h"

static const char *const role_names[FL_TRUST_ROLE_COUNT] = {"root", "release", "timestamp",
							    "director"};

const char *fl_trust_role_name(enum fl_trust_role_id id)
{
	return (unsigned)id < FL_TRUST_ROLE_COUNT ? role_names[id] : "?";
}

/* ---- small validators ---- */

static int digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 1;
}

int fl_trust_time_parse(int64_t *out, const char *s, struct fl_err *err)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, se;

	if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != 'Z' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
	    !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) ||
	    !digits(s + 17, 2, &se))
		goto bad;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 59)
		goto bad;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		goto bad;
	*out = fl_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	return 0;
bad:
	return fl_err_set(err, FL_EINVAL, "'%.32s' is not a UTC time YYYY-MM-DDTHH:MM:SSZ", s);
}

static int hex_valid(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int fl_trust_artifact_name_valid(const char *name)
{
	size_t n = strlen(name);

	/* The charset alone excludes '/', '\\', NUL (strlen stops there, and
	 * fl_json_str refuses embedded NULs) and absolute paths; "." and ".."
	 * are the only names left that could still mean a directory. */
	if (n < 1 || n > 128 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	/* Names with ".." inside ("a..b") are harmless as one path component
	 * but look like traversal in logs and are refused to stay obvious. */
	return strstr(name, "..") == NULL;
}

/* A numeric identifier: digits, no leading zero unless it is "0". */
static int semver_num(const char *s, size_t n)
{
	if (n == 0 || (n > 1 && s[0] == '0'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* Dot-separated identifiers of [0-9A-Za-z-]; numeric ones without leading
 * zeros when numeric_rule (prerelease), any when not (build metadata). */
static int semver_idents(const char *s, size_t n, int numeric_rule)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			size_t len = i - start;
			int all_digits = 1;

			if (len == 0)
				return 0;
			for (size_t j = start; j < i; j++)
				if (s[j] < '0' || s[j] > '9')
					all_digits = 0;
			if (numeric_rule && all_digits && !semver_num(s + start, len))
				return 0;
			start = i + 1;
			continue;
		}
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-'))
			return 0;
	}
	return 1;
}

int fl_trust_semver_valid(const char *v)
{
	size_t n = strlen(v), core, i, part = 0, start = 0;
	const char *pre, *build;

	if (n == 0 || n > 64)
		return 0;
	build = strchr(v, '+');
	pre = strchr(v, '-');
	if (pre && build && pre > build)
		pre = NULL; /* a '-' inside the build metadata */
	core = pre ? (size_t)(pre - v) : build ? (size_t)(build - v) : n;
	for (i = 0; i <= core; i++) {
		if (i < core && v[i] != '.')
			continue;
		if (!semver_num(v + start, i - start))
			return 0;
		part++;
		start = i + 1;
	}
	if (part != 3)
		return 0;
	if (pre && !semver_idents(pre + 1, (build ? (size_t)(build - pre) : n - core) - 1, 1))
		return 0;
	if (build && !semver_idents(build + 1, n - (size_t)(build - v) - 1, 0))
		return 0;
	return 1;
}

/* ---- shared field helpers ---- */

static int get_time(int64_t *out, const json_t *obj, const char *key, struct fl_err *err)
{
	const char *s = NULL;
	int rc;

	if ((rc = fl_json_str(&s, obj, key, 1, err)) < 0)
		return rc;
	if ((rc = fl_trust_time_parse(out, s, err)) < 0)
		fl_err_prefix(err, "field '%s'", key);
	return rc;
}

/* An integer in lo..hi; JSON strings, reals and booleans are refused. */
static int get_range(int64_t *out, const json_t *obj, const char *key, int64_t lo, int64_t hi,
		     struct fl_err *err)
{
	int64_t v = 0;
	int rc;

	if ((rc = fl_json_int(&v, obj, key, 1, err)) < 0)
		return rc;
	if (v < lo || v > hi)
		return fl_err_set(err, FL_EINVAL, "field '%s' must be within %lld..%lld", key,
				  (long long)lo, (long long)hi);
	*out = v;
	return 0;
}

/* A string or null; *out stays NULL for null. */
static int get_opt_str(const char **out, const json_t *obj, const char *key, struct fl_err *err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v)
		return fl_err_set(err, FL_EINVAL, "field '%s' is required", key);
	if (json_is_null(v))
		return 0;
	return fl_json_str(out, obj, key, 1, err);
}

/* Parses payload as a JSON object whose "_type" is type and whose fields are
 * all in allowed. */
static int parse_doc(json_t **out, const void *payload, size_t len, const char *type,
		     const char *const *allowed, struct fl_err *err)
{
	const char *t = NULL;
	json_t *doc = NULL;
	int rc;

	*out = NULL;
	if ((rc = fl_json_parse_object(&doc, payload, len, err)) < 0) {
		fl_err_prefix(err, "%s metadata", type);
		return rc;
	}
	if ((rc = fl_json_only(doc, allowed, err)) < 0 ||
	    (rc = fl_json_str(&t, doc, "_type", 1, err)) < 0) {
		fl_err_prefix(err, "%s metadata", type);
		goto fail;
	}
	/* A timestamp must never pass as a release, nor a release as a root. */
	if (strcmp(t, type) != 0) {
		rc = fl_err_set(err, FL_EINVAL, "metadata has _type '%.32s', expected '%s'", t,
				type);
		goto fail;
	}
	*out = doc;
	return 0;
fail:
	json_decref(doc);
	return rc;
}

/* ---- root ---- */

struct keytab {
	struct fl_trust_key keys[FL_TRUST_MAX_KEYS];
	size_t n;
};

static int parse_key(struct fl_trust_key *out, const char *keyid, const json_t *k,
		     struct fl_err *err)
{
	static const char *const allowed[] = {"keytype", "public", NULL};
	const char *type = NULL, *pub = NULL;
	char want[FL_KEYID_LEN + 1];
	size_t n = 0;

	if (!json_is_object(k))
		return fl_err_set(err, FL_EINVAL, "key '%.40s' must be an object", keyid);
	if (fl_json_only(k, allowed, err) < 0 || fl_json_str(&type, k, "keytype", 1, err) < 0 ||
	    fl_json_str(&pub, k, "public", 1, err) < 0) {
		fl_err_prefix(err, "key '%.40s'", keyid);
		return FL_EINVAL;
	}
	if (strcmp(type, "ed25519") != 0)
		return fl_err_set(err, FL_EINVAL, "key '%.40s': unsupported keytype '%.32s'", keyid,
				  type);
	if (fl_b64_decode(out->pk, sizeof(out->pk), &n, pub, strlen(pub)) < 0 ||
	    n != FL_ED25519_PK_LEN)
		return fl_err_set(err, FL_EINVAL, "key '%.40s': public must be base64 of %d bytes",
				  keyid, FL_ED25519_PK_LEN);
	/* Recompute the id (TUF: clients MUST): otherwise one key could be
	 * listed under several ids and counted once per id. */
	fl_keyid(want, out->pk);
	if (strcmp(want, keyid) != 0)
		return fl_err_set(err, FL_EINVAL, "key '%.40s' does not match its public key (%s)",
				  keyid, want);
	memcpy(out->keyid, want, sizeof(want));
	return 0;
}

static int parse_keys(struct keytab *tab, const json_t *keys, struct fl_err *err)
{
	const char *keyid;
	json_t *k;

	tab->n = 0;
	if (json_object_size(keys) > FL_TRUST_MAX_KEYS)
		return fl_err_set(err, FL_EINVAL, "more than %d keys", FL_TRUST_MAX_KEYS);
	json_object_foreach ((json_t *)(uintptr_t)keys, keyid, k) {
		int rc = parse_key(&tab->keys[tab->n], keyid, k, err);

		if (rc < 0)
			return rc;
		tab->n++;
	}
	return 0;
}

static int parse_role(struct fl_trust_role *out, const char *name, const json_t *r,
		      const struct keytab *tab, struct fl_err *err)
{
	static const char *const allowed[] = {"keyids", "threshold", NULL};
	const json_t *ids;
	size_t i, j;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(r))
		return fl_err_set(err, FL_EINVAL, "role '%s' must be an object", name);
	if ((rc = fl_json_only(r, allowed, err)) < 0) {
		fl_err_prefix(err, "role '%s'", name);
		return rc;
	}
	ids = json_object_get(r, "keyids");
	if (!json_is_array(ids) || json_array_size(ids) == 0 ||
	    json_array_size(ids) > FL_TRUST_MAX_KEYS)
		return fl_err_set(err, FL_EINVAL, "role '%s': keyids must be an array of 1-%d ids",
				  name, FL_TRUST_MAX_KEYS);
	for (i = 0; i < json_array_size(ids); i++) {
		const char *id = json_string_value(json_array_get(ids, i));

		if (!id)
			return fl_err_set(err, FL_EINVAL, "role '%s': keyids must be strings",
					  name);
		for (j = 0; j < out->nkeys; j++)
			if (strcmp(out->keys[j].keyid, id) == 0)
				return fl_err_set(err, FL_EINVAL,
						  "role '%s' lists key '%.40s' twice", name, id);
		for (j = 0; j < tab->n; j++)
			if (strcmp(tab->keys[j].keyid, id) == 0)
				break;
		if (j == tab->n)
			return fl_err_set(err, FL_EINVAL, "role '%s': key '%.40s' is not in keys",
					  name, id);
		out->keys[out->nkeys++] = tab->keys[j];
	}
	if ((rc = get_range(&out->threshold, r, "threshold", 1, (int64_t)out->nkeys, err)) < 0) {
		fl_err_prefix(err, "role '%s'", name);
		return rc;
	}
	return 0;
}

int fl_trust_root_parse(struct fl_trust_root *out, const void *payload, size_t len,
			struct fl_err *err)
{
	static const char *const allowed[] = {"_type", "spec_version", "version", "expires",
					      "keys",  "roles",	       NULL};
	static const char *const role_allowed[] = {"root", "release", "timestamp", "director",
						   NULL};
	struct fl_trust_root r;
	struct keytab *tab = NULL;
	const char *spec = NULL;
	json_t *doc = NULL, *keys = NULL, *roles = NULL, *role = NULL;
	int rc;

	if (len > FL_TRUST_ROOT_MAX_BYTES)
		return fl_err_set(err, FL_ETOOBIG, "root metadata is larger than %d bytes",
				  FL_TRUST_ROOT_MAX_BYTES);
	if ((rc = parse_doc(&doc, payload, len, "root", allowed, err)) < 0)
		return rc;
	memset(&r, 0, sizeof(r));
	if ((rc = fl_json_str(&spec, doc, "spec_version", 1, err)) < 0)
		goto fail;
	if (strcmp(spec, FL_TRUST_SPEC_VERSION) != 0) {
		rc = fl_err_set(err, FL_EINVAL, "unsupported spec_version '%.16s'", spec);
		goto fail;
	}
	if ((rc = get_range(&r.version, doc, "version", 1, INT64_MAX - 1, err)) < 0 ||
	    (rc = get_time(&r.expires, doc, "expires", err)) < 0 ||
	    (rc = fl_json_obj(&keys, doc, "keys", 1, err)) < 0 ||
	    (rc = fl_json_obj(&roles, doc, "roles", 1, err)) < 0 ||
	    (rc = fl_json_only(roles, role_allowed, err)) < 0)
		goto fail;
	if (!(tab = malloc(sizeof(*tab)))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = parse_keys(tab, keys, err)) < 0)
		goto fail;
	for (int i = 0; i < FL_TRUST_ROLE_COUNT; i++) {
		if ((rc = fl_json_obj(&role, roles, role_names[i], 1, err)) < 0 ||
		    (rc = parse_role(&r.roles[i], role_names[i], role, tab, err)) < 0)
			goto fail;
	}
	*out = r;
fail:
	if (rc < 0)
		fl_err_prefix(err, "root metadata");
	free(tab);
	json_decref(doc);
	return rc;
}

int fl_trust_root_load(struct fl_trust_root *out, const struct fl_envelope *env, struct fl_err *err)
{
	struct fl_trust_root r;
	int rc;

	if (!env->type || strcmp(env->type, FL_TRUST_TYPE_ROOT) != 0)
		return fl_err_set(err, FL_EINVAL, "not a root envelope (payload type '%.64s')",
				  env->type ? env->type : "");
	if ((rc = fl_trust_root_parse(&r, env->payload, env->payload_len, err)) < 0)
		return rc;
	if ((rc = fl_envelope_verify(env, FL_TRUST_TYPE_ROOT, &r.roles[FL_TRUST_ROLE_ROOT], err)) <
	    0) {
		fl_err_prefix(err, "root v%lld is not signed by its own root keys",
			      (long long)r.version);
		return rc;
	}
	*out = r;
	return 0;
}

int fl_trust_root_update(struct fl_trust_root *trusted, const struct fl_envelope *candidate,
			 struct fl_err *err)
{
	struct fl_trust_root next;
	int rc;

	if (!candidate->type || strcmp(candidate->type, FL_TRUST_TYPE_ROOT) != 0)
		return fl_err_set(err, FL_EINVAL, "not a root envelope (payload type '%.64s')",
				  candidate->type ? candidate->type : "");
	if ((rc = fl_trust_root_parse(&next, candidate->payload, candidate->payload_len, err)) < 0)
		return rc;
	/* Both thresholds: the old keys authorise the change, the new keys
	 * prove their holders exist and took part (TUF 5.3.4). */
	if ((rc = fl_envelope_verify(candidate, FL_TRUST_TYPE_ROOT,
				     &trusted->roles[FL_TRUST_ROLE_ROOT], err)) < 0) {
		fl_err_prefix(err, "root v%lld: not signed by root v%lld's keys",
			      (long long)next.version, (long long)trusted->version);
		return rc;
	}
	if ((rc = fl_envelope_verify(candidate, FL_TRUST_TYPE_ROOT, &next.roles[FL_TRUST_ROLE_ROOT],
				     err)) < 0) {
		fl_err_prefix(err, "root v%lld: not signed by its own root keys",
			      (long long)next.version);
		return rc;
	}
	/* Exactly N+1: skipping hides a rotation, lower or equal is a
	 * rollback (TUF 5.3.5). Checked after the signatures so that an
	 * attacker learns nothing cheaper from the error. */
	if (next.version != trusted->version + 1)
		return fl_err_set(err, FL_ECONFLICT,
				  "root v%lld does not follow trusted root v%lld (rollback or "
				  "skipped version)",
				  (long long)next.version, (long long)trusted->version);
	*trusted = next;
	return 0;
}

int fl_trust_root_chain(struct fl_trust_root *trusted, const struct fl_envelope *const *candidates,
			size_t n, int64_t now, struct fl_err *err)
{
	char when[32];
	int rc;

	if (n > FL_TRUST_MAX_ROOT_ROTATIONS)
		return fl_err_set(err, FL_ETOOBIG, "more than %d root rotations",
				  FL_TRUST_MAX_ROOT_ROTATIONS);
	for (size_t i = 0; i < n; i++)
		if ((rc = fl_trust_root_update(trusted, candidates[i], err)) < 0)
			return rc;
	if (trusted->expires <= now) {
		fl_time_fmt(when, trusted->expires);
		return fl_err_set(err, FL_EGONE, "root v%lld expired at %s",
				  (long long)trusted->version, when);
	}
	return 0;
}

/* ---- release ---- */

static int check_expiry(int64_t expires, int64_t now, const char *what, struct fl_err *err)
{
	char when[32];

	if (expires > now)
		return 0;
	fl_time_fmt(when, expires);
	return fl_err_set(err, FL_EGONE, "%s expired at %s", what, when);
}

static int parse_artifacts(struct fl_trust_release *r, const json_t *arts, struct fl_err *err)
{
	static const char *const allowed[] = {"name", "length", "sha256", NULL};
	size_t n = json_array_size(arts);

	if (!json_is_array(arts) || n == 0 || n > FL_TRUST_MAX_ARTIFACTS)
		return fl_err_set(err, FL_EINVAL, "artifacts must be an array of 1-%d entries",
				  FL_TRUST_MAX_ARTIFACTS);
	if (!(r->artifacts = calloc(n, sizeof(*r->artifacts))))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct fl_trust_artifact *a = &r->artifacts[i];
		const json_t *o = json_array_get(arts, i);
		const char *sha = NULL;

		if (!json_is_object(o))
			return fl_err_set(err, FL_EINVAL, "artifact %zu must be an object", i);
		if (fl_json_only(o, allowed, err) < 0 ||
		    fl_json_str(&a->name, o, "name", 1, err) < 0 ||
		    get_range(&a->length, o, "length", 0, INT64_MAX, err) < 0 ||
		    fl_json_str(&sha, o, "sha256", 1, err) < 0) {
			fl_err_prefix(err, "artifact %zu", i);
			return FL_EINVAL;
		}
		if (!fl_trust_artifact_name_valid(a->name))
			return fl_err_set(err, FL_EINVAL,
					  "artifact %zu: unsafe name '%.64s' (1-128 of "
					  "[A-Za-z0-9._-], no '..')",
					  i, a->name);
		if (!hex_valid(sha, 64))
			return fl_err_set(err, FL_EINVAL,
					  "artifact '%s': sha256 must be 64 lower-case hex digits",
					  a->name);
		memcpy(a->sha256, sha, 65);
		for (size_t j = 0; j < i; j++)
			if (strcmp(r->artifacts[j].name, a->name) == 0)
				return fl_err_set(err, FL_EINVAL, "artifact '%s' is listed twice",
						  a->name);
		r->nartifacts++;
	}
	return 0;
}

static int parse_release_body(struct fl_trust_release *r, struct fl_err *err)
{
	static const char *const install_allowed[] = {"hook", "timeout_s", NULL};
	static const char *const health_allowed[] = {"cmd", "window_s", NULL};
	static const char *const lineage_allowed[] = {"source_commit", "training_data", "parent",
						      "builder", NULL};
	json_t *doc = r->doc, *install = NULL, *health = NULL, *lineage = NULL, *v;
	const char *s;
	int rc;

	if ((rc = fl_json_str(&r->name, doc, "name", 1, err)) < 0 ||
	    (rc = fl_json_str(&r->kind, doc, "kind", 1, err)) < 0 ||
	    (rc = fl_json_str(&r->version, doc, "version", 1, err)) < 0)
		return rc;
	if (!fl_relref_name_valid(r->name))
		return fl_err_set(err, FL_EINVAL, "invalid release name '%.64s'", r->name);
	if (strcmp(r->kind, "model") != 0 && strcmp(r->kind, "firmware") != 0 &&
	    strcmp(r->kind, "config") != 0)
		return fl_err_set(err, FL_EINVAL, "kind must be model, firmware or config");
	if (!fl_trust_semver_valid(r->version))
		return fl_err_set(err, FL_EINVAL, "version '%.64s' is not a semantic version",
				  r->version);
	if ((rc = get_range(&r->counter, doc, "counter", 1, INT64_MAX, err)) < 0 ||
	    (rc = get_time(&r->expires, doc, "expires", err)) < 0)
		return rc;
	r->hardware = v = json_object_get(doc, "hardware");
	if (!json_is_array(v) || json_array_size(v) > 64)
		return fl_err_set(err, FL_EINVAL, "hardware must be an array of at most 64 ids");
	for (size_t i = 0; i < json_array_size(v); i++)
		if (!(s = json_string_value(json_array_get(v, i))) || !fl_id_valid(s))
			return fl_err_set(err, FL_EINVAL, "hardware %zu is not a valid id", i);
	if ((rc = parse_artifacts(r, json_object_get(doc, "artifacts"), err)) < 0)
		return rc;
	if ((rc = fl_json_obj(&install, doc, "install", 1, err)) < 0 ||
	    (rc = fl_json_only(install, install_allowed, err)) < 0 ||
	    (rc = get_opt_str(&r->install_hook, install, "hook", err)) < 0 ||
	    (rc = get_range(&r->install_timeout_s, install, "timeout_s", 1, 86400, err)) < 0) {
		fl_err_prefix(err, "install");
		return rc;
	}
	if ((rc = fl_json_obj(&health, doc, "health", 1, err)) < 0 ||
	    (rc = fl_json_only(health, health_allowed, err)) < 0 ||
	    (rc = get_opt_str(&r->health_cmd, health, "cmd", err)) < 0 ||
	    (rc = get_range(&r->health_window_s, health, "window_s", 0, 86400, err)) < 0) {
		fl_err_prefix(err, "health");
		return rc;
	}
	v = json_object_get(doc, "baseline");
	if (!v || !(json_is_null(v) || json_is_object(v)))
		return fl_err_set(err, FL_EINVAL, "baseline must be an object or null");
	r->baseline = json_is_object(v) ? v : NULL;
	if ((rc = fl_json_obj(&lineage, doc, "lineage", 1, err)) < 0 ||
	    (rc = fl_json_only(lineage, lineage_allowed, err)) < 0) {
		fl_err_prefix(err, "lineage");
		return rc;
	}
	for (size_t i = 0; lineage_allowed[i]; i++)
		if ((rc = get_opt_str(&s, lineage, lineage_allowed[i], err)) < 0) {
			fl_err_prefix(err, "lineage");
			return rc;
		}
	r->lineage = lineage;
	return 0;
}

int fl_trust_release_parse(struct fl_trust_release *out, const void *payload, size_t len,
			   struct fl_err *err)
{
	static const char *const allowed[] = {
	    "_type",   "name",	 "kind",     "version", "counter", "hardware", "artifacts",
	    "install", "health", "baseline", "lineage", "expires", NULL};
	struct fl_trust_release r;
	int rc;

	memset(&r, 0, sizeof(r));
	if ((rc = parse_doc(&r.doc, payload, len, "release", allowed, err)) < 0)
		return rc;
	if ((rc = parse_release_body(&r, err)) < 0) {
		fl_err_prefix(err, "release metadata");
		fl_trust_release_free(&r);
		return rc;
	}
	*out = r;
	return 0;
}

int fl_trust_release_verify(struct fl_trust_release *out, const struct fl_trust_root *root,
			    const struct fl_envelope *env, int64_t now, struct fl_err *err)
{
	struct fl_trust_release r;
	int rc;

	/* Signatures first: nothing unsigned is parsed beyond the envelope
	 * (the go-tuf DoS came from parsing before verifying). */
	if ((rc = fl_envelope_verify(env, FL_TRUST_TYPE_RELEASE,
				     &root->roles[FL_TRUST_ROLE_RELEASE], err)) < 0) {
		fl_err_prefix(err, "release metadata");
		return rc;
	}
	if ((rc = fl_trust_release_parse(&r, env->payload, env->payload_len, err)) < 0)
		return rc;
	if ((rc = check_expiry(r.expires, now, "release metadata", err)) < 0) {
		fl_trust_release_free(&r);
		return rc;
	}
	*out = r;
	return 0;
}

void fl_trust_release_free(struct fl_trust_release *r)
{
	json_decref(r->doc);
	free(r->artifacts);
	memset(r, 0, sizeof(*r));
}

/* ---- timestamp ---- */

static int release_ref_valid(const char *ref)
{
	struct fl_relref rr;

	return fl_relref_parse(&rr, ref, NULL) == 0;
}

int fl_trust_timestamp_verify(struct fl_trust_timestamp *out, const struct fl_trust_root *root,
			      const struct fl_envelope *env, int64_t now, struct fl_err *err)
{
	static const char *const allowed[] = {"_type", "version", "expires", "releases", NULL};
	struct fl_trust_timestamp t;
	const char *ref;
	json_t *rels = NULL, *v;
	int rc;

	memset(&t, 0, sizeof(t));
	if ((rc = fl_envelope_verify(env, FL_TRUST_TYPE_TIMESTAMP,
				     &root->roles[FL_TRUST_ROLE_TIMESTAMP], err)) < 0) {
		fl_err_prefix(err, "timestamp");
		return rc;
	}
	if ((rc = parse_doc(&t.doc, env->payload, env->payload_len, "timestamp", allowed, err)) < 0)
		return rc;
	if ((rc = get_range(&t.version, t.doc, "version", 1, INT64_MAX, err)) < 0 ||
	    (rc = get_time(&t.expires, t.doc, "expires", err)) < 0 ||
	    (rc = fl_json_obj(&rels, t.doc, "releases", 1, err)) < 0)
		goto fail;
	json_object_foreach (rels, ref, v) {
		if (!release_ref_valid(ref) || !json_is_string(v) ||
		    !hex_valid(json_string_value(v), 64)) {
			rc = fl_err_set(err, FL_EINVAL,
					"releases: '%.64s' must map NAME@VERSION to a sha256 hex",
					ref);
			goto fail;
		}
	}
	t.releases = rels;
	if ((rc = check_expiry(t.expires, now, "timestamp", err)) < 0)
		goto fail;
	*out = t;
	return 0;
fail:
	if (rc != FL_EGONE)
		fl_err_prefix(err, "timestamp");
	json_decref(t.doc);
	return rc;
}

void fl_trust_timestamp_free(struct fl_trust_timestamp *t)
{
	json_decref(t->doc);
	memset(t, 0, sizeof(*t));
}

/* ---- director assignment ---- */

int fl_trust_assignment_verify(struct fl_trust_assignment *out, const struct fl_trust_root *root,
			       const struct fl_envelope *env, int64_t now, struct fl_err *err)
{
	static const char *const allowed[] = {"_type",		"device_id", "release",
					      "release_sha256", "counter",   "rollback",
					      "issued",		"expires",   NULL};
	struct fl_trust_assignment a;
	const char *sha = NULL;
	int rc;

	memset(&a, 0, sizeof(a));
	if ((rc = fl_envelope_verify(env, FL_TRUST_TYPE_ASSIGNMENT,
				     &root->roles[FL_TRUST_ROLE_DIRECTOR], err)) < 0) {
		fl_err_prefix(err, "assignment");
		return rc;
	}
	if ((rc = parse_doc(&a.doc, env->payload, env->payload_len, "assignment", allowed, err)) <
	    0)
		return rc;
	if ((rc = fl_json_str(&a.device_id, a.doc, "device_id", 1, err)) < 0 ||
	    (rc = fl_json_str(&a.release, a.doc, "release", 1, err)) < 0 ||
	    (rc = fl_json_str(&sha, a.doc, "release_sha256", 1, err)) < 0 ||
	    (rc = get_range(&a.counter, a.doc, "counter", 1, INT64_MAX, err)) < 0 ||
	    (rc = fl_json_bool(&a.rollback, a.doc, "rollback", 1, err)) < 0 ||
	    (rc = get_time(&a.issued, a.doc, "issued", err)) < 0 ||
	    (rc = get_time(&a.expires, a.doc, "expires", err)) < 0)
		goto fail;
	/* Uptane: an assignment names its device, or it could be replayed to
	 * any other one. */
	if (!fl_id_valid(a.device_id)) {
		rc = fl_err_set(err, FL_EINVAL, "invalid device_id");
		goto fail;
	}
	if (!release_ref_valid(a.release)) {
		rc = fl_err_set(err, FL_EINVAL, "release must be NAME@VERSION");
		goto fail;
	}
	if (!hex_valid(sha, 64)) {
		rc = fl_err_set(err, FL_EINVAL, "release_sha256 must be 64 lower-case hex digits");
		goto fail;
	}
	memcpy(a.release_sha256, sha, 65);
	if ((rc = check_expiry(a.expires, now, "assignment", err)) < 0)
		goto fail;
	*out = a;
	return 0;
fail:
	if (rc != FL_EGONE)
		fl_err_prefix(err, "assignment");
	json_decref(a.doc);
	return rc;
}

void fl_trust_assignment_free(struct fl_trust_assignment *a)
{
	json_decref(a->doc);
	memset(a, 0, sizeof(*a));
}

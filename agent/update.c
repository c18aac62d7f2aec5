#include "agent/update.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/crash.h"
#include "agent/download.h"
#include "agent/proc.h"
#include "agent/root.h"
#include "agent/slots.h"
#include "agent/state.h"
#include "fairlead/crypto.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/log.h"
#include "fairlead/relref.h"
#include "fairlead/trust.h"
#include "fairlead/util.h"

#define STATE_CAP (FL_ENVELOPE_MAX_BYTES + 65536)

void (*ag_crash_hook)(const char *point);

struct ag_update {
	struct ag_transport *t;
	struct ag_clock clock;
	struct ag_update_opts o;
	struct fl_trust_root root;
	int have_root;
	json_t *rel; /* releases.json */
	json_t *st;  /* update.json, NULL when no update ever ran */
	struct fl_trust_release release;
	int have_release;
};

/* ---- files ---- */

static int read_obj(json_t **out, const char *dir, const char *name, struct fl_err *err)
{
	return ag_state_read_json(out, dir, name, STATE_CAP, err);
}

static int write_obj(const char *dir, const char *name, const json_t *v, struct fl_err *err)
{
	/* A kill inside the write must leave the old file: the test hook at
	 * this point leaves a torn temp file behind and dies. */
	ag_crash_point("state_write");
	return ag_state_write_json(dir, name, v, err);
}

static int save_rel(struct ag_update *u, struct fl_err *err)
{
	return write_obj(u->o.dir, AG_RELEASES_FILE, u->rel, err);
}

static const char *st_str(const struct ag_update *u, const char *key)
{
	const char *s = json_string_value(json_object_get(u->st, key));

	return s ? s : "";
}

/* The release name of update.json: whose slot pair the update uses. */
static const char *st_name(const struct ag_update *u)
{
	return st_str(u, "name");
}

static int64_t st_int(const struct ag_update *u, const char *key)
{
	return json_integer_value(json_object_get(u->st, key));
}

static int oom(struct fl_err *err)
{
	return fl_err_set(err, FL_ENOMEM, "out of memory");
}

/* Persists update.json in the given state, then offers a crash point named
 * after it: "the state was written, the step not yet done". */
static int set_state(struct ag_update *u, const char *state, const char *reason, struct fl_err *err)
{
	int rc;

	if (json_object_set_new(u->st, "state", json_string(state)) < 0 ||
	    json_object_set_new(u->st, "reason", reason ? json_string(reason) : json_null()) < 0)
		return oom(err);
	if (strcmp(state, "committed") == 0)
		json_object_set_new(u->st, "progress", json_real(1.0));
	if ((rc = write_obj(u->o.dir, AG_UPDATE_FILE, u->st, err)) < 0)
		return rc;
	ag_crash_point(state);
	return 0;
}

static int is_final(const char *state)
{
	return strcmp(state, "committed") == 0 || strcmp(state, "failed") == 0 ||
	       strcmp(state, "rolled_back") == 0;
}

/* ---- the release of update.json ---- */

/* The release is re-read from update.json and its signatures checked again
 * under the trusted root; expiry is not, since it was current when the
 * update began and a long health window must not strand a device. */
static int load_release(struct ag_update *u, struct fl_err *err)
{
	const char *s = st_str(u, "envelope");
	struct fl_envelope e = {0};
	int rc;

	if (u->have_release)
		return 0;
	if (!u->have_root)
		return fl_err_set(err, FL_EFORBIDDEN, "no trusted root");
	if ((rc = fl_envelope_parse(&e, s, strlen(s), err)) == 0 &&
	    (rc = fl_envelope_verify(&e, FL_TRUST_TYPE_RELEASE,
				     &u->root.roles[FL_TRUST_ROLE_RELEASE], err)) == 0 &&
	    (rc = fl_trust_release_parse(&u->release, e.payload, e.payload_len, err)) == 0)
		u->have_release = 1;
	fl_envelope_release(&e);
	return rc;
}

static void drop_release(struct ag_update *u)
{
	if (u->have_release)
		fl_trust_release_free(&u->release);
	u->have_release = 0;
}

/* ---- open ---- */

void ag_update_free(struct ag_update *u)
{
	if (!u)
		return;
	drop_release(u);
	json_decref(u->rel);
	json_decref(u->st);
	free(u);
}

/* Puts "current" where a finished or interrupted update says it belongs. */
static int repair_link(struct ag_update *u, struct fl_err *err)
{
	const char *state = st_str(u, "state"), *want = NULL;
	char cur[2];
	int rc;

	if (!*st_str(u, "slot"))
		return 0; /* a refused offer: nothing was ever moved */
	if (strcmp(state, "committed") == 0)
		want = st_str(u, "slot");
	else if (strcmp(state, "rolled_back") == 0 || strcmp(state, "failed") == 0)
		want = st_str(u, "prev");
	else
		return 0;
	if ((rc = ag_slots_current(cur, u->o.dir, st_name(u), err)) < 0)
		return rc;
	if (strcmp(cur, want) == 0)
		return 0;
	fl_log(FL_LOG_WARN, "update %s is %s: pointing current at '%s' again", st_str(u, "release"),
	       state, want);
	return ag_slots_point(u->o.dir, st_name(u), want, err);
}

/* releases.json of the single-pair layout kept {"slots":{"A":...,"B":...}};
 * those entries describe directories this version no longer uses, so they
 * are dropped (docs/agent.md, "Slots": the layout changed without a
 * migration, before any device was deployed). Every kept entry is a pair
 * object {"A":...,"B":...} under a valid release name. */
static int normalize_slots(struct ag_update *u, struct fl_err *err)
{
	json_t *slots = json_object_get(u->rel, "slots"), *v;
	const char *name;
	void *tmp;

	if (!json_is_object(slots)) {
		if (json_object_set_new(u->rel, "slots", json_object()) < 0)
			return oom(err);
		return 0;
	}
	json_object_foreach_safe (slots, tmp, name, v) {
		if (!fl_id_valid(name) || !json_is_object(v) || json_object_get(v, "name")) {
			fl_log(FL_LOG_WARN, "dropping slot record '%.64s' of the old layout", name);
			json_object_del(slots, name);
		}
	}
	return 0;
}

/* An update.json written before "name" existed: the name is what precedes
 * the '@' of "release" (name@version). */
static int name_from_release(struct ag_update *u, struct fl_err *err)
{
	struct fl_relref ref;
	json_t *name;

	/* A reference that does not parse names no release (""). */
	if (fl_relref_parse(&ref, st_str(u, "release"), NULL) < 0)
		ref.name[0] = '\0';
	name = json_string(ref.name);

	if (!name || json_object_set_new(u->st, "name", name) < 0)
		return oom(err);
	return 0;
}

int ag_update_open(struct ag_update **out, struct ag_transport *t, const struct ag_clock *clock,
		   const struct ag_update_opts *o, struct fl_err *err)
{
	struct ag_update *u;
	char slots[AG_PATH_MAX];
	int rc;

	*out = NULL;
	if (!(u = calloc(1, sizeof(*u))))
		return oom(err);
	u->t = t;
	u->clock = *clock;
	u->o = *o;
	/* Each release name gets its pair under here when it is first
	 * installed (ag_slots_init in step_assigned). */
	if ((rc = ag_state_path(slots, sizeof(slots), o->dir, AG_SLOTS_DIR, err)) < 0 ||
	    (rc = fl_fs_mkdir_p(slots, 0755, err)) < 0)
		goto cleanup;
	rc = ag_root_load(&u->root, o->dir, err);
	if (rc == FL_ENOTFOUND) {
		fl_log(FL_LOG_WARN,
		       "no trusted root in '%s': releases will be refused "
		       "(enroll with --root FILE)",
		       o->dir);
		fl_err_clear(err);
	} else if (rc < 0) {
		goto cleanup;
	} else {
		u->have_root = 1;
	}
	rc = read_obj(&u->rel, o->dir, AG_RELEASES_FILE, err);
	if (rc == FL_ENOTFOUND) {
		fl_err_clear(err);
		u->rel = json_pack("{s:i,s:{},s:{},s:{}}", "timestamp_version", 0, "committed",
				   "kinds", "slots");
		if (!u->rel) {
			rc = oom(err);
			goto cleanup;
		}
	} else if (rc < 0) {
		goto cleanup;
	} else if ((rc = normalize_slots(u, err)) < 0) {
		goto cleanup;
	}
	rc = read_obj(&u->st, o->dir, AG_UPDATE_FILE, err);
	if (rc == FL_ENOTFOUND) {
		fl_err_clear(err);
		rc = 0;
	} else if (rc < 0) {
		goto cleanup;
	} else {
		const char *state = st_str(u, "state");

		if (strcmp(state, "installing") == 0) {
			/* The hook may have run partly: check the files again and
			 * run it once more from verified bytes. */
			json_object_set_new(u->st, "state", json_string("verifying"));
		} else if (strcmp(state, "health_check") == 0) {
			/* The window proves the new release ran for window_s
			 * without interruption; a restart breaks that proof. */
			json_object_set_new(u->st, "window_start", json_integer(0));
		}
		if (!json_is_string(json_object_get(u->st, "name")) &&
		    (rc = name_from_release(u, err)) < 0)
			goto cleanup;
		if ((rc = repair_link(u, err)) < 0)
			goto cleanup;
	}
	*out = u;
	u = NULL;
cleanup:
	ag_update_free(u);
	return rc;
}

/* ---- verifying an offer ---- */

struct offer {
	struct fl_trust_assignment a;
	struct fl_trust_timestamp ts;
	struct fl_trust_release r;
	int have_a, have_ts, have_r;
	struct fl_buf env; /* the release envelope's canonical bytes */
};

static void offer_release(struct offer *of)
{
	if (of->have_a)
		fl_trust_assignment_free(&of->a);
	if (of->have_ts)
		fl_trust_timestamp_free(&of->ts);
	if (of->have_r)
		fl_trust_release_free(&of->r);
	fl_buf_release(&of->env);
}

static int same_role(const struct fl_trust_role *a, const struct fl_trust_role *b)
{
	if (a->nkeys != b->nkeys || a->threshold != b->threshold)
		return 0;
	for (size_t i = 0; i < a->nkeys; i++)
		if (strcmp(a->keys[i].keyid, b->keys[i].keyid) != 0)
			return 0;
	return 1;
}

static int64_t committed_counter(const struct ag_update *u, const char *name)
{
	json_t *c = json_object_get(json_object_get(u->rel, "committed"), name);

	return json_integer_value(json_object_get(c, "counter"));
}

static const char *str_or_empty(const json_t *v)
{
	const char *s = json_string_value(v);

	return s ? s : "";
}

static const char *committed_version(const struct ag_update *u, const char *name)
{
	json_t *c = json_object_get(json_object_get(u->rel, "committed"), name);

	return str_or_empty(json_object_get(c, "version"));
}

static int hw_ok(const struct fl_trust_release *r, const char *hw)
{
	json_t *h;
	size_t i;

	if (json_array_size(r->hardware) == 0)
		return 1;
	json_array_foreach (r->hardware, i, h)
		if (hw && json_is_string(h) && strcmp(json_string_value(h), hw) == 0)
			return 1;
	return 0;
}

/* Follows a root rotation the server announces. When the online keys of the
 * timestamp role change, the trusted timestamp version is forgotten (TUF
 * 5.3.11: fast-forward recovery after an online key compromise). */
static int update_root(struct ag_update *u, const json_t *offer, int64_t now, struct fl_err *err)
{
	json_t *v = json_object_get(offer, "root_version");
	struct fl_trust_role before = u->root.roles[FL_TRUST_ROLE_TIMESTAMP];
	int rc;

	if (v && !json_is_integer(v))
		return fl_err_set(err, FL_EINVAL, "root_version is not an integer");
	rc = ag_root_follow(&u->root, u->t, u->o.dir, v ? json_integer_value(v) : 0, now, err);
	if (!same_role(&before, &u->root.roles[FL_TRUST_ROLE_TIMESTAMP]) &&
	    json_integer_value(json_object_get(u->rel, "timestamp_version")) != 0) {
		int rc2;

		json_object_set_new(u->rel, "timestamp_version", json_integer(0));
		if ((rc2 = save_rel(u, NULL)) < 0 && rc == 0)
			rc = fl_err_set(err, rc2, "cannot save %s", AG_RELEASES_FILE);
	}
	return rc;
}

static int verify_offer(struct offer *of, struct ag_update *u, const json_t *offer, const char *hw,
			struct fl_err *err)
{
	struct fl_envelope ea = {0}, et = {0}, er = {0};
	const json_t *want;
	char hex[65], nv[200];
	int64_t now = u->clock.now(u->clock.ctx), trusted_ts, floor_ctr;
	int rc;

	/* One time for every expiry check of this offer (TUF 5.1). */
	if (!u->have_root) {
		rc = fl_err_set(err, FL_EFORBIDDEN,
				"no trusted root on this device (enroll with --root FILE)");
		goto cleanup;
	}
	if (!json_is_object(offer)) {
		rc = fl_err_set(err, FL_EINVAL, "update is not an object");
		goto cleanup;
	}
	if ((rc = update_root(u, offer, now, err)) < 0)
		goto cleanup;

	if ((rc = ag_root_envelope_from_json(&ea, json_object_get(offer, "assignment"), err)) < 0 ||
	    (rc = fl_trust_assignment_verify(&of->a, &u->root, &ea, now, err)) < 0) {
		fl_err_prefix(err, "assignment refused");
		goto cleanup;
	}
	of->have_a = 1;
	if (strcmp(of->a.device_id, u->o.device_id) != 0) {
		rc = fl_err_set(err, FL_EFORBIDDEN,
				"assignment is for device '%.64s', not this one", of->a.device_id);
		goto cleanup;
	}

	if ((rc = ag_root_envelope_from_json(&et, json_object_get(offer, "timestamp"), err)) < 0 ||
	    (rc = fl_trust_timestamp_verify(&of->ts, &u->root, &et, now, err)) < 0) {
		fl_err_prefix(err, "timestamp refused");
		goto cleanup;
	}
	of->have_ts = 1;
	trusted_ts = json_integer_value(json_object_get(u->rel, "timestamp_version"));
	if (of->ts.version < trusted_ts) {
		rc = fl_err_set(err, FL_ECONFLICT,
				"timestamp version %lld is below the trusted %lld (rollback)",
				(long long)of->ts.version, (long long)trusted_ts);
		goto cleanup;
	}

	/* The release is identified by the hash of its envelope bytes, in the
	 * form the CLI writes them (fl_envelope_dump); hashing before parsing
	 * the payload keeps unsigned JSON away from the parser. */
	if ((rc = ag_root_envelope_from_json(&er, json_object_get(offer, "release"), err)) < 0 ||
	    (rc = fl_envelope_dump(&of->env, &er, err)) < 0) {
		fl_err_prefix(err, "release refused");
		goto cleanup;
	}
	fl_sha256_hex(hex, of->env.ptr, of->env.len);
	want = json_object_get(of->ts.releases, of->a.release);
	if (strcmp(hex, of->a.release_sha256) != 0) {
		rc = fl_err_set(err, FL_EUNAUTH,
				"release envelope does not match the assignment's sha256");
		goto cleanup;
	}
	if (!json_is_string(want) || strcmp(json_string_value(want), hex) != 0) {
		rc = fl_err_set(err, FL_EUNAUTH,
				"timestamp does not list %.100s with this release's sha256",
				of->a.release);
		goto cleanup;
	}
	if ((rc = fl_trust_release_verify(&of->r, &u->root, &er, now, err)) < 0) {
		fl_err_prefix(err, "release refused");
		goto cleanup;
	}
	of->have_r = 1;
	snprintf(nv, sizeof(nv), "%s@%s", of->r.name, of->r.version);
	if (strcmp(nv, of->a.release) != 0) {
		rc = fl_err_set(err, FL_EUNAUTH, "release is %.100s but %.90s was assigned", nv,
				of->a.release);
		goto cleanup;
	}
	if (of->r.counter != of->a.counter) {
		rc =
		    fl_err_set(err, FL_EUNAUTH, "assignment counter %lld differs from release %lld",
			       (long long)of->a.counter, (long long)of->r.counter);
		goto cleanup;
	}
	if (!hw_ok(&of->r, hw)) {
		rc = fl_err_set(err, FL_EFORBIDDEN, "release does not support hardware '%.64s'",
				hw ? hw : "unknown");
		goto cleanup;
	}
	for (size_t i = 0; i < of->r.nartifacts; i++)
		if (!fl_trust_artifact_name_valid(of->r.artifacts[i].name)) {
			rc = fl_err_set(err, FL_EFORBIDDEN, "unsafe artifact name");
			goto cleanup;
		}
	/* Anti-rollback: the counter must rise, except for the committed
	 * release itself (the server keeps assigning it) or a rollback the
	 * director signed explicitly, to a release the release keys signed. */
	floor_ctr = committed_counter(u, of->r.name);
	if (!of->a.rollback && (of->r.counter < floor_ctr ||
				(of->r.counter == floor_ctr &&
				 strcmp(committed_version(u, of->r.name), of->r.version) != 0))) {
		rc = fl_err_set(err, FL_ECONFLICT,
				"release counter %lld is not above the committed %lld "
				"(rollback not signed)",
				(long long)of->r.counter, (long long)floor_ctr);
		goto cleanup;
	}
cleanup:
	fl_envelope_release(&ea);
	fl_envelope_release(&et);
	fl_envelope_release(&er);
	return rc;
}

/* What releases.json says slot of name's pair holds; NULL when empty. */
static json_t *slot_record(const struct ag_update *u, const char *name, const char *slot)
{
	json_t *s = json_object_get(json_object_get(json_object_get(u->rel, "slots"), name), slot);

	return json_is_object(s) ? s : NULL;
}

/* The slot "current" names holds name@version (what the device runs). */
static int slot_holds(const struct ag_update *u, const char *slot, const char *name,
		      const char *version)
{
	json_t *s = slot_record(u, name, slot);

	return json_is_object(s) && strcmp(str_or_empty(json_object_get(s, "name")), name) == 0 &&
	       strcmp(str_or_empty(json_object_get(s, "version")), version) == 0;
}

/* Records a refused offer, unless an accepted update is under way: that one
 * finishes first, and a forged offer must not be able to cancel it. */
static void refuse(struct ag_update *u, const char *release, const struct fl_err *why)
{
	const char *state = u->st ? st_str(u, "state") : "";
	struct fl_err e2 = {0};
	json_t *st;

	fl_log(FL_LOG_ERROR, "update %s refused: %s", release, why->msg);
	if (*state && !is_final(state))
		return;
	if (strcmp(state, "failed") == 0 && strcmp(st_str(u, "release"), release) == 0 &&
	    strcmp(st_str(u, "reason"), why->msg) == 0)
		return; /* already on record; spare the flash */
	/* No slot: a refusal never touched one, and repair_link leaves
	 * current alone for it. */
	st = json_pack("{s:s,s:s,s:s,s:f,s:s,s:s,s:s}", "release", release, "name", "", "state",
		       "failed", "progress", 0.0, "reason", why->msg, "slot", "", "prev", "");
	if (!st)
		return;
	json_decref(u->st);
	u->st = st;
	drop_release(u);
	if (write_obj(u->o.dir, AG_UPDATE_FILE, u->st, &e2) < 0)
		fl_log(FL_LOG_ERROR, "cannot record the refusal: %s", e2.msg);
}

int ag_update_offer(struct ag_update *u, const json_t *offer, const char *hw_model,
		    struct fl_err *err)
{
	struct offer of = {0};
	const char *state = u->st ? st_str(u, "state") : "";
	char cur[2], release[200] = "unknown";
	json_t *st = NULL;
	int rc;

	fl_buf_init(&of.env, FL_ENVELOPE_MAX_BYTES);
	if ((rc = verify_offer(&of, u, offer, hw_model, err)) < 0) {
		if (of.have_a)
			snprintf(release, sizeof(release), "%s", of.a.release);
		refuse(u, release, err);
		goto cleanup;
	}
	if ((rc = ag_slots_current(cur, u->o.dir, of.r.name, err)) < 0)
		goto cleanup;
	if (*state && strcmp(st_str(u, "release"), of.a.release) == 0) {
		/* The same release again: carry on, or leave a final verdict
		 * alone. A failed one is retried once the director re-signs the
		 * assignment (about daily); a rolled-back one never. */
		if (!is_final(state) || strcmp(state, "failed") != 0 ||
		    of.a.issued <= st_int(u, "issued"))
			goto cleanup;
	} else if (*state && !is_final(state) && strcmp(state, "assigned") != 0 &&
		   strcmp(state, "downloading") != 0 && strcmp(state, "verifying") != 0) {
		fl_log(FL_LOG_INFO, "%s assigned; finishing %s first", of.a.release,
		       st_str(u, "release"));
		goto cleanup;
	}
	if (slot_holds(u, cur, of.r.name, of.r.version) &&
	    committed_counter(u, of.r.name) == of.r.counter) {
		/* Already running and committed: report that, change nothing. */
		st =
		    json_pack("{s:s,s:s,s:s,s:f,s:n,s:s,s:s,s:s%,s:I,s:I}", "release", of.a.release,
			      "name", of.r.name, "state", "committed", "progress", 1.0, "reason",
			      "slot", cur, "prev", cur, "envelope", of.env.ptr, of.env.len,
			      "issued", (json_int_t)of.a.issued, "window_start", (json_int_t)0);
	} else {
		st = json_pack("{s:s,s:s,s:s,s:f,s:n,s:s,s:s,s:s%,s:I,s:I}", "release",
			       of.a.release, "name", of.r.name, "state", "assigned", "progress",
			       0.0, "reason", "slot", ag_slots_other(cur), "prev", cur, "envelope",
			       of.env.ptr, of.env.len, "issued", (json_int_t)of.a.issued,
			       "window_start", (json_int_t)0);
	}
	if (!st) {
		rc = oom(err);
		goto cleanup;
	}
	/* Trusted state moves only now that everything verified. */
	if (of.ts.version > json_integer_value(json_object_get(u->rel, "timestamp_version"))) {
		json_object_set_new(u->rel, "timestamp_version", json_integer(of.ts.version));
		if ((rc = save_rel(u, err)) < 0)
			goto cleanup;
	}
	json_decref(u->st);
	u->st = st;
	st = NULL;
	drop_release(u);
	if ((rc = write_obj(u->o.dir, AG_UPDATE_FILE, u->st, err)) < 0)
		goto cleanup;
	fl_log(FL_LOG_INFO, "update %s %s into slot %s", of.a.release, st_str(u, "state"),
	       st_str(u, "slot"));
	ag_crash_point("assigned");
cleanup:
	json_decref(st);
	offer_release(&of);
	return rc;
}

/* ---- hooks ---- */

/* Runs cmd with /bin/sh in the slot, killing its process group after
 * timeout_s. 0 when it exited 0; FL_ETIMEOUT, or FL_ERROR with the status. */
static int run_cmd(struct ag_update *u, const char *what, const char *cmd, int64_t timeout_s,
		   struct fl_err *err)
{
	char slot[AG_PATH_MAX], abs[AG_PATH_MAX];
	char *env[5] = {NULL};
	const char *argv[] = {"sh", "-c", cmd, NULL};
	struct ag_proc_opts po = {0};
	struct ag_proc_result pr;
	int rc;

	memset(&pr, 0, sizeof(pr));
	if ((rc = ag_slots_path(slot, sizeof(slot), u->o.dir, st_name(u), st_str(u, "slot"), err)) <
	    0)
		return rc;
	if (!realpath(slot, abs))
		return fl_err_set(err, FL_ERROR, "cannot resolve '%s': %s", slot, strerror(errno));
	if (!(env[0] = ag_proc_env("FAIRLEAD_SLOT", abs)) ||
	    !(env[1] = ag_proc_env("FAIRLEAD_RELEASE", u->release.name)) ||
	    !(env[2] = ag_proc_env("FAIRLEAD_VERSION", u->release.version)) ||
	    !(env[3] = ag_proc_env("FAIRLEAD_KIND", u->release.kind))) {
		rc = oom(err);
		goto cleanup;
	}
	/* The release's own command, signed by the release keys, is a shell
	 * line; its output goes where the agent's goes. */
	po.path = "/bin/sh";
	po.argv = argv;
	po.env = (const char *const *)(uintptr_t)env;
	po.cwd = abs;
	po.timeout_ms = timeout_s * 1000;
	if ((rc = ag_proc_run(&pr, &po, err)) < 0)
		goto cleanup;
	if (pr.timed_out)
		rc = fl_err_set(err, FL_ETIMEOUT, "%s timed out after %llds", what,
				(long long)timeout_s);
	else if (pr.exited && pr.code != 0)
		rc = fl_err_set(err, FL_ERROR, "%s exited with status %d", what, pr.code);
	else if (!pr.exited)
		rc = fl_err_set(err, FL_ERROR, "%s killed by signal %d", what, pr.code);
cleanup:
	for (size_t i = 0; i < 4; i++)
		free(env[i]);
	ag_proc_result_release(&pr);
	return rc;
}

/* ---- steps ---- */

struct progress {
	struct ag_update *u;
	int64_t before, total;
	int64_t last_report; /* clock seconds of the last live report */
	int stopped;	     /* the server no longer accepts this device */
};

/* A live report of the download: 0, or FL_EFORBIDDEN when the server says
 * the device is no longer accepted. Everything else is only logged, since
 * the real check-in after the download reports the same state anyway. */
static int send_report(struct progress *p, struct fl_err *err)
{
	struct ag_update *u = p->u;
	struct fl_err e2 = {0};
	json_t *r;
	int rc;

	if (!u->o.report)
		return 0;
	p->last_report = u->clock.now(u->clock.ctx);
	r = json_pack("{s:s,s:s,s:O}", "release", st_str(u, "release"), "state", "downloading",
		      "progress", json_object_get(u->st, "progress"));
	if (!r)
		return oom(err);
	rc = u->o.report(u->o.report_ctx, r, &e2);
	json_decref(r);
	if (rc == FL_EFORBIDDEN) {
		p->stopped = 1;
		return fl_err_set(err, FL_EFORBIDDEN, "%s", e2.msg);
	}
	if (rc < 0)
		fl_log(FL_LOG_DEBUG, "progress report not delivered: %s", e2.msg);
	return 0;
}

static int on_progress(void *ctx, int64_t done)
{
	struct progress *p = ctx;
	double f = p->total > 0 ? (double)(p->before + done) / (double)p->total : 1.0;
	int64_t now = p->u->clock.now(p->u->clock.ctx);

	json_object_set_new(p->u->st, "progress", json_real(f > 1.0 ? 1.0 : f));
	/* A clock that went backwards would otherwise silence reports until
	 * it caught up again. */
	if (p->u->o.report && (now >= p->last_report + AG_UPDATE_REPORT_S || now < p->last_report))
		(void)send_report(p, NULL);
	return p->stopped;
}

static int slot_path(char *out, size_t cap, struct ag_update *u, struct fl_err *err)
{
	return ag_slots_path(out, cap, u->o.dir, st_name(u), st_str(u, "slot"), err);
}

static int set_slot_content(struct ag_update *u, const char *slot, int filled, struct fl_err *err)
{
	json_t *slots = json_object_get(u->rel, "slots"),
	       *pair = json_object_get(slots, st_name(u));
	json_t *v =
	    filled ? json_pack("{s:s,s:s}", "name", u->release.name, "version", u->release.version)
		   : json_null();

	if (!v)
		return oom(err);
	/* A new pair starts with both slots on record as empty, so that
	 * emptying one again is no change to releases.json. */
	if (!json_is_object(pair) && (!(pair = json_pack("{s:n,s:n}", "A", "B")) ||
				      json_object_set_new(slots, st_name(u), pair) < 0)) {
		json_decref(v);
		return oom(err);
	}
	if (json_object_set_new(pair, slot, v) < 0)
		return oom(err);
	return save_rel(u, err);
}

/* Failure before the flip: the old release never stopped running. The slot
 * is emptied so that nothing half-written can be mistaken for a release. */
static int fail(struct ag_update *u, const struct fl_err *why, struct fl_err *err)
{
	const char *slot = st_str(u, "slot");
	struct fl_err e2 = {0};
	int rc;

	fl_log(FL_LOG_ERROR, "update %s failed: %s", st_str(u, "release"), why->msg);
	if ((rc = set_state(u, "failed", why->msg, err)) < 0)
		return rc;
	if (*slot && strcmp(slot, st_str(u, "prev")) != 0 &&
	    (set_slot_content(u, slot, 0, &e2) < 0 ||
	     ag_slots_clear(u->o.dir, st_name(u), slot, NULL, 0, &e2) < 0))
		fl_log(FL_LOG_WARN, "cannot empty slot %s: %s", slot, e2.msg);
	if (err != why)
		*err = *why;
	return why->code < 0 ? why->code : FL_ERROR;
}

/* Failure after the flip: the verdict is written first, then current goes
 * back, so a crash in between is finished by repair_link on restart. */
static int roll_back(struct ag_update *u, const struct fl_err *why, struct fl_err *err)
{
	int rc;

	fl_log(FL_LOG_ERROR, "update %s rolled back: %s", st_str(u, "release"), why->msg);
	if ((rc = set_state(u, "rolled_back", why->msg, err)) < 0 ||
	    (rc = ag_slots_point(u->o.dir, st_name(u), st_str(u, "prev"), err)) < 0)
		return rc;
	if (err != why)
		*err = *why;
	return why->code < 0 ? why->code : FL_ERROR;
}

static int step_assigned(struct ag_update *u, struct fl_err *err)
{
	const char *keep[2 * FL_TRUST_MAX_ARTIFACTS];
	char parts[FL_TRUST_MAX_ARTIFACTS][160];
	size_t n = 0;
	int rc;

	/* The slot loses its old release now: record that before touching it,
	 * so "running" never names what is no longer there. */
	if ((rc = ag_slots_init(u->o.dir, st_name(u), err)) < 0 ||
	    (rc = set_slot_content(u, st_str(u, "slot"), 0, err)) < 0)
		return rc;
	for (size_t i = 0; i < u->release.nartifacts && i < FL_TRUST_MAX_ARTIFACTS; i++) {
		keep[n++] = u->release.artifacts[i].name;
		snprintf(parts[i], sizeof(parts[i]), "%s.part", u->release.artifacts[i].name);
		keep[n++] = parts[i];
	}
	if ((rc = ag_slots_clear(u->o.dir, st_name(u), st_str(u, "slot"), keep, n, err)) < 0)
		return rc;
	return set_state(u, "downloading", NULL, err);
}

static int step_download(struct ag_update *u, struct fl_err *err)
{
	struct ag_download_opts o = {0};
	struct progress p = {u, 0, 0, 0, 0};
	char slot[AG_PATH_MAX];
	int rc;

	if ((rc = slot_path(slot, sizeof(slot), u, err)) < 0)
		return rc;
	/* The first live report comes after AG_UPDATE_REPORT_S, or at the first
	 * artifact boundary: the check-in that started the download already
	 * told the server about it. */
	p.last_report = u->clock.now(u->clock.ctx);
	for (size_t i = 0; i < u->release.nartifacts; i++)
		p.total += u->release.artifacts[i].length;
	o.clock = &u->clock;
	o.max_attempts = u->o.max_attempts;
	o.backoff_ms = u->o.backoff_ms;
	o.low_speed_bps = u->o.low_speed_bps;
	o.low_speed_s = u->o.low_speed_s;
	o.progress = on_progress;
	o.progress_ctx = &p;
	for (size_t i = 0; i < u->release.nartifacts; i++) {
		struct fl_err why = {0};

		if (ag_download_artifact(u->t, slot, &u->release.artifacts[i], &o, &why) < 0) {
			/* Stopping (a signal, or a device no longer accepted) is
			 * no failure: the parts stay and the download resumes. */
			if (p.stopped)
				return fl_err_set(err, FL_EAGAIN,
						  "download stopped: device no longer accepted");
			if (why.code == FL_EAGAIN)
				return fl_err_set(err, FL_EAGAIN, "%s", why.msg);
			return fail(u, &why, err);
		}
		p.before += u->release.artifacts[i].length;
		/* Progress reaches the disk per artifact, not per chunk: flash
		 * wear matters more than a finer report after a restart. */
		if ((rc = write_obj(u->o.dir, AG_UPDATE_FILE, u->st, err)) < 0)
			return rc;
		if (send_report(&p, NULL) < 0 && p.stopped)
			return fl_err_set(err, FL_EAGAIN,
					  "download stopped: device no longer accepted");
	}
	ag_crash_point("downloaded");
	return set_state(u, "verifying", NULL, err);
}

/* Exactly the signed files, each with its signed length and hash, and no
 * way out of the slot (T-ART-05, -06, -09). */
static int check_slot(struct ag_update *u, int after_hook, struct fl_err *err)
{
	char slot[AG_PATH_MAX];
	int rc;

	if ((rc = slot_path(slot, sizeof(slot), u, err)) < 0 ||
	    (rc = ag_slots_check(slot, err)) < 0)
		return rc;
	for (size_t i = 0; i < u->release.nartifacts; i++)
		if ((rc = ag_download_check(slot, &u->release.artifacts[i], err)) < 0)
			return rc;
	if (!after_hook) {
		const char *keep[FL_TRUST_MAX_ARTIFACTS];
		size_t n = 0;

		/* Leftover parts and strays are not part of the release. */
		for (size_t i = 0; i < u->release.nartifacts && i < FL_TRUST_MAX_ARTIFACTS; i++)
			keep[n++] = u->release.artifacts[i].name;
		if ((rc = ag_slots_clear(u->o.dir, st_name(u), st_str(u, "slot"), keep, n, err)) <
		    0)
			return rc;
	}
	return 0;
}

static int step_verify(struct ag_update *u, struct fl_err *err)
{
	struct fl_err why = {0};
	int rc;

	if (check_slot(u, 0, &why) < 0) {
		/* Files gone bad on disk are fetched again; a planted link is an
		 * attack and ends the update. */
		if (why.code == FL_EINVAL || why.code == FL_ENOTFOUND) {
			fl_log(FL_LOG_WARN, "slot check failed (%s); downloading again", why.msg);
			return set_state(u, "downloading", NULL, err);
		}
		return fail(u, &why, err);
	}
	ag_crash_point("verified");
	if ((rc = set_slot_content(u, st_str(u, "slot"), 1, err)) < 0)
		return rc;
	return set_state(u, "installing", NULL, err);
}

static int step_install(struct ag_update *u, struct fl_err *err)
{
	struct fl_err why = {0};
	int rc;

	if (u->release.install_hook &&
	    run_cmd(u, "install hook", u->release.install_hook,
		    u->release.install_timeout_s > 0 ? u->release.install_timeout_s : 300,
		    &why) < 0)
		return fail(u, &why, err);
	ag_crash_point("hook_ran");
	/* The hook may have unpacked things: check again before the flip. */
	if (check_slot(u, 1, &why) < 0)
		return fail(u, &why, err);
	json_object_set_new(u->st, "window_start", json_integer(0));
	if ((rc = set_state(u, "health_check", NULL, err)) < 0 ||
	    (rc = ag_slots_point(u->o.dir, st_name(u), st_str(u, "slot"), err)) < 0)
		return rc;
	ag_crash_point("flipped");
	return 0;
}

static int commit(struct ag_update *u, struct fl_err *err)
{
	json_t *c = json_pack("{s:s,s:I,s:s}", "version", u->release.version, "counter",
			      (json_int_t)u->release.counter, "kind", u->release.kind);
	int rc;

	if (!c ||
	    json_object_set_new(json_object_get(u->rel, "committed"), u->release.name, c) < 0 ||
	    json_object_set_new(json_object_get(u->rel, "kinds"), u->release.kind,
				json_string(u->release.version)) < 0)
		return oom(err);
	/* releases.json first: a kill before update.json says committed only
	 * repeats the health window, and the counter floor never lags. */
	if ((rc = save_rel(u, err)) < 0)
		return rc;
	ag_crash_point("before_commit");
	if ((rc = set_state(u, "committed", NULL, err)) < 0)
		return rc;
	fl_log(FL_LOG_INFO, "update %s committed", st_str(u, "release"));
	return 0;
}

/* How often the health command runs inside the window: a fifth of the window,
 * between 1 and 10 s, so a module that dies an hour into a two-hour window
 * is caught within seconds, not at the end. */
static int64_t probe_every(const struct ag_update *u)
{
	int64_t p = u->release.health_window_s / 5;

	return p < 1 ? 1 : p > 10 ? 10 : p;
}

/* 1 when the window is still open (come back later), 0 after commit. */
static int step_health(struct ag_update *u, struct fl_err *err)
{
	int64_t now = u->clock.now(u->clock.ctx), start = st_int(u, "window_start");
	int64_t timeout =
	    u->o.health_timeout_s > 0 ? u->o.health_timeout_s : AG_UPDATE_HEALTH_TIMEOUT_S;
	struct fl_err why = {0};
	char cur[2];
	int rc;

	if ((rc = ag_slots_current(cur, u->o.dir, st_name(u), err)) < 0)
		return rc;
	if (strcmp(cur, st_str(u, "slot")) != 0 &&
	    (rc = ag_slots_point(u->o.dir, st_name(u), st_str(u, "slot"), err)) < 0)
		return rc;
	if (start > 0 && now < start + u->release.health_window_s) {
		int64_t last = st_int(u, "last_probe");

		if (!u->release.health_cmd || now < (last ? last : start) + probe_every(u))
			return 1;
		if (run_cmd(u, "health check", u->release.health_cmd, timeout, &why) < 0)
			return roll_back(u, &why, err);
		json_object_set_new(u->st, "last_probe", json_integer(now));
		if ((rc = write_obj(u->o.dir, AG_UPDATE_FILE, u->st, err)) < 0)
			return rc;
		return 1;
	}
	if (u->release.health_cmd &&
	    run_cmd(u, "health check", u->release.health_cmd, timeout, &why) < 0)
		return roll_back(u, &why, err);
	if (start == 0 && u->release.health_window_s > 0) {
		json_object_set_new(u->st, "window_start", json_integer(now));
		if ((rc = write_obj(u->o.dir, AG_UPDATE_FILE, u->st, err)) < 0)
			return rc;
		ag_crash_point("health_window");
		return 1;
	}
	return commit(u, err);
}

int ag_update_step(struct ag_update *u, struct fl_err *err)
{
	struct fl_err local = {0};
	int rc = 0;

	if (!err)
		err = &local;
	if (!u->st)
		return 0;
	for (;;) {
		const char *state = st_str(u, "state");

		if (is_final(state))
			return 0;
		if ((rc = load_release(u, err)) < 0) {
			struct fl_err why = *err;

			fl_err_prefix(&why, "stored release unusable");
			return fail(u, &why, err);
		}
		if (strcmp(state, "assigned") == 0)
			rc = step_assigned(u, err);
		else if (strcmp(state, "downloading") == 0)
			rc = step_download(u, err);
		else if (strcmp(state, "verifying") == 0)
			rc = step_verify(u, err);
		else if (strcmp(state, "installing") == 0)
			rc = step_install(u, err);
		else if (strcmp(state, "health_check") == 0)
			rc = step_health(u, err);
		else
			rc = fl_err_set(err, FL_EINVAL, "update.json has unknown state '%.32s'",
					state);
		if (rc != 0)
			return rc > 0 ? 0 : rc;
	}
}

int64_t ag_update_wait_ms(const struct ag_update *u)
{
	int64_t start, left;

	if (!u->st || strcmp(st_str(u, "state"), "health_check") != 0 || !u->have_release)
		return -1;
	start = st_int(u, "window_start");
	if (start == 0)
		return 0;
	left = start + u->release.health_window_s - u->clock.now(u->clock.ctx);
	if (u->release.health_cmd) {
		int64_t last = st_int(u, "last_probe");
		int64_t next = (last ? last : start) + probe_every(u) - u->clock.now(u->clock.ctx);

		if (next < left)
			left = next;
	}
	return left > 0 ? left * 1000 : 0;
}

json_t *ag_update_report(const struct ag_update *u)
{
	json_t *r, *reason;

	if (!u->st)
		return NULL;
	reason = json_object_get(u->st, "reason");
	r = json_pack("{s:s,s:s,s:O}", "release", st_str(u, "release"), "state", st_str(u, "state"),
		      "progress", json_object_get(u->st, "progress"));
	if (r && json_is_string(reason))
		json_object_set(r, "reason", reason);
	return r;
}

int ag_update_inventory(const struct ag_update *u, json_t *inv, struct fl_err *err)
{
	json_t *running = json_object(), *pair, *kinds = json_object_get(u->rel, "kinds");
	const char *name;
	int rc = 0;

	if (!running)
		return oom(err);
	/* Every name with a pair: each runs whatever its own current names. */
	json_object_foreach (json_object_get(u->rel, "slots"), name, pair) {
		json_t *s;
		char cur[2];

		if ((rc = ag_slots_current(cur, u->o.dir, name, err)) < 0)
			goto cleanup;
		s = *cur ? slot_record(u, name, cur) : NULL;
		if (s && json_is_string(json_object_get(s, "version")) &&
		    json_object_set(running, name, json_object_get(s, "version")) < 0) {
			rc = oom(err);
			goto cleanup;
		}
	}
	rc = json_object_set(inv, "running", running) < 0 ? oom(err) : 0;
cleanup:
	json_decref(running);
	if (rc < 0)
		return rc;
	if (json_is_string(json_object_get(kinds, "model")))
		json_object_set(inv, "model_version", json_object_get(kinds, "model"));
	if (json_is_string(json_object_get(kinds, "firmware")))
		json_object_set(inv, "firmware_version", json_object_get(kinds, "firmware"));
	return 0;
}

const char *ag_update_state(const struct ag_update *u)
{
	return u->st ? st_str(u, "state") : "";
}

const char *ag_update_reason(const struct ag_update *u)
{
	return u->st ? st_str(u, "reason") : "";
}

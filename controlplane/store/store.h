/*
 * store.h - the control plane's durable state: the only sqlite3 user.
 *
 * One SQLite file in WAL mode. Each thread that calls in gets its own
 * connection (opened on first use, closed when the thread exits), so worker
 * threads never share a handle. Every mutation that an operator or device
 * causes runs in one transaction together with its audit entry: either both
 * land or neither does. Reads and writes bind parameters; no SQL is built
 * from input.
 *
 * JSON results are new references the caller owns.
 */
#ifndef CP_STORE_H
#define CP_STORE_H

#include <jansson.h>
#include <stdint.h>

#include "core/sli.h"
#include "fairlead/crypto.h"
#include "fairlead/drift.h"
#include "fairlead/err.h"
#include "fairlead/sketch.h"

struct cp_store;

/* An audit entry to append in the same transaction as a mutation. details is
 * borrowed (NULL: {}). */
struct cp_audit_rec {
	const char *actor;
	const char *action;
	const char *target;
	json_t *details;
};

/* Runs PRAGMA quick_check on the database file at path (before cp_store_open,
 * which would migrate it): 0 when it is sound, FL_ERROR naming the file and
 * the first problem SQLite reports when a page is damaged or unreadable.
 * Reads every page once: seconds on a big database. */
int cp_store_check(const char *path, struct fl_err *err);
/* Opens (creating if needed) and migrates to target_version (-1: latest).
 * Each thread that uses the store gets its own connection, with its
 * prepared statements kept, closed when the thread exits. */
int cp_store_open(struct cp_store **out, const char *path, int target_version, struct fl_err *err);
/* Closes the opening thread's connection: call it on that thread, after
 * every other thread that used the store has exited. */
void cp_store_free(struct cp_store *s);
int cp_store_version(int *out, struct cp_store *s, struct fl_err *err);
int cp_store_latest_version(void);
/* Runs a checkpoint so the main file holds everything (for backups). */
int cp_store_checkpoint(struct cp_store *s, struct fl_err *err);

/* --- devices --------------------------------------------------------- */

/* What the in-memory registry keeps of a device (see registry.h). */
struct cp_device_core {
	char id[65];
	char state[16];
	char keyid[FL_KEYID_LEN + 1];
	uint8_t pk[FL_ED25519_PK_LEN];
	json_t *labels;
	int64_t desired_version;
	int64_t last_seen; /* 0: never */
	int open_commands;
	char assigned[160]; /* "NAME@VERSION" of its assignment, "" when none */
};

/* Calls cb for every device with its active key; cb returns non-zero to stop.
 * cb may keep neither the row nor its labels beyond the call without a
 * json_incref. */
typedef int (*cp_device_core_cb)(const struct cp_device_core *d, void *ctx);
int cp_store_devices_load(struct cp_store *s, cp_device_core_cb cb, void *ctx, struct fl_err *err);

/* One device as a JSON object (id, state, state_reason, labels, keyid,
 * inventory, desired, desired_version, reported, enrolled_at, last_seen).
 * FL_ENOTFOUND when absent. */
int cp_store_device_get(json_t **out, struct cp_store *s, const char *id, struct fl_err *err);
/* Devices with id > after in id order, at most limit, in the same form
 * without desired/reported. */
int cp_store_devices_page(json_t **out, struct cp_store *s, const char *after, int limit,
			  struct fl_err *err);

struct cp_enrollment {
	const char *device_id;
	const char *pubkey_b64;
	const char *keyid;
	const char *state;	/* pending or accepted */
	json_t *labels;		/* borrowed */
	json_t *inventory;	/* borrowed, may be NULL */
	const char *token_id;	/* enrollment token to consume, or NULL */
	const char *preauth_id; /* preauthorization to consume, or NULL */
	int64_t now;
};
/* Creates the device and its key, consuming one use of the token (FL_EGONE
 * when none is left or it expired meanwhile) or the preauthorization.
 * FL_EEXISTS when the id or key is taken. */
int cp_store_device_enroll(struct cp_store *s, const struct cp_enrollment *e,
			   const struct cp_audit_rec *a, struct fl_err *err);
/* Sets a device's state and reason with the audit entry a; a change of
 * state appends "device.state_changed" ({"device": {id, labels, state},
 * "from", "to", "reason"}) in the same transaction. */
int cp_store_device_set_state(struct cp_store *s, const char *id, const char *state,
			      const char *reason, int64_t now, const struct cp_audit_rec *a,
			      struct fl_err *err);
int cp_store_device_set_labels(struct cp_store *s, const char *id, json_t *labels,
			       const struct cp_audit_rec *a, struct fl_err *err);
/* Replaces the desired twin and bumps desired_version (returned in *version). */
int cp_store_device_set_desired(int64_t *version, struct cp_store *s, const char *id,
				json_t *desired, const struct cp_audit_rec *a, struct fl_err *err);
/* Retires old_keyid and activates the new key in one step. */
int cp_store_device_rotate_key(struct cp_store *s, const char *id, const char *old_keyid,
			       const char *new_keyid, const char *new_pubkey_b64, int64_t now,
			       const struct cp_audit_rec *a, struct fl_err *err);
/* The desired twin (new reference) and its version. */
int cp_store_device_desired(json_t **out, int64_t *version, struct cp_store *s, const char *id,
			    struct fl_err *err);

/* Write-behind batch from check-ins: one transaction for all of them. */
struct cp_checkin_rec {
	char device_id[65];
	int64_t last_seen;
	char *inventory; /* compact JSON or NULL: unchanged */
	char *reported;	 /* compact JSON or NULL: unchanged */
	/* The update status the agent reported (device_updates), or NULL:
	 * compact JSON {"release","state","progress"?,"reason"?}, validated. */
	char *update;
};
struct cp_command_result {
	char id[48];
	char device_id[65];
	char status[12]; /* delivered, ok, error, refused */
	char *result;	 /* compact JSON or NULL */
	int64_t at;
};
/* Writes a batch of check-ins and command results in one transaction. An
 * update status that turns to "failed" or "rolled_back" (a new release or a
 * new state) appends "device.update_failed" or "device.rolled_back"
 * ({"device": {id, labels, state}, "update": the status}). */
int cp_store_checkins_apply(struct cp_store *s, const struct cp_checkin_rec *recs, size_t n,
			    const struct cp_command_result *res, size_t nres, struct fl_err *err);

/* --- releases ---------------------------------------------- */

/* Root envelopes by version. cp_store_root_get with version 0 gives the
 * newest; *out_version its version. FL_ENOTFOUND when there is none. */
int cp_store_root_get(char **out, int64_t *out_version, struct cp_store *s, int64_t version,
		      struct fl_err *err);
/* Adds root `version`; FL_EEXISTS when present, FL_ECONFLICT when it is not
 * exactly the newest + 1 (or 1 on an empty table). */
int cp_store_root_add(struct cp_store *s, int64_t version, const char *envelope, int64_t now,
		      const struct cp_audit_rec *a, struct fl_err *err);

struct cp_release_row {
	const char *name, *version, *kind;
	int64_t counter;
	const json_t *hardware; /* borrowed array */
	const char *commit;
	const char *sha256;   /* of envelope */
	const char *envelope; /* the exact stored bytes */
	int64_t created_at;
};
/* Inserts a release. FL_EEXISTS for a known name@version; FL_ECONFLICT when
 * counter is not above every counter of the name. */
int cp_store_release_add(struct cp_store *s, const struct cp_release_row *r,
			 const struct cp_audit_rec *a, struct fl_err *err);
/* The highest counter of name, 0 when none. */
int cp_store_release_max_counter(int64_t *out, struct cp_store *s, const char *name,
				 struct fl_err *err);
/* [{"name","version","kind","counter","commit","sha256","created_at"}...]
 * sorted by name, counter. */
int cp_store_releases_list(json_t **out, struct cp_store *s, struct fl_err *err);
/* One release: the summary plus "hardware" (array) and "envelope" (text).
 * FL_ENOTFOUND when absent. */
int cp_store_release_get(json_t **out, struct cp_store *s, const char *name, const char *version,
			 struct fl_err *err);
/* {"NAME@VERSION": sha256, ...} of every release, for the timestamp. */
int cp_store_release_digests(json_t **out, struct cp_store *s, struct fl_err *err);

/* The newest signed timestamp, FL_ENOTFOUND when none. */
int cp_store_timestamp_latest(char **out, int64_t *version, int64_t *expires, struct cp_store *s,
			      struct fl_err *err);
/* Adds a timestamp (version above every earlier one, else FL_EEXISTS) and
 * drops versions older than the newest few. */
int cp_store_timestamp_add(struct cp_store *s, int64_t version, const char *envelope,
			   int64_t expires, int64_t now, struct fl_err *err);

struct cp_assignment_row {
	const char *device_id;
	const char *name, *version;
	int64_t counter;
	int rollback;
	int64_t issued_at, expires_at;
	const char *envelope; /* signed by the server's director key */
};
/* Sets (replaces) the device's assignment. FL_ENOTFOUND for an unknown
 * device or release. */
int cp_store_assignment_set(struct cp_store *s, const struct cp_assignment_row *r,
			    const struct cp_audit_rec *a, struct fl_err *err);
/* {"device_id","release_name","release_version","counter","rollback",
 * "issued_at","expires_at","envelope","release_envelope"}; FL_ENOTFOUND when
 * the device has none. */
int cp_store_assignment_get(json_t **out, struct cp_store *s, const char *device_id,
			    struct fl_err *err);
/* Assignments expiring before `before`, at most limit, soonest first, in the
 * form of cp_store_assignment_get without envelopes. */
int cp_store_assignments_expiring(json_t **out, struct cp_store *s, int64_t before, int limit,
				  struct fl_err *err);
/* Replaces a re-signed assignment's envelope and times, if it still is the
 * device's assignment of name@version (0 changed rows is not an error). */
int cp_store_assignment_resign(struct cp_store *s, const struct cp_assignment_row *r,
			       struct fl_err *err);
/* The device's last reported update status: {"release","state","progress",
 * "reason","updated_at"}, or FL_ENOTFOUND. */
int cp_store_device_update_get(json_t **out, struct cp_store *s, const char *device_id,
			       struct fl_err *err);

/* --- preauthorization -------------------------------------------------- */

int cp_store_preauth_add(struct cp_store *s, const char *id, const char *pubkey_b64, json_t *labels,
			 int64_t now, const struct cp_audit_rec *a, struct fl_err *err);
/* The preauthorized key and labels of id; FL_ENOTFOUND when none. */
int cp_store_preauth_get(char pubkey_b64[64], json_t **labels, struct cp_store *s, const char *id,
			 struct fl_err *err);

/* --- operator tokens --------------------------------------------------- */

struct cp_token {
	char id[40];
	char role[20];
	char name[65];
	int64_t created_at;
	int64_t expires_at; /* 0: never */
	int64_t revoked_at; /* 0: live */
};
int cp_store_token_add(struct cp_store *s, const struct cp_token *t, const char *hash_hex,
		       const struct cp_audit_rec *a, struct fl_err *err);
int cp_store_token_by_hash(struct cp_token *out, struct cp_store *s, const char *hash_hex,
			   struct fl_err *err);
int cp_store_tokens_list(json_t **out, struct cp_store *s, struct fl_err *err);
int cp_store_token_revoke(struct cp_store *s, const char *id, int64_t now,
			  const struct cp_audit_rec *a, struct fl_err *err);

/* --- enrollment tokens ------------------------------------------------- */

struct cp_enroll_token {
	char id[40];
	int64_t max_uses;
	int64_t uses_left;
	json_t *labels; /* owned by the struct: cp_enroll_token_release */
	int auto_accept;
	int64_t created_at;
	int64_t expires_at;
	int64_t revoked_at;
};
void cp_enroll_token_release(struct cp_enroll_token *t);
int cp_store_enroll_token_add(struct cp_store *s, const struct cp_enroll_token *t,
			      const char *hash_hex, const struct cp_audit_rec *a,
			      struct fl_err *err);
int cp_store_enroll_token_by_hash(struct cp_enroll_token *out, struct cp_store *s,
				  const char *hash_hex, struct fl_err *err);
int cp_store_enroll_tokens_list(json_t **out, struct cp_store *s, struct fl_err *err);
int cp_store_enroll_token_revoke(struct cp_store *s, const char *id, int64_t now,
				 const struct cp_audit_rec *a, struct fl_err *err);

/* --- audit ----------------------------------------------------------- */

int cp_store_audit_append(struct cp_store *s, const struct cp_audit_rec *a, struct fl_err *err);
int cp_store_audit_list(json_t **out, struct cp_store *s, int64_t after, int limit,
			struct fl_err *err);
int cp_store_audit_head(int64_t *seq, char hash[65], struct cp_store *s, struct fl_err *err);

/* --- commands -------------------------------------------------------- */

/* A new command. deliver_by (unix seconds, 0: no deadline) bounds its
 * delivery: queued at that instant, it reads as "expired" and is never
 * delivered. idem_key (NULL: none) makes the create idempotent per device. */
struct cp_command_new {
	const char *id, *device_id, *type;
	json_t *args; /* borrowed; NULL: {} */
	int64_t deliver_by;
	const char *idem_key;
	int64_t now;
};
/* Creates c with its audit entry a in one transaction. With an idempotency
 * key already used on the device, nothing is written and *out is that
 * command (*created 0), or FL_ECONFLICT when its type or args differ.
 * FL_ENOTFOUND for an unknown device. out and created may be NULL. */
int cp_store_command_create(json_t **out, int *created, struct cp_store *s,
			    const struct cp_command_new *c, const struct cp_audit_rec *a,
			    struct fl_err *err);
/* cp_store_command_create without a deadline or a key. */
int cp_store_command_add(struct cp_store *s, const char *id, const char *device_id,
			 const char *type, json_t *args, int64_t now, const struct cp_audit_rec *a,
			 struct fl_err *err);
/* Commands of a device as of now, newest first, at most 200: {"id",
 * "device_id", "type", "args", "status" (queued, delivered, ok, error,
 * refused, or expired), "result", "created_at", "delivered_at",
 * "completed_at", "deliver_by", "idem_key"}. open_only: those to deliver
 * (delivered, or queued before their deadline), oldest first, at most 16,
 * with id, type and args only. */
int cp_store_commands_list(json_t **out, struct cp_store *s, const char *device_id, int open_only,
			   int64_t now, struct fl_err *err);
/* One command of a device, as in the list. FL_ENOTFOUND when absent. */
int cp_store_command_get(json_t **out, struct cp_store *s, const char *device_id, const char *id,
			 int64_t now, struct fl_err *err);

/* --- the replay cache across restarts (store/replay.c) ---------------- */

/* Keeps the nonce of an accepted signature until expires, durably before it
 * returns; prunes expired rows. FL_EEXISTS when the nonce is already kept. */
int cp_store_replay_put(struct cp_store *s, const char *keyid, const char *nonce, int64_t created,
			int64_t expires, int64_t now, struct fl_err *err);
/* The unexpired nonces: [{"keyid","nonce","expires"}]; prunes the others. */
int cp_store_replay_load(json_t **out, struct cp_store *s, int64_t now, struct fl_err *err);

/* --- SLIs ---------------------------------------------------- */

/* One feature's histogram on its baseline's fixed bins. */
struct cp_sli_drift {
	char feature[FL_DRIFT_NAME_MAX + 1];
	size_t nbins;
	uint64_t counts[FL_DRIFT_MAX_BINS];
};

/* One accepted report, tagged at ingestion. Owns labels, latency_ms and
 * drift (cp_sli_sample_release). */
struct cp_sli_sample {
	char device_id[65];
	int64_t minute;	   /* the window's start rounded down to 60 s (unix seconds) */
	char release[132]; /* "NAME@VERSION", "" for agent-only windows */
	char *labels;	   /* the device's labels: compact JSON, keys sorted */
	char hw[64];	   /* inventory hw_model, "default" when unknown */
	char site[64];	   /* label "site", "default" when absent */
	int64_t inferences, errors, drift_checks, drift_alarms;
	double up_s, expected_s, energy_j, carbon_g;
	struct fl_sketch *latency_ms; /* NULL: none */
	struct cp_sli_drift *drift;
	size_t ndrift;
};
void cp_sli_sample_release(struct cp_sli_sample *x);

/* A device's ingestion state: the highest report seq stored, the agent's
 * cumulative count of reports dropped at its disk bound. */
struct cp_sli_dev_state {
	char device_id[65];
	int64_t seq;
	int64_t dropped;
};

/* Writes a batch in one transaction: each sample is merged into its device
 * minute (a late or repeated minute adds to the row already there), into its
 * series' 5-minute and 1-hour rollups, and the states raise the devices'
 * stored seq and dropped counts (never lower them). All or nothing. */
int cp_store_sli_write(struct cp_store *s, const struct cp_sli_sample *samples, size_t n,
		       const struct cp_sli_dev_state *states, size_t nstates, int64_t now,
		       struct fl_err *err);
/* The device's stored state; zeros when it never reported. */
int cp_store_sli_state(struct cp_sli_dev_state *out, struct cp_store *s, const char *device_id,
		       struct fl_err *err);
/* The sum of every device's dropped count. */
int cp_store_sli_dropped_total(int64_t *out, struct cp_store *s, struct fl_err *err);

/* The cp_sli_source_fn contract (core/sli.h) with the store as the source: a
 * device scope reads its minutes; otherwise step 60 reads the minute table
 * and 300 and 3600 the rollups, of the series whose release and labels (at
 * ingestion) match the scope. FL_EINVAL for a bad step, range or selector. */
int cp_store_sli_series(struct cp_sli_agg **out, size_t *n, struct cp_store *s,
			const struct cp_sli_scope *scope, int64_t from, int64_t to, int64_t step,
			struct fl_err *err);
/* The same as a cp_sli_source_fn: ctx is the struct cp_store. */
int cp_store_sli_source(void *ctx, struct cp_sli_agg **out, size_t *n,
			const struct cp_sli_scope *scope, int64_t from, int64_t to, int64_t step,
			struct fl_err *err);

/* Per-release aggregates over [from, to) (multiples of 60; the 5-minute
 * rollup is read when both are multiples of 300), for /metrics. */
struct cp_sli_release_agg {
	char release[132];
	struct cp_sli_agg agg; /* owned: cp_sli_agg_release, or cp_store_sli_releases_free */
};
int cp_store_sli_releases(struct cp_sli_release_agg **out, size_t *n, struct cp_store *s,
			  int64_t from, int64_t to, struct fl_err *err);
void cp_store_sli_releases_free(struct cp_sli_release_agg *a, size_t n);

/* The merged histograms of every feature in scope over [from, to) (multiples
 * of 60; rollups are read when the range allows). scope->release should name
 * one version: bins of different baselines are never merged (a feature whose
 * bin count differs from the first seen is skipped). Caller frees *out. */
int cp_store_sli_drift(struct cp_sli_drift **out, size_t *n, struct cp_store *s,
		       const struct cp_sli_scope *scope, int64_t from, int64_t to,
		       struct fl_err *err);

/* Deletes minute rows older than minute_before, 5-minute rows older than
 * m5_before and hourly rows older than h1_before (unix seconds). */
int cp_store_sli_retain(struct cp_store *s, int64_t minute_before, int64_t m5_before,
			int64_t h1_before, struct fl_err *err);

/* --- per-device SLI windows for the rollout gates (store/sli_devices.c) --- */

/* out[i] aggregates device_ids[i] over the minutes starting in [from, to)
 * from sli_minute, the latency sketches merged (caller frees with
 * cp_sli_aggs_free(*out, n)). release "NAME@VERSION" or "NAME" (any version)
 * keeps only what the device reported while running it; NULL keeps all. A
 * device without rows gets a zero aggregate (latency_ms NULL). */
int cp_store_sli_devices(struct cp_sli_agg **out, const char *const *device_ids, size_t n,
			 struct cp_store *s, const char *release, int64_t from, int64_t to,
			 struct fl_err *err);
/* --- SLOs, alerts and events (store/slo.c) ------------------ */

/* Rows come back as {"name","definition" (object),"source","updated_at"}. */
/* Inserts or replaces the SLOs of the array defs (each an object with
 * "name") in one transaction with the audit entry a (may be NULL): all or
 * nothing. source is "api" or "file". */
int cp_store_slos_put(struct cp_store *s, json_t *defs, const char *source, int64_t now,
		      const struct cp_audit_rec *a, struct fl_err *err);
/* Makes defs the complete set of file-sourced SLOs: others with source
 * "file" are deleted (their firing alerts resolved), in one transaction. */
int cp_store_slos_replace_files(struct cp_store *s, json_t *defs, int64_t now, struct fl_err *err);
int cp_store_slo_get(json_t **out, struct cp_store *s, const char *name, struct fl_err *err);
/* Every SLO, by name. */
int cp_store_slos_list(json_t **out, struct cp_store *s, struct fl_err *err);
/* Deletes name and resolves its firing alerts (each with an
 * "alert.resolved" event); FL_ENOTFOUND when absent. */
int cp_store_slo_delete(struct cp_store *s, const char *name, int64_t now,
			const struct cp_audit_rec *a, struct fl_err *err);

/* Alerts: {"id","slo","severity","pair","state","started_at","resolved_at",
 * "explanation" (object)}. Opening one appends "alert.firing", resolving
 * one "alert.resolved", in the same transaction. FL_EEXISTS when the pair
 * already fires. */
int cp_store_alert_open(int64_t *id, struct cp_store *s, const char *slo, const char *severity,
			const char *pair, int64_t now, json_t *explanation, struct fl_err *err);
int cp_store_alert_update(struct cp_store *s, int64_t id, json_t *explanation, struct fl_err *err);
int cp_store_alert_resolve(struct cp_store *s, int64_t id, int64_t now, json_t *explanation,
			   struct fl_err *err);
/* state "firing", "resolved" or NULL (all); newest first, at most limit. */
int cp_store_alerts_list(json_t **out, struct cp_store *s, const char *state, int limit,
			 struct fl_err *err);

/* The event log: {"seq","at","kind","subject","body" (object)} with
 * seq > after, oldest first, at most limit. */
int cp_store_event_append(int64_t *seq, struct cp_store *s, const char *kind, const char *subject,
			  json_t *body, int64_t now, struct fl_err *err);
int cp_store_events_list(json_t **out, struct cp_store *s, int64_t after, int limit,
			 struct fl_err *err);
/* Appends n events of kind, subjects[i] and bodies[i] (borrowed), in one
 * transaction with the audit entry a: all of them or none. */
int cp_store_events_append(struct cp_store *s, const char *kind, const char *const *subjects,
			   json_t *const *bodies, size_t n, int64_t now, const struct cp_audit_rec *a,
			   struct fl_err *err);
/* The sequence number of the newest event (0 for none). */
int cp_store_events_last(int64_t *seq, struct cp_store *s, struct fl_err *err);

/* --- rollouts (store/rollouts.c) ----------------------------- */

/* A rollout's snapshot of one target device: its rank in the rollout's
 * stable hash order and the release it ran before ("NAME@VERSION", NULL
 * when none: it cannot be rolled back). */
struct cp_rollout_target {
	const char *device_id;
	int64_t rank;
	const char *prev_release;
};
struct cp_rollout_new {
	const char *id;
	const char *release_name, *release_version;
	const char *selector;
	const char *created_by;
	json_t *spec; /* borrowed: stages, windows, gates, slos (core/rollout.h) */
	const struct cp_rollout_target *targets;
	size_t ntargets;
	int64_t now;
};
/* Creates a running rollout at stage 0 with its devices and its first
 * history row ("start", details borrowed) in one transaction with the audit
 * entry a. FL_ECONFLICT when a target device is in another active (running
 * or paused) rollout: *busy (caller frees, else NULL) lists them as
 * [{"device_id","rollout_id"}...] (at most 50) and nothing is written. */
int cp_store_rollout_create(json_t **busy, struct cp_store *s, const struct cp_rollout_new *r,
			    json_t *details, const struct cp_audit_rec *a, struct fl_err *err);
/* Rollouts newest first, at most limit: {"id","release","selector","spec"
 * (object),"state","stage","stage_started_at","bake_started_at","reason",
 * "created_by","created_at","updated_at","finished_at"}. state NULL: all;
 * "active": running or paused; else that state. */
int cp_store_rollouts_list(json_t **out, struct cp_store *s, const char *state, int limit,
			   struct fl_err *err);
/* One rollout in the same form; FL_ENOTFOUND when absent. */
int cp_store_rollout_get(json_t **out, struct cp_store *s, const char *id, struct fl_err *err);
/* Its devices in rank order: {"device_id","rank","prev_release","state",
 * "assigned_at","update_release","update_state","update_reason",
 * "updated_at"}; update_* is the device's last reported update status (null
 * when it never reported one). */
int cp_store_rollout_devices(json_t **out, struct cp_store *s, const char *id, struct fl_err *err);
/* Its history, oldest first: {"seq","at","kind","stage","actor","details"}. */
int cp_store_rollout_history(json_t **out, struct cp_store *s, const char *id, struct fl_err *err);

/* One decision of the controller, applied in one transaction: the rollout
 * moves from (from_state, from_stage) to the new fields, the signed
 * assignments replace the devices' assignments and mark their rollout rows
 * dev_state ("assigned" or "reverted"), the devices of unrevertable are
 * marked so, and the history row (kind, actor, details) and the audit entry
 * a are appended. FL_ECONFLICT when the rollout is no longer at
 * (from_state, from_stage): another writer decided first, nothing changed. */
struct cp_rollout_step {
	const char *id;
	const char *from_state;
	int64_t from_stage;
	const char *state;
	int64_t stage, stage_started_at, bake_started_at;
	const char *reason;
	int64_t now;
	int64_t finished_at; /* 0: not finished */
	const struct cp_assignment_row *assign;
	size_t nassign;
	const char *dev_state;
	const char *const *unrevertable;
	size_t nunrevertable;
	const char *kind, *actor;
	json_t *details; /* borrowed */
};
/* Applies one decision of the controller with its history row, its signed
 * assignments and the audit entry a in one transaction, and appends its
 * events: "rollout.gate_failed" for a decision of kind "fail", then
 * "rollout.aborted", "rollout.paused", "rollout.completed" or
 * "rollout.resumed" when the state changes, each with body {"rollout": {id,
 * release, selector, stage, state, reason}, "details": the decision's}.
 * FL_ECONFLICT when the rollout is no longer in from_state at from_stage. */
int cp_store_rollout_step(struct cp_store *s, const struct cp_rollout_step *st,
			  const struct cp_audit_rec *a, struct fl_err *err);

/* --- playbooks (store/playbooks.c) ------------------------------------ */

/* Rows come back as {"name","version","enabled","source" ("api" or "file"),
 * "definition" (canonical JSON, playbook/format.h),"updated_at"}. Every
 * change bumps the revision cp_store_playbooks_rev reads, in its
 * transaction, so an engine reloads when it differs. */
int cp_store_playbooks_rev(int64_t *rev, struct cp_store *s, struct fl_err *err);
/* Inserts or replaces the playbook def (canonical JSON, already validated)
 * with the audit entry a. The same name at the same version with another
 * definition is FL_ECONFLICT (a change takes a new version); the same
 * definition again changes nothing (*changed 0). A lower version than the
 * stored one is FL_ECONFLICT too. */
/* "enabled" is not content: it may differ at the same version (*changed 1).
 * A name stored from the other source is taken over. */
int cp_store_playbook_put(int *changed, struct cp_store *s, const json_t *def, const char *source,
			  int64_t now, const struct cp_audit_rec *a, struct fl_err *err);
/* Makes defs the complete set of file-sourced playbooks in one transaction:
 * others with source "file" are deleted. */
/* Each def follows the version rule of cp_store_playbook_put (FL_ECONFLICT
 * naming it: nothing changes); a file-sourced row of the same version and
 * content keeps its enabled (set through the API). No audit entry; the
 * revision is bumped only when a row changed. */
int cp_store_playbooks_replace_files(struct cp_store *s, json_t *defs, int64_t now,
				     struct fl_err *err);
int cp_store_playbook_get(json_t **out, struct cp_store *s, const char *name, struct fl_err *err);
/* Every playbook, by name. */
int cp_store_playbooks_list(json_t **out, struct cp_store *s, struct fl_err *err);
/* FL_ENOTFOUND when absent. Runs of it are kept. */
int cp_store_playbook_delete(struct cp_store *s, const char *name, int64_t now,
			     const struct cp_audit_rec *a, struct fl_err *err);
/* Sets enabled (in the row and in its definition). FL_ENOTFOUND. */
/* Already so: nothing is written and the revision stays, a is appended. */
int cp_store_playbook_set_enabled(struct cp_store *s, const char *name, int enabled, int64_t now,
				  const struct cp_audit_rec *a, struct fl_err *err);

/* --- playbook runs and the engine's state (store/runs.c) -------------- */

/* A run to create. definition, trigger and plan are borrowed JSON. */
struct cp_run_new {
	const char *id, *playbook;
	int64_t version;
	const json_t *definition; /* the playbook as it was */
	const json_t *trigger;	  /* {"events": [...], "omitted": N} */
	const json_t *plan;	  /* playbook/plan.h, with "hash" */
	const char *state;	  /* "awaiting_approval" or "running" */
	const char *started_by;	  /* "engine" or the actor of a manual start */
	int64_t approval_expires_at; /* 0: none */
	const char *error;	     /* a run that could not be planned: failed */
};
/* What the engine keeps of one playbook across restarts. */
struct cp_pb_state {
	const char *name;
	json_t *throttle;  /* borrowed; NULL: none */
	int64_t last_tick; /* the last schedule tick fired; 0: none */
};
/* In one transaction: the runs (each audited "run.start" by its started_by,
 * with a "run.started" event), the playbooks' states, and the engine's
 * cursor at seq (seq < 0: unchanged). Either all of it lands or none. */
int cp_store_engine_commit(struct cp_store *s, const char *cursor, int64_t seq,
			   const struct cp_run_new *runs, size_t nruns, const struct cp_pb_state *st,
			   size_t nst, int64_t now, struct fl_err *err);
/* The cursor; FL_ENOTFOUND before the first commit. */
int cp_store_engine_cursor(int64_t *seq, struct cp_store *s, const char *cursor,
			   struct fl_err *err);
/* {NAME: {"throttle" (object or null), "last_tick"}} for every playbook
 * with a saved state. */
int cp_store_playbook_states(json_t **out, struct cp_store *s, struct fl_err *err);

/* Runs come back as {"id","playbook","version","state","trigger","plan",
 * "plan_hash","cursor","error","started_by","created_at","updated_at",
 * "approval_expires_at","ended_at"} (JSON columns as values); one run also
 * has "definition", "approvals" [{"who","role","decision","plan_hash","at"}]
 * and "actions" (as cp_store_run_actions). FL_ENOTFOUND when absent. */
int cp_store_run_get(json_t **out, struct cp_store *s, const char *id, struct fl_err *err);
/* Newest first, without definition, trigger and plan; playbook and state
 * filter (NULL: all); at most limit. */
int cp_store_runs_list(json_t **out, struct cp_store *s, const char *playbook, const char *state,
		       int limit, struct fl_err *err);
/* The runs still running or awaiting approval, oldest first, at most
 * limit, with "definition" and "approvals". */
int cp_store_runs_active(json_t **out, struct cp_store *s, int limit, struct fl_err *err);

/* A change of a run: from from_state to state (may be the same), and the
 * fields that are set (NULL, or -1 for approval_expires_at: unchanged).
 * clear_approvals drops its approvals (a new plan). ended sets ended_at.
 * A change of state appends "run.STATE" ({"run","playbook","error"}).
 * FL_ECONFLICT when the run is no longer in from_state. */
struct cp_run_update {
	const char *id, *from_state, *state;
	json_t *cursor, *plan; /* borrowed */
	const char *plan_hash, *error;
	int clear_approvals;
	int64_t approval_expires_at;
	int ended;
	int64_t now;
};
int cp_store_run_update(struct cp_store *s, const struct cp_run_update *u,
			const struct cp_audit_rec *a, struct fl_err *err);
/* Records who's decision ("approve" or "deny") on the plan with plan_hash,
 * with the audit entry a. FL_EEXISTS when who already decided. *approvals
 * is then the number of approvals of the run for plan_hash. */
int cp_store_run_decide(int *approvals, struct cp_store *s, const char *id, const char *who,
			const char *role, const char *decision, const char *plan_hash, int64_t now,
			const struct cp_audit_rec *a, struct fl_err *err);

/* One action of a run's step on a device ("" for none). */
struct cp_run_action {
	const char *run_id, *step, *device_id;
	int64_t attempt;
	const char *state; /* intent, waiting, ok, error */
	const char *key;   /* its idempotency key */
	const char *ref;   /* what it made: a command id, a release (may be NULL) */
	json_t *result;	   /* borrowed; NULL: none */
	int64_t started_at, next_at, ended_at; /* 0: NULL */
};
/* Inserts or replaces the action with the audit entry a (may be NULL). */
int cp_store_run_action_put(struct cp_store *s, const struct cp_run_action *x,
			    const struct cp_audit_rec *a, struct fl_err *err);
/* {"step","device_id","attempt","state","key","ref","result","started_at",
 * "next_at","ended_at"} of the run's actions (of step only, unless NULL). */
int cp_store_run_actions(json_t **out, struct cp_store *s, const char *run_id, const char *step,
			 struct fl_err *err);

/* Accepted devices not seen for for_s seconds at now whose offline episode
 * (this last_seen) was not reported yet for for_s: at most limit of them
 * are marked reported and get one "device.offline" event each, {"device":
 * {"id","labels","state","last_seen"},"for_s","offline_s"}, in one
 * transaction. *n is how many. */
int cp_store_offline_detect(int *n, struct cp_store *s, int64_t for_s, int64_t now, int limit,
			    struct fl_err *err);
/* Of the accepted devices with label key = value: *total, and *offline
 * those not seen since before offline_before. */
int cp_store_devices_label_count(int64_t *total, int64_t *offline, struct cp_store *s,
				 const char *key, const char *value, int64_t offline_before,
				 struct fl_err *err);
/* The release device_id ran before the newest rollout that assigned it
 * ("NAME@VERSION"; free() it). FL_ENOTFOUND when none is known. */
int cp_store_device_prev_release(char **out, struct cp_store *s, const char *device_id,
				 struct fl_err *err);

#endif

/*
 * app.c - assembling the server from its parts, and taking it apart.
 */
#include "app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/replay.h"
#include "fairlead/fs.h"
#include "fairlead/log.h"
#include "fairlead/util.h"
#include "playbook/load.h"
#include "relstore/relstore.h"

void cp_config_defaults(struct cp_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:8443");
	c->threads = 16;
	c->poll_interval = 30;
	c->max_body = 1 << 20;
	c->max_artifact = 2ULL << 30;
	c->resign_ms = 60000;
	c->max_header = 8192;
	c->request_timeout_ms = 30000;
	c->keepalive_ms = 5000;
	c->io_threads = 2;
	c->queue_max = 4096;
	c->queue_wait_ms = 2000;
	c->header_timeout_ms = 10000;
	c->max_headers = 100;
	c->max_connections = 20000;
	c->max_conn_per_ip = 0;
	c->flush_ms = 1000;
	/* A device polls every few seconds at most; 10/s with a burst of 40
	 * leaves room for retries without letting one key starve the others. */
	c->device_rate = 10;
	c->device_burst = 40;
	c->token_rate = 50;
	c->token_burst = 200;
	c->anon_rate = 20;
	c->anon_burst = 100;
	cp_ingest_config_defaults(&c->ingest);
	c->slo_eval_ms = CP_SLO_EVAL_MS_DEFAULT;
	c->rollout_tick_ms = CP_ROLLOUT_TICK_MS_DEFAULT;
	c->playbook_tick_ms = CP_PB_TICK_MS_DEFAULT;
}

/* The carbon table (--carbon FILE, else DATA/carbon.json when present) and
 * the SLI ingest queue, flushed at the write-behind's interval. */
static int ingest_open(struct cp_app *app, struct fl_err *err)
{
	struct cp_ingest_config ic = app->cfg.ingest;
	char path[1100];
	int required = app->cfg.carbon_path[0] != '\0';
	int rc;

	if (required)
		snprintf(path, sizeof(path), "%s", app->cfg.carbon_path);
	else
		snprintf(path, sizeof(path), "%s/carbon.json", app->cfg.data_dir);
	if ((rc = cp_carbon_load(&app->carbon, path, required, err)) < 0)
		return rc;
	ic.flush_ms = app->cfg.flush_ms;
	if ((rc = cp_ingest_new(&app->ingest, app->store, app->carbon, &ic, err)) < 0)
		return rc;
	return cp_ingest_start(app->ingest, err);
}

/* SLOs: the files of the SLO directory replace the file-sourced
 * definitions, then the evaluator starts, reading the stored SLI series. */
static int slo_open(struct cp_app *app, struct fl_err *err)
{
	char dir[1100];
	int rc;

	if (app->cfg.slo_dir[0])
		snprintf(dir, sizeof(dir), "%s", app->cfg.slo_dir);
	else
		snprintf(dir, sizeof(dir), "%s/slo.d", app->cfg.data_dir);
	if ((rc = cp_slo_load_dir(app->store, dir, err)) < 0)
		return rc;
	if ((rc = cp_slo_engine_new(&app->slo, app->store, cp_store_sli_source, app->store, err)) <
	    0)
		return rc;
	return cp_slo_engine_start(app->slo, app->cfg.slo_eval_ms, err);
}

/* Playbooks: the files of DATA/playbooks.d replace the file-sourced ones
 * before anything runs them; a bad file stops the start. */
static int playbook_files_load(struct cp_app *app, struct fl_err *err)
{
	char dir[1100];

	snprintf(dir, sizeof(dir), "%s/playbooks.d", app->cfg.data_dir);
	return cp_pb_load_dir(NULL, app->store, dir, err);
}

/* The rollout controller reads per-device windows from the store. */
static int rollout_sli(void *ctx, struct cp_sli_agg **out, const char *const *ids, size_t n,
		       const char *release, int64_t from, int64_t to, struct fl_err *err)
{
	return cp_store_sli_devices(out, ids, n, ctx, release, from, to, err);
}

/* Check-ins queue update statuses in the write-behind: a round first writes
 * them, so that a decision follows the report that decides it at once. */
static void rollout_settle(void *ctx)
{
	struct cp_app *app = ctx;

	cp_wb_flush(app->wb, NULL);
	cp_ingest_flush(app->ingest, NULL);
}

static int rollouts_open(struct cp_app *app, struct fl_err *err)
{
	struct cp_rollout_deps d = {0};
	int rc;

	if (!app->director)
		return 0;
	d.store = app->store;
	d.director = app->director;
	d.reg = app->reg;
	d.gates = cp_gates_evaluate;
	d.sli = rollout_sli;
	d.sli_ctx = app->store;
	d.burn = cp_rollout_store_burn;
	d.burn_ctx = app->store;
	d.settle = rollout_settle;
	d.settle_ctx = app;
	if ((rc = cp_rollout_ctl_new(&app->rollouts, &d, err)) < 0)
		return rc;
	return cp_rollout_ctl_start(app->rollouts, app->cfg.rollout_tick_ms, err);
}

/* The playbook engine acts through the same parts as the API. */
static int playbooks_open(struct cp_app *app, struct fl_err *err)
{
	struct cp_pb_engine_deps d = {0};
	int rc;

	d.store = app->store;
	d.reg = app->reg;
	d.director = app->director;
	d.rollouts = app->rollouts;
	d.slo = app->slo;
	d.settle = rollout_settle;
	d.settle_ctx = app;
	d.webhook_ca = app->cfg.webhook_ca[0] ? app->cfg.webhook_ca : NULL;
	if ((rc = cp_pb_engine_new(&app->playbooks, &d, err)) < 0)
		return rc;
	return cp_pb_engine_start(app->playbooks, app->cfg.playbook_tick_ms, err);
}

/* The release parts: the online key, the timestamp/assignment signer and the
 * git store with its artifact cache and upload staging directory. */
static int releases_open(struct cp_app *app, struct fl_err *err)
{
	const char *dir = app->cfg.data_dir;
	char key[1100], repo[1100], cache[1100], staging[1100];
	struct cp_signer signer;
	int rc;

	snprintf(key, sizeof(key), "%s/keys/server.key", dir);
	snprintf(repo, sizeof(repo), "%s/releases.git", dir);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	snprintf(staging, sizeof(staging), "%s/staging", dir);
	if (!app->cfg.require_releases && (!fl_fs_exists(key) || !fl_fs_exists(repo)))
		return 0;
	if ((rc = cp_signer_load(&signer, key, err)) < 0)
		return rc;
	rc = cp_director_new(&app->director, app->store, &signer, err);
	cp_signer_wipe(&signer);
	if (rc < 0)
		return rc;
	if ((rc = cp_relstore_open(&app->relstore, repo, cache, err)) < 0) {
		fl_err_prefix(err, "release repository %s", repo);
		return rc;
	}
	if ((rc = fl_fs_mkdir_p(staging, 0700, err)) < 0)
		return rc;
	/* Uploads cut short by a crash leave *.tmp-* files; nothing refers to them. */
	fl_fs_sweep_tmp(staging, NULL, NULL);
	return cp_director_start(app->director, app->cfg.resign_ms, err);
}

int cp_app_new(struct cp_app **out, const struct cp_config *cfg, struct fl_err *err)
{
	struct cp_app *app = calloc(1, sizeof(*app));
	char db[1100];
	int rc;

	*out = NULL;
	if (!app)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	app->cfg = *cfg;
	app->started_at = fl_now();
	pthread_mutex_init(&app->push_lock, NULL);
	snprintf(db, sizeof(db), "%s/fairlead.db", cfg->data_dir);
	if (!cfg->skip_check && (rc = cp_store_check(db, err)) < 0) {
		/* Served, a damaged page fails requests at random or loses rows. */
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err ? err->msg : "");
		fl_err_set(err, rc, "%.180s (restore a backup; --skip-check starts anyway)", why);
		cp_app_free(app, NULL);
		return rc;
	}
	if ((rc = cp_store_open(&app->store, db, -1, err)) < 0 ||
	    (rc = cp_registry_new(&app->reg, err)) < 0 ||
	    (rc = cp_registry_load(app->reg, app->store, err)) < 0 ||
	    (rc = playbook_files_load(app, err)) < 0 ||
	    (rc = cp_expset_new(&app->nonces, err)) < 0 ||
	    (rc = cp_replay_load(app->nonces, app->store, app->started_at, err)) < 0 ||
	    (rc = cp_expset_new(&app->challenges, err)) < 0 ||
	    (rc = cp_expset_new(&app->done_cmds, err)) < 0 ||
	    (rc = cp_ratelimit_new(&app->rl_device, cfg->device_rate, cfg->device_burst, err)) <
		0 ||
	    (rc = cp_ratelimit_new(&app->rl_token, cfg->token_rate, cfg->token_burst, err)) < 0 ||
	    (rc = cp_ratelimit_new(&app->rl_anon, cfg->anon_rate, cfg->anon_burst, err)) < 0 ||
	    (rc = cp_wb_new(&app->wb, app->store, cfg->flush_ms, err)) < 0 ||
	    (rc = cp_wb_start(app->wb, err)) < 0 || (rc = ingest_open(app, err)) < 0 ||
	    (rc = releases_open(app, err)) < 0 || (rc = slo_open(app, err)) < 0 ||
	    (rc = rollouts_open(app, err)) < 0 || (rc = playbooks_open(app, err)) < 0 ||
	    (rc = cp_events_new(&app->events, app->store, 500, err)) < 0) {
		cp_app_free(app, NULL);
		return rc;
	}
	*out = app;
	return 0;
}

int cp_app_free(struct cp_app *app, struct fl_err *err)
{
	int rc = 0;

	if (!app)
		return 0;
	cp_events_free(app->events);
	/* First: its rounds use the rollout controller, the SLO engine and
	 * what they use. */
	cp_pb_engine_free(app->playbooks);
	/* Then: its rounds use the write-behind, the ingest and the director. */
	cp_rollout_ctl_free(app->rollouts);
	cp_slo_engine_free(app->slo);
	if (app->wb)
		rc = cp_wb_stop(app->wb, err);
	cp_wb_free(app->wb);
	if (app->ingest) {
		struct fl_err ierr = {0, ""};
		int irc = cp_ingest_stop(app->ingest, &ierr);

		if (irc < 0 && rc == 0) {
			rc = irc;
			if (err)
				*err = ierr;
		}
	}
	cp_ingest_free(app->ingest);
	cp_carbon_free(app->carbon);
	cp_director_free(app->director);
	cp_relstore_free(app->relstore);
	pthread_mutex_destroy(&app->push_lock);
	cp_ratelimit_free(app->rl_anon);
	cp_ratelimit_free(app->rl_token);
	cp_ratelimit_free(app->rl_device);
	cp_expset_free(app->done_cmds);
	cp_expset_free(app->challenges);
	cp_expset_free(app->nonces);
	cp_registry_free(app->reg);
	cp_store_free(app->store);
	free(app);
	return rc;
}

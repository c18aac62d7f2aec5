/*
 * app.c - assembling the server from its parts, and taking it apart.
 */
#include "app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/util.h"

void cp_config_defaults(struct cp_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:8443");
	c->threads = 16;
	c->poll_interval = 30;
	c->max_body = 1 << 20;
	c->max_header = 8192;
	c->request_timeout_ms = 30000;
	c->keepalive_ms = 500;
	c->flush_ms = 1000;
	/* A device polls every few seconds at most; 10/s with a burst of 40
	 * leaves room for retries without letting one key starve the others. */
	c->device_rate = 10;
	c->device_burst = 40;
	c->token_rate = 50;
	c->token_burst = 200;
	c->anon_rate = 20;
	c->anon_burst = 100;
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
	snprintf(db, sizeof(db), "%s/fairlead.db", cfg->data_dir);
	if ((rc = cp_store_open(&app->store, db, -1, err)) < 0 ||
	    (rc = cp_registry_new(&app->reg, err)) < 0 ||
	    (rc = cp_registry_load(app->reg, app->store, err)) < 0 ||
	    (rc = cp_expset_new(&app->nonces, err)) < 0 ||
	    (rc = cp_expset_new(&app->challenges, err)) < 0 ||
	    (rc = cp_expset_new(&app->done_cmds, err)) < 0 ||
	    (rc = cp_ratelimit_new(&app->rl_device, cfg->device_rate, cfg->device_burst, err)) <
		0 ||
	    (rc = cp_ratelimit_new(&app->rl_token, cfg->token_rate, cfg->token_burst, err)) < 0 ||
	    (rc = cp_ratelimit_new(&app->rl_anon, cfg->anon_rate, cfg->anon_burst, err)) < 0 ||
	    (rc = cp_wb_new(&app->wb, app->store, cfg->flush_ms, err)) < 0 ||
	    (rc = cp_wb_start(app->wb, err)) < 0) {
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
	if (app->wb)
		rc = cp_wb_stop(app->wb, err);
	cp_wb_free(app->wb);
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

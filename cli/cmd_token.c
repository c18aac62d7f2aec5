/*
 * cmd_token.c - `fairlead token`: operator API tokens (admin only).
 */
#include <string.h>

#include "cli.h"
#include "fairlead/util.h"

static const char *const roles[] = {"admin", "release-manager", "operator", "viewer", "automation"};

static int role_valid(const char *r)
{
	for (size_t i = 0; i < FL_ARRAY_SIZE(roles); i++)
		if (strcmp(r, roles[i]) == 0)
			return 1;
	return 0;
}

/* Prints the secret alone (so that `T=$(fairlead token create ...)` works),
 * or the whole reply for -o json. */
static int print_secret(struct cli_ctx *ctx, const json_t *reply, struct fl_err *err)
{
	const json_t *tok = json_object_get(reply, "token");

	if (ctx->format == CLI_FMT_JSON)
		return cli_out_json(ctx->out, reply);
	if (!json_is_string(tok))
		return fl_err_set(err, FL_ERROR, "the server's reply has no token");
	fprintf(ctx->out, "%s\n", json_string_value(tok));
	return 0;
}

static int cli_token_create(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	const char *role = cli_args_get(a, "--role"), *name = cli_args_get(a, "--name");
	const char *ttl = cli_args_get(a, "--ttl");
	json_t *body = NULL, *reply = NULL;
	int64_t secs;
	int rc;

	if (!role)
		return cli_usage(ctx, err, "token create needs --role ROLE");
	if (!role_valid(role))
		return cli_usage(ctx, err,
				 "unknown role '%s' (admin, release-manager, operator, "
				 "viewer or automation)",
				 role);
	if (ttl && fl_duration_parse(&secs, ttl, err) < 0)
		return cli_usage(ctx, err, "--ttl: %s", err->msg);
	body = json_pack("{ss}", "role", role);
	if (!body || (name && json_object_set_new(body, "name", json_string(name)) < 0) ||
	    (ttl && json_object_set_new(body, "ttl", json_string(ttl)) < 0)) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "POST", "/api/v1/tokens", body, err)) < 0)
		goto cleanup;
	rc = print_secret(ctx, reply, err);
cleanup:
	json_decref(body);
	json_decref(reply);
	return rc;
}

static int cli_token_list(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	static const char *const headers[] = {"ID",	 "ROLE",    "NAME",
					      "CREATED", "EXPIRES", "REVOKED"};
	static const char *const keys[] = {"id",	 "role",       "name",
					   "created_at", "expires_at", "revoked"};
	json_t *reply = NULL, *tokens;
	int rc;

	if ((rc = cli_api(&reply, ctx, "GET", "/api/v1/tokens", NULL, err)) < 0)
		goto cleanup;
	if (!json_is_array(tokens = json_object_get(reply, "tokens"))) {
		rc = fl_err_set(err, FL_ERROR, "the server's reply has no token list");
		goto cleanup;
	}
	rc = cli_out_list(ctx->out, ctx->format, tokens, FL_ARRAY_SIZE(keys), headers, keys);
cleanup:
	json_decref(reply);
	return rc;
}

static int cli_token_revoke(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	return cli_revoke(ctx, "/api/v1/tokens/", a->pos[0], "token", err);
}

static const struct cli_optspec create_opts[] = {
    {"--role", NULL, CLI_OPT_VALUE},
    {"--name", NULL, CLI_OPT_VALUE},
    {"--ttl", NULL, CLI_OPT_VALUE},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_cmd token_cmds[] = {
    {"create", "--role ROLE [--name NAME] [--ttl DURATION]",
     "Creates an API token and prints its secret alone (shown once; -o json: the object).",
     "options:\n"
     "  --role ROLE      admin, release-manager, operator, viewer or automation\n"
     "  --name NAME      a name to recognise it by\n"
     "  --ttl DURATION   lifetime, e.g. 90s, 15m, 24h, 30d (default: the server's)\n",
     create_opts, 0, 0, cli_token_create},
    {"list", "", "Lists API tokens (never their secrets).", NULL, NULL, 0, 0, cli_token_list},
    {"revoke", "ID", "Revokes an API token at once.", NULL, NULL, 1, 1, cli_token_revoke},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct cli_family cli_token_family = {
    "token",
    "Operator API tokens: create, list, revoke.",
    token_cmds,
};

/*
 * cmd_enroll_token.c - `fairlead enroll-token`: the tokens devices enroll
 * with (admin, operator).
 */
#include <string.h>

#include "cli.h"
#include "fairlead/util.h"

static int cli_enroll_token_create(struct cli_ctx *ctx, const struct cli_args *a,
				   struct fl_err *err)
{
	const char *uses = cli_args_get(a, "--uses"), *ttl = cli_args_get(a, "--ttl");
	const char *words[CLI_MAX_ARGS];
	size_t nlabels = cli_args_all(words, CLI_MAX_ARGS, a, "--label");
	json_t *body = NULL, *labels = NULL, *reply = NULL, *tok;
	int64_t n = 0, secs;
	int rc;

	/* Validate everything before the network: a typo must not cost a token. */
	if (uses && (rc = cli_parse_count(&n, ctx, "--uses", uses, err)) < 0)
		return rc;
	if (ttl && fl_duration_parse(&secs, ttl, err) < 0)
		return cli_usage(ctx, err, "--ttl: %s", err->msg);
	if ((rc = cli_labels_parse(&labels, ctx, words, nlabels, 0, err)) < 0)
		goto cleanup;
	/* Only what the user gave: the server owns the defaults. */
	if (!(body = json_object()) ||
	    (uses && json_object_set_new(body, "uses", json_integer(n)) < 0) ||
	    (ttl && json_object_set_new(body, "ttl", json_string(ttl)) < 0) ||
	    (nlabels && json_object_set(body, "labels", labels) < 0) ||
	    (cli_args_has(a, "--auto-accept") &&
	     json_object_set_new(body, "auto_accept", json_true()) < 0)) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "POST", "/api/v1/enroll-tokens", body, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON) {
		rc = cli_out_json(ctx->out, reply);
	} else if (!json_is_string(tok = json_object_get(reply, "token"))) {
		rc = fl_err_set(err, FL_ERROR, "the server's reply has no token");
	} else {
		fprintf(ctx->out, "%s\n", json_string_value(tok));
	}
cleanup:
	json_decref(labels);
	json_decref(body);
	json_decref(reply);
	return rc;
}

static int cli_enroll_token_list(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	static const char *const headers[] = {"ID",	 "USES",    "USED",  "AUTO-ACCEPT",
					      "EXPIRES", "REVOKED", "LABELS"};
	static const char *const keys[] = {"id",	 "uses",    "used",  "auto_accept",
					   "expires_at", "revoked", "labels"};
	json_t *reply = NULL, *list;
	int rc;

	if ((rc = cli_api(&reply, ctx, "GET", "/api/v1/enroll-tokens", NULL, err)) < 0)
		goto cleanup;
	if (!json_is_array(list = json_object_get(reply, "enroll_tokens"))) {
		rc = fl_err_set(err, FL_ERROR, "the server's reply has no enroll token list");
		goto cleanup;
	}
	rc = cli_out_list(ctx->out, ctx->format, list, FL_ARRAY_SIZE(keys), headers, keys);
cleanup:
	json_decref(reply);
	return rc;
}

static int cli_enroll_token_revoke(struct cli_ctx *ctx, const struct cli_args *a,
				   struct fl_err *err)
{
	return cli_revoke(ctx, "/api/v1/enroll-tokens/", a->pos[0], "enroll token", err);
}

static const struct cli_optspec create_opts[] = {
    {"--uses", NULL, CLI_OPT_VALUE},  {"--ttl", NULL, CLI_OPT_VALUE},
    {"--label", NULL, CLI_OPT_MULTI}, {"--auto-accept", NULL, CLI_OPT_FLAG},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_cmd enroll_token_cmds[] = {
    {"create", "[--uses N] [--ttl DURATION] [--label K=V]... [--auto-accept]",
     "Creates an enrollment token and prints it alone (-o json: the object).",
     "options:\n"
     "  --uses N         how many devices may enroll with it (default: the server's)\n"
     "  --ttl DURATION   lifetime, e.g. 15m, 24h, 7d (default: the server's)\n"
     "  --label K=V      a label every device enrolled with it gets; repeatable\n"
     "  --auto-accept    devices start accepted instead of pending approval\n",
     create_opts, 0, 0, cli_enroll_token_create},
    {"list", "", "Lists enrollment tokens (never their secrets).", NULL, NULL, 0, 0,
     cli_enroll_token_list},
    {"revoke", "ID", "Revokes an enrollment token.", NULL, NULL, 1, 1, cli_enroll_token_revoke},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct cli_family cli_enroll_token_family = {
    "enroll-token",
    "Device enrollment tokens: create, list, revoke.",
    enroll_token_cmds,
};

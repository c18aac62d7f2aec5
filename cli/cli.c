/*
 * cli.c - the command table, the argument parser, help, and the helpers every
 * command family shares (API calls, labels, usage errors).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fairlead/json.h"
#include "fairlead/util.h"

/* Accepted before the family name and among any subcommand's arguments. */
static const struct cli_optspec global_opts[] = {
    {"--server", NULL, CLI_OPT_VALUE},
    {"--token", NULL, CLI_OPT_VALUE},
    {"--token-file", NULL, CLI_OPT_VALUE},
    {"--ca", NULL, CLI_OPT_VALUE},
    {"--output", "-o", CLI_OPT_VALUE},
    {"--help", "-h", CLI_OPT_FLAG},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const char global_help[] =
    "global options (before the command or among its arguments):\n"
    "  --server URL       server, https://HOST:PORT (env FAIRLEAD_SERVER)\n"
    "  --token TOKEN      API token (env FAIRLEAD_TOKEN)\n"
    "  --token-file FILE  read the API token from FILE (env FAIRLEAD_TOKEN_FILE)\n"
    "  --ca FILE          PEM CA certificate to pin (env FAIRLEAD_CA)\n"
    "  -o, --output FMT   table (default) or json; read commands then print JSON alone\n"
    "  -h, --help         show help\n"
    "settings missing from flags and environment come from $FAIRLEAD_CONFIG or\n"
    "~/.config/fairlead/config (lines 'server = ...', 'token = ...', 'token_file = ...',\n"
    "'ca = ...').\n";

static const struct cli_family *const families[] = {
    &cli_token_family,	  &cli_enroll_token_family, &cli_device_family,	 &cli_audit_family,
    &cli_key_family,	  &cli_root_family,	    &cli_release_family, &cli_metrics_family,
    &cli_drift_family,	  &cli_slo_family,	    &cli_alerts_family,	 &cli_rollout_family,
    &cli_playbook_family, &cli_run_family,
};

/* ---- argument parsing ---- */

static const struct cli_optspec *find_opt(const struct cli_optspec *const specs[], const char *word,
					  size_t len)
{
	for (size_t s = 0; specs[s]; s++)
		for (const struct cli_optspec *o = specs[s]; o->name; o++) {
			if (strlen(o->name) == len && strncmp(o->name, word, len) == 0)
				return o;
			if (o->alias && strlen(o->alias) == len &&
			    strncmp(o->alias, word, len) == 0)
				return o;
		}
	return NULL;
}

/* Finds a short alias glued to its value ("-ojson"). */
static const struct cli_optspec *find_glued(const struct cli_optspec *const specs[],
					    const char *word)
{
	for (size_t s = 0; specs[s]; s++)
		for (const struct cli_optspec *o = specs[s]; o->name; o++)
			if (o->alias && o->kind != CLI_OPT_FLAG && strlen(o->alias) == 2 &&
			    strncmp(o->alias, word, 2) == 0)
				return o;
	return NULL;
}

int cli_args_parse(struct cli_args *out, size_t *consumed, int argc, char *const argv[],
		   const struct cli_optspec *const specs[], int stop_at_positional,
		   struct fl_err *err)
{
	int i, only_pos = 0;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < argc; i++) {
		const char *w = argv[i], *eq, *value = NULL;
		const struct cli_optspec *o;
		size_t len;

		if (only_pos || w[0] != '-' || w[1] == '\0') { /* "-" is stdin, a positional */
			if (stop_at_positional)
				break;
			if (out->npos == CLI_MAX_ARGS)
				return fl_err_set(err, FL_EINVAL, "too many arguments");
			out->pos[out->npos++] = w;
			continue;
		}
		if (strcmp(w, "--") == 0) {
			only_pos = 1;
			continue;
		}
		eq = strncmp(w, "--", 2) == 0 ? strchr(w, '=') : NULL;
		len = eq ? (size_t)(eq - w) : strlen(w);
		if ((o = find_opt(specs, w, len))) {
			if (eq)
				value = eq + 1;
		} else if ((o = find_glued(specs, w))) {
			value = w + 2;
		} else {
			return fl_err_set(err, FL_EINVAL, "unknown option '%.*s'", (int)len, w);
		}
		if (o->kind == CLI_OPT_FLAG) {
			if (value)
				return fl_err_set(err, FL_EINVAL, "option '%s' takes no value",
						  o->name);
			value = "";
		} else if (!value) {
			/* The next word is the value even when it starts with '-'
			 * ("--reason -"): options never take optional values. */
			if (i + 1 >= argc)
				return fl_err_set(err, FL_EINVAL, "option '%s' needs a value",
						  o->name);
			value = argv[++i];
		}
		if (out->nopt == CLI_MAX_ARGS)
			return fl_err_set(err, FL_EINVAL, "too many options");
		out->opt[out->nopt].name = o->name;
		out->opt[out->nopt].value = value;
		out->nopt++;
	}
	if (consumed)
		*consumed = (size_t)i;
	return 0;
}

const char *cli_args_get(const struct cli_args *a, const char *name)
{
	const char *v = NULL;

	for (size_t i = 0; i < a->nopt; i++)
		if (strcmp(a->opt[i].name, name) == 0)
			v = a->opt[i].value;
	return v;
}

int cli_args_has(const struct cli_args *a, const char *name)
{
	return cli_args_get(a, name) != NULL;
}

size_t cli_args_all(const char **words, size_t cap, const struct cli_args *a, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < a->nopt && n < cap; i++)
		if (strcmp(a->opt[i].name, name) == 0)
			words[n++] = a->opt[i].value;
	return n;
}

/* Copies the global options out of a, later ones overriding earlier ones. */
static void apply_globals(struct cli_flags *f, const struct cli_args *a)
{
	const char *v;

	if ((v = cli_args_get(a, "--server")))
		f->server = v;
	if ((v = cli_args_get(a, "--token")))
		f->token = v;
	if ((v = cli_args_get(a, "--token-file")))
		f->token_file = v;
	if ((v = cli_args_get(a, "--ca")))
		f->ca = v;
	if ((v = cli_args_get(a, "--output")))
		f->output = v;
}

/* ---- helpers for the command families ---- */

int cli_usage(struct cli_ctx *ctx, struct fl_err *err, const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	va_list ap;

	ctx->usage = 1;
	if (!err)
		return FL_EINVAL;
	/* Formatted aside first: callers often pass err->msg itself as an
	 * argument, and vsnprintf must not read what it is writing. */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err->code = FL_EINVAL;
	memcpy(err->msg, msg, sizeof(msg));
	return FL_EINVAL;
}

int cli_revoke(struct cli_ctx *ctx, const char *prefix, const char *id, const char *what,
	       struct fl_err *err)
{
	struct fl_buf target = FL_BUF_INIT;
	json_t *reply = NULL;
	int rc;

	if (!fl_id_valid(id))
		return cli_usage(ctx, err, "bad %s id '%.64s'", what, id);
	if ((rc = cli_target(&target, prefix, id, NULL)) < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "DELETE", target.ptr, NULL, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON)
		rc = cli_out_json(ctx->out, reply);
	else
		fprintf(ctx->out, "%s %s revoked\n", what, id);
cleanup:
	fl_buf_release(&target);
	json_decref(reply);
	return rc;
}

int cli_target(struct fl_buf *b, const char *prefix, const char *id, const char *suffix)
{
	int rc = fl_buf_puts(b, prefix);

	if (rc == 0)
		rc = fl_url_escape(b, id);
	if (rc == 0 && suffix)
		rc = fl_buf_puts(b, suffix);
	return rc;
}

static int open_client(struct cli_ctx *ctx, struct fl_err *err)
{
	struct cli_config cfg;
	struct fl_httpc_opts opts = {0};
	int rc;

	if ((rc = cli_config_resolve(&cfg, &ctx->flags, err)) < 0)
		return rc;
	opts.base_url = cfg.server;
	opts.ca_file = cfg.ca;
	opts.token = cfg.token;
	rc = fl_httpc_new(&ctx->http, &opts, err); /* copies the strings */
	cli_config_release(&cfg);
	return rc;
}

int cli_api(json_t **out, struct cli_ctx *ctx, const char *method, const char *target,
	    const json_t *body, struct fl_err *err)
{
	int64_t retry_after = -1;
	int rc, attempt;

	if (out)
		*out = NULL;
	if (!ctx->http && (rc = open_client(ctx, err)) < 0)
		return rc;
	for (attempt = 0;; attempt++) {
		rc = fl_httpc_json(out, ctx->http, method, target, body, &retry_after, err);
		/* A 429 was not processed, so repeating even a POST is safe. Long
		 * waits are the user's call, not ours: give up and say so. */
		if (rc != FL_EAGAIN || attempt >= 3 || retry_after < 0 || retry_after > 10)
			break;
		sleep(retry_after > 0 ? (unsigned)retry_after : 1u);
	}
	return rc;
}

int cli_http(struct fl_httpc **out, struct cli_ctx *ctx, struct fl_err *err)
{
	int rc;

	*out = NULL;
	if (!ctx->http && (rc = open_client(ctx, err)) < 0)
		return rc;
	*out = ctx->http;
	return 0;
}

int cli_reply_error(struct fl_err *err, const struct fl_http_resp *r)
{
	int rc = fl_http_status_code(r->status);
	json_t *reply = NULL, *e, *msg, *code;

	if (rc == 0)
		return 0;
	if (r->body.len > 0 && fl_json_parse(&reply, r->body.ptr, r->body.len, NULL) < 0)
		reply = NULL;
	e = json_object_get(reply, "error");
	msg = json_object_get(e, "message");
	code = json_object_get(e, "code");
	fl_err_set(err, rc, "%s (HTTP %ld%s%s)",
		   json_is_string(msg) ? json_string_value(msg) : "request failed", r->status,
		   json_is_string(code) ? ", " : "",
		   json_is_string(code) ? json_string_value(code) : "");
	json_decref(reply);
	return rc;
}

int cli_api_raw(json_t **out, struct cli_ctx *ctx, const char *method, const char *target,
		const void *body, size_t len, struct fl_err *err)
{
	struct fl_http_resp r;
	int rc, attempt;

	*out = NULL;
	if (!ctx->http && (rc = open_client(ctx, err)) < 0)
		return rc;
	for (attempt = 0;; attempt++) {
		if ((rc = fl_httpc_do(&r, ctx->http, method, target, body, len, err)) < 0)
			return rc;
		/* The same rule as cli_api: a 429 was not processed, so a short
		 * wait and a repeat are safe. */
		if (r.status != 429 || attempt >= 3 || r.retry_after < 0 || r.retry_after > 10)
			break;
		sleep(r.retry_after > 0 ? (unsigned)r.retry_after : 1u);
		fl_http_resp_release(&r);
	}
	if ((rc = cli_reply_error(err, &r)) == 0 && r.body.len > 0 &&
	    fl_json_parse(out, r.body.ptr, r.body.len, NULL) < 0)
		rc = fl_err_set(err, FL_ERROR, "server sent malformed JSON");
	fl_http_resp_release(&r);
	return rc;
}

int cli_parse_count(int64_t *out, struct cli_ctx *ctx, const char *opt, const char *s,
		    struct fl_err *err)
{
	int64_t n = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9' && n <= 1000000000; p++)
		n = n * 10 + (*p - '0');
	if (p == s || *p || n <= 0 || n > 1000000000)
		return cli_usage(ctx, err, "%s needs a positive number, not '%.32s'", opt, s);
	*out = n;
	return 0;
}

int cli_labels_parse(json_t **out, struct cli_ctx *ctx, const char *const *words, size_t n,
		     int allow_remove, struct fl_err *err)
{
	json_t *labels = json_object();
	char key[64], val[64];
	int rc = 0;

	*out = NULL;
	if (!labels)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *w = words[i];
		size_t len = strlen(w);
		json_t *v;

		if (!strchr(w, '=') && allow_remove && len > 1 && w[len - 1] == '-') {
			if (len - 1 >= sizeof(key)) {
				rc = cli_usage(ctx, err, "label key '%.64s' is too long", w);
				goto cleanup;
			}
			memcpy(key, w, len - 1);
			key[len - 1] = '\0';
			if (!fl_label_key_valid(key)) {
				rc = cli_usage(ctx, err, "bad label key '%s'", key);
				goto cleanup;
			}
			v = json_null(); /* null tells the server to remove the label */
		} else {
			if (fl_label_parse(key, sizeof(key), val, sizeof(val), w, err) < 0) {
				rc = cli_usage(ctx, err, "%s%s", err->msg,
					       allow_remove ? " (use KEY=VALUE, or KEY- to remove)"
							    : "");
				goto cleanup;
			}
			v = json_string(val);
		}
		if (!v || json_object_set_new(labels, key, v) < 0) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	*out = labels;
	labels = NULL;
cleanup:
	json_decref(labels);
	return rc;
}

/* ---- help ---- */

static void print_top_help(FILE *f)
{
	fprintf(f, "usage: fairlead [GLOBAL OPTIONS] COMMAND SUBCOMMAND [ARGS...]\n\n"
		   "Operates a Fairlead control plane over its REST API.\n\ncommands:\n");
	for (size_t i = 0; i < FL_ARRAY_SIZE(families); i++)
		fprintf(f, "  %-14s %s\n", families[i]->name, families[i]->summary);
	fprintf(f, "\nRun 'fairlead COMMAND --help' for its subcommands.\n\n%s", global_help);
}

static void print_family_help(FILE *f, const struct cli_family *fam)
{
	fprintf(f, "usage: fairlead %s SUBCOMMAND [ARGS...]\n\n%s\n\nsubcommands:\n", fam->name,
		fam->summary);
	for (const struct cli_cmd *c = fam->cmds; c->name; c++)
		fprintf(f, "  %-14s %s\n", c->name, c->summary);
	fprintf(f, "\nRun 'fairlead %s SUBCOMMAND --help' for details.\n\n%s", fam->name,
		global_help);
}

static int is_direct(const struct cli_family *fam)
{
	return fam->cmds[0].name && strcmp(fam->cmds[0].name, fam->name) == 0;
}

static void print_cmd_help(FILE *f, const struct cli_family *fam, const struct cli_cmd *c)
{
	fprintf(f, "usage: fairlead %s%s%s%s%s\n\n%s\n", fam->name, is_direct(fam) ? "" : " ",
		is_direct(fam) ? "" : c->name, c->synopsis && *c->synopsis ? " " : "",
		c->synopsis ? c->synopsis : "", c->summary);
	if (c->help)
		fprintf(f, "\n%s", c->help);
	fprintf(f, "\n%s", global_help);
}

/* ---- dispatch ---- */

static const struct cli_family *find_family(const char *name)
{
	for (size_t i = 0; i < FL_ARRAY_SIZE(families); i++)
		if (strcmp(families[i]->name, name) == 0)
			return families[i];
	return NULL;
}

static const struct cli_cmd *find_cmd(const struct cli_family *fam, const char *name)
{
	for (const struct cli_cmd *c = fam->cmds; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* Parses the global options up to the next positional word, starting at
 * argv[*i]; advances *i. Returns 1 when --help was among them. */
static int parse_leading(struct cli_ctx *ctx, int *i, int argc, char *argv[], struct fl_err *err)
{
	static const struct cli_optspec *const specs[] = {global_opts, NULL};
	struct cli_args a;
	size_t used;
	int rc;

	if ((rc = cli_args_parse(&a, &used, argc - *i, argv + *i, specs, 1, err)) < 0)
		return cli_usage(ctx, err, "%s", err->msg);
	*i += (int)used;
	apply_globals(&ctx->flags, &a);
	return cli_args_has(&a, "--help");
}

static int set_format(struct cli_ctx *ctx, struct fl_err *err)
{
	const char *o = ctx->flags.output;

	if (!o || strcmp(o, "table") == 0)
		ctx->format = CLI_FMT_TABLE;
	else if (strcmp(o, "json") == 0)
		ctx->format = CLI_FMT_JSON;
	else
		return cli_usage(ctx, err, "unknown output format '%s' (use json or table)", o);
	return 0;
}

/* Whether a command takes --json as a flag (short for -o json); some take it
 * as a value (device desire --json FILE). */
static int json_is_flag(const struct cli_optspec *o)
{
	for (; o && o->name; o++)
		if (strcmp(o->name, "--json") == 0)
			return o->kind == CLI_OPT_FLAG;
	return 0;
}

/* Parses and runs one command line: 0, or a negative code with the message in
 * err (ctx->usage set for usage errors). Help goes to out and returns 0. */
static int dispatch(struct cli_ctx *ctx, int argc, char *argv[], struct fl_err *err)
{
	const struct cli_family *fam;
	const struct cli_cmd *cmd;
	const struct cli_optspec *specs[3] = {NULL, global_opts, NULL};
	struct cli_args a;
	int i = 1, help, rc;

	if ((help = parse_leading(ctx, &i, argc, argv, err)) < 0)
		return help;
	if (i >= argc || strcmp(argv[i], "help") == 0) {
		if (help || i < argc) {
			print_top_help(ctx->out);
			return 0;
		}
		print_top_help(ctx->errf);
		return cli_usage(ctx, err, "no command given");
	}
	if (strcmp(argv[i], "version") == 0) {
		fprintf(ctx->out, "fairlead %s\n", FL_VERSION);
		return 0;
	}
	if (!(fam = find_family(argv[i])))
		return cli_usage(ctx, err, "unknown command '%s' (try 'fairlead --help')", argv[i]);
	i++;
	if (is_direct(fam)) {
		cmd = &fam->cmds[0];
		goto parse;
	}
	if ((rc = parse_leading(ctx, &i, argc, argv, err)) < 0)
		return rc;
	help |= rc;
	if (i >= argc) {
		if (help) {
			print_family_help(ctx->out, fam);
			return 0;
		}
		print_family_help(ctx->errf, fam);
		return cli_usage(ctx, err, "'%s' needs a subcommand", fam->name);
	}
	if (!(cmd = find_cmd(fam, argv[i])))
		return cli_usage(ctx, err, "unknown subcommand '%s %s' (try 'fairlead %s --help')",
				 fam->name, argv[i], fam->name);
	i++;
parse:
	specs[0] = cmd->opts;
	if (!cmd->opts) {
		specs[0] = global_opts;
		specs[1] = NULL;
	}
	if ((rc = cli_args_parse(&a, NULL, argc - i, argv + i, specs, 0, err)) < 0)
		return cli_usage(ctx, err, "%s (try 'fairlead %s%s%s --help')", err->msg, fam->name,
				 is_direct(fam) ? "" : " ", is_direct(fam) ? "" : cmd->name);
	apply_globals(&ctx->flags, &a);
	if (help || cli_args_has(&a, "--help")) {
		print_cmd_help(ctx->out, fam, cmd);
		return 0;
	}
	if ((int)a.npos < cmd->min_pos || (cmd->max_pos >= 0 && (int)a.npos > cmd->max_pos))
		return cli_usage(ctx, err, "usage: fairlead %s%s%s %s", fam->name,
				 is_direct(fam) ? "" : " ", is_direct(fam) ? "" : cmd->name,
				 cmd->synopsis);
	if ((rc = set_format(ctx, err)) < 0)
		return rc;
	if (json_is_flag(cmd->opts) && cli_args_has(&a, "--json"))
		ctx->format = CLI_FMT_JSON;
	return cmd->run(ctx, &a, err);
}

int cli_main(int argc, char *argv[], FILE *out, FILE *errf)
{
	struct cli_ctx ctx;
	struct fl_err err;
	int rc;

	memset(&ctx, 0, sizeof(ctx));
	fl_err_clear(&err);
	ctx.out = out;
	ctx.errf = errf;
	rc = dispatch(&ctx, argc, argv, &err);
	fl_httpc_free(ctx.http);
	if (fflush(out) != 0 && rc == 0)
		rc = fl_err_set(&err, FL_ERROR, "cannot write the output");
	if (rc == 0)
		return 0;
	/* A command that already printed its own verdict (audit verify) leaves
	 * the message empty. */
	if (err.msg[0])
		fprintf(errf, "fairlead: %s\n", err.msg);
	return ctx.usage ? 2 : 1;
}

/*
 * config.c - where the CLI finds its server, token and CA.
 *
 * Each setting is looked up on its own, flag first, then the environment,
 * then the config file, so that a CI job can override just the token of an
 * operator's usual setup.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fairlead/fs.h"

/* Config and token files are tiny; the cap keeps a wrong path (a device
 * file, a huge log) from being slurped. */
#define CLI_CONFIG_MAX (64 * 1024)

void cli_config_release(struct cli_config *c)
{
	free(c->server);
	if (c->token) {
		memset(c->token, 0, strlen(c->token));
		free(c->token);
	}
	free(c->ca);
	c->server = c->token = c->ca = NULL;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* A token goes into an HTTP header: a CR, LF or other control byte would let
 * a bad file inject headers, so only printable ASCII passes. */
static int token_valid(const char *t)
{
	if (!*t)
		return 0;
	for (; *t; t++)
		if (*t < 0x21 || *t > 0x7e)
			return 0;
	return 1;
}

int cli_config_read_token(char **out, const char *path, struct fl_err *err)
{
	struct fl_buf b;
	char *line, *nl;
	int rc;

	*out = NULL;
	fl_buf_init(&b, CLI_CONFIG_MAX);
	if ((rc = fl_fs_read(&b, path, err)) < 0) {
		fl_err_prefix(err, "token file");
		goto cleanup;
	}
	if (!b.ptr) {
		rc = fl_err_set(err, FL_EINVAL, "token file '%s' is empty", path);
		goto cleanup;
	}
	line = b.ptr;
	while (isspace((unsigned char)*line))
		line++;
	if ((nl = strchr(line, '\n')))
		*nl = '\0';
	line = trim(line);
	if (!token_valid(line)) {
		rc = fl_err_set(err, FL_EINVAL, "token file '%s' holds no usable token", path);
		goto cleanup;
	}
	if (!(*out = strdup(line)))
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
cleanup:
	if (b.ptr)
		memset(b.ptr, 0, b.len);
	fl_buf_release(&b);
	return rc;
}

/* dir/rel unless rel is absolute or dir is unknown, so that "ca = ca.pem"
 * next to the config file works from any working directory. */
static int join_path(char **out, const char *dir, const char *rel)
{
	struct fl_buf b = FL_BUF_INIT;
	int rc;

	*out = NULL;
	if (rel[0] == '/' || !dir || !*dir)
		rc = fl_buf_puts(&b, rel);
	else
		rc = fl_buf_addf(&b, "%s/%s", dir, rel);
	if (rc < 0) {
		fl_buf_release(&b);
		return rc;
	}
	*out = fl_buf_detach(&b);
	return 0;
}

int cli_config_parse(struct cli_config *out, const char *text, const char *dir, const char *path,
		     struct fl_err *err)
{
	char *copy = strdup(text), *line, *save = NULL;
	char *token_file = NULL;
	int lineno = 0, rc = 0;

	if (!copy)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *key, *val, *eq, **slot = NULL;

		lineno++;
		key = trim(line);
		if (!*key || *key == '#')
			continue;
		if (!(eq = strchr(key, '='))) {
			rc =
			    fl_err_set(err, FL_EINVAL,
				       "config '%s' line %d: expected 'key = value'", path, lineno);
			goto cleanup;
		}
		*eq = '\0';
		val = trim(eq + 1);
		key = trim(key);
		if (strcmp(key, "server") == 0)
			slot = &out->server;
		else if (strcmp(key, "token") == 0)
			slot = &out->token;
		else if (strcmp(key, "ca") == 0)
			slot = &out->ca;
		else if (strcmp(key, "token_file") != 0) {
			/* Unknown keys are errors: a typo ("sever") must not silently
			 * fall back to another server. */
			rc = fl_err_set(err, FL_EINVAL, "config '%s' line %d: unknown key '%.32s'",
					path, lineno, key);
			goto cleanup;
		}
		if (!*val) {
			rc = fl_err_set(err, FL_EINVAL, "config '%s' line %d: empty value for '%s'",
					path, lineno, key);
			goto cleanup;
		}
		if (!slot) { /* token_file: read after the loop, if no inline token */
			free(token_file);
			if ((rc = join_path(&token_file, dir, val)) < 0)
				goto oom;
			continue;
		}
		if (*slot) /* set by a higher-precedence source */
			continue;
		if (slot == &out->ca)
			rc = join_path(slot, dir, val);
		else if (!(*slot = strdup(val)))
			rc = FL_ENOMEM;
		if (rc < 0)
			goto oom;
	}
	if (!out->token && token_file)
		rc = cli_config_read_token(&out->token, token_file, err);
	goto cleanup;
oom:
	rc = fl_err_set(err, FL_ENOMEM, "out of memory");
cleanup:
	free(token_file);
	free(copy);
	return rc;
}

static int dup_setting(char **slot, const char *v)
{
	if (*slot || !v || !*v)
		return 0;
	return (*slot = strdup(v)) ? 0 : FL_ENOMEM;
}

/* Reads the config file when one exists. An explicit $FAIRLEAD_CONFIG that
 * is missing is an error (the user asked for it); the default one is
 * optional. */
static int load_file(struct cli_config *out, struct fl_err *err)
{
	const char *explicit_path = getenv("FAIRLEAD_CONFIG");
	const char *home = getenv("HOME");
	struct fl_buf path = FL_BUF_INIT, text;
	char *slash;
	int rc;

	fl_buf_init(&text, CLI_CONFIG_MAX);
	if (explicit_path && *explicit_path)
		rc = fl_buf_puts(&path, explicit_path);
	else if (home && *home)
		rc = fl_buf_addf(&path, "%s/.config/fairlead/config", home);
	else
		return 0;
	if (rc < 0) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	rc = fl_fs_read(&text, path.ptr, err);
	if (rc == FL_ENOTFOUND && !(explicit_path && *explicit_path)) {
		rc = 0;
		goto cleanup;
	}
	if (rc < 0) {
		fl_err_prefix(err, "config");
		goto cleanup;
	}
	/* From here on path holds the file's directory. */
	slash = strrchr(path.ptr, '/');
	if (slash)
		*slash = '\0';
	rc = cli_config_parse(
	    out, fl_buf_cstr(&text), slash ? path.ptr : NULL,
	    explicit_path && *explicit_path ? explicit_path : "~/.config/fairlead/config", err);
cleanup:
	fl_buf_release(&path);
	if (text.ptr)
		memset(text.ptr, 0, text.len);
	fl_buf_release(&text);
	return rc;
}

int cli_config_resolve(struct cli_config *out, const struct cli_flags *flags, struct fl_err *err)
{
	const char *env_token_file = getenv("FAIRLEAD_TOKEN_FILE");
	int rc = 0;

	memset(out, 0, sizeof(*out));
	/* Level 1: flags. */
	if ((rc = dup_setting(&out->server, flags->server)) < 0 ||
	    (rc = dup_setting(&out->token, flags->token)) < 0 ||
	    (rc = dup_setting(&out->ca, flags->ca)) < 0)
		goto oom;
	if (!out->token && flags->token_file &&
	    (rc = cli_config_read_token(&out->token, flags->token_file, err)) < 0)
		goto cleanup;
	/* Level 2: environment. */
	if ((rc = dup_setting(&out->server, getenv("FAIRLEAD_SERVER"))) < 0 ||
	    (rc = dup_setting(&out->token, getenv("FAIRLEAD_TOKEN"))) < 0 ||
	    (rc = dup_setting(&out->ca, getenv("FAIRLEAD_CA"))) < 0)
		goto oom;
	if (!out->token && env_token_file && *env_token_file &&
	    (rc = cli_config_read_token(&out->token, env_token_file, err)) < 0)
		goto cleanup;
	/* Level 3: the file, only for what is still missing. */
	if ((!out->server || !out->token || !out->ca) && (rc = load_file(out, err)) < 0)
		goto cleanup;
	if (!out->server) {
		rc = fl_err_set(err, FL_EINVAL,
				"no server: use --server, FAIRLEAD_SERVER or the config file");
		goto cleanup;
	}
	if (!out->token) {
		rc = fl_err_set(
		    err, FL_EINVAL,
		    "no API token: use --token, --token-file, FAIRLEAD_TOKEN or the config file");
		goto cleanup;
	}
	if (!token_valid(out->token)) {
		rc = fl_err_set(err, FL_EINVAL,
				"the API token contains spaces or control characters");
		goto cleanup;
	}
	goto cleanup;
oom:
	rc = fl_err_set(err, FL_ENOMEM, "out of memory");
cleanup:
	if (rc < 0)
		cli_config_release(out);
	return rc;
}

/*
 * test_config.c - connection settings: flag > environment > config file,
 * each setting on its own.
 */
#include <sys/stat.h>

#include "cli.h"
#include "cli_test.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static void clean_env(void)
{
	unsetenv("FAIRLEAD_SERVER");
	unsetenv("FAIRLEAD_TOKEN");
	unsetenv("FAIRLEAD_TOKEN_FILE");
	unsetenv("FAIRLEAD_CA");
	unsetenv("FAIRLEAD_CONFIG");
}

/* A config file in a fresh directory, named by $FAIRLEAD_CONFIG; returns the
 * directory. */
static const char *config_with(const char *text)
{
	const char *dir = fl_test_tmpdir();
	static char path[300];

	snprintf(path, sizeof(path), "%s/config", dir);
	write_file(path, text);
	setenv("FAIRLEAD_CONFIG", path, 1);
	return dir;
}

Test(cli_config, flag_beats_env_beats_file, .init = clean_env)
{
	struct cli_flags flags = {0};
	struct cli_config c;
	struct fl_err err;

	config_with("# operator setup\nserver = https://file:1\ntoken = file-token\n"
		    "ca = /file/ca.pem\n");
	/* File only. */
	cr_assert(eq(int, cli_config_resolve(&c, &flags, &err), 0), "%s", err.msg);
	cli_assert_str(c.server, "https://file:1");
	cli_assert_str(c.token, "file-token");
	cli_assert_str(c.ca, "/file/ca.pem");
	cli_config_release(&c);

	/* The environment beats the file, setting by setting. */
	setenv("FAIRLEAD_SERVER", "https://env:2", 1);
	setenv("FAIRLEAD_TOKEN", "env-token", 1);
	cr_assert(eq(int, cli_config_resolve(&c, &flags, &err), 0), "%s", err.msg);
	cli_assert_str(c.server, "https://env:2");
	cli_assert_str(c.token, "env-token");
	cli_assert_str(c.ca, "/file/ca.pem");
	cli_config_release(&c);

	/* Flags beat both. */
	flags.server = "https://flag:3";
	flags.ca = "/flag/ca.pem";
	cr_assert(eq(int, cli_config_resolve(&c, &flags, &err), 0), "%s", err.msg);
	cli_assert_str(c.server, "https://flag:3");
	cli_assert_str(c.token, "env-token");
	cli_assert_str(c.ca, "/flag/ca.pem");
	cli_config_release(&c);
}

Test(cli_config, token_file_flag_beats_env_token, .init = clean_env)
{
	const char *dir = fl_test_tmpdir();
	struct cli_flags flags = {.server = "https://s"};
	struct cli_config c;
	char path[300];

	snprintf(path, sizeof(path), "%s/admin.token", dir);
	write_file(path, "  flt_from_file \n\n");
	setenv("FAIRLEAD_TOKEN", "env-token", 1);
	flags.token_file = path;
	cr_assert(eq(int, cli_config_resolve(&c, &flags, NULL), 0));
	cli_assert_str(c.token, "flt_from_file");
	cli_config_release(&c);
	/* An inline flag beats a token file flag. */
	flags.token = "flag-token";
	cr_assert(eq(int, cli_config_resolve(&c, &flags, NULL), 0));
	cli_assert_str(c.token, "flag-token");
	cli_config_release(&c);
}

Test(cli_config, file_token_file_relative_to_config, .init = clean_env)
{
	const char *dir =
	    config_with("server=https://s:8443/\ntoken_file = tok\nca = tls/ca.pem\n");
	struct cli_flags flags = {0};
	struct cli_config c;
	struct fl_err err;
	char path[300], ca[300];

	snprintf(path, sizeof(path), "%s/tok", dir);
	write_file(path, "flt_rel\n");
	snprintf(ca, sizeof(ca), "%s/tls/ca.pem", dir);
	cr_assert(eq(int, cli_config_resolve(&c, &flags, &err), 0), "%s", err.msg);
	cli_assert_str(c.token, "flt_rel");
	cli_assert_str(c.ca, ca);
	cli_config_release(&c);
}

Test(cli_config, default_path_under_home, .init = clean_env)
{
	const char *home = fl_test_tmpdir();
	struct cli_flags flags = {0};
	struct cli_config c;
	char path[300];

	setenv("HOME", home, 1);
	snprintf(path, sizeof(path), "%s/.config", home);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/.config/fairlead", home);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/.config/fairlead/config", home);
	write_file(path, "server = https://home\ntoken = t\n");
	cr_assert(eq(int, cli_config_resolve(&c, &flags, NULL), 0));
	cli_assert_str(c.server, "https://home");
	cr_assert_null(c.ca);
	cli_config_release(&c);
}

Test(cli_config, file_not_read_when_flags_and_env_suffice, .init = clean_env)
{
	struct cli_flags flags = {.server = "https://s", .token = "t", .ca = "/ca"};
	struct cli_config c;

	config_with("this is not a config file\n");
	cr_assert(eq(int, cli_config_resolve(&c, &flags, NULL), 0));
	cli_config_release(&c);
}

Test(cli_config, errors, .init = clean_env)
{
	struct cli_flags flags = {0};
	struct cli_config c;
	struct fl_err err;

	config_with("sever = https://typo\n");
	cr_assert(eq(int, cli_config_resolve(&c, &flags, &err), FL_EINVAL));
	cr_assert(strstr(err.msg, "line 1: unknown key 'sever'") != NULL, "%s", err.msg);

	config_with("server https://s\n");
	cr_assert(eq(int, cli_config_resolve(&c, &flags, &err), FL_EINVAL));

	config_with("server = https://s\n");
	cr_assert(eq(int, cli_config_resolve(&c, &flags, &err), FL_EINVAL));
	cr_assert(strstr(err.msg, "no API token") != NULL, "%s", err.msg);

	/* An explicit config file that does not exist is an error. */
	setenv("FAIRLEAD_CONFIG", "/nonexistent/fairlead/config", 1);
	cr_assert(eq(int, cli_config_resolve(&c, &flags, &err), FL_ENOTFOUND));

	/* A token with a line break would inject HTTP headers. */
	flags.server = "https://s";
	flags.ca = "/ca";
	flags.token = "a\r\nX-Evil: 1";
	cr_assert(eq(int, cli_config_resolve(&c, &flags, &err), FL_EINVAL));
}

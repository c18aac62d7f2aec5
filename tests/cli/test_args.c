/*
 * test_args.c - the argument parser and the dispatcher's exit statuses,
 * without a server.
 */
#include "cli.h"
#include "cli_test.h"

static const struct cli_optspec cmd_opts[] = {
    {"--selector", NULL, CLI_OPT_VALUE},
    {"--label", NULL, CLI_OPT_MULTI},
    {"--auto-accept", NULL, CLI_OPT_FLAG},
    {"--output", "-o", CLI_OPT_VALUE},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec *const specs[] = {cmd_opts, NULL};

Test(cli_args, mixes_options_and_positionals)
{
	char *argv[] = {"dev-1",   "--selector", "site=a",	  "k=v",    "--label=x=y",
			"--label", "z=w",	 "--auto-accept", "-ojson", "k-"};
	const char *labels[8];
	struct cli_args a;
	struct fl_err err;

	cr_assert(eq(int, cli_args_parse(&a, NULL, 10, argv, specs, 0, &err), 0));
	cr_assert(eq(sz, a.npos, 3));
	cli_assert_str(a.pos[0], "dev-1");
	cli_assert_str(a.pos[1], "k=v");
	cli_assert_str(a.pos[2], "k-");
	cli_assert_str(cli_args_get(&a, "--selector"), "site=a");
	cli_assert_str(cli_args_get(&a, "--output"), "json");
	cr_assert(cli_args_has(&a, "--auto-accept"));
	cr_assert(eq(sz, cli_args_all(labels, 8, &a, "--label"), 2));
	cli_assert_str(labels[0], "x=y");
	cli_assert_str(labels[1], "z=w");
}

Test(cli_args, last_value_wins_and_alias_maps_to_name)
{
	char *argv[] = {"-o", "table", "--output", "json"};
	struct cli_args a;

	cr_assert(eq(int, cli_args_parse(&a, NULL, 4, argv, specs, 0, NULL), 0));
	cli_assert_str(cli_args_get(&a, "--output"), "json");
	cr_assert_null(cli_args_get(&a, "-o"));
}

Test(cli_args, double_dash_and_stdin_dash_are_positional)
{
	char *argv[] = {"-", "--", "--selector", "-o"};
	struct cli_args a;

	cr_assert(eq(int, cli_args_parse(&a, NULL, 4, argv, specs, 0, NULL), 0));
	cr_assert(eq(sz, a.npos, 3));
	cli_assert_str(a.pos[0], "-");
	cli_assert_str(a.pos[1], "--selector");
	cr_assert(eq(sz, a.nopt, 0));
}

Test(cli_args, errors)
{
	char *unknown[] = {"--nope"};
	char *missing[] = {"--selector"};
	char *flagval[] = {"--auto-accept=yes"};
	struct cli_args a;
	struct fl_err err;

	cr_assert(eq(int, cli_args_parse(&a, NULL, 1, unknown, specs, 0, &err), FL_EINVAL));
	cli_assert_str(err.msg, "unknown option '--nope'");
	cr_assert(eq(int, cli_args_parse(&a, NULL, 1, missing, specs, 0, &err), FL_EINVAL));
	cli_assert_str(err.msg, "option '--selector' needs a value");
	cr_assert(eq(int, cli_args_parse(&a, NULL, 1, flagval, specs, 0, &err), FL_EINVAL));
}

Test(cli_args, stops_at_first_positional)
{
	char *argv[] = {"--selector", "x", "device", "--auto-accept"};
	struct cli_args a;
	size_t used = 99;

	cr_assert(eq(int, cli_args_parse(&a, &used, 4, argv, specs, 1, NULL), 0));
	cr_assert(eq(sz, used, 2));
	cr_assert(eq(sz, a.npos, 0));
	cr_assert(eq(sz, a.nopt, 1));
}

/* Runs the CLI on argv; returns the exit status with stdout and stderr. */
static int run(char **out, char **errs, int argc, char **argv)
{
	size_t on = 0, en = 0;
	FILE *o = open_memstream(out, &on), *e = open_memstream(errs, &en);
	int rc;

	cr_assert(o && e);
	rc = cli_main(argc, argv, o, e);
	fclose(o);
	fclose(e);
	return rc;
}

/* No connection settings may leak in from the machine running the tests. */
static void isolate(void)
{
	unsetenv("FAIRLEAD_SERVER");
	unsetenv("FAIRLEAD_TOKEN");
	unsetenv("FAIRLEAD_TOKEN_FILE");
	unsetenv("FAIRLEAD_CA");
	unsetenv("FAIRLEAD_CONFIG");
	setenv("HOME", fl_test_tmpdir(), 1); /* no config file there */
}

Test(cli_main, help_everywhere_exits_zero, .init = isolate)
{
	char *a1[] = {"fairlead", "--help"};
	char *a2[] = {"fairlead", "device", "--help"};
	char *a3[] = {"fairlead", "device", "label", "--help"};
	char *a4[] = {"fairlead", "audit", "verify", "-h"};
	char *a5[] = {"fairlead", "enroll-token", "create", "--help"};
	char *out, *errs;

	cr_assert(eq(int, run(&out, &errs, 2, a1), 0));
	cr_assert(strstr(out, "enroll-token") != NULL);
	free(out), free(errs);
	cr_assert(eq(int, run(&out, &errs, 3, a2), 0));
	cr_assert(strstr(out, "preauthorize") != NULL);
	free(out), free(errs);
	cr_assert(eq(int, run(&out, &errs, 4, a3), 0));
	cr_assert(strstr(out, "usage: fairlead device label ID K=V... [K-]...") != NULL);
	free(out), free(errs);
	cr_assert(eq(int, run(&out, &errs, 4, a4), 0));
	cr_assert(strstr(out, "audit chain intact") != NULL);
	free(out), free(errs);
	cr_assert(eq(int, run(&out, &errs, 4, a5), 0));
	cr_assert(strstr(out, "--auto-accept") != NULL);
	cli_assert_str(errs, "");
	free(out), free(errs);
}

Test(cli_main, usage_errors_exit_two, .init = isolate)
{
	char *cases[][6] = {
	    {"fairlead", "frobnicate"},
	    {"fairlead", "device", "frob"},
	    {"fairlead", "device", "show"},
	    {"fairlead", "device", "list", "--selector", "a in ("},
	    {"fairlead", "device", "list", "-o", "yaml"},
	    {"fairlead", "device", "label", "dev-1", "bad key=v"},
	    {"fairlead", "device", "list", "--limit", "0"},
	    {"fairlead", "token", "create", "--role", "root"},
	    {"fairlead", "enroll-token", "create", "--ttl", "soon"},
	    {"fairlead", "device", "show", "../etc"},
	};
	int argc[] = {2, 3, 3, 5, 5, 5, 5, 5, 5, 4};

	for (size_t i = 0; i < sizeof(argc) / sizeof(argc[0]); i++) {
		char *out, *errs;

		cr_assert(eq(int, run(&out, &errs, argc[i], cases[i]), 2), "case %zu", i);
		cli_assert_str(out, "");
		cr_assert(strncmp(errs, "fairlead: ", 10) == 0, "case %zu: %s", i, errs);
		free(out), free(errs);
	}
}

Test(cli_main, global_options_after_the_subcommand, .init = isolate)
{
	/* -o json after the subcommand is accepted; the plain-HTTP server is
	 * then refused by the client: a runtime failure, exit 1. */
	char *argv[] = {"fairlead", "device",	"list",	   "-o", "json",
			"--server", "http://x", "--token", "t"};
	char *out, *errs;

	cr_assert(eq(int, run(&out, &errs, 9, argv), 1));
	cli_assert_str(out, "");
	cli_assert_str(errs, "fairlead: server URL must start with https://\n");
	free(out), free(errs);
}

Test(cli_main, missing_server_is_a_failure, .init = isolate)
{
	char *argv[] = {"fairlead", "audit", "verify"};
	char *out, *errs;

	cr_assert(eq(int, run(&out, &errs, 3, argv), 1));
	cr_assert(strstr(errs, "no server") != NULL);
	free(out), free(errs);
}

/* test_carbon.c - the SCI table: defaults, parsing, refusals, the formula. */
#include <math.h>
#include <stdio.h>

#include "core/carbon.h"
#include "fairlead/json.h"
#include "fl_test.h"

#define YEAR_S (365.25 * 86400.0)

static struct cp_carbon *parse(const char *text, int expect_rc)
{
	struct cp_carbon *c = NULL;
	struct fl_err err = {0, ""};
	json_t *doc = NULL;

	cr_assert_eq(fl_json_parse(&doc, text, strlen(text), NULL), 0);
	cr_assert_eq(cp_carbon_parse(&c, doc, &err), expect_rc, "%s: %s", text, err.msg);
	json_decref(doc);
	return c;
}

Test(carbon, defaults_when_no_file)
{
	struct cp_carbon *c = NULL;
	struct fl_err err = {0, ""};

	cr_assert_eq(cp_carbon_load(&c, "/nonexistent/carbon.json", 0, &err), 0);
	cr_assert_eq(cp_carbon_intensity(c, "anywhere"), CP_CARBON_DEFAULT_INTENSITY);
	/* 3.6 MJ = 1 kWh at 400 g/kWh, plus 20 kg over 4 years for one hour */
	cr_assert_lt(fabs(cp_carbon_grams(c, NULL, NULL, 3.6e6, 3600) -
			  (400 + 20000.0 * 3600 / (4 * YEAR_S))),
		     1e-9);
	cp_carbon_free(c);
	cr_assert_eq(cp_carbon_load(&c, "/nonexistent/carbon.json", 1, &err), FL_ENOTFOUND);
	cr_assert_null(c);
}

Test(carbon, sites_and_hardware_from_the_table)
{
	struct cp_carbon *c = parse(
	    "{\"grid_intensity_g_per_kwh\":{\"default\":300,\"eu-west\":250},"
	    "\"hardware\":{\"default\":{\"embodied_kg\":10,\"lifetime_years\":2},"
	    "\"rpi4\":{\"embodied_kg\":30,\"lifetime_years\":5},\"jetson\":{\"embodied_kg\":50}}}",
	    0);

	cr_assert_eq(cp_carbon_intensity(c, "eu-west"), 250);
	cr_assert_eq(cp_carbon_intensity(c, "mars"), 300);
	cr_assert_lt(fabs(cp_carbon_grams(c, "eu-west", "rpi4", 7.2e6, 60) -
			  (2 * 250 + 30000.0 * 60 / (5 * YEAR_S))),
		     1e-9);
	/* jetson inherits the default lifetime (2 years), unknown hw the default */
	cr_assert_lt(fabs(cp_carbon_grams(c, NULL, "jetson", 0, 60) - 50000.0 * 60 / (2 * YEAR_S)),
		     1e-12);
	cr_assert_lt(fabs(cp_carbon_grams(c, NULL, "x", 0, 60) - 10000.0 * 60 / (2 * YEAR_S)),
		     1e-12);
	cp_carbon_free(c);
}

Test(carbon, bad_tables_are_refused)
{
	static const char *const bad[] = {
	    "[]",
	    "{\"grid\":{}}",
	    "{\"grid_intensity_g_per_kwh\":{\"x\":-1}}",
	    "{\"grid_intensity_g_per_kwh\":{\"x\":\"400\"}}",
	    "{\"grid_intensity_g_per_kwh\":[]}",
	    "{\"hardware\":{\"x\":{\"lifetime_years\":0}}}",
	    "{\"hardware\":{\"x\":{\"embodied_kg\":1,\"colour\":2}}}",
	    "{\"hardware\":{\"x\":5}}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_null(parse(bad[i], FL_EINVAL));
}

Test(carbon, load_reports_the_file)
{
	char path[512];
	FILE *f;
	struct cp_carbon *c = NULL;
	struct fl_err err = {0, ""};

	snprintf(path, sizeof(path), "%s/carbon.json", fl_test_tmpdir());
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("{\"grid_intensity_g_per_kwh\":{\"default\":-5}}", f);
	fclose(f);
	cr_assert_eq(cp_carbon_load(&c, path, 1, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "carbon.json") != NULL, "%s", err.msg);
	f = fopen(path, "w");
	fputs("{\"grid_intensity_g_per_kwh\":{\"default\":100}}", f);
	fclose(f);
	cr_assert_eq(cp_carbon_load(&c, path, 1, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_carbon_intensity(c, NULL), 100);
	cp_carbon_free(c);
}

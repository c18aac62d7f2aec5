/*
 * test_output.c - how a device list prints, as JSON and as a table.
 */
#include "cli.h"
#include "cli_test.h"

static json_t *devices(void)
{
	json_t *d = json_loads(
	    "[{\"id\":\"dev-1\",\"state\":\"accepted\",\"labels\":{\"site\":\"berlin\",\"hw\":"
	    "\"a\"},"
	    "\"last_seen\":1700000000,\"online\":true,\"keyid\":\"k1\"},"
	    "{\"id\":\"gateway-long-name\",\"state\":\"pending\",\"labels\":{},"
	    "\"last_seen\":null,\"online\":false},"
	    "{\"id\":\"dev-3\",\"state\":\"quarantined\",\"labels\":{\"note\":\"a\\u001b[2Jb\"},"
	    "\"online\":false}]",
	    0, NULL);

	cr_assert_not_null(d);
	return d;
}

static char *render(enum cli_format fmt, const json_t *d)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	cr_assert_not_null(f);
	cr_assert(eq(int, cli_out_devices(f, fmt, d), 0));
	fclose(f);
	return text;
}

Test(cli_output, device_list_json_is_the_array_alone)
{
	json_t *d = devices(), *back;
	char *text = render(CLI_FMT_JSON, d);
	json_error_t je;

	back = json_loads(text, 0, &je);
	cr_assert_not_null(back, "%s: %s", je.text, text);
	cr_assert(json_equal(back, d));
	cr_assert(eq(chr, text[strlen(text) - 1], '\n'));
	json_decref(back);
	json_decref(d);
	free(text);
}

Test(cli_output, device_list_table)
{
	json_t *d = devices();
	char *text = render(CLI_FMT_TABLE, d);

	cli_assert_str(
	    text, "ID                 STATE        ONLINE  LAST-SEEN             LABELS\n"
		  "dev-1              accepted     yes     2023-11-14T22:13:20Z  hw=a,site=berlin\n"
		  "gateway-long-name  pending      no      -                     -\n"
		  "dev-3              quarantined  no      -                     note=a?[2Jb\n");
	json_decref(d);
	free(text);
}

Test(cli_output, empty_device_list)
{
	json_t *d = json_array();
	char *text = render(CLI_FMT_TABLE, d), *js = render(CLI_FMT_JSON, d);

	cli_assert_str(text, "ID  STATE  ONLINE  LAST-SEEN  LABELS\n");
	cli_assert_str(js, "[]\n");
	json_decref(d);
	free(text);
	free(js);
}

Test(cli_output, device_show_table)
{
	json_t *d =
	    json_loads("{\"id\":\"dev-1\",\"state\":\"accepted\",\"labels\":{\"a\":\"b\"},"
		       "\"last_seen\":null,\"online\":false,\"inventory\":{\"os\":\"linux\"},"
		       "\"desired\":{\"fw\":\"2\"},\"reported\":{},\"twin_delta\":[\"fw\"],"
		       "\"desired_version\":3}",
		       0, NULL);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	cr_assert(eq(int, cli_out_device(f, CLI_FMT_TABLE, d), 0));
	fclose(f);
	cr_assert(strstr(text, "id:              dev-1\n") != NULL, "%s", text);
	cr_assert(strstr(text, "labels:          a=b\n") != NULL, "%s", text);
	cr_assert(strstr(text, "desired version: 3\n") != NULL, "%s", text);
	cr_assert(strstr(text, "inventory:\n  {\n    \"os\": \"linux\"\n  }\n") != NULL, "%s",
		  text);
	cr_assert(strstr(text, "reported:        -\n") != NULL, "%s", text);
	cr_assert(strstr(text, "twin delta:      fw\n") != NULL, "%s", text);
	json_decref(d);
	free(text);
}

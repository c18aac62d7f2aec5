/* test_load.c - the playbook directory (playbook/load.c) on real files and a
 * real store: what is loaded and skipped, and every refusal names its file
 * and line and leaves the stored set as it was. */
#include <stdio.h>
#include <string.h>

#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fl_test.h"
#include "playbook/load.h"

TestSuite(pb_load, .timeout = 60);

static const char pb_yaml[] = "# a comment\n"
			      "name: %s\n"
			      "version: %d\n"
			      "description: \"%s\"\n"
			      "trigger:\n"
			      "  type: manual\n"
			      "steps:\n"
			      "  - name: s\n"
			      "    action: wait\n"
			      "    params: {for: 1m}\n";

static char dir[600];

static struct cp_store *setup(void)
{
	struct cp_store *s = NULL;
	struct fl_err err = {0, ""};
	const char *tmp = fl_test_tmpdir();
	char path[700];

	snprintf(path, sizeof(path), "%s/fairlead.db", tmp);
	cr_assert_eq(cp_store_open(&s, path, -1, &err), 0, "open: %s", err.msg);
	snprintf(dir, sizeof(dir), "%s/playbooks.d", tmp);
	return s;
}

static void write_file(const char *name, const char *text)
{
	struct fl_err err = {0, ""};
	char path[800];
	FILE *f;

	cr_assert_eq(fl_fs_mkdir_p(dir, 0700, &err), 0, "%s", err.msg);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void write_pb(const char *file, const char *name, int version, const char *desc)
{
	char text[1024];

	snprintf(text, sizeof(text), pb_yaml, name, version, desc);
	write_file(file, text);
}

static void remove_file(const char *name)
{
	char path[800];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_eq(remove(path), 0);
}

/* "name:source:version:enabled" of every stored playbook, as JSON text. */
static char *stored(struct cp_store *s)
{
	struct fl_err err = {0, ""};
	json_t *rows = NULL, *out = json_array(), *r;
	char *txt;
	size_t i;

	cr_assert_eq(cp_store_playbooks_list(&rows, s, &err), 0, "%s", err.msg);
	json_array_foreach (rows, i, r)
		json_array_append_new(
		    out,
		    json_sprintf("%s:%s:%lld:%s", json_string_value(json_object_get(r, "name")),
				 json_string_value(json_object_get(r, "source")),
				 (long long)json_integer_value(json_object_get(r, "version")),
				 json_is_true(json_object_get(r, "enabled")) ? "on" : "off"));
	txt = fl_json_dumps(out);
	json_decref(rows);
	json_decref(out);
	return txt;
}

static void assert_stored(struct cp_store *s, const char *want)
{
	char *got = stored(s);

	cr_assert_str_eq(got, want);
	free(got);
}

Test(pb_load, loads_yaml_and_json_and_skips_the_rest)
{
	struct cp_store *s = setup();
	struct fl_err err = {0, ""};
	json_t *row = NULL;
	size_t n = 99;

	cr_assert_eq(cp_pb_load_dir(&n, s, dir, &err), 0, "a missing directory: %s", err.msg);
	cr_assert_eq(n, 0);
	write_pb("b.yaml", "bee", 1, "b");
	write_pb("a.yml", "ay", 3, "a");
	write_file("c.json", "{\"name\": \"cee\", \"version\": 2, \"trigger\": {\"type\": "
			     "\"manual\"}, \"steps\": [{\"name\": \"s\", \"action\": \"wait\", "
			     "\"params\": {\"for\": \"1m\"}}]}");
	write_file("README.md", "not a playbook");
	write_file(".hidden.yaml", "not: a playbook");
	write_file("d.yaml~", "not: a playbook");
	cr_assert_eq(cp_pb_load_dir(&n, s, dir, &err), 0, "%s", err.msg);
	cr_assert_eq(n, 3);
	assert_stored(s, "[\"ay:file:3:on\",\"bee:file:1:on\",\"cee:file:2:on\"]");
	cr_assert_eq(cp_store_playbook_get(&row, s, "bee", &err), 0, "%s", err.msg);
	/* stored in canonical JSON: defaults filled in, durations in seconds */
	cr_assert_eq(
	    json_integer_value(json_object_get(
		json_object_get(
		    json_array_get(json_object_get(json_object_get(row, "definition"), "steps"), 0),
		    "params"),
		"for_s")),
	    60);
	json_decref(row);
	cp_store_free(s);
}

Test(pb_load, a_bad_file_is_named_with_its_line_and_nothing_changes)
{
	struct cp_store *s = setup();
	struct fl_err err = {0, ""};
	char *before;

	write_pb("a.yaml", "ay", 1, "a");
	cr_assert_eq(cp_pb_load_dir(NULL, s, dir, &err), 0, "%s", err.msg);
	before = stored(s);
	write_pb("b.yaml", "bee", 1, "b");
	write_file("c.yaml", "name: cee\nversion: 1\ntrigger:\n  type: manual\nsteps:\n"
			     "  - name: s\n    action: device.reboot\n");
	cr_assert_eq(cp_pb_load_dir(NULL, s, dir, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "bad playbook file: ") == err.msg, "%s", err.msg);
	cr_assert(strstr(err.msg, "/playbooks.d/c.yaml:7: steps[0].action: unknown action") != NULL,
		  "%s", err.msg);
	assert_stored(s, before);
	remove_file("c.yaml");

	/* two files, one name */
	write_pb("z.yaml", "bee", 1, "b");
	cr_assert_eq(cp_pb_load_dir(NULL, s, dir, &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "z.yaml:2: playbook 'bee' is also defined in b.yaml") != NULL,
		  "%s", err.msg);
	assert_stored(s, before);
	remove_file("z.yaml");

	/* a change without a new version, and an older version */
	write_pb("a.yaml", "ay", 1, "edited");
	cr_assert_eq(cp_pb_load_dir(NULL, s, dir, &err), FL_ECONFLICT);
	cr_assert(strstr(err.msg, "a.yaml:3: playbook 'ay' changed but kept version 1") != NULL,
		  "%s", err.msg);
	assert_stored(s, before);
	write_pb("a.yaml", "ay", 5, "five");
	cr_assert_eq(cp_pb_load_dir(NULL, s, dir, &err), 0, "%s", err.msg);
	write_pb("a.yaml", "ay", 4, "four");
	cr_assert_eq(cp_pb_load_dir(NULL, s, dir, &err), FL_ECONFLICT);
	cr_assert(strstr(err.msg, "a.yaml:3: version 4 of playbook 'ay' is older than the stored "
				  "version 5") != NULL,
		  "%s", err.msg);
	assert_stored(s, "[\"ay:file:5:on\",\"bee:file:1:on\"]");
	free(before);
	cp_store_free(s);
}

Test(pb_load, removed_files_go_and_an_operators_disable_holds)
{
	struct cp_store *s = setup();
	struct cp_audit_rec a = {"token:t (admin)", "playbook.put", "api-one", NULL};
	struct fl_err err = {0, ""};
	json_t *def;
	int changed;

	def = json_pack("{s:s,s:i,s:b,s:{s:s},s:[]}", "name", "api-one", "version", 1, "enabled", 1,
			"trigger", "type", "manual", "steps");
	cr_assert_eq(cp_store_playbook_put(&changed, s, def, "api", 1, &a, &err), 0, "%s", err.msg);
	json_decref(def);
	write_pb("a.yaml", "ay", 1, "a");
	write_pb("b.yaml", "bee", 1, "b");
	cr_assert_eq(cp_pb_load_dir(NULL, s, dir, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_store_playbook_set_enabled(s, "ay", 0, 2, NULL, &err), 0, "%s", err.msg);
	remove_file("b.yaml");
	cr_assert_eq(cp_pb_load_dir(NULL, s, dir, &err), 0, "%s", err.msg);
	assert_stored(s, "[\"api-one:api:1:on\",\"ay:file:1:off\"]");
	/* the whole directory gone: its playbooks too, not the API's */
	remove_file("a.yaml");
	cr_assert_eq(remove(dir), 0);
	cr_assert_eq(cp_pb_load_dir(NULL, s, dir, &err), 0, "%s", err.msg);
	assert_stored(s, "[\"api-one:api:1:on\"]");
	cp_store_free(s);
}

Test(pb_load, key_line_finds_top_level_keys)
{
	static const char yaml[] = "# names: no\nnames: no\n  name: nested\nname : x\nversion: 2\n";
	static const char json[] = "{\n  \"description\": \"version: 9\",\n  \"version\" : 2,\n"
				   "  \"name\": \"x\"}";
	static const char one[] = "{\"name\":\"x\",\"version\":1}";

	cr_assert_eq(cp_pb_key_line(yaml, strlen(yaml), "name"), 4);
	cr_assert_eq(cp_pb_key_line(yaml, strlen(yaml), "version"), 5);
	cr_assert_eq(cp_pb_key_line(yaml, strlen(yaml), "steps"), 1, "absent: line 1");
	cr_assert_eq(cp_pb_key_line(json, strlen(json), "version"), 3);
	cr_assert_eq(cp_pb_key_line(json, strlen(json), "name"), 4);
	cr_assert_eq(cp_pb_key_line(one, strlen(one), "version"), 1);
	cr_assert_eq(cp_pb_key_line("", 0, "name"), 1);
}

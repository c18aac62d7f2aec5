/* test_playbooks_store.c - the stored playbooks (store/playbooks.c): the
 * version rule, the revision every change bumps and nothing else does, the
 * audit entries, enable/disable, delete, and the file-sourced set replaced
 * all or nothing. */
#include <stdio.h>
#include <string.h>

#include "fairlead/json.h"
#include "fl_test.h"
#include "store/store.h"

#define NOW 1700000000LL

TestSuite(pb_store, .timeout = 60);

/* Criterion's cr_assert takes a function call, not jansson's macros. */
static int is_true(const json_t *v)
{
	return json_is_true(v);
}

static int is_false(const json_t *v)
{
	return json_is_false(v);
}

static int is_object(const json_t *v)
{
	return json_is_object(v);
}

static struct cp_store *open_store(void)
{
	struct cp_store *s = NULL;
	struct fl_err err = {0, ""};
	char path[512];

	snprintf(path, sizeof(path), "%s/fairlead.db", fl_test_tmpdir());
	cr_assert_eq(cp_store_open(&s, path, -1, &err), 0, "open: %s", err.msg);
	return s;
}

/* A canonical-looking playbook: the store checks name and version only. */
static json_t *pb(const char *name, int version, const char *desc, int enabled)
{
	json_t *d = json_pack("{s:s,s:i,s:b,s:{s:s},s:[{s:s,s:s}]}", "name", name, "version",
			      version, "enabled", enabled, "trigger", "type", "manual", "steps",
			      "name", "s", "action", "wait");

	cr_assert_not_null(d);
	if (desc)
		json_object_set_new(d, "description", json_string(desc));
	return d;
}

static int64_t rev(struct cp_store *s)
{
	struct fl_err err = {0, ""};
	int64_t r = -1;

	cr_assert_eq(cp_store_playbooks_rev(&r, s, &err), 0, "%s", err.msg);
	return r;
}

static size_t audits(struct cp_store *s, const char *action)
{
	struct fl_err err = {0, ""};
	json_t *rows = NULL, *r;
	size_t i, n = 0;

	cr_assert_eq(cp_store_audit_list(&rows, s, 0, 1000, &err), 0, "%s", err.msg);
	json_array_foreach (rows, i, r)
		n += strcmp(json_string_value(json_object_get(r, "action")), action) == 0;
	json_decref(rows);
	return n;
}

static int put(int *changed, struct cp_store *s, json_t *def, const char *source,
	       struct fl_err *err)
{
	struct cp_audit_rec a = {"token:t (admin)", "playbook.put", NULL, NULL};
	int rc;

	a.target = json_string_value(json_object_get(def, "name"));
	rc = cp_store_playbook_put(changed, s, def, source, NOW, &a, err);
	json_decref(def);
	return rc;
}

static json_t *get(struct cp_store *s, const char *name)
{
	struct fl_err err = {0, ""};
	json_t *row = NULL;

	cr_assert_eq(cp_store_playbook_get(&row, s, name, &err), 0, "%s", err.msg);
	return row;
}

Test(pb_store, put_follows_the_version_rule_and_bumps_the_revision_on_changes)
{
	struct cp_store *s = open_store();
	struct fl_err err = {0, ""};
	json_t *row;
	int changed = -1;

	cr_assert_eq(rev(s), 0);
	cr_assert_eq(put(&changed, s, pb("a", 1, "one", 1), "api", &err), 0, "%s", err.msg);
	cr_assert_eq(changed, 1);
	cr_assert_eq(rev(s), 1);
	cr_assert_eq(audits(s, "playbook.put"), 1);

	/* the same again: nothing written, nothing audited */
	cr_assert_eq(put(&changed, s, pb("a", 1, "one", 1), "api", &err), 0, "%s", err.msg);
	cr_assert_eq(changed, 0);
	cr_assert_eq(rev(s), 1);
	cr_assert_eq(audits(s, "playbook.put"), 1);

	/* another definition at the same version, or an older version */
	cr_assert_eq(put(&changed, s, pb("a", 1, "two", 1), "api", &err), FL_ECONFLICT);
	cr_assert(strstr(err.msg, "'a' version 1 is stored with another definition") != NULL, "%s",
		  err.msg);
	cr_assert_eq(changed, 0);
	cr_assert_eq(put(&changed, s, pb("a", 3, "three", 1), "api", &err), 0, "%s", err.msg);
	cr_assert_eq(changed, 1);
	cr_assert_eq(put(&changed, s, pb("a", 2, "two", 1), "api", &err), FL_ECONFLICT);
	cr_assert(strstr(err.msg, "stored at version 3: version 2 is older") != NULL, "%s",
		  err.msg);
	cr_assert_eq(rev(s), 2);
	cr_assert_eq(audits(s, "playbook.put"), 2, "refusals are not audited");
	row = get(s, "a");
	cr_assert_eq(json_integer_value(json_object_get(row, "version")), 3);
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(row, "definition"), "description")),
	    "three");
	json_decref(row);

	/* enabled is no content: it changes at the same version */
	cr_assert_eq(put(&changed, s, pb("a", 3, "three", 0), "api", &err), 0, "%s", err.msg);
	cr_assert_eq(changed, 1);
	cr_assert_eq(rev(s), 3);
	row = get(s, "a");
	cr_assert(is_false(json_object_get(row, "enabled")));
	json_decref(row);

	/* a definition without enabled is enabled, and says so */
	row = pb("c", 1, NULL, 1);
	json_object_del(row, "enabled");
	cr_assert_eq(put(&changed, s, row, "api", &err), 0, "%s", err.msg);
	row = get(s, "c");
	cr_assert(is_true(json_object_get(row, "enabled")));
	cr_assert(is_true(json_object_get(json_object_get(row, "definition"), "enabled")));
	json_decref(row);
	cr_assert_eq(rev(s), 4);

	/* bad input: nothing is written */
	cr_assert_eq(put(&changed, s, json_pack("{s:i}", "version", 1), "api", &err), FL_EINVAL);
	cr_assert_eq(put(&changed, s, pb("b", 0, NULL, 1), "api", &err), FL_EINVAL);
	cr_assert_eq(put(&changed, s, pb("b", 1, NULL, 1), "git", &err), FL_EINVAL);
	cr_assert_eq(rev(s), 4);
	cp_store_free(s);
}

Test(pb_store, get_and_list_give_parsed_rows_by_name)
{
	struct cp_store *s = open_store();
	struct fl_err err = {0, ""};
	json_t *rows = NULL, *row, *def;
	int changed;

	cr_assert_eq(put(&changed, s, pb("zeta", 2, NULL, 0), "api", &err), 0, "%s", err.msg);
	cr_assert_eq(put(&changed, s, pb("alpha", 1, "first", 1), "file", &err), 0, "%s", err.msg);
	cr_assert_eq(cp_store_playbooks_list(&rows, s, &err), 0, "%s", err.msg);
	cr_assert_eq(json_array_size(rows), 2);
	row = json_array_get(rows, 0);
	cr_assert_str_eq(json_string_value(json_object_get(row, "name")), "alpha");
	cr_assert_str_eq(json_string_value(json_object_get(row, "source")), "file");
	cr_assert(is_true(json_object_get(row, "enabled")));
	cr_assert_eq(json_integer_value(json_object_get(row, "updated_at")), NOW);
	def = json_object_get(row, "definition");
	cr_assert(is_object(def), "definition is a JSON object");
	cr_assert_str_eq(json_string_value(json_object_get(def, "description")), "first");
	cr_assert(is_false(json_object_get(json_array_get(rows, 1), "enabled")));
	json_decref(rows);

	row = get(s, "zeta");
	cr_assert_eq(json_integer_value(json_object_get(row, "version")), 2);
	cr_assert_eq(
	    json_integer_value(json_object_get(json_object_get(row, "definition"), "version")), 2);
	json_decref(row);
	row = NULL;
	cr_assert_eq(cp_store_playbook_get(&row, s, "nope", &err), FL_ENOTFOUND);
	cr_assert_str_eq(err.msg, "no playbook 'nope'");
	cr_assert_null(row);
	cp_store_free(s);
}

Test(pb_store, set_enabled_changes_row_and_definition_at_the_same_version)
{
	struct cp_store *s = open_store();
	struct cp_audit_rec a = {"token:t (admin)", "playbook.disable", "a", NULL};
	struct fl_err err = {0, ""};
	json_t *row;
	int changed;

	cr_assert_eq(put(&changed, s, pb("a", 4, NULL, 1), "api", &err), 0, "%s", err.msg);
	cr_assert_eq(cp_store_playbook_set_enabled(s, "a", 0, NOW + 5, &a, &err), 0, "%s", err.msg);
	cr_assert_eq(rev(s), 2);
	row = get(s, "a");
	cr_assert(is_false(json_object_get(row, "enabled")));
	cr_assert(is_false(json_object_get(json_object_get(row, "definition"), "enabled")));
	cr_assert_eq(json_integer_value(json_object_get(row, "version")), 4);
	cr_assert_eq(json_integer_value(json_object_get(row, "updated_at")), NOW + 5);
	json_decref(row);
	/* already disabled: audited, nothing written */
	cr_assert_eq(cp_store_playbook_set_enabled(s, "a", 0, NOW + 9, &a, &err), 0, "%s", err.msg);
	cr_assert_eq(rev(s), 2);
	cr_assert_eq(audits(s, "playbook.disable"), 2);
	a.action = "playbook.enable";
	cr_assert_eq(cp_store_playbook_set_enabled(s, "a", 1, NOW + 10, &a, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(rev(s), 3);
	row = get(s, "a");
	cr_assert(is_true(json_object_get(json_object_get(row, "definition"), "enabled")));
	json_decref(row);
	cr_assert_eq(cp_store_playbook_set_enabled(s, "nope", 1, NOW, &a, &err), FL_ENOTFOUND);
	cr_assert_eq(audits(s, "playbook.enable"), 1, "a refusal is not audited");
	cr_assert_eq(rev(s), 3);
	cp_store_free(s);
}

Test(pb_store, delete_bumps_the_revision_and_audits)
{
	struct cp_store *s = open_store();
	struct cp_audit_rec a = {"token:t (admin)", "playbook.delete", "a", NULL};
	struct fl_err err = {0, ""};
	json_t *row = NULL;
	int changed;

	cr_assert_eq(put(&changed, s, pb("a", 1, NULL, 1), "api", &err), 0, "%s", err.msg);
	cr_assert_eq(cp_store_playbook_delete(s, "a", NOW, &a, &err), 0, "%s", err.msg);
	cr_assert_eq(rev(s), 2);
	cr_assert_eq(audits(s, "playbook.delete"), 1);
	cr_assert_eq(cp_store_playbook_get(&row, s, "a", &err), FL_ENOTFOUND);
	cr_assert_eq(cp_store_playbook_delete(s, "a", NOW, &a, &err), FL_ENOTFOUND);
	cr_assert_str_eq(err.msg, "no playbook 'a'");
	cr_assert_eq(rev(s), 2);
	cr_assert_eq(audits(s, "playbook.delete"), 1);
	/* deleted, the name may start again at any version */
	cr_assert_eq(put(&changed, s, pb("a", 1, "again", 1), "api", &err), 0, "%s", err.msg);
	cp_store_free(s);
}

static json_t *names(struct cp_store *s)
{
	struct fl_err err = {0, ""};
	json_t *rows = NULL, *out = json_array(), *r;
	size_t i;

	cr_assert_eq(cp_store_playbooks_list(&rows, s, &err), 0, "%s", err.msg);
	json_array_foreach (rows, i, r)
		json_array_append_new(
		    out,
		    json_sprintf("%s:%s:%lld:%s", json_string_value(json_object_get(r, "name")),
				 json_string_value(json_object_get(r, "source")),
				 (long long)json_integer_value(json_object_get(r, "version")),
				 json_is_true(json_object_get(r, "enabled")) ? "on" : "off"));
	json_decref(rows);
	return out;
}

static void assert_names(struct cp_store *s, const char *want)
{
	json_t *got = names(s);
	char *txt = fl_json_dumps(got);

	cr_assert_str_eq(txt, want);
	free(txt);
	json_decref(got);
}

Test(pb_store, replace_files_is_the_whole_file_set_all_or_nothing)
{
	struct cp_store *s = open_store();
	struct fl_err err = {0, ""};
	json_t *defs;
	int changed;
	int64_t r;

	cr_assert_eq(put(&changed, s, pb("api-one", 1, NULL, 1), "api", &err), 0, "%s", err.msg);
	defs = json_pack("[o,o]", pb("f1", 1, NULL, 1), pb("f2", 1, NULL, 1));
	cr_assert_eq(cp_store_playbooks_replace_files(s, defs, NOW, &err), 0, "%s", err.msg);
	json_decref(defs);
	assert_names(s, "[\"api-one:api:1:on\",\"f1:file:1:on\",\"f2:file:1:on\"]");
	r = rev(s);

	/* the same set again changes nothing, and keeps an operator's disable */
	cr_assert_eq(cp_store_playbook_set_enabled(s, "f1", 0, NOW, NULL, &err), 0, "%s", err.msg);
	r = rev(s);
	defs = json_pack("[o,o]", pb("f1", 1, NULL, 1), pb("f2", 1, NULL, 1));
	cr_assert_eq(cp_store_playbooks_replace_files(s, defs, NOW, &err), 0, "%s", err.msg);
	json_decref(defs);
	cr_assert_eq(rev(s), r, "an unchanged set bumps nothing");
	assert_names(s, "[\"api-one:api:1:on\",\"f1:file:1:off\",\"f2:file:1:on\"]");

	/* a conflict anywhere: nothing changes, the others included */
	defs = json_pack("[o,o,o]", pb("f3", 1, NULL, 1), pb("f2", 1, "edited", 1),
			 pb("f1", 2, NULL, 1));
	cr_assert_eq(cp_store_playbooks_replace_files(s, defs, NOW, &err), FL_ECONFLICT);
	cr_assert(strstr(err.msg, "'f2' version 1 is stored with another definition") != NULL, "%s",
		  err.msg);
	json_decref(defs);
	assert_names(s, "[\"api-one:api:1:on\",\"f1:file:1:off\",\"f2:file:1:on\"]");
	cr_assert_eq(rev(s), r);

	/* a new version replaces, with the file's enabled; a missing file is
	 * dropped; a file takes over a name stored through the API */
	defs = json_pack("[o,o]", pb("f1", 2, NULL, 1), pb("api-one", 1, NULL, 1));
	cr_assert_eq(cp_store_playbooks_replace_files(s, defs, NOW, &err), 0, "%s", err.msg);
	json_decref(defs);
	assert_names(s, "[\"api-one:file:1:on\",\"f1:file:2:on\"]");
	cr_assert_eq(rev(s), r + 1, "one bump for the whole set");

	/* no files: every file-sourced playbook goes, the API's stay */
	cr_assert_eq(put(&changed, s, pb("api-two", 1, NULL, 1), "api", &err), 0, "%s", err.msg);
	defs = json_array();
	cr_assert_eq(cp_store_playbooks_replace_files(s, defs, NOW, &err), 0, "%s", err.msg);
	json_decref(defs);
	assert_names(s, "[\"api-two:api:1:on\"]");

	/* bad input */
	defs = json_pack("[o,o]", pb("d", 1, NULL, 1), json_pack("{s:i}", "version", 1));
	cr_assert_eq(cp_store_playbooks_replace_files(s, defs, NOW, &err), FL_EINVAL);
	json_decref(defs);
	defs = json_pack("[o,o]", pb("d", 1, NULL, 1), pb("d", 1, NULL, 1));
	cr_assert_eq(cp_store_playbooks_replace_files(s, defs, NOW, &err), FL_EINVAL);
	json_decref(defs);
	defs = json_object();
	cr_assert_eq(cp_store_playbooks_replace_files(s, defs, NOW, &err), FL_EINVAL);
	json_decref(defs);
	assert_names(s, "[\"api-two:api:1:on\"]");
	cp_store_free(s);
}

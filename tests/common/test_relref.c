/* test_relref.c - the one parser of "NAME@VERSION". */
#include <string.h>

#include "fairlead/relref.h"
#include "fl_test.h"

Test(relref, good_refs)
{
	static const struct {
		const char *ref, *name, *version;
	} cases[] = {
	    {"model@1.0.0", "model", "1.0.0"},
	    {"det_v2.x@1.2.3-rc.1+build.5", "det_v2.x", "1.2.3-rc.1+build.5"},
	    {"a@0.0.0", "a", "0.0.0"},
	    {"A-b.c_d@10.20.30", "A-b.c_d", "10.20.30"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fl_err err = {0, ""};
		struct fl_relref r;

		cr_assert_eq(fl_relref_parse(&r, cases[i].ref, &err), 0, "%s: %s", cases[i].ref,
			     err.msg);
		cr_assert_str_eq(r.name, cases[i].name);
		cr_assert_str_eq(r.version, cases[i].version);
	}
}

Test(relref, bad_refs)
{
	char longname[80], longver[80];
	const char *cases[] = {
	    "",
	    "@",
	    "model",
	    "model@",
	    "@1.0.0",
	    "model@1.0",
	    "model@v1.0.0",
	    "model@1.0.0@2",
	    "mo/del@1.0.0",
	    "../x@1.0.0",
	    ".m@1.0.0",
	    "-m@1.0.0",
	    "m.@1.0.0",
	    "m.lock@1.0.0",
	    "a..b@1.0.0",
	    "m@01.0.0",
	    "m@1.0.0-",
	    "m @1.0.0",
	    "m@1.0.0 ",
	    longname,
	    longver,
	};

	memset(longname, 'n', 65);
	strcpy(longname + 65, "@1.0.0");
	strcpy(longver, "m@1.0.0-");
	memset(longver + 8, 'r', 60);
	longver[68] = '\0';
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fl_err err = {0, ""};
		struct fl_relref r;

		memset(&r, 'x', sizeof(r));
		cr_assert_eq(fl_relref_parse(&r, cases[i], &err), FL_EINVAL, "'%s'", cases[i]);
		cr_assert_eq(err.code, FL_EINVAL);
		cr_assert(strstr(err.msg, "is not NAME@VERSION") != NULL, "%s", err.msg);
		cr_assert_str_eq(r.name, "");
		cr_assert_str_eq(r.version, "");
	}
	cr_assert_eq(fl_relref_parse(&(struct fl_relref){0}, NULL, NULL), FL_EINVAL);
}

Test(relref, limits_are_inclusive)
{
	char ref[200];
	struct fl_relref r;

	/* a 64-byte name and a 64-byte version */
	memset(ref, 'n', 64);
	strcpy(ref + 64, "@1.0.0-");
	memset(ref + 71, 'r', 58);
	ref[129] = '\0';
	cr_assert_eq(strlen(ref + 65), 64);
	cr_assert_eq(fl_relref_parse(&r, ref, NULL), 0);
	cr_assert_eq(strlen(r.name), 64);
	cr_assert_eq(strlen(r.version), 64);
}

Test(relref, name_or_ref)
{
	struct fl_err err = {0, ""};
	struct fl_relref r;

	cr_assert_eq(fl_relref_parse_any(&r, "model", &err), 0, "%s", err.msg);
	cr_assert_str_eq(r.name, "model");
	cr_assert_str_eq(r.version, "");
	cr_assert_eq(fl_relref_parse_any(&r, "model@1.0.0", &err), 0, "%s", err.msg);
	cr_assert_str_eq(r.version, "1.0.0");
	cr_assert_eq(fl_relref_parse_any(&r, "model@", &err), FL_EINVAL);
	cr_assert_eq(fl_relref_parse_any(&r, "", &err), FL_EINVAL);
	cr_assert_eq(fl_relref_parse_any(&r, "a/b", &err), FL_EINVAL);
	cr_assert(strstr(err.msg, "is not NAME or NAME@VERSION") != NULL, "%s", err.msg);
}

Test(relref, release_names)
{
	cr_assert(fl_relref_name_valid("model"));
	cr_assert(fl_relref_name_valid("m.lockx"));
	cr_assert_not(fl_relref_name_valid("m."));
	cr_assert_not(fl_relref_name_valid("m.lock"));
	cr_assert_not(fl_relref_name_valid(""));
	cr_assert_not(fl_relref_name_valid("a@b"));
}

/* test_selector.c - label selectors: what matches, and what does not parse. */
#include <string.h>

#include "fairlead/selector.h"
#include "fl_test.h"

#define L_BERLIN "{\"site\":\"berlin\",\"hw\":\"a\",\"tier\":\"silver\"}"
#define L_PARIS	 "{\"site\":\"paris\",\"hw\":\"c\",\"tier\":\"gold\",\"region\":\"x\"}"
#define L_NONE	 "{}"

static const struct {
	const char *expr, *labels, *state;
	int match;
} match_cases[] = {
    {"", L_BERLIN, "accepted", 1},
    {"", L_NONE, NULL, 1},
    {"   ", L_NONE, "pending", 1},
    {"site=berlin", L_BERLIN, "accepted", 1},
    {"site=berlin", L_PARIS, "accepted", 0},
    {"site=berlin", L_NONE, "accepted", 0},
    {"site==berlin", L_BERLIN, "accepted", 1},
    {"site = berlin", L_BERLIN, "accepted", 1},
    {"site!=berlin", L_BERLIN, "accepted", 0},
    {"site!=berlin", L_PARIS, "accepted", 1},
    {"site!=berlin", L_NONE, "accepted", 1}, /* absent label is not equal */
    {"hw in (a,b)", L_BERLIN, "accepted", 1},
    {"hw in (a,b)", L_PARIS, "accepted", 0},
    {"hw in ( b , a )", L_BERLIN, "accepted", 1},
    {"hw in (a,b)", L_NONE, "accepted", 0},
    {"hw notin (a,b)", L_BERLIN, "accepted", 0},
    {"hw notin (a,b)", L_PARIS, "accepted", 1},
    {"hw notin (a,b)", L_NONE, "accepted", 1},
    {"region", L_PARIS, "accepted", 1},
    {"region", L_BERLIN, "accepted", 0},
    {"!region", L_PARIS, "accepted", 0},
    {"!region", L_BERLIN, "accepted", 1},
    {"site=berlin,hw in (a,b),!decommissioned,tier!=gold,region notin (x)", L_BERLIN, "accepted",
     1},
    {"site=berlin,hw in (a,b),!decommissioned,tier!=gold,region notin (x)", L_BERLIN,
     "decommissioned", 0},
    {"site=berlin,hw in (a,b),!decommissioned,tier!=gold,region notin (x)", L_PARIS, "accepted", 0},
    /* The bare state words are about the device state, not labels. */
    {"!decommissioned", L_NONE, "accepted", 1},
    {"!decommissioned", L_NONE, "pending", 1},
    {"!decommissioned", L_NONE, "decommissioned", 0},
    {"!decommissioned", "{\"decommissioned\":\"yes\"}", "accepted", 1},
    {"decommissioned", L_NONE, "decommissioned", 1},
    {"decommissioned", "{\"decommissioned\":\"yes\"}", "accepted", 0},
    {"pending", L_NONE, "pending", 1},
    {"pending", L_NONE, "accepted", 0},
    {"state=accepted", L_NONE, "accepted", 1},
    {"state=accepted", L_NONE, "pending", 0},
    {"state=accepted", "{\"state\":\"accepted\"}", "pending", 0},
    {"state!=accepted", L_NONE, "quarantined", 1},
    {"state in (accepted,quarantined)", L_NONE, "quarantined", 1},
    {"state in (accepted,quarantined)", L_NONE, "revoked", 0},
    {"state notin (revoked,rejected)", L_NONE, "accepted", 1},
    {"state notin (revoked,rejected)", L_NONE, "rejected", 0},
    {"state=accepted,site=berlin", L_BERLIN, "accepted", 1},
    {"state=accepted,site=berlin", L_BERLIN, "pending", 0},
    {"k8s.io/zone=eu-1", "{\"k8s.io/zone\":\"eu-1\"}", "accepted", 1},
    {"site=", "{\"site\":\"\"}", "accepted", 1},
    {"site=", L_BERLIN, "accepted", 0},
    {"hw=1", "{\"hw\":1}", "accepted", 0}, /* non-string label values never match */
};

Test(selector, match_table)
{
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		struct fl_selector *s = NULL;
		struct fl_err err = {0, ""};
		json_error_t je;
		json_t *labels = json_loads(match_cases[i].labels, 0, &je);

		cr_assert_not_null(labels, "case %zu labels", i);
		cr_assert_eq(fl_selector_parse(&s, match_cases[i].expr, &err), 0, "'%s': %s",
			     match_cases[i].expr, err.msg);
		cr_assert_not_null(s);
		cr_assert_eq(fl_selector_match(s, labels, match_cases[i].state),
			     match_cases[i].match, "'%s' on %s state %s", match_cases[i].expr,
			     match_cases[i].labels,
			     match_cases[i].state ? match_cases[i].state : "-");
		fl_selector_free(s);
		json_decref(labels);
	}
}

static const char *const parse_errors[] = {
    "a in (",	 "a in (b", "a in ()", "a in (b,)",   "a in b",
    "a notin (", "=x",	    "!=x",     "a,",	      "a,,b",
    ",a",	 "a b",	    "a=b c",   "a=b;c=d",     "!",
    "! ",	 "state",   "!state",  "state=bogus", "state in (accepted,bogus)",
    "-a=b",	 ".a=b",    "a=b!",    "a==b==c",     "a=(b)",
};

Test(selector, parse_errors_table)
{
	for (size_t i = 0; i < sizeof(parse_errors) / sizeof(parse_errors[0]); i++) {
		struct fl_selector *s = (struct fl_selector *)1;
		struct fl_err err = {0, ""};

		cr_assert_eq(fl_selector_parse(&s, parse_errors[i], &err), FL_EINVAL, "'%s' parsed",
			     parse_errors[i]);
		cr_assert_null(s);
		cr_assert_eq(err.code, FL_EINVAL);
		cr_assert(strstr(err.msg, "bad selector") != NULL, "%s", err.msg);
	}
}

Test(selector, too_long_expression_rejected)
{
	char expr[2100];
	struct fl_selector *s = NULL;
	struct fl_err err = {0, ""};

	memset(expr, 'a', sizeof(expr) - 1);
	expr[sizeof(expr) - 1] = '\0';
	cr_assert_eq(fl_selector_parse(&s, expr, &err), FL_EINVAL);
	cr_assert_null(s);
	cr_assert(strstr(err.msg, "too long") != NULL, "%s", err.msg);
}

Test(selector, too_long_key_and_value_rejected)
{
	char expr[200];
	struct fl_selector *s = NULL;

	memset(expr, 'k', 64);
	strcpy(expr + 64, "=v");
	cr_assert_eq(fl_selector_parse(&s, expr, NULL), FL_EINVAL);
	strcpy(expr, "k=");
	memset(expr + 2, 'v', 64);
	expr[66] = '\0';
	cr_assert_eq(fl_selector_parse(&s, expr, NULL), FL_EINVAL);
	/* 63 is the longest key. */
	memset(expr, 'k', 63);
	strcpy(expr + 63, "=v");
	cr_assert_eq(fl_selector_parse(&s, expr, NULL), 0);
	fl_selector_free(s);
}

Test(selector, too_many_terms_and_values_rejected)
{
	char expr[1024] = "";
	struct fl_selector *s = NULL;
	size_t n = 0;

	for (int i = 0; i < 33; i++)
		n += (size_t)snprintf(expr + n, sizeof(expr) - n, "%sk%d", i ? "," : "", i);
	cr_assert_eq(fl_selector_parse(&s, expr, NULL), FL_EINVAL);
	n = (size_t)snprintf(expr, sizeof(expr), "k in (");
	for (int i = 0; i < 33; i++)
		n += (size_t)snprintf(expr + n, sizeof(expr) - n, "%sv%d", i ? "," : "", i);
	snprintf(expr + n, sizeof(expr) - n, ")");
	cr_assert_eq(fl_selector_parse(&s, expr, NULL), FL_EINVAL);
}

Test(selector, null_selector_and_null_expression_match_all)
{
	struct fl_selector *s = NULL;
	json_t *labels = json_object();

	cr_assert_eq(fl_selector_match(NULL, labels, "revoked"), 1);
	cr_assert_eq(fl_selector_parse(&s, NULL, NULL), 0);
	cr_assert_eq(fl_selector_match(s, labels, "revoked"), 1);
	fl_selector_free(s);
	json_decref(labels);
}

Test(selector, device_state_valid)
{
	static const char *const good[] = {"pending",	  "accepted", "rejected",
					   "quarantined", "revoked",  "decommissioned"};
	static const char *const bad[] = {"", "Accepted", "accept", "state", "decommission"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert_eq(fl_device_state_valid(good[i]), 1, "%s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(fl_device_state_valid(bad[i]), 0, "%s", bad[i]);
}

/* The labels a selector pins: its equality terms on labels, nothing else. */
Test(selector, labels_are_the_equality_terms)
{
	static const struct {
		const char *expr, *want;
	} cases[] = {
	    {"stage=canary,site==berlin", "{\"stage\":\"canary\",\"site\":\"berlin\"}"},
	    {"stage=canary,tier!=gold,hw in (a,b),x,!y", "{\"stage\":\"canary\"}"},
	    {"state=accepted,accepted,!decommissioned", "{}"},
	    {"", "{}"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fl_selector *s = NULL;
		struct fl_err err = {0, ""};
		json_t *want = json_loads(cases[i].want, 0, NULL), *got;

		cr_assert_eq(fl_selector_parse(&s, cases[i].expr, &err), 0, "%s", err.msg);
		got = fl_selector_labels(s);
		cr_assert(json_equal(got, want), "'%s'", cases[i].expr);
		json_decref(got);
		json_decref(want);
		fl_selector_free(s);
	}
}

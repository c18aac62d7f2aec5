/* test_audit.c - the audit hash: every field counts, fields cannot slide. */
#include <string.h>

#include "fairlead/audit.h"
#include "fl_test.h"

struct entry {
	const char *prev;
	int64_t seq, ts;
	const char *actor, *action, *target, *details;
};

static const struct entry base = {
    FL_AUDIT_GENESIS,	     1, 1700000000, "token:tok_a (admin)", "device.accept", "dev-1",
    "{\"from\":\"pending\"}"};

static void hash_of(char out[65], const struct entry *e)
{
	fl_audit_hash(out, e->prev, e->seq, e->ts, e->actor, e->action, e->target, e->details);
}

Test(audit, hash_is_deterministic_lowercase_hex)
{
	char a[65], b[65];

	hash_of(a, &base);
	hash_of(b, &base);
	cr_assert_str_eq(a, b);
	cr_assert_eq(strlen(a), 64);
	for (int i = 0; i < 64; i++)
		cr_assert(strchr("0123456789abcdef", a[i]) != NULL);
	cr_assert_eq(strlen(FL_AUDIT_GENESIS), 64);
}

Test(audit, any_field_change_changes_the_hash)
{
	struct entry variants[8];
	char h0[65], h[65];

	hash_of(h0, &base);
	for (int i = 0; i < 8; i++)
		variants[i] = base;
	variants[0].prev = "1000000000000000000000000000000000000000000000000000000000000000";
	variants[1].seq = 2;
	variants[2].ts = 1700000001;
	variants[3].actor = "token:tok_b (admin)";
	variants[4].action = "device.reject";
	variants[5].target = "dev-2";
	variants[6].details = "{\"from\":\"accepted\"}";
	variants[7].details = "{}";
	for (int i = 0; i < 8; i++) {
		hash_of(h, &variants[i]);
		cr_assert_str_neq(h, h0, "variant %d hashes like the original", i);
		for (int j = 0; j < i; j++) {
			char hj[65];

			hash_of(hj, &variants[j]);
			cr_assert_str_neq(h, hj, "variants %d and %d collide", i, j);
		}
	}
}

Test(audit, length_prefixing_keeps_fields_apart)
{
	char h1[65], h2[65];

	/* ("ab","c") vs ("a","bc") across actor/action. */
	fl_audit_hash(h1, FL_AUDIT_GENESIS, 1, 5, "ab", "c", "t", "{}");
	fl_audit_hash(h2, FL_AUDIT_GENESIS, 1, 5, "a", "bc", "t", "{}");
	cr_assert_str_neq(h1, h2);
	/* ... across action/target */
	fl_audit_hash(h1, FL_AUDIT_GENESIS, 1, 5, "x", "ab", "c", "{}");
	fl_audit_hash(h2, FL_AUDIT_GENESIS, 1, 5, "x", "a", "bc", "{}");
	cr_assert_str_neq(h1, h2);
	/* ... and between the numbers: seq 11, ts 1 vs seq 1, ts 11. */
	fl_audit_hash(h1, FL_AUDIT_GENESIS, 11, 1, "x", "y", "z", "{}");
	fl_audit_hash(h2, FL_AUDIT_GENESIS, 1, 11, "x", "y", "z", "{}");
	cr_assert_str_neq(h1, h2);
	/* A digit moved into a length prefix: "1:a" style confusion. */
	fl_audit_hash(h1, FL_AUDIT_GENESIS, 1, 5, "2:ab", "", "t", "{}");
	fl_audit_hash(h2, FL_AUDIT_GENESIS, 1, 5, "", "ab", "t", "{}");
	cr_assert_str_neq(h1, h2);
}

Test(audit, null_fields_hash_as_empty_and_details_default)
{
	char h1[65], h2[65];

	fl_audit_hash(h1, FL_AUDIT_GENESIS, 1, 5, NULL, "a", NULL, NULL);
	fl_audit_hash(h2, FL_AUDIT_GENESIS, 1, 5, "", "a", "", "{}");
	cr_assert_str_eq(h1, h2);
}

Test(audit, chain_links)
{
	char h1[65], h2[65], h2b[65];

	fl_audit_hash(h1, FL_AUDIT_GENESIS, 1, 5, "a", "b", "c", "{}");
	fl_audit_hash(h2, h1, 2, 6, "a", "b", "c", "{}");
	fl_audit_hash(h2b, FL_AUDIT_GENESIS, 2, 6, "a", "b", "c", "{}");
	cr_assert_str_neq(h2, h2b);
}

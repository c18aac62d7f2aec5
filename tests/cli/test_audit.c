/*
 * test_audit.c - the CLI's own audit chain verifier on hand-built chains.
 */
#include "cli.h"
#include "fairlead/audit.h"
#include "fairlead/json.h"
#include "cli_test.h"

/* Recomputes e's hash from its fields, as the server does when appending. */
static void rehash(json_t *e)
{
	char hash[65];
	char *details = fl_json_dumps(json_object_get(e, "details"));

	fl_audit_hash(hash, json_string_value(json_object_get(e, "prev_hash")),
		      json_integer_value(json_object_get(e, "seq")),
		      json_integer_value(json_object_get(e, "ts")),
		      json_string_value(json_object_get(e, "actor")),
		      json_string_value(json_object_get(e, "action")),
		      json_string_value(json_object_get(e, "target")), details);
	free(details);
	json_object_set_new(e, "hash", json_string(hash));
}

static json_t *entry(int64_t seq, const char *prev, const char *target)
{
	/* Keys deliberately unsorted: the hash covers the sorted form. */
	json_t *e = json_pack("{sIsIsssssss{sisss[i]}ss}", "seq", (json_int_t)seq, "ts",
			      (json_int_t)(1700000000 + seq), "actor", "tok-admin", "action",
			      "device.accept", "target", target, "details", "zeta", 1, "alpha", "x",
			      "mid", 2, "prev_hash", prev);

	cr_assert_not_null(e);
	rehash(e);
	return e;
}

static const char *hash_of(const json_t *entries, size_t i)
{
	return json_string_value(json_object_get(json_array_get(entries, i), "hash"));
}

/* A valid chain of n entries. */
static json_t *chain(size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		char target[32];

		snprintf(target, sizeof(target), "dev-%zu", i + 1);
		json_array_append_new(
		    a, entry((int64_t)i + 1, i ? hash_of(a, i - 1) : FL_AUDIT_GENESIS, target));
	}
	return a;
}

static json_t *head_of(const json_t *entries)
{
	size_t n = json_array_size(entries);

	return json_pack("{sIss}", "seq", (json_int_t)n, "hash",
			 n ? hash_of(entries, n - 1) : FL_AUDIT_GENESIS);
}

/* Verifies entries against head, then frees both. */
static struct cli_audit_verdict check(json_t *entries, json_t *head)
{
	struct cli_audit_verdict v;
	struct fl_err err;

	cr_assert(eq(int, cli_audit_verify_chain(&v, entries, head, &err), 0), "%s", err.msg);
	json_decref(entries);
	json_decref(head);
	return v;
}

static void assert_broken(const struct cli_audit_verdict *v, int64_t seq, const char *reason)
{
	cr_assert(eq(int, v->intact, 0));
	cr_assert(eq(i64, v->bad_seq, seq), "%s: %s", v->reason, v->detail);
	cli_assert_str(v->reason, reason);
}

Test(cli_audit, intact_chain)
{
	json_t *c = chain(6);
	struct cli_audit_verdict v = check(c, head_of(c));

	cr_assert(eq(int, v.intact, 1), "%s: %s", v.reason, v.detail);
	cr_assert(eq(i64, v.entries, 6));
}

Test(cli_audit, empty_log)
{
	json_t *c = chain(0);
	struct cli_audit_verdict v = check(c, json_pack("{sisn}", "seq", 0, "hash"));

	cr_assert(eq(int, v.intact, 1));
	cr_assert(eq(i64, v.entries, 0));
}

Test(cli_audit, modified_field)
{
	json_t *c = chain(6), *h = head_of(c);

	json_object_set_new(json_array_get(c, 2), "actor", json_string("someone-else"));
	struct cli_audit_verdict v = check(c, h);
	assert_broken(&v, 3, "modified");
}

Test(cli_audit, modified_details)
{
	json_t *c = chain(4), *h = head_of(c);

	json_object_set_new(json_object_get(json_array_get(c, 1), "details"), "zeta",
			    json_integer(2));
	struct cli_audit_verdict v = check(c, h);
	assert_broken(&v, 2, "modified");
}

Test(cli_audit, modified_and_rehashed)
{
	/* The attacker recomputed the changed entry's own hash: the next
	 * entry's prev_hash still names the original. */
	json_t *c = chain(6), *h = head_of(c), *e = json_array_get(c, 2);

	json_object_set_new(e, "target", json_string("evil"));
	rehash(e);
	struct cli_audit_verdict v = check(c, h);
	assert_broken(&v, 3, "modified");
}

Test(cli_audit, inserted_entry)
{
	/* A forged entry with a valid hash, chained to seq 2, slipped in
	 * before the real seq 3. */
	json_t *c = chain(5), *h = head_of(c);

	json_array_insert_new(c, 2, entry(3, hash_of(c, 1), "forged"));
	struct cli_audit_verdict v = check(c, h);
	assert_broken(&v, 3, "inserted");
}

Test(cli_audit, inserted_and_renumbered)
{
	/* The forger renumbered and rehashed every later entry too, but could
	 * not change what their prev_hash pointed at without rewriting all. */
	json_t *c = chain(5), *h = head_of(c);

	json_array_insert_new(c, 2, entry(3, hash_of(c, 1), "forged"));
	for (size_t i = 3; i < json_array_size(c); i++) {
		json_t *e = json_array_get(c, i);

		json_object_set_new(e, "seq", json_integer((json_int_t)i + 1));
		rehash(e);
	}
	struct cli_audit_verdict v = check(c, h);
	assert_broken(&v, 3, "inserted");
}

Test(cli_audit, deleted_middle_entry)
{
	json_t *c = chain(6), *h = head_of(c);

	json_array_remove(c, 2);
	struct cli_audit_verdict v = check(c, h);
	assert_broken(&v, 3, "deleted");
}

Test(cli_audit, deleted_tail_caught_by_head)
{
	json_t *c = chain(6), *h = head_of(c);

	json_array_remove(c, 5);
	json_array_remove(c, 4);
	struct cli_audit_verdict v = check(c, h);
	assert_broken(&v, 5, "deleted");
	cr_assert(eq(i64, v.entries, 4));
}

Test(cli_audit, everything_deleted)
{
	json_t *c = chain(3), *h = head_of(c);

	json_array_clear(c);
	struct cli_audit_verdict v = check(c, h);
	assert_broken(&v, 1, "deleted");
}

Test(cli_audit, head_hash_differs)
{
	/* The whole chain was rewritten from seq 4 on, consistently, but the
	 * head (kept elsewhere) still has the original hash. */
	json_t *c = chain(5), *h = head_of(c);

	for (size_t i = 3; i < 5; i++) {
		json_t *e = json_array_get(c, i);

		json_object_set_new(e, "target", json_string("rewritten"));
		json_object_set_new(e, "prev_hash", json_string(hash_of(c, i - 1)));
		rehash(e);
	}
	struct cli_audit_verdict v = check(c, h);
	assert_broken(&v, 5, "modified");
}

Test(cli_audit, reordered_pair)
{
	json_t *c = chain(5), *h = head_of(c), *third = json_incref(json_array_get(c, 2));

	json_array_remove(c, 2);
	json_array_insert_new(c, 3, third); /* order now 1 2 4 3 5 */
	struct cli_audit_verdict v = check(c, h);
	assert_broken(&v, 3, "reordered");
}

Test(cli_audit, swapped_contents_keep_seq)
{
	/* The rows kept their seq but swapped everything else. */
	json_t *c = chain(5), *h = head_of(c);
	json_t *a = json_array_get(c, 2), *b = json_array_get(c, 3);

	json_object_set_new(a, "seq", json_integer(4));
	json_object_set_new(b, "seq", json_integer(3));
	json_incref(a);
	json_array_remove(c, 2);
	json_array_insert_new(c, 3, a);
	struct cli_audit_verdict v = check(c, h);
	assert_broken(&v, 3, "modified");
}

Test(cli_audit, first_entry_must_start_from_genesis)
{
	json_t *c = chain(3), *h = head_of(c), *e = json_array_get(c, 0);

	json_object_set_new(e, "prev_hash", json_string(hash_of(c, 2)));
	rehash(e);
	struct cli_audit_verdict v = check(c, h);
	assert_broken(&v, 1, "modified");
}

Test(cli_audit, malformed_entry)
{
	json_t *c = chain(3), *h = head_of(c);

	json_object_del(json_array_get(c, 1), "hash");
	struct cli_audit_verdict v = check(c, h);
	assert_broken(&v, 2, "malformed");
}

Test(cli_audit, rejects_bad_input)
{
	struct cli_audit_verdict v;
	json_t *obj = json_object(), *arr = json_array();

	cr_assert(eq(int, cli_audit_verify_chain(&v, obj, obj, NULL), FL_EINVAL));
	cr_assert(eq(int, cli_audit_verify_chain(&v, arr, arr, NULL), FL_EINVAL));
	json_decref(obj);
	json_decref(arr);
}

/* test_map.c - the open-addressing string map at scale. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/map.h"
#include "fl_test.h"

#define N 100000

static void key_of(char *out, size_t cap, size_t i)
{
	snprintf(out, cap, "device-%zu", i);
}

Test(map, empty_map)
{
	struct fl_map m;
	size_t it = 0;
	const char *k;
	void *v;

	fl_map_init(&m);
	cr_assert_null(fl_map_get(&m, "x"));
	cr_assert_null(fl_map_del(&m, "x"));
	cr_assert_eq(fl_map_len(&m), 0);
	cr_assert_eq(fl_map_next(&m, &it, &k, &v), 0);
	fl_map_release(&m);
}

Test(map, put_replaces_and_reports_old)
{
	struct fl_map m;
	int a = 1, b = 2;
	void *old = (void *)1;

	fl_map_init(&m);
	cr_assert_eq(fl_map_put(&m, "k", &a, &old), 0);
	cr_assert_null(old);
	cr_assert_eq(fl_map_put(&m, "k", &b, &old), 0);
	cr_assert_eq(old, &a);
	cr_assert_eq(fl_map_get(&m, "k"), &b);
	cr_assert_eq(fl_map_len(&m), 1);
	/* The map copies keys. */
	{
		char key[8] = "tmp";

		cr_assert_eq(fl_map_put(&m, key, &a, NULL), 0);
		strcpy(key, "xxx");
		cr_assert_eq(fl_map_get(&m, "tmp"), &a);
		cr_assert_null(fl_map_get(&m, "xxx"));
	}
	cr_assert_eq(fl_map_put(&m, "", &b, NULL), 0);
	cr_assert_eq(fl_map_get(&m, ""), &b);
	fl_map_release(&m);
}

Test(map, hundred_thousand_keys_insert_get_delete)
{
	struct fl_map m;
	char key[32];
	size_t count = 0, sum = 0;
	const char *k;
	void *v;

	fl_map_init(&m);
	for (size_t i = 0; i < N; i++) {
		key_of(key, sizeof(key), i);
		cr_assert_eq(fl_map_put(&m, key, (void *)(uintptr_t)(i + 1), NULL), 0);
	}
	cr_assert_eq(fl_map_len(&m), N);
	cr_assert_lt(m.used * 10, m.cap * 7, "load over 70%%");
	for (size_t i = 0; i < N; i++) {
		key_of(key, sizeof(key), i);
		cr_assert_eq((uintptr_t)fl_map_get(&m, key), i + 1, "%s", key);
	}
	cr_assert_null(fl_map_get(&m, "device-100000"));
	cr_assert_null(fl_map_get(&m, "device-"));

	/* Iteration visits every entry exactly once. */
	for (size_t it = 0; fl_map_next(&m, &it, &k, &v);) {
		count++;
		sum += (uintptr_t)v;
	}
	cr_assert_eq(count, N);
	cr_assert_eq(sum, (size_t)N * (N + 1) / 2);

	/* Delete the even ones. */
	for (size_t i = 0; i < N; i += 2) {
		key_of(key, sizeof(key), i);
		cr_assert_eq((uintptr_t)fl_map_del(&m, key), i + 1);
		cr_assert_null(fl_map_del(&m, key), "double delete of %s", key);
	}
	cr_assert_eq(fl_map_len(&m), N / 2);
	for (size_t i = 0; i < N; i++) {
		key_of(key, sizeof(key), i);
		if (i % 2)
			cr_assert_eq((uintptr_t)fl_map_get(&m, key), i + 1, "%s", key);
		else
			cr_assert_null(fl_map_get(&m, key), "%s", key);
	}
	count = 0;
	for (size_t it = 0; fl_map_next(&m, &it, &k, &v);) {
		cr_assert_eq((uintptr_t)v % 2, 0, "deleted key %s iterated", k);
		count++;
	}
	cr_assert_eq(count, N / 2);
	fl_map_release(&m);
	cr_assert_eq(fl_map_len(&m), 0);
	cr_assert_null(m.slots);
}

Test(map, delete_during_iteration)
{
	struct fl_map m;
	char key[32];
	const char *k;
	void *v;

	fl_map_init(&m);
	for (size_t i = 0; i < 1000; i++) {
		key_of(key, sizeof(key), i);
		cr_assert_eq(fl_map_put(&m, key, (void *)(uintptr_t)(i + 1), NULL), 0);
	}
	for (size_t it = 0; fl_map_next(&m, &it, &k, &v);)
		if ((uintptr_t)v % 3 == 0)
			cr_assert_eq(fl_map_del(&m, k), v);
	cr_assert_eq(fl_map_len(&m), 1000 - 333);
	for (size_t i = 0; i < 1000; i++) {
		key_of(key, sizeof(key), i);
		cr_assert_eq(fl_map_get(&m, key) != NULL, (i + 1) % 3 != 0);
	}
	fl_map_release(&m);
}

Test(map, tombstones_are_reused_and_do_not_grow_the_table)
{
	struct fl_map m;
	char key[32];
	size_t cap;

	fl_map_init(&m);
	for (size_t i = 0; i < 100; i++) {
		key_of(key, sizeof(key), i);
		cr_assert_eq(fl_map_put(&m, key, (void *)(uintptr_t)1, NULL), 0);
	}
	cap = m.cap;
	/* Churn: a steady population of 100 keys under many distinct names. With
	 * tombstones swept on rehash the table must stay the same size. */
	for (size_t i = 100; i < 100000; i++) {
		key_of(key, sizeof(key), i - 100);
		cr_assert_not_null(fl_map_del(&m, key));
		key_of(key, sizeof(key), i);
		cr_assert_eq(fl_map_put(&m, key, (void *)(uintptr_t)1, NULL), 0);
		cr_assert_eq(fl_map_len(&m), 100);
	}
	cr_assert_eq(m.cap, cap, "cap grew from %zu to %zu under churn", cap, m.cap);
	cr_assert_lt(m.used * 10, m.cap * 7);
	for (size_t i = 100000 - 100; i < 100000; i++) {
		key_of(key, sizeof(key), i);
		cr_assert_not_null(fl_map_get(&m, key));
	}

	fl_map_release(&m);
}

Test(map, reinserting_a_deleted_key_fills_its_tombstone)
{
	struct fl_map m;
	char key[32];

	fl_map_init(&m);
	for (size_t i = 0; i < 8; i++) {
		key_of(key, sizeof(key), i);
		cr_assert_eq(fl_map_put(&m, key, (void *)(uintptr_t)1, NULL), 0);
	}
	cr_assert_eq(m.cap, 16);
	cr_assert_eq(m.used, 8);
	cr_assert_not_null(fl_map_del(&m, "device-3"));
	cr_assert_eq(m.len, 7);
	cr_assert_eq(m.used, 8, "a delete leaves a tombstone");
	cr_assert_eq(fl_map_put(&m, "device-3", (void *)(uintptr_t)2, NULL), 0);
	cr_assert_eq(m.len, 8);
	cr_assert_eq(m.used, 8, "the tombstone was not reused");
	cr_assert_eq((uintptr_t)fl_map_get(&m, "device-3"), 2);
	fl_map_release(&m);
}

Test(map, hash_is_stable_and_spreads)
{
	cr_assert_eq(fl_hash_str("abc"), fl_hash_str("abc"));
	cr_assert_neq(fl_hash_str("abc"), fl_hash_str("abd"));
	cr_assert_neq(fl_hash_str(""), fl_hash_str("a"));
}

/*
 * test_labels.c - K=V and K- words as the CLI sends them.
 */
#include "cli.h"
#include "cli_test.h"

Test(cli_labels, set_and_remove)
{
	const char *words[] = {"site=berlin", "tier-", "empty=", "site=paris"};
	struct cli_ctx ctx = {0};
	struct fl_err err;
	json_t *labels;

	cr_assert(eq(int, cli_labels_parse(&labels, &ctx, words, 4, 1, &err), 0));
	cr_assert(eq(sz, json_object_size(labels), 3));
	/* The later value of a repeated key wins. */
	cli_assert_str(json_string_value(json_object_get(labels, "site")), "paris");
	cr_assert(eq(int, json_is_null(json_object_get(labels, "tier")), 1));
	cli_assert_str(json_string_value(json_object_get(labels, "empty")), "");
	cr_assert(eq(int, ctx.usage, 0));
	json_decref(labels);
}

Test(cli_labels, key_with_dashes_removed)
{
	const char *words[] = {"hw-model-"};
	struct cli_ctx ctx = {0};
	json_t *labels;

	cr_assert(eq(int, cli_labels_parse(&labels, &ctx, words, 1, 1, NULL), 0));
	cr_assert(eq(int, json_is_null(json_object_get(labels, "hw-model")), 1));
	json_decref(labels);
}

Test(cli_labels, removal_not_allowed_for_create)
{
	const char *words[] = {"tier-"};
	struct cli_ctx ctx = {0};
	struct fl_err err;
	json_t *labels = (json_t *)1;

	cr_assert(eq(int, cli_labels_parse(&labels, &ctx, words, 1, 0, &err), FL_EINVAL));
	cr_assert_null(labels);
	cr_assert(eq(int, ctx.usage, 1));
	cr_assert(strstr(err.msg, "KEY=VALUE") != NULL);
}

Test(cli_labels, rejects_bad_labels)
{
	const char *bad[] = {"=v", "k=a b", "-", "k=v=w", "bad key=v", "/x=1", "!-"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cli_ctx ctx = {0};
		struct fl_err err;
		json_t *labels;

		cr_assert(eq(int, cli_labels_parse(&labels, &ctx, &bad[i], 1, 1, &err), FL_EINVAL),
			  "'%s'", bad[i]);
		cr_assert(eq(int, ctx.usage, 1));
	}
}

/* test_replay.c - the replay cache across a restart: the start-second rule,
 * and future-dated nonces kept in the store and loaded again. */
#include <stdio.h>

#include "core/replay.h"
#include "fl_test.h"

#define NOW 1700000000LL

Test(replay, start_second_is_refused)
{
	cr_assert_eq(cp_replay_before_start(NOW - 5, NOW), 1);
	cr_assert_eq(cp_replay_before_start(NOW, NOW), 1, "signed in the start second");
	cr_assert_eq(cp_replay_before_start(NOW + 1, NOW), 0);
}

Test(replay, future_nonces_survive_a_restart)
{
	struct cp_expset *a = NULL, *b = NULL;
	struct cp_store *s = NULL;
	struct fl_err err = {0, ""};
	char path[512];

	snprintf(path, sizeof(path), "%s/fairlead.db", fl_test_tmpdir());
	cr_assert_eq(cp_store_open(&s, path, -1, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_expset_new(&a, NULL), 0);
	/* Dated 55 s ahead, and one dated now. */
	cr_assert_eq(cp_replay_claim(a, s, "k1", "n-future", NOW + 55, NOW + 176, NOW, &err), 0,
		     "%s", err.msg);
	cr_assert_eq(cp_replay_claim(a, s, "k1", "n-now", NOW, NOW + 121, NOW, &err), 0);
	cr_assert_eq(cp_replay_claim(a, s, "k1", "n-future", NOW + 55, NOW + 176, NOW, &err),
		     FL_EEXISTS);
	/* One that expired before the restart is pruned, not loaded. */
	cr_assert_eq(cp_replay_claim(a, s, "k2", "n-old", NOW + 10, NOW + 20, NOW, &err), 0);

	/* The restart: a fresh memory cache loaded from the store. */
	cr_assert_eq(cp_expset_new(&b, NULL), 0);
	cr_assert_eq(cp_replay_load(b, s, NOW + 30, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_expset_count(b), 1, "only the unexpired future-dated nonce");
	cr_assert_eq(cp_replay_claim(b, s, "k1", "n-future", NOW + 55, NOW + 176, NOW + 30, &err),
		     FL_EEXISTS, "replayed after the restart");
	cp_expset_free(a);
	cp_expset_free(b);
	cp_store_free(s);
}

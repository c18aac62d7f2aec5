/* test_ratelimit.c - token buckets with an injected clock. */
#include <stdio.h>

#include "core/ratelimit.h"
#include "fl_test.h"

#define T0 1000000LL

Test(ratelimit, burst_then_limited_with_retry_after)
{
	struct cp_ratelimit *rl = NULL;
	int64_t wait = -1;

	cr_assert_eq(cp_ratelimit_new(&rl, 2, 5, NULL), 0);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(cp_ratelimit_take(rl, "t:a", T0, &wait), 0, "request %d", i);
		cr_assert_eq(wait, 0);
	}
	cr_assert_eq(cp_ratelimit_take(rl, "t:a", T0, &wait), FL_EAGAIN);
	cr_assert_geq(wait, 1);
	cr_assert_eq(wait, 1); /* one token at 2/s: half a second, rounded up */
	/* Another identity has its own bucket. */
	cr_assert_eq(cp_ratelimit_take(rl, "t:b", T0, &wait), 0);
	cp_ratelimit_free(rl);
}

Test(ratelimit, retry_after_rounds_up_for_slow_rates)
{
	struct cp_ratelimit *rl = NULL;
	int64_t wait = 0;

	cr_assert_eq(cp_ratelimit_new(&rl, 0.1, 1, NULL), 0);
	cr_assert_eq(cp_ratelimit_take(rl, "x", T0, &wait), 0);
	cr_assert_eq(cp_ratelimit_take(rl, "x", T0, &wait), FL_EAGAIN);
	cr_assert_eq(wait, 10);
	cr_assert_eq(cp_ratelimit_take(rl, "x", T0 + 4000, &wait), FL_EAGAIN);
	cr_assert_eq(wait, 6);
	cr_assert_eq(cp_ratelimit_take(rl, "x", T0 + 10000, &wait), 0);
	cp_ratelimit_free(rl);
}

Test(ratelimit, refills_over_time_up_to_burst)
{
	struct cp_ratelimit *rl = NULL;
	int64_t wait = 0;
	int ok = 0;

	cr_assert_eq(cp_ratelimit_new(&rl, 10, 3, NULL), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(cp_ratelimit_take(rl, "d:k", T0, &wait), 0);
	cr_assert_eq(cp_ratelimit_take(rl, "d:k", T0, &wait), FL_EAGAIN);
	/* 10/s: one token per 100 ms. */
	cr_assert_eq(cp_ratelimit_take(rl, "d:k", T0 + 99, &wait), FL_EAGAIN);
	cr_assert_eq(cp_ratelimit_take(rl, "d:k", T0 + 100, &wait), 0);
	cr_assert_eq(cp_ratelimit_take(rl, "d:k", T0 + 100, &wait), FL_EAGAIN);
	/* A long idle period refills only up to the burst. */
	for (int i = 0; i < 10; i++)
		ok += cp_ratelimit_take(rl, "d:k", T0 + 3600000, &wait) == 0;
	cr_assert_eq(ok, 3);
	/* Sustained rate: one request per 100 ms always passes. */
	for (int i = 1; i <= 50; i++)
		cr_assert_eq(cp_ratelimit_take(rl, "d:k", T0 + 3600000 + 100 * i, &wait), 0,
			     "step %d", i);
	cp_ratelimit_free(rl);
}

Test(ratelimit, zero_or_negative_rate_disables)
{
	struct cp_ratelimit *rl = NULL;
	int64_t wait = -1;

	cr_assert_eq(cp_ratelimit_new(&rl, 0, 1, NULL), 0);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(cp_ratelimit_take(rl, "a:1.2.3.4", T0, &wait), 0);
	cr_assert_eq(wait, 0);
	cp_ratelimit_free(rl);
	cr_assert_eq(cp_ratelimit_new(&rl, -5, 1, NULL), 0);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(cp_ratelimit_take(rl, "a:1.2.3.4", T0, &wait), 0);
	cp_ratelimit_free(rl);
}

Test(ratelimit, many_identities_are_bounded_and_still_limited)
{
	struct cp_ratelimit *rl = NULL;
	int64_t wait = 0;
	char id[32];

	cr_assert_eq(cp_ratelimit_new(&rl, 1, 1, NULL), 0);
	for (int i = 0; i < 20000; i++) {
		snprintf(id, sizeof(id), "a:%d", i);
		cr_assert_eq(cp_ratelimit_take(rl, id, T0 + i * 10, &wait), 0);
	}
	/* A recently active identity is still limited after sweeps. */
	cr_assert_eq(cp_ratelimit_take(rl, "a:19999", T0 + 19999 * 10, &wait), FL_EAGAIN);
	cp_ratelimit_free(rl);
}

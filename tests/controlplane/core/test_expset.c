/* test_expset.c - the expiring set: single winner of a claim race, expiry,
 * take-once semantics. */
#include <pthread.h>
#include <stdio.h>

#include "core/expset.h"
#include "fl_test.h"

#define NOW 1700000000LL

Test(expset, claim_then_replay_then_expiry)
{
	struct cp_expset *s = NULL;

	cr_assert_eq(cp_expset_new(&s, NULL), 0);
	cr_assert_eq(cp_expset_claim(s, "k1 nonce", NOW + 60, NOW), 0);
	cr_assert_eq(cp_expset_claim(s, "k1 nonce", NOW + 60, NOW), FL_EEXISTS);
	cr_assert_eq(cp_expset_claim(s, "k1 nonce", NOW + 999, NOW + 59), FL_EEXISTS);
	cr_assert_eq(cp_expset_has(s, "k1 nonce", NOW + 59), 1);
	/* Expired at exactly its expiry time: may be claimed again. */
	cr_assert_eq(cp_expset_has(s, "k1 nonce", NOW + 60), 0);
	cr_assert_eq(cp_expset_claim(s, "k1 nonce", NOW + 120, NOW + 60), 0);
	cr_assert_eq(cp_expset_has(s, "k1 nonce", NOW + 119), 1);
	cr_assert_eq(cp_expset_count(s), 1);
	cr_assert_eq(cp_expset_has(s, "other", NOW), 0);
	cp_expset_free(s);
}

Test(expset, take_is_once_and_respects_expiry)
{
	struct cp_expset *s = NULL;

	cr_assert_eq(cp_expset_new(&s, NULL), 0);
	cr_assert_eq(cp_expset_take(s, "missing", NOW), FL_EGONE);
	cr_assert_eq(cp_expset_claim(s, "ch-1", NOW + 120, NOW), 0);
	cr_assert_eq(cp_expset_take(s, "ch-1", NOW + 119), 0);
	cr_assert_eq(cp_expset_take(s, "ch-1", NOW + 119), FL_EGONE);
	cr_assert_eq(cp_expset_count(s), 0);
	cr_assert_eq(cp_expset_claim(s, "ch-2", NOW + 120, NOW), 0);
	cr_assert_eq(cp_expset_take(s, "ch-2", NOW + 120), FL_EGONE);
	/* An expired take still removes the member. */
	cr_assert_eq(cp_expset_count(s), 0);
	cp_expset_free(s);
}

Test(expset, expired_members_are_swept)
{
	struct cp_expset *s = NULL;
	char key[32];

	cr_assert_eq(cp_expset_new(&s, NULL), 0);
	for (int i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "n-%d", i);
		/* Each lives one second; time moves one second per 1000 claims. */
		cr_assert_eq(cp_expset_claim(s, key, NOW + i / 1000 + 1, NOW + i / 1000), 0);
	}
	/* Without sweeping all 100000 would still be held. */
	cr_assert_lt(cp_expset_count(s), 100000 / 2, "count %zu", cp_expset_count(s));
	cp_expset_free(s);
}

#define RACERS 50

struct racer {
	struct cp_expset *s;
	pthread_barrier_t *go;
	int rc;
};

static void *claim_one(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	r->rc = cp_expset_claim(r->s, "keyid the-one-nonce", NOW + 60, NOW);
	return NULL;
}

Test(expset, claim_race_has_exactly_one_winner)
{
	for (int round = 0; round < 20; round++) {
		struct cp_expset *s = NULL;
		struct racer r[RACERS];
		pthread_t th[RACERS];
		pthread_barrier_t go;
		int wins = 0, replays = 0;

		cr_assert_eq(cp_expset_new(&s, NULL), 0);
		pthread_barrier_init(&go, NULL, RACERS);
		for (int i = 0; i < RACERS; i++) {
			r[i].s = s;
			r[i].go = &go;
			r[i].rc = 1;
			cr_assert_eq(pthread_create(&th[i], NULL, claim_one, &r[i]), 0);
		}
		for (int i = 0; i < RACERS; i++) {
			pthread_join(th[i], NULL);
			wins += r[i].rc == 0;
			replays += r[i].rc == FL_EEXISTS;
		}
		cr_assert_eq(wins, 1, "round %d: %d winners", round, wins);
		cr_assert_eq(replays, RACERS - 1);
		pthread_barrier_destroy(&go);
		cp_expset_free(s);
	}
}

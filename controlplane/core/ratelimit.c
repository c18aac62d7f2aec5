#include "ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "fairlead/map.h"

struct bucket {
	double tokens;
	int64_t at_ms;
};

struct cp_ratelimit {
	pthread_mutex_t lock;
	double rate, burst;
	struct fl_map buckets; /* identity -> struct bucket * */
	size_t sweep_at;
};

int cp_ratelimit_new(struct cp_ratelimit **out, double rate, double burst, struct fl_err *err)
{
	struct cp_ratelimit *rl = calloc(1, sizeof(*rl));

	*out = NULL;
	if (!rl)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	pthread_mutex_init(&rl->lock, NULL);
	rl->rate = rate;
	rl->burst = burst < 1 ? 1 : burst;
	fl_map_init(&rl->buckets);
	rl->sweep_at = 4096;
	*out = rl;
	return 0;
}

void cp_ratelimit_free(struct cp_ratelimit *rl)
{
	const char *k;
	void *v;

	if (!rl)
		return;
	for (size_t i = 0; fl_map_next(&rl->buckets, &i, &k, &v);)
		free(v);
	fl_map_release(&rl->buckets);
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

/* A bucket that has refilled completely carries no state worth keeping. */
static void sweep(struct cp_ratelimit *rl, int64_t now_ms)
{
	const char *k;
	void *v;

	for (size_t i = 0; fl_map_next(&rl->buckets, &i, &k, &v);) {
		struct bucket *b = v;

		if (b->tokens + (double)(now_ms - b->at_ms) / 1000.0 * rl->rate >= rl->burst) {
			fl_map_del(&rl->buckets, k);
			free(b);
		}
	}
	rl->sweep_at = fl_map_len(&rl->buckets) * 2 + 4096;
}

int cp_ratelimit_take(struct cp_ratelimit *rl, const char *identity, int64_t now_ms,
		      int64_t *retry_after)
{
	struct bucket *b;
	int rc = 0;

	*retry_after = 0;
	if (rl->rate <= 0)
		return 0;
	pthread_mutex_lock(&rl->lock);
	b = fl_map_get(&rl->buckets, identity);
	if (!b) {
		if (fl_map_len(&rl->buckets) >= rl->sweep_at)
			sweep(rl, now_ms);
		b = malloc(sizeof(*b));
		if (!b || fl_map_put(&rl->buckets, identity, b, NULL) < 0) {
			free(b);
			pthread_mutex_unlock(&rl->lock);
			return 0; /* fail open: a rate limiter must not take the server down */
		}
		b->tokens = rl->burst;
		b->at_ms = now_ms;
	}
	b->tokens += (double)(now_ms - b->at_ms) / 1000.0 * rl->rate;
	if (b->tokens > rl->burst)
		b->tokens = rl->burst;
	b->at_ms = now_ms;
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
	} else {
		*retry_after = (int64_t)ceil((1.0 - b->tokens) / rl->rate);
		if (*retry_after < 1)
			*retry_after = 1;
		rc = FL_EAGAIN;
	}
	pthread_mutex_unlock(&rl->lock);
	return rc;
}

#include "expset.h"

#include <pthread.h>
#include <stdlib.h>

#include "fairlead/map.h"

#define SHARDS 64

struct shard {
	pthread_mutex_t lock;
	struct fl_map map; /* key -> expiry, stored in the pointer */
	size_t sweep_at;   /* sweep when the map grows past this */
};

struct cp_expset {
	struct shard shards[SHARDS];
};

int cp_expset_new(struct cp_expset **out, struct fl_err *err)
{
	struct cp_expset *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	for (int i = 0; i < SHARDS; i++) {
		pthread_mutex_init(&s->shards[i].lock, NULL);
		fl_map_init(&s->shards[i].map);
		s->shards[i].sweep_at = 1024;
	}
	*out = s;
	return 0;
}

void cp_expset_free(struct cp_expset *s)
{
	if (!s)
		return;
	for (int i = 0; i < SHARDS; i++) {
		fl_map_release(&s->shards[i].map);
		pthread_mutex_destroy(&s->shards[i].lock);
	}
	free(s);
}

static struct shard *shard_of(struct cp_expset *s, const char *key)
{
	return &s->shards[fl_hash_str(key) % SHARDS];
}

/* Drops expired members; the next sweep waits until the map doubles, so the
 * cost is amortised O(1) per claim. */
static void sweep(struct shard *sh, int64_t now)
{
	const char *k;
	void *v;

	for (size_t i = 0; fl_map_next(&sh->map, &i, &k, &v);)
		if ((int64_t)(intptr_t)v <= now)
			fl_map_del(&sh->map, k);
	sh->sweep_at = fl_map_len(&sh->map) * 2 + 1024;
}

int cp_expset_claim(struct cp_expset *s, const char *key, int64_t expires, int64_t now)
{
	struct shard *sh = shard_of(s, key);
	void *v;
	int rc = 0;

	pthread_mutex_lock(&sh->lock);
	v = fl_map_get(&sh->map, key);
	if (v && (int64_t)(intptr_t)v > now) {
		rc = FL_EEXISTS;
	} else {
		if (fl_map_len(&sh->map) >= sh->sweep_at)
			sweep(sh, now);
		rc = fl_map_put(&sh->map, key, (void *)(intptr_t)expires, NULL);
	}
	pthread_mutex_unlock(&sh->lock);
	return rc;
}

int cp_expset_take(struct cp_expset *s, const char *key, int64_t now)
{
	struct shard *sh = shard_of(s, key);
	int64_t exp;
	void *v;

	pthread_mutex_lock(&sh->lock);
	v = fl_map_get(&sh->map, key);
	exp = (int64_t)(intptr_t)v;
	if (v)
		fl_map_del(&sh->map, key);
	pthread_mutex_unlock(&sh->lock);
	return v && exp > now ? 0 : FL_EGONE;
}

int cp_expset_has(struct cp_expset *s, const char *key, int64_t now)
{
	struct shard *sh = shard_of(s, key);
	void *v;

	pthread_mutex_lock(&sh->lock);
	v = fl_map_get(&sh->map, key);
	pthread_mutex_unlock(&sh->lock);
	return v && (int64_t)(intptr_t)v > now;
}

size_t cp_expset_count(struct cp_expset *s)
{
	size_t n = 0;

	for (int i = 0; i < SHARDS; i++) {
		pthread_mutex_lock(&s->shards[i].lock);
		n += fl_map_len(&s->shards[i].map);
		pthread_mutex_unlock(&s->shards[i].lock);
	}
	return n;
}

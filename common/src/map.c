#include "fairlead/map.h"

#include <stdlib.h>
#include <string.h>

#include "fairlead/err.h"

/* A distinct non-NULL address marks deleted slots so that probe chains stay intact. */
static char tomb;
#define FL_MAP_TOMB (&tomb)

/* The final mix of a 64-bit hash (MurmurHash3's finaliser). */
static uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

uint64_t fl_hash_bytes(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	/* FNV-1a, then a final mix: keys are ids an attacker may choose, but the map
	 * only holds authenticated ids and nonces with bounded counts. */
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return mix64(h);
}

uint64_t fl_hash_str(const char *s)
{
	return fl_hash_bytes(FL_HASH_SEED, s, strlen(s));
}

void fl_map_init(struct fl_map *m)
{
	memset(m, 0, sizeof(*m));
}

void fl_map_release(struct fl_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key && m->slots[i].key != FL_MAP_TOMB)
			free(m->slots[i].key);
	free(m->slots);
	fl_map_init(m);
}

static struct fl_map_slot *find(const struct fl_map *m, const char *key, uint64_t h)
{
	size_t mask = m->cap - 1;

	if (!m->cap)
		return NULL;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct fl_map_slot *s = &m->slots[i];

		if (!s->key)
			return NULL;
		if (s->key != FL_MAP_TOMB && s->hash == h && strcmp(s->key, key) == 0)
			return s;
	}
}

void *fl_map_get(const struct fl_map *m, const char *key)
{
	struct fl_map_slot *s = find(m, key, fl_hash_str(key));

	return s ? s->value : NULL;
}

static int resize(struct fl_map *m, size_t cap)
{
	struct fl_map_slot *old = m->slots;
	size_t oldcap = m->cap;

	m->slots = calloc(cap, sizeof(*m->slots));
	if (!m->slots) {
		m->slots = old;
		return FL_ENOMEM;
	}
	m->cap = cap;
	m->used = m->len;
	for (size_t i = 0; i < oldcap; i++) {
		struct fl_map_slot *s = &old[i];

		if (s->key && s->key != FL_MAP_TOMB) {
			size_t j = s->hash & (cap - 1);

			while (m->slots[j].key)
				j = (j + 1) & (cap - 1);
			m->slots[j] = *s;
		}
	}
	free(old);
	return 0;
}

int fl_map_put(struct fl_map *m, const char *key, void *value, void **old)
{
	uint64_t h = fl_hash_str(key);
	struct fl_map_slot *s = find(m, key, h);
	size_t mask, i;

	if (old)
		*old = NULL;
	if (s) {
		if (old)
			*old = s->value;
		s->value = value;
		return 0;
	}
	/* Keep the load (tombstones included) under 70%. */
	if ((m->used + 1) * 10 >= m->cap * 7) {
		size_t cap = m->cap ? m->cap : 16;

		while ((m->len + 1) * 10 >= cap * 5)
			cap *= 2;
		if (resize(m, cap) < 0)
			return FL_ENOMEM;
	}
	mask = m->cap - 1;
	for (i = h & mask; m->slots[i].key && m->slots[i].key != FL_MAP_TOMB; i = (i + 1) & mask)
		;
	if (!m->slots[i].key)
		m->used++;
	m->slots[i].key = strdup(key);
	if (!m->slots[i].key) {
		m->slots[i].key = FL_MAP_TOMB;
		return FL_ENOMEM;
	}
	m->slots[i].hash = h;
	m->slots[i].value = value;
	m->len++;
	return 0;
}

void *fl_map_del(struct fl_map *m, const char *key)
{
	struct fl_map_slot *s = find(m, key, fl_hash_str(key));
	void *v;

	if (!s)
		return NULL;
	v = s->value;
	free(s->key);
	s->key = FL_MAP_TOMB;
	s->value = NULL;
	m->len--;
	return v;
}

size_t fl_map_len(const struct fl_map *m)
{
	return m->len;
}

int fl_map_next(const struct fl_map *m, size_t *iter, const char **key, void **value)
{
	while (*iter < m->cap) {
		struct fl_map_slot *s = &m->slots[(*iter)++];

		if (s->key && s->key != FL_MAP_TOMB) {
			*key = s->key;
			*value = s->value;
			return 1;
		}
	}
	return 0;
}

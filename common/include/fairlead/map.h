/*
 * map.h - an open-addressing hash map from NUL-terminated string keys to
 * pointers. The map copies keys and never owns values. Not thread-safe: the
 * owner locks. Lookups and inserts are O(1) on average at any size, which is
 * what keeps per-request costs flat as the fleet grows.
 */
#ifndef FAIRLEAD_MAP_H
#define FAIRLEAD_MAP_H

#include <stddef.h>
#include <stdint.h>

struct fl_map_slot {
	char *key; /* NULL: empty; FL_MAP_TOMB: deleted */
	uint64_t hash;
	void *value;
};

struct fl_map {
	struct fl_map_slot *slots;
	size_t cap; /* power of two */
	size_t len;
	size_t used; /* len + tombstones */
};

void fl_map_init(struct fl_map *m);
/* Frees the slots and keys, not the values. */
void fl_map_release(struct fl_map *m);
void *fl_map_get(const struct fl_map *m, const char *key);
/* Sets key to value; *old (if not NULL) receives the value replaced or NULL.
 * FL_ENOMEM on allocation failure. */
int fl_map_put(struct fl_map *m, const char *key, void *value, void **old);
/* Removes key and returns its value, or NULL. */
void *fl_map_del(struct fl_map *m, const char *key);
size_t fl_map_len(const struct fl_map *m);

/* Iteration: for (size_t i = 0; fl_map_next(m, &i, &k, &v);) ... ; removing the
 * current entry during iteration is allowed. */
int fl_map_next(const struct fl_map *m, size_t *iter, const char **key, void **value);

/* A 64-bit hash of len bytes, continuing from h (FL_HASH_SEED to start):
 * for change detection and tables, never for security. */
#define FL_HASH_SEED 1469598103934665603ULL
uint64_t fl_hash_bytes(uint64_t h, const void *data, size_t len);
/* fl_hash_bytes of a string from FL_HASH_SEED. */
uint64_t fl_hash_str(const char *s);

#endif

/*
 * expset.h - a set of strings that each expire at a given time: the replay
 * cache for request nonces and the store of enrollment challenges.
 *
 * Sharded by hash so that concurrent check-ins rarely share a lock. Claiming
 * is atomic: of any number of racing claims of one key, exactly one wins.
 * Expired members are swept as a shard grows, so memory is bounded by the
 * request rate times the time window.
 */
#ifndef CP_EXPSET_H
#define CP_EXPSET_H

#include <stddef.h>
#include <stdint.h>

#include "fairlead/err.h"

struct cp_expset;

int cp_expset_new(struct cp_expset **out, struct fl_err *err);
void cp_expset_free(struct cp_expset *s);
/* Adds key until expires (unix seconds). 0 when added, FL_EEXISTS when the key
 * is already present and unexpired (a replay), FL_ENOMEM. */
int cp_expset_claim(struct cp_expset *s, const char *key, int64_t expires, int64_t now);
/* Removes key. 0 when it was present and unexpired, FL_EGONE otherwise. */
int cp_expset_take(struct cp_expset *s, const char *key, int64_t now);
/* 1 when key is present and unexpired. */
int cp_expset_has(struct cp_expset *s, const char *key, int64_t now);
size_t cp_expset_count(struct cp_expset *s);

#endif

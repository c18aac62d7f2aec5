/*
 * ratelimit.h - per-identity token buckets.
 *
 * An identity (a token id, a device key id, a client address) may make
 * `rate` requests per second on average with bursts of `burst`. Over that,
 * cp_ratelimit_take says how many seconds to wait, for Retry-After. Idle
 * buckets are dropped as the table grows, so memory follows the number of
 * recently active identities.
 */
#ifndef CP_RATELIMIT_H
#define CP_RATELIMIT_H

#include <stdint.h>

#include "fairlead/err.h"

struct cp_ratelimit;

int cp_ratelimit_new(struct cp_ratelimit **out, double rate, double burst, struct fl_err *err);
void cp_ratelimit_free(struct cp_ratelimit *rl);
/* 0 when the request may go ahead; FL_EAGAIN with *retry_after seconds (>= 1)
 * when the identity is over its rate. A rate <= 0 disables the limit. */
int cp_ratelimit_take(struct cp_ratelimit *rl, const char *identity, int64_t now_ms,
		      int64_t *retry_after);

#endif

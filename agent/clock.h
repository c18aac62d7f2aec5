/*
 * clock.h - time, sleep and randomness for the check-in loop, injectable so
 * that tests drive the loop without sleeping and with chosen jitter.
 *
 * sleep_ms() returns 1 when the agent must stop (SIGTERM/SIGINT), else 0
 * after the time has passed; a sleep of 0 still reports a pending stop.
 */
#ifndef AG_CLOCK_H
#define AG_CLOCK_H

#include <stdint.h>

struct ag_clock {
	void *ctx;
	int64_t (*now)(void *ctx);		/* wall clock, seconds */
	int (*sleep_ms)(void *ctx, int64_t ms); /* 1: stop requested */
	uint32_t (*rand)(void *ctx);		/* uniform 32 bits */
};

/* The real clock: fl_now(), fl_random(), and a sleep that ends early when
 * *wake_fd (the read end of a self-pipe the signal handler writes to) is
 * readable. wake_fd must outlive the clock; -1 never wakes. */
void ag_clock_system(struct ag_clock *out, const int *wake_fd);

/* base_ms moved uniformly within +-pct percent, never negative. */
int64_t ag_clock_jitter(const struct ag_clock *c, int64_t base_ms, int pct);

#endif

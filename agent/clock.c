#include "agent/clock.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>

#include "fairlead/crypto.h"
#include "fairlead/util.h"

static int64_t sys_now(void *ctx)
{
	(void)ctx;
	return fl_now();
}

static uint32_t sys_rand(void *ctx)
{
	uint32_t r;

	(void)ctx;
	fl_random(&r, sizeof(r));
	return r;
}

/* poll() on the self-pipe instead of sleep(): a signal that lands between the
 * stop check and the sleep still wakes us, because the byte stays in the pipe.
 * The byte is never drained, so every later sleep returns at once too. */
static int sys_sleep(void *ctx, int64_t ms)
{
	const int *fd = ctx;
	int64_t end = fl_mono_ms() + (ms > 0 ? ms : 0);

	for (;;) {
		struct pollfd pfd = {.fd = fd ? *fd : -1, .events = POLLIN};
		int64_t left = end - fl_mono_ms();
		int n;

		if (left < 0)
			left = 0;
		n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0 && (pfd.revents & (POLLIN | POLLHUP)))
			return 1;
		if (n < 0 && errno != EINTR)
			return 0;
		if (n == 0 && left <= INT_MAX)
			return 0;
	}
}

void ag_clock_system(struct ag_clock *out, const int *wake_fd)
{
	out->ctx = (void *)(uintptr_t)wake_fd; /* read only; the vtable takes void * */
	out->now = sys_now;
	out->sleep_ms = sys_sleep;
	out->rand = sys_rand;
}

int64_t ag_clock_jitter(const struct ag_clock *c, int64_t base_ms, int pct)
{
	int64_t span, v;

	if (base_ms <= 0)
		return 0;
	span = base_ms * pct / 100;
	if (span <= 0)
		return base_ms;
	v = base_ms - span + (int64_t)(c->rand(c->ctx) % (uint64_t)(2 * span + 1));
	return v < 0 ? 0 : v;
}

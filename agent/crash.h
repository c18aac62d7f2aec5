/*
 * crash.h - named points in the update flow where a test can stop the agent
 * dead (a forked child that _exit()s), to prove that a SIGKILL at any step
 * leaves the device on the old or the new release. NULL in production.
 */
#ifndef AG_CRASH_H
#define AG_CRASH_H

extern void (*ag_crash_hook)(const char *point);

static inline void ag_crash_point(const char *point)
{
	if (ag_crash_hook)
		ag_crash_hook(point);
}

#endif

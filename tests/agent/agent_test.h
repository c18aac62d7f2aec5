/*
 * agent_test.h - what the agent's Criterion tests include.
 *
 * The shared tests/helpers/fl_test.h does not compile with Criterion 2.4.1's
 * new asserts (its cr_assert_fail expands to the old cr_fail), so the agent
 * tests carry their own tmpdir helper until that is fixed.
 */
#ifndef AGENT_TEST_H
#define AGENT_TEST_H

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A fresh directory per call under $TMPDIR; tests may leave it behind. */
static inline const char *ag_test_tmpdir(void)
{
	static char dir[256];
	const char *base = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/fltest.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir))
		cr_fatal("mkdtemp failed");
	return dir;
}

/* eq(str, ...) takes char *; jansson hands out const char *. */
static inline char *S(const char *s)
{
	return (char *)(uintptr_t)s;
}

/* cr_assert(COND) pastes COND's first token after expansion, so a
 * condition starting with '!' or a macro such as json_is_object() needs a
 * function call in front. */
static inline int yes(int v)
{
	return v;
}

#endif

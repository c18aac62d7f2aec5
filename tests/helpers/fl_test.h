/*
 * fl_test.h - what every Criterion test of Fairlead includes.
 *
 * Leaks fail a test through ctest's FAIL_REGULAR_EXPRESSION on the sanitizer
 * report (tests/CMakeLists.txt). fl_test_tmpdir() gives each test a fresh
 * directory under $TMPDIR that it may leave behind.
 */
#ifndef FL_TEST_H
#define FL_TEST_H

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline const char *fl_test_tmpdir(void)
{
	static char dir[256];
	const char *base = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/fltest.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir))
		cr_fatal("mkdtemp failed");
	return dir;
}

#endif

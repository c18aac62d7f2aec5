/*
 * cli_test.h - what the CLI's tests include: fl_test.h, made to compile.
 *
 * fl_test.h calls the old-API cr_assert_fail(), which criterion/new/assert.h
 * redefines into something that no longer compiles (Criterion 2.4.1). Until
 * fl_test.h says cr_fatal() itself, this maps the one onto the other; both
 * headers have include guards, so including them first is enough.
 */
#ifndef FL_CLI_TEST_H
#define FL_CLI_TEST_H

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#undef cr_assert_fail
#define cr_assert_fail(...) cr_fatal(__VA_ARGS__)

#include "fl_test.h"

/* Criterion's eq(str, ...) wants char *; the CLI hands out const char *. */
#define cli_assert_str(actual, expected)                                                           \
	do {                                                                                       \
		const char *cli_a_ = (actual), *cli_e_ = (expected);                               \
		cr_assert(cli_a_ != NULL, "got NULL, want '%s'", cli_e_);                          \
		cr_assert(strcmp(cli_a_, cli_e_) == 0, "got '%s', want '%s'", cli_a_, cli_e_);     \
	} while (0)

#endif

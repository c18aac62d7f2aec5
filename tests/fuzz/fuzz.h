/*
 * fuzz.h - what the fuzz targets share.
 *
 * Every target is a libFuzzer entry point. The same object links either with
 * libFuzzer (clang, -DFL_FUZZ=ON) or with replay_main.c, which runs the seed
 * corpus and deterministic mutations of it under ctest.
 */
#ifndef FL_FUZZ_H
#define FL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated heap copy of [data, data+size), exactly size+1 bytes so
 * that ASan catches a parser reading past the terminator. */
static inline char *fz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A broken invariant is a finding: print it where the fuzzer log shows it and
 * abort, so libFuzzer saves the input and the replay test fails. */
#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__,  \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif

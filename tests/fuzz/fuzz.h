/*
 * fuzz.h - what the fuzz targets share.
 *
 * Every target is a libFuzzer entry point. The same object links either with
 * libFuzzer (clang, -DFL_FUZZ=ON) or with replay_main.c, which runs the seed
 * corpus and deterministic mutations of it under ctest.
 *
 * A target writes its body as `static int NAME(const uint8_t *, size_t)` and
 * says FZ_TARGET(NAME): the entry point then runs every input on a new thread
 * whose stack is the size the server gives the threads that run handlers
 * (CP_POOL_STACK). On the 8 MB main thread, input that overflows a server
 * thread's stack would pass unnoticed.
 */
#ifndef FL_FUZZ_H
#define FL_FUZZ_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional, once on the main thread before the first input (libFuzzer's
 * hook; replay_main.c calls it too). Targets that set up state owned by a
 * thread, such as the app whose store connection belongs to the thread
 * that opened it (cp_store_free runs on that thread), do it here. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

typedef int (*fz_body_fn)(const uint8_t *data, size_t size);

struct fz_call {
	fz_body_fn fn;
	const uint8_t *data;
	size_t size;
};

static inline void *fz_thread_main(void *arg)
{
	struct fz_call *c = arg;

	c->fn(c->data, c->size);
	return NULL;
}

/* Runs fn(data, size) on a new thread with a stack of CP_POOL_STACK bytes and
 * joins it. A thread that cannot be started aborts: a run that silently
 * tested nothing would pass. */
static inline int fz_run_on_worker_stack(fz_body_fn fn, const uint8_t *data, size_t size)
{
	struct fz_call c = {fn, data, size};
	pthread_attr_t attr;
	pthread_t t;

	if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, CP_POOL_STACK) != 0 ||
	    pthread_create(&t, &attr, fz_thread_main, &c) != 0 || pthread_join(t, NULL) != 0) {
		fprintf(stderr, "fuzz: cannot run the input on a worker-sized thread\n");
		abort();
	}
	pthread_attr_destroy(&attr);
	return 0;
}

/* Defines the libFuzzer entry point for body fn (see the top of this file). */
#define FZ_TARGET(fn)                                                                              \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                               \
	{                                                                                          \
		return fz_run_on_worker_stack(fn, data, size);                                     \
	}

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

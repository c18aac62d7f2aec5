/*
 * replay_main.c - a main() for the fuzz targets where libFuzzer is not
 * available (gcc, the ordinary `make test`).
 *
 *   fuzz_NAME DIR|FILE...
 *
 * Calls LLVMFuzzerInitialize when the target has one, then runs
 * LLVMFuzzerTestOneInput on every file, then on FL_FUZZ_MUTATIONS
 * (default 300) mutations of each. The mutations come from xorshift64 seeded
 * from the file's own bytes, so a run is reproducible and adding a seed does
 * not change what the other seeds explore. Every input is handed over in a
 * heap block of exactly its size: ASan then reports a read one past the end,
 * which a stack or oversized buffer would hide.
 *
 * To get the input of a failure: FL_FUZZ_SAVE=FILE makes every input be
 * written to FILE before it runs, so after a crash FILE holds the culprit
 * (add it to the corpus once fixed).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define FZ_MAX_INPUT (1 << 20)

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t below(size_t n)
{
	return n ? (size_t)(next() % n) : 0;
}

/* Bytes the parsers under test give meaning to: a random byte rarely hits
 * them, and near-valid inputs are where the bugs live. */
static const uint8_t special[] = {0,   '\n', '\r', ' ', '"', '\\', ',',	 ';',  '=',  '!', '(',
				  ')', '{',  '}',  '[', ']', ':',  '/',	 '?',  '&',  '%', '+',
				  '-', '.',  '0',  '9', 'a', 'z',  0x7f, 0x80, 0xc3, 0xff};

/* One in-place edit of buf (len bytes used, cap available); returns the new
 * length. */
static size_t mutate_once(uint8_t *buf, size_t len, size_t cap)
{
	size_t at = below(len + 1), n;

	switch (next() % 8) {
	case 0: /* flip a bit */
		if (len)
			buf[below(len)] ^= (uint8_t)(1u << below(8));
		break;
	case 1: /* random byte */
		if (len)
			buf[below(len)] = (uint8_t)next();
		break;
	case 2: /* special byte */
		if (len)
			buf[below(len)] = special[below(sizeof(special))];
		break;
	case 3: /* insert a special byte */
		if (len < cap) {
			memmove(buf + at + 1, buf + at, len - at);
			buf[at] = special[below(sizeof(special))];
			len++;
		}
		break;
	case 4: /* delete a run */
		if (at < len) {
			n = 1 + below(len - at < 8 ? len - at : 8);
			memmove(buf + at, buf + at + n, len - at - n);
			len -= n;
		}
		break;
	case 5: /* duplicate a run at another place */
		if (len) {
			size_t from = below(len);

			n = 1 + below(len - from < 16 ? len - from : 16);
			if (n > cap - len)
				n = cap - len;
			memmove(buf + at + n, buf + at, len - at);
			/* the source may have moved with the tail */
			memmove(buf + at, buf + (from >= at ? from + n : from), n);
			len += n;
		}
		break;
	case 6: /* truncate */ len = at; break;
	default: /* set a run to one repeated byte, for long tokens and numbers */
		if (at < len) {
			uint8_t c = special[below(sizeof(special))];

			n = 1 + below(len - at);
			memset(buf + at, c, n);
		}
	}
	return len;
}

static const char *save_path;

/* Defined only by the targets that need it. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static void run(const uint8_t *data, size_t len)
{
	/* malloc(0) may return NULL; libFuzzer passes a valid pointer */
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy) {
		perror("malloc");
		exit(2);
	}
	if (len)
		memcpy(copy, data, len);
	if (save_path) {
		FILE *f = fopen(save_path, "wb");

		if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
			perror(save_path);
			exit(2);
		}
	}
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
}

static int replay_file(const char *path, long mutations, long *runs)
{
	FILE *f = fopen(path, "rb");
	uint8_t *seed, *buf;
	size_t len, cap;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	seed = malloc(FZ_MAX_INPUT);
	if (!seed) {
		fclose(f);
		return -1;
	}
	len = fread(seed, 1, FZ_MAX_INPUT, f);
	fclose(f);
	run(seed, len);
	(*runs)++;

	/* FNV-1a of the seed's bytes; xorshift must not start at zero */
	rng = 0xcbf29ce484222325u;
	for (size_t i = 0; i < len; i++)
		rng = (rng ^ seed[i]) * 0x100000001b3u;
	rng |= 1;

	cap = len + 256;
	buf = malloc(cap);
	if (!buf) {
		free(seed);
		return -1;
	}
	for (long m = 0; m < mutations; m++) {
		size_t n = len, edits = 1 + below(4);

		memcpy(buf, seed, len);
		for (size_t e = 0; e < edits; e++)
			n = mutate_once(buf, n, cap);
		run(buf, n);
		(*runs)++;
	}
	free(buf);
	free(seed);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of a directory in name order, so the run does not depend on readdir. */
static int replay_dir(const char *dir, long mutations, long *runs, long *files)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (!d) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **grown = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names));

			if (!grown) {
				rc = -1;
				break;
			}
			names = grown;
		}
		if (!(names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2))) {
			rc = -1;
			break;
		}
		sprintf(names[n], "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (rc == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
			rc = replay_file(names[i], mutations, runs);
			(*files)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	const char *env = getenv("FL_FUZZ_MUTATIONS");
	long mutations = env ? strtol(env, NULL, 10) : 300, runs = 0, files = 0;

	save_path = getenv("FL_FUZZ_SAVE");
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int rc;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			rc = replay_dir(argv[i], mutations, &runs, &files);
		} else {
			rc = replay_file(argv[i], mutations, &runs);
			files++;
		}
		if (rc < 0)
			return 1;
	}
	/* An empty corpus would make the test pass without testing anything. */
	if (files == 0) {
		fprintf(stderr, "no corpus files\n");
		return 1;
	}
	printf("%ld files, %ld inputs run\n", files, runs);
	return 0;
}

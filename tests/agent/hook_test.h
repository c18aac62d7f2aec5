/*
 * hook_test.h - command hooks for the agent's tests: small shell scripts in
 * a temp directory.
 */
#ifndef HOOK_TEST_H
#define HOOK_TEST_H

#include <sys/stat.h>

#include "agent_test.h"

/* Writes "#!/bin/sh" and body to dir/name, mode 0755; returns the path
 * (static storage, one of eight in turn). */
static inline const char *hook_script(const char *dir, const char *name, const char *body)
{
	static char paths[8][512];
	static int next;
	char *p = paths[next++ % 8];
	FILE *f;

	snprintf(p, 512, "%s/%s", dir, name);
	if (!(f = fopen(p, "w")))
		cr_fatal("cannot write %s", p);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	if (chmod(p, 0755) != 0)
		cr_fatal("chmod %s", p);
	return p;
}

/* The content of a small file, or "" when it is absent (static storage). */
static inline const char *file_text(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

#endif

/* common.h - what both HTTP prototypes share: the reply bodies and limits. */
#ifndef HP_COMMON_H
#define HP_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#define HP_BODY_MAX 4096
#define HP_BACKLOG 4096

/* ~200 bytes, like a check-in acknowledgement. */
#define HP_CHECKIN_REPLY                                                                           \
	"{\"ok\":true,\"agent\":\"0123456789abcdef0123456789abcdef\",\"generation\":42,"             \
	"\"next_checkin_s\":30,\"jobs\":[],\"config_etag\":\"a1b2c3d4e5f60718293a4b5c6d7e8f90\","      \
	"\"server_time\":\"2026-01-01T00:00:00Z\",\"pad\":\"0000\"}\n"
#define HP_HEALTH_REPLY "{\"status\":\"ok\"}\n"

static inline char *hp_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	b = malloc((size_t)n + 1);
	if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(b);
		return NULL;
	}
	b[n] = 0;
	fclose(f);
	if (len)
		*len = (size_t)n;
	return b;
}

#endif

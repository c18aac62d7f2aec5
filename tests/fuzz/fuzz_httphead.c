/*
 * fuzz_httphead.c - the request parsing that stays in our code after the
 * HTTP library has split the head into lines: the head checks (header
 * count, Content-Length, Transfer-Encoding, Host), Range against a few
 * sizes, and If-None-Match lists.
 *
 * Input: header lines "Name: value\n"; a line "Range: ..." and a line
 * "If-None-Match: ..." also feed those parsers. (The signature headers have
 * their own target, fuzz_httpsig.)
 */
#include "fuzz.h"
#include "http/parse.h"

#define MAX_LINES 64

static int fuzz_one(const uint8_t *data, size_t size)
{
	struct cp_http_hdr h[MAX_LINES];
	struct cp_http_head head;
	struct fl_err err = {0, ""};
	const char *range = NULL, *inm = NULL;
	char *s = fz_strndup(data, size), *line, *save = NULL;
	size_t n = 0;

	for (line = strtok_r(s, "\n", &save); line && n < MAX_LINES;
	     line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');

		if (!colon)
			continue;
		*colon = '\0';
		h[n].name = line;
		h[n].value = colon[1] == ' ' ? colon + 2 : colon + 1;
		if (strcmp(line, "Range") == 0)
			range = h[n].value;
		else if (strcmp(line, "If-None-Match") == 0)
			inm = h[n].value;
		n++;
	}
	if (cp_http_head_check(&head, h, n, 32, 1, &err) == 0)
		FZ_CHECK(head.content_length >= -1);
	if (cp_http_head_check(&head, h, n, 32, 0, &err) < 0)
		FZ_CHECK(err.msg[0]); /* every refusal names its cause */
	for (int64_t sz = 0; sz < 3; sz++) {
		static const int64_t sizes[] = {0, 1, 1 << 20};
		int64_t a = -1, b = -1;
		int r = cp_http_range_parse(&a, &b, range, sizes[sz]);

		/* A range reported lies inside the file. */
		FZ_CHECK(r != 1 || (a >= 0 && b >= a && b < sizes[sz]));
	}
	(void)cp_http_etag_match(inm, "\"0123456789abcdef\"");
	free(s);
	return 0;
}

FZ_TARGET(fuzz_one)

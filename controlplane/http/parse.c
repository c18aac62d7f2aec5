#include "parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Content-Length is 1*DIGIT (RFC 9110 §8.6): no sign, no spaces inside, no
 * list. strtoll alone would take "+5", " 5" and "5, 5". */
static int parse_length(int64_t *out, const char *v)
{
	int64_t n = 0;

	if (!*v)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9' || n > (INT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (*v - '0');
	}
	*out = n;
	return 0;
}

int cp_http_head_check(struct cp_http_head *out, const struct cp_http_hdr *h, size_t n,
		       size_t max_headers, int http11, struct fl_err *err)
{
	int cl = 0, te = 0, host = 0;

	out->content_length = -1;
	out->chunked = 0;
	if (n > max_headers)
		return fl_err_set(err, FL_ETOOBIG, "more than %zu header lines", max_headers);
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(h[i].name, "Content-Length") == 0) {
			if (cl++)
				return fl_err_set(err, FL_EINVAL, "Content-Length given twice");
			if (parse_length(&out->content_length, h[i].value) < 0)
				return fl_err_set(err, FL_EINVAL, "Content-Length is not a length");
		} else if (strcasecmp(h[i].name, "Transfer-Encoding") == 0) {
			if (te++)
				return fl_err_set(err, FL_EINVAL, "Transfer-Encoding given twice");
			if (strcasecmp(h[i].value, "chunked") != 0)
				return fl_err_set(err, FL_EINVAL,
						  "Transfer-Encoding other than chunked");
			out->chunked = 1;
		} else if (strcasecmp(h[i].name, "Host") == 0) {
			if (host++)
				return fl_err_set(err, FL_EINVAL, "Host given twice");
		}
	}
	if (cl && te)
		return fl_err_set(err, FL_EINVAL, "both Content-Length and Transfer-Encoding");
	if (http11 && !host)
		return fl_err_set(err, FL_EINVAL, "no Host header");
	return 0;
}

int cp_http_range_parse(int64_t *first, int64_t *last, const char *h, int64_t size)
{
	char *end;
	long long a, b;

	if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	h += 6;
	if (*h == '-') {
		if (h[1] < '0' || h[1] > '9')
			return 0;
		errno = 0;
		b = strtoll(h + 1, &end, 10);
		if (errno || *end)
			return 0;
		if (b == 0 || size == 0)
			return -1;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 1;
	}
	if (*h < '0' || *h > '9')
		return 0;
	errno = 0;
	a = strtoll(h, &end, 10);
	if (errno || *end != '-')
		return 0;
	h = end + 1;
	if (*h) {
		if (*h < '0' || *h > '9')
			return 0;
		b = strtoll(h, &end, 10);
		if (errno || *end || b < a)
			return 0;
	} else {
		b = size - 1;
	}
	if (a >= size)
		return -1;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return 1;
}

int cp_http_etag_match(const char *inm, const char *etag)
{
	size_t n;

	if (!inm || !etag || !etag[0])
		return 0;
	while (*inm == ' ' || *inm == '\t')
		inm++;
	if (strcmp(inm, "*") == 0)
		return 1;
	n = strlen(etag);
	/* A list of entity tags: a match must be a whole element, so a tag
	 * that merely contains ours does not count. Weak tags (W/"..") never
	 * match a strong comparison's ETag, but If-None-Match uses the weak
	 * comparison (RFC 9110 §13.1.2): W/ is skipped. */
	for (const char *p = inm; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, etag, n) == 0 &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
			return 1;
		while (*p && *p != ',')
			p++;
	}
	return 0;
}

/*
 * parse.h - the parts of reading a request that stay in our code, whatever
 * HTTP library reads the bytes: the checks of a request head, Range and
 * If-None-Match. Pure functions over strings; no I/O, no allocation.
 */
#ifndef CP_HTTP_PARSE_H
#define CP_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "fairlead/err.h"

/* One header line as received. */
struct cp_http_hdr {
	const char *name;
	const char *value;
};

/* What cp_http_head_check found: the declared body length (-1: none) and
 * whether the body is chunked. */
struct cp_http_head {
	int64_t content_length;
	int chunked;
};

/*
 * Checks a request head against the rules that keep one request from being
 * read as two (RFC 9112 §6.3) and against the header-count limit:
 *   more than max_headers lines          FL_ETOOBIG (431)
 *   Content-Length twice (even if equal), not a plain decimal, or together
 *   with Transfer-Encoding                FL_EINVAL (400)
 *   Transfer-Encoding other than exactly "chunked"   FL_EINVAL
 *   Host missing (HTTP/1.1) or repeated   FL_EINVAL
 * err names the header.
 */
int cp_http_head_check(struct cp_http_head *out, const struct cp_http_hdr *h, size_t n,
		       size_t max_headers, int http11, struct fl_err *err);

/*
 * A single "bytes=A-B", "bytes=A-" or "bytes=-N" range against size, into
 * [*first, *last]. Returns 1 for a range, 0 when the header is absent or not
 * one usable range (serve the whole: RFC 9110 allows ignoring it), -1 when it
 * is well formed but unsatisfiable (416).
 */
int cp_http_range_parse(int64_t *first, int64_t *last, const char *h, int64_t size);

/* 1 when an If-None-Match value lists etag (a quoted strong tag) or is "*". */
int cp_http_etag_match(const char *inm, const char *etag);

#endif

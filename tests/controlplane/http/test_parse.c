/* test_parse.c - the request-head checks that keep one request from being
 * read as two, Range against a size, and If-None-Match lists. */
#include "fl_test.h"
#include "http/parse.h"

#define H(n, v)                                                                                    \
	{                                                                                          \
		n, v                                                                               \
	}

static int check(const struct cp_http_hdr *h, size_t n, struct cp_http_head *out)
{
	struct fl_err err = {0, ""};

	return cp_http_head_check(out, h, n, 10, 1, &err);
}

Test(http_parse, plain_heads_pass)
{
	struct cp_http_hdr h[] = {H("Host", "x"), H("Content-Length", "42")};
	struct cp_http_head hd;

	cr_assert_eq(check(h, 2, &hd), 0);
	cr_assert_eq(hd.content_length, 42);
	cr_assert_eq(hd.chunked, 0);
	cr_assert_eq(check(h, 1, &hd), 0);
	cr_assert_eq(hd.content_length, -1);
}

Test(http_parse, content_length_twice_is_refused_even_when_equal)
{
	struct cp_http_hdr same[] = {H("Host", "x"), H("Content-Length", "5"),
				     H("content-length", "5")};
	struct cp_http_hdr differ[] = {H("Host", "x"), H("Content-Length", "5"),
				       H("Content-Length", "50")};
	struct cp_http_head hd;

	cr_assert_eq(check(same, 3, &hd), FL_EINVAL);
	cr_assert_eq(check(differ, 3, &hd), FL_EINVAL);
}

Test(http_parse, content_length_must_be_digits)
{
	const char *bad[] = {"", "+5", " 5", "5 ", "5,5", "-1", "0x10", "99999999999999999999"};
	struct cp_http_head hd;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cp_http_hdr h[] = {H("Host", "x"), H("Content-Length", bad[i])};

		cr_assert_eq(check(h, 2, &hd), FL_EINVAL, "'%s' accepted", bad[i]);
	}
}

Test(http_parse, length_with_transfer_encoding_is_refused)
{
	struct cp_http_hdr both[] = {H("Host", "x"), H("Transfer-Encoding", "chunked"),
				     H("Content-Length", "5")};
	struct cp_http_hdr gzip[] = {H("Host", "x"), H("Transfer-Encoding", "gzip, chunked")};
	struct cp_http_hdr te2[] = {H("Host", "x"), H("Transfer-Encoding", "chunked"),
				    H("Transfer-Encoding", "chunked")};
	struct cp_http_hdr ok[] = {H("Host", "x"), H("Transfer-Encoding", "Chunked")};
	struct cp_http_head hd;

	cr_assert_eq(check(both, 3, &hd), FL_EINVAL);
	cr_assert_eq(check(gzip, 2, &hd), FL_EINVAL);
	cr_assert_eq(check(te2, 3, &hd), FL_EINVAL);
	cr_assert_eq(check(ok, 2, &hd), 0);
	cr_assert_eq(hd.chunked, 1);
}

Test(http_parse, host_rules)
{
	struct cp_http_hdr none[] = {H("Accept", "*/*")};
	struct cp_http_hdr twice[] = {H("Host", "a"), H("Host", "b")};
	struct cp_http_head hd;
	struct fl_err err = {0, ""};

	cr_assert_eq(check(none, 1, &hd), FL_EINVAL);
	cr_assert_eq(check(twice, 2, &hd), FL_EINVAL);
	/* HTTP/1.0 has no Host requirement. */
	cr_assert_eq(cp_http_head_check(&hd, none, 1, 10, 0, &err), 0);
}

Test(http_parse, too_many_lines_is_431)
{
	struct cp_http_hdr h[12];
	struct cp_http_head hd;
	struct fl_err err = {0, ""};

	for (size_t i = 0; i < 12; i++)
		h[i] = (struct cp_http_hdr){i ? "X-A" : "Host", "v"};
	cr_assert_eq(cp_http_head_check(&hd, h, 10, 10, 1, &err), 0);
	cr_assert_eq(cp_http_head_check(&hd, h, 11, 10, 1, &err), FL_ETOOBIG);
	cr_assert_not_null(strstr(err.msg, "10"));
}

Test(http_parse, ranges)
{
	int64_t a = -1, b = -1;

	cr_assert_eq(cp_http_range_parse(&a, &b, "bytes=0-9", 100), 1);
	cr_assert(a == 0 && b == 9);
	cr_assert_eq(cp_http_range_parse(&a, &b, "bytes=90-", 100), 1);
	cr_assert(a == 90 && b == 99);
	cr_assert_eq(cp_http_range_parse(&a, &b, "bytes=-10", 100), 1);
	cr_assert(a == 90 && b == 99);
	cr_assert_eq(cp_http_range_parse(&a, &b, "bytes=-1000", 100), 1);
	cr_assert(a == 0 && b == 99);
	/* Past the end is clamped; starting past it is unsatisfiable. */
	cr_assert_eq(cp_http_range_parse(&a, &b, "bytes=50-1000", 100), 1);
	cr_assert(a == 50 && b == 99);
	cr_assert_eq(cp_http_range_parse(&a, &b, "bytes=100-", 100), -1);
	cr_assert_eq(cp_http_range_parse(&a, &b, "bytes=-0", 100), -1);
	cr_assert_eq(cp_http_range_parse(&a, &b, "bytes=0-", 0), -1);
	/* Not one usable range: served whole. */
	const char *whole[] = {NULL,
			       "",
			       "bytes=",
			       "bytes=5-2",
			       "bytes=0-1,5-6",
			       "items=0-1",
			       "bytes=a-b",
			       "bytes=-",
			       "bytes= 1-2",
			       "bytes=1-2x",
			       "bytes=--5",
			       "bytes=1--2",
			       "bytes=99999999999999999999-"};
	for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++)
		cr_assert_eq(cp_http_range_parse(&a, &b, whole[i], 100), 0, "'%s'",
			     whole[i] ? whole[i] : "(null)");
}

Test(http_parse, etag_lists)
{
	const char *tag = "\"abc\"";

	cr_assert_eq(cp_http_etag_match("\"abc\"", tag), 1);
	cr_assert_eq(cp_http_etag_match("*", tag), 1);
	cr_assert_eq(cp_http_etag_match("\"x\", \"abc\"", tag), 1);
	cr_assert_eq(cp_http_etag_match("W/\"abc\"", tag), 1);
	cr_assert_eq(cp_http_etag_match("\"abcd\"", tag), 0);
	cr_assert_eq(cp_http_etag_match("\"xabc\"", tag), 0);
	cr_assert_eq(cp_http_etag_match("\"ab\"", tag), 0);
	cr_assert_eq(cp_http_etag_match(NULL, tag), 0);
	cr_assert_eq(cp_http_etag_match("\"abc\"", ""), 0);
}

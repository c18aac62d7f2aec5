/* test_buf.c - the growable, capped byte buffer. */
#include <stdlib.h>
#include <string.h>

#include "fairlead/buf.h"
#include "fl_test.h"

Test(buf, empty_buffer_is_empty_string)
{
	struct fl_buf b = FL_BUF_INIT;

	cr_assert_str_eq(fl_buf_cstr(&b), "");
	cr_assert_eq(b.len, 0);
	fl_buf_release(&b);
}

Test(buf, grows_across_many_appends_and_stays_terminated)
{
	struct fl_buf b;

	fl_buf_init(&b, 0);
	for (int i = 0; i < 10000; i++)
		cr_assert_eq(fl_buf_put(&b, "abcdefgh", 8), 0);
	cr_assert_eq(b.len, 80000);
	cr_assert_geq(b.cap, 80001);
	cr_assert_eq(b.ptr[b.len], '\0');
	cr_assert_eq(memcmp(b.ptr + 79992, "abcdefgh", 8), 0);
	cr_assert_eq(strlen(b.ptr), 80000);
	fl_buf_release(&b);
	cr_assert_null(b.ptr);
	cr_assert_eq(b.len, 0);
}

Test(buf, addf_formats_and_appends)
{
	struct fl_buf b = FL_BUF_INIT;

	cr_assert_eq(fl_buf_puts(&b, "x="), 0);
	cr_assert_eq(fl_buf_addf(&b, "%d;%s", 42, "y"), 0);
	cr_assert_str_eq(fl_buf_cstr(&b), "x=42;y");
	cr_assert_eq(b.len, 6);
	fl_buf_clear(&b);
	cr_assert_str_eq(fl_buf_cstr(&b), "");
	cr_assert_eq(b.len, 0);
	fl_buf_release(&b);
}

Test(buf, cap_allows_exactly_max_and_refuses_one_more)
{
	struct fl_buf b;
	char data[100];

	memset(data, 'a', sizeof(data));
	fl_buf_init(&b, 100);
	cr_assert_eq(fl_buf_put(&b, data, 60), 0);
	cr_assert_eq(fl_buf_put(&b, data, 40), 0);
	cr_assert_eq(b.len, 100);
	cr_assert_eq(fl_buf_put(&b, "b", 1), FL_ETOOBIG);
	cr_assert_eq(fl_buf_addf(&b, "%s", "b"), FL_ETOOBIG);
	/* A refused append leaves the content alone. */
	cr_assert_eq(b.len, 100);
	cr_assert_eq(b.ptr[100], '\0');
	cr_assert_eq(b.ptr[99], 'a');
	fl_buf_release(&b);
}

Test(buf, cap_refuses_single_oversize_put)
{
	struct fl_buf b;
	char data[65];

	memset(data, 'z', sizeof(data));
	fl_buf_init(&b, 64);
	cr_assert_eq(fl_buf_put(&b, data, 65), FL_ETOOBIG);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(fl_buf_put(&b, data, 64), 0);
	cr_assert_eq(b.len, 64);
	fl_buf_release(&b);
}

Test(buf, huge_grow_request_is_too_big_not_overflow)
{
	struct fl_buf b = FL_BUF_INIT;

	cr_assert_eq(fl_buf_put(&b, "a", 1), 0);
	cr_assert_eq(fl_buf_grow(&b, (size_t)-1), FL_ETOOBIG);
	cr_assert_eq(fl_buf_grow(&b, (size_t)-1 / 2), FL_ETOOBIG);
	fl_buf_release(&b);
}

Test(buf, detach_hands_over_and_empties)
{
	struct fl_buf b = FL_BUF_INIT;
	char *p;

	cr_assert_eq(fl_buf_puts(&b, "hello"), 0);
	p = fl_buf_detach(&b);
	cr_assert_str_eq(p, "hello");
	cr_assert_null(b.ptr);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, 0);
	free(p);
	/* Reusable after detach. */
	cr_assert_eq(fl_buf_puts(&b, "again"), 0);
	cr_assert_str_eq(fl_buf_cstr(&b), "again");
	fl_buf_release(&b);
}

Test(buf, detach_of_empty_buffer_is_empty_string)
{
	struct fl_buf b = FL_BUF_INIT;
	char *p = fl_buf_detach(&b);

	cr_assert_not_null(p);
	cr_assert_str_eq(p, "");
	free(p);
}

Test(buf, put_of_zero_bytes_terminates)
{
	struct fl_buf b = FL_BUF_INIT;

	cr_assert_eq(fl_buf_put(&b, "", 0), 0);
	cr_assert_not_null(b.ptr);
	cr_assert_str_eq(b.ptr, "");
	fl_buf_release(&b);
}

Test(buf, uvarint_round_trip_and_hostile_input)
{
	static const uint64_t vals[] = {0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, UINT64_MAX};
	struct fl_buf b = FL_BUF_INIT;
	const uint8_t *p, *end;
	uint64_t v;

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		cr_assert_eq(fl_buf_put_uvarint(&b, vals[i]), 0);
	cr_assert_eq(b.len, 1 + 1 + 1 + 2 + 2 + 2 + 3 + 5 + 10);
	p = (const uint8_t *)b.ptr;
	end = p + b.len;
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		cr_assert_eq(fl_uvarint_get(&v, &p, end), 0);
		cr_assert_eq(v, vals[i]);
	}
	cr_assert_eq(p, end);
	/* truncated: nothing consumed */
	p = (const uint8_t *)b.ptr + b.len - 10;
	cr_assert_eq(fl_uvarint_get(&v, &p, end - 1), FL_EINVAL);
	cr_assert_eq(p, (const uint8_t *)b.ptr + b.len - 10);
	/* more than 64 bits */
	{
		const uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
		const uint8_t *q = big;

		cr_assert_eq(fl_uvarint_get(&v, &q, big + sizeof(big)), FL_EINVAL);
	}
	fl_buf_release(&b);
}

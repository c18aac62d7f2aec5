/*
 * fuzz_tz.c - TZif files: the zone database is trusted, but TZDIR can point
 * anywhere, and the reader must hold against any bytes.
 *
 * Whatever parses must answer every instant with an offset within a day,
 * and the same instant the same way twice.
 */
#include "fairlead/tz.h"
#include "fuzz.h"

static int fuzz_one(const uint8_t *data, size_t size)
{
	static const int64_t ts[] = {INT64_MIN,	   -4000000000LL, -1,	     0,	       1774746000LL,
				     2147483647LL, 4128627600LL,  1LL << 40, INT64_MAX};
	uint8_t *copy = malloc(size ? size : 1);
	struct fl_tz *z = NULL;
	struct fl_err err = {0, ""};

	if (!copy)
		abort();
	if (size)
		memcpy(copy, data, size);
	if (fl_tz_parse(&z, copy, size, &err) == 0) {
		FZ_CHECK(z != NULL);
		for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
			int dst = -1;
			int32_t off = fl_tz_offset(z, ts[i], &dst);

			FZ_CHECK(off >= -26 * 3600 && off <= 26 * 3600);
			FZ_CHECK(dst == 0 || dst == 1);
			FZ_CHECK(fl_tz_offset(z, ts[i], NULL) == off);
		}
		fl_tz_free(z);
	} else {
		FZ_CHECK(z == NULL && err.msg[0] != '\0');
	}
	free(copy);
	return 0;
}

FZ_TARGET(fuzz_one)

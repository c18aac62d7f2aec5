/*
 * fuzz_sliline.c - the SLI line protocol, which any local process may write
 * to the agent's socket. Each input is split into lines as the agent does;
 * a parsed line must satisfy the grammar's promises.
 */
#include <math.h>
#include <string.h>

#include "agent/sli.h"
#include "fairlead/util.h"
#include "fuzz.h"

static int fuzz_one(const uint8_t *data, size_t size)
{
	/* An exact-size copy, not NUL-terminated: the parser gets a length. */
	char *buf = malloc(size ? size : 1);
	size_t off = 0;

	if (!buf)
		abort();
	if (size)
		memcpy(buf, data, size);
	while (off < size) {
		const char *nl = memchr(buf + off, '\n', size - off);
		size_t len = nl ? (size_t)(nl - (buf + off)) : size - off;
		struct ag_sli_line l;
		struct fl_err err = {0, ""};

		if (ag_sli_parse_line(&l, buf + off, len, &err) == 0) {
			FZ_CHECK(fl_id_valid(l.model));
			FZ_CHECK(l.kind == AG_SLI_INF || l.kind == AG_SLI_ERR ||
				 l.kind == AG_SLI_HB);
			FZ_CHECK(isfinite(l.lat_ms) && l.lat_ms >= 0);
			FZ_CHECK(l.energy_j < 0 || isfinite(l.energy_j));
			FZ_CHECK(l.nfeatures <= FL_DRIFT_MAX_FEATURES);
			for (size_t i = 0; i < l.nfeatures; i++) {
				FZ_CHECK(l.f[i].name[0] != '\0');
				FZ_CHECK(strlen(l.f[i].name) <= FL_DRIFT_NAME_MAX);
				FZ_CHECK(isfinite(l.f[i].value));
			}
		} else {
			FZ_CHECK(err.msg[0] != '\0');
		}
		off += len + 1;
	}
	free(buf);
	return 0;
}

FZ_TARGET(fuzz_one)

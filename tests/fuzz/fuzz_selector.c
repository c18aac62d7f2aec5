/*
 * fuzz_selector.c - label selectors, typed by operators into the CLI and the
 * console and passed to the server in a query string.
 */
#include <jansson.h>

#include "fairlead/selector.h"
#include "fuzz.h"

static json_t *labels;

static void init(void)
{
	/* Keys that the seeds name, one with a '/', so matches and misses both
	 * happen. Kept for the life of the process: reachable, not leaked. */
	if (!labels)
		labels =
		    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "site", "berlin", "hw", "a", "tier",
			      "gold", "region", "x", "env", "", "example.com/role", "edge");
	if (!labels)
		abort();
}

static int fuzz_one(const uint8_t *data, size_t size)
{
	static const char *const states[] = {"accepted", "decommissioned", "pending"};
	char *expr = fz_strndup(data, size);
	struct fl_selector *s = NULL;
	struct fl_err err = {0, ""};

	init();
	if (fl_selector_parse(&s, expr, &err) == 0) {
		FZ_CHECK(s != NULL);
		for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
			int m = fl_selector_match(s, labels, states[i]);

			FZ_CHECK(m == 0 || m == 1);
		}
		/* Devices without labels reach the matcher as an empty object. */
		{
			json_t *none = json_object();

			FZ_CHECK(none != NULL);
			(void)fl_selector_match(s, none, "accepted");
			json_decref(none);
		}
		fl_selector_free(s);
	} else {
		FZ_CHECK(err.msg[0] != '\0');
	}
	free(expr);
	return 0;
}

FZ_TARGET(fuzz_one)

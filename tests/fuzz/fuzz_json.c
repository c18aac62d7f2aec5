/*
 * fuzz_json.c - request bodies: the strict object parse, the unknown-key
 * refusal and the typed getters every write handler uses.
 */
#include <jansson.h>

#include "fairlead/json.h"
#include "fuzz.h"

static int fuzz_one(const uint8_t *data, size_t size)
{
	static const char *const allowed[] = {"name", "count", "enabled", "labels", NULL};
	json_t *obj = NULL, *any = NULL;
	struct fl_err err = {0, ""};

	/* The bytes go in unterminated, as the parser is given a length. */
	if (fl_json_parse(&any, (const char *)data, size, &err) == 0)
		json_decref(any);
	if (fl_json_parse_object(&obj, (const char *)data, size, &err) < 0) {
		FZ_CHECK(err.code == FL_EINVAL);
		return 0;
	}
	FZ_CHECK(json_is_object(obj));
	(void)fl_json_only(obj, allowed, &err);

	/* Every getter on every key present (the wrong-type branches) and on a
	 * missing one (the required and optional branches). */
	{
		const char *key;
		json_t *v;

		json_object_foreach (obj, key, v) {
			const char *s = NULL;
			int64_t i = 0;
			int b = 0;
			json_t *o = NULL;

			(void)v;
			for (int req = 0; req < 2; req++) {
				if (fl_json_str(&s, obj, key, req, &err) == 0 && s)
					FZ_CHECK(json_is_string(v));
				(void)fl_json_int(&i, obj, key, req, &err);
				(void)fl_json_bool(&b, obj, key, req, &err);
				(void)fl_json_obj(&o, obj, key, req, &err);
			}
		}
		{
			const char *s = "default";

			FZ_CHECK(fl_json_str(&s, obj, "\x01missing", 0, &err) == 0);
			FZ_CHECK(fl_json_str(&s, obj, "\x01missing", 1, &err) == FL_EINVAL);
		}
	}

	/* What the server stores it must be able to read back. */
	{
		char *dump = fl_json_dumps(obj);
		json_t *again = NULL;

		FZ_CHECK(dump != NULL);
		if (fl_json_parse_object(&again, dump, strlen(dump), &err) < 0) {
			fprintf(stderr, "round trip refused: %s: %s\n", err.msg, dump);
			abort();
		}
		json_decref(again);
		free(dump);
	}
	json_decref(obj);
	return 0;
}

FZ_TARGET(fuzz_one)

/*
 * fuzz_yaml.c - the YAML subset parser and the OpenSLO mapping on top of
 * it: operators upload OpenSLO files through the API. The parse with lines
 * gives the same values, and a line between 1 and the input's line count
 * for every one of them.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"
#include "fairlead/yaml.h"
#include "fuzz.h"

/* Every child of v has a line in [1, max]; recursion is bounded by the
 * parser's FL_YAML_MAX_DEPTH. */
static int lines_ok(const struct fl_yaml_lines *l, const json_t *v, int max)
{
	const char *key;
	size_t i;
	json_t *x;

	if (json_is_array(v)) {
		json_array_foreach ((json_t *)(uintptr_t)v, i, x) {
			int n = fl_yaml_index_line(l, v, i);

			if (n < 1 || n > max || !lines_ok(l, x, max))
				return 0;
		}
	} else if (json_is_object(v)) {
		json_object_foreach ((json_t *)(uintptr_t)v, key, x) {
			int n = fl_yaml_key_line(l, v, key);

			if (n < 1 || n > max || !lines_ok(l, x, max))
				return 0;
		}
	}
	return 1;
}

static void fuzz_lines(const uint8_t *data, size_t size, const json_t *docs)
{
	struct fl_yaml_lines *l = NULL;
	json_t *again = NULL;
	int max = 1;

	for (size_t i = 0; i < size; i++)
		max += data[i] == '\n';
	FZ_CHECK(fl_yaml_parse_lines(&again, &l, (const char *)data, size, NULL) == 0);
	FZ_CHECK(json_equal(again, docs));
	FZ_CHECK(lines_ok(l, again, max));
	json_decref(again);
	fl_yaml_lines_free(l);
}

static int fuzz_one(const uint8_t *data, size_t size)
{
	json_t *docs = NULL;
	struct fl_err err = {0, ""};

	if (fl_yaml_parse(&docs, (const char *)data, size, &err) == 0) {
		char *txt;

		fuzz_lines(data, size, docs);
		FZ_CHECK(json_is_array(docs));
		FZ_CHECK(json_array_size(docs) <= FL_YAML_MAX_DOCS);
		/* every value is valid JSON that parses back */
		txt = fl_json_dumps(docs);
		FZ_CHECK(txt != NULL);
		{
			json_t *back = NULL;

			FZ_CHECK(fl_json_parse(&back, txt, strlen(txt), NULL) == 0);
			json_decref(back);
		}
		free(txt);
		json_decref(docs);
	} else {
		struct fl_yaml_lines *l = NULL;

		FZ_CHECK(fl_yaml_parse_lines(&docs, &l, (const char *)data, size, NULL) < 0);
		FZ_CHECK(docs == NULL && l == NULL);
		FZ_CHECK(err.msg[0] != '\0');
	}
	return 0;
}

FZ_TARGET(fuzz_one)

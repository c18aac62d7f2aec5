/*
 * fuzz_yaml.c - the YAML subset parser and the OpenSLO mapping on top of
 * it: operators upload OpenSLO files through the API.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"
#include "fairlead/yaml.h"
#include "fuzz.h"

static int fuzz_one(const uint8_t *data, size_t size)
{
	json_t *docs = NULL;
	struct fl_err err = {0, ""};

	if (fl_yaml_parse(&docs, (const char *)data, size, &err) == 0) {
		char *txt;

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
		FZ_CHECK(docs == NULL);
		FZ_CHECK(err.msg[0] != '\0');
	}
	return 0;
}

FZ_TARGET(fuzz_one)

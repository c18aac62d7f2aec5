/*
 * test_format.c - playbook files: every shipped playbook parses into the
 * canonical JSON, which validates as it is; every file in bad/ is refused
 * at the line and with the message that its first line expects (tests as
 * data: "# expect: LINE: SUBSTRING"; a JSON file's expectation is in
 * NAME.json.expect, JSON having no comments).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/json.h"
#include "fl_test.h"
#include "playbook/format.h"

/* cr_assert of the new API wants an expression that starts with a name,
 * which jansson's json_is_* macros do not. */
static int yes(int v)
{
	return v;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	cr_assert_not_null(f, "open %s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static const char *src_dir(void)
{
	const char *d = getenv("FL_SOURCE_DIR");

	cr_assert(d && *d, "FL_SOURCE_DIR is not set (run through ctest)");
	return d;
}

/* The names in dir ending in suffix, sorted; returns the count. */
static size_t list_dir(char ***out, const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, sl = strlen(suffix);

	cr_assert_not_null(d, "opendir %s", dir);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);

		if (l <= sl || strcmp(e->d_name + l - sl, suffix) != 0)
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		cr_assert_not_null(names);
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char *t = names[j];

			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	*out = names;
	return n;
}

static void free_list(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static json_t *parse_ok(const char *text, const char *file)
{
	struct fl_err err = {0, ""};
	json_t *pb = NULL;

	cr_assert_eq(cp_pb_parse(&pb, text, strlen(text), file, &err), 0, "%s", err.msg);
	cr_assert_not_null(pb);
	return pb;
}

static void json_is(const json_t *got, const char *want)
{
	json_t *w = NULL;
	char *g = fl_json_dumps(got);

	cr_assert_eq(fl_json_parse(&w, want, strlen(want), NULL), 0, "bad test JSON %s", want);
	cr_assert(json_equal(got, w), "got  %s\nwant %s", g, want);
	free(g);
	json_decref(w);
}

/* Every step (and compensation step) of pb has its defaults. */
static void steps_have_defaults(const json_t *steps, int comp)
{
	const json_t *s;
	size_t i;

	cr_assert(yes(json_is_array(steps)));
	json_array_foreach ((json_t *)(uintptr_t)steps, i, s) {
		cr_assert(yes(json_is_object(json_object_get(s, "params"))));
		cr_assert(yes(json_is_integer(json_object_get(s, "timeout_s"))));
		cr_assert(yes(json_is_integer(json_object_get(s, "retries"))));
		cr_assert(yes(json_is_integer(json_object_get(s, "backoff_s"))));
		cr_assert_null(json_object_get(s, "timeout"));
		if (json_object_get(s, "verify"))
			cr_assert(yes(json_is_integer(
			    json_object_get(json_object_get(s, "verify"), "interval_s"))));
		if (json_object_get(s, "on_failure")) {
			cr_assert_eq(comp, 0);
			steps_have_defaults(json_object_get(s, "on_failure"), 1);
		}
	}
}

Test(pb_format, shipped_playbooks_parse_and_validate)
{
	char dir[1024], path[1200], **names;
	size_t n;

	snprintf(dir, sizeof(dir), "%s/playbooks", src_dir());
	n = list_dir(&names, dir, ".yaml");
	cr_assert_geq(n, 5, "the five shipped playbooks");
	for (size_t i = 0; i < n; i++) {
		struct fl_err err = {0, ""};
		json_t *pb = NULL, *again = NULL, *br;
		size_t len;
		char *text;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		text = slurp(path, &len);
		cr_assert_eq(cp_pb_parse(&pb, text, len, names[i], &err), 0, "%s", err.msg);
		/* the file's name is the playbook's */
		cr_assert_eq(strncmp(names[i], json_string_value(json_object_get(pb, "name")),
				     strlen(names[i]) - 5),
			     0, "%s", names[i]);
		cr_assert(yes(json_is_boolean(json_object_get(pb, "enabled"))));
		br = json_object_get(pb, "blast_radius");
		cr_assert(yes(json_is_integer(json_object_get(br, "concurrency"))), "%s", names[i]);
		cr_assert(json_object_get(br, "max_devices") ||
			  json_object_get(br, "max_devices_pct"));
		steps_have_defaults(json_object_get(pb, "steps"), 0);
		if (json_object_get(pb, "approval"))
			cr_assert(yes(json_is_integer(
			    json_object_get(json_object_get(pb, "approval"), "expires_s"))));
		/* the canonical form validates, and is its own canonical form */
		cr_assert_eq(cp_pb_validate(pb, &err), 0, "%s: %s", names[i], err.msg);
		cr_assert_eq(cp_pb_canonical(&again, pb, &err), 0, "%s", err.msg);
		cr_assert(json_equal(again, pb), "%s: canonical form not stable", names[i]);
		json_decref(again);
		json_decref(pb);
		free(text);
	}
	free_list(names, n);
}

Test(pb_format, defaults_are_filled_in)
{
	json_t *pb = parse_ok("name: min\n"
			      "version: 1\n"
			      "trigger: {type: manual}\n"
			      "steps:\n"
			      "  - {name: s, action: wait, params: {for: 90s}}\n",
			      "min.yaml");

	json_is(pb, "{\"name\":\"min\",\"version\":1,\"enabled\":true,"
		    "\"trigger\":{\"type\":\"manual\"},"
		    "\"blast_radius\":{\"max_devices\":100,\"concurrency\":10},"
		    "\"steps\":[{\"name\":\"s\",\"action\":\"wait\",\"params\":{\"for_s\":90},"
		    "\"timeout_s\":60,\"retries\":0,\"backoff_s\":5}]}");
	json_decref(pb);
}

Test(pb_format, every_section_in_canonical_form)
{
	json_t *pb =
	    parse_ok("name: all\n"
		     "version: 7\n"
		     "description: ''\n"
		     "enabled: false\n"
		     "trigger:\n"
		     "  type: schedule\n"
		     "  cron: '*/15 0-6 1,15 * 1-5'\n"
		     "condition: 'event.x == 1'\n"
		     "throttle:\n"
		     "  threshold: {count: 5, within: 2h}\n"
		     "targets:\n"
		     "  selector: 'site={{ event.site }}'\n"
		     "  where: 'device.labels.hw == \"v2\"'\n"
		     "blast_radius:\n"
		     "  max_devices: 25%\n"
		     "  per_label: {label: site, max: 3}\n"
		     "  halt_on_burn: {slo: fleet-latency, factor: 2.5}\n"
		     "approval:\n"
		     "  required: 2\n"
		     "steps:\n"
		     "  - name: lbl\n"
		     "    action: device.label\n"
		     "    params: {set: {tier: '{{ event.tier }}'}}\n"
		     "    timeout: 1d\n"
		     "    backoff: 1m\n"
		     "    retries: 10\n"
		     "    verify: {condition: 'results.ok_ratio > 0.5', timeout: 10m}\n"
		     "    on_failure:\n"
		     "      - name: undo_1\n"
		     "        action: device.label\n"
		     "        params: {remove: [tier]}\n"
		     "  - name: cmd\n"
		     "    action: device.command\n"
		     "    params: {type: reboot}\n"
		     "  - name: hook\n"
		     "    action: webhook\n"
		     "    params: {url: 'https://h.example/x', secret_env: HOOK_KEY, body: {n: [1, "
		     "'{{ event.n }}']}}\n"
		     "  - name: al\n"
		     "    action: alert.resolve\n"
		     "    params: {name: 'a-{{ event.site }}'}\n",
		     "all.yaml");

	json_is(
	    pb,
	    "{\"name\":\"all\",\"version\":7,\"description\":\"\",\"enabled\":false,"
	    "\"trigger\":{\"type\":\"schedule\",\"cron\":\"*/15 0-6 1,15 * 1-5\",\"tz\":\"UTC\"},"
	    "\"condition\":\"event.x == 1\","
	    "\"throttle\":{\"threshold\":{\"count\":5,\"within_s\":7200},\"key\":[]},"
	    "\"targets\":{\"selector\":\"site={{ event.site }}\","
	    "\"where\":\"device.labels.hw == \\\"v2\\\"\"},"
	    "\"blast_radius\":{\"max_devices_pct\":25,\"concurrency\":10,"
	    "\"per_label\":{\"label\":\"site\",\"max\":3},"
	    "\"halt_on_burn\":{\"slo\":\"fleet-latency\",\"factor\":2.5}},"
	    "\"approval\":{\"required\":2,\"roles\":[\"admin\"],\"expires_s\":3600},"
	    "\"steps\":["
	    "{\"name\":\"lbl\",\"action\":\"device.label\","
	    "\"params\":{\"set\":{\"tier\":\"{{ event.tier }}\"},\"remove\":[]},"
	    "\"timeout_s\":86400,\"retries\":10,\"backoff_s\":60,"
	    "\"verify\":{\"condition\":\"results.ok_ratio > 0.5\",\"timeout_s\":600,"
	    "\"interval_s\":30},"
	    "\"on_failure\":[{\"name\":\"undo_1\",\"action\":\"device.label\","
	    "\"params\":{\"set\":{},\"remove\":[\"tier\"]},\"timeout_s\":60,\"retries\":0,"
	    "\"backoff_s\":5}]},"
	    "{\"name\":\"cmd\",\"action\":\"device.command\",\"params\":{\"type\":\"reboot\","
	    "\"deliver_by_s\":3600},\"timeout_s\":60,\"retries\":0,\"backoff_s\":5},"
	    "{\"name\":\"hook\",\"action\":\"webhook\",\"params\":{\"url\":\"https://h.example/x\","
	    "\"body\":{\"n\":[1,\"{{ event.n "
	    "}}\"]},\"secret_env\":\"HOOK_KEY\"},\"timeout_s\":60,\"retries\":0,"
	    "\"backoff_s\":5},"
	    "{\"name\":\"al\",\"action\":\"alert.resolve\",\"params\":{\"name\":\"a-{{ event.site "
	    "}}\"},\"timeout_s\":60,\"retries\":0,\"backoff_s\":5}]}");
	{
		struct fl_err err = {0, ""};

		cr_assert_eq(cp_pb_validate(pb, &err), 0, "%s", err.msg);
	}
	json_decref(pb);
}

/* "# expect: LINE: SUBSTRING" */
static void read_expect(int *line, char *sub, size_t cap, const char *text, const char *name)
{
	int off = 0;
	const char *nl;

	cr_assert_eq(sscanf(text, "# expect: %d: %n", line, &off), 1,
		     "%s: the first line is not '# expect: LINE: SUBSTRING'", name);
	nl = strchr(text + off, '\n');
	cr_assert_not_null(nl, "%s", name);
	cr_assert_lt((size_t)(nl - text - off), cap);
	memcpy(sub, text + off, (size_t)(nl - text - off));
	sub[nl - text - off] = '\0';
}

Test(pb_format, bad_files_name_the_line_and_the_problem)
{
	char dir[1024], path[1200], **names;
	size_t n, checked = 0;

	snprintf(dir, sizeof(dir), "%s/tests/controlplane/playbook/bad", src_dir());
	n = list_dir(&names, dir, "");
	for (size_t i = 0; i < n; i++) {
		const char *nm = names[i];
		size_t l = strlen(nm), len, elen;
		int is_json = l > 5 && !strcmp(nm + l - 5, ".json");
		struct fl_err err = {0, ""};
		char sub[512], file[256], want[300], *text, *expect;
		json_t *pb = (json_t *)1;
		int line = 0;

		if (!is_json && !(l > 5 && !strcmp(nm + l - 5, ".yaml")))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, nm);
		text = slurp(path, &len);
		if (is_json) {
			snprintf(path, sizeof(path), "%s/%s.expect", dir, nm);
			expect = slurp(path, &elen);
		} else {
			expect = text;
		}
		read_expect(&line, sub, sizeof(sub), expect, nm);
		snprintf(file, sizeof(file), "bad/%s", nm);
		/* expect, not assert: one run lists every bad file that fails */
		cr_expect_eq(cp_pb_parse(&pb, text, len, file, &err), FL_EINVAL, "%s accepted", nm);
		cr_expect_null(pb, "%s: nothing is returned on error", nm);
		snprintf(want, sizeof(want), "%s:%d: ", file, line);
		cr_expect_eq(strncmp(err.msg, want, strlen(want)), 0,
			     "%s: '%s' does not start '%s'", nm, err.msg, want);
		cr_expect_not_null(strstr(err.msg, sub), "%s: '%s' lacks '%s'", nm, err.msg, sub);
		if (pb != (json_t *)1)
			json_decref(pb);
		if (is_json)
			free(expect);
		free(text);
		checked++;
	}
	free_list(names, n);
	cr_assert_geq(checked, 30, "only %zu bad files", checked);
}

Test(pb_format, oversize_input)
{
	size_t n = CP_PB_MAX_BYTES + 1;
	char *big = malloc(n);
	struct fl_err err = {0, ""};
	json_t *pb = NULL;

	cr_assert_not_null(big);
	memset(big, '#', n);
	for (size_t i = 79; i < n; i += 80)
		big[i] = '\n';
	cr_assert_eq(cp_pb_parse(&pb, big, n, "big.yaml", &err), FL_ETOOBIG);
	cr_assert_null(pb);
	cr_assert_not_null(strstr(err.msg, "big.yaml: 262145 bytes, more than the 262144"), "%s",
			   err.msg);
	/* at the limit, a comment-only file is just empty */
	cr_assert_eq(cp_pb_parse(&pb, big, n - 1, "big.yaml", &err), FL_EINVAL);
	cr_assert_not_null(strstr(err.msg, "empty"), "%s", err.msg);
	free(big);
}

Test(pb_format, json_files_and_line_endings)
{
	const char *j = "{\"name\": \"j\", \"version\": 2, \"trigger\": {\"type\": "
			"\"device.offline\", \"for\": \"10m\", \"labels\": {\"site\": \"b\"}},\n"
			" \"steps\": [{\"name\": \"w\", \"action\": \"wait\", \"params\": "
			"{\"for\": \"5s\"}, \"timeout\": \"2h\"}]}\n";
	const char *crlf = "name: c\r\nversion: 1\r\ntrigger:\r\n  type: manual\r\n"
			   "steps:\r\n  - name: s\r\n    action: wait\r\n    params: {for: 1m}\r\n";
	json_t *pb = parse_ok(j, "j.json");

	cr_assert_eq(json_integer_value(json_object_get(json_object_get(pb, "trigger"), "for_s")),
		     600);
	cr_assert_eq(json_integer_value(json_object_get(
			 json_array_get(json_object_get(pb, "steps"), 0), "timeout_s")),
		     7200);
	json_decref(pb);
	pb = parse_ok(crlf, "c.yaml");
	json_decref(pb);
	pb =
	    parse_ok("\n  \t{\"name\": \"s\", \"version\": 1, \"trigger\": {\"type\": \"manual\"}, "
		     "\"steps\": [{\"name\": \"s\", \"action\": \"wait\", \"params\": {\"for\": "
		     "\"1s\"}}]}",
		     NULL);
	json_decref(pb);
}

static void canon_refused(const char *json, const char *msg)
{
	struct fl_err err = {0, ""};
	json_t *v = NULL, *out = (json_t *)1;

	cr_assert_eq(fl_json_parse(&v, json, strlen(json), NULL), 0, "bad test JSON %s", json);
	cr_assert_eq(cp_pb_validate(v, &err), FL_EINVAL, "accepted: %s", json);
	cr_assert_str_eq(err.msg, msg);
	cr_assert_eq(cp_pb_canonical(&out, v, &err), FL_EINVAL);
	cr_assert_null(out);
	json_decref(v);
}

#define CANON_HEAD "{\"name\":\"c\",\"version\":1,\"trigger\":{\"type\":\"manual\"},"

Test(pb_format, validate_names_the_json_path)
{
	struct fl_err err = {0, ""};
	json_t *v = NULL, *out = NULL;
	const char *ok = CANON_HEAD "\"steps\":[{\"name\":\"s\",\"action\":\"wait\","
				    "\"params\":{\"for_s\":60}}]}";

	/* defaults may be absent; cp_pb_canonical fills them in */
	cr_assert_eq(fl_json_parse(&v, ok, strlen(ok), NULL), 0);
	cr_assert_eq(cp_pb_validate(v, &err), 0, "%s", err.msg);
	cr_assert_eq(cp_pb_canonical(&out, v, &err), 0, "%s", err.msg);
	cr_assert_eq(json_integer_value(json_object_get(
			 json_array_get(json_object_get(out, "steps"), 0), "timeout_s")),
		     60);
	json_decref(out);
	json_decref(v);

	canon_refused(CANON_HEAD
		      "\"steps\":[{\"name\":\"a\",\"action\":\"wait\",\"params\":{\"for_"
		      "s\":1}},{\"name\":\"b\",\"action\":\"wait\",\"params\":{\"for_s\":1}},"
		      "{\"name\":\"c\",\"action\":\"x\"}]}",
		      "steps[2].action: unknown action 'x' (rollout.pause|resume|abort, "
		      "release.rollback, device.quarantine|revoke|accept|label|command, webhook, "
		      "alert.raise|resolve, wait)");
	canon_refused(CANON_HEAD "\"steps\":[{\"name\":\"s\",\"action\":\"wait\","
				 "\"params\":{\"for\":\"1m\"}}]}",
		      "steps[0].params.for: unknown field in wait params (canonical JSON gives "
		      "durations in seconds, as NAME_s) (allowed: for_s)");
	canon_refused(CANON_HEAD "\"steps\":[{\"name\":\"s\",\"action\":\"wait\","
				 "\"params\":{\"for_s\":\"1m\"}}]}",
		      "steps[0].params.for_s: expected an integer (seconds), not a string");
	canon_refused(CANON_HEAD "\"steps\":[{\"name\":\"s\",\"action\":\"wait\","
				 "\"params\":{\"for_s\":2592001}}]}",
		      "steps[0].params.for_s: 2592001 is out of range 1..2592000 (1s..30d)");
	canon_refused(CANON_HEAD "\"blast_radius\":{\"max_devices\":5,\"max_devices_pct\":5},"
				 "\"steps\":[{\"name\":\"s\",\"action\":\"wait\","
				 "\"params\":{\"for_s\":1}}]}",
		      "blast_radius: give one of max_devices and max_devices_pct");
	canon_refused(CANON_HEAD "\"blast_radius\":{\"max_devices\":\"10%\"},"
				 "\"steps\":[{\"name\":\"s\",\"action\":\"wait\","
				 "\"params\":{\"for_s\":1}}]}",
		      "blast_radius.max_devices: expected an integer, not a string");
	canon_refused(CANON_HEAD "\"steps\":[{\"name\":\"s\",\"action\":\"wait\","
				 "\"params\":{\"for_s\":1},\"description\":null}]}",
		      "steps[0].description: unknown field in a step (allowed: name, action, "
		      "params, timeout_s, retries, backoff_s, on_failure, verify)");
	canon_refused("[]", "a playbook is an object of fields, not a list");
	canon_refused("{\"version\":1}", "missing field 'name'");
	canon_refused(CANON_HEAD
		      "\"steps\":[{\"name\":\"s\",\"action\":\"wait\",\"params\":{\"for_s\":"
		      "1},\"on_failure\":[{\"name\":\"s\",\"action\":\"wait\",\"params\":{"
		      "\"for_s\":1}}]}]}",
		      "steps[0].on_failure[0].name: step name 's' is taken by steps[0]");
	cr_assert_eq(cp_pb_validate(NULL, &err), FL_EINVAL);
}

Test(pb_format, no_err_and_no_data)
{
	struct fl_err err = {0, ""};
	json_t *pb = (json_t *)1;

	cr_assert_eq(cp_pb_parse(&pb, "name: x\n", 8, "x.yaml", NULL), FL_EINVAL);
	cr_assert_null(pb);
	cr_assert_eq(cp_pb_parse(&pb, NULL, 0, "", &err), FL_EINVAL);
	cr_assert_str_eq(err.msg, "playbook:1: no playbook: the file is empty");
	cr_assert_eq(cp_pb_validate(NULL, NULL), FL_EINVAL);
}

Test(pb_format, a_string_with_a_nul_byte)
{
	const char *j = "{\"name\": \"x\", \"version\": 1, \"trigger\": {\"type\": \"manual\"},\n"
			"\"description\": \"a\\u0000b\",\n"
			"\"steps\": [{\"name\": \"s\", \"action\": \"wait\", \"params\": {\"for\": "
			"\"1s\"}}]}";
	struct fl_err err = {0, ""};
	json_t *pb = NULL;

	cr_assert_eq(cp_pb_parse(&pb, j, strlen(j), "n.json", &err), FL_EINVAL);
	cr_assert_str_eq(err.msg, "n.json:2: description: NUL byte in a string");
}

/* A webhook whose body is {"a": [[...]]} with k lists, in JSON. */
static size_t deep_body(char *buf, size_t cap, int k)
{
	size_t m = (size_t)snprintf(buf, cap,
				    "{\"name\": \"d\", \"version\": 1, \"trigger\": {\"type\": "
				    "\"manual\"},\n\"steps\": [{\"name\": \"s\", \"action\": "
				    "\"webhook\", \"params\": {\n\"url\": \"https://x.example/\", "
				    "\"secret_env\": \"K\",\n"
				    "\"body\": {\"a\": ");

	for (int i = 0; i < k; i++)
		buf[m++] = '[';
	for (int i = 0; i < k; i++)
		buf[m++] = ']';
	m += (size_t)snprintf(buf + m, cap - m, "}}}]}\n");
	return m;
}

Test(pb_format, deep_free_form_values_are_bounded)
{
	const char *y = "name: d\nversion: 1\ntrigger: {type: manual}\nsteps:\n"
			"  - name: s\n    action: webhook\n    params:\n"
			"      url: https://x.example/\n      body: [1]\n";
	char buf[4096];
	struct fl_err err = {0, ""};
	json_t *pb = NULL;
	size_t m;

	/* YAML nests at most 32 collections in all, so a body cannot get
	 * deeper than FL_JSON_DOC_DEPTH there; JSON can, up to 64 */
	m = deep_body(buf, sizeof(buf), 32);
	cr_assert_eq(cp_pb_parse(&pb, buf, m, "d.json", &err), FL_EINVAL);
	cr_assert_str_eq(err.msg, "d.json:4: steps[0].params.body: nested deeper than 32 levels");
	m = deep_body(buf, sizeof(buf), 31);
	cr_assert_eq(cp_pb_parse(&pb, buf, m, "d.json", &err), 0, "%s", err.msg);
	json_decref(pb);
	cr_assert_eq(cp_pb_parse(&pb, y, strlen(y), "d.yaml", &err), FL_EINVAL);
	cr_assert_str_eq(err.msg, "d.yaml:9: steps[0].params.body: expected a mapping, not a list");
}

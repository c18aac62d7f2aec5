/*
 * load.c - the playbook directory, read at start. Every file is parsed and
 * checked before the store sees any of them, so that one bad file leaves the
 * previous set in place and the message names that file.
 */
#include "playbook/load.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/buf.h"
#include "fairlead/fs.h"
#include "fairlead/log.h"
#include "fairlead/util.h"
#include "playbook/format.h"

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && strcmp(s + n - m, suf) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

int cp_pb_key_line(const char *text, size_t len, const char *key)
{
	size_t klen = strlen(key), i = 0;
	int line = 1, json;

	while (i < len && strchr(" \t\r\n", text[i]))
		i++;
	json = i < len && text[i] == '{';
	for (i = 0; i < len; line++) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) : len;

		if (!json) {
			size_t j = i + klen;

			if (end - i > klen && memcmp(text + i, key, klen) == 0) {
				while (j < end && text[j] == ' ')
					j++;
				if (j < end && text[j] == ':')
					return line;
			}
		} else {
			for (size_t p = i; p + klen + 2 <= end; p++) {
				size_t j = p + klen + 2;

				if (text[p] != '"' || memcmp(text + p + 1, key, klen) != 0 ||
				    text[p + klen + 1] != '"')
					continue;
				while (j < end && (text[j] == ' ' || text[j] == '\t'))
					j++;
				if (j < end && text[j] == ':')
					return line;
			}
		}
		i = end + 1;
	}
	return 1;
}

static void names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The playbook files of dir, sorted; none when dir does not exist. */
static int dir_names(char ***out, size_t *n, const char *dir, struct fl_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t cap = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT
			   ? 0
			   : fl_err_set(err, FL_ERROR, "cannot read playbook directory %s: %s", dir,
					strerror(errno));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' ||
		    !(has_suffix(de->d_name, ".yaml") || has_suffix(de->d_name, ".yml") ||
		      has_suffix(de->d_name, ".json")))
			continue;
		if (*n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*nn));

			if (!nn) {
				rc = fl_err_set(err, FL_ENOMEM, "out of memory");
				goto cleanup;
			}
			names = nn;
		}
		if (!(names[*n] = strdup(de->d_name))) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
		(*n)++;
	}
	if (*n)
		qsort(names, *n, sizeof(*names), cmp_str);
cleanup:
	closedir(d);
	if (rc < 0) {
		names_free(names, *n);
		*n = 0;
		return rc;
	}
	*out = names;
	return 0;
}

/* Parses dir/fname into defs; origin maps each name to {"file","version_line"}. */
static int load_file(json_t *defs, json_t *origin, const char *dir, const char *fname,
		     struct fl_err *err)
{
	struct fl_buf b = FL_BUF_INIT;
	json_t *def = NULL, *prev, *o;
	const char *name;
	char path[4096];
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, fname) >= sizeof(path))
		return fl_err_set(err, FL_EINVAL, "bad playbook file: path too long: %s/%.64s", dir,
				  fname);
	/* one byte over the limit, so that cp_pb_parse says what the limit is */
	fl_buf_init(&b, CP_PB_MAX_BYTES + 1);
	rc = fl_fs_read(&b, path, err);
	if (rc == 0)
		rc = cp_pb_parse(&def, fl_buf_cstr(&b), b.len, path, err);
	if (rc < 0) {
		fl_err_prefix(err, "bad playbook file");
		goto cleanup;
	}
	name = json_string_value(json_object_get(def, "name"));
	if ((prev = json_object_get(origin, name))) {
		rc = fl_err_set(err, FL_EINVAL,
				"bad playbook file: %s:%d: playbook '%s' is also defined in %s",
				path, cp_pb_key_line(fl_buf_cstr(&b), b.len, "name"), name,
				base_name(json_string_value(json_object_get(prev, "file"))));
		goto cleanup;
	}
	o = json_pack("{s:s,s:i}", "file", path, "version_line",
		      cp_pb_key_line(fl_buf_cstr(&b), b.len, "version"));
	if (!o || json_object_set_new(origin, name, o) < 0 || json_array_append(defs, def) < 0)
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
cleanup:
	fl_buf_release(&b);
	json_decref(def);
	return rc;
}

/* 1 when a and b are equal but for "enabled" (the store's rule). */
static int same_content(json_t *a, json_t *b)
{
	const char *k;
	json_t *v;
	size_t na = 0, nb = 0;

	if (!json_is_object(a) || !json_is_object(b))
		return 0;
	json_object_foreach (a, k, v) {
		if (strcmp(k, "enabled") == 0)
			continue;
		na++;
		if (!json_equal(v, json_object_get(b, k)))
			return 0;
	}
	json_object_foreach (b, k, v)
		nb += strcmp(k, "enabled") != 0;
	return na == nb;
}

/* The store refuses a def that breaks the version rule too, inside its
 * transaction; checking here first lets the message name the file. */
static int check_versions(const json_t *defs, const json_t *origin, const json_t *stored,
			  struct fl_err *err)
{
	size_t i, j;

	for (i = 0; i < json_array_size(defs); i++) {
		json_t *d = json_array_get(defs, i), *row = NULL;
		const char *name = json_string_value(json_object_get(d, "name"));
		const json_t *o = json_object_get(origin, name);
		const char *file = json_string_value(json_object_get(o, "file"));
		int line = (int)json_integer_value(json_object_get(o, "version_line"));
		json_int_t v = json_integer_value(json_object_get(d, "version")), sv;

		for (j = 0; j < json_array_size(stored) && !row; j++)
			if (strcmp(json_string_value(
				       json_object_get(json_array_get(stored, j), "name")),
				   name) == 0)
				row = json_array_get(stored, j);
		if (!row)
			continue;
		sv = json_integer_value(json_object_get(row, "version"));
		if (v < sv)
			return fl_err_set(err, FL_ECONFLICT,
					  "bad playbook file: %s:%d: version %lld of playbook '%s' "
					  "is older than the stored version %lld (a change takes a "
					  "higher version)",
					  file, line, (long long)v, name, (long long)sv);
		if (v == sv && !same_content(json_object_get(row, "definition"), d))
			return fl_err_set(err, FL_ECONFLICT,
					  "bad playbook file: %s:%d: playbook '%s' changed but "
					  "kept version %lld (a change takes a higher version)",
					  file, line, name, (long long)v);
		if (strcmp(json_string_value(json_object_get(row, "source")), "api") == 0)
			fl_log(FL_LOG_WARN,
			       "playbook %s from %s replaces the one stored through the API", name,
			       file);
	}
	return 0;
}

int cp_pb_load_dir(size_t *n, struct cp_store *store, const char *dir, struct fl_err *err)
{
	json_t *defs = NULL, *origin = NULL, *stored = NULL;
	char **names = NULL;
	size_t nnames = 0;
	int rc;

	if (n)
		*n = 0;
	if ((rc = dir_names(&names, &nnames, dir, err)) < 0)
		return rc;
	defs = json_array();
	origin = json_object();
	if (!defs || !origin) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < nnames; i++)
		if ((rc = load_file(defs, origin, dir, names[i], err)) < 0)
			goto cleanup;
	if ((rc = cp_store_playbooks_list(&stored, store, err)) < 0 ||
	    (rc = check_versions(defs, origin, stored, err)) < 0)
		goto cleanup;
	if ((rc = cp_store_playbooks_replace_files(store, defs, fl_now(), err)) < 0) {
		fl_err_prefix(err, "playbook directory %s", dir);
		goto cleanup;
	}
	if (n)
		*n = json_array_size(defs);
	if (nnames)
		fl_log(FL_LOG_INFO, "loaded %zu playbooks from %s", json_array_size(defs), dir);
cleanup:
	names_free(names, nnames);
	json_decref(defs);
	json_decref(origin);
	json_decref(stored);
	return rc;
}

/*
 * load.h - the playbook directory (DATA/playbooks.d): playbook files an
 * operator keeps next to the server, loaded when it starts.
 */
#ifndef CP_PLAYBOOK_LOAD_H
#define CP_PLAYBOOK_LOAD_H

#include <stddef.h>

#include "fairlead/err.h"
#include "store/store.h"

/* Parses every DIR/\*.yaml, *.yml and *.json (sorted by name; names that
 * start with '.' are skipped) with cp_pb_parse and makes them the store's
 * file-sourced playbooks in one transaction (cp_store_playbooks_replace_files):
 * a playbook whose file is gone is deleted, and a missing directory holds
 * none. A playbook loaded again at the same version and content keeps an
 * enable or disable made through the API.
 *
 * All or nothing: nothing changes when a file cannot be read or parsed
 * (FL_EINVAL, FL_ETOOBIG, FL_ERROR), when two files define one name
 * (FL_EINVAL), or when a file breaks the version rule of
 * cp_store_playbook_put against the stored playbook (FL_ECONFLICT: a
 * change needs a higher version). The message names the file and the line:
 * "bad playbook file: PATH:LINE: what". *n (may be NULL) is the number of
 * playbooks loaded. */
int cp_pb_load_dir(size_t *n, struct cp_store *store, const char *dir, struct fl_err *err);

/* The 1-based line of the first top-level key of a playbook file's text: in
 * YAML a line starting "KEY:", in JSON (first non-space byte '{') the first
 * "KEY" followed by ':'. 1 when there is none. For messages about a field
 * that cp_pb_parse accepted. */
int cp_pb_key_line(const char *text, size_t len, const char *key);

#endif

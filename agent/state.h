/*
 * state.h - the agent's state directory, every file written atomically
 * (fl_fs_write_atomic), so a SIGKILL at any moment leaves each readable:
 *
 *   device.key      the identity key (key.h)
 *   identity.json   {"device_id","keyid","server","enrolled_at","state"}
 *   desired.json    {"desired_version":N,"desired":{...}}: the twin as applied
 *   results.json    {"pending":[RESULT...]}: command results not yet
 *                   acknowledged by a successful check-in, and what keeps
 *                   hooks from running twice ("ran", "running", "reboot":
 *                   see poll.h)
 *   lock            flock(2)ed by the one agent process using the directory;
 *                   holds its pid (informational: the lock is what counts)
 *
 * Loaders return FL_ENOTFOUND for an absent file and FL_EINVAL with a message
 * naming the file for a corrupt one.
 */
#ifndef AG_STATE_H
#define AG_STATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fairlead/crypto.h"
#include "fairlead/err.h"

#define AG_PATH_MAX	 4096
#define AG_IDENTITY_FILE "identity.json"
#define AG_DESIRED_FILE	 "desired.json"
#define AG_RESULTS_FILE	 "results.json"
#define AG_LOCK_FILE	 "lock"

struct ag_identity {
	char device_id[65];
	char keyid[FL_KEYID_LEN + 1];
	char server[1024];
	int64_t enrolled_at;
	char state[32];
};

/* dir + "/" + name into out; FL_EINVAL when it does not fit. */
int ag_state_path(char *out, size_t cap, const char *dir, const char *name, struct fl_err *err);
/* Creates dir (and parents) with mode 0700 when absent. */
int ag_state_dir_init(const char *dir, struct fl_err *err);
/* 1 when dir/name exists. */
int ag_state_exists(const char *dir, const char *name);

/* Takes the exclusive lock of dir for the life of the process: *out_fd is
 * the open (close-on-exec, so hooks do not inherit it) descriptor to keep;
 * closing it or exiting releases the lock. FL_ECONFLICT naming the holder's
 * pid when another process holds it; FL_ENOTFOUND when dir does not exist. */
int ag_state_lock(int *out_fd, const char *dir, struct fl_err *err);

/* Reads dir/name as a JSON object of at most cap bytes (caller owns *out).
 * FL_ENOTFOUND when absent; FL_EINVAL naming the file when corrupt. */
int ag_state_read_json(json_t **out, const char *dir, const char *name, size_t cap,
		       struct fl_err *err);
/* Writes v to dir/name atomically (temp, fsync, rename, fsync dir), mode 0600. */
int ag_state_write_json(const char *dir, const char *name, const json_t *v, struct fl_err *err);

int ag_state_load_identity(struct ag_identity *out, const char *dir, struct fl_err *err);
int ag_state_save_identity(const struct ag_identity *id, const char *dir, struct fl_err *err);

/* Absent file: an empty object and version 0. *desired is caller-owned. */
int ag_state_load_desired(json_t **desired, int64_t *version, const char *dir, struct fl_err *err);
int ag_state_save_desired(const char *dir, const json_t *desired, int64_t version,
			  struct fl_err *err);

/* Absent file: {"pending":[]}. *out is caller-owned. */
int ag_state_load_results(json_t **out, const char *dir, struct fl_err *err);
int ag_state_save_results(const char *dir, const json_t *results, struct fl_err *err);

#endif

/*
 * proc.h - the agent's one way to run another program: a release's install
 * hook and health command (update.c) and the device's command hooks
 * (commands.c).
 *
 * The child runs in a process group of its own, so a timeout kills whatever
 * it spawned too, with SIGPIPE at its default and without the agent's
 * close-on-exec descriptors (the state lock). No shell is involved: path is
 * executed as given (a caller that wants a shell passes /bin/sh -c).
 */
#ifndef AG_PROC_H
#define AG_PROC_H

#include <stddef.h>
#include <stdint.h>

#include "fairlead/buf.h"
#include "fairlead/err.h"

struct ag_proc_opts {
	const char *path;	 /* executed with execve: no PATH search */
	const char *const *argv; /* NULL-terminated, argv[0] included */
	const char *const *env;	 /* "NAME=VALUE" set on top of the agent's
				  * environment, NULL-terminated; NULL: none */
	const char *cwd;	 /* NULL: the agent's */
	const char *in;		 /* written to stdin, then closed; NULL: /dev/null */
	size_t in_len;
	size_t out_max; /* 0: stdout is the agent's; else captured, the first
			 * out_max bytes kept and the rest read and dropped */
	size_t err_max; /* the same for stderr */
	int64_t timeout_ms;
};

struct ag_proc_result {
	int exited;    /* 1: it exited and code is its status; 0: code is the signal */
	int code;      /* exit status or the signal that ended it */
	int timed_out; /* killed (SIGKILL to its group) at the timeout */
	int out_over;  /* stdout went past out_max */
	int err_over;  /* stderr went past err_max */
	struct fl_buf out, err;
};

/* Runs o->path until it exits or o->timeout_ms passes. 0 once it ran,
 * whatever its status (see *res); < 0 when it could not be started. A child
 * that cannot exec exits 127 after saying so on its stderr. *res is always
 * initialised; ag_proc_result_release() frees it (also after a failure). */
int ag_proc_run(struct ag_proc_result *res, const struct ag_proc_opts *o, struct fl_err *err);
void ag_proc_result_release(struct ag_proc_result *res);

/* "NAME=VALUE" for ag_proc_opts.env, a new string (free() it); NULL on OOM. */
char *ag_proc_env(const char *name, const char *value);

#endif

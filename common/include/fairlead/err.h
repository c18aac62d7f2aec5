/*
 * err.h - the one error contract of Fairlead.
 *
 * Functions return 0 on success or a negative FL_E* code. When the caller
 * passes a struct fl_err, the failing function records the code and a short
 * message in it (lower case, no full stop, subject first). The HTTP layer maps
 * codes to statuses in one table (controlplane/api/errors.c).
 */
#ifndef FAIRLEAD_ERR_H
#define FAIRLEAD_ERR_H

#include <stddef.h>

#if defined(__GNUC__)
#define FL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define FL_WARN_UNUSED	__attribute__((warn_unused_result))
#else
#define FL_PRINTF(a, b)
#define FL_WARN_UNUSED
#endif

enum {
	FL_OK = 0,
	FL_ERROR = -1,	    /* generic: I/O, corruption, a dependency failed */
	FL_ENOMEM = -2,	    /* allocation failed */
	FL_EINVAL = -3,	    /* the caller's input is wrong (HTTP 400) */
	FL_ENOTFOUND = -4,  /* no such object (404) */
	FL_EEXISTS = -5,    /* already exists (409) */
	FL_ECONFLICT = -6,  /* state precondition failed (409) */
	FL_EUNAUTH = -7,    /* no or bad credentials (401) */
	FL_EFORBIDDEN = -8, /* credentials fine, not allowed (403) */
	FL_ETOOBIG = -9,    /* over a size limit (413) */
	FL_EAGAIN = -10,    /* try again later: busy, rate limited (429/503) */
	FL_ETIMEOUT = -11,  /* took too long */
	FL_EGONE = -12,	    /* expired or used up (410) */
	FL_ETLS = -13,	    /* a TLS handshake or certificate failed */
	FL_EUNAVAIL = -14,  /* temporarily unavailable, the client retries (503) */
};

/* Caller-owned, fixed size, no allocation: safe on any thread and in OOM. */
struct fl_err {
	int code;
	char msg[256];
};

/* Records code and message (when err != NULL) and returns code, so that a call
 * site can write: return fl_err_set(err, FL_ENOTFOUND, "device '%s'", id); */
int fl_err_set(struct fl_err *err, int code, const char *fmt, ...) FL_PRINTF(3, 4);

/* Prefixes context to the message already in err; returns err->code. */
int fl_err_prefix(struct fl_err *err, const char *fmt, ...) FL_PRINTF(2, 3);

/* Empties err. */
void fl_err_clear(struct fl_err *err);

/* A stable snake_case name for a code ("not_found"), never NULL. */
const char *fl_err_name(int code);

#endif

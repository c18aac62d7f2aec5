/*
 * tz.h - IANA time zones from the system's TZif files (RFC 8536), without
 * the process-wide TZ variable (localtime_r with setenv is not
 * thread-safe).
 *
 * fl_tz_load reads ZONEINFO/NAME, where ZONEINFO is $TZDIR or
 * /usr/share/zoneinfo (Debian package tzdata) and NAME is validated first:
 * components of [A-Za-z0-9_+-.] that start with a letter, separated by
 * single '/', no "..", at most 4 components and 128 bytes, so a name from
 * an API body cannot reach outside the database.
 *
 * fl_tz_parse takes the bytes of a TZif file (versions 1 to 4, untrusted:
 * every count is checked against the length and against limits before it is
 * used). Version 2+ files are read from their 64-bit block and their footer,
 * the POSIX TZ string for times after the last transition ("CET-1CEST,
 * M3.5.0,M10.5.0/3"), which is parsed at load: a footer this reader cannot
 * follow is FL_EINVAL naming it, never a silently wrong offset. Files with
 * leap-second records ("right/" zones) are refused.
 */
#ifndef FAIRLEAD_TZ_H
#define FAIRLEAD_TZ_H

#include <stddef.h>
#include <stdint.h>

#include "fairlead/err.h"

#define FL_TZ_NAME_MAX	128
#define FL_TZ_FILE_MAX	(256 * 1024) /* the largest real zone is under 4 KiB */
#define FL_TZ_TRANS_MAX 20000	     /* transitions; real zones have < 300 */
#define FL_TZ_TYPES_MAX 256	     /* at most 256 by format (one byte indexes) */

struct fl_tz;

/* 1 when name is an acceptable zone name (see above). */
int fl_tz_name_valid(const char *name);
/* Loads a zone by name. FL_EINVAL for a bad name, FL_ENOTFOUND for a name
 * the database lacks, FL_EINVAL for a file that is not valid TZif. */
int fl_tz_load(struct fl_tz **out, const char *name, struct fl_err *err);
/* Parses the bytes of a TZif file. */
int fl_tz_parse(struct fl_tz **out, const uint8_t *data, size_t len, struct fl_err *err);
/* Seconds east of UTC in effect at UTC time t (and *is_dst when not NULL). */
int32_t fl_tz_offset(const struct fl_tz *tz, int64_t t, int *is_dst);
/* NULL is a no-op. */
void fl_tz_free(struct fl_tz *tz);

#endif

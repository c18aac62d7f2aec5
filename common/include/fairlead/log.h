/*
 * log.h - structured logs: one JSON object per line on stderr.
 *
 * Every line has ts (RFC 3339, UTC, milliseconds), level and msg; a request
 * id and other fields ride along as extra members. Thread-safe: one write(2)
 * per line.
 */
#ifndef FAIRLEAD_LOG_H
#define FAIRLEAD_LOG_H

#include <jansson.h>

#include "fairlead/err.h"

enum fl_log_level { FL_LOG_DEBUG, FL_LOG_INFO, FL_LOG_WARN, FL_LOG_ERROR };

void fl_log_set_level(enum fl_log_level level);
/* "debug", "info", "warn", "error"; FL_EINVAL otherwise. */
int fl_log_parse_level(enum fl_log_level *out, const char *name);

/* 1 when a line at level would be written: lets a hot path skip building
 * the fields of a line nobody reads. */
int fl_log_enabled(enum fl_log_level level);
/* Logs msg (printf-style) with no extra fields. */
void fl_log(enum fl_log_level level, const char *fmt, ...) FL_PRINTF(2, 3);
/* Logs msg with the members of fields (may be NULL); steals fields. */
void fl_log_fields(enum fl_log_level level, json_t *fields, const char *fmt, ...) FL_PRINTF(3, 4);

#endif

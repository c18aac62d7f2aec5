#include "fairlead/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fairlead/buf.h"
#include "fairlead/json.h"

static enum fl_log_level min_level = FL_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void fl_log_set_level(enum fl_log_level level)
{
	min_level = level;
}

int fl_log_enabled(enum fl_log_level level)
{
	return level >= min_level;
}

int fl_log_parse_level(enum fl_log_level *out, const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum fl_log_level)i;
			return 0;
		}
	return FL_EINVAL;
}

FL_PRINTF(3, 0)
static void emit(enum fl_log_level level, json_t *fields, const char *fmt, va_list ap)
{
	struct fl_buf line = FL_BUF_INIT;
	struct fl_buf msg = FL_BUF_INIT;
	struct timespec ts;
	struct tm tm;
	char when[40];
	json_t *obj;

	if (level < min_level) {
		json_decref(fields);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03ldZ", ts.tv_nsec / 1000000);
	(void)fl_buf_vaddf(&msg, fmt, ap);

	obj = json_object();
	if (!obj)
		goto cleanup;
	json_object_set_new(obj, "ts", json_string(when));
	json_object_set_new(obj, "level", json_string(level_names[level]));
	json_object_set_new(obj, "msg", json_string(fl_buf_cstr(&msg)));
	if (fields)
		json_object_update_missing(obj, fields);
	if (fl_json_dump(&line, obj) == 0 && fl_buf_put(&line, "\n", 1) == 0) {
		ssize_t n = write(STDERR_FILENO, line.ptr, line.len);
		(void)n;
	}
	json_decref(obj);
cleanup:
	json_decref(fields);
	fl_buf_release(&msg);
	fl_buf_release(&line);
}

void fl_log(enum fl_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(level, NULL, fmt, ap);
	va_end(ap);
}

void fl_log_fields(enum fl_log_level level, json_t *fields, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(level, fields, fmt, ap);
	va_end(ap);
}

#include "fairlead/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int fl_err_set(struct fl_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int fl_err_prefix(struct fl_err *err, const char *fmt, ...)
{
	char prefix[128];
	char old[sizeof(err->msg)];
	va_list ap;
	size_t n;

	if (!err)
		return FL_ERROR;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* Truncation is fine: the message is for humans and stays bounded. A
	 * length-checked memcpy, because gcc's -Wstringop-truncation rejects
	 * the strncat this used to be in the sanitizer build. */
	n = (size_t)snprintf(err->msg, sizeof(err->msg), "%s: ", prefix);
	if (n < sizeof(err->msg)) {
		size_t room = sizeof(err->msg) - n - 1, len = strnlen(old, sizeof(old) - 1);

		if (len > room)
			len = room;
		memcpy(err->msg + n, old, len);
		err->msg[n + len] = '\0';
	}
	return err->code;
}

void fl_err_clear(struct fl_err *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}

const char *fl_err_name(int code)
{
	switch (code) {
	case FL_OK: return "ok";
	case FL_ENOMEM: return "out_of_memory";
	case FL_EINVAL: return "invalid_request";
	case FL_ENOTFOUND: return "not_found";
	case FL_EEXISTS: return "already_exists";
	case FL_ECONFLICT: return "conflict";
	case FL_EUNAUTH: return "unauthorized";
	case FL_EFORBIDDEN: return "forbidden";
	case FL_ETOOBIG: return "payload_too_large";
	case FL_EAGAIN: return "rate_limited";
	case FL_ETIMEOUT: return "timeout";
	case FL_EGONE: return "gone";
	case FL_ETLS: return "tls";
	case FL_EUNAVAIL: return "unavailable";
	default: return "internal";
	}
}

/*
 * buf.h - a growable byte buffer with an optional hard cap.
 *
 * ptr is always NUL-terminated when non-NULL, so a text buffer can be used as
 * a C string. A buffer with max > 0 refuses to grow past max bytes and
 * returns FL_ETOOBIG: every buffer that holds bytes from the network is capped.
 */
#ifndef FAIRLEAD_BUF_H
#define FAIRLEAD_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "fairlead/err.h"

struct fl_buf {
	char *ptr;
	size_t len;
	size_t cap;
	size_t max; /* 0: unbounded */
};

#define FL_BUF_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0, 0                                                                      \
	}

void fl_buf_init(struct fl_buf *b, size_t max);
int fl_buf_grow(struct fl_buf *b, size_t extra) FL_WARN_UNUSED;
int fl_buf_put(struct fl_buf *b, const void *data, size_t len) FL_WARN_UNUSED;
int fl_buf_puts(struct fl_buf *b, const char *s) FL_WARN_UNUSED;
/* Appends v as an unsigned LEB128 varint: 1 byte below 128, at most 10. */
int fl_buf_put_uvarint(struct fl_buf *b, uint64_t v) FL_WARN_UNUSED;
/* Reads one varint from *p, not past end, and advances *p; FL_EINVAL when it
 * is truncated or does not fit 64 bits. */
int fl_uvarint_get(uint64_t *out, const uint8_t **p, const uint8_t *end);
int fl_buf_addf(struct fl_buf *b, const char *fmt, ...) FL_PRINTF(2, 3);
int fl_buf_vaddf(struct fl_buf *b, const char *fmt, va_list ap) FL_PRINTF(2, 0);
void fl_buf_clear(struct fl_buf *b);
/* Frees the memory; the buffer may be reused after fl_buf_init. */
void fl_buf_release(struct fl_buf *b);
/* Hands the memory to the caller (free() it) and empties the buffer. */
char *fl_buf_detach(struct fl_buf *b);
/* "" when empty, never NULL. */
const char *fl_buf_cstr(const struct fl_buf *b);

#endif

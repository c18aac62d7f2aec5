#include "fairlead/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fl_buf_init(struct fl_buf *b, size_t max)
{
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

int fl_buf_grow(struct fl_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > ((size_t)-1) / 2 - b->len)
		return FL_ETOOBIG;
	need = b->len + extra + 1;
	if (b->max && need > b->max + 1)
		return FL_ETOOBIG;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	if (b->max && cap > b->max + 1)
		cap = b->max + 1;
	p = realloc(b->ptr, cap);
	if (!p)
		return FL_ENOMEM;
	b->ptr = p;
	b->cap = cap;
	return 0;
}

int fl_buf_put(struct fl_buf *b, const void *data, size_t len)
{
	int rc = fl_buf_grow(b, len);

	if (rc < 0)
		return rc;
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int fl_buf_puts(struct fl_buf *b, const char *s)
{
	return fl_buf_put(b, s, strlen(s));
}

int fl_buf_put_uvarint(struct fl_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	do {
		tmp[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	return fl_buf_put(b, tmp, n);
}

int fl_uvarint_get(uint64_t *out, const uint8_t **p, const uint8_t *end)
{
	const uint8_t *q = *p;
	uint64_t v = 0;

	for (int shift = 0; shift < 64 && q < end; shift += 7) {
		uint8_t c = *q++;

		/* the tenth byte holds only the top bit */
		if (shift == 63 && (c & 0x7e))
			return FL_EINVAL;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*out = v;
			*p = q;
			return 0;
		}
	}
	return FL_EINVAL;
}

int fl_buf_vaddf(struct fl_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n, rc;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return FL_EINVAL;
	if ((rc = fl_buf_grow(b, (size_t)n)) < 0)
		return rc;
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int fl_buf_addf(struct fl_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fl_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void fl_buf_clear(struct fl_buf *b)
{
	b->len = 0;
	if (b->ptr)
		b->ptr[0] = '\0';
}

void fl_buf_release(struct fl_buf *b)
{
	free(b->ptr);
	b->ptr = NULL;
	b->len = b->cap = 0;
}

char *fl_buf_detach(struct fl_buf *b)
{
	char *p = b->ptr;

	if (!p)
		p = calloc(1, 1);
	b->ptr = NULL;
	b->len = b->cap = 0;
	return p;
}

const char *fl_buf_cstr(const struct fl_buf *b)
{
	return b->ptr ? b->ptr : "";
}

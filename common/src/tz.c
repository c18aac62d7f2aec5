/*
 * tz.c - TZif reader (RFC 8536) and POSIX TZ footer rules. See tz.h.
 *
 * Every byte comes from a file that may be hostile (a bad TZDIR, a fuzzer):
 * counts are bounded before any size is computed, and every read is checked
 * against the length.
 */
#include "fairlead/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fairlead/util.h"

#define TZ_DIR_DEFAULT "/usr/share/zoneinfo"
#define HDR_LEN	       44
/* Real offsets lie within +-15h (LMT of a few islands included); anything
 * beyond a day is garbage. */
#define UTOFF_MAX (26 * 3600)
/* Keeps t + offset and the year arithmetic far from overflow: about
 * 300000 years either way. */
#define T_LIMIT 10000000000000LL

/* A day rule of a POSIX TZ string: Jn, n or Mm.w.d, at time seconds of
 * local time. */
struct rule {
	char kind; /* 'J', 'N' (zero-based day) or 'M' */
	int day, week, month;
	int32_t time;
};

struct footer {
	int present;
	int has_dst;
	int32_t std_utoff, dst_utoff; /* seconds east of UTC */
	struct rule start, end;	      /* DST starts (std time), ends (DST time) */
};

struct tz_type {
	int32_t utoff;
	uint8_t isdst;
};

struct fl_tz {
	size_t ntrans, ntypes;
	int64_t *trans;
	uint8_t *idx;
	struct tz_type *types;
	struct footer ft;
};

/* ---- names and files ---------------------------------------------------- */

static int is_alpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

int fl_tz_name_valid(const char *name)
{
	size_t len, comps = 0;
	const char *p;

	if (!name || (len = strlen(name)) == 0 || len > FL_TZ_NAME_MAX)
		return 0;
	for (p = name; *p;) {
		/* A component starts with a letter: no "", ".", ".." nor "-x". */
		if (!is_alpha((unsigned char)*p))
			return 0;
		comps++;
		for (; *p && *p != '/'; p++) {
			unsigned char c = (unsigned char)*p;

			if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '+' && c != '-' &&
			    c != '.')
				return 0;
		}
		if (*p == '/')
			p++;
		else
			break;
		if (!*p)
			return 0; /* trailing '/' */
	}
	return comps <= 4;
}

int fl_tz_load(struct fl_tz **out, const char *name, struct fl_err *err)
{
	const char *dir = getenv("TZDIR");
	char path[1024];
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd = -1, rc;

	*out = NULL;
	if (!fl_tz_name_valid(name))
		return fl_err_set(err, FL_EINVAL, "time zone '%.64s': not a zone name",
				  name ? name : "");
	if (!dir || !dir[0])
		dir = TZ_DIR_DEFAULT;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return fl_err_set(err, FL_EINVAL, "time zone '%s': path too long", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return fl_err_set(err, FL_ENOTFOUND,
					  "unknown time zone '%s' (is tzdata installed?)", name);
		return fl_err_set(err, FL_ERROR, "time zone '%s': %s", name, strerror(errno));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > FL_TZ_FILE_MAX) {
		rc = fl_err_set(err, FL_EINVAL, "time zone '%s': not a zone file", name);
		goto cleanup;
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	/* Read at most the size fstat gave: a file growing under us is cut. */
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = fl_err_set(err, FL_ERROR, "time zone '%s': %s", name, strerror(errno));
			goto cleanup;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if ((rc = fl_tz_parse(out, buf, got, err)) < 0)
		fl_err_prefix(err, "time zone '%s'", name);
cleanup:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- the POSIX TZ footer ------------------------------------------------ */

/* A number of at most maxd digits, at most max. */
static int num(const char **p, int maxd, int max, int *out)
{
	int v = 0, d = 0;

	while (is_digit((unsigned char)**p) && d < maxd) {
		v = v * 10 + (**p - '0');
		(*p)++;
		d++;
	}
	if (d == 0 || is_digit((unsigned char)**p) || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A zone abbreviation: three or more letters, or <...> of letters, digits,
 * '+' and '-'. */
static int abbr(const char **p)
{
	const char *s = *p;

	if (*s == '<') {
		for (s++; is_alpha((unsigned char)*s) || is_digit((unsigned char)*s) || *s == '+' ||
			  *s == '-';
		     s++)
			;
		if (*s != '>' || s - *p - 1 < 3)
			return -1;
		*p = s + 1;
		return 0;
	}
	while (is_alpha((unsigned char)*s))
		s++;
	if (s - *p < 3)
		return -1;
	*p = s;
	return 0;
}

/* [+-]hh[:mm[:ss]], hours at most maxh. */
static int hms(const char **p, int maxh, int32_t *out)
{
	int sign = 1, h, m = 0, s = 0;

	if (**p == '+' || **p == '-') {
		sign = **p == '-' ? -1 : 1;
		(*p)++;
	}
	if (num(p, 3, maxh, &h) < 0)
		return -1;
	if (**p == ':') {
		(*p)++;
		if (num(p, 2, 59, &m) < 0)
			return -1;
		if (**p == ':') {
			(*p)++;
			if (num(p, 2, 59, &s) < 0)
				return -1;
		}
	}
	*out = sign * (h * 3600 + m * 60 + s);
	return 0;
}

static int rule(const char **p, struct rule *r)
{
	r->time = 2 * 3600;
	if (**p == 'J') {
		(*p)++;
		r->kind = 'J';
		if (num(p, 3, 365, &r->day) < 0 || r->day < 1)
			return -1;
	} else if (**p == 'M') {
		(*p)++;
		r->kind = 'M';
		if (num(p, 2, 12, &r->month) < 0 || r->month < 1 || *(*p)++ != '.' ||
		    num(p, 1, 5, &r->week) < 0 || r->week < 1 || *(*p)++ != '.' ||
		    num(p, 1, 6, &r->day) < 0)
			return -1;
	} else {
		r->kind = 'N';
		if (num(p, 3, 365, &r->day) < 0)
			return -1;
	}
	/* Version 3 allows -167..167 hours here (RFC 8536 3.3.1). */
	if (**p == '/') {
		(*p)++;
		if (hms(p, 167, &r->time) < 0)
			return -1;
	}
	return 0;
}

static int footer_parse(struct footer *f, const char *s)
{
	const char *p = s;
	int32_t off;

	memset(f, 0, sizeof(*f));
	if (!*s)
		return 0;
	f->present = 1;
	/* POSIX offsets count west of UTC: "CET-1" is one hour east. */
	if (abbr(&p) < 0 || hms(&p, 24, &off) < 0)
		return -1;
	f->std_utoff = -off;
	f->dst_utoff = f->std_utoff;
	if (!*p)
		return 0;
	if (abbr(&p) < 0)
		return -1;
	f->has_dst = 1;
	f->dst_utoff = f->std_utoff + 3600;
	if (*p && *p != ',') {
		if (hms(&p, 24, &off) < 0)
			return -1;
		f->dst_utoff = -off;
	}
	/* Without a rule POSIX leaves the dates to the implementation; zic
	 * always writes one, and guessing (US rules, like tzcode) could be
	 * silently wrong. */
	if (*p++ != ',' || rule(&p, &f->start) < 0 || *p++ != ',' || rule(&p, &f->end) < 0 || *p)
		return -1;
	return 0;
}

static int64_t year_of_days(int64_t z)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	return yoe + era * 400 + (mp >= 10);
}

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Local seconds since the epoch at which r happens in year y. */
static int64_t rule_local(const struct rule *r, int64_t y)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t days;

	if (r->kind == 'J') {
		/* 1..365, February 29 never counted. */
		days = fl_days_from_civil(y, 1, 1) + r->day - 1 + (is_leap(y) && r->day >= 60);
	} else if (r->kind == 'N') {
		days = fl_days_from_civil(y, 1, 1) + r->day;
	} else {
		int64_t first = fl_days_from_civil(y, r->month, 1);
		int dow = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
		int n = mdays[r->month - 1] + (r->month == 2 && is_leap(y));
		int d = 1 + (r->day - dow + 7) % 7 + (r->week - 1) * 7;

		while (d > n)
			d -= 7; /* week 5: the last such day */
		days = first + d - 1;
	}
	return days * 86400 + r->time;
}

static int32_t footer_offset(const struct footer *f, int64_t t, int *is_dst)
{
	int64_t y, best_t = 0;
	int found = 0, best_dst = 0;

	if (!f->has_dst) {
		*is_dst = 0;
		return f->std_utoff;
	}
	/* The last DST start or end at or before t, among those of the
	 * neighbouring years: rule times may run past the year's end (v3), and
	 * southern zones start DST late in the year. A start and an end at the
	 * same instant (permanent DST, "0/0,J365/25") count as DST. */
	y = year_of_days(floor_div(t + f->std_utoff, 86400));
	for (int64_t yy = y - 1; yy <= y + 1; yy++) {
		int64_t s = rule_local(&f->start, yy) - f->std_utoff;
		int64_t e = rule_local(&f->end, yy) - f->dst_utoff;

		if (e <= t && (!found || e > best_t)) {
			best_t = e;
			best_dst = 0;
			found = 1;
		}
		if (s <= t && (!found || s >= best_t)) {
			best_t = s;
			best_dst = 1;
			found = 1;
		}
	}
	*is_dst = found && best_dst;
	return *is_dst ? f->dst_utoff : f->std_utoff;
}

/* ---- TZif --------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct hdr {
	char version;
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static int hdr_parse(struct hdr *h, const uint8_t *p, size_t len, struct fl_err *err)
{
	if (len < HDR_LEN || memcmp(p, "TZif", 4) != 0)
		return fl_err_set(err, FL_EINVAL, "not a TZif file");
	h->version = (char)p[4];
	if (h->version != 0 && h->version != '2' && h->version != '3' && h->version != '4')
		return fl_err_set(err, FL_EINVAL, "unsupported TZif version 0x%02x", p[4]);
	h->isutcnt = be32(p + 20);
	h->isstdcnt = be32(p + 24);
	h->leapcnt = be32(p + 28);
	h->timecnt = be32(p + 32);
	h->typecnt = be32(p + 36);
	h->charcnt = be32(p + 40);
	if (h->typecnt == 0 || h->typecnt > FL_TZ_TYPES_MAX || h->charcnt == 0 ||
	    h->charcnt > 65536 || h->timecnt > FL_TZ_TRANS_MAX ||
	    (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
	    (h->isstdcnt != 0 && h->isstdcnt != h->typecnt) || h->leapcnt > 1000)
		return fl_err_set(err, FL_EINVAL, "TZif header counts out of range");
	return 0;
}

/* Bytes of a data block; the counts are bounded, so no overflow. */
static size_t block_len(const struct hdr *h, size_t tsize)
{
	return (size_t)h->timecnt * (tsize + 1) + (size_t)h->typecnt * 6 + h->charcnt +
	       (size_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

static int block_parse(struct fl_tz *z, const struct hdr *h, const uint8_t *p, size_t tsize,
		       struct fl_err *err)
{
	const uint8_t *idx = p + (size_t)h->timecnt * tsize;
	const uint8_t *types = idx + h->timecnt;
	size_t i;

	if (h->leapcnt)
		return fl_err_set(err, FL_EINVAL,
				  "leap-second zones (\"right/\") are not supported");
	z->ntrans = h->timecnt;
	z->ntypes = h->typecnt;
	z->trans = calloc(h->timecnt ? h->timecnt : 1, sizeof(*z->trans));
	z->idx = calloc(h->timecnt ? h->timecnt : 1, 1);
	z->types = calloc(h->typecnt, sizeof(*z->types));
	if (!z->trans || !z->idx || !z->types)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	for (i = 0; i < h->timecnt; i++) {
		z->trans[i] = tsize == 8 ? be64(p + i * 8) : (int64_t)(int32_t)be32(p + i * 4);
		if (i > 0 && z->trans[i] <= z->trans[i - 1])
			return fl_err_set(err, FL_EINVAL, "TZif transitions out of order");
		if (idx[i] >= h->typecnt)
			return fl_err_set(err, FL_EINVAL, "TZif transition names no type");
		z->idx[i] = idx[i];
	}
	for (i = 0; i < h->typecnt; i++) {
		const uint8_t *t = types + i * 6;
		int32_t off = (int32_t)be32(t);

		if (off < -UTOFF_MAX || off > UTOFF_MAX || t[4] > 1 || t[5] >= h->charcnt)
			return fl_err_set(err, FL_EINVAL, "TZif time type %zu out of range", i);
		z->types[i].utoff = off;
		z->types[i].isdst = t[4];
	}
	return 0;
}

int fl_tz_parse(struct fl_tz **out, const uint8_t *data, size_t len, struct fl_err *err)
{
	struct fl_tz *z = calloc(1, sizeof(*z));
	struct hdr h;
	size_t off = 0, n;
	char text[256];
	int rc;

	*out = NULL;
	if (!z)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	if ((rc = hdr_parse(&h, data, len, err)) < 0)
		goto cleanup;
	n = block_len(&h, 4);
	if (len - HDR_LEN < n) {
		rc = fl_err_set(err, FL_EINVAL, "TZif file truncated");
		goto cleanup;
	}
	if (h.version == 0) {
		rc = block_parse(z, &h, data + HDR_LEN, 4, err);
		goto cleanup;
	}
	/* Version 2+: skip the 32-bit block, read the 64-bit one. */
	off = HDR_LEN + n;
	if ((rc = hdr_parse(&h, data + off, len - off, err)) < 0)
		goto cleanup;
	off += HDR_LEN;
	n = block_len(&h, 8);
	if (len - off < n) {
		rc = fl_err_set(err, FL_EINVAL, "TZif file truncated");
		goto cleanup;
	}
	if ((rc = block_parse(z, &h, data + off, 8, err)) < 0)
		goto cleanup;
	off += n;
	/* The footer: "\nTZ\n". */
	{
		const uint8_t *nl;
		size_t flen;

		if (off >= len || data[off] != '\n' ||
		    !(nl = memchr(data + off + 1, '\n', len - off - 1))) {
			rc = fl_err_set(err, FL_EINVAL, "TZif footer missing");
			goto cleanup;
		}
		flen = (size_t)(nl - (data + off + 1));
		if (flen >= sizeof(text) || memchr(data + off + 1, '\0', flen)) {
			rc = fl_err_set(err, FL_EINVAL, "TZif footer malformed");
			goto cleanup;
		}
		memcpy(text, data + off + 1, flen);
		text[flen] = '\0';
		if (footer_parse(&z->ft, text) < 0) {
			char shown[80];

			/* Only printable bytes reach the message. */
			for (n = 0; n < flen && n < sizeof(shown) - 1; n++)
				shown[n] = text[n] >= 0x20 && text[n] < 0x7f ? text[n] : '?';
			shown[n] = '\0';
			rc = fl_err_set(err, FL_EINVAL,
					"TZ rule '%s' in the footer is not supported", shown);
			goto cleanup;
		}
	}
	rc = 0;
cleanup:
	if (rc == 0) {
		*out = z;
		z = NULL; /* now owned by the caller */
	}
	fl_tz_free(z);
	return rc;
}

int32_t fl_tz_offset(const struct fl_tz *z, int64_t t, int *is_dst)
{
	const struct tz_type *ty;
	int dst = 0;
	int32_t off;

	if (t > T_LIMIT)
		t = T_LIMIT;
	if (t < -T_LIMIT)
		t = -T_LIMIT;
	if (z->ft.present && (z->ntrans == 0 || t >= z->trans[z->ntrans - 1])) {
		off = footer_offset(&z->ft, t, &dst);
	} else {
		if (z->ntrans == 0 || t < z->trans[0]) {
			ty = &z->types[0];
		} else {
			size_t lo = 0, hi = z->ntrans; /* trans[lo] <= t < trans[hi] */

			while (hi - lo > 1) {
				size_t mid = lo + (hi - lo) / 2;

				if (z->trans[mid] <= t)
					lo = mid;
				else
					hi = mid;
			}
			ty = &z->types[z->idx[lo]];
		}
		off = ty->utoff;
		dst = ty->isdst;
	}
	if (is_dst)
		*is_dst = dst;
	return off;
}

void fl_tz_free(struct fl_tz *z)
{
	if (!z)
		return;
	free(z->trans);
	free(z->idx);
	free(z->types);
	free(z);
}

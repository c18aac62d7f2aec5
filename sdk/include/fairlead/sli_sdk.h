/*
 * sli_sdk.h - report inference SLIs to the Fairlead agent. Header only: C99
 * or later, libc and POSIX sockets, nothing else. Copy it into any module.
 *
 * The agent listens on a Unix datagram socket, by default STATE/sli.sock of
 * its state directory ('fairlead-agent run --sli-socket PATH' moves it); the
 * module finds it through the environment variable FAIRLEAD_SLI_SOCKET or a
 * path it is given. Each call sends one datagram holding one line of the
 * line protocol (docs/agent.md, "Line protocol and C SDK"):
 *
 *   inf model=NAME lat_ms=F [ok=1|0] [energy_j=F] [f.FEATURE=F ...]
 *   err model=NAME [code=WORD]
 *   hb model=NAME
 *
 * NAME is the release name the module runs (letters, digits, '.', '_', '-',
 * at most 64, not starting with '.' or '-'); FEATURE and WORD are 1 to 63 of
 * the same characters. Values are finite, lat_ms and energy_j >= 0, at most
 * FL_SLI_MAX_FEATURES features, a line at most FL_SLI_LINE_MAX bytes with its newline.
 *
 * Contract for the module: reporting never blocks and never fails the
 * module. Sends are non-blocking (MSG_DONTWAIT), SIGPIPE cannot happen on a
 * datagram socket, and when the agent is down, restarting or its queue is
 * full the line is dropped and counted in s->failed; the next send tries
 * again (the socket is not connected, so a restarted agent is found without
 * reopening). Invalid arguments (a NaN, a bad name) are counted in s->invalid
 * and nothing is sent. The functions return 0 when the line was handed to
 * the kernel, -1 otherwise; callers may ignore it. Not thread-safe per
 * struct fl_sli: use one per thread, or a lock.
 */
#ifndef FAIRLEAD_SLI_SDK_H
#define FAIRLEAD_SLI_SDK_H

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FL_SLI_LINE_MAX	    1024
#define FL_SLI_MAX_FEATURES 32
#define FL_SLI_NAME_MAX	    63
#define FL_SLI_ENV	    "FAIRLEAD_SLI_SOCKET"

struct fl_sli {
	int fd;			 /* -1 when the socket could not be created */
	struct sockaddr_un addr; /* the agent's socket */
	socklen_t addrlen;	 /* 0: no path, every send fails */
	uint64_t sent;		 /* lines handed to the kernel */
	uint64_t failed;	 /* lines dropped: agent down, queue full */
	uint64_t invalid;	 /* lines refused before sending */
};

struct fl_sli_feature {
	const char *name;
	double value;
};

static inline int fl_sli__word_ok(const char *s, size_t max, int model)
{
	size_t n = 0;

	if (!s || !*s || (model && (s[0] == '.' || s[0] == '-')))
		return 0;
	for (; s[n]; n++) {
		char c = s[n];

		if (n >= max)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return !model || strstr(s, "..") == NULL;
}

/* Opens the socket towards path, or towards $FAIRLEAD_SLI_SOCKET when path
 * is NULL. Returns -1 (and later sends count as failed) when there is no
 * path or it is too long or no socket can be made; s is usable either way
 * and fl_sli_close() must still be called. */
static inline int fl_sli_open(struct fl_sli *s, const char *path)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	if (!path)
		path = getenv(FL_SLI_ENV);
	if (!path || !*path || strlen(path) >= sizeof(s->addr.sun_path))
		return -1;
	s->addr.sun_family = AF_UNIX;
	memcpy(s->addr.sun_path, path, strlen(path) + 1);
	s->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
	s->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (s->fd < 0)
		return -1;
	(void)fcntl(s->fd, F_SETFD, FD_CLOEXEC);
	(void)fcntl(s->fd, F_SETFL, O_NONBLOCK);
	return 0;
}

static inline void fl_sli_close(struct fl_sli *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* Sends one already formatted line (without or with its '\n'). */
static inline int fl_sli_send_line(struct fl_sli *s, const char *line, size_t n)
{
	ssize_t w;

	if (n == 0 || n > FL_SLI_LINE_MAX) {
		s->invalid++;
		return -1;
	}
	if (s->fd < 0 || s->addrlen == 0) {
		s->failed++;
		return -1;
	}
	do
		w = sendto(s->fd, line, n, MSG_DONTWAIT | MSG_NOSIGNAL,
			   (const struct sockaddr *)&s->addr, s->addrlen);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)n) {
		s->failed++;
		return -1;
	}
	s->sent++;
	return 0;
}

/* Appends s to buf at *len; 0, or -1 when it does not fit. */
static inline int fl_sli__puts(char *buf, size_t *len, const char *s)
{
	size_t n = strlen(s);

	if (n > FL_SLI_LINE_MAX - *len)
		return -1;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
	return 0;
}

/* Appends " KEY=VALUE" (prefix, name may be NULL, then the number). */
static inline int fl_sli__putd(char *buf, size_t *len, const char *prefix, const char *name,
			       double v)
{
	char num[40];

	snprintf(num, sizeof(num), "%.9g", v);
	if (fl_sli__puts(buf, len, prefix) < 0 || (name && fl_sli__puts(buf, len, name) < 0) ||
	    fl_sli__puts(buf, len, "=") < 0 || fl_sli__puts(buf, len, num) < 0)
		return -1;
	return 0;
}

/* One inference: latency in milliseconds, ok (1, or 0 for a wrong or failed
 * answer that still took lat_ms), energy in joules (< 0: not known, the
 * agent estimates it), and nf input features (may be 0). */
static inline int fl_sli_inf(struct fl_sli *s, const char *model, double lat_ms, int ok,
			     double energy_j, const struct fl_sli_feature *f, size_t nf)
{
	char buf[FL_SLI_LINE_MAX + 1];
	size_t len = 0;
	int w;

	if (!fl_sli__word_ok(model, 64, 1) || !isfinite(lat_ms) || lat_ms < 0 ||
	    nf > FL_SLI_MAX_FEATURES || (energy_j >= 0 && !isfinite(energy_j)) || isnan(energy_j)) {
		s->invalid++;
		return -1;
	}
	w = snprintf(buf, sizeof(buf), "inf model=%s ok=%d", model, ok ? 1 : 0);
	if (w < 0 || (size_t)w >= sizeof(buf)) {
		s->invalid++;
		return -1;
	}
	len = (size_t)w;
	if (fl_sli__putd(buf, &len, " lat_ms", NULL, lat_ms) < 0 ||
	    (energy_j >= 0 && fl_sli__putd(buf, &len, " energy_j", NULL, energy_j) < 0)) {
		s->invalid++;
		return -1;
	}
	for (size_t i = 0; i < nf; i++) {
		if (!fl_sli__word_ok(f[i].name, FL_SLI_NAME_MAX, 0) || !isfinite(f[i].value) ||
		    fl_sli__putd(buf, &len, " f.", f[i].name, f[i].value) < 0) {
			s->invalid++;
			return -1;
		}
	}
	if (fl_sli__puts(buf, &len, "\n") < 0) {
		s->invalid++;
		return -1;
	}
	return fl_sli_send_line(s, buf, len);
}

/* An inference that failed before it produced a latency; code may be NULL. */
static inline int fl_sli_err(struct fl_sli *s, const char *model, const char *code)
{
	char buf[FL_SLI_LINE_MAX + 1];
	int w;

	if (!fl_sli__word_ok(model, 64, 1) ||
	    (code && !fl_sli__word_ok(code, FL_SLI_NAME_MAX, 0))) {
		s->invalid++;
		return -1;
	}
	w = code ? snprintf(buf, sizeof(buf), "err model=%s code=%s\n", model, code)
		 : snprintf(buf, sizeof(buf), "err model=%s\n", model);
	if (w < 0 || (size_t)w >= sizeof(buf)) {
		s->invalid++;
		return -1;
	}
	return fl_sli_send_line(s, buf, (size_t)w);
}

/* The module is alive (send about once a second). */
static inline int fl_sli_hb(struct fl_sli *s, const char *model)
{
	char buf[FL_SLI_LINE_MAX + 1];
	int w;

	if (!fl_sli__word_ok(model, 64, 1)) {
		s->invalid++;
		return -1;
	}
	w = snprintf(buf, sizeof(buf), "hb model=%s\n", model);
	if (w < 0 || (size_t)w >= sizeof(buf)) {
		s->invalid++;
		return -1;
	}
	return fl_sli_send_line(s, buf, (size_t)w);
}

#endif

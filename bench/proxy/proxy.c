/*
 * fairlead-bench-proxy - a slow network on loopback.
 *
 *   fairlead-bench-proxy --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT
 *                        --rtt-ms 100 [--buffer-kib 256] [--max-conns 20000]
 *                        [--tick-us 1000] [--stats FILE]
 *
 * A TCP pass-through that holds every byte for rtt/2 in each direction, so
 * a request and its reply take --rtt-ms longer than on loopback. One thread,
 * epoll, non-blocking sockets: thousands of connections. Each direction of a
 * connection queues at most --buffer-kib; a full queue stops reading from its
 * source, so a slow side applies TCP back-pressure instead of growing memory.
 * The TCP handshake with the proxy itself is not delayed (the upstream
 * connection is opened when the client's is accepted); everything after it
 * is, TLS handshakes included.
 *
 * Because the delay is the same for every byte, chunks fall due in the order
 * they arrived: one FIFO across all connections says what to send next, and
 * the epoll timeout is the time until its head is due.
 *
 * The loop runs at most once per --tick-us: bytes that arrive within a tick
 * wait in the kernel and are read together, and every chunk due within it
 * is written together. Woken per packet instead, the proxy took ten times
 * the context switches of the server it fronts, on the cores the server and
 * its clients share. A byte is stamped when it is read, so it is held for at
 * least rtt/2 and at most a tick longer: a 100 ms round trip becomes
 * 100-102 ms, never less.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fairlead/err.h"

#define PX_READ 16384

struct px_dir;

/* Bytes read from one side, to be written to the other once due. */
struct px_chunk {
	struct px_dir *dir;
	struct px_chunk *next;		/* in dir's queue */
	struct px_chunk *gprev, *gnext; /* in the global not-yet-due FIFO */
	int64_t due_us;
	int pending; /* still in the global FIFO */
	size_t len, off;
	char data[];
};

/* One direction: bytes from src queued for dst. */
struct px_dir {
	struct px_conn *c;
	int src, dst; /* indexes into c->end */
	struct px_chunk *head, *tail;
	size_t queued;
	int eof;     /* src has sent FIN */
	int shut;    /* FIN passed on to dst */
	int blocked; /* dst would block: wait for EPOLLOUT */
};

struct px_end {
	struct px_conn *c;
	int fd;
	uint32_t events; /* registered with epoll */
	int hup;	 /* the peer is gone both ways: out of the epoll set */
};

struct px_conn {
	struct px_end end[2]; /* 0: client, 1: upstream */
	struct px_dir dir[2]; /* 0: client -> upstream, 1: upstream -> client */
	int dead;
	struct px_conn *next_dead;
	struct px_conn *prev, *next; /* the open connections, closed at exit */
};

struct px {
	int ep, lfd;
	struct sockaddr_in upstream;
	int64_t delay_us, tick_us;
	size_t cap;
	long max_conns, open, peak, accepted, refused, failed;
	uint64_t bytes[2];
	struct px_chunk *ghead, *gtail;
	struct px_conn *dead;
	struct px_conn *conns;
};

static volatile sig_atomic_t px_stop;

static void px_on_signal(int sig)
{
	(void)sig;
	px_stop = 1;
}

static int64_t px_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int px_parse_addr(struct sockaddr_in *sa, const char *s, struct fl_err *err)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return fl_err_set(err, FL_EINVAL, "address '%s' is not HOST:PORT", s);
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = atol(colon + 1);
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return fl_err_set(err, FL_EINVAL, "address '%s' is not IPv4:PORT", s);
	return 0;
}

static void px_gunlink(struct px *p, struct px_chunk *k)
{
	if (!k->pending)
		return;
	if (k->gprev)
		k->gprev->gnext = k->gnext;
	else
		p->ghead = k->gnext;
	if (k->gnext)
		k->gnext->gprev = k->gprev;
	else
		p->gtail = k->gprev;
	k->gprev = k->gnext = NULL;
	k->pending = 0;
}

/* What each socket waits for: reading while its outgoing queue has room and
 * it has not ended, writing while its incoming queue is blocked. */
static void px_update(struct px *p, struct px_conn *c)
{
	for (int e = 0; e < 2; e++) {
		struct px_end *end = &c->end[e];
		const struct px_dir *out = &c->dir[e], *in = &c->dir[1 - e];
		uint32_t want = 0;
		struct epoll_event ev;

		if (!out->eof && out->queued < p->cap)
			want |= EPOLLIN;
		if (in->blocked)
			want |= EPOLLOUT;
		if (end->hup || want == end->events)
			continue;
		memset(&ev, 0, sizeof(ev));
		ev.events = want;
		ev.data.ptr = end;
		/* A socket registered with no events still reports errors and
		 * hang-ups, which is what closes a stuck connection. */
		if (epoll_ctl(p->ep, EPOLL_CTL_MOD, end->fd, &ev) == 0)
			end->events = want;
	}
}

static void px_close(struct px *p, struct px_conn *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	for (int d = 0; d < 2; d++) {
		struct px_chunk *k = c->dir[d].head, *n;

		for (; k; k = n) {
			n = k->next;
			px_gunlink(p, k);
			free(k);
		}
		c->dir[d].head = c->dir[d].tail = NULL;
	}
	for (int e = 0; e < 2; e++)
		if (c->end[e].fd >= 0) {
			close(c->end[e].fd); /* leaves the epoll set with it */
			c->end[e].fd = -1;
		}
	p->open--;
	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	/* Freed after the current batch of events, which may still name it. */
	c->next_dead = p->dead;
	p->dead = c;
}

/* Closes c when both directions have ended and drained, else updates what
 * its sockets wait for. */
static void px_settle(struct px *p, struct px_conn *c)
{
	if (c->dir[0].shut && c->dir[1].shut)
		px_close(p, c);
	else
		px_update(p, c);
}

/* Writes what is due of d; 0, or FL_ERROR when the connection broke. */
static int px_flush(struct px_dir *d, struct fl_err *err)
{
	struct px_conn *c = d->c;
	int fd = c->end[d->dst].fd;

	d->blocked = 0;
	while (d->head && !d->head->pending) {
		struct px_chunk *k = d->head;
		ssize_t n = send(fd, k->data + k->off, k->len - k->off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				d->blocked = 1;
				return 0;
			}
			return fl_err_set(err, FL_ERROR, "send: %s", strerror(errno));
		}
		k->off += (size_t)n;
		d->queued -= (size_t)n;
		if (k->off < k->len)
			continue;
		d->head = k->next;
		if (!d->head)
			d->tail = NULL;
		free(k);
	}
	if (!d->head && d->eof && !d->shut) {
		d->shut = 1;
		shutdown(fd, SHUT_WR);
	}
	return 0;
}

/* Reads what src has, up to the queue's room; 0, or FL_ERROR when the
 * connection broke or ran out of memory. */
static int px_read(struct px *p, struct px_dir *d, struct fl_err *err)
{
	struct px_conn *c = d->c;
	int fd = c->end[d->src].fd;
	char buf[PX_READ];

	while (!d->eof && d->queued < p->cap) {
		size_t room = p->cap - d->queued;
		ssize_t n = recv(fd, buf, room < sizeof(buf) ? room : sizeof(buf), 0);
		struct px_chunk *k;

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return fl_err_set(err, FL_ERROR, "recv: %s", strerror(errno));
		}
		if (n == 0) {
			d->eof = 1;
			break;
		}
		if (!(k = malloc(sizeof(*k) + (size_t)n)))
			return fl_err_set(err, FL_ENOMEM, "out of memory");
		memcpy(k->data, buf, (size_t)n);
		k->dir = d;
		k->next = NULL;
		k->len = (size_t)n;
		k->off = 0;
		k->due_us = px_now_us() + p->delay_us;
		k->pending = 1;
		k->gnext = NULL;
		k->gprev = p->gtail;
		if (p->gtail)
			p->gtail->gnext = k;
		else
			p->ghead = k;
		p->gtail = k;
		if (d->tail)
			d->tail->next = k;
		else
			d->head = k;
		d->tail = k;
		d->queued += (size_t)n;
		p->bytes[d - c->dir] += (uint64_t)n;
	}
	/* The end of stream follows the last byte: passed on when the queue
	 * has drained (px_flush), at once if it already has. */
	if (d->eof && !d->head)
		return px_flush(d, err);
	return 0;
}

static int px_accept(struct px *p, struct fl_err *err)
{
	for (;;) {
		int cfd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), ufd, one = 1;
		struct px_conn *c;
		struct epoll_event ev;

		if (cfd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED)
				return 0;
			if (errno == EMFILE || errno == ENFILE) {
				p->refused++;
				return 0; /* the backlog keeps them until fds free up */
			}
			return fl_err_set(err, FL_ERROR, "accept: %s", strerror(errno));
		}
		if (p->open >= p->max_conns) {
			p->refused++;
			close(cfd);
			continue;
		}
		ufd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (ufd < 0 || !(c = calloc(1, sizeof(*c)))) {
			p->failed++;
			close(cfd);
			if (ufd >= 0)
				close(ufd);
			continue;
		}
		/* The delay is the proxy's, not Nagle's. */
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(ufd, (const struct sockaddr *)&p->upstream, sizeof(p->upstream)) < 0 &&
		    errno != EINPROGRESS) {
			p->failed++;
			close(cfd);
			close(ufd);
			free(c);
			continue;
		}
		c->end[0].c = c->end[1].c = c;
		c->end[0].fd = cfd;
		c->end[1].fd = ufd;
		for (int d = 0; d < 2; d++) {
			c->dir[d].c = c;
			c->dir[d].src = d;
			c->dir[d].dst = 1 - d;
		}
		p->open++;
		p->accepted++;
		c->next = p->conns;
		if (p->conns)
			p->conns->prev = c;
		p->conns = c;
		if (p->open > p->peak)
			p->peak = p->open;
		for (int e = 0; e < 2; e++) {
			memset(&ev, 0, sizeof(ev));
			ev.events = c->end[e].events = EPOLLIN;
			ev.data.ptr = &c->end[e];
			if (epoll_ctl(p->ep, EPOLL_CTL_ADD, c->end[e].fd, &ev) < 0) {
				c->end[e].events = 0;
				px_close(p, c);
				break;
			}
		}
	}
}

/* Moves every chunk now due out of the global FIFO and writes it. */
static void px_release_due(struct px *p, int64_t now)
{
	struct fl_err err = {0, ""};

	while (p->ghead && p->ghead->due_us <= now) {
		struct px_chunk *k = p->ghead;
		struct px_dir *d = k->dir;

		px_gunlink(p, k);
		/* Only the queue's head can be written; a later chunk waits for
		 * the one before it, which was due earlier. */
		if (d->head != k || d->blocked)
			continue;
		if (px_flush(d, &err) < 0)
			px_close(p, d->c);
		else
			px_settle(p, d->c);
	}
}

static void px_event(struct px *p, struct px_end *end, uint32_t ev)
{
	struct px_conn *c = end->c;
	int e = (int)(end - c->end);
	struct fl_err err = {0, ""};

	if (c->dead)
		return;
	if (ev & EPOLLERR) {
		px_close(p, c);
		return;
	}
	if ((ev & EPOLLOUT) && px_flush(&c->dir[1 - e], &err) < 0) {
		px_close(p, c);
		return;
	}
	if ((ev & (EPOLLIN | EPOLLHUP)) && px_read(p, &c->dir[e], &err) < 0) {
		px_close(p, c);
		return;
	}
	if ((ev & EPOLLHUP) && !end->hup) {
		/* The peer closed both ways: what it sent is queued for the other
		 * side; what was queued for it is dropped. epoll reports a hang-up
		 * whatever the interest, so the socket leaves the set. */
		struct px_dir *in = &c->dir[1 - e];
		struct px_chunk *k, *n;

		end->hup = 1;
		epoll_ctl(p->ep, EPOLL_CTL_DEL, end->fd, NULL);
		for (k = in->head; k; k = n) {
			n = k->next;
			px_gunlink(p, k);
			free(k);
		}
		in->head = in->tail = NULL;
		in->queued = 0;
		in->blocked = 0;
		in->eof = in->shut = 1;
	}
	px_settle(p, c);
}

static int px_listen(struct px *p, const struct sockaddr_in *sa, struct fl_err *err)
{
	int one = 1;
	struct epoll_event ev;

	p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->lfd < 0)
		return fl_err_set(err, FL_ERROR, "socket: %s", strerror(errno));
	setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(p->lfd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(p->lfd, 4096) < 0)
		return fl_err_set(err, FL_ERROR, "listen: %s", strerror(errno));
	if ((p->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return fl_err_set(err, FL_ERROR, "epoll: %s", strerror(errno));
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL; /* the listener */
	if (epoll_ctl(p->ep, EPOLL_CTL_ADD, p->lfd, &ev) < 0)
		return fl_err_set(err, FL_ERROR, "epoll_ctl: %s", strerror(errno));
	return 0;
}

/* Frees the connections closed during the last batch of events. */
static void px_reap(struct px *p)
{
	while (p->dead) {
		struct px_conn *c = p->dead;

		p->dead = c->next_dead;
		free(c);
	}
}

static int px_run(struct px *p, struct fl_err *err)
{
	struct epoll_event evs[1024];
	int64_t last = 0;
	int rc;

	while (!px_stop) {
		int64_t now = px_now_us();
		int timeout = -1, n;

		if (p->tick_us > 0 && now - last < p->tick_us) {
			struct timespec ts = {0, (long)(p->tick_us - (now - last)) * 1000};

			nanosleep(&ts, NULL);
			now = px_now_us();
		}
		last = now;

		px_release_due(p, now);
		if (p->ghead) {
			int64_t wait = p->ghead->due_us - px_now_us();

			timeout = wait <= 0 ? 0 : (int)((wait + 999) / 1000);
		}
		n = epoll_wait(p->ep, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fl_err_set(err, FL_ERROR, "epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			if (!evs[i].data.ptr) {
				if ((rc = px_accept(p, err)) < 0)
					return rc;
				continue;
			}
			px_event(p, evs[i].data.ptr, evs[i].events);
		}
		px_reap(p);
	}
	return 0;
}

/* Closes what is still open: the end of a run. */
static void px_shutdown(struct px *p)
{
	while (p->conns)
		px_close(p, p->conns);
	px_reap(p);
	if (p->lfd >= 0)
		close(p->lfd);
	if (p->ep >= 0)
		close(p->ep);
}

static int px_write_stats(const struct px *p, const char *file, struct fl_err *err)
{
	FILE *f = file ? fopen(file, "w") : stderr;

	if (!f)
		return fl_err_set(err, FL_ERROR, "cannot write %s", file);
	fprintf(f,
		"{\"rtt_ms\":%lld,\"accepted\":%ld,\"peak_open\":%ld,\"refused\":%ld,"
		"\"upstream_failed\":%ld,\"bytes_up\":%llu,\"bytes_down\":%llu}\n",
		(long long)(p->delay_us * 2 / 1000), p->accepted, p->peak, p->refused, p->failed,
		(unsigned long long)p->bytes[0], (unsigned long long)p->bytes[1]);
	if (file && fclose(f) != 0)
		return fl_err_set(err, FL_ERROR, "cannot write %s", file);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"upstream", required_argument, NULL, 'u'},
	    {"rtt-ms", required_argument, NULL, 'r'},
	    {"buffer-kib", required_argument, NULL, 'b'},
	    {"max-conns", required_argument, NULL, 'm'},
	    {"stats", required_argument, NULL, 's'},
	    {"tick-us", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *listen_at = NULL, *upstream = NULL, *stats = NULL;
	long rtt = 100, buf_kib = 256;
	struct px p;
	struct sockaddr_in la;
	struct fl_err err = {0, ""};
	struct sigaction sa;
	struct rlimit rl;
	int c, rc;

	memset(&p, 0, sizeof(p));
	p.lfd = p.ep = -1;
	p.max_conns = 20000;
	p.tick_us = 1000;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen_at = optarg; break;
		case 'u': upstream = optarg; break;
		case 'r': rtt = atol(optarg); break;
		case 'b': buf_kib = atol(optarg); break;
		case 'm': p.max_conns = atol(optarg); break;
		case 's': stats = optarg; break;
		case 't': p.tick_us = atol(optarg); break;
		case 'h':
			printf(
			    "usage: fairlead-bench-proxy --listen ADDR:PORT --upstream ADDR:PORT "
			    "[--rtt-ms 100] [--buffer-kib 256] [--max-conns 20000] "
			    "[--tick-us 1000] [--stats FILE]\n");
			return 0;
		default: return 2;
		}
	}
	if (!listen_at || !upstream || rtt < 0 || rtt > 60000 || buf_kib < 1 || p.max_conns < 1 ||
	    p.tick_us < 0 || p.tick_us > 100000) {
		fprintf(stderr, "fairlead-bench-proxy: --listen and --upstream are required\n");
		return 2;
	}
	if (px_parse_addr(&la, listen_at, &err) < 0 ||
	    px_parse_addr(&p.upstream, upstream, &err) < 0) {
		fprintf(stderr, "fairlead-bench-proxy: %s\n", err.msg);
		return 2;
	}
	p.delay_us = rtt * 1000 / 2;
	p.cap = (size_t)buf_kib * 1024;
	/* Two descriptors per connection. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = px_on_signal; /* no SA_RESTART: epoll_wait returns */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((rc = px_listen(&p, &la, &err)) == 0) {
		fprintf(stderr, "fairlead-bench-proxy: %s -> %s, %ld ms round trip\n", listen_at,
			upstream, rtt);
		rc = px_run(&p, &err);
	}
	px_shutdown(&p);
	if (rc < 0) {
		fprintf(stderr, "fairlead-bench-proxy: %s\n", err.msg);
		return 1;
	}
	if (px_write_stats(&p, stats, &err) < 0) {
		fprintf(stderr, "fairlead-bench-proxy: %s\n", err.msg);
		return 1;
	}
	return 0;
}

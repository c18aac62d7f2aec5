#include "agent/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fairlead/util.h"

extern char **environ;

/* How often the exit and the timeout are checked while the child is quiet. */
#define TICK_MS 20
/* Chunks read from one pipe before the loop looks at the clock again: a
 * child that writes as fast as we read must not keep us from its timeout. */
#define READS_PER_TICK 16
#define READS_AT_EXIT  1024

void ag_proc_result_release(struct ag_proc_result *res)
{
	if (!res)
		return;
	fl_buf_release(&res->out);
	fl_buf_release(&res->err);
}

char *ag_proc_env(const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);
	char *s = malloc(n + v + 2);

	if (!s)
		return NULL;
	memcpy(s, name, n);
	s[n] = '=';
	memcpy(s + n + 1, value, v + 1);
	return s;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int make_pipe(int fds[2], int nonblock_end, struct fl_err *err)
{
	if (pipe(fds) != 0)
		return fl_err_set(err, FL_ERROR, "pipe: %s", strerror(errno));
	/* Close-on-exec on both ends: the child gets its end through dup2,
	 * other children (and this child's children) get neither. */
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	fcntl(fds[nonblock_end], F_SETFL, O_NONBLOCK);
	return 0;
}

/* The agent's environment with add on top, built before fork: the child of
 * a threaded process may only make async-signal-safe calls. The strings are
 * borrowed; free() the array. */
static char **build_env(const char *const *add)
{
	size_t n = 0, m = 0, k = 0;
	char **e;

	while (environ && environ[n])
		n++;
	while (add && add[m])
		m++;
	if (!(e = calloc(n + m + 1, sizeof(*e))))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int shadowed = 0;

		for (size_t j = 0; j < m && !shadowed; j++) {
			size_t len = strcspn(add[j], "=");

			shadowed = strncmp(environ[i], add[j], len) == 0 && environ[i][len] == '=';
		}
		if (!shadowed)
			e[k++] = environ[i];
	}
	for (size_t j = 0; j < m; j++)
		e[k++] = (char *)(uintptr_t)add[j];
	e[k] = NULL;
	return e;
}

/* Writes what the pipe takes of in; closes it when all is written or the
 * child stopped reading (EPIPE, with SIGPIPE blocked by the caller). */
static void feed(int *fd, const char *in, size_t len, size_t *off)
{
	while (*off < len) {
		ssize_t w = write(*fd, in + *off, len - *off);

		if (w > 0) {
			*off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		break;
	}
	close_fd(fd);
}

/* Reads what fd holds now (at most reads chunks) into b, keeping max bytes
 * and dropping the rest; closes fd at its end. */
static int drain(int *fd, struct fl_buf *b, size_t max, int *over, int reads)
{
	char chunk[4096];

	while (*fd >= 0 && reads-- > 0) {
		ssize_t r = read(*fd, chunk, sizeof(chunk));

		if (r > 0) {
			size_t keep = b->len < max ? max - b->len : 0;

			if ((size_t)r > keep)
				*over = 1;
			else
				keep = (size_t)r;
			if (keep && fl_buf_put(b, chunk, keep) < 0)
				return FL_ENOMEM;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		close_fd(fd);
	}
	return 0;
}

/* In the child: fd becomes target without close-on-exec. */
static int move_fd(int fd, int target)
{
	if (fd == target)
		return fcntl(fd, F_SETFD, 0);
	return dup2(fd, target) < 0 ? -1 : 0;
}

int ag_proc_run(struct ag_proc_result *res, const struct ag_proc_opts *o, struct fl_err *err)
{
	int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
	char **envp = NULL, say[512];
	sigset_t pipe_set, old_mask;
	int masked = 0, status = 0, rc = 0;
	size_t in_off = 0;
	int64_t deadline;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	fl_buf_init(&res->out, 0);
	fl_buf_init(&res->err, 0);
	if (!(envp = build_env(o->env)))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	snprintf(say, sizeof(say), "fairlead-agent: cannot execute %s\n", o->path);
	if ((o->in && (rc = make_pipe(in_p, 1, err)) < 0) ||
	    (o->out_max && (rc = make_pipe(out_p, 0, err)) < 0) ||
	    (o->err_max && (rc = make_pipe(err_p, 0, err)) < 0))
		goto cleanup;
	if (o->in) {
		/* A child that exits without reading its stdin must cost an EPIPE
		 * here, not the signal that would end the agent. */
		sigemptyset(&pipe_set);
		sigaddset(&pipe_set, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
		masked = 1;
	}
	pid = fork();
	if (pid < 0) {
		rc = fl_err_set(err, FL_ERROR, "fork: %s", strerror(errno));
		goto cleanup;
	}
	if (pid == 0) {
		struct sigaction dfl;

		/* Its own process group, so a timeout kills what it spawned. */
		setpgid(0, 0);
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		sigaction(SIGPIPE, &dfl, NULL);
		if (masked)
			sigprocmask(SIG_SETMASK, &old_mask, NULL);
		if ((in_p[0] >= 0 && move_fd(in_p[0], 0) < 0) ||
		    (out_p[1] >= 0 && move_fd(out_p[1], 1) < 0) ||
		    (err_p[1] >= 0 && move_fd(err_p[1], 2) < 0) || (o->cwd && chdir(o->cwd) != 0))
			_exit(127);
		execve(o->path, (char *const *)(uintptr_t)o->argv, envp);
		if (write(2, say, strlen(say)) < 0)
			_exit(127);
		_exit(127);
	}
	setpgid(pid, pid);
	close_fd(&in_p[0]);
	close_fd(&out_p[1]);
	close_fd(&err_p[1]);
	if (in_p[1] >= 0)
		feed(&in_p[1], o->in, o->in_len, &in_off);
	deadline = fl_mono_ms() + o->timeout_ms;
	for (;;) {
		struct pollfd pf[3];
		int64_t left = deadline - fl_mono_ms();
		int n = 0, tick = left < TICK_MS ? (left > 0 ? (int)left : 0) : TICK_MS;
		pid_t w;

		if (in_p[1] >= 0)
			pf[n++] = (struct pollfd){in_p[1], POLLOUT, 0};
		if (out_p[0] >= 0)
			pf[n++] = (struct pollfd){out_p[0], POLLIN, 0};
		if (err_p[0] >= 0)
			pf[n++] = (struct pollfd){err_p[0], POLLIN, 0};
		if (n > 0) {
			(void)poll(pf, (nfds_t)n, tick);
		} else {
			struct timespec ts = {0, (long)tick * 1000 * 1000};

			nanosleep(&ts, NULL);
		}
		if (in_p[1] >= 0)
			feed(&in_p[1], o->in, o->in_len, &in_off);
		if ((rc = drain(&out_p[0], &res->out, o->out_max, &res->out_over, READS_PER_TICK)) <
			0 ||
		    (rc = drain(&err_p[0], &res->err, o->err_max, &res->err_over, READS_PER_TICK)) <
			0)
			goto kill_it;
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			rc = fl_err_set(err, FL_ERROR, "waitpid: %s", strerror(errno));
			goto cleanup;
		}
		if (fl_mono_ms() >= deadline) {
			res->timed_out = 1;
			goto kill_it;
		}
	}
	/* What it wrote before exiting is in the pipes now; a grandchild that
	 * still holds them open is not waited for. */
	if ((rc = drain(&out_p[0], &res->out, o->out_max, &res->out_over, READS_AT_EXIT)) < 0 ||
	    (rc = drain(&err_p[0], &res->err, o->err_max, &res->err_over, READS_AT_EXIT)) < 0)
		goto cleanup;
	goto done;
kill_it:
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc < 0) {
		fl_err_set(err, rc, "out of memory");
		goto cleanup;
	}
done:
	res->exited = WIFEXITED(status);
	res->code = res->exited ? WEXITSTATUS(status) : WIFSIGNALED(status) ? WTERMSIG(status) : 0;
cleanup:
	close_fd(&in_p[0]);
	close_fd(&in_p[1]);
	close_fd(&out_p[0]);
	close_fd(&out_p[1]);
	close_fd(&err_p[0]);
	close_fd(&err_p[1]);
	if (masked) {
		sigset_t pending;
		struct timespec zero = {0, 0};

		/* Take the SIGPIPE our writes raised before the mask goes. */
		if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE))
			(void)sigtimedwait(&pipe_set, NULL, &zero);
		pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	}
	free(envp);
	return rc;
}

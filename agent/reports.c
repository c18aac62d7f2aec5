#include "agent/reports.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/crash.h"
#include "agent/state.h"
#include "fairlead/buf.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/log.h"

struct kept {
	uint64_t seq;
	size_t bytes;
};

struct ag_reports {
	char dir[AG_PATH_MAX - 512]; /* STATE/reports; room for a file name */
	size_t max_count, max_bytes;
	pthread_mutex_t mu;
	struct kept *k; /* ascending seq */
	size_t n, cap, bytes;
	uint64_t next_seq, dropped, floor;
	int64_t not_before, backoff_s;
};

static int oom(struct fl_err *err)
{
	return fl_err_set(err, FL_ENOMEM, "out of memory");
}

static void file_name(char *out, size_t cap, uint64_t seq)
{
	snprintf(out, cap, "%llu.json", (unsigned long long)seq);
}

static int save_state(struct ag_reports *r, struct fl_err *err)
{
	json_t *st = json_pack("{s:I,s:I,s:I}", "next_seq", (json_int_t)r->next_seq, "dropped",
			       (json_int_t)r->dropped, "floor", (json_int_t)r->floor);
	int rc;

	if (!st)
		return oom(err);
	rc = ag_state_write_json(r->dir, AG_REPORTS_STATE, st, err);
	json_decref(st);
	return rc;
}

static void remove_file(struct ag_reports *r, uint64_t seq)
{
	char name[32], path[AG_PATH_MAX];

	file_name(name, sizeof(name), seq);
	snprintf(path, sizeof(path), "%s/%s", r->dir, name);
	if (unlink(path) < 0 && errno != ENOENT)
		fl_log(FL_LOG_WARN, "reports: cannot remove %s: %s", path, strerror(errno));
}

/* Forgets the first k kept reports (their files are removed by caller). */
static void forget_first(struct ag_reports *r, size_t k)
{
	if (k == 0)
		return;
	for (size_t i = 0; i < k; i++)
		r->bytes -= r->k[i].bytes;
	memmove(r->k, r->k + k, (r->n - k) * sizeof(*r->k));
	r->n -= k;
}

static int cmp_kept(const void *a, const void *b)
{
	const struct kept *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int push(struct ag_reports *r, uint64_t seq, size_t bytes)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct kept *k = realloc(r->k, cap * sizeof(*k));

		if (!k)
			return FL_ENOMEM;
		r->k = k;
		r->cap = cap;
	}
	r->k[r->n++] = (struct kept){seq, bytes};
	r->bytes += bytes;
	return 0;
}

/* SEQ.json: 1 and *seq, else 0 (state.json, temp files, strangers). */
static int parse_name(uint64_t *seq, const char *name)
{
	char *end = NULL;

	if (name[0] < '0' || name[0] > '9')
		return 0;
	errno = 0;
	*seq = strtoull(name, &end, 10);
	return errno == 0 && strcmp(end, ".json") == 0;
}

void ag_reports_free(struct ag_reports *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r->k);
	free(r);
}

int ag_reports_open(struct ag_reports **out, const char *dir, size_t max_count, size_t max_bytes,
		    struct fl_err *err)
{
	struct ag_reports *r;
	json_t *st = NULL;
	DIR *d = NULL;
	struct dirent *de;
	int rc;

	*out = NULL;
	if (!(r = calloc(1, sizeof(*r))))
		return oom(err);
	pthread_mutex_init(&r->mu, NULL);
	r->max_count = max_count ? max_count : AG_REPORTS_DEFAULT_MAX;
	r->max_bytes = max_bytes ? max_bytes : AG_REPORTS_DEFAULT_BYTES;
	if ((rc = ag_state_path(r->dir, sizeof(r->dir), dir, AG_REPORTS_DIR, err)) < 0 ||
	    (rc = fl_fs_mkdir_p(r->dir, 0700, err)) < 0 ||
	    (rc = fl_fs_sweep_tmp(r->dir, NULL, err)) < 0)
		goto cleanup;
	rc = ag_state_read_json(&st, r->dir, AG_REPORTS_STATE, 4096, err);
	if (rc == 0) {
		r->next_seq = (uint64_t)json_integer_value(json_object_get(st, "next_seq"));
		r->dropped = (uint64_t)json_integer_value(json_object_get(st, "dropped"));
		r->floor = (uint64_t)json_integer_value(json_object_get(st, "floor"));
	} else if (rc != FL_ENOTFOUND) {
		/* Atomic writes cannot tear it; a corrupt one was damaged from
		 * outside. The files still say where seq stands. */
		fl_log(FL_LOG_WARN, "reports: %s; rebuilding from the files", err->msg);
	}
	fl_err_clear(err);
	rc = 0;
	if (r->next_seq < 1)
		r->next_seq = 1;
	if (!(d = opendir(r->dir))) {
		rc = fl_err_set(err, FL_ERROR, "opendir %s: %s", r->dir, strerror(errno));
		goto cleanup;
	}
	while ((de = readdir(d))) {
		char path[AG_PATH_MAX];
		struct fl_buf b;
		uint64_t seq;

		if (!parse_name(&seq, de->d_name))
			continue;
		if (seq >= r->next_seq)
			r->next_seq = seq + 1; /* never reuse a number on disk */
		if (seq < r->floor) {
			/* Dropped and counted before a crash cut the unlink. */
			remove_file(r, seq);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", r->dir, de->d_name);
		fl_buf_init(&b, AG_REPORTS_MAX_REPORT + 1);
		if (fl_fs_read(&b, path, err) < 0) {
			fl_buf_release(&b);
			fl_err_clear(err);
			continue;
		}
		if ((rc = push(r, seq, b.len)) < 0) {
			fl_buf_release(&b);
			rc = oom(err);
			goto cleanup;
		}
		fl_buf_release(&b);
	}
	if (r->n > 1)
		qsort(r->k, r->n, sizeof(*r->k), cmp_kept);
	if (r->n > 0)
		fl_log(FL_LOG_INFO, "reports: %zu kept from before, %llu dropped so far", r->n,
		       (unsigned long long)r->dropped);
	*out = r;
	r = NULL;
cleanup:
	if (d)
		closedir(d);
	json_decref(st);
	ag_reports_free(r);
	return rc;
}

int ag_reports_add(void *ctx, const json_t *report, struct fl_err *err)
{
	struct ag_reports *r = ctx;
	json_t *copy = json_deep_copy(report);
	struct fl_buf b = FL_BUF_INIT;
	char name[32];
	uint64_t seq;
	size_t drop = 0;
	int rc;

	if (!copy)
		return oom(err);
	pthread_mutex_lock(&r->mu);
	seq = r->next_seq;
	if (json_object_set_new(copy, "seq", json_integer((json_int_t)seq)) < 0 ||
	    fl_json_dump(&b, copy) < 0) {
		rc = oom(err);
		goto cleanup;
	}
	if (b.len > AG_REPORTS_MAX_REPORT) {
		r->dropped++;
		r->next_seq++;
		(void)save_state(r, err);
		rc = fl_err_set(err, FL_ETOOBIG, "a report of %zu bytes; dropped", b.len);
		goto cleanup;
	}
	/* Room first: the oldest go, counted, before the new one arrives. */
	{
		size_t bytes = r->bytes;

		while (drop < r->n &&
		       (r->n - drop + 1 > r->max_count || bytes + b.len > r->max_bytes))
			bytes -= r->k[drop++].bytes;
	}
	if (drop > 0) {
		r->dropped += drop;
		r->floor = r->k[drop - 1].seq + 1;
		fl_log(FL_LOG_WARN, "reports: buffer full; dropped the %zu oldest (%llu in all)",
		       drop, (unsigned long long)r->dropped);
	}
	r->next_seq = seq + 1;
	if ((rc = save_state(r, err)) < 0)
		goto cleanup;
	ag_crash_point("reports_state");
	for (size_t i = 0; i < drop; i++)
		remove_file(r, r->k[i].seq);
	forget_first(r, drop);
	file_name(name, sizeof(name), seq);
	ag_crash_point("reports_write");
	if ((rc = ag_state_write_json(r->dir, name, copy, err)) < 0)
		goto cleanup;
	ag_crash_point("reports_written");
	if (push(r, seq, b.len) < 0)
		rc = oom(err);
cleanup:
	pthread_mutex_unlock(&r->mu);
	fl_buf_release(&b);
	json_decref(copy);
	return rc;
}

/* The oldest reports (up to AG_REPORTS_BATCH) as the request body. */
static int batch(json_t **out, uint64_t *last, struct ag_reports *r, struct fl_err *err)
{
	json_t *arr = json_array(), *body;
	size_t i = 0;

	*out = NULL;
	*last = 0;
	if (!arr)
		return oom(err);
	pthread_mutex_lock(&r->mu);
	while (i < r->n && json_array_size(arr) < AG_REPORTS_BATCH) {
		char name[32];
		json_t *rep = NULL;
		struct fl_err e = {0};

		file_name(name, sizeof(name), r->k[i].seq);
		if (ag_state_read_json(&rep, r->dir, name, AG_REPORTS_MAX_REPORT + 1, &e) < 0) {
			/* Unreadable (damaged from outside, or gone): it cannot
			 * be delivered, so it is counted as dropped. */
			fl_log(FL_LOG_WARN, "reports: %s; dropped", e.msg);
			r->dropped++;
			remove_file(r, r->k[i].seq);
			r->bytes -= r->k[i].bytes;
			memmove(r->k + i, r->k + i + 1, (r->n - i - 1) * sizeof(*r->k));
			r->n--;
			(void)save_state(r, &e);
			continue;
		}
		*last = r->k[i].seq;
		json_array_append_new(arr, rep);
		i++;
	}
	body = json_pack("{s:o,s:I}", "reports", arr, "dropped", (json_int_t)r->dropped);
	pthread_mutex_unlock(&r->mu);
	if (!body)
		return oom(err);
	*out = body;
	return 0;
}

/* Deletes every kept report with seq <= acked. */
static void ack(struct ag_reports *r, uint64_t acked)
{
	size_t k = 0;

	pthread_mutex_lock(&r->mu);
	while (k < r->n && r->k[k].seq <= acked)
		remove_file(r, r->k[k++].seq);
	forget_first(r, k);
	pthread_mutex_unlock(&r->mu);
}

int ag_reports_send(struct ag_reports *r, struct ag_transport *t, int64_t now, int max_batches,
		    struct fl_err *err)
{
	int rc = 0;

	for (int i = 0; max_batches <= 0 || i < max_batches; i++) {
		json_t *body = NULL, *reply = NULL;
		int64_t retry_after = -1, acked;
		uint64_t last;

		pthread_mutex_lock(&r->mu);
		if (now < r->not_before || r->n == 0) {
			pthread_mutex_unlock(&r->mu);
			break;
		}
		pthread_mutex_unlock(&r->mu);
		if ((rc = batch(&body, &last, r, err)) < 0)
			return rc;
		if (json_array_size(json_object_get(body, "reports")) == 0) {
			json_decref(body);
			break;
		}
		rc = ag_transport_json(t, &reply, "POST", AG_REPORTS_TARGET, body, &retry_after,
				       err);
		json_decref(body);
		if (rc < 0) {
			pthread_mutex_lock(&r->mu);
			if (rc == FL_EAGAIN && retry_after >= 0) {
				r->not_before = now + (retry_after > AG_REPORTS_MAX_RETRY_S
							   ? AG_REPORTS_MAX_RETRY_S
							   : retry_after);
			} else {
				r->backoff_s = r->backoff_s > 0 ? r->backoff_s * 2 : 1;
				if (r->backoff_s > AG_REPORTS_MAX_BACKOFF_S)
					r->backoff_s = AG_REPORTS_MAX_BACKOFF_S;
				r->not_before = now + r->backoff_s;
			}
			fl_log(FL_LOG_WARN, "reports: not delivered (%s), %zu kept; next in %llds",
			       err ? err->msg : "", r->n, (long long)(r->not_before - now));
			pthread_mutex_unlock(&r->mu);
			return rc;
		}
		acked = json_integer_value(json_object_get(reply, "acked_seq"));
		json_decref(reply);
		pthread_mutex_lock(&r->mu);
		r->backoff_s = 0;
		r->not_before = 0;
		pthread_mutex_unlock(&r->mu);
		if (acked > 0)
			ack(r, (uint64_t)acked);
		/* The server holds less than was sent: the rest waits for the
		 * next round rather than looping on it now. */
		if (acked < 0 || (uint64_t)acked < last)
			break;
	}
	return rc;
}

size_t ag_reports_pending(struct ag_reports *r)
{
	size_t n;

	pthread_mutex_lock(&r->mu);
	n = r->n;
	pthread_mutex_unlock(&r->mu);
	return n;
}

uint64_t ag_reports_dropped(struct ag_reports *r)
{
	uint64_t n;

	pthread_mutex_lock(&r->mu);
	n = r->dropped;
	pthread_mutex_unlock(&r->mu);
	return n;
}

uint64_t ag_reports_next_seq(struct ag_reports *r)
{
	uint64_t n;

	pthread_mutex_lock(&r->mu);
	n = r->next_seq;
	pthread_mutex_unlock(&r->mu);
	return n;
}

int64_t ag_reports_not_before(struct ag_reports *r)
{
	int64_t n;

	pthread_mutex_lock(&r->mu);
	n = r->not_before;
	pthread_mutex_unlock(&r->mu);
	return n;
}

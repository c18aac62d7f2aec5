#include "director.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fairlead/json.h"
#include "fairlead/log.h"
#include "fairlead/util.h"

struct cp_director {
	struct cp_store *store;
	struct cp_signer signer;
	pthread_mutex_t lock; /* guards ts*, and serialises signing timestamps */
	json_t *ts;	      /* current timestamp envelope, immutable once set */
	int64_t ts_version, ts_expires;
	pthread_mutex_t tlock; /* guards the thread fields */
	pthread_cond_t wake;
	pthread_t thread;
	int running, stopping, interval_ms;
};

int cp_director_new(struct cp_director **out, struct cp_store *store,
		    const struct cp_signer *signer, struct fl_err *err)
{
	struct cp_director *d = calloc(1, sizeof(*d));
	struct fl_err lerr = {0, ""};
	char *env = NULL;
	int rc;

	*out = NULL;
	if (!d)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	d->store = store;
	d->signer = *signer;
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->tlock, NULL);
	pthread_cond_init(&d->wake, NULL);
	rc = cp_store_timestamp_latest(&env, &d->ts_version, &d->ts_expires, store, &lerr);
	if (rc == 0 && fl_json_parse_object(&d->ts, env, strlen(env), NULL) < 0) {
		/* A stored timestamp that does not parse is replaced on first use. */
		d->ts = NULL;
		d->ts_expires = 0;
	}
	free(env);
	if (rc < 0 && rc != FL_ENOTFOUND) {
		cp_director_free(d);
		return fl_err_set(err, rc, "%s", lerr.msg);
	}
	*out = d;
	return 0;
}

void cp_director_free(struct cp_director *d)
{
	if (!d)
		return;
	cp_director_stop(d);
	json_decref(d->ts);
	cp_signer_wipe(&d->signer);
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->tlock);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

const struct cp_signer *cp_director_signer(const struct cp_director *d)
{
	return &d->signer;
}

/* Caller holds d->lock. Signs version ts_version + 1 over the store's
 * releases, stores it, then publishes it in memory. */
static int refresh_locked(struct cp_director *d, int64_t now, struct fl_err *err)
{
	struct fl_buf env = FL_BUF_INIT;
	json_t *releases = NULL, *parsed = NULL;
	int64_t version = d->ts_version + 1, expires = now + CP_TIMESTAMP_TTL;
	int rc;

	if ((rc = cp_store_release_digests(&releases, d->store, err)) < 0 ||
	    (rc = cp_signer_timestamp(&env, &d->signer, version, expires, releases, err)) < 0 ||
	    (rc = fl_json_parse_object(&parsed, env.ptr, env.len, err)) < 0)
		goto cleanup;
	/* Stored before it is served: a restart never goes back to a lower version. */
	if ((rc = cp_store_timestamp_add(d->store, version, env.ptr, expires, now, err)) < 0)
		goto cleanup;
	json_decref(d->ts);
	d->ts = parsed;
	parsed = NULL;
	d->ts_version = version;
	d->ts_expires = expires;
cleanup:
	json_decref(parsed);
	json_decref(releases);
	fl_buf_release(&env);
	return rc;
}

int cp_director_refresh(struct cp_director *d, int64_t now, struct fl_err *err)
{
	int rc;

	pthread_mutex_lock(&d->lock);
	rc = refresh_locked(d, now, err);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

int cp_director_timestamp(json_t **out, int64_t *version, struct cp_director *d, int64_t now,
			  struct fl_err *err)
{
	int rc = 0;

	*out = NULL;
	pthread_mutex_lock(&d->lock);
	/* Normally the maintenance thread has re-signed long before this. */
	if (!d->ts || d->ts_expires - now < CP_TIMESTAMP_MARGIN / 2)
		rc = refresh_locked(d, now, err);
	if (rc == 0) {
		*out = json_incref(d->ts);
		if (version)
			*version = d->ts_version;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

int cp_director_sign_assignment(struct fl_buf *out, struct cp_director *d,
				struct cp_assignment_payload *p, int64_t now, struct fl_err *err)
{
	p->issued = now;
	p->expires = now + CP_ASSIGNMENT_TTL;
	return cp_signer_assignment(out, &d->signer, p, err);
}

/* Re-signs up to a batch of assignments that expire within the margin. */
static int resign_assignments(struct cp_director *d, int64_t now, struct fl_err *err)
{
	json_t *rows = NULL, *row;
	size_t i;
	int rc;

	rc = cp_store_assignments_expiring(&rows, d->store, now + CP_ASSIGNMENT_MARGIN, 500, err);
	if (rc < 0)
		return rc;
	json_array_foreach (rows, i, row) {
		struct fl_buf env = FL_BUF_INIT;
		char release[160];
		struct cp_assignment_payload p = {0};
		struct cp_assignment_row r = {0};

		snprintf(release, sizeof(release), "%s@%s",
			 json_string_value(json_object_get(row, "release_name")),
			 json_string_value(json_object_get(row, "release_version")));
		p.device_id = json_string_value(json_object_get(row, "device_id"));
		p.release = release;
		p.release_sha256 = json_string_value(json_object_get(row, "release_sha256"));
		p.counter = json_integer_value(json_object_get(row, "counter"));
		p.rollback = json_integer_value(json_object_get(row, "rollback")) != 0;
		if ((rc = cp_director_sign_assignment(&env, d, &p, now, err)) == 0) {
			r.device_id = p.device_id;
			r.name = json_string_value(json_object_get(row, "release_name"));
			r.version = json_string_value(json_object_get(row, "release_version"));
			r.counter = p.counter;
			r.rollback = p.rollback;
			r.issued_at = p.issued;
			r.expires_at = p.expires;
			r.envelope = env.ptr;
			rc = cp_store_assignment_resign(d->store, &r, err);
		}
		fl_buf_release(&env);
		if (rc < 0)
			break;
	}
	json_decref(rows);
	return rc;
}

int cp_director_maintain(struct cp_director *d, int64_t now, struct fl_err *err)
{
	int rc = 0;

	pthread_mutex_lock(&d->lock);
	if (!d->ts || d->ts_expires - now < CP_TIMESTAMP_MARGIN)
		rc = refresh_locked(d, now, err);
	pthread_mutex_unlock(&d->lock);
	if (rc == 0)
		rc = resign_assignments(d, now, err);
	return rc;
}

static void *maintainer(void *arg)
{
	struct cp_director *d = arg;

	pthread_mutex_lock(&d->tlock);
	while (!d->stopping) {
		struct fl_err err = {0, ""};
		struct timespec ts;

		fl_timespec_after(&ts, CLOCK_REALTIME, d->interval_ms);
		pthread_cond_timedwait(&d->wake, &d->tlock, &ts);
		if (d->stopping)
			break;
		pthread_mutex_unlock(&d->tlock);
		if (cp_director_maintain(d, fl_now(), &err) < 0)
			fl_log(FL_LOG_WARN, "re-signing timestamp/assignments failed: %s", err.msg);
		pthread_mutex_lock(&d->tlock);
	}
	pthread_mutex_unlock(&d->tlock);
	return NULL;
}

int cp_director_start(struct cp_director *d, int interval_ms, struct fl_err *err)
{
	d->interval_ms = interval_ms > 0 ? interval_ms : 60000;
	if (pthread_create(&d->thread, NULL, maintainer, d) != 0)
		return fl_err_set(err, FL_ERROR, "cannot start the re-signing thread");
	d->running = 1;
	return 0;
}

void cp_director_stop(struct cp_director *d)
{
	if (!d->running)
		return;
	pthread_mutex_lock(&d->tlock);
	d->stopping = 1;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->tlock);
	pthread_join(d->thread, NULL);
	d->running = 0;
}

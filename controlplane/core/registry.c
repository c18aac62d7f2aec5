#include "registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/map.h"

struct cp_registry {
	pthread_mutex_t lock;
	struct fl_map by_id;	/* id -> struct cp_dev * (owned) */
	struct fl_map by_keyid; /* active keyid -> the same struct cp_dev * */
};

int cp_registry_new(struct cp_registry **out, struct fl_err *err)
{
	struct cp_registry *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	pthread_mutex_init(&r->lock, NULL);
	fl_map_init(&r->by_id);
	fl_map_init(&r->by_keyid);
	*out = r;
	return 0;
}

void cp_registry_free(struct cp_registry *r)
{
	const char *k;
	void *v;

	if (!r)
		return;
	for (size_t i = 0; fl_map_next(&r->by_id, &i, &k, &v);)
		free(v);
	fl_map_release(&r->by_id);
	fl_map_release(&r->by_keyid);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Caller holds the lock. */
static int put_locked(struct cp_registry *r, const struct cp_dev *d)
{
	struct cp_dev *e = fl_map_get(&r->by_id, d->id);
	int rc;

	if (!e) {
		if (!(e = calloc(1, sizeof(*e))))
			return FL_ENOMEM;
		if ((rc = fl_map_put(&r->by_id, d->id, e, NULL)) < 0) {
			free(e);
			return rc;
		}
	} else if (e->keyid[0]) {
		fl_map_del(&r->by_keyid, e->keyid);
	}
	*e = *d;
	if (e->keyid[0] && (rc = fl_map_put(&r->by_keyid, e->keyid, e, NULL)) < 0)
		return rc;
	return 0;
}

static int load_one(const struct cp_device_core *c, void *ctx)
{
	struct cp_registry *r = ctx;
	struct cp_dev d;

	memset(&d, 0, sizeof(d));
	memcpy(d.id, c->id, sizeof(d.id));
	memcpy(d.state, c->state, sizeof(d.state));
	memcpy(d.keyid, c->keyid, sizeof(d.keyid));
	memcpy(d.pk, c->pk, sizeof(d.pk));
	d.desired_version = c->desired_version;
	d.last_seen = c->last_seen;
	d.open_commands = c->open_commands;
	memcpy(d.assigned, c->assigned, sizeof(d.assigned));
	return put_locked(r, &d) < 0;
}

int cp_registry_load(struct cp_registry *r, struct cp_store *s, struct fl_err *err)
{
	int rc;

	pthread_mutex_lock(&r->lock);
	rc = cp_store_devices_load(s, load_one, r, err);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

size_t cp_registry_count(struct cp_registry *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = fl_map_len(&r->by_id);
	pthread_mutex_unlock(&r->lock);
	return n;
}

static int copy_from(struct cp_dev *out, struct cp_registry *r, struct fl_map *m, const char *key)
{
	struct cp_dev *e;

	pthread_mutex_lock(&r->lock);
	e = fl_map_get(m, key);
	if (e)
		*out = *e;
	pthread_mutex_unlock(&r->lock);
	return e ? 0 : FL_ENOTFOUND;
}

int cp_registry_by_keyid(struct cp_dev *out, struct cp_registry *r, const char *keyid)
{
	return copy_from(out, r, &r->by_keyid, keyid);
}

int cp_registry_by_id(struct cp_dev *out, struct cp_registry *r, const char *id)
{
	return copy_from(out, r, &r->by_id, id);
}

int cp_registry_put(struct cp_registry *r, const struct cp_dev *d)
{
	int rc;

	pthread_mutex_lock(&r->lock);
	rc = put_locked(r, d);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void cp_registry_set_state(struct cp_registry *r, const char *id, const char *state)
{
	struct cp_dev *e;

	pthread_mutex_lock(&r->lock);
	if ((e = fl_map_get(&r->by_id, id)))
		snprintf(e->state, sizeof(e->state), "%s", state);
	pthread_mutex_unlock(&r->lock);
}

void cp_registry_set_desired_version(struct cp_registry *r, const char *id, int64_t v)
{
	struct cp_dev *e;

	pthread_mutex_lock(&r->lock);
	if ((e = fl_map_get(&r->by_id, id)))
		e->desired_version = v;
	pthread_mutex_unlock(&r->lock);
}

void cp_registry_set_assigned(struct cp_registry *r, const char *id, const char *assigned)
{
	struct cp_dev *e;

	pthread_mutex_lock(&r->lock);
	if ((e = fl_map_get(&r->by_id, id)))
		snprintf(e->assigned, sizeof(e->assigned), "%s", assigned);
	pthread_mutex_unlock(&r->lock);
}

void cp_registry_add_commands(struct cp_registry *r, const char *id, int delta)
{
	struct cp_dev *e;

	pthread_mutex_lock(&r->lock);
	if ((e = fl_map_get(&r->by_id, id))) {
		e->open_commands += delta;
		if (e->open_commands < 0)
			e->open_commands = 0;
	}
	pthread_mutex_unlock(&r->lock);
}

void cp_registry_set_commands(struct cp_registry *r, const char *id, int n)
{
	struct cp_dev *e;

	pthread_mutex_lock(&r->lock);
	if ((e = fl_map_get(&r->by_id, id)))
		e->open_commands = n < 0 ? 0 : n;
	pthread_mutex_unlock(&r->lock);
}

void cp_registry_touch(struct cp_registry *r, const char *id, int64_t now, uint64_t inv_hash,
		       uint64_t rep_hash, int *inv_changed, int *rep_changed)
{
	struct cp_dev *e;

	*inv_changed = *rep_changed = 0;
	pthread_mutex_lock(&r->lock);
	if ((e = fl_map_get(&r->by_id, id))) {
		if (now > e->last_seen)
			e->last_seen = now;
		if (inv_hash && inv_hash != e->inventory_hash) {
			e->inventory_hash = inv_hash;
			*inv_changed = 1;
		}
		if (rep_hash && rep_hash != e->reported_hash) {
			e->reported_hash = rep_hash;
			*rep_changed = 1;
		}
	}
	pthread_mutex_unlock(&r->lock);
}

void cp_registry_forget_hashes(struct cp_registry *r, const char *id)
{
	struct cp_dev *e;

	pthread_mutex_lock(&r->lock);
	if ((e = fl_map_get(&r->by_id, id)))
		e->inventory_hash = e->reported_hash = 0;
	pthread_mutex_unlock(&r->lock);
}

int64_t cp_registry_last_seen(struct cp_registry *r, const char *id)
{
	struct cp_dev d;

	return cp_registry_by_id(&d, r, id) == 0 ? d.last_seen : 0;
}

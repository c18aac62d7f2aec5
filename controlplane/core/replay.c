#include "replay.h"

#include <stdio.h>

#include "fairlead/crypto.h"
#include "fairlead/log.h"

/* The key in the memory cache: "keyid nonce". */
#define KEY_LEN (FL_KEYID_LEN + 72)

int cp_replay_before_start(int64_t created, int64_t started_at)
{
	/* At or before: the previous process may have accepted a signature made
	 * in the very second this one started. */
	return created <= started_at;
}

int cp_replay_claim(struct cp_expset *nonces, struct cp_store *store, const char *keyid,
		    const char *nonce, int64_t created, int64_t expires, int64_t now,
		    struct fl_err *err)
{
	struct fl_err serr = {0, ""};
	char key[KEY_LEN];
	int rc;

	snprintf(key, sizeof(key), "%s %s", keyid, nonce);
	/* Memory first: of racing copies exactly one gets here past the claim. */
	if ((rc = cp_expset_claim(nonces, key, expires, now)) < 0)
		return rc == FL_EEXISTS
			   ? fl_err_set(err, rc, "replayed request (nonce already seen)")
			   : fl_err_set(err, rc, "out of memory");
	/* Created <= now is refused after any restart by the start-second rule;
	 * only a signature dated ahead could be accepted again. */
	if (created <= now)
		return 0;
	rc = cp_store_replay_put(store, keyid, nonce, created, expires, now, &serr);
	if (rc == FL_EEXISTS)
		return fl_err_set(err, rc, "replayed request (nonce already seen)");
	if (rc < 0) {
		fl_log(FL_LOG_WARN, "replay cache: cannot store a nonce: %s", serr.msg);
		(void)cp_expset_take(nonces, key, now);
		return fl_err_set(err, FL_EUNAVAIL, "cannot record the request's nonce; retry");
	}
	return 0;
}

int cp_replay_load(struct cp_expset *nonces, struct cp_store *store, int64_t now,
		   struct fl_err *err)
{
	json_t *rows = NULL, *row;
	size_t i;
	int rc;

	if ((rc = cp_store_replay_load(&rows, store, now, err)) < 0)
		return rc;
	json_array_foreach (rows, i, row) {
		char key[KEY_LEN];

		snprintf(key, sizeof(key), "%s %s",
			 json_string_value(json_object_get(row, "keyid")),
			 json_string_value(json_object_get(row, "nonce")));
		rc = cp_expset_claim(nonces, key,
				     json_integer_value(json_object_get(row, "expires")), now);
		if (rc < 0 && rc != FL_EEXISTS) {
			json_decref(rows);
			return fl_err_set(err, rc, "out of memory loading the replay cache");
		}
	}
	json_decref(rows);
	return 0;
}

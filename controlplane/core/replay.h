/*
 * replay.h - the replay cache of signed device requests, held across
 * restarts.
 *
 * Every accepted nonce is kept in memory (core/expset.h) until its signature
 * expires. Memory starts empty after a restart, so two rules cover that gap:
 * the server refuses any signature created at or before its start second
 * (anything older may have been accepted by the previous process; fairleadd
 * listens only once that second is over), and the nonce of a signature
 * created after now - still acceptable after a quick restart - is written to
 * the store before the request is answered and loaded at start. Those are
 * rare (a device clock ahead of the server's), so the common check-in stays
 * off SQLite.
 */
#ifndef CP_REPLAY_H
#define CP_REPLAY_H

#include <stdint.h>

#include "core/expset.h"
#include "fairlead/err.h"
#include "store/store.h"

/* 1 when a signature created at created is too old for this process. */
int cp_replay_before_start(int64_t created, int64_t started_at);

/* Claims keyid's nonce until expires; durably first when created > now. 0,
 * FL_EEXISTS for a replay, FL_EUNAVAIL when it could not be stored (the
 * claim is undone: the client signs again and retries). */
int cp_replay_claim(struct cp_expset *nonces, struct cp_store *store, const char *keyid,
		    const char *nonce, int64_t created, int64_t expires, int64_t now,
		    struct fl_err *err);

/* Loads the stored nonces still unexpired at now into nonces. */
int cp_replay_load(struct cp_expset *nonces, struct cp_store *store, int64_t now,
		   struct fl_err *err);

#endif

/*
 * fake_transport.h - a scripted ag_transport for the agent's unit tests.
 *
 * Replies are queued with fake_push() and served in order; when the queue is
 * empty, or instead of it when a handler is set, the handler decides. Every
 * request is recorded with the key id it was signed with ("" = unsigned).
 */
#ifndef FAKE_TRANSPORT_H
#define FAKE_TRANSPORT_H

#include <jansson.h>
#include <stdint.h>

#include "agent/clock.h"
#include "agent/key.h"
#include "agent/transport.h"

struct fake_clock;

struct fake_reply {
	int rc;
	char *json; /* reply body on rc == 0, may be NULL */
	int64_t retry_after;
	char msg[128];
};

/* Artifact downloads: blobs served by GET /api/v1/device/artifacts/SHA with
 * the contract of fl_httpc_fetch, and ways to misbehave. */
enum fake_fetch_mode {
	FAKE_FETCH_OK,
	FAKE_FETCH_TRUNCATE, /* the blob minus its last byte, then a clean end */
	FAKE_FETCH_EXTRA,    /* the blob plus 16 bytes */
	FAKE_FETCH_WRONG,    /* one byte in the middle flipped */
};

struct fake_blob {
	char sha[65];
	unsigned char *data;
	size_t len;
};

struct fake {
	struct fake_reply replies[64];
	size_t n, next;
	/* Used when the queue is exhausted; NULL answers FL_ERROR. */
	int (*handler)(struct fake *f, json_t **out, const char *method, const char *target,
		       const json_t *body, int64_t *retry_after, struct fl_err *err);
	void *user;
	json_t *requests; /* [{"method","target","body","keyid"}...] */
	char keyid[64];	  /* current signer, "" when unsigned */
	struct fake_blob blobs[8];
	size_t nblobs;
	enum fake_fetch_mode fetch_mode;
	int ignore_range;    /* answer Range requests with the whole body */
	int stalls;	     /* next fetches deliver half of what is left, then time out */
	int64_t offsets[64]; /* offset of each fetch */
	size_t nfetch;
	/* A slow link: each delivered chunk advances clock->now by chunk_s. */
	struct fake_clock *clock;
	int64_t chunk_s;
};

/* A new transport whose ctx is *f (owned by the transport). */
struct ag_transport *fake_new(struct fake **f);
void fake_push(struct fake *f, int rc, const char *json, int64_t retry_after, const char *msg);
/* Serves data under sha (NULL: the SHA-256 of data); copies it. */
void fake_blob(struct fake *f, const char *sha, const void *data, size_t len);
/* Request i (borrowed); NULL when out of range. */
json_t *fake_req(const struct fake *f, size_t i);
size_t fake_nreq(const struct fake *f);

/* A clock that never sleeps: it records each requested delay, advances now
 * by it, and reports a stop after stop_after sleeps (0: never). rand returns
 * the rand[] values in turn when nrand > 0, else a fixed xorshift sequence. */
struct fake_clock {
	int64_t now;
	int64_t sleeps[256];
	size_t nsleeps;
	size_t stop_after;
	uint32_t rand[16];
	size_t nrand, rand_next;
	uint32_t state;
};
void fake_clock_init(struct ag_clock *out, struct fake_clock *c);

/* An enrolled device in dir: a fresh device.key and identity.json. */
void fake_device(struct ag_key *key, const char *dir, const char *device_id);

#endif

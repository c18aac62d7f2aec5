/*
 * fuzz_trust.c - the release metadata parsers and verifiers an agent runs on
 * what the server sends: root rotations, release metadata, the timestamp and
 * director assignments (common/src/trust.c).
 *
 * Input: "KIND\nPAYLOAD", KIND one of root, release, timestamp, assignment,
 * time, semver; any other first line runs PAYLOAD through every metadata
 * kind. The verifiers check signatures before they parse, so the payload is
 * wrapped in an envelope of the right type and signed by the role's keys of
 * the trusted root (fuzz_keys.h): the parser then sees every input. That is
 * no stretch for the timestamp and assignments, whose keys are online on
 * the server: a compromised server signs whatever it likes with them.
 *
 * A call that accepts its input must hand back what its contract promises.
 */
#include <string.h>

#include "fairlead/relref.h"
#include "fairlead/util.h"
#include "fuzz.h"
#include "fuzz_keys.h"

static struct fl_trust_root trusted;

static void init(void)
{
	static int done;

	if (done)
		return;
	if (fl_crypto_init() < 0)
		abort();
	fz_trusted_root(&trusted);
	done = 1;
}

static int hex64(const char *s)
{
	if (strlen(s) != 64)
		return 0;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static void check_root(const struct fl_trust_root *r)
{
	char id[FL_KEYID_LEN + 1];

	FZ_CHECK(r->version >= 1);
	for (int i = 0; i < FL_TRUST_ROLE_COUNT; i++) {
		const struct fl_trust_role *role = &r->roles[i];

		FZ_CHECK(role->nkeys >= 1 && role->nkeys <= FL_TRUST_MAX_KEYS);
		FZ_CHECK(role->threshold >= 1 && (uint64_t)role->threshold <= role->nkeys);
		for (size_t k = 0; k < role->nkeys; k++) {
			fl_keyid(id, role->keys[k].pk);
			FZ_CHECK(strcmp(id, role->keys[k].keyid) == 0);
		}
	}
}

/* As a root on its own, as the agent's initial root (self-signed), and as
 * the next root the server announces (signed by the old and new root keys). */
static void fuzz_root(const uint8_t *p, size_t n)
{
	static const int signers[] = {FZ_K_ROOT, FZ_K_ROOT2};
	const struct fl_envelope *chain[1];
	struct fl_trust_root r, next = trusted;
	struct fl_envelope e;
	struct fl_err err = {0, ""};

	if (fl_trust_root_parse(&r, p, n, &err) == 0)
		check_root(&r);
	fz_envelope(&e, FL_TRUST_TYPE_ROOT, p, n, signers, 2);
	if (fl_trust_root_load(&r, &e, &err) == 0)
		check_root(&r);
	if (fl_trust_root_update(&next, &e, &err) == 0) {
		check_root(&next);
		FZ_CHECK(next.version == trusted.version + 1);
	} else {
		/* A refused rotation leaves the trusted root as it was. */
		FZ_CHECK(memcmp(&next, &trusted, sizeof(next)) == 0);
	}
	next = trusted;
	chain[0] = &e;
	if (fl_trust_root_chain(&next, chain, 1, FZ_NOW, &err) == 0)
		FZ_CHECK(next.expires > FZ_NOW && next.version == trusted.version + 1);
	fl_envelope_release(&e);
}

static void fuzz_release(const uint8_t *p, size_t n)
{
	static const int signers[] = {FZ_K_RELEASE};
	struct fl_trust_release r;
	struct fl_envelope e;
	struct fl_err err = {0, ""};

	fz_envelope(&e, FL_TRUST_TYPE_RELEASE, p, n, signers, 1);
	if (fl_trust_release_verify(&r, &trusted, &e, FZ_NOW, &err) == 0) {
		FZ_CHECK(fl_relref_name_valid(r.name));
		FZ_CHECK(fl_trust_semver_valid(r.version));
		FZ_CHECK(r.counter >= 1 && r.expires > FZ_NOW);
		FZ_CHECK(r.nartifacts >= 1 && r.nartifacts <= FL_TRUST_MAX_ARTIFACTS);
		for (size_t i = 0; i < r.nartifacts; i++) {
			FZ_CHECK(fl_trust_artifact_name_valid(r.artifacts[i].name));
			FZ_CHECK(hex64(r.artifacts[i].sha256) && r.artifacts[i].length >= 0);
		}
		FZ_CHECK(json_is_array(r.hardware));
		fl_trust_release_free(&r);
	}
	fl_envelope_release(&e);
}

static void fuzz_timestamp(const uint8_t *p, size_t n)
{
	static const int signers[] = {FZ_K_TIMESTAMP};
	struct fl_trust_timestamp t;
	struct fl_envelope e;
	struct fl_err err = {0, ""};

	fz_envelope(&e, FL_TRUST_TYPE_TIMESTAMP, p, n, signers, 1);
	if (fl_trust_timestamp_verify(&t, &trusted, &e, FZ_NOW, &err) == 0) {
		const char *ref;
		json_t *v;

		FZ_CHECK(t.version >= 1 && t.expires > FZ_NOW && json_is_object(t.releases));
		json_object_foreach ((json_t *)(uintptr_t)t.releases, ref, v) {
			struct fl_relref rr;

			FZ_CHECK(fl_relref_parse(&rr, ref, NULL) == 0);
			FZ_CHECK(json_is_string(v) && hex64(json_string_value(v)));
		}
		fl_trust_timestamp_free(&t);
	}
	fl_envelope_release(&e);
}

static void fuzz_assignment(const uint8_t *p, size_t n)
{
	static const int signers[] = {FZ_K_DIRECTOR};
	struct fl_trust_assignment a;
	struct fl_envelope e;
	struct fl_err err = {0, ""};

	fz_envelope(&e, FL_TRUST_TYPE_ASSIGNMENT, p, n, signers, 1);
	if (fl_trust_assignment_verify(&a, &trusted, &e, FZ_NOW, &err) == 0) {
		struct fl_relref rr;

		FZ_CHECK(fl_id_valid(a.device_id) && a.expires > FZ_NOW && a.counter >= 1);
		FZ_CHECK(fl_relref_parse(&rr, a.release, NULL) == 0 && hex64(a.release_sha256));
		fl_trust_assignment_free(&a);
	}
	fl_envelope_release(&e);
}

static void fuzz_strings(const uint8_t *p, size_t n)
{
	char *s = fz_strndup(p, n);
	struct fl_err err = {0, ""};
	int64_t t;

	if (fl_trust_time_parse(&t, s, &err) == 0)
		FZ_CHECK(strlen(s) == 20 && s[19] == 'Z');
	if (fl_trust_semver_valid(s))
		FZ_CHECK(strlen(s) >= 5 && strlen(s) <= 64);
	if (fl_trust_artifact_name_valid(s))
		FZ_CHECK(strchr(s, '/') == NULL && strstr(s, "..") == NULL);
	free(s);
}

static int fuzz_one(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t klen = nl ? (size_t)(nl - data) : 0;
	const uint8_t *p = nl ? nl + 1 : data;
	size_t n = size - (size_t)(p - data);

#define KIND(k) (klen == strlen(k) && memcmp(data, k, klen) == 0)
	init();
	/* Larger payloads no envelope can carry: fz_envelope would refuse. */
	if (n > FL_ENVELOPE_MAX_PAYLOAD)
		return 0;
	if (KIND("root")) {
		fuzz_root(p, n);
	} else if (KIND("release")) {
		fuzz_release(p, n);
	} else if (KIND("timestamp")) {
		fuzz_timestamp(p, n);
	} else if (KIND("assignment")) {
		fuzz_assignment(p, n);
	} else if (KIND("time") || KIND("semver")) {
		fuzz_strings(p, n);
	} else {
		fuzz_root(p, n);
		fuzz_release(p, n);
		fuzz_timestamp(p, n);
		fuzz_assignment(p, n);
	}
#undef KIND
	return 0;
}

FZ_TARGET(fuzz_one)

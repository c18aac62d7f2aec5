/*
 * fuzz_envelope.c - the DSSE envelope parser and threshold verifier
 * (common/src/envelope.c) on the bytes an agent receives: a root file given
 * at enrollment, and the envelopes in server replies (root rotations, the
 * assignment, timestamp and release of an update offer), which the agent
 * parses as JSON and hands to ag_root_envelope_from_json.
 *
 * Input: the serialised envelope. The seed corpus holds envelopes signed by
 * the fixed keys of fuzz_keys.h, so mutations start from ones that verify.
 * A parsed envelope must survive dump and parse unchanged, and the JSON path
 * must agree with the direct one.
 */
#include <string.h>

#include "agent/root.h"
#include "fuzz.h"
#include "fuzz_keys.h"

static struct fl_trust_root trusted;
/* Every key of fuzz_keys.h, threshold 1 and 2. */
static struct fl_trust_role any1, any2;

static void init(void)
{
	static int done;
	struct fz_key k;

	if (done)
		return;
	if (fl_crypto_init() < 0)
		abort();
	fz_trusted_root(&trusted);
	for (int i = 0; i < FZ_NKEYS; i++) {
		fz_key(&k, i);
		memcpy(any1.keys[i].keyid, k.id, sizeof(k.id));
		memcpy(any1.keys[i].pk, k.pk, sizeof(k.pk));
	}
	any1.nkeys = FZ_NKEYS;
	any1.threshold = 1;
	any2 = any1;
	any2.threshold = 2;
	done = 1;
}

static int same(const struct fl_envelope *a, const struct fl_envelope *b)
{
	return strcmp(a->type, b->type) == 0 && a->payload_len == b->payload_len &&
	       memcmp(a->payload, b->payload, a->payload_len) == 0 && a->nsigs == b->nsigs &&
	       memcmp(a->sigs, b->sigs, a->nsigs * sizeof(a->sigs[0])) == 0;
}

/* What the agent does with a parsed envelope, by its type. */
static void verify(const struct fl_envelope *e)
{
	static const char *const types[] = {FL_TRUST_TYPE_ROOT, FL_TRUST_TYPE_RELEASE,
					    FL_TRUST_TYPE_TIMESTAMP, FL_TRUST_TYPE_ASSIGNMENT};
	struct fl_err err = {0, ""};
	struct fl_trust_root r = trusted;
	int ok1, ok2;

	ok1 = fl_envelope_verify(e, e->type, &any1, &err) == 0;
	ok2 = fl_envelope_verify(e, e->type, &any2, &err) == 0;
	/* Two distinct keys that verify are one key that does. */
	FZ_CHECK(!ok2 || ok1);
	/* Never of a type other than its own. */
	FZ_CHECK(fl_envelope_verify(e, "application/x-fuzz-other", &any1, &err) == FL_EINVAL);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(e->type, types[i]) == 0)
			(void)fl_envelope_verify(e, types[i], &trusted.roles[i], &err);
	if (strcmp(e->type, FL_TRUST_TYPE_ROOT) == 0) {
		(void)fl_trust_root_load(&r, e, &err);
		r = trusted;
		(void)fl_trust_root_update(&r, e, &err);
	}
}

static int fuzz_one(const uint8_t *data, size_t size)
{
	struct fl_envelope e, again, via_json;
	struct fl_buf out = FL_BUF_INIT;
	struct fl_err err = {0, ""};
	json_t *doc = NULL;
	/* Exactly size bytes, no terminator: the parser gets a length. */
	char *buf = malloc(size ? size : 1);
	int rc, rc_json;

	if (!buf)
		abort();
	if (size)
		memcpy(buf, data, size);
	init();
	rc = fl_envelope_parse(&e, buf, size, &err);
	if (rc == 0) {
		FZ_CHECK(e.type && e.payload && e.nsigs <= FL_ENVELOPE_MAX_SIGS);
		FZ_CHECK(e.payload_len <= FL_ENVELOPE_MAX_PAYLOAD && e.payload[e.payload_len] == 0);
		verify(&e);
		FZ_CHECK(fl_envelope_dump(&out, &e, &err) == 0);
		FZ_CHECK(fl_envelope_parse(&again, out.ptr, out.len, &err) == 0);
		FZ_CHECK(same(&e, &again));
		fl_envelope_release(&again);
	} else {
		FZ_CHECK(e.type == NULL && e.payload == NULL && e.nsigs == 0);
	}

	/* The server-reply path: JSON first, then the envelope of the object. */
	if (fl_json_parse(&doc, buf, size, &err) == 0) {
		rc_json = ag_root_envelope_from_json(&via_json, doc, &err);
		if (json_is_object(doc))
			FZ_CHECK((rc_json == 0) == (rc == 0));
		if (rc_json == 0) {
			if (rc == 0)
				FZ_CHECK(same(&e, &via_json));
			fl_envelope_release(&via_json);
		}
		json_decref(doc);
	}
	if (rc == 0)
		fl_envelope_release(&e);
	fl_buf_release(&out);
	free(buf);
	return 0;
}

FZ_TARGET(fuzz_one)

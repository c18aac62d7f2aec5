/*
 * fuzz_seeds.c - writes the signed seeds of the envelope and trust corpora.
 *
 *   fuzz_seeds CORPUS_DIR     (tests/fuzz/corpus: writes envelope/ and trust/)
 *
 * Everything is signed by the fixed keys of fuzz_keys.h with the code's own
 * functions (fl_envelope_sign), and dates are fixed, so a rerun writes the
 * same bytes. Hand-made seeds (malformed ones, past crashes) sit beside
 * these and are left alone.
 */
#include <stdio.h>
#include <string.h>

#include "fairlead/buf.h"
#include "fairlead/crypto.h"
#include "fuzz_keys.h"

static const char *corpus;

static void put(const char *sub, const char *name, const char *prefix, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", corpus, sub, name);
	if (!(f = fopen(path, "wb")) || fputs(prefix, f) < 0 || fwrite(data, 1, len, f) != len ||
	    fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* Writes envelope/NAME: e serialised as the CLI and the agent write it. */
static void put_envelope(const char *name, const struct fl_envelope *e, char hex[65])
{
	struct fl_buf b = FL_BUF_INIT;

	if (fl_envelope_dump(&b, e, NULL) < 0)
		fz_die("dump");
	put("envelope", name, "", b.ptr, b.len);
	if (hex)
		fl_sha256_hex(hex, b.ptr, b.len);
	fl_buf_release(&b);
}

/* Writes trust/NAME ("KIND\n" and doc's JSON) and envelope/NAME (doc signed
 * by signers); consumes doc. */
static void put_doc(const char *name, const char *kind, const char *type, json_t *doc,
		    const int *signers, size_t n, char hex[65])
{
	struct fl_envelope e;
	char *s = fl_json_dumps(doc), prefix[32];

	if (!s)
		fz_die("dump");
	snprintf(prefix, sizeof(prefix), "%s\n", kind);
	put("trust", name, prefix, s, strlen(s));
	fz_envelope(&e, type, s, strlen(s), signers, n);
	put_envelope(name, &e, hex);
	fl_envelope_release(&e);
	free(s);
	json_decref(doc);
}

int main(int argc, char **argv)
{
	static const int root1[] = {FZ_K_ROOT}, root2[] = {FZ_K_ROOT, FZ_K_ROOT2},
			 rel[] = {FZ_K_RELEASE}, rel2[] = {FZ_K_RELEASE, FZ_K_RELEASE2},
			 ts[] = {FZ_K_TIMESTAMP}, dir[] = {FZ_K_DIRECTOR};
	struct fl_envelope e;
	char sha[65];
	json_t *release;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	corpus = argv[1];
	if (fl_crypto_init() < 0)
		return 1;

	put_doc("root-v1", "root", FL_TRUST_TYPE_ROOT, fz_root_doc(1, root1, 1, 1), root1, 1, NULL);
	/* The next root, adding a second root key: a rotation that verifies. */
	put_doc("root-v2", "root", FL_TRUST_TYPE_ROOT, fz_root_doc(2, root2, 2, 2), root2, 2, NULL);

	release =
	    json_pack("{sssssssssIs[s]s[{sssIss}{sssIss}]s{sssI}s{sssI}s{sfsf}s{sssssnss}ss}",
		      "_type", "release", "name", "detector", "kind", "model", "version",
		      "1.2.0-rc.1+build.5", "counter", (json_int_t)7, "hardware", "rpi4",
		      "artifacts", "name", "model.onnx", "length", (json_int_t)3, "sha256",
		      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "name",
		      "labels.txt", "length", (json_int_t)0, "sha256",
		      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "install",
		      "hook", "install.sh", "timeout_s", (json_int_t)60, "health", "cmd",
		      "health.sh", "window_s", (json_int_t)30, "baseline", "p95_ms", 12.5,
		      "error_ratio", 0.01, "lineage", "source_commit", "abc123", "training_data",
		      "sha256:00", "parent", "builder", "ci", "expires", FZ_EXPIRES);
	put_doc("release", "release", FL_TRUST_TYPE_RELEASE, json_incref(release), rel, 1, sha);
	/* Two release keys: the threshold counts each once. */
	fz_envelope_doc(&e, FL_TRUST_TYPE_RELEASE, release, rel2, 2);
	put_envelope("release-two-signatures", &e, NULL);
	fl_envelope_release(&e);

	put_doc("timestamp", "timestamp", FL_TRUST_TYPE_TIMESTAMP,
		json_pack("{sssIsss{ssss}}", "_type", "timestamp", "version", (json_int_t)3,
			  "expires", FZ_EXPIRES, "releases", "detector@1.2.0-rc.1+build.5", sha,
			  "other@0.1.0", sha),
		ts, 1, NULL);
	put_doc("assignment", "assignment", FL_TRUST_TYPE_ASSIGNMENT,
		json_pack("{sssssssssIsbssss}", "_type", "assignment", "device_id", "dev-1",
			  "release", "detector@1.2.0-rc.1+build.5", "release_sha256", sha,
			  "counter", (json_int_t)7, "rollback", 1, "issued", "2025-12-31T00:00:00Z",
			  "expires", FZ_EXPIRES),
		dir, 1, NULL);

	put("trust", "time", "time\n", "2024-02-29T23:59:59Z", 20);
	put("trust", "semver", "semver\n", "10.20.30-alpha.1.x-y+exp.sha.5114f85", 35);
	return 0;
}

/*
 * cmd_audit.c - `fairlead audit`: reading the audit log and verifying its
 * hash chain on the operator's machine, so that a compromised server cannot
 * vouch for itself.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fairlead/audit.h"
#include "fairlead/crypto.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/util.h"

static int verdict(struct cli_audit_verdict *out, int64_t seq, const char *reason, const char *fmt,
		   ...) FL_PRINTF(4, 5);

/* Records the first break; always returns 0 (the check itself worked). */
static int verdict(struct cli_audit_verdict *out, int64_t seq, const char *reason, const char *fmt,
		   ...)
{
	va_list ap;

	out->intact = 0;
	out->bad_seq = seq;
	snprintf(out->reason, sizeof(out->reason), "%s", reason);
	va_start(ap, fmt);
	vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
	va_end(ap);
	return 0;
}

/* The fields of one entry, borrowed from the JSON. */
struct entry {
	int64_t seq, ts;
	const char *actor, *action, *target, *prev_hash, *hash;
	const json_t *details;
};

static int entry_get(struct entry *e, const json_t *obj)
{
	const json_t *seq = json_object_get(obj, "seq"), *ts = json_object_get(obj, "ts");

	memset(e, 0, sizeof(*e));
	if (!json_is_object(obj) || !json_is_integer(seq) || !json_is_integer(ts))
		return -1;
	e->seq = json_integer_value(seq);
	e->ts = json_integer_value(ts);
	/* actor, action and target may be null: fl_audit_hash hashes NULL as "". */
	if (fl_json_str(&e->actor, obj, "actor", 0, NULL) < 0 ||
	    fl_json_str(&e->action, obj, "action", 0, NULL) < 0 ||
	    fl_json_str(&e->target, obj, "target", 0, NULL) < 0 ||
	    fl_json_str(&e->prev_hash, obj, "prev_hash", 1, NULL) < 0 ||
	    fl_json_str(&e->hash, obj, "hash", 1, NULL) < 0)
		return -1;
	e->details = json_object_get(obj, "details");
	return 0;
}

static int64_t seq_at(const json_t *entries, size_t i)
{
	const json_t *s = json_object_get(json_array_get(entries, i), "seq");

	return json_is_integer(s) ? json_integer_value(s) : -1;
}

static const char *hash_at(const json_t *entries, size_t i)
{
	const json_t *h = json_object_get(json_array_get(entries, i), "hash");

	return json_is_string(h) ? json_string_value(h) : "";
}

/* seq is not the expected one: tells a reorder, a gap and a duplicate apart
 * (only on this failure path, so the scan costs nothing on a good chain). */
static int seq_break(struct cli_audit_verdict *out, const json_t *entries, size_t i, int64_t seq,
		     int64_t expected)
{
	if (seq < expected)
		return verdict(out, seq, "inserted",
			       "a second entry with seq %lld follows seq %lld", (long long)seq,
			       (long long)(expected - 1));
	for (size_t j = i + 1; j < json_array_size(entries); j++)
		if (seq_at(entries, j) == expected)
			return verdict(out, expected, "reordered", "seq %lld comes before seq %lld",
				       (long long)seq, (long long)expected);
	if (seq == expected + 1)
		return verdict(out, expected, "deleted", "entry %lld is missing",
			       (long long)expected);
	return verdict(out, expected, "deleted", "entries %lld to %lld are missing",
		       (long long)expected, (long long)(seq - 1));
}

/* prev_hash is not the previous entry's hash, though the entry itself is
 * intact. When it names an older entry, what lies between was inserted;
 * otherwise the previous entry was changed (and its hash recomputed). */
static int link_break(struct cli_audit_verdict *out, const json_t *entries, size_t i,
		      const struct entry *e)
{
	if (i == 0)
		return verdict(out, e->seq, "modified",
			       "the first entry does not chain to the genesis hash");
	for (size_t j = 0; j + 1 < i; j++)
		if (strcmp(hash_at(entries, j), e->prev_hash) == 0)
			return verdict(out, seq_at(entries, j + 1), "inserted",
				       "seq %lld chains to seq %lld, skipping what lies between",
				       (long long)e->seq, (long long)seq_at(entries, j));
	return verdict(out, seq_at(entries, i - 1), "modified",
		       "its hash is not the prev_hash of seq %lld", (long long)e->seq);
}

int cli_audit_verify_chain(struct cli_audit_verdict *out, const json_t *entries, const json_t *head,
			   struct fl_err *err)
{
	const char *prev = FL_AUDIT_GENESIS, *head_hash = NULL;
	const json_t *head_seq = json_object_get(head, "seq");
	size_t n = json_array_size(entries);
	int64_t last;

	memset(out, 0, sizeof(*out));
	if (!json_is_array(entries) || !json_is_object(head) || !json_is_integer(head_seq) ||
	    fl_json_str(&head_hash, head, "hash", 0, NULL) < 0)
		return fl_err_set(err, FL_EINVAL,
				  "audit entries must be an array and the head "
				  "an object with an integer seq");
	for (size_t i = 0; i < n; i++) {
		const json_t *obj = json_array_get(entries, i);
		int64_t expected = (int64_t)i + 1;
		struct entry e;
		char *details = NULL;
		char hash[65];

		if (entry_get(&e, obj) < 0)
			return verdict(out, seq_at(entries, i) >= 0 ? seq_at(entries, i) : expected,
				       "malformed",
				       "entry %zu lacks a field or has one of the wrong "
				       "type",
				       i + 1);
		out->entries = (int64_t)i;
		if (e.seq != expected)
			return seq_break(out, entries, i, e.seq, expected);
		/* The server hashed the compact, key-sorted form of details;
		 * NULL stands for an absent or null details ("{}"). */
		if (e.details && !json_is_null(e.details) && !(details = fl_json_dumps(e.details)))
			return fl_err_set(err, FL_ENOMEM, "out of memory");
		fl_audit_hash(hash, e.prev_hash, e.seq, e.ts, e.actor, e.action, e.target, details);
		free(details);
		if (strcmp(hash, e.hash) != 0)
			return verdict(out, e.seq, "modified",
				       "its hash does not match its content");
		if (strcmp(e.prev_hash, prev) != 0)
			return link_break(out, entries, i, &e);
		prev = e.hash;
	}
	out->entries = (int64_t)n;
	/* The chain alone cannot show a cut tail: the head can. */
	last = (int64_t)n;
	if (json_integer_value(head_seq) > last)
		return verdict(out, last + 1, "deleted",
			       "the head is seq %lld but the log ends at seq %lld",
			       (long long)json_integer_value(head_seq), (long long)last);
	if (json_integer_value(head_seq) < last)
		return verdict(out, json_integer_value(head_seq) + 1, "inserted",
			       "the log goes past the head at seq %lld",
			       (long long)json_integer_value(head_seq));
	if (last > 0 && (!head_hash || strcmp(head_hash, prev) != 0))
		return verdict(out, last, "modified", "its hash differs from the head's");
	out->intact = 1;
	return 0;
}

/* Parses a sequence number (0 allowed). */
static int parse_seq(int64_t *out, struct cli_ctx *ctx, const char *s, struct fl_err *err)
{
	char *end;
	long long v;

	v = strtoll(s, &end, 10);
	if (!*s || *end || v < 0 || *s == '-' || *s == '+')
		return cli_usage(ctx, err, "--after needs a sequence number, not '%.32s'", s);
	*out = v;
	return 0;
}

/* Fetches entries after `after` (-1: from the start) following next_after,
 * up to limit entries (0: all). */
static int fetch_entries(json_t **out, struct cli_ctx *ctx, int64_t after, int64_t limit,
			 struct fl_err *err)
{
	struct fl_buf target = FL_BUF_INIT;
	json_t *all = json_array(), *reply = NULL;
	int rc = 0;

	*out = NULL;
	if (!all)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	for (;;) {
		json_t *entries, *next, *e;
		size_t i;
		char sep = '?';

		fl_buf_clear(&target);
		rc = fl_buf_puts(&target, "/api/v1/audit");
		if (rc == 0 && after >= 0) {
			rc = fl_buf_addf(&target, "%cafter=%lld", sep, (long long)after);
			sep = '&';
		}
		if (rc == 0 && limit) {
			int64_t left = limit - (int64_t)json_array_size(all);

			rc = fl_buf_addf(&target, "%climit=%lld", sep,
					 (long long)(left < CLI_PAGE_MAX ? left : CLI_PAGE_MAX));
		}
		if (rc < 0) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
		json_decref(reply);
		if ((rc = cli_api(&reply, ctx, "GET", target.ptr, NULL, err)) < 0)
			goto cleanup;
		if (!json_is_array(entries = json_object_get(reply, "entries"))) {
			rc = fl_err_set(err, FL_ERROR, "the server's reply has no audit entries");
			goto cleanup;
		}
		json_array_foreach (entries, i, e) {
			if (limit && (int64_t)json_array_size(all) >= limit)
				break;
			if (json_array_append(all, e) < 0) {
				rc = fl_err_set(err, FL_ENOMEM, "out of memory");
				goto cleanup;
			}
		}
		next = json_object_get(reply, "next_after");
		if (!json_is_integer(next) || (limit && (int64_t)json_array_size(all) >= limit))
			break;
		/* next_after must move forward, or a bad server keeps us here. */
		if (json_integer_value(next) <= after) {
			rc = fl_err_set(err, FL_ERROR, "the server's next_after did not advance");
			goto cleanup;
		}
		after = json_integer_value(next);
	}
	*out = all;
	all = NULL;
cleanup:
	fl_buf_release(&target);
	json_decref(reply);
	json_decref(all);
	return rc;
}

static int cli_audit_list(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	static const char *const headers[] = {"SEQ", "TIME", "ACTOR", "ACTION", "TARGET"};
	static const char *const keys[] = {"seq", "ts", "actor", "action", "target"};
	const char *after_s = cli_args_get(a, "--after"), *limit_s = cli_args_get(a, "--limit");
	int64_t after = -1, limit = 0;
	json_t *entries = NULL;
	int rc;

	if (after_s && (rc = parse_seq(&after, ctx, after_s, err)) < 0)
		return rc;
	if (limit_s && (rc = cli_parse_count(&limit, ctx, "--limit", limit_s, err)) < 0)
		return rc;
	if ((rc = fetch_entries(&entries, ctx, after, limit, err)) < 0)
		return rc;
	rc = cli_out_list(ctx->out, ctx->format, entries, FL_ARRAY_SIZE(keys), headers, keys);
	json_decref(entries);
	return rc;
}

/*
 * The witness. A hash chain read from the server proves the log consistent
 * with itself, not with yesterday's log: whoever can write the database can
 * rewrite every entry from some point on, or cut the tail, and rehash. So the
 * CLI remembers the head it last verified for each server (its witness file)
 * and insists that the log still holds that entry, unchanged.
 */
static int witness_path(char *out, size_t cap, const struct cli_args *a)
{
	const char *w = cli_args_get(a, "--witness");
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	if (w) {
		snprintf(out, cap, "%s", w);
		return 1;
	}
	if (cli_args_get(a, "--no-witness"))
		return 0;
	if (state && *state)
		snprintf(out, cap, "%s/fairlead/audit-witness.json", state);
	else if (home && *home)
		snprintf(out, cap, "%s/.local/state/fairlead/audit-witness.json", home);
	else
		return 0;
	return 1;
}

/* Checks entries against the witnessed head of server; a verdict on mismatch. */
static void witness_check(struct cli_audit_verdict *v, const json_t *witness, const char *server,
			  const json_t *entries)
{
	json_t *w = json_object_get(witness, server), *e;
	int64_t seq;
	const char *hash;
	size_t i;

	if (!json_is_object(w) || !v->intact)
		return;
	seq = json_integer_value(json_object_get(w, "seq"));
	hash = json_string_value(json_object_get(w, "hash"));
	if (seq <= 0 || !hash)
		return;
	json_array_foreach (entries, i, e) {
		if (json_integer_value(json_object_get(e, "seq")) != seq)
			continue;
		if (strcmp(json_string_value(json_object_get(e, "hash")), hash) == 0)
			return;
		verdict(v, seq, "modified", "entry %lld differs from the one verified before",
			(long long)seq);
		return;
	}
	verdict(v, seq, "deleted", "entry %lld, verified before, is gone", (long long)seq);
}

static int witness_update(const char *path, json_t *witness, const char *server, const json_t *head,
			  struct fl_err *err)
{
	char dir[1024], *text;
	char *slash;
	int rc;

	json_object_set_new(witness, server,
			    json_pack("{s:O,s:O}", "seq", json_object_get(head, "seq"), "hash",
				      json_object_get(head, "hash")));
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		if ((rc = fl_fs_mkdir_p(dir, 0700, err)) < 0)
			return rc;
	}
	if (!(text = json_dumps(witness, JSON_INDENT(2) | JSON_SORT_KEYS)))
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	rc = fl_fs_write_atomic(path, text, strlen(text), 0600, err);
	free(text);
	return rc;
}

/* Which control plane this is: the hash of the CA it is pinned to (stable when
 * it moves address), else its URL. */
static void witness_key(char out[80], const struct cli_config *cfg)
{
	struct fl_buf ca = FL_BUF_INIT;
	char hex[65];

	fl_buf_init(&ca, 1 << 20);
	if (cfg->ca && fl_fs_read(&ca, cfg->ca, NULL) == 0) {
		fl_sha256_hex(hex, ca.ptr, ca.len);
		snprintf(out, 80, "ca:%s", hex);
	} else {
		snprintf(out, 80, "%.79s", cfg->server);
	}
	fl_buf_release(&ca);
}

static int cli_audit_verify(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	char wkey[80];
	struct cli_config cfg = {0};
	struct fl_buf wtext = FL_BUF_INIT;
	json_t *witness = NULL;
	char wpath[1024];
	int use_witness;
	struct cli_audit_verdict v;
	json_t *entries = NULL, *head = NULL, *report = NULL;
	int rc;

	/* The head first, so that entries appended while we page do not look
	 * like a cut tail. When the log then reaches past that head, the head is
	 * read again and must match exactly: entries past the head are never
	 * dropped unchecked, as a forged tail could hide there. */
	if ((rc = cli_api(&head, ctx, "GET", "/api/v1/audit/head", NULL, err)) < 0)
		goto cleanup;
	if ((rc = fetch_entries(&entries, ctx, -1, 0, err)) < 0)
		goto cleanup;
	if (json_array_size(entries) > 0 &&
	    json_integer_value(
		json_object_get(json_array_get(entries, json_array_size(entries) - 1), "seq")) >
		json_integer_value(json_object_get(head, "seq"))) {
		json_decref(head);
		if ((rc = cli_api(&head, ctx, "GET", "/api/v1/audit/head", NULL, err)) < 0)
			goto cleanup;
	}
	if ((rc = cli_audit_verify_chain(&v, entries, head, err)) < 0) {
		fl_err_prefix(err, "the server's audit head");
		goto cleanup;
	}
	use_witness = witness_path(wpath, sizeof(wpath), a);
	if (use_witness) {
		if ((rc = cli_config_resolve(&cfg, &ctx->flags, err)) < 0)
			goto cleanup;
		fl_buf_init(&wtext, 1 << 20);
		rc = fl_fs_read(&wtext, wpath, err);
		if (rc == 0 && fl_json_parse_object(&witness, wtext.ptr, wtext.len, NULL) < 0) {
			rc = fl_err_set(err, FL_EINVAL, "witness file '%s' is corrupt", wpath);
			goto cleanup;
		}
		if (rc < 0 && rc != FL_ENOTFOUND)
			goto cleanup;
		if (!witness)
			witness = json_object();
		witness_key(wkey, &cfg);
		witness_check(&v, witness, wkey, entries);
		if (v.intact && (rc = witness_update(wpath, witness, wkey, head, err)) < 0)
			goto cleanup;
		rc = 0;
	}
	if (ctx->format == CLI_FMT_JSON) {
		report = v.intact
			     ? json_pack("{sbsI}", "intact", 1, "entries", (json_int_t)v.entries)
			     : json_pack("{sbsIsIssss}", "intact", 0, "entries",
					 (json_int_t)v.entries, "seq", (json_int_t)v.bad_seq,
					 "reason", v.reason, "detail", v.detail);
		if (!report) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
		cli_out_json(ctx->out, report);
	} else if (v.intact) {
		fprintf(ctx->out, "audit chain intact: %lld entries\n", (long long)v.entries);
	} else {
		fprintf(ctx->out, "audit chain broken at seq %lld: %s (%s)\n", (long long)v.bad_seq,
			v.reason, v.detail);
	}
	if (!v.intact)
		rc = fl_err_set(err, FL_ERROR, "audit chain broken at seq %lld: %s (%s)",
				(long long)v.bad_seq, v.reason, v.detail);
cleanup:
	json_decref(witness);
	fl_buf_release(&wtext);
	cli_config_release(&cfg);
	json_decref(head);
	json_decref(entries);
	json_decref(report);
	return rc;
}

static const struct cli_optspec verify_opts[] = {
    {"--witness", NULL, CLI_OPT_VALUE},
    {"--no-witness", NULL, CLI_OPT_FLAG},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec list_opts[] = {
    {"--after", NULL, CLI_OPT_VALUE},
    {"--limit", NULL, CLI_OPT_VALUE},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_cmd audit_cmds[] = {
    {"list", "[--after SEQ] [--limit N]", "Lists audit log entries, following the server's pages.",
     "options:\n"
     "  --after SEQ      start after this sequence number\n"
     "  --limit N        stop after N entries\n",
     list_opts, 0, 0, cli_audit_list},
    {"verify", "[--witness FILE | --no-witness]",
     "Fetches the whole audit log and its head and recomputes the hash chain locally.\n"
     "Exit 0: 'audit chain intact: N entries'; exit 1: 'audit chain broken at seq N: REASON'\n"
     "(modified, inserted, deleted, reordered or malformed).",
     "options:\n"
     "  --witness FILE   where the last verified head of each server is kept\n"
     "                   (default $XDG_STATE_HOME/fairlead/audit-witness.json or\n"
     "                   ~/.local/state/fairlead/audit-witness.json). A log that no\n"
     "                   longer holds that entry unchanged was rewritten or cut.\n"
     "  --no-witness     check the chain alone\n",
     verify_opts, 0, 0, cli_audit_verify},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct cli_family cli_audit_family = {
    "audit",
    "The tamper-evident audit log: list, verify.",
    audit_cmds,
};

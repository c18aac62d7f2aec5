/*
 * cli.h - the internals of the `fairlead` command, shared by its modules and
 * its unit tests.
 *
 * The command line is: fairlead [GLOBAL...] FAMILY SUBCOMMAND [ARGS...], with
 * the global options (--server, --token, --token-file, --ca, -o) accepted
 * before the family and again among the subcommand's arguments. Every
 * subcommand is one row of a family's table (struct cli_cmd), so help, option
 * checking and dispatch are data, not code.
 *
 * Exit statuses: 0 success, 1 failure (network, server, broken audit chain),
 * 2 usage error (bad flag, bad argument, bad label, duration or selector).
 * Results go to out, messages to errf as "fairlead: <message>".
 */
#ifndef FAIRLEAD_CLI_H
#define FAIRLEAD_CLI_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "fairlead/buf.h"
#include "fairlead/err.h"
#include "fairlead/httpc.h"

/* ---- argument parsing (main.c keeps none of this, so tests can reach it) ---- */

enum cli_opt_kind {
	CLI_OPT_FLAG,  /* --auto-accept: no value */
	CLI_OPT_VALUE, /* --ttl 24h or --ttl=24h; the last one wins */
	CLI_OPT_MULTI, /* --label K=V, repeatable; every value is kept */
};

struct cli_optspec {
	const char *name;  /* "--selector" */
	const char *alias; /* "-o", or NULL */
	enum cli_opt_kind kind;
};

#define CLI_MAX_ARGS 64

struct cli_opt {
	const char *name;  /* the spec's long name, even when the alias was typed */
	const char *value; /* "" for a flag; borrowed from argv */
};

/* Borrowed views into argv: argv must outlive the struct. */
struct cli_args {
	const char *pos[CLI_MAX_ARGS];
	size_t npos;
	struct cli_opt opt[CLI_MAX_ARGS];
	size_t nopt;
};

/* Parses argv[0..argc) against the NULL-terminated list of spec tables (each
 * ended by a row with name == NULL). Options and positionals may be mixed;
 * "--" ends the options. With stop_at_positional, parsing stops before the
 * first positional and *consumed says how many words were read (the global
 * options before the family name). FL_EINVAL on an unknown option, a missing
 * value or too many words. */
int cli_args_parse(struct cli_args *out, size_t *consumed, int argc, char *const argv[],
		   const struct cli_optspec *const specs[], int stop_at_positional,
		   struct fl_err *err);
/* The last value given for name, or NULL when absent. */
const char *cli_args_get(const struct cli_args *a, const char *name);
/* 1 when name was given at least once. */
int cli_args_has(const struct cli_args *a, const char *name);

/* ---- connection settings (config.c) ---- */

/* What the command line said; borrowed from argv. NULL: not given. */
struct cli_flags {
	const char *server;
	const char *token;
	const char *token_file;
	const char *ca;
	const char *output;
};

/* Resolved settings, owned (cli_config_release). ca may stay NULL (system
 * store); server and token are set after a successful resolve. */
struct cli_config {
	char *server;
	char *token;
	char *ca;
};

/* Resolves each setting on its own: flag, else environment (FAIRLEAD_SERVER,
 * FAIRLEAD_TOKEN, FAIRLEAD_TOKEN_FILE, FAIRLEAD_CA), else the config file
 * ($FAIRLEAD_CONFIG, else $HOME/.config/fairlead/config), which is read only
 * when a setting is still missing. A token given inline beats a token file at
 * the same level. FL_EINVAL when no server or token is found anywhere. */
int cli_config_resolve(struct cli_config *out, const struct cli_flags *flags, struct fl_err *err);
/* Parses config file text (lines "key = value", '#' comments) into out,
 * resolving token_file and relative paths against dir (the file's directory,
 * may be NULL). Keys already set in out are kept, so the caller can layer. */
int cli_config_parse(struct cli_config *out, const char *text, const char *dir, const char *path,
		     struct fl_err *err);
void cli_config_release(struct cli_config *c);
/* Reads a token file: the first line, surrounding whitespace dropped. */
int cli_config_read_token(char **out, const char *path, struct fl_err *err);

/* ---- the run-time context ---- */

/* Page size asked for when a list has --limit; without it the server picks. */
#define CLI_PAGE_MAX 100

enum cli_format { CLI_FMT_TABLE, CLI_FMT_JSON };

struct cli_ctx {
	struct cli_flags flags;
	enum cli_format format;
	FILE *out;
	FILE *errf;
	struct fl_httpc *http; /* made on first use by cli_api */
	int usage;	       /* set by cli_usage: exit 2 instead of 1 */
};

/* Records a usage error (exit status 2) and returns FL_EINVAL. */
int cli_usage(struct cli_ctx *ctx, struct fl_err *err, const char *fmt, ...) FL_PRINTF(3, 4);

/* One API call: resolves the settings and opens the client on first use,
 * retries a 429 a few times when Retry-After is short, and returns the parsed
 * 2xx reply in *out (caller owns; may be NULL for an empty reply). */
int cli_api(json_t **out, struct cli_ctx *ctx, const char *method, const char *target,
	    const json_t *body, struct fl_err *err);

/* The client cli_api uses, opened on first use: for requests that are not a
 * JSON round trip (streamed file uploads). */
int cli_http(struct fl_httpc **out, struct cli_ctx *ctx, struct fl_err *err);

/* Like cli_api, but sends body byte for byte instead of serialising a JSON
 * value: signed envelopes are identified by the SHA-256 of their exact
 * bytes, so they must reach the server unchanged. */
int cli_api_raw(json_t **out, struct cli_ctx *ctx, const char *method, const char *target,
		const void *body, size_t len, struct fl_err *err);

/* Fills err from a non-2xx reply as "MESSAGE (HTTP N, code)" and returns the
 * FL_E* code of its status; 0 for a 2xx reply. */
int cli_reply_error(struct fl_err *err, const struct fl_http_resp *r);

/* DELETE prefix+id and report it: the JSON reply with -o json, else
 * "WHAT ID revoked". A bad id is a usage error naming what. */
int cli_revoke(struct cli_ctx *ctx, const char *prefix, const char *id, const char *what,
	       struct fl_err *err);

/* Appends prefix, the URL-escaped id and suffix (may be NULL) to b. */
int cli_target(struct fl_buf *b, const char *prefix, const char *id, const char *suffix);

/* Runs the whole command line; returns the exit status. */
int cli_main(int argc, char *argv[], FILE *out, FILE *errf);

/* ---- command tables ---- */

struct cli_cmd {
	const char *name;
	const char *synopsis; /* after "fairlead FAMILY NAME " */
	const char *summary;
	const char *help; /* option lines, may be NULL */
	const struct cli_optspec *opts;
	int min_pos, max_pos; /* positional arguments; max -1: unbounded */
	int (*run)(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err);
};

struct cli_family {
	const char *name;
	const char *summary;
	/* Ended by a row with name == NULL. A family whose first command has the
	 * family's own name is that one command, run without a subcommand word:
	 * "fairlead metrics ARGS..." (metrics, drift). */
	const struct cli_cmd *cmds;
};

extern const struct cli_family cli_token_family;
extern const struct cli_family cli_enroll_token_family;
extern const struct cli_family cli_device_family;
extern const struct cli_family cli_audit_family;
extern const struct cli_family cli_key_family;
extern const struct cli_family cli_root_family;
extern const struct cli_family cli_release_family;
extern const struct cli_family cli_metrics_family;
extern const struct cli_family cli_drift_family;
extern const struct cli_family cli_slo_family;
extern const struct cli_family cli_alerts_family;
extern const struct cli_family cli_rollout_family;
extern const struct cli_family cli_playbook_family;
extern const struct cli_family cli_run_family;

/* Parses repeated "K=V" words into a JSON object of strings (caller owns).
 * With allow_remove, "K-" maps K to null (the label is removed). Usage error
 * on a malformed label. */
int cli_labels_parse(json_t **out, struct cli_ctx *ctx, const char *const *words, size_t n,
		     int allow_remove, struct fl_err *err);
/* Parses a positive decimal integer (at most 10^9) given for option opt;
 * usage error otherwise. */
int cli_parse_count(int64_t *out, struct cli_ctx *ctx, const char *opt, const char *s,
		    struct fl_err *err);
/* Collects every value of a CLI_OPT_MULTI option into words (cap entries). */
size_t cli_args_all(const char **words, size_t cap, const struct cli_args *a, const char *name);

/* ---- output (output.c) ---- */

/* Prints v as indented JSON and a newline. */
int cli_out_json(FILE *f, const json_t *v);

/* A text table: columns padded to their widest cell, two spaces apart. */
struct cli_table;
int cli_table_new(struct cli_table **out, size_t ncols, const char *const *headers);
/* Adds one row of ncols cells (copied; NULL prints "-"). */
int cli_table_row(struct cli_table *t, const char *const *cells);
int cli_table_print(FILE *f, const struct cli_table *t);
void cli_table_free(struct cli_table *t);

/* A JSON value as a table cell, appended to b: strings as is, numbers,
 * yes/no for booleans, "-" for null or missing, objects as k=v,k=v (sorted). */
int cli_fmt_cell(struct fl_buf *b, const json_t *v);
/* A UNIX time as RFC 3339, "-" for null or missing. */
int cli_fmt_time(struct fl_buf *b, const json_t *v);

/* Prints a device array: the array itself for JSON, else the table
 * ID STATE ONLINE LAST-SEEN LABELS. */
int cli_out_devices(FILE *f, enum cli_format fmt, const json_t *devices);
/* Prints one device: the object for JSON, else key/value lines with labels,
 * inventory, desired, reported and the twin delta. */
int cli_out_device(FILE *f, enum cli_format fmt, const json_t *device);
/* Prints an array of objects as a table of the given JSON keys; columns whose
 * key ends in "_at", "ts" or "last_seen" are shown as times. */
int cli_out_list(FILE *f, enum cli_format fmt, const json_t *items, size_t ncols,
		 const char *const *headers, const char *const *keys);

/* ---- the audit chain (cmd_audit.c) ---- */

struct cli_audit_verdict {
	int intact;
	int64_t entries;  /* entries checked */
	int64_t bad_seq;  /* first bad sequence number when !intact */
	char reason[16];  /* "modified", "inserted", "deleted", "reordered", "malformed" */
	char detail[160]; /* for humans */
};

/* Recomputes the chain of entries (a JSON array, in the order received) with
 * fl_audit_hash and compares its end with head ({"seq","hash"}). Pure: no I/O.
 * Returns 0 with the verdict in *out, or FL_EINVAL when entries is not an
 * array or head is not an object. */
int cli_audit_verify_chain(struct cli_audit_verdict *out, const json_t *entries, const json_t *head,
			   struct fl_err *err);

/* ---- offline release signing (cmd_key.c) ---- */

struct fl_envelope;

/* An Ed25519 key read from a key file {"keytype","keyid","public","private"}
 * or a public key file (the same without "private"). */
struct cli_key {
	char keyid[33];
	uint8_t pk[32];
	uint8_t sk[64];
	int has_secret;
};

/* Reads and checks a key file (keyid = fl_keyid(public), the private half
 * matches the public one). need_secret: a public key file is an error. */
int cli_key_load(struct cli_key *out, const char *path, int need_secret, struct fl_err *err);
/* Reads a signature envelope file (at most FL_ENVELOPE_MAX_BYTES). */
int cli_envelope_load(struct fl_envelope *out, const char *path, struct fl_err *err);
/* Creates path with data, mode; FL_EEXISTS when it exists (never overwrites). */
int cli_write_new(const char *path, const void *data, size_t len, unsigned mode,
		  struct fl_err *err);
/* Adds the signature of the key in keyfile to the envelope in path (whose
 * payload type must be type), replacing the file atomically. */
int cli_envelope_sign_file(struct cli_ctx *ctx, const char *path, const char *keyfile,
			   const char *type, struct fl_err *err);

#endif

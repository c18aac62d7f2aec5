/*
 * cmd_device.c - `fairlead device`: the device registry, states, labels,
 * desired twin, preauthorization, commands and release assignment.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fairlead/crypto.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/relref.h"
#include "fairlead/selector.h"
#include "fairlead/trust.h"
#include "fairlead/util.h"

/* A command is delivered within an hour unless told (the server's default). */
#define CLI_CMD_TTL 3600

/* The server refuses bodies over 1 MiB; refusing here says why sooner. */
#define CLI_BODY_MAX (1024 * 1024)

/* "/api/v1/devices/ID" + suffix, the id checked and escaped. */
static int device_target(struct fl_buf *b, struct cli_ctx *ctx, const char *id, const char *suffix,
			 struct fl_err *err)
{
	if (!fl_id_valid(id))
		return cli_usage(ctx, err, "bad device id '%.64s'", id);
	if (cli_target(b, "/api/v1/devices/", id, suffix) < 0)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	return 0;
}

/* Appends "?k=v" or "&k=v" with v escaped. */
static int add_query(struct fl_buf *b, const char *key, const char *value)
{
	int rc = fl_buf_addf(b, "%c%s=", strchr(fl_buf_cstr(b), '?') ? '&' : '?', key);

	return rc < 0 ? rc : fl_url_escape(b, value);
}

static int cli_device_list(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	const char *selector = cli_args_get(a, "--selector"), *limit_s = cli_args_get(a, "--limit");
	struct fl_selector *sel = NULL;
	struct fl_buf target = FL_BUF_INIT;
	json_t *all = NULL, *reply = NULL;
	char *cursor = NULL;
	int64_t limit = 0;
	int rc;

	if (limit_s && (rc = cli_parse_count(&limit, ctx, "--limit", limit_s, err)) < 0)
		return rc;
	/* Parsed here only to reject a typo before any request; the server
	 * evaluates it. */
	if (selector) {
		if (fl_selector_parse(&sel, selector, err) < 0)
			return cli_usage(ctx, err, "--selector: %s", err->msg);
		fl_selector_free(sel);
	}
	if (!(all = json_array())) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (;;) {
		json_t *devices, *next;
		size_t i;
		json_t *d;
		char page[24];

		fl_buf_clear(&target);
		rc = fl_buf_puts(&target, "/api/v1/devices");
		if (rc == 0 && selector && *selector)
			rc = add_query(&target, "selector", selector);
		if (rc == 0 && limit) {
			int64_t left = limit - (int64_t)json_array_size(all);

			snprintf(page, sizeof(page), "%lld",
				 (long long)(left < CLI_PAGE_MAX ? left : CLI_PAGE_MAX));
			rc = add_query(&target, "limit", page);
		}
		if (rc == 0 && cursor)
			rc = add_query(&target, "cursor", cursor);
		if (rc < 0) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
		json_decref(reply);
		if ((rc = cli_api(&reply, ctx, "GET", target.ptr, NULL, err)) < 0)
			goto cleanup;
		if (!json_is_array(devices = json_object_get(reply, "devices"))) {
			rc = fl_err_set(err, FL_ERROR, "the server's reply has no device list");
			goto cleanup;
		}
		json_array_foreach (devices, i, d) {
			if (limit && (int64_t)json_array_size(all) >= limit)
				break;
			if (json_array_append(all, d) < 0) {
				rc = fl_err_set(err, FL_ENOMEM, "out of memory");
				goto cleanup;
			}
		}
		next = json_object_get(reply, "next_cursor");
		if (!json_is_string(next) || !*json_string_value(next) ||
		    (limit && (int64_t)json_array_size(all) >= limit))
			break;
		/* A server that hands back the same cursor would keep us here
		 * forever. */
		if (cursor && strcmp(cursor, json_string_value(next)) == 0) {
			rc =
			    fl_err_set(err, FL_ERROR, "the server repeated cursor '%.64s'", cursor);
			goto cleanup;
		}
		free(cursor);
		if (!(cursor = strdup(json_string_value(next)))) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	rc = cli_out_devices(ctx->out, ctx->format, all);
cleanup:
	free(cursor);
	fl_buf_release(&target);
	json_decref(reply);
	json_decref(all);
	return rc;
}

/* The update block of a device (assigned release, update state, what it
 * runs), printed after the rest; nothing when the server sent none. */
static int print_update(FILE *f, const json_t *u)
{
	static const char *const keys[] = {"assigned", "state",	  "progress",
					   "reason",   "running", "in_sync"};
	struct fl_buf b = FL_BUF_INIT;
	int rc = 0;

	if (!json_is_object(u))
		return 0;
	fprintf(f, "update:\n");
	for (size_t i = 0; i < FL_ARRAY_SIZE(keys) && rc == 0; i++) {
		fl_buf_clear(&b);
		if ((rc = cli_fmt_cell(&b, json_object_get(u, keys[i]))) == 0)
			fprintf(f, "  %-10s %s\n", keys[i], fl_buf_cstr(&b));
	}
	fl_buf_release(&b);
	return rc;
}

static int cli_device_show(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	struct fl_buf target = FL_BUF_INIT;
	json_t *reply = NULL;
	int rc;

	if ((rc = device_target(&target, ctx, a->pos[0], NULL, err)) < 0)
		goto cleanup;
	if ((rc = cli_api(&reply, ctx, "GET", target.ptr, NULL, err)) < 0)
		goto cleanup;
	rc = cli_out_device(ctx->out, ctx->format, reply);
	if (rc == 0 && ctx->format == CLI_FMT_TABLE)
		rc = print_update(ctx->out, json_object_get(reply, "update"));
cleanup:
	fl_buf_release(&target);
	json_decref(reply);
	return rc;
}

/* Prints the DEVICE a write returned: the object for -o json, else one line
 * saying where it stands now. */
static int print_outcome(struct cli_ctx *ctx, const json_t *device, const char *id)
{
	const json_t *state = json_object_get(device, "state");

	if (ctx->format == CLI_FMT_JSON)
		return cli_out_json(ctx->out, device);
	fprintf(ctx->out, "device %s: %s\n", id,
		json_is_string(state) ? json_string_value(state) : "updated");
	return 0;
}

/* POST /devices/{id}/{action} with an optional reason. */
static int cli_device_transition(struct cli_ctx *ctx, const struct cli_args *a, const char *action,
				 struct fl_err *err)
{
	const char *reason = cli_args_get(a, "--reason");
	struct fl_buf target = FL_BUF_INIT;
	json_t *body = NULL, *reply = NULL;
	int rc;

	if ((rc = device_target(&target, ctx, a->pos[0], NULL, err)) < 0)
		goto cleanup;
	if (fl_buf_addf(&target, "/%s", action) < 0 || !(body = json_object()) ||
	    (reason && json_object_set_new(body, "reason", json_string(reason)) < 0)) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "POST", target.ptr, body, err)) < 0)
		goto cleanup;
	rc = print_outcome(ctx, reply, a->pos[0]);
cleanup:
	fl_buf_release(&target);
	json_decref(body);
	json_decref(reply);
	return rc;
}

static int cli_device_accept(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	return cli_device_transition(ctx, a, "accept", err);
}

static int cli_device_reject(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	return cli_device_transition(ctx, a, "reject", err);
}

static int cli_device_quarantine(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	return cli_device_transition(ctx, a, "quarantine", err);
}

static int cli_device_revoke(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	return cli_device_transition(ctx, a, "revoke", err);
}

static int cli_device_decommission(struct cli_ctx *ctx, const struct cli_args *a,
				   struct fl_err *err)
{
	return cli_device_transition(ctx, a, "decommission", err);
}

static int cli_device_label(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	struct fl_buf target = FL_BUF_INIT;
	json_t *labels = NULL, *body = NULL, *reply = NULL;
	int rc;

	if ((rc = device_target(&target, ctx, a->pos[0], "/labels", err)) < 0)
		goto cleanup;
	if ((rc = cli_labels_parse(&labels, ctx, a->pos + 1, a->npos - 1, 1, err)) < 0)
		goto cleanup;
	if (!(body = json_pack("{sO}", "labels", labels))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "POST", target.ptr, body, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON) {
		rc = cli_out_json(ctx->out, reply);
	} else {
		struct fl_buf b = FL_BUF_INIT;

		rc = cli_fmt_cell(&b, json_object_get(reply, "labels"));
		if (rc == 0)
			fprintf(ctx->out, "device %s labels: %s\n", a->pos[0], fl_buf_cstr(&b));
		fl_buf_release(&b);
	}
cleanup:
	fl_buf_release(&target);
	json_decref(labels);
	json_decref(body);
	json_decref(reply);
	return rc;
}

/* Reads FILE, or standard input for "-", capped at the server's body limit. */
static int read_input(struct fl_buf *b, const char *path, struct fl_err *err)
{
	char chunk[8192];
	size_t n;

	fl_buf_init(b, CLI_BODY_MAX);
	if (strcmp(path, "-") != 0) {
		int rc = fl_fs_read(b, path, err);

		if (rc == FL_ETOOBIG)
			return fl_err_set(err, FL_ETOOBIG, "'%s' is over 1 MiB", path);
		return rc;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if (fl_buf_put(b, chunk, n) < 0)
			return fl_err_set(err, FL_ETOOBIG, "standard input is over 1 MiB");
	if (ferror(stdin))
		return fl_err_set(err, FL_ERROR, "cannot read standard input");
	return 0;
}

static int cli_device_desire(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	const char *path = cli_args_get(a, "--json");
	struct fl_buf target = FL_BUF_INIT, text = FL_BUF_INIT;
	json_t *desired = NULL, *reply = NULL;
	int rc;

	if (!path)
		return cli_usage(ctx, err,
				 "device desire needs --json FILE (- for standard input)");
	if ((rc = device_target(&target, ctx, a->pos[0], "/desired", err)) < 0)
		goto cleanup;
	if ((rc = read_input(&text, path, err)) < 0) {
		fl_err_prefix(err, "--json");
		goto cleanup;
	}
	if (fl_json_parse_object(&desired, fl_buf_cstr(&text), text.len, err) < 0) {
		rc = cli_usage(ctx, err, "--json %s: %s", path,
			       strstr(err->msg, "must be a JSON object")
				   ? "the desired twin must be a JSON object"
				   : err->msg);
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "PUT", target.ptr, desired, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON) {
		rc = cli_out_json(ctx->out, reply);
	} else {
		const json_t *v = json_object_get(reply, "desired_version");

		if (json_is_integer(v))
			fprintf(ctx->out, "device %s: desired version %lld\n", a->pos[0],
				(long long)json_integer_value(v));
		else
			fprintf(ctx->out, "device %s: desired twin updated\n", a->pos[0]);
	}
cleanup:
	fl_buf_release(&target);
	fl_buf_release(&text);
	json_decref(desired);
	json_decref(reply);
	return rc;
}

static int cli_device_preauthorize(struct cli_ctx *ctx, const struct cli_args *a,
				   struct fl_err *err)
{
	const char *pubkey = cli_args_get(a, "--pubkey");
	const char *words[CLI_MAX_ARGS];
	size_t nlabels = cli_args_all(words, CLI_MAX_ARGS, a, "--label");
	uint8_t raw[64];
	size_t rawlen = 0;
	json_t *labels = NULL, *body = NULL, *reply = NULL;
	int rc;

	if (!fl_id_valid(a->pos[0]))
		return cli_usage(ctx, err, "bad device id '%.64s'", a->pos[0]);
	if (!pubkey)
		return cli_usage(ctx, err, "device preauthorize needs --pubkey BASE64");
	/* An Ed25519 public key is 32 bytes; anything else is a paste error. */
	if (fl_b64_decode(raw, sizeof(raw), &rawlen, pubkey, strlen(pubkey)) < 0 ||
	    rawlen != FL_ED25519_PK_LEN)
		return cli_usage(ctx, err, "--pubkey must be the base64 of a 32-byte Ed25519 key");
	if ((rc = cli_labels_parse(&labels, ctx, words, nlabels, 0, err)) < 0)
		goto cleanup;
	if (!(body = json_pack("{sssssO}", "id", a->pos[0], "pubkey", pubkey, "labels", labels))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "POST", "/api/v1/devices/preauthorize", body, err)) < 0)
		goto cleanup;
	if (ctx->format == CLI_FMT_JSON) {
		rc = cli_out_json(ctx->out, reply);
	} else {
		const json_t *keyid = json_object_get(reply, "keyid");

		fprintf(ctx->out, "device %s preauthorized (keyid %s)\n", a->pos[0],
			json_is_string(keyid) ? json_string_value(keyid) : "?");
	}
cleanup:
	json_decref(labels);
	json_decref(body);
	json_decref(reply);
	return rc;
}

/* Waits until the command ends (ok, error, refused or expired), polling
 * once a second, for at most max_s; returns the last state in *out. */
static int wait_command(json_t **out, struct cli_ctx *ctx, const char *path, int64_t max_s,
			struct fl_err *err)
{
	int64_t end = fl_mono_ms() + max_s * 1000;
	int rc;

	for (;;) {
		const char *st;

		if ((rc = cli_api(out, ctx, "GET", path, NULL, err)) < 0)
			return rc;
		st = json_string_value(json_object_get(*out, "status"));
		if (!st)
			return fl_err_set(err, FL_ERROR,
					  "the server's reply has no command status");
		if (strcmp(st, "queued") != 0 && strcmp(st, "delivered") != 0)
			return 0;
		if (fl_mono_ms() >= end)
			return fl_err_set(err, FL_ETIMEOUT, "command still %s after %lld s", st,
					  (long long)max_s);
		json_decref(*out);
		*out = NULL;
		sleep(1);
	}
}

static int cli_device_command(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	const char *args_s = cli_args_get(a, "--args"),
		   *within_s = cli_args_get(a, "--deliver-within");
	const char *key = cli_args_get(a, "--key"), *wait_s = cli_args_get(a, "--wait-timeout");
	const char *params[CLI_MAX_ARGS];
	size_t nparams = cli_args_all(params, CLI_MAX_ARGS, a, "--param");
	struct fl_buf target = FL_BUF_INIT, one = FL_BUF_INIT;
	json_t *args = NULL, *body = NULL, *reply = NULL, *done = NULL, *id;
	int64_t within = CLI_CMD_TTL, wait_max = 0;
	int rc, wait = cli_args_has(a, "--wait") || wait_s;

	if ((rc = device_target(&target, ctx, a->pos[0], "/commands", err)) < 0)
		goto cleanup;
	if (!*a->pos[1]) {
		rc = cli_usage(ctx, err, "the command type is empty");
		goto cleanup;
	}
	if (args_s && fl_json_parse_object(&args, args_s, strlen(args_s), err) < 0) {
		rc = cli_usage(ctx, err, "--args must be a JSON object%s%s",
			       strstr(err->msg, "must be a JSON object") ? "" : ": ",
			       strstr(err->msg, "must be a JSON object") ? "" : err->msg);
		goto cleanup;
	}
	if (!args && !(args = json_object())) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	/* --param K=V: string arguments, added to (and over) --args */
	for (size_t i = 0; i < nparams; i++) {
		const char *eq = strchr(params[i], '=');
		char k[65];

		if (!eq || eq == params[i] || (size_t)(eq - params[i]) >= sizeof(k)) {
			rc = cli_usage(ctx, err, "--param wants K=V with a key of 1-64 bytes: '%s'",
				       params[i]);
			goto cleanup;
		}
		snprintf(k, sizeof(k), "%.*s", (int)(eq - params[i]), params[i]);
		if (json_object_set_new(args, k, json_string(eq + 1)) < 0) {
			rc = cli_usage(ctx, err, "--param %s: the value is not UTF-8", k);
			goto cleanup;
		}
	}
	if (within_s && fl_duration_parse(&within, within_s, err) < 0) {
		rc = cli_usage(ctx, err, "--deliver-within: %s", err->msg);
		goto cleanup;
	}
	if (wait_s && fl_duration_parse(&wait_max, wait_s, err) < 0) {
		rc = cli_usage(ctx, err, "--wait-timeout: %s", err->msg);
		goto cleanup;
	}
	if (!(body = json_pack("{sssOsIss?}", "type", a->pos[1], "args", args, "deliver_by",
			       (json_int_t)(fl_now() + within), "idempotency_key", key))) {
		rc = key ? cli_usage(ctx, err, "--key must be UTF-8")
			 : fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "POST", target.ptr, body, err)) < 0)
		goto cleanup;
	if (!json_is_string(id = json_object_get(reply, "id"))) {
		rc = fl_err_set(err, FL_ERROR, "the server's reply has no command id");
		goto cleanup;
	}
	if (wait) {
		/* By default as long as the command may still be delivered, and a
		 * minute for the device's answer. */
		if (!wait_max)
			wait_max = within + 60;
		if ((rc = fl_buf_addf(&one, "%s/%s", target.ptr, json_string_value(id))) < 0 ||
		    (rc = wait_command(&done, ctx, one.ptr, wait_max, err)) < 0)
			goto cleanup;
		json_decref(reply);
		reply = done;
		done = NULL;
		if (!json_is_string(id = json_object_get(reply, "id"))) {
			rc = fl_err_set(err, FL_ERROR, "the server's reply has no command id");
			goto cleanup;
		}
	}
	if (ctx->format == CLI_FMT_JSON) {
		rc = cli_out_json(ctx->out, reply);
	} else if (!wait) {
		fprintf(ctx->out, "%s\n", json_string_value(id));
	} else {
		const json_t *res = json_object_get(reply, "result");
		char *res_s = res ? fl_json_dumps(res) : NULL;

		fprintf(ctx->out, "%s %s%s%s\n", json_string_value(id),
			json_string_value(json_object_get(reply, "status")), res_s ? " " : "",
			res_s ? res_s : "");
		free(res_s);
	}
	/* --wait: the exit status says whether the device did it */
	if (rc >= 0 && wait &&
	    strcmp(json_string_value(json_object_get(reply, "status")), "ok") != 0)
		rc = fl_err_set(err, FL_ERROR, "command %s: %s", json_string_value(id),
				json_string_value(json_object_get(reply, "status")));
cleanup:
	fl_buf_release(&target);
	fl_buf_release(&one);
	json_decref(args);
	json_decref(body);
	json_decref(reply);
	json_decref(done);
	return rc;
}

static int cli_device_commands(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	static const char *const headers[] = {"ID", "TYPE", "STATUS", "CREATED", "COMPLETED"};
	static const char *const keys[] = {"id", "type", "status", "created_at", "completed_at"};
	struct fl_buf target = FL_BUF_INIT;
	json_t *reply = NULL, *list;
	int rc;

	if ((rc = device_target(&target, ctx, a->pos[0], "/commands", err)) < 0)
		goto cleanup;
	if ((rc = cli_api(&reply, ctx, "GET", target.ptr, NULL, err)) < 0)
		goto cleanup;
	if (!json_is_array(list = json_object_get(reply, "commands"))) {
		rc = fl_err_set(err, FL_ERROR, "the server's reply has no command list");
		goto cleanup;
	}
	rc = cli_out_list(ctx->out, ctx->format, list, FL_ARRAY_SIZE(keys), headers, keys);
cleanup:
	fl_buf_release(&target);
	json_decref(reply);
	return rc;
}

/* Checks "NAME@VERSION" the way release metadata does (a release name, a
 * semantic version), so a typo is a usage error, not a 404. */
static int check_release_ref(struct cli_ctx *ctx, const char *ref, struct fl_err *err)
{
	struct fl_relref rr;

	if (fl_relref_parse(&rr, ref, err) < 0)
		return cli_usage(ctx, err, "%s", err->msg);
	return 0;
}

/* Prints "assigned N, skipped M" and the skipped devices with the reasons
 * the server gave. */
static void print_assign_summary(FILE *f, const char *release, const json_t *reply)
{
	const json_t *assigned = json_object_get(reply, "assigned");
	const json_t *skipped = json_object_get(reply, "skipped");
	size_t i;
	json_t *x;

	fprintf(f, "%s: assigned %zu, skipped %zu\n", release, json_array_size(assigned),
		json_array_size(skipped));
	json_array_foreach (assigned, i, x)
		fprintf(f, "  assigned %s\n", json_string_value(x));
	json_array_foreach (skipped, i, x) {
		const json_t *reason = json_object_get(x, "reason");

		fprintf(f, "  skipped  %s: %s\n", json_string_value(json_object_get(x, "id")),
			json_is_string(reason) ? json_string_value(reason) : "no reason given");
	}
}

static int cli_device_assign(struct cli_ctx *ctx, const struct cli_args *a, struct fl_err *err)
{
	const char *selector = cli_args_get(a, "--selector"), *release;
	struct fl_buf target = FL_BUF_INIT;
	struct fl_selector *sel = NULL;
	json_t *body = NULL, *reply = NULL, *summary = NULL;
	int rc;

	if (selector ? a->npos != 1 : a->npos != 2)
		return cli_usage(ctx, err,
				 "usage: fairlead device assign ID NAME@VERSION | --selector EXPR "
				 "NAME@VERSION");
	release = a->pos[a->npos - 1];
	if ((rc = check_release_ref(ctx, release, err)) < 0)
		return rc;
	if (selector) {
		/* An empty selector would match the whole fleet: say so. */
		if (!*selector)
			return cli_usage(ctx, err, "--selector is empty");
		if (fl_selector_parse(&sel, selector, err) < 0)
			return cli_usage(ctx, err, "--selector: %s", err->msg);
		fl_selector_free(sel);
		rc = fl_buf_puts(&target, "/api/v1/assign");
	} else if ((rc = device_target(&target, ctx, a->pos[0], "/assign", err)) < 0) {
		return rc;
	}
	body = json_pack("{sssb}", "release", release, "rollback", cli_args_has(a, "--rollback"));
	if (rc < 0 || !body ||
	    (selector && json_object_set_new(body, "selector", json_string(selector)) < 0)) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cli_api(&reply, ctx, "POST", target.ptr, body, err)) < 0) {
		fl_err_prefix(err, "cannot assign %s", release);
		goto cleanup;
	}
	if (ctx->format == CLI_FMT_JSON) {
		rc = cli_out_json(ctx->out, reply);
	} else if (selector) {
		print_assign_summary(ctx->out, release, reply);
	} else {
		/* One device answers with the DEVICE; the same summary keeps
		 * scripts reading one format. */
		if (!(summary = json_pack("{s[s]s[]}", "assigned", a->pos[0], "skipped"))) {
			rc = fl_err_set(err, FL_ENOMEM, "out of memory");
			goto cleanup;
		}
		print_assign_summary(ctx->out, release, summary);
	}
cleanup:
	fl_buf_release(&target);
	json_decref(body);
	json_decref(reply);
	json_decref(summary);
	return rc;
}

static const struct cli_optspec assign_opts[] = {
    {"--selector", NULL, CLI_OPT_VALUE},
    {"--rollback", NULL, CLI_OPT_FLAG},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec list_opts[] = {
    {"--selector", NULL, CLI_OPT_VALUE},
    {"--limit", NULL, CLI_OPT_VALUE},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec reason_opts[] = {
    {"--reason", NULL, CLI_OPT_VALUE},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec desire_opts[] = {
    {"--json", NULL, CLI_OPT_VALUE},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec preauth_opts[] = {
    {"--pubkey", NULL, CLI_OPT_VALUE},
    {"--label", NULL, CLI_OPT_MULTI},
    {NULL, NULL, CLI_OPT_FLAG},
};

static const struct cli_optspec command_opts[] = {
    {"--args", NULL, CLI_OPT_VALUE},
    {"--param", NULL, CLI_OPT_MULTI},
    {"--deliver-within", NULL, CLI_OPT_VALUE},
    {"--key", NULL, CLI_OPT_VALUE},
    {"--wait", NULL, CLI_OPT_FLAG},
    {"--wait-timeout", NULL, CLI_OPT_VALUE},
    {NULL, NULL, CLI_OPT_FLAG},
};

#define REASON_HELP "options:\n  --reason TEXT    why, recorded in the audit log\n"

static const struct cli_cmd device_cmds[] = {
    {"list", "[--selector EXPR] [--limit N]",
     "Lists devices, following the server's pages to the end.",
     "options:\n"
     "  --selector EXPR  e.g. 'site=berlin,hw in (a,b),!decommissioned,tier!=gold'\n"
     "  --limit N        stop after N devices\n"
     "table columns: ID STATE ONLINE LAST-SEEN LABELS; -o json: one array of devices\n",
     list_opts, 0, 0, cli_device_list},
    {"show", "ID", "Shows one device: state, labels, inventory, desired and reported twin.", NULL,
     NULL, 1, 1, cli_device_show},
    {"accept", "ID [--reason TEXT]", "Accepts a pending (or quarantined) device.", REASON_HELP,
     reason_opts, 1, 1, cli_device_accept},
    {"reject", "ID [--reason TEXT]", "Rejects a device.", REASON_HELP, reason_opts, 1, 1,
     cli_device_reject},
    {"quarantine", "ID [--reason TEXT]",
     "Quarantines a device: it may check in but gets no releases.", REASON_HELP, reason_opts, 1, 1,
     cli_device_quarantine},
    {"revoke", "ID [--reason TEXT]", "Revokes a device's identity.", REASON_HELP, reason_opts, 1, 1,
     cli_device_revoke},
    {"decommission", "ID [--reason TEXT]", "Decommissions a device for good.", REASON_HELP,
     reason_opts, 1, 1, cli_device_decommission},
    {"label", "ID K=V... [K-]...", "Sets labels (K=V) and removes them (K-).", NULL, NULL, 2, -1,
     cli_device_label},
    {"desire", "ID --json FILE",
     "Replaces the desired twin with the JSON object in FILE (- for standard input).",
     "options:\n  --json FILE      a JSON object; - reads standard input\n", desire_opts, 1, 1,
     cli_device_desire},
    {"preauthorize", "ID --pubkey BASE64 [--label K=V]...",
     "Preauthorizes a device id and public key: it enrolls without a token, accepted.",
     "options:\n"
     "  --pubkey BASE64  the device's Ed25519 public key (base64 of 32 bytes)\n"
     "  --label K=V      a label to give it; repeatable\n",
     preauth_opts, 1, 1, cli_device_preauthorize},
    {"command",
     "ID TYPE [--param K=V]... [--args JSON] [--deliver-within DURATION] [--key KEY] "
     "[--wait]",
     "Queues a command (ping, reboot, restart-module, calibrate, collect-logs, health-check) "
     "and prints its id; with --wait, waits for its outcome and exits non-zero unless it is ok.",
     "options:\n"
     "  --param K=V            a string argument; repeatable (added to --args)\n"
     "  --args JSON            the command's arguments, a JSON object (default {})\n"
     "  --deliver-within DUR   expires unless delivered within DUR (default 1h, at most 30d)\n"
     "  --key KEY              idempotency key: the same key again returns the first command\n"
     "  --wait                 wait for ok, error, refused or expired\n"
     "  --wait-timeout DUR     give up waiting after DUR (default: the delivery time + 1m)\n"
     "-o json: the command (with --wait, as it ended)\n",
     command_opts, 2, 2, cli_device_command},
    {"commands", "ID", "Lists a device's commands and their results.", NULL, NULL, 1, 1,
     cli_device_commands},
    {"assign", "ID NAME@VERSION | --selector EXPR NAME@VERSION [--rollback]",
     "Assigns a release to one device, or to every device the selector matches; prints how "
     "many were assigned and which were skipped, and why (e.g. hardware not in the "
     "release's list).",
     "options:\n"
     "  --selector EXPR  assign to the devices it matches instead of one ID\n"
     "  --rollback       allow a release with a lower counter than the device runs\n"
     "-o json: the server's reply (a DEVICE, or {assigned, skipped})\n",
     assign_opts, 1, 2, cli_device_assign},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const struct cli_family cli_device_family = {
    "device",
    "Devices: list, show, change state, label, desire, preauthorize, command, assign.",
    device_cmds,
};

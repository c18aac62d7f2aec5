#include "agent/commands.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/proc.h"
#include "fairlead/buf.h"
#include "fairlead/json.h"
#include "fairlead/log.h"

/* Enough stderr for a first line of AG_COMMANDS_MSG_MAX after leading blank
 * lines; the rest is read and dropped. */
#define ERR_CAPTURE 4096

static const char *const hook_types[AG_HOOK_NTYPES] = {"reboot", "restart-module", "calibrate",
						       "health-check"};

static int hook_index(const char *type, size_t n)
{
	for (int i = 0; i < AG_HOOK_NTYPES; i++)
		if (strlen(hook_types[i]) == n && strncmp(hook_types[i], type, n) == 0)
			return i;
	return -1;
}

int ag_commands_hook_add(struct ag_commands_opts *o, const char *spec, struct fl_err *err)
{
	const char *eq = strchr(spec, '='), *path;
	struct stat st;
	int i, n;

	if (!eq || eq == spec || !eq[1])
		return fl_err_set(err, FL_EINVAL, "'%.64s': expected TYPE=PATH", spec);
	n = eq - spec > 64 ? 64 : (int)(eq - spec);
	path = eq + 1;
	if ((i = hook_index(spec, (size_t)(eq - spec))) < 0) {
		if (eq - spec == 4 && strncmp(spec, "ping", 4) == 0)
			return fl_err_set(err, FL_EINVAL, "ping is built in and takes no hook");
		if (eq - spec == 12 && strncmp(spec, "collect-logs", 12) == 0)
			return fl_err_set(err, FL_EINVAL,
					  "collect-logs takes no hook in this agent version");
		return fl_err_set(err, FL_EINVAL,
				  "unknown command type '%.*s' (hooks are for reboot, "
				  "restart-module, calibrate and health-check)",
				  n, spec);
	}
	if (o->hooks[i])
		return fl_err_set(err, FL_EINVAL, "a second hook for %s", hook_types[i]);
	/* A relative path would depend on the agent's working directory, and
	 * the hook runs in "/": name the file itself. */
	if (path[0] != '/')
		return fl_err_set(err, FL_EINVAL, "hook for %s: '%.128s' is not an absolute path",
				  hook_types[i], path);
	if (stat(path, &st) != 0)
		return fl_err_set(err, FL_EINVAL, "hook for %s: %.128s: %s", hook_types[i], path,
				  strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fl_err_set(err, FL_EINVAL, "hook for %s: %.128s is not a regular file",
				  hook_types[i], path);
	if (access(path, X_OK) != 0)
		return fl_err_set(err, FL_EINVAL, "hook for %s: %.128s is not executable",
				  hook_types[i], path);
	o->hooks[i] = path;
	return 0;
}

static int type_index(const json_t *cmd)
{
	const json_t *type = json_object_get(cmd, "type");

	if (!json_is_string(type))
		return -1;
	return hook_index(json_string_value(type), json_string_length(type));
}

enum ag_command_kind ag_commands_kind(const json_t *cmd, const struct ag_commands_opts *o)
{
	int i = type_index(cmd);

	if (i < 0 || !o || !o->hooks[i])
		return AG_CMD_BUILTIN;
	return i == AG_HOOK_REBOOT ? AG_CMD_REBOOT : AG_CMD_HOOK;
}

const char *ag_commands_id(const json_t *cmd)
{
	const json_t *id = json_object_get(cmd, "id");
	const char *s;

	if (!json_is_string(id))
		return NULL;
	s = json_string_value(id);
	/* Ids end up in results.json and logs; keep them short and plain. */
	if (!*s || strlen(s) > 128 || strlen(s) != json_string_length(id))
		return NULL;
	return s;
}

static int64_t timeout_of(const struct ag_commands_opts *o)
{
	return o->timeout_s > 0 ? o->timeout_s : AG_COMMANDS_TIMEOUT_S;
}

/* Runs the hook of type i for command id. 0 once it ran (see *pr). */
static int run_hook(struct ag_proc_result *pr, const struct ag_commands_opts *o, int i,
		    const char *id, const json_t *args, struct fl_err *err)
{
	struct fl_buf in = FL_BUF_INIT;
	struct ag_proc_opts po = {0};
	const char *argv[] = {o->hooks[i], NULL};
	char *env[3] = {NULL};
	json_t *empty = NULL;
	int rc;

	memset(pr, 0, sizeof(*pr));
	if (!json_is_object(args))
		args = empty = json_object();
	/* One line, so that a hook can read it with `read -r` as well as with
	 * a JSON parser. */
	if (!args || fl_json_dump(&in, args) < 0 || fl_buf_puts(&in, "\n") < 0 ||
	    !(env[0] = ag_proc_env("FAIRLEAD_COMMAND_ID", id)) ||
	    !(env[1] = ag_proc_env("FAIRLEAD_COMMAND_TYPE", hook_types[i]))) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	po.path = o->hooks[i];
	po.argv = argv;
	po.env = (const char *const *)(uintptr_t)env;
	po.cwd = "/";
	po.in = in.ptr;
	po.in_len = in.len;
	po.out_max = AG_COMMANDS_OUT_MAX;
	po.err_max = ERR_CAPTURE;
	po.timeout_ms = timeout_of(o) * 1000;
	rc = ag_proc_run(pr, &po, err);
cleanup:
	free(env[0]);
	free(env[1]);
	json_decref(empty);
	fl_buf_release(&in);
	return rc;
}

/* The first non-empty line of the hook's stderr, at most AG_COMMANDS_MSG_MAX
 * bytes, as a JSON string; NULL when there is none. */
static json_t *first_line(const struct fl_buf *b)
{
	const char *s = fl_buf_cstr(b), *end = s + b->len;
	char line[AG_COMMANDS_MSG_MAX + 1];
	json_t *j;
	size_t n;

	while (s < end && (*s == '\n' || *s == '\r'))
		s++;
	for (n = 0; s + n < end && s[n] != '\n' && s[n] != '\r' && s[n] != '\0'; n++)
		;
	if (n == 0)
		return NULL;
	if (n > AG_COMMANDS_MSG_MAX) {
		n = AG_COMMANDS_MSG_MAX;
		/* Cut before a UTF-8 sequence, not inside it. */
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(line, s, n);
	line[n] = '\0';
	if ((j = json_stringn(line, n)))
		return j;
	/* Not UTF-8 at all: keep what can be read of it. */
	for (size_t k = 0; k < n; k++)
		if ((unsigned char)line[k] < 0x20 || (unsigned char)line[k] >= 0x7f)
			line[k] = '?';
	return json_stringn(line, n);
}

/* The JSON object a successful hook printed, {} when it printed none; NULL
 * with *why when what it printed cannot be a stored result. */
static json_t *printed_result(const struct fl_buf *out, const char *type, const char **why)
{
	const char *s = fl_buf_cstr(out);
	size_t n = out->len;
	struct fl_err e = {0};
	json_t *v = NULL;

	*why = NULL;
	while (n > 0 && strchr(" \t\r\n", s[n - 1]))
		n--;
	while (n > 0 && strchr(" \t\r\n", *s)) {
		s++;
		n--;
	}
	if (n == 0 || *s != '{' || fl_json_parse_object(&v, s, n, &e) < 0) {
		if (n > 0)
			fl_log(FL_LOG_INFO,
			       "%s hook printed no JSON object on stdout (%s); its result is {}",
			       type, e.msg[0] ? e.msg : "not an object");
		return json_object();
	}
	/* The server refuses deeper documents; a refused check-in would keep
	 * this result, and every one after it, from ever being delivered. */
	if (fl_json_doc_check(v, "hook output", &e) < 0) {
		json_decref(v);
		*why = "hook printed JSON nested deeper than 32 levels";
		return NULL;
	}
	return v;
}

/* status and result of a hook's run. */
static json_t *hook_outcome(const char **status, const struct ag_proc_result *pr,
			    const struct ag_commands_opts *o, const char *type)
{
	const char *why = NULL;
	json_t *r, *msg;

	*status = "error";
	if (pr->timed_out)
		return json_pack(
		    "{s:o}", "message",
		    json_sprintf("hook timed out after %lld s", (long long)timeout_of(o)));
	if (!pr->exited)
		return json_pack("{s:i,s:o}", "signal", pr->code, "message",
				 json_sprintf("hook killed by signal %d", pr->code));
	if (pr->out_over)
		return json_pack(
		    "{s:i,s:o}", "exit", pr->code, "message",
		    json_sprintf("hook printed more than %d bytes on stdout", AG_COMMANDS_OUT_MAX));
	if (pr->code != 0) {
		if (!(msg = first_line(&pr->err)))
			msg = json_sprintf("hook exited with status %d", pr->code);
		return json_pack("{s:i,s:o}", "exit", pr->code, "message", msg);
	}
	if ((r = printed_result(&pr->out, type, &why)) || !why) {
		*status = "ok";
		return r;
	}
	return json_pack("{s:i,s:s}", "exit", 0, "message", why);
}

static json_t *message_result(const char *id, const char *status, json_t *msg)
{
	/* json_sprintf fails on a type cut inside a UTF-8 sequence; a plain
	 * message is better than no result. */
	if (!msg)
		msg = json_string("no hook for this command type on this device");
	return json_pack("{s:s,s:s,s:{s:o}}", "id", id, "status", status, "result", "message", msg);
}

int ag_commands_execute(json_t **result, const json_t *cmd, const struct ag_commands_opts *o,
			int64_t now, struct fl_err *err)
{
	const char *id = ag_commands_id(cmd);
	const json_t *type = json_object_get(cmd, "type");
	enum ag_command_kind kind = ag_commands_kind(cmd, o);
	json_t *r = NULL;
	int rc;

	*result = NULL;
	if (!id)
		return fl_err_set(err, FL_EINVAL, "command without a valid id");
	if (!json_is_string(type)) {
		r = message_result(id, "error", json_string("command has no type"));
	} else if (strcmp(json_string_value(type), "ping") == 0) {
		r = json_pack("{s:s,s:s,s:{s:b,s:I}}", "id", id, "status", "ok", "result", "pong",
			      1, "agent_time", (json_int_t)now);
	} else if (kind == AG_CMD_REBOOT) {
		/* The hook ends the agent: the caller runs it once this result
		 * is on the server. */
		r = json_pack("{s:s,s:s,s:{s:b}}", "id", id, "status", "ok", "result", "rebooting",
			      1);
	} else if (kind == AG_CMD_HOOK) {
		struct ag_proc_result pr;
		const char *status = NULL;
		json_t *res;
		int i = type_index(cmd);

		if ((rc = run_hook(&pr, o, i, id, json_object_get(cmd, "args"), err)) < 0) {
			/* Not started (fork, pipe, memory): nothing ran, and saying
			 * so ends the command instead of leaving it delivered. */
			fl_log(FL_LOG_WARN, "command %s: cannot run the %s hook: %s", id,
			       hook_types[i], err ? err->msg : "");
			r = message_result(
			    id, "error",
			    json_sprintf("cannot run the hook: %s", err ? err->msg : "failed"));
			fl_err_clear(err);
		} else {
			res = hook_outcome(&status, &pr, o, hook_types[i]);
			if (res && strcmp(status, "ok") != 0)
				fl_log(FL_LOG_WARN, "command %s: %s hook failed: %s", id,
				       hook_types[i],
				       json_string_value(json_object_get(res, "message")));
			r = res ? json_pack("{s:s,s:s,s:o}", "id", id, "status", status, "result",
					    res)
				: NULL;
		}
		ag_proc_result_release(&pr);
	} else {
		/* The device runs only what its own configuration names: a type
		 * without a hook here is refused, whatever the server asks. */
		r = message_result(id, "refused",
				   json_sprintf("no hook for command type '%.64s' on this device",
						json_string_value(type)));
	}
	if (!r)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	*result = r;
	return 0;
}

int ag_commands_reboot(const struct ag_commands_opts *o, const char *id, const json_t *args,
		       struct fl_err *err)
{
	struct ag_proc_result pr;
	const char *status = NULL;
	json_t *res;
	int rc;

	if (!o || !o->hooks[AG_HOOK_REBOOT])
		return fl_err_set(err, FL_ENOTFOUND, "no reboot hook on this device");
	if ((rc = run_hook(&pr, o, AG_HOOK_REBOOT, id, args, err)) < 0)
		goto cleanup;
	res = hook_outcome(&status, &pr, o, "reboot");
	if (!res)
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
	else if (strcmp(status, "ok") != 0)
		rc = fl_err_set(err, pr.timed_out ? FL_ETIMEOUT : FL_ERROR, "reboot hook: %s",
				json_string_value(json_object_get(res, "message")));
	json_decref(res);
cleanup:
	ag_proc_result_release(&pr);
	return rc;
}

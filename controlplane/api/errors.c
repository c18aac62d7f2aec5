/*
 * errors.c - the one table from error codes to HTTP statuses, and the one
 * shape of an error reply: {"error":{"code":"not_found","message":"..."}}.
 */
#include "api.h"

#include "fairlead/util.h"

static const struct {
	int code;
	int status;
} table[] = {
    {FL_EINVAL, 400},	{FL_EUNAUTH, 401},   {FL_EFORBIDDEN, 403}, {FL_ENOTFOUND, 404},
    {FL_EEXISTS, 409},	{FL_ECONFLICT, 409}, {FL_EGONE, 410},	   {FL_ETOOBIG, 413},
    {FL_EAGAIN, 429},	{FL_ETIMEOUT, 503},  {FL_ENOMEM, 503},	   {FL_ERROR, 500},
    {FL_EUNAVAIL, 503},
};

int cp_error_status(int code)
{
	for (size_t i = 0; i < FL_ARRAY_SIZE(table); i++)
		if (table[i].code == code)
			return table[i].status;
	return 500;
}

void cp_error_reply(struct cp_resp *resp, int code, const char *message)
{
	int status = cp_error_status(code);

	/* An error replaces whatever kind of reply the handler had begun. */
	cp_resp_release(resp);
	resp->head_length = -1;
	resp->status = status;
	/* Every 429 and 503 says when to come back. */
	if ((status == 429 || status == 503) && resp->retry_after <= 0)
		resp->retry_after = 1;
	/* Internal details stay in the log; the client gets a stable message. */
	resp->body = json_pack(
	    "{s:{s:s,s:s}}", "error", "code", fl_err_name(code), "message",
	    status >= 500 && code != FL_EUNAVAIL ? "internal error; see the server log" : message);
	/* json_pack refuses a message that is not UTF-8, and one that quotes the
	 * client's path can be: keep the one error shape, with a stable message. */
	if (!resp->body)
		resp->body = json_pack("{s:{s:s,s:s}}", "error", "code", fl_err_name(code),
				       "message", "request refused (not valid UTF-8)");
}

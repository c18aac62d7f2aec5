#include "fairlead/audit.h"

#include <stdio.h>
#include <string.h>

#include "fairlead/crypto.h"

static void put_field(struct fl_sha256_ctx *ctx, const char *s)
{
	char len[24];

	/* Length prefixes keep ("ab","c") and ("a","bc") from hashing alike. */
	snprintf(len, sizeof(len), "%zu:", strlen(s));
	fl_sha256_update(ctx, len, strlen(len));
	fl_sha256_update(ctx, s, strlen(s));
}

void fl_audit_hash(char out[65], const char *prev_hash, int64_t seq, int64_t ts, const char *actor,
		   const char *action, const char *target, const char *details)
{
	struct fl_sha256_ctx ctx;
	uint8_t d[FL_SHA256_LEN];
	char num[24];

	fl_sha256_begin(&ctx);
	put_field(&ctx, "fairlead-audit-v1");
	put_field(&ctx, prev_hash);
	snprintf(num, sizeof(num), "%lld", (long long)seq);
	put_field(&ctx, num);
	snprintf(num, sizeof(num), "%lld", (long long)ts);
	put_field(&ctx, num);
	put_field(&ctx, actor ? actor : "");
	put_field(&ctx, action ? action : "");
	put_field(&ctx, target ? target : "");
	put_field(&ctx, details ? details : "{}");
	fl_sha256_end(&ctx, d);
	fl_hex_encode(out, d, sizeof(d));
}

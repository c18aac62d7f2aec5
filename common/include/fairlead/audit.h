/*
 * audit.h - the hash chain of the audit log, shared by the server (which
 * appends) and the CLI (which verifies independently of the server).
 *
 * hash(n) = SHA-256 over length-prefixed fields:
 *   prev_hash, seq, ts, actor, action, target, details (compact JSON)
 * The first entry's prev_hash is 64 '0'. A modified entry breaks its own
 * hash; an inserted or deleted one breaks the seq run and the next prev_hash.
 */
#ifndef FAIRLEAD_AUDIT_H
#define FAIRLEAD_AUDIT_H

#include <stdint.h>

#define FL_AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

void fl_audit_hash(char out[65], const char *prev_hash, int64_t seq, int64_t ts, const char *actor,
		   const char *action, const char *target, const char *details);

#endif

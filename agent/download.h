/*
 * download.h - one signed artifact into a slot, streamed and hashed.
 *
 * The bytes go to SLOT/NAME.part (created with O_NOFOLLOW, so a planted
 * symlink is refused rather than written through), fetched from
 * GET /api/v1/device/artifacts/SHA256 with a Range from the part's size:
 * after a restart the existing part is hashed again and the download resumes
 * where it stopped. The server may never send more than the signed length
 * (the transport's max_bytes is what remains of it). Transient failures
 * (network, stall below the low-speed limit, a short answer, a server that
 * ignores Range) are retried with doubling backoff up to max_attempts; a
 * hash mismatch or an over-long answer is final. Only when length and
 * SHA-256 match is the part fsynced and renamed to NAME.
 */
#ifndef AG_DOWNLOAD_H
#define AG_DOWNLOAD_H

#include <stdint.h>

#include "agent/clock.h"
#include "agent/transport.h"
#include "fairlead/err.h"
#include "fairlead/trust.h"

#define AG_DOWNLOAD_ATTEMPTS   5
#define AG_DOWNLOAD_BACKOFF_MS 1000
#define AG_DOWNLOAD_LOW_BPS    1024 /* below 1 KiB/s ... */
#define AG_DOWNLOAD_LOW_S      60   /* ... for a minute: give up on this attempt */

struct ag_download_opts {
	const struct ag_clock *clock; /* backoff sleeps */
	int max_attempts;	      /* 0: AG_DOWNLOAD_ATTEMPTS */
	int64_t backoff_ms;	      /* first wait; 0: AG_DOWNLOAD_BACKOFF_MS */
	long low_speed_bps;	      /* 0: AG_DOWNLOAD_LOW_BPS; <0: off */
	long low_speed_s;	      /* 0: AG_DOWNLOAD_LOW_S */
	/* Bytes of this artifact on disk so far; may be NULL. Non-zero stops
	 * the download with FL_EAGAIN, keeping the part for a later resume. */
	int (*progress)(void *ctx, int64_t done);
	void *progress_ctx;
};

/* Makes slot_path/a->name hold exactly the signed bytes. An existing final
 * file is kept when it still matches. FL_EINVAL for a hash or length
 * mismatch, FL_ETOOBIG when the server sends too much, FL_EFORBIDDEN for a
 * bad name or a symlink in the way, FL_EAGAIN when the clock or progress
 * asked to stop, the last transfer error after the retries. */
int ag_download_artifact(struct ag_transport *t, const char *slot_path,
			 const struct fl_trust_artifact *a, const struct ag_download_opts *o,
			 struct fl_err *err);

/* 0 when slot_path/a->name is a regular file (not followed through a link)
 * with the signed length and SHA-256; FL_ENOTFOUND when absent, FL_EINVAL
 * on a mismatch. */
int ag_download_check(const char *slot_path, const struct fl_trust_artifact *a, struct fl_err *err);

#endif

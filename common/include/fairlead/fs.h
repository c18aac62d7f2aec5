/*
 * fs.h - files that survive a crash.
 *
 * fl_fs_write_atomic writes a temp file next to path, fsyncs it, renames it
 * over path and fsyncs the directory, so a SIGKILL or power cut at any moment
 * leaves either the old or the new content, never a torn file.
 */
#ifndef FAIRLEAD_FS_H
#define FAIRLEAD_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "fairlead/buf.h"
#include "fairlead/err.h"

int fl_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		       struct fl_err *err);
/* Removes the temp files that fl_fs_write_atomic leaves in dir when the
 * process dies mid-write ("NAME.tmp-" + 12 hex digits). Only for a directory
 * that no other process is writing. Sets *removed (may be NULL). */
int fl_fs_sweep_tmp(const char *dir, int *removed, struct fl_err *err);
/* Reads the whole file into b (b->max bounds it). FL_ENOTFOUND when absent. */
int fl_fs_read(struct fl_buf *b, const char *path, struct fl_err *err);
/* mkdir -p with mode for every created component. */
int fl_fs_mkdir_p(const char *path, mode_t mode, struct fl_err *err);
/* fsync of a directory, so that a rename or create in it is durable. */
int fl_fs_sync_dir(const char *dir, struct fl_err *err);
/* 1 when path exists. */
int fl_fs_exists(const char *path);

#endif

/*
 * slots.h - the two install slots of each release name: directories
 * STATE/slots/NAME/A and STATE/slots/NAME/B, and STATE/slots/NAME/current, a
 * symlink to "A" or "B" that names the active one. Each name has its own
 * pair, so installing one release never displaces another. NAME is a
 * release name and is checked with fl_id_valid before it becomes a path
 * component. Releases are written into the inactive slot only; the
 * switch is one rename(2) of a fresh symlink over "current" followed by an
 * fsync of the directory, so after a crash "current" is either the old or
 * the new link, never missing or torn.
 */
#ifndef AG_SLOTS_H
#define AG_SLOTS_H

#include <stddef.h>

#include "fairlead/err.h"

#define AG_SLOTS_DIR	 "slots"
#define AG_SLOTS_CURRENT "current"

/* Creates STATE/slots/NAME, A and B when absent. */
int ag_slots_init(const char *dir, const char *name, struct fl_err *err);
/* STATE/slots/NAME/SLOT into out (SLOT "A", "B", "current", or "" for the
 * pair's directory). FL_EINVAL when name is not a valid release name. */
int ag_slots_path(char *out, size_t cap, const char *dir, const char *name, const char *slot,
		  struct fl_err *err);
/* The slot "current" of name names: "A", "B", or "" when there is no link
 * yet. FL_EINVAL when the link points anywhere else. */
int ag_slots_current(char out[2], const char *dir, const char *name, struct fl_err *err);
/* Points name's "current" at slot atomically; slot "" removes the link (a
 * name that rolls back its very first install runs nothing). */
int ag_slots_point(const char *dir, const char *name, const char *slot, struct fl_err *err);
/* "B" for "A", "A" for anything else. */
const char *ag_slots_other(const char *slot);
/* Removes everything in name's slot except the entries named in keep,
 * without following symlinks (a link is removed, never its target). */
int ag_slots_clear(const char *dir, const char *name, const char *slot, const char *const *keep,
		   size_t nkeep, struct fl_err *err);
/* Refuses a slot tree holding anything but regular files, directories and
 * symlinks that stay inside the slot (T-ART-09): an absolute link target or
 * one whose ".." climbs out of the slot is FL_EFORBIDDEN naming it. */
int ag_slots_check(const char *slot_path, struct fl_err *err);

#endif

/*
 * relstore.h - the git release repository: the only libgit2 user.
 *
 * For now it creates the bare repository that `fairleadd init` promises;
 * releases are written into it by the releases work.
 */
#ifndef CP_RELSTORE_H
#define CP_RELSTORE_H

#include "fairlead/err.h"

/* Creates a bare repository at path (FL_EEXISTS if one is there). */
int cp_relstore_init(const char *path, struct fl_err *err);

#endif

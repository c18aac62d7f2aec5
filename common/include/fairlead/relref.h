/*
 * relref.h - release references: "NAME@VERSION", the one parser of them.
 *
 * NAME is a release name (fl_relref_name_valid), VERSION a semantic version
 * (fl_trust_semver_valid, at most 64 bytes). The CLI, the agent and the
 * server all read references through these functions.
 */
#ifndef FAIRLEAD_RELREF_H
#define FAIRLEAD_RELREF_H

#include "fairlead/err.h"

#define FL_RELREF_NAME_MAX    64
#define FL_RELREF_VERSION_MAX 64

struct fl_relref {
	char name[FL_RELREF_NAME_MAX + 1];
	char version[FL_RELREF_VERSION_MAX + 1]; /* "" only from fl_relref_parse_any */
};

/* 1 when name may name a release: fl_id_valid, and a valid git ref component
 * (no trailing '.', no ".lock" suffix) because releases are stored as tags. */
int fl_relref_name_valid(const char *name);

/* Parses "NAME@VERSION" into *out. FL_EINVAL naming s when either half is
 * missing or invalid; *out is then zeroed. */
int fl_relref_parse(struct fl_relref *out, const char *s, struct fl_err *err);

/* As fl_relref_parse, and a bare "NAME" is accepted too (version ""). */
int fl_relref_parse_any(struct fl_relref *out, const char *s, struct fl_err *err);

#endif

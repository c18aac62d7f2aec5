/*
 * yaml.h - a small YAML subset parser for files operators write by hand
 * (OpenSLO documents), producing jansson values.
 *
 * Supported: block mappings and block sequences by indentation (spaces only),
 * "- key: value" items, plain, 'single' and "double" quoted scalars on one
 * line, comments, "---" between documents and "..." ending one, flow
 * collections on one line ([a, b], {k: v}, nested). Plain scalars are typed by
 * the YAML 1.2 core schema: null (~, null, empty), booleans (true/false in
 * three casings), integers (decimal, 0o octal, 0x hex), floats (incl. .inf,
 * .nan); quoted scalars are always strings.
 *
 * Refused with FL_EINVAL and a message naming the line: anchors, aliases,
 * tags, directives, block scalars (| and >), multi-line scalars and flow
 * collections, complex keys, duplicate keys, tabs in indentation, NUL bytes,
 * invalid UTF-8 escapes. Bounded: at most FL_YAML_MAX_BYTES of input,
 * FL_YAML_MAX_DEPTH nested collections and FL_YAML_MAX_DOCS documents, so
 * hostile input costs linear time and memory.
 */
#ifndef FAIRLEAD_YAML_H
#define FAIRLEAD_YAML_H

#include <jansson.h>
#include <stddef.h>

#include "fairlead/err.h"

#define FL_YAML_MAX_BYTES (1u << 20)
#define FL_YAML_MAX_DEPTH 32
#define FL_YAML_MAX_DOCS  64

/* Parses len bytes into a new JSON array holding one value per non-empty
 * document (caller owns *out). */
int fl_yaml_parse(json_t **out, const char *data, size_t len, struct fl_err *err);

#endif

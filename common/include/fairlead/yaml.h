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

/* Source lines of the values a parse produced, for errors that name a line. */
struct fl_yaml_lines;

/* As fl_yaml_parse, and *lines (caller-owned, NULL on error) tells where each
 * value of *out is; lines may be NULL. The table is keyed by the values'
 * addresses: it answers for *out while *out lives and is not modified. Its
 * size is linear in the number of values, itself below len. */
int fl_yaml_parse_lines(json_t **out, struct fl_yaml_lines **lines, const char *data, size_t len,
			struct fl_err *err);
/* The 1-based line where v starts: for a value in a mapping, the line of its
 * key (also when the value is a block collection on the lines below); for a
 * sequence item, the line of its '-'; for a document, its first line. 0 when
 * unknown, and always for null, true and false, which jansson shares: ask
 * their container with the two functions below. */
int fl_yaml_line(const struct fl_yaml_lines *l, const json_t *v);
/* The line of key in the mapping obj, of item i of the sequence arr (any
 * value type); 0 when unknown or absent. */
int fl_yaml_key_line(const struct fl_yaml_lines *l, const json_t *obj, const char *key);
int fl_yaml_index_line(const struct fl_yaml_lines *l, const json_t *arr, size_t i);
/* NULL is a no-op. */
void fl_yaml_lines_free(struct fl_yaml_lines *l);

#endif

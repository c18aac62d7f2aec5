/*
 * format.h - playbook files: parse, validate, and the canonical JSON.
 *
 * A playbook file is YAML (fairlead/yaml.h) or JSON (first non-space byte
 * '{'), in the format docs/playbooks.md describes. Every field is checked and an
 * unknown one is refused; the first problem is the error, naming the file,
 * the line and the field's path: "site.yaml:12: steps[1].params.url: must
 * start with https://".
 *
 * The canonical JSON is the stored form and the API form. It is the file's
 * document with every default filled in and durations as integer seconds in
 * fields named NAME_s ("timeout: 90s" becomes "timeout_s": 90):
 *
 *   name, version, enabled (default true), description (only when given)
 *   trigger: {type, and only the filters given, plus for_s (device.offline),
 *             tz (schedule, default "UTC"), status (alertmanager, default "firing")}
 *   condition: string (only when given)
 *   throttle: {once_within_s | once_after_s | threshold: {count, within_s},
 *              key: [path, ...] (default [])}                   (only when given)
 *   targets: {selector | device | rollout_devices, where (when given)}
 *                                                               (only when given)
 *   blast_radius: {max_devices | max_devices_pct, concurrency, per_label: {label, max},
 *                  halt_on_burn: {slo, factor}}   always; max_devices 100 and
 *                  concurrency 10 by default; "10%" becomes max_devices_pct: 10
 *   approval: {required, roles (default ["admin"]), expires_s (default 3600)}
 *                                                               (only when given)
 *   steps: [{name, action, params: {...} (default {}), timeout_s (60), retries (0),
 *            backoff_s (5), on_failure: [step, ...], verify: {condition, timeout_s,
 *            interval_s (30)}}]     on_failure and verify only when given
 *
 * Params keep their names; durations among them become NAME_s (wait: for_s;
 * device.command: deliver_by_s, default 3600); device.label gets both set
 * ({}) and remove ([]). Expressions, templates and free-form objects (webhook
 * body, command params) are stored as given. Absent optional fields are
 * absent, never null.
 */
#ifndef CP_PLAYBOOK_FORMAT_H
#define CP_PLAYBOOK_FORMAT_H

#include <jansson.h>
#include <stddef.h>

#include "fairlead/err.h"

/* A playbook file larger than this is refused (FL_ETOOBIG). */
#define CP_PB_MAX_BYTES (256u * 1024)
#define CP_PB_MAX_STEPS 32

/* Parses and validates one playbook file (YAML, or JSON when the first
 * non-space byte is '{'). file names it in errors: FL_EINVAL with
 * "FILE:LINE: what" (line of the offending key/value; for JSON, the line of
 * the offending key, found again in the text, or jansson's line for
 * malformed JSON, else 1). *out: the playbook in canonical JSON (above),
 * caller-owned. Nothing is returned on error. */
int cp_pb_parse(json_t **out, const char *data, size_t len, const char *file, struct fl_err *err);

/* Validates a playbook already in canonical JSON (as stored, or sent to the
 * API as JSON): the same checks; errors name the JSON path instead of a line
 * ("steps[2].action: unknown action 'x'"). Defaults may be absent. */
int cp_pb_validate(const json_t *pb, struct fl_err *err);

/* As cp_pb_validate, and *out (caller-owned) is pb with every default filled
 * in: what to store when a client sent canonical JSON. */
int cp_pb_canonical(json_t **out, const json_t *pb, struct fl_err *err);

#endif

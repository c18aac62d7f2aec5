#!/usr/bin/env bash
# Stored playbooks through the real server and CLI: every shipped playbook
# applied, listed and shown in its canonical form; applying again changes
# nothing; a change needs a higher version (409 otherwise); disable and
# enable; delete; bad files refused with file and line and nothing stored;
# roles. Then the playbook directory: a server started with the shipped
# playbooks in DATA/playbooks.d lists them as file-sourced, keeps them from
# API changes but for enable/disable, drops one whose file is gone, and
# refuses to start on a bad file, a duplicate name or a change without a new
# version, naming the file, with the previous set kept.
# ctest-timeout: 400
source "$(dirname "$0")/lib.sh"
PB_DIR="$(cd "$(dirname "$0")/../.." && pwd)/playbooks"
start_server

pb_name() { sed -n 's/^name: *//p' "$1" | head -n1; }
pb_version() { sed -n 's/^version: *//p' "$1" | head -n1; }
line_of() { grep -n "^$1:" "$2" | head -n1 | cut -d: -f1; }
audit_count() { cli -o json audit list | jq --arg a "$1" '[.[] | select(.action == $a)] | length'; }

# ---- every shipped playbook: applied, listed, shown as its canonical form ----
n=0
for f in "$PB_DIR"/*.yaml; do
	name=$(pb_name "$f")
	out=$(cli playbook apply "$f") || fail "apply $f: $out"
	assert_eq "$out" "playbook $name version $(pb_version "$f") created" "apply $f"
	n=$((n + 1))
done
[ "$n" -ge 5 ] || fail "only $n shipped playbooks"
assert_eq "$(audit_count playbook.put)" "$n" "one audit entry per created playbook"

list=$(cli -o json playbook list) || fail "list: $list"
assert_eq "$(jq length <<<"$list")" "$n" "every playbook listed"
jq -e 'map(.name) == (map(.name) | sort)' <<<"$list" >/dev/null || fail "list not by name"
for f in "$PB_DIR"/*.yaml; do
	name=$(pb_name "$f")
	canon=$(cli -o json playbook validate "$f" | jq -cS .) || fail "validate $f"
	row=$(jq -c --arg n "$name" '.[] | select(.name == $n)' <<<"$list")
	[ -n "$row" ] || fail "$name not listed"
	assert_eq "$(jq -r .version <<<"$row")" "$(pb_version "$f")" "$name: listed version"
	assert_eq "$(jq -r .enabled <<<"$row")" "true" "$name: listed enabled"
	assert_eq "$(jq -r .source <<<"$row")" "api" "$name: listed source"
	assert_eq "$(jq -r .trigger <<<"$row")" "$(jq -r .trigger.type <<<"$canon")" "$name: trigger type"
	assert_eq "$(jq -r .description <<<"$row")" "$(jq -r .description <<<"$canon")" "$name: description"
	assert_match "$(jq -r .updated_at <<<"$row")" '^[0-9]+$' "$name: updated_at"
	# no definition in the list, all of it in show
	assert_eq "$(jq 'has("definition")' <<<"$row")" "false" "$name: list carries no definition"
	shown=$(cli -o json playbook show "$name") || fail "show $name: $shown"
	assert_eq "$(jq -cS .definition <<<"$shown")" "$canon" "$name: show -o json is the canonical form"
	assert_eq "$(jq -r '[.name, .version, .enabled, .source] | join(" ")' <<<"$shown")" \
		"$name $(pb_version "$f") true api" "$name: show fields"
	# the same file again changes nothing
	out=$(cli playbook apply "$f") || fail "apply again $f: $out"
	assert_eq "$out" "playbook $name version $(pb_version "$f") unchanged" "apply again $f"
done
assert_eq "$(audit_count playbook.put)" "$n" "an unchanged apply is not audited"

# the table and the readable show
out=$(cli playbook list)
assert_match "$out" "NAME +VERSION +ENABLED +TRIGGER +SOURCE +UPDATED +DESCRIPTION" "table header"
assert_match "$out" "site-offline +[0-9]+ +yes +device.offline +api " "table row"
out=$(cli playbook show site-offline)
assert_match "$out" "trigger: +device.offline" "show: trigger"
assert_match "$out" "source: +api" "show: source"
assert_match "$out" "definition \(canonical JSON\):" "show: definition"
assert_match "$out" "\"blast_radius\"" "show: the definition's JSON"

# a JSON file applies the same way
cat >"$T/ping.json" <<'JSON'
{"name": "json-ping", "version": 1, "trigger": {"type": "manual"},
 "steps": [{"name": "raise", "action": "alert.raise", "params": {"name": "ping", "severity": "ticket"}}]}
JSON
out=$(cli playbook apply "$T/ping.json") || fail "apply JSON: $out"
assert_eq "$out" "playbook json-ping version 1 created" "apply JSON"
assert_eq "$(cli -o json playbook show json-ping | jq -cS .definition)" \
	"$(cli -o json playbook validate "$T/ping.json" | jq -cS .)" "JSON: canonical"
assert_eq "$(cli playbook apply "$T/ping.json")" "playbook json-ping version 1 unchanged" "JSON again"
out=$(cli playbook delete json-ping) || fail "delete json-ping: $out"

# ---- a change needs a higher version ----
SO="$PB_DIR/site-offline.yaml"
v=$(pb_version "$SO")
mkdir -p "$T/edit"
sed 's/^description: .*/description: "edited without a new version"/' "$SO" >"$T/edit/site-offline.yaml"
! cmp -s "$SO" "$T/edit/site-offline.yaml" || fail "the edit changed nothing"
if out=$(cli playbook apply "$T/edit/site-offline.yaml" 2>&1); then fail "change without a new version accepted: $out"; fi
assert_match "$out" "^fairlead: site-offline.yaml:$(line_of version "$SO"): playbook 'site-offline' version $v is stored with another definition \(a change takes a higher version\) \(HTTP 409, conflict\)$" \
	"409 naming the file and the version's line"
r=$(curl -s --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" -X PUT \
	--data-binary "@$T/edit/site-offline.yaml" -w '\n%{http_code}' "$URL/api/v1/playbooks/site-offline")
assert_eq "$(tail -n1 <<<"$r")" "409" "PUT without a new version"
assert_eq "$(sed '$d' <<<"$r" | jq -r .error.code)" "conflict" "error code"
assert_eq "$(cli -o json playbook show site-offline | jq -r .definition.description)" \
	"$(jq -r .description <<<"$(cli -o json playbook validate "$SO")")" "nothing stored by the refusal"
# a higher version is an update
sed -i "s/^version: .*/version: $((v + 1))/" "$T/edit/site-offline.yaml"
out=$(cli playbook apply "$T/edit/site-offline.yaml") || fail "bumped apply: $out"
assert_eq "$out" "playbook site-offline version $((v + 1)) updated" "bumped apply"
shown=$(cli -o json playbook show site-offline)
assert_eq "$(jq -r '[.version, .definition.version, .definition.description] | join(" ")' <<<"$shown")" \
	"$((v + 1)) $((v + 1)) edited without a new version" "the new version stored"
assert_eq "$(audit_count playbook.put)" "$((n + 2))" "the update audited (and json-ping)"
# an older version is refused
if out=$(cli playbook apply "$SO" 2>&1); then fail "older version accepted: $out"; fi
assert_match "$out" "stored at version $((v + 1)): version $v is older .*\(HTTP 409, conflict\)" "older version"

# ---- disable and enable ----
out=$(cli playbook disable site-offline) || fail "disable: $out"
assert_eq "$out" "playbook site-offline disabled"
assert_eq "$(cli -o json playbook list | jq -r '.[] | select(.name == "site-offline") | .enabled')" "false" "list: disabled"
assert_eq "$(cli -o json playbook show site-offline | jq -c '[.enabled, .definition.enabled, .version]')" \
	"[false,false,$((v + 1))]" "show: disabled in the row and the definition, same version"
assert_match "$(cli playbook list)" "site-offline +[0-9]+ +no " "table: disabled"
out=$(cli playbook enable site-offline) || fail "enable: $out"
assert_eq "$out" "playbook site-offline enabled"
assert_eq "$(cli -o json playbook show site-offline | jq -c '[.enabled, .definition.enabled]')" \
	"[true,true]" "enabled again"
assert_eq "$(audit_count playbook.disable) $(audit_count playbook.enable)" "1 1" "enable and disable audited"
if out=$(cli playbook disable no-such-playbook 2>&1); then fail "disabled a missing playbook"; fi
assert_match "$out" "HTTP 404, not_found" "disable a missing playbook"

# ---- delete ----
out=$(cli playbook delete canary-burn-rollback) || fail "delete: $out"
assert_eq "$out" "playbook canary-burn-rollback deleted"
rc=0
out=$(cli playbook show canary-burn-rollback 2>&1) || rc=$?
assert_eq "$rc" "1" "show of a deleted playbook exits 1"
assert_match "$out" "no playbook 'canary-burn-rollback' \(HTTP 404, not_found\)" "show: not found"
assert_eq "$(cli -o json playbook list | jq length)" "$((n - 1))" "one fewer"
if cli playbook delete canary-burn-rollback 2>/dev/null; then fail "deleted twice"; fi
assert_eq "$(audit_count playbook.delete)" "2" "deletes audited (json-ping, canary-burn-rollback)"

# ---- bad input: refused with file and line, nothing written ----
before=$(cli -o json playbook list | jq -cS .)
cat >"$T/bad.yaml" <<'YAML'
name: bad
version: 1
trigger:
  type: alert.firing
steps:
  - name: s
    action: device.reboot
YAML
if out=$(cli playbook apply "$T/bad.yaml" 2>&1); then fail "bad playbook applied: $out"; fi
assert_match "$out" "bad.yaml:7: steps\[0\]\.action: unknown action 'device.reboot'.* \(HTTP 400, invalid_request\)$" "bad file"
echo '{"name": "bad-json", "version": 1, "trigger": {"type": "manual"}, "steps": [], "extra": 1}' >"$T/bad.json"
if out=$(cli playbook apply "$T/bad.json" 2>&1); then fail "bad JSON playbook applied: $out"; fi
assert_match "$out" "^fairlead: bad.json:1: " "bad JSON file named with its line"
# straight to the API: the path's name must be the file's, ?file= names it in errors
r=$(curl -s --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" -X PUT \
	--data-binary "@$PB_DIR/drift-retrain.yaml" -w '\n%{http_code}' "$URL/api/v1/playbooks/other-name?file=dr.yaml")
assert_eq "$(tail -n1 <<<"$r")" "400" "name differs from the path"
assert_eq "$(sed '$d' <<<"$r" | jq -r .error.message)" \
	"dr.yaml:$(line_of name "$PB_DIR/drift-retrain.yaml"): name: 'drift-retrain' differs from 'other-name' in the path" \
	"name mismatch message"
r=$(curl -s --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" -X PUT \
	--data-binary $'name: x\nversion: 1\n' -w '\n%{http_code}' "$URL/api/v1/playbooks/x")
assert_eq "$(tail -n1 <<<"$r")" "400" "incomplete playbook"
assert_match "$(sed '$d' <<<"$r" | jq -r .error.message)" "^x:[0-9]+: " "the path's name is the file name in errors"
assert_eq "$(status_of "$(api PUT /api/v1/playbooks/x '')")" "400" "empty body"
assert_eq "$(status_of "$(api PUT /api/v1/playbooks/Bad_Name 'name: x')")" "400" "bad name in the path"
assert_eq "$(status_of "$(api GET /api/v1/playbooks/Bad_Name)")" "400" "bad name to show"
assert_eq "$(status_of "$(api POST /api/v1/playbooks/site-offline/disable '{"x":1}')")" "400" "disable with a body"
head -c 300000 /dev/zero | tr '\0' '#' >"$T/huge.yaml"
r=$(curl -s --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" -X PUT \
	--data-binary "@$T/huge.yaml" -o /dev/null -w '%{http_code}' "$URL/api/v1/playbooks/huge")
assert_eq "$r" "413" "a file over 256 KiB"
assert_eq "$(cli -o json playbook list | jq -cS .)" "$before" "nothing written by bad input"

# ---- roles: reads for every role, changes for admin, operator, automation ----
viewer=$(cli token create --role viewer)
operator=$(cli token create --role operator)
CLI_TOKEN=$viewer cli playbook list >/dev/null || fail "a viewer lists playbooks"
CLI_TOKEN=$viewer cli playbook show site-offline >/dev/null || fail "a viewer shows a playbook"
for cmd in "apply $PB_DIR/canary-burn-rollback.yaml" "disable site-offline" "enable site-offline" \
	"delete site-offline"; do
	# shellcheck disable=SC2086
	if out=$(CLI_TOKEN=$viewer cli playbook $cmd 2>&1); then fail "a viewer may $cmd: $out"; fi
	assert_match "$out" "HTTP 403, forbidden" "viewer: $cmd"
done
assert_eq "$(cli -o json playbook list | jq -cS .)" "$before" "nothing changed by the viewer"
out=$(CLI_TOKEN=$operator cli playbook apply "$PB_DIR/canary-burn-rollback.yaml") || fail "operator apply: $out"
assert_eq "$out" "playbook canary-burn-rollback version $(pb_version "$PB_DIR/canary-burn-rollback.yaml") created"
CLI_TOKEN=$operator cli playbook disable canary-burn-rollback >/dev/null || fail "operator disable"
stop_server

# ---- the playbook directory ----
DATA="$T/data2"
init_server
mkdir -p "$DATA/playbooks.d"
cp "$PB_DIR"/*.yaml "$DATA/playbooks.d/"
cat >"$DATA/playbooks.d/json-ping.json" <<'JSON'
{"name": "json-ping", "version": 2, "description": "a JSON file",
 "trigger": {"type": "manual"},
 "steps": [{"name": "raise", "action": "alert.raise", "params": {"name": "ping", "severity": "ticket"}}]}
JSON
# not playbook files: skipped
echo 'not: a playbook' >"$DATA/playbooks.d/README.txt"
echo 'not: a playbook' >"$DATA/playbooks.d/.hidden.yaml"
start_server
list=$(cli -o json playbook list) || fail "list: $list"
assert_eq "$(jq length <<<"$list")" "$((n + 1))" "every file loaded"
assert_eq "$(jq -r '[.[].source] | unique | join(",")' <<<"$list")" "file" "source file"
for f in "$PB_DIR"/*.yaml; do
	name=$(pb_name "$f")
	assert_eq "$(cli -o json playbook show "$name" | jq -cS .definition)" \
		"$(cli -o json playbook validate "$f" | jq -cS .)" "$name from its file: canonical"
done
assert_eq "$(jq -r '.[] | select(.name == "json-ping") | [.version, .trigger, .description] | join(" ")' <<<"$list")" \
	"2 manual a JSON file" "the JSON file"
assert_match "$(cli playbook list)" "site-offline +[0-9]+ +yes +device.offline +file " "table: source file"
# a file's playbook is changed in its file: the API refuses, but for enable/disable
if out=$(cli playbook apply "$PB_DIR/site-offline.yaml" 2>&1); then fail "applied over a file playbook: $out"; fi
assert_match "$out" "playbook 'site-offline' is loaded from a file of the playbook directory.*\(HTTP 409, conflict\)" "apply over a file"
if out=$(cli playbook delete site-offline 2>&1); then fail "deleted a file playbook: $out"; fi
assert_match "$out" "remove that file .*\(HTTP 409, conflict\)" "delete a file playbook"
out=$(cli playbook disable site-offline) || fail "disable a file playbook: $out"
assert_eq "$(cli -o json playbook show site-offline | jq -c '[.enabled, .source]')" '[false,"file"]' "disabled, still from its file"
stop_server

# the same files again: the disable holds; a removed file removes its playbook
rm "$DATA/playbooks.d/drift-retrain.yaml"
start_server
list=$(cli -o json playbook list)
assert_eq "$(jq length <<<"$list")" "$n" "the removed file's playbook is gone"
assert_eq "$(jq 'any(.[]; .name == "drift-retrain")' <<<"$list")" "false" "drift-retrain gone"
assert_eq "$(jq -r '.[] | select(.name == "site-offline") | .enabled' <<<"$list")" "false" "the disable holds across a restart"
good=$(jq -cS . <<<"$list")
stop_server

# refusals at start: the file is named, the server does not start, nothing changes
refused_start() { # WHAT PATTERN: the start must fail with a message matching PATTERN
	local rc=0
	timeout 30 "$FLD" serve --data "$DATA" --listen "127.0.0.1:0" >"$T/bad-start.log" 2>&1 || rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "$1: the server started (status $rc)"
	assert_match "$(cat "$T/bad-start.log")" "$2" "$1"
}
cat >"$DATA/playbooks.d/zz-bad.yaml" <<'YAML'
name: zz-bad
version: 1
trigger:
  type: alert.firing
steps:
  - name: s
    action: device.reboot
YAML
refused_start "a bad file" "fairleadd: start: bad playbook file: $DATA/playbooks.d/zz-bad.yaml:7: steps\[0\]\.action: unknown action 'device.reboot'"
rm "$DATA/playbooks.d/zz-bad.yaml"
cp "$DATA/playbooks.d/site-offline.yaml" "$DATA/playbooks.d/zz-copy.yaml"
refused_start "a duplicate name" "zz-copy.yaml:$(line_of name "$PB_DIR/site-offline.yaml"): playbook 'site-offline' is also defined in site-offline.yaml"
rm "$DATA/playbooks.d/zz-copy.yaml"
sed -i 's/^description: .*/description: "edited in place"/' "$DATA/playbooks.d/weekly-calibration.yaml"
refused_start "a change without a new version" \
	"weekly-calibration.yaml:$(line_of version "$PB_DIR/weekly-calibration.yaml"): playbook 'weekly-calibration' changed but kept version"
cp "$PB_DIR/weekly-calibration.yaml" "$DATA/playbooks.d/"
# after the refusals, the previous set is intact
start_server
assert_eq "$(cli -o json playbook list | jq -cS .)" "$good" "the previous set stayed"
stop_server
# a higher version in the file is taken, and its own enabled with it
sed -i -e 's/^version: .*/version: 7/' -e 's/^description: .*/description: "version 7"/' \
	"$DATA/playbooks.d/site-offline.yaml"
start_server
assert_eq "$(cli -o json playbook show site-offline | jq -c '[.version, .enabled, .definition.description]')" \
	'[7,true,"version 7"]' "the file's new version replaces the stored one"
pass

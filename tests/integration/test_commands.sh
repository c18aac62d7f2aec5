#!/usr/bin/env bash
# Device commands end to end with a real agent: --wait reports the outcome
# (ok, refused for a type the device has no hook for, expired for one never
# delivered in time); an idempotency key makes one command however often it
# is sent; a command past its deadline is never delivered, even once the
# device is back; bad requests are refused with the reason.
source "$(dirname "$0")/lib.sh"
start_server

tok=$(new_enroll_token --uses 1 --auto-accept)
agent d1 enroll --token "$tok" --id dev-c1 >/dev/null 2>&1 || fail "enroll"
agent_start d1

# ping: --wait prints the outcome and exits 0
out=$(cli device command dev-c1 ping --wait --wait-timeout 30s) || fail "ping --wait: $out"
assert_match "$out" '^cmd_[A-Za-z0-9_-]+ ok \{.*"pong":true' "ping --wait output"

# a type the device has no hook for: refused, and --wait exits non-zero
if out=$(cli device command dev-c1 calibrate --param sensor=temp --wait --wait-timeout 30s 2>&1); then
	fail "refused command exited 0: $out"
fi
assert_match "$out" "refused" "calibrate without a hook"
j=$(cli -o json device commands dev-c1 | jq -c '[.[] | select(.type == "calibrate")][0]')
assert_eq "$(jq -r .status <<<"$j")" "refused" "stored status"
assert_eq "$(jq -r .args.sensor <<<"$j")" "temp" "--param became an argument"
assert_match "$(jq -r .result.message <<<"$j")" "no hook for command type 'calibrate'" "refusal reason"

# one command per idempotency key, and the key with other args is refused
a=$(cli device command dev-c1 health-check --key run-7:step-1)
b=$(cli device command dev-c1 health-check --key run-7:step-1)
assert_eq "$b" "$a" "same key, same command"
assert_eq "$(cli -o json device commands dev-c1 | jq '[.[] | select(.idem_key == "run-7:step-1")] | length')" \
	"1" "one row for the key"
if out=$(cli device command dev-c1 health-check --key run-7:step-1 --param x=1 2>&1); then
	fail "key reused with other args accepted: $out"
fi
assert_match "$out" "idempotency key 'run-7:step-1' was used for another command" "409 message"
# the audit log has the command once
n=$(cli -o json audit list | jq --arg c "$a" '[.[] | select(.action == "device.command" and .details.command == $c)] | length')
assert_eq "$n" "1" "audited once"

# offline: a command not delivered within its deadline expires, and stays so
kill -TERM "$AGENT_PID_d1"
wait "$AGENT_PID_d1" 2>/dev/null || true
if out=$(cli device command dev-c1 reboot --deliver-within 2s --wait 2>&1); then
	fail "expired command exited 0: $out"
fi
assert_match "$out" "expired" "--wait on an offline device"
cid=$(cli -o json device commands dev-c1 | jq -r '[.[] | select(.type == "reboot")][0].id')
assert_eq "$(status_of "$(api GET "/api/v1/devices/dev-c1/commands/$cid")")" "200" "one command"
agent_start d1
out=$(cli device command dev-c1 ping --wait --wait-timeout 30s) || fail "ping after restart: $out"
r=$(api GET "/api/v1/devices/dev-c1/commands/$cid")
assert_eq "$(body_of "$r" | jq -r '.status + " " + (.delivered_at | tostring)')" "expired null" \
	"an expired command is never delivered"
if grep -q "$cid" "$T/agents/d1"/*.json 2>/dev/null; then fail "the agent saw the expired command"; fi

# bad requests
body_err() { body_of "$1" | jq -r .error.message; }
r=$(api POST /api/v1/devices/dev-c1/commands '{"type":"format-disk"}')
assert_eq "$(status_of "$r")" "400" "unknown type"
assert_eq "$(body_err "$r")" "unknown command type 'format-disk'" "unknown type message"
r=$(api POST /api/v1/devices/dev-c1/commands '{"type":"ping","deliver_by":1000}')
assert_eq "$(status_of "$r")" "400" "deadline in the past"
assert_match "$(body_err "$r")" "deliver_by must be after now and within 30 days" "deadline message"
r=$(api POST /api/v1/devices/dev-c1/commands '{"type":"ping","idempotency_key":"a b"}')
assert_eq "$(status_of "$r")" "400" "bad key"
r=$(api POST /api/v1/devices/dev-c1/commands '{"type":"ping","args":[1]}')
assert_eq "$(status_of "$r")" "400" "args not an object"
r=$(api POST /api/v1/devices/dev-c1/commands '{"type":"ping","when":1}')
assert_eq "$(status_of "$r")" "400" "unknown field"
r=$(api POST /api/v1/devices/dev-none/commands '{"type":"ping"}')
assert_eq "$(status_of "$r")" "404" "unknown device"
r=$(api GET /api/v1/devices/dev-c1/commands/cmd_nope)
assert_eq "$(status_of "$r")" "404" "unknown command"
if cli device command dev-c1 ping --param novalue >/dev/null 2>&1; then fail "--param without = accepted"; fi
pass

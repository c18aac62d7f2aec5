#!/usr/bin/env bash
# Deeply nested JSON is refused before it is parsed, on every route that takes
# a JSON body: 400 with a JSON error, and the server lives on. A worker
# thread's stack is small and the JSON library recurses once per level.
source "$(dirname "$0")/lib.sh"
start_server --rate-token 0 --rate-anon 0

tok=$(new_enroll_token --uses 2 --auto-accept)
agent a enroll --token "$tok" --id dev-1 >/dev/null 2>&1 || fail "enroll"
KEY="$T/agents/a/device.key"

# 5,000 levels in 10 KB: an array of arrays, and an object of objects.
deep_arr=$(printf '[%.0s' $(seq 1 5000))
deep_obj="{\"a\":$(printf '{"a":%.0s' $(seq 1 5000))"
printf '%s' "$deep_arr" >"$T/deep_arr.json"
printf '%s' "$deep_obj" >"$T/deep_obj.json"

alive() { # DESCRIPTION
	kill -0 "$SERVER_PID" 2>/dev/null || fail "$1: fairleadd died"
	curl -sf --cacert "$DATA/tls/ca.pem" "$URL/api/v1/health" >/dev/null ||
		fail "$1: health does not answer"
}

deep() { # METHOD PATH
	local body r st
	for body in "$deep_arr" "$deep_obj"; do
		r=$(api "$1" "$2" "$body")
		st=$(status_of "$r")
		assert_eq "$st" "400" "$1 $2 with ${#body} bytes of nesting"
		body_of "$r" | jq -e '.error.message | test("nested deeper than 64")' >/dev/null ||
			fail "$1 $2: error does not name the nesting: $(body_of "$r")"
		alive "$1 $2"
	done
}

# every route of the table that reads a JSON body
deep POST /api/v1/enroll
deep POST /api/v1/devices/preauthorize
for action in accept reject quarantine revoke decommission; do
	deep POST "/api/v1/devices/dev-1/$action"
done
deep POST /api/v1/devices/dev-1/labels
deep PUT /api/v1/devices/dev-1/desired
deep POST /api/v1/devices/dev-1/commands
deep POST /api/v1/tokens
deep POST /api/v1/enroll-tokens
deep PUT /api/v1/root
deep POST /api/v1/releases
deep POST /api/v1/devices/dev-1/assign
deep POST /api/v1/assign
deep PUT /api/v1/slos/s1
deep POST /api/v1/rollouts
for action in pause resume abort promote; do
	deep POST "/api/v1/rollouts/r1/$action"
done

# signed device requests: the signature is good, the body is refused
for target in /api/v1/device/checkin /api/v1/device/rotate-key /api/v1/device/reports; do
	for f in deep_arr deep_obj; do
		assert_eq "$(signed_curl "$KEY" POST "$target" "$T/$f.json")" "400" "signed $target ($f)"
		alive "signed $target"
	done
done

# Free-form documents an operator gives (the desired twin, command args)
# travel on inside replies, audit entries and the agent's state: 32 levels at
# most, so that every parser downstream stays within 64.
lv() { printf '{"k":%.0s' $(seq 1 "$1"); printf '1'; printf '}%.0s' $(seq 1 "$1"); }
r=$(api PUT /api/v1/devices/dev-1/desired "$(lv 33)")
assert_eq "$(status_of "$r")" "400" "33 levels of desired twin"
assert_match "$(body_of "$r" | jq -r .error.message)" "desired twin nested deeper than 32 levels"
r=$(api POST /api/v1/devices/dev-1/commands "{\"type\":\"ping\",\"args\":$(lv 33)}")
assert_eq "$(status_of "$r")" "400" "33 levels of command args"
assert_match "$(body_of "$r" | jq -r .error.message)" "args nested deeper than 32 levels"
assert_eq "$(status_of "$(api PUT /api/v1/devices/dev-1/desired "$(lv 32)")")" "200" "32 levels accepted"
cli device command dev-1 ping --args "$(lv 32)" >/dev/null || fail "command with 32 levels of args"
# ... and everything that carries them still parses: the agent's check-in
# replies and state (the second check-in reports the applied twin and the
# command's result), the CLI's device show and audit verification
agent a run --once >/dev/null 2>&1 || fail "check-in with the deep twin and command"
agent a run --once >/dev/null 2>&1 || fail "check-in after storing the deep twin"
wait_for "the deep twin reported back" 15 bash -c \
	"'$FLCLI' -o json device show dev-1 | jq -e '.reported.config.k.k.k and (.twin_delta | length) == 0'"
wait_for "the command's result" 15 bash -c \
	"'$FLCLI' -o json device commands dev-1 | jq -e 'length == 1 and all(.[]; .status == \"ok\")'"
cli audit verify >/dev/null || fail "audit verify over the deep twin"
alive "after all"
pass

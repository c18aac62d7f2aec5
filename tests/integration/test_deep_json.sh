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

# 64 levels are still fine where any JSON value is accepted
ok64="{\"k\":$(printf '[%.0s' $(seq 1 63))$(printf ']%.0s' $(seq 1 63))}"
assert_eq "$(status_of "$(api PUT /api/v1/devices/dev-1/desired "$ok64")")" "200" "64 levels accepted"
alive "after all"
pass

#!/usr/bin/env bash
# The replay cache survives a restart: a check-in signed 55 s ahead (inside
# the allowed skew) is accepted once, and refused when replayed after a
# SIGTERM restart; a request signed before the restart is refused after it.
source "$(dirname "$0")/lib.sh"
CK=/api/v1/device/checkin
start_server --rate-device 0

tok=$(new_enroll_token --uses 1 --auto-accept)
agent a1 enroll --token "$tok" --id dev-1 >/dev/null 2>&1 || fail "enroll"
KEY="$T/agents/a1/device.key"
echo '{}' >"$T/empty.json"

# send NAME: posts the check-in with the headers saved as NAME
send() {
	local h=()
	mapfile -t h <"$T/$1.hdr"
	curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.pem" -X POST \
		-H "${h[0]}" -H "${h[1]}" -H "${h[2]}" -H 'Content-Type: application/json' \
		--data-binary "@$T/empty.json" "$URL$CK"
}

FAIRLEAD_TIME_OFFSET=55 "$FLSIGN" "$KEY" POST $CK "$T/empty.json" >"$T/future.hdr"
assert_eq "$(send future)" "200" "signed 55 s ahead, first use"
assert_eq "$(send future)" "401" "signed 55 s ahead, replayed"
# Signed right before the restart, often in the same second as the new start.
"$FLSIGN" "$KEY" POST $CK "$T/empty.json" >"$T/past.hdr"
assert_eq "$(send past)" "200" "signed now, first use"

stop_server
restart_server --rate-device 0
assert_eq "$(send future)" "401" "signed 55 s ahead, replayed after the restart"
assert_eq "$(send past)" "401" "signed before the restart, replayed after it"
assert_eq "$(signed_curl "$KEY" POST $CK "$T/empty.json")" "200" "a fresh check-in after the restart"
stop_server
pass

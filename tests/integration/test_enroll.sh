#!/usr/bin/env bash
# Token enrollment (auto-accept and pending then accepted), check-in, the twin
# round trip, the ping command, selectors and pagination, spent tokens, and an
# expired API token.
source "$(dirname "$0")/lib.sh"
start_server

# auto-accepted device with token labels and its own
tok=$(new_enroll_token --uses 2 --label site=berlin --auto-accept)
assert_match "$tok" '^fle_' "enroll-token create prints the token alone"
agent a1 enroll --token "$tok" --id dev-a1 --label hw=a >"$T/e1.out" 2>&1 || fail "enroll a1: $(cat "$T/e1.out")"
agent a2 enroll --token "$tok" --id dev-a2 --label hw=b >/dev/null 2>&1 || fail "enroll a2"
[ "$(stat -c %a "$T/agents/a1/device.key")" = "600" ] || fail "device.key must be mode 0600"

# the token is used up: a third enrollment is refused with a clear error
if agent a3 enroll --token "$tok" --id dev-a3 >"$T/e3.out" 2>&1; then fail "used-up token accepted"; fi
assert_match "$(cat "$T/e3.out")" "enrollment token used up" "used-up token message"
assert_eq "$(status_of "$(api GET /api/v1/devices/dev-a3)")" "404" "no device for a refused enrollment"

# expired enrollment and API tokens (the wait is the tokens' lifetime)
etok=$(new_enroll_token --ttl 1s)
atok=$(cli token create --role viewer --ttl 1s)
sleep 2.2
r=$(api GET /api/v1/devices "" "$atok")
assert_eq "$(status_of "$r")" "401" "expired API token"
assert_eq "$(body_of "$r" | jq -r .error.message)" "token expired" "expired API token message"
if agent a4 enroll --token "$etok" --id dev-a4 >"$T/e4.out" 2>&1; then fail "expired token accepted"; fi
assert_match "$(cat "$T/e4.out")" "enrollment token expired" "expired token message"

agent_start a1
agent_start a2
wait_for "dev-a1 inventory" 15 bash -c "'$FLCLI' -o json device show dev-a1 | jq -e '.inventory.os != null and .last_seen != null and .online == true'"

# labels: token's site plus the device's hw
j=$(device_json dev-a1)
assert_eq "$(jq -r .labels.site <<<"$j")" "berlin" "token label applied"
assert_eq "$(jq -r .labels.hw <<<"$j")" "a" "device label applied"
assert_eq "$(jq -r .state <<<"$j")" "accepted" "auto-accept"
assert_eq "$(jq -r .inventory.agent_version <<<"$j")" "0.1.0" "agent version reported"

# selectors
assert_eq "$(cli -o json device list --selector 'site=berlin,hw in (a,c),!decommissioned' | jq -r '[.[].id] | join(",")')" "dev-a1" "selector in"
assert_eq "$(cli -o json device list --selector 'hw notin (a)' | jq -r '[.[].id] | join(",")')" "dev-a2" "selector notin"
assert_eq "$(cli -o json device list | jq length)" "2" "list all"
# cursor pagination through the API
p1=$(api GET '/api/v1/devices?limit=1')
assert_eq "$(status_of "$p1")" "200"
cur=$(body_of "$p1" | jq -r .next_cursor)
assert_ne "$cur" "null" "a next cursor on a full page"
p2=$(api GET "/api/v1/devices?limit=1&cursor=$cur")
assert_eq "$(body_of "$p2" | jq -r '.devices[0].id')" "dev-a2" "second page"
assert_eq "$(body_of "$(api GET "/api/v1/devices?limit=5&cursor=$cur")" | jq -r .next_cursor)" "null" "last page"

# pending device, accepted by an operator
ptok=$(new_enroll_token)
agent p1 enroll --token "$ptok" --id dev-p1 >"$T/p1.out" 2>&1 || fail "pending enroll must exit 0"
assert_eq "$(device_json dev-p1 | jq -r .state)" "pending"
if agent p1 run --once >/dev/null 2>&1; then fail "a pending device must not check in"; fi
cli device accept dev-p1 >/dev/null
agent p1 run --once >/dev/null 2>&1 || fail "accepted device checks in"

# desired twin round trip: set desired, agent applies and reports, delta empties
echo '{"sample_rate_hz": 50, "mode": "eco"}' >"$T/desired.json"
cli device desire dev-a1 --json "$T/desired.json" >/dev/null
assert_eq "$(device_json dev-a1 | jq -r '.twin_delta | length')" "2" "delta before the agent applies"
wait_for "reported twin" 15 bash -c "'$FLCLI' -o json device show dev-a1 | jq -e '.reported.config.mode == \"eco\" and (.twin_delta | length) == 0'"

# ping command: queued, delivered, result recorded
cid=$(cli device command dev-a1 ping)
assert_match "$cid" '^cmd' "command id printed"
wait_for "ping result" 15 bash -c "'$FLCLI' -o json device commands dev-a1 | jq -e '.[] | select(.id == \"$cid\") | .status == \"ok\" and .result.pong == true'"

# labels via CLI, including removal
cli device label dev-a2 tier=gold hw- >/dev/null
j=$(device_json dev-a2)
assert_eq "$(jq -r .labels.tier <<<"$j")" "gold"
assert_eq "$(jq -r '.labels.hw // "none"' <<<"$j")" "none" "label removed"
pass

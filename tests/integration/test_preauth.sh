#!/usr/bin/env bash
# Preauthorized enrollment: the key is made on the device, the operator
# registers (id, public key), the device enrolls without a token.
source "$(dirname "$0")/lib.sh"
start_server

pub=$(agent d1 keygen)
assert_match "$pub" '^[A-Za-z0-9+/]{43}=$' "keygen prints the base64 public key"
cli device preauthorize dev-pre1 --pubkey "$pub" --label site=lab >/dev/null
agent d1 enroll --id dev-pre1 >"$T/d1.out" 2>&1 || fail "preauthorized enroll: $(cat "$T/d1.out")"
j=$(device_json dev-pre1)
assert_eq "$(jq -r .state <<<"$j")" "accepted"
assert_eq "$(jq -r .labels.site <<<"$j")" "lab"
agent d1 run --once >/dev/null 2>&1 || fail "preauthorized device checks in"

# another key claiming a preauthorized id is refused, and nothing is stored
cli device preauthorize dev-pre2 --pubkey "$(agent d2 keygen)" >/dev/null
agent d3 keygen >/dev/null
if agent d3 enroll --id dev-pre2 >"$T/d3.out" 2>&1; then fail "wrong key enrolled"; fi
assert_eq "$(status_of "$(api GET /api/v1/devices/dev-pre2)")" "404" "no device for a wrong key"
# the right key still works afterwards
agent d2 enroll --id dev-pre2 >/dev/null 2>&1 || fail "right key after a wrong attempt"

# no token and no preauthorization
if agent d4 enroll --id dev-nobody >/dev/null 2>&1; then fail "enrolled without token or preauthorization"; fi
pass

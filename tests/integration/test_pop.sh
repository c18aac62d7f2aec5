#!/usr/bin/env bash
# Proof of possession: enrollment refuses a public key whose proof was made
# by another key, or for another device id, and a key rotation refuses a new
# key that did not sign its own proof, so a thief of the old key cannot move
# the device to a key nobody holds. A refused proof burns no challenge and
# changes no key.
source "$(dirname "$0")/lib.sh"
start_server --rate-device 0 --rate-anon 0
CK=/api/v1/device/checkin
echo '{}' >"$T/empty.json"
tok=$(new_enroll_token --uses 5 --auto-accept)

pub_a=$("$FLSIGN" --keygen "$T/a.key") # the key being enrolled
pub_b=$("$FLSIGN" --keygen "$T/b.key") # someone else's key

# proof KEYFILE MESSAGE: base64 signature of MESSAGE's bytes
proof() {
	printf '%s' "$2" >"$T/msg"
	"$FLSIGN" --raw "$1" "$T/msg"
}
challenge() { body_of "$(api POST /api/v1/enroll/challenge '{}')" | jq -r .challenge; }
# enroll_with ID PUB PROOF CHALLENGE: prints "STATUS BODY"
enroll_with() {
	api POST /api/v1/enroll "$(jq -nc --arg id "$1" --arg pub "$2" --arg p "$3" --arg c "$4" \
		--arg t "$tok" '{device_id:$id,pubkey:$pub,proof:$p,challenge:$c,token:$t}')"
}
expect_refused() { # DESCRIPTION "STATUS BODY" STATUS MESSAGE-PART
	assert_eq "$(status_of "$2")" "$3" "$1: status"
	body_of "$2" | jq -e --arg m "$4" '.error.code == "unauthorized" and
		(.error.message | contains($m))' >/dev/null || fail "$1: error body $(body_of "$2")"
}

ch=$(challenge)
[ -n "$ch" ] && [ "$ch" != null ] || fail "no challenge"
r=$(enroll_with dev-a "$pub_a" "$(proof "$T/b.key" "fairlead-enroll-v1
$ch
dev-a
$pub_a")" "$ch")
expect_refused "A's key, proof signed by B" "$r" 401 "proof of possession"
r=$(enroll_with dev-a "$pub_a" "$(proof "$T/a.key" "fairlead-enroll-v1
$ch
dev-other
$pub_a")" "$ch")
expect_refused "proof made for another device id" "$r" 401 "proof of possession"
r=$(enroll_with dev-a "$pub_a" "$(proof "$T/a.key" "fairlead-enroll-v1
$ch
dev-a
$pub_b")" "$ch")
expect_refused "proof made for another public key" "$r" 401 "proof of possession"
assert_eq "$(status_of "$(api GET /api/v1/devices/dev-a)")" "404" "no device from refused proofs"

# The same challenge still works with the right proof: the refusals above
# did not take it.
r=$(enroll_with dev-a "$pub_a" "$(proof "$T/a.key" "fairlead-enroll-v1
$ch
dev-a
$pub_a")" "$ch")
assert_eq "$(status_of "$r")" "201" "A's own proof"
keyid=$(body_of "$r" | jq -r .keyid)
assert_eq "$(signed_curl "$T/a.key" POST $CK "$T/empty.json")" "200" "check-in with A"
r=$(enroll_with dev-a2 "$pub_a" "$(proof "$T/a.key" "fairlead-enroll-v1
$ch
dev-a2
$pub_a")" "$ch")
assert_eq "$(status_of "$r")" "410" "a used challenge is gone"

# Rotation: the request is signed by the old key A; the proof must be by the
# new key C over (device, old key id, new key).
pub_c=$("$FLSIGN" --keygen "$T/c.key")
rotate() { # PROOF-KEYFILE NEW-PUB: prints the status; the body in $T/rot.out
	jq -nc --arg pub "$2" --arg p "$(proof "$1" "fairlead-rotate-v1
dev-a
$keyid
$2")" '{new_pubkey:$pub,proof:$p}' >"$T/rot.json"
	local hdrs=()
	while IFS= read -r line; do hdrs+=(-H "$line"); done < <("$FLSIGN" "$T/a.key" POST \
		/api/v1/device/rotate-key "$T/rot.json")
	curl -s -o "$T/rot.out" -w '%{http_code}' --cacert "$DATA/tls/ca.pem" -X POST "${hdrs[@]}" \
		-H 'Content-Type: application/json' --data-binary "@$T/rot.json" \
		"$URL/api/v1/device/rotate-key"
}
expect_rotation_refused() { # DESCRIPTION STATUS
	assert_eq "$2" "401" "$1: status"
	jq -e '.error.code == "unauthorized" and (.error.message | contains("new key"))' \
		"$T/rot.out" >/dev/null || fail "$1: error body $(cat "$T/rot.out")"
}
expect_rotation_refused "new key C, proof signed by the old key A" "$(rotate "$T/a.key" "$pub_c")"
expect_rotation_refused "new key C, proof signed by B" "$(rotate "$T/b.key" "$pub_c")"
assert_eq "$(device_json dev-a | jq -r .keyid)" "$keyid" "key unchanged by refused rotations"
assert_eq "$(signed_curl "$T/a.key" POST $CK "$T/empty.json")" "200" "A still checks in"
assert_eq "$(signed_curl "$T/c.key" POST $CK "$T/empty.json")" "401" "C was not installed"

assert_eq "$(rotate "$T/c.key" "$pub_c")" "200" "C's own proof"
assert_eq "$(signed_curl "$T/c.key" POST $CK "$T/empty.json")" "200" "C checks in"
assert_eq "$(signed_curl "$T/a.key" POST $CK "$T/empty.json")" "401" "A is retired"
pass

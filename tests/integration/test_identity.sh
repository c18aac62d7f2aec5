#!/usr/bin/env bash
# Signed device requests: replay, 50 racing copies, tampering, the time
# window, unknown keys, device states, revocation on the next request, and
# key rotation.
source "$(dirname "$0")/lib.sh"
start_server

tok=$(new_enroll_token --uses 10 --auto-accept)
agent a1 enroll --token "$tok" --id dev-1 >/dev/null 2>&1 || fail "enroll"
KEY="$T/agents/a1/device.key"
CK=/api/v1/device/checkin
echo '{}' >"$T/empty.json"
echo '{"inventory":{"os":"x"}}' >"$T/other.json"

assert_eq "$(signed_curl "$KEY" POST $CK "$T/empty.json")" "200" "a fresh signed check-in"

# --- replay: the same headers twice ---
mapfile -t H < <("$FLSIGN" "$KEY" POST $CK "$T/empty.json")
send() { curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.pem" -X POST \
	-H "${H[0]}" -H "${H[1]}" -H "${H[2]}" -H 'Content-Type: application/json' \
	--data-binary "@$T/empty.json" "$URL$CK"; }
assert_eq "$(send)" "200" "first use"
assert_eq "$(send)" "401" "verbatim replay refused"

# --- 50 racing copies of one signed request: exactly one is accepted ---
mapfile -t H < <("$FLSIGN" "$KEY" POST $CK "$T/empty.json")
{
	for i in $(seq 1 50); do
		[ "$i" -gt 1 ] && echo "next"
		echo "url = \"$URL$CK\""
		echo "output = \"/dev/null\""
		echo "cacert = \"$DATA/tls/ca.pem\""
		echo "request = \"POST\""
		echo "data-binary = \"@$T/empty.json\""
		for h in "${H[@]}"; do echo "header = \"${h//\"/\\\"}\""; done
		echo "header = \"Content-Type: application/json\""
		echo "write-out = \"%{http_code}\\n\""
	done
} >"$T/race.cfg"
curl -s -S --no-progress-meter --cacert "$DATA/tls/ca.pem" --parallel --parallel-immediate --parallel-max 50 \
	-K "$T/race.cfg" >"$T/race.out"
assert_eq "$(grep -c '^200$' "$T/race.out")" "1" "exactly one of 50 racing copies accepted"
assert_eq "$(grep -c '^401$' "$T/race.out")" "49" "the other 49 refused as replays"

# --- tampering: body, method, path, query ---
mapfile -t H < <("$FLSIGN" "$KEY" POST $CK "$T/empty.json")
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.pem" -X POST -H "${H[0]}" \
	-H "${H[1]}" -H "${H[2]}" --data-binary "@$T/other.json" "$URL$CK")
assert_eq "$code" "401" "changed body"
mapfile -t H < <("$FLSIGN" "$KEY" POST $CK "$T/empty.json")
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.pem" -X POST -H "${H[0]}" \
	-H "${H[1]}" -H "${H[2]}" --data-binary "@$T/empty.json" "$URL$CK?x=1")
assert_eq "$code" "401" "added query"
mapfile -t H < <("$FLSIGN" "$KEY" POST "$CK?x=1" "$T/empty.json")
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.pem" -X POST -H "${H[0]}" \
	-H "${H[1]}" -H "${H[2]}" --data-binary "@$T/empty.json" "$URL$CK?x=2")
assert_eq "$code" "401" "changed query"
mapfile -t H < <("$FLSIGN" "$KEY" POST /api/v1/device/rotate-key "$T/empty.json")
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.pem" -X POST -H "${H[0]}" \
	-H "${H[1]}" -H "${H[2]}" --data-binary "@$T/empty.json" "$URL$CK")
assert_eq "$code" "401" "changed path"
mapfile -t H < <("$FLSIGN" "$KEY" PUT $CK "$T/empty.json")
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.pem" -X POST -H "${H[0]}" \
	-H "${H[1]}" -H "${H[2]}" --data-binary "@$T/empty.json" "$URL$CK")
assert_eq "$code" "401" "changed method"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.pem" -X POST \
	--data-binary "@$T/empty.json" "$URL$CK")
assert_eq "$code" "401" "unsigned"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.pem" -X POST \
	-H 'Signature-Input: fl=("@method");created=1;expires=2;nonce="x";keyid="y";tag="fairlead-v1"' \
	-H 'Signature: fl=:AAAA:' --data-binary "@$T/empty.json" "$URL$CK")
assert_eq "$code" "401" "malformed signature"

# --- the time window ---
assert_eq "$(FAIRLEAD_TIME_OFFSET=-900 signed_curl "$KEY" POST $CK "$T/empty.json")" "401" "signed 15 min ago"
assert_eq "$(FAIRLEAD_TIME_OFFSET=900 signed_curl "$KEY" POST $CK "$T/empty.json")" "401" "signed 15 min ahead"

# --- an unknown key ---
agent stranger keygen >/dev/null
assert_eq "$(signed_curl "$T/agents/stranger/device.key" POST $CK "$T/empty.json")" "401" "unknown key"

# --- states: quarantined may check in; pending, rejected and revoked may not ---
cli device quarantine dev-1 >/dev/null
assert_eq "$(signed_curl "$KEY" POST $CK "$T/empty.json")" "200" "quarantined device checks in"
agent a1 run --once >/dev/null 2>&1 || fail "quarantined agent check-in"
cli device accept dev-1 >/dev/null
cli device revoke dev-1 --reason "stolen" >/dev/null
# the very next request is refused
assert_eq "$(signed_curl "$KEY" POST $CK "$T/empty.json")" "403" "revoked on the next request"
if agent a1 run --once >/dev/null 2>&1; then fail "revoked agent checked in"; fi
# revocation is final
if cli device accept dev-1 >/dev/null 2>&1; then fail "a revoked device was accepted again"; fi

agent a2 enroll --token "$tok" --id dev-2 >/dev/null 2>&1 || fail "enroll dev-2"
cli device reject dev-2 >/dev/null
assert_eq "$(signed_curl "$T/agents/a2/device.key" POST $CK "$T/empty.json")" "403" "rejected"

# --- key rotation: signed by old and new; the old key is refused after ---
agent a3 enroll --token "$tok" --id dev-3 >/dev/null 2>&1 || fail "enroll dev-3"
cp "$T/agents/a3/device.key" "$T/old.key"
old_kid=$(device_json dev-3 | jq -r .keyid)
agent a3 rotate-key >"$T/rot.out" 2>&1 || fail "rotate-key: $(cat "$T/rot.out")"
new_kid=$(device_json dev-3 | jq -r .keyid)
assert_ne "$new_kid" "$old_kid" "key id changed"
assert_eq "$(signed_curl "$T/old.key" POST $CK "$T/empty.json")" "401" "old key refused after rotation"
agent a3 run --once >/dev/null 2>&1 || fail "check-in with the new key"
assert_eq "$(signed_curl "$T/agents/a3/device.key" POST $CK "$T/empty.json")" "200" "new key accepted"

# every state change and the rotation are in the audit log
actions=$(cli -o json audit list | jq -r '[.[].action] | join(" ")')
for a in device.enroll device.quarantine device.accept device.revoke device.reject device.rotate_key; do
	[[ " $actions " == *" $a "* ]] || fail "audit log lacks $a"
done
pass

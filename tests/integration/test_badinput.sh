#!/usr/bin/env bash
# Bad input gets a clear 4xx JSON error, the server keeps serving, and nothing
# half-done is stored.
source "$(dirname "$0")/lib.sh"
start_server --rate-token 0 --rate-anon 0

tok=$(new_enroll_token --uses 5 --auto-accept)
agent a enroll --token "$tok" --id dev-1 >/dev/null 2>&1 || fail "enroll"
before_dev=$(cli -o json device list | jq length)
before_audit=$(body_of "$(api GET /api/v1/audit/head)" | jq .seq)

expect4xx() { # DESCRIPTION EXPECTED-STATUS METHOD PATH [BODY]
	local r st
	r=$(api "$3" "$4" "${5:-}")
	st=$(status_of "$r")
	assert_eq "$st" "$2" "$1"
	body_of "$r" | jq -e '.error.code and .error.message' >/dev/null || fail "$1: no JSON error body"
}
expect4xx "malformed JSON" 400 POST /api/v1/enroll-tokens '{"uses":'
expect4xx "not an object" 400 POST /api/v1/enroll-tokens '[1,2]'
expect4xx "wrong type" 400 POST /api/v1/enroll-tokens '{"uses":"3"}'
expect4xx "unknown field" 400 POST /api/v1/enroll-tokens '{"uses":1,"colour":"red"}'
expect4xx "duplicate key" 400 POST /api/v1/tokens '{"role":"viewer","role":"admin"}'
expect4xx "bad role" 400 POST /api/v1/tokens '{"role":"root"}'
expect4xx "bad ttl" 400 POST /api/v1/enroll-tokens '{"ttl":"forever"}'
expect4xx "bad label key" 400 POST /api/v1/devices/dev-1/labels '{"labels":{"bad key":"x"}}'
expect4xx "bad label value" 400 POST /api/v1/devices/dev-1/labels '{"labels":{"k":"a/b"}}'
expect4xx "reserved label" 400 POST /api/v1/devices/dev-1/labels '{"labels":{"state":"x"}}'
expect4xx "desired not an object" 400 PUT /api/v1/devices/dev-1/desired '[1]'
expect4xx "id with slash" 400 GET /api/v1/devices/a%2Fb
expect4xx "id with dot-dot" 400 GET /api/v1/devices/..
expect4xx "id with NUL" 400 GET /api/v1/devices/a%00b
expect4xx "bad escape" 400 GET /api/v1/devices/a%zz
expect4xx "id too long" 400 GET "/api/v1/devices/$(printf 'x%.0s' $(seq 1 80))"
expect4xx "bad selector" 400 GET "/api/v1/devices?selector=hw%20in%20(a"
expect4xx "bad selector op" 400 GET "/api/v1/devices?selector=%3D%3Dx"
expect4xx "bad limit" 400 GET "/api/v1/devices?limit=0"
expect4xx "bad cursor" 400 GET "/api/v1/devices?cursor=zz"
expect4xx "unknown route" 404 GET /api/v1/nothing-here
expect4xx "wrong method" 405 DELETE /api/v1/devices
expect4xx "unknown command" 400 POST /api/v1/devices/dev-1/commands '{"type":"format-disk"}'
expect4xx "preauth bad key" 400 POST /api/v1/devices/preauthorize '{"id":"dev-x","pubkey":"AAAA"}'
expect4xx "preauth bad id" 400 POST /api/v1/devices/preauthorize '{"id":"../x","pubkey":"AAAA"}'

# enrollment bodies
expect4xx "enroll id with NUL" 400 POST /api/v1/enroll '{"device_id":"a\u0000b","pubkey":"x","challenge":"c","proof":"p"}'
expect4xx "enroll unknown field" 400 POST /api/v1/enroll '{"device_id":"a","pubkey":"x","challenge":"c","proof":"p","admin":true}'
expect4xx "enroll bad key" 400 POST /api/v1/enroll '{"device_id":"a","pubkey":"x","challenge":"c","proof":"p"}'

# Bad ids with everything else well formed (a real public key, a proof of the
# right length), so the id check is the one that answers.
pub=$("$FLSIGN" --keygen "$T/k.key")
sig=$(head -c 64 /dev/zero | base64 -w0)
expect_bad_id() { # DESCRIPTION METHOD PATH BODY
	local r
	r=$(api "$2" "$3" "$4")
	assert_eq "$(status_of "$r")" "400" "$1"
	body_of "$r" | jq -e '.error.code == "invalid_request" and .error.message == "bad device id"' \
		>/dev/null || fail "$1: error body $(body_of "$r")"
}
long=$(printf 'x%.0s' $(seq 1 80))
for id in "../x" "a/b" "a b" ".hidden" "$long" ""; do
	expect_bad_id "enroll id '$id'" POST /api/v1/enroll "$(jq -nc --arg id "$id" --arg pub "$pub" \
		--arg sig "$sig" '{device_id:$id,pubkey:$pub,challenge:"c",proof:$sig}')"
	expect_bad_id "preauthorize id '$id'" POST /api/v1/devices/preauthorize \
		"$(jq -nc --arg id "$id" --arg pub "$pub" '{id:$id,pubkey:$pub}')"
done

# oversized body and header
head -c 2000000 /dev/zero | tr '\0' ' ' >"$T/big.json"
st=$(curl -s -o "$T/big.out" -w '%{http_code}' --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" \
	-X POST --data-binary "@$T/big.json" "$URL/api/v1/enroll-tokens")
assert_eq "$st" "413" "oversized body"
jq -e .error.code "$T/big.out" >/dev/null || fail "oversized body: no JSON error"
# ... refused by its declared length alone, before a byte of it comes: a
# server that waited for the body would answer nothing here
printf 'POST /api/v1/enroll-tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n' \
	"$ADMIN" >"$T/bighead.raw"
st=$(python3 "$(dirname "$0")/rawhttp.py" send 127.0.0.1 "$PORT" "$DATA/tls/ca.pem" "$T/bighead.raw")
assert_match "$st" "^HTTP/1.1 413" "declared length over the limit, no body sent"
st=$(curl -s -o "$T/hdr.out" -w '%{http_code}' --cacert "$DATA/tls/ca.pem" \
	-H "X-Filler: $(head -c 20000 /dev/zero | tr '\0' a)" "$URL/api/v1/health")
[[ "$st" =~ ^4 ]] || fail "oversized header: status $st"

# reused and expired enrollment tokens through the agent
one=$(new_enroll_token --uses 1)
agent b enroll --token "$one" --id dev-b >/dev/null 2>&1 || fail "first use"
if agent c enroll --token "$one" --id dev-c >/dev/null 2>&1; then fail "token reused"; fi
if agent d enroll --token "fle_made_up_token_value" --id dev-d >/dev/null 2>&1; then fail "made-up token"; fi

# the server still serves, and nothing from the bad requests was stored
curl -sf --cacert "$DATA/tls/ca.pem" "$URL/api/v1/health" >/dev/null || fail "server stopped serving"
assert_eq "$(cli -o json device list | jq length)" "$((before_dev + 1))" "only dev-b was added"
assert_eq "$(device_json dev-1 | jq -c .labels)" "{}" "labels untouched by refused writes"
after_audit=$(body_of "$(api GET /api/v1/audit/head)" | jq .seq)
# dev-b's enrollment and the token are the only audited mutations
assert_eq "$after_audit" "$((before_audit + 2))" "no audit entries for refused requests"
cli audit verify >/dev/null || fail "audit chain intact"
pass

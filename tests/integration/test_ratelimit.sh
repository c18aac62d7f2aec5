#!/usr/bin/env bash
# Per-identity rate limits answer 429 with Retry-After, per identity.
source "$(dirname "$0")/lib.sh"
start_server --rate-token 2

other=$(cli token create --role viewer)
codes=""
for i in $(seq 1 20); do
	codes+="$(curl -s -o /dev/null -w '%{http_code} ' --cacert "$DATA/tls/ca.pem" \
		-H "Authorization: Bearer $ADMIN" "$URL/api/v1/devices")"
done
assert_match "$codes" "429" "a burst over the limit is refused"
assert_match "$codes" "^200" "the first requests pass"
curl -s -D "$T/h" -o "$T/b" --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" "$URL/api/v1/devices"
grep -qi '^retry-after: [1-9]' "$T/h" || fail "no Retry-After header: $(cat "$T/h")"
assert_eq "$(jq -r .error.code "$T/b")" "rate_limited"
# another identity is not affected
assert_eq "$(status_of "$(api GET /api/v1/devices '' "$other")")" "200" "another token still served"
# after waiting as told, the limited one is served again
sleep "$(grep -i '^retry-after' "$T/h" | tr -dc 0-9)"
assert_eq "$(status_of "$(api GET /api/v1/devices)")" "200" "served after Retry-After"
pass

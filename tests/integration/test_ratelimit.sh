#!/usr/bin/env bash
# Per-identity rate limits answer 429 with Retry-After, per identity.
source "$(dirname "$0")/lib.sh"
start_server --rate-token 2

other=$(cli token create --role viewer)
# Each response's headers and body are kept: the bucket refills while curl
# runs, so the request after the burst may pass; the first refusal is checked.
codes=""
limited=""
for i in $(seq 1 20); do
	code=$(curl -s -D "$T/h$i" -o "$T/b$i" -w '%{http_code}' --cacert "$DATA/tls/ca.pem" \
		-H "Authorization: Bearer $ADMIN" "$URL/api/v1/devices")
	codes+="$code "
	[ "$code" = 429 ] && [ -z "$limited" ] && limited=$i
done
assert_match "$codes" "429" "a burst over the limit is refused"
assert_match "$codes" "^200" "the first requests pass"
grep -qi '^retry-after: [1-9]' "$T/h$limited" || fail "no Retry-After header: $(cat "$T/h$limited")"
assert_eq "$(jq -r .error.code "$T/b$limited")" "rate_limited"
cp "$T/h$limited" "$T/h"
# another identity is not affected
assert_eq "$(status_of "$(api GET /api/v1/devices '' "$other")")" "200" "another token still served"
# after waiting as told, the limited one is served again
sleep "$(grep -i '^retry-after' "$T/h" | tr -dc 0-9)"
assert_eq "$(status_of "$(api GET /api/v1/devices)")" "200" "served after Retry-After"
pass

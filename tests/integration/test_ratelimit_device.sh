#!/usr/bin/env bash
# Device rate limits (docs/security.md, Rate limits):
# (a) signed requests are limited per device key (--rate-device R, burst 4R):
#     a device over its limit gets 429 rate_limited with Retry-After while
#     another device at the same time is served;
# (b) a failed device authentication (unknown key, bad signature) is charged
#     to the client address's anonymous bucket (--rate-anon R, burst 5R): once
#     it is empty, further attempts from that address get 429 instead of 401
#     (so signature guessing is bounded), as do its unauthenticated routes,
#     while another address still gets 401.
# The buckets refill while curl runs, so each burst is one curl process
# reusing one connection, and the FIRST 429 is the one checked.
source "$(dirname "$0")/lib.sh"
start_server --rate-device 1 --rate-anon 2
start_s=$(date +%s)
CK=/api/v1/device/checkin
echo '{}' >"$T/empty.json"

tok=$(new_enroll_token --uses 2 --auto-accept)
for n in a b; do
	agent $n enroll --token "$tok" --id dev-$n >"$T/e-$n.out" 2>&1 || fail "enroll dev-$n: $(cat "$T/e-$n.out")"
done
KA="$T/agents/a/device.key" KB="$T/agents/b/device.key"
"$FLSIGN" --keygen "$T/unknown.key" >/dev/null # a key the server never saw
# signatures must be dated after the server's start second
while [ "$(date +%s)" -le "$start_s" ]; do sleep 0.1; done

# burst TAG SRC SPEC...: one curl process, one request per SPEC, from source
# address SRC. SPEC is KEYFILE (a check-in with a fresh signature),
# KEYFILE:bad (a signature over another target: a failed Ed25519
# verification) or "health" (an unauthenticated GET). Prints the statuses;
# request i's headers and body go to $T/TAG.h<i> and $T/TAG.b<i>.
burst() {
	local tag=$1 src=$2 spec key target i=0 args=()
	shift 2
	for spec in "$@"; do
		i=$((i + 1))
		[ $i -gt 1 ] && args+=(--next)
		args+=(-s --cacert "$DATA/tls/ca.pem" --interface "$src" -D "$T/$tag.h$i" -o "$T/$tag.b$i"
			-w '%{http_code} ')
		if [ "$spec" = health ]; then
			args+=("$URL/api/v1/health")
			continue
		fi
		key=${spec%:bad} target=$CK
		[ "$spec" != "$key" ] && target="$CK?tampered=1"
		args+=(-X POST -H 'Content-Type: application/json' --data-binary "@$T/empty.json")
		while IFS= read -r line; do args+=(-H "$line"); done < <("$FLSIGN" "$key" POST "$target" "$T/empty.json")
		args+=("$URL$CK")
	done
	curl "${args[@]}" || true
}
# check_429 TAG CODES WHAT: the first 429 of a burst carries Retry-After and rate_limited
check_429() {
	local tag=$1 i=0 c
	for c in $2; do
		i=$((i + 1))
		[ "$c" = 429 ] || continue
		grep -qi '^retry-after: [1-9]' "$T/$tag.h$i" || fail "$3: no Retry-After: $(cat "$T/$tag.h$i")"
		assert_eq "$(jq -r .error.code "$T/$tag.b$i")" "rate_limited" "$3: error code"
		return 0
	done
	fail "$3: no 429 in: $2"
}

# --- (b) failed authentication is charged to the address ---
# 127.0.0.2 is the attacker (the setup above used 127.0.0.1's bucket): 30
# rounds of an unknown key, a bad signature of a real key and a health
# request, against an address burst of 10. The failures are 401 at first,
# then 429 for both kinds, and the address's unauthenticated routes are
# refused as well: the failures emptied that address's bucket.
specs=()
for i in $(seq 1 10); do specs+=("$T/unknown.key" "$KA:bad" health); done
codes=$(burst x 127.0.0.2 "${specs[@]}")
echo "attacker: $codes"
read -ra c <<<"$codes"
assert_eq "${#c[@]}" "30" "statuses of the attacker's burst"
assert_eq "${c[*]:0:3}" "401 401 200" "under the limit: 401 for the failures"
check_429 x "$codes" "failed authentication over the address limit"
kinds=("unknown key" "bad signature" health)
for k in 0 1 2; do # some 429 for each kind of request
	got=""
	for ((i = k; i < 30; i += 3)); do [ "${c[i]}" = 429 ] && got=1; done
	[ -n "$got" ] || fail "no 429 for the ${kinds[k]} requests: $codes"
done
# the limit is per address: failures from another address are plain 401s
assert_eq "$(burst z 127.0.0.3 "$T/unknown.key" "$KA:bad")" "401 401 " "failures from another address"

# --- (a) per device key ---
# 20 check-ins of dev-a against a burst of 4, then 3 of dev-b in the same
# connection: dev-a is limited, dev-b is not.
specs=()
for i in $(seq 1 20); do specs+=("$KA"); done
specs+=("$KB" "$KB" "$KB")
codes=$(burst d 127.0.0.4 "${specs[@]}")
echo "devices: $codes"
read -ra c <<<"$codes"
assert_eq "${#c[@]}" "23" "statuses of the device burst"
assert_eq "${c[0]}" "200" "dev-a's first check-in"
check_429 d "${c[*]:0:20}" "dev-a over its limit"
assert_eq "${c[*]:20:3}" "200 200 200" "dev-b at the same time"
pass

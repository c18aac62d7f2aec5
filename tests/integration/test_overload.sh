#!/usr/bin/env bash
# Past capacity the server sheds: with one worker and a queue of two, a
# burst of 400 requests 100 at a time gets 200 or 503, every 503 says
# Retry-After, and none is left to time out.
. "$(dirname "$0")/lib.sh"

start_server --threads 1 --queue-max 2 --queue-wait-ms 200 --rate-token 0
for _ in $(seq 1 400); do
	echo "url = \"$URL/api/v1/devices?limit=500\""
	echo 'output = "/dev/null"'
done >"$T/burst.cfg"
curl -s --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" --parallel \
	--parallel-max 100 --parallel-immediate --max-time 30 -K "$T/burst.cfg" \
	-w '%{http_code} %header{retry-after}\n' >"$T/burst.out" 2>/dev/null || true
sort "$T/burst.out" | uniq -c >"$T/burst.sum"
total=$(wc -l <"$T/burst.out")
assert_eq "$total" "400" "replies to the burst"
ok=$(grep -c '^200 $' "$T/burst.out" || true)
shed=$(grep -c '^503 [1-9][0-9]*$' "$T/burst.out" || true)
assert_eq "$((ok + shed))" "400" "only 200s and 503s with Retry-After: $(cat "$T/burst.sum")"
[ "$shed" -gt 0 ] || fail "nothing was shed: $(cat "$T/burst.sum")"
[ "$ok" -gt 0 ] || fail "nothing was served: $(cat "$T/burst.sum")"
n=$(curl -s --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" "$URL/api/v1/_stats" | jq .http.shed)
[ "$n" -ge "$shed" ] || fail "_stats http.shed $n < $shed"
# Once the burst is over the server serves again.
r=$(api GET /api/v1/devices)
assert_eq "$(status_of "$r")" "200" "after the burst"
pass

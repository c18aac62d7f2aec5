#!/usr/bin/env bash
# Connections that never send a byte, or dribble their head, cost memory,
# never a worker: with 10,000 idle and 1,000 slow ones open, a real agent
# still checks in and /health answers; all of them are closed at the header
# deadline (--header-timeout-ms).
. "$(dirname "$0")/lib.sh"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge 12000 ] || { echo "SKIP: open-files limit $(ulimit -n) < 12000"; pass; exit 0; }
IDLE=10000
SLOW=1000
start_server --header-timeout-ms 6000
tok=$(new_enroll_token --uses 1 --auto-accept)
agent a enroll --token "$tok" --id dev-hold >/dev/null 2>&1 || fail "enroll"

python3 "$(dirname "$0")/rawhttp.py" hold 127.0.0.1 "$PORT" "$IDLE" "$SLOW" 40 >"$T/hold.log" 2>&1 &
HOLD=$!
wait_for "connections opened" 30 grep -q '^open' "$T/hold.log"
# Every connection reached the server (counted open), none of them holds a
# thread: a check-in and the health route are served.
wait_for "connections counted" 20 sh -c "test \$(curl -s --cacert '$DATA/tls/ca.pem' \
	-H 'Authorization: Bearer $ADMIN' '$URL/api/v1/_stats' | jq .http.connections) -ge $((IDLE + SLOW))"
agent a run --once >"$T/checkin.log" 2>&1 || fail "check-in with $IDLE idle and $SLOW slow connections open: $(tail -3 "$T/checkin.log")"
r=$(api GET /api/v1/health "" "")
assert_eq "$(status_of "$r")" "200" "/health with hostile connections open"
seen=$(device_json dev-hold | jq -r .last_seen)
assert_ne "$seen" "null" "the check-in was recorded"

# Past the header deadline every one of them is closed by the server.
wait "$HOLD" || fail "hold helper failed: $(cat "$T/hold.log")"
assert_eq "$(grep idle_closed "$T/hold.log")" "idle_closed $IDLE of $IDLE" "idle connections closed at the deadline"
assert_eq "$(grep slow_closed "$T/hold.log")" "slow_closed $SLOW of $SLOW" "slow connections closed at the deadline"

n=$(curl -s --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" "$URL/api/v1/_stats" | jq .http.closed_deadline)
[ "$n" -ge $((IDLE + SLOW)) ] || fail "closed_deadline $n < $((IDLE + SLOW))"
kill -0 "$SERVER_PID" || fail "server died"
pass

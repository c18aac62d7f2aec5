#!/usr/bin/env bash
# An acknowledged write survives SIGKILL: devices send SLI reports under load
# and remember every seq answered 200; the server is killed twice in the middle
# and restarted; afterwards every acknowledged report is stored (counted once).
# A command result answered 200 just before a SIGKILL is stored after it. The
# write-behind interval is long (5 s), so nothing may rely on its tick.
source "$(dirname "$0")/lib.sh"
RP=/api/v1/device/reports
CK=/api/v1/device/checkin
DB="$DATA/fairlead.db"

start_server --rate-device 0 --flush-ms 5000
tok=$(new_enroll_token --uses 10 --auto-accept)
DEVS=(d1 d2 d3)
for d in "${DEVS[@]}"; do
	agent "$d" enroll --token "$tok" --id "dev-$d" >/dev/null 2>&1 || fail "enroll dev-$d"
done

now=$(date +%s)
W=$(((now / 60) * 60 - 120)) # a whole minute two minutes ago

# sender NAME: sends seq 1, 2, ... like an agent: a seq is resent until it is
# answered 200 (its copy is dropped only then); each acknowledged seq is
# appended to $T/acked-NAME. Stops when $T/stop exists.
sender() {
	local name=$1 key="$T/agents/$1/device.key" seq=1 body="$T/body-$1.json" hdrs line code
	while [ ! -e "$T/stop" ]; do
		printf '{"reports":[{"seq":%d,"start":%d,"end":%d,"inferences":1,"up_s":60,"expected_s":60}]}' \
			"$seq" "$W" "$((W + 60))" >"$body"
		hdrs=()
		while IFS= read -r line; do hdrs+=(-H "$line"); done < <("$FLSIGN" "$key" POST $RP "$body")
		code=$(curl -sS --max-time 10 --cacert "$DATA/tls/ca.pem" -X POST "${hdrs[@]}" -o /dev/null \
			-w '%{http_code}' -H 'Content-Type: application/json' --data-binary "@$body" \
			"$URL$RP" 2>>"$T/curl-$name.err") || code=000
		if [ "$code" = 200 ]; then
			echo "$seq" >>"$T/acked-$name"
			seq=$((seq + 1))
		else
			sleep 0.05
		fi
	done
}

acked_total() { cat "$T"/acked-* 2>/dev/null | wc -l || true; }

SENDERS=()
for d in "${DEVS[@]}"; do
	sender "$d" &
	SENDERS+=($!)
	PIDS+=($!) # stopped by the harness if an assertion fails
done
for round in 1 2; do
	before=$(acked_total)
	wait_for "reports acknowledged (round $round)" 30 bash -c "[ \$(cat '$T'/acked-* 2>/dev/null | wc -l) -ge $((before + 40)) ]"
	kill -KILL "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	restart_server --rate-device 0 --flush-ms 5000
done
before=$(acked_total)
wait_for "reports acknowledged after the restarts" 30 bash -c "[ \$(cat '$T'/acked-* 2>/dev/null | wc -l) -ge $((before + 10)) ]"
touch "$T/stop"
wait "${SENDERS[@]}"
stop_server

for d in "${DEVS[@]}"; do
	last=$(tail -n1 "$T/acked-$d")
	assert_eq "$(sort -n "$T/acked-$d" | uniq | wc -l)" "$last" "dev-$d: acknowledged seqs are 1..$last"
	stored=$(sqlite3 "$DB" "SELECT COALESCE(SUM(reports), 0) FROM sli_minute WHERE device_id = 'dev-$d'")
	assert_eq "$stored" "$last" "dev-$d: reports stored of $last acknowledged"
	assert_eq "$(sqlite3 "$DB" "SELECT seq FROM sli_ingest WHERE device_id = 'dev-$d'")" "$last" \
		"dev-$d: stored seq"
done

# ---- a command result acknowledged before a SIGKILL is stored after it ----
restart_server --rate-device 0 --flush-ms 5000
cid=$(cli device command dev-d1 ping)
assert_match "$cid" '^cmd' "command id printed"
echo "{\"command_results\":[{\"id\":\"$cid\",\"status\":\"ok\",\"result\":{\"pong\":true}}]}" >"$T/res.json"
assert_eq "$(signed_curl "$T/agents/d1/device.key" POST $CK "$T/res.json")" "200" "result acknowledged"
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
restart_server --rate-device 0 --flush-ms 5000
st=$(cli -o json device commands dev-d1 | jq -r ".[] | select(.id == \"$cid\") | .status")
assert_eq "$st" "ok" "command result stored after SIGKILL"
stop_server
pass

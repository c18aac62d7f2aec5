#!/usr/bin/env bash
# A SIGTERM under load loses nothing: every check-in the server acknowledged
# is in the database after a restart, although check-ins are written behind.
source "$(dirname "$0")/lib.sh"
start_server --rate-device 0 --flush-ms 2000

tok=$(new_enroll_token --uses 5 --auto-accept)
for i in 1 2 3 4 5; do
	agent "d$i" enroll --token "$tok" --id "dev-$i" >/dev/null 2>&1 || fail "enroll $i"
done

# Each loop sends check-ins with a rising sequence in the inventory and
# records the last one the server acknowledged with 200.
load() {
	local i=$1 n=0 code
	while :; do
		n=$((n + 1))
		printf '{"inventory":{"seq":"%d"}}' "$n" >"$T/body$i.json"
		code=$(signed_curl "$T/agents/d$i/device.key" POST /api/v1/device/checkin "$T/body$i.json") || true
		if [ "$code" = "200" ]; then echo "$n" >"$T/acked$i"; elif [ -s "$T/acked$i" ]; then break; fi
		[ "$n" -ge 2000 ] && break
	done
}
for i in 1 2 3 4 5; do load "$i" & done
sleep 3
stop_server
wait $(jobs -p) 2>/dev/null || true

start_server
for i in 1 2 3 4 5; do
	acked=$(cat "$T/acked$i")
	[ "$acked" -ge 3 ] || fail "device $i: too few check-ins under load ($acked)"
	got=$(device_json "dev-$i" | jq -r '.inventory.seq | tonumber')
	# The server may have stored one more than the client saw acknowledged
	# (a reply cut off by the shutdown), never fewer.
	[ "$got" -ge "$acked" ] && [ "$got" -le $((acked + 1)) ] ||
		fail "device $i: stored seq $got, last acknowledged $acked"
	[ "$(device_json "dev-$i" | jq -r .last_seen)" != "null" ] || fail "device $i: last_seen lost"
done
grep -q '"stopped cleanly"' "$T/server.log" || grep -q 'stopped cleanly' "$T/server.log" || fail "no clean stop logged"
pass

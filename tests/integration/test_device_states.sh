#!/usr/bin/env bash
# Online and offline, and the states that may not check in: a device that
# checks in is online; one that stops goes offline once the window passes; one
# never seen is not online. Decommissioned, revoked, rejected and pending
# devices are refused 403 "forbidden" on a signed check-in, and the refusal
# does not count as seen; quarantined ones may check in.
source "$(dirname "$0")/lib.sh"
# lib.sh serves with --poll-interval 1 (the least allowed); the online window
# is 3 * poll interval + 5 (cp_device_overlay): 8 s.
WINDOW=8
start_server
CK=/api/v1/device/checkin
echo '{}' >"$T/empty.json"

# signed_req KEYFILE OUTFILE: a signed check-in; prints the status, the reply
# body goes to OUTFILE
signed_req() {
	local hdrs=() line
	while IFS= read -r line; do hdrs+=(-H "$line"); done < <("$FLSIGN" "$1" POST $CK "$T/empty.json")
	curl -s --cacert "$DATA/tls/ca.pem" -X POST -o "$2" -w '%{http_code}' "${hdrs[@]}" \
		-H 'Content-Type: application/json' --data-binary "@$T/empty.json" "$URL$CK"
}
seen_of() { device_json "$1" | jq -r .last_seen; }
online_is() { [ "$(device_json "$1" | jq -r .online)" = "$2" ]; }
key_of() { echo "$T/agents/$1/device.key"; }

tok=$(new_enroll_token --uses 10 --auto-accept)
for n in live gone rev rej quar; do
	agent $n enroll --token "$tok" --id dev-$n >"$T/e-$n.out" 2>&1 || fail "enroll dev-$n: $(cat "$T/e-$n.out")"
done
# never seen: a pending device, and a preauthorized one enrolled but silent
agent pend enroll --token "$(new_enroll_token)" --id dev-pend >/dev/null 2>&1 || fail "enroll dev-pend"
cli device preauthorize dev-pre --pubkey "$(agent pre keygen)" >/dev/null
agent pre enroll --id dev-pre >/dev/null 2>&1 || fail "enroll dev-pre"
for d in dev-pend dev-pre dev-rev; do
	j=$(device_json $d)
	assert_eq "$(jq -r .last_seen <<<"$j")" "null" "$d never seen"
	assert_eq "$(jq -r .online <<<"$j")" "false" "$d never seen is not online"
done

# --- online while checking in; offline once the window passes ---
agent_start live
agent_start gone
wait_for "dev-live online" 10 online_is dev-live true
wait_for "dev-gone online" 10 online_is dev-gone true
kill -TERM "$AGENT_PID_live"
wait "$AGENT_PID_live" 2>/dev/null || true
live_seen=$(seen_of dev-live)
assert_match "$live_seen" '^[0-9]+$' "dev-live last_seen"
assert_eq "$(device_json dev-live | jq -r .online)" "true" "still online just after it stops"

# one accepted check-in each, then the operator's decision
assert_eq "$(signed_req "$(key_of rev)" "$T/r.json")" "200" "dev-rev checks in while accepted"
assert_eq "$(signed_req "$(key_of rej)" "$T/r.json")" "200" "dev-rej checks in while accepted"
cli device decommission dev-gone >/dev/null
cli device revoke dev-rev --reason stolen >/dev/null
cli device reject dev-rej >/dev/null
cli device quarantine dev-quar >/dev/null
assert_eq "$(device_json dev-gone | jq -r .state)" "decommissioned"
# the running agent of dev-gone is refused from now on and says why
wait_for "dev-gone's agent refused" 10 grep -q "check-in failed: device is decommissioned" "$T/agent-gone.log"
declare -A SEEN
for n in gone rev rej; do SEEN[$n]=$(seen_of dev-$n); done
for n in gone rev rej; do assert_match "${SEEN[$n]}" '^[0-9]+$' "dev-$n seen before its refusal"; done
# a refusal in the same second as the last check-in could not move last_seen
max_seen=$(printf "%s\n" "${SEEN[@]}" | sort -n | tail -n1)
wait_for "a new second" 3 bash -c "[ \$(date +%s) -gt $max_seen ]"

# --- refused: 403, code forbidden, the state in the message ---
for n in gone:decommissioned rev:revoked rej:rejected pend:pending; do
	d=${n%%:*} st=${n#*:}
	assert_eq "$(signed_req "$(key_of $d)" "$T/r.json")" "403" "dev-$d ($st) check-in"
	assert_eq "$(jq -r .error.code "$T/r.json")" "forbidden" "dev-$d ($st) error code"
	assert_match "$(jq -r .error.message "$T/r.json")" "^device is $st" "dev-$d ($st) error message"
done
# (dev-gone's state directory is its running agent's: the revoked one here)
if agent rev run --once >"$T/once.out" 2>&1; then fail "a revoked agent's run --once exits 0"; fi
assert_match "$(cat "$T/once.out")" "device is revoked" "run --once says why"
if agent pend run --once >"$T/once.out" 2>&1; then fail "a pending agent's run --once exits 0"; fi
assert_match "$(cat "$T/once.out")" "pending approval" "run --once says why"
# quarantined may still check in
assert_eq "$(signed_req "$(key_of quar)" "$T/r.json")" "200" "quarantined device checks in"
for n in gone rev rej; do assert_eq "$(seen_of dev-$n)" "${SEEN[$n]}" "a refusal leaves dev-$n's last_seen"; done
j=$(device_json dev-pend)
assert_eq "$(jq -r .last_seen <<<"$j")" "null" "a refused pending device is still never seen"
assert_eq "$(jq -r .online <<<"$j")" "false" "a refused pending device is not online"

# dev-live stopped; dev-gone's agent keeps trying and is refused every time
wait_for "dev-live offline" $((WINDOW + 8)) online_is dev-live false
gone_for=$(($(date +%s) - live_seen))
[ "$gone_for" -gt "$WINDOW" ] || fail "offline after ${gone_for}s, within the ${WINDOW}s window"
assert_eq "$(seen_of dev-live)" "$live_seen" "dev-live's last_seen after it stopped"
kill -0 "$AGENT_PID_gone" 2>/dev/null || fail "dev-gone's agent exited (it should keep retrying)"
wait_for "dev-gone offline" $((WINDOW + 8)) online_is dev-gone false
assert_eq "$(seen_of dev-gone)" "${SEEN[gone]}" "refused check-ins leave dev-gone's last_seen"
[ "$(grep -c "check-in failed: device is decommissioned" "$T/agent-gone.log")" -ge 3 ] ||
	fail "dev-gone's agent did not keep trying"
assert_eq "$(device_json dev-pre | jq -r .online)" "false" "dev-pre never seen is not online"
kill -TERM "$AGENT_PID_gone"
wait "$AGENT_PID_gone" 2>/dev/null || true
if agent gone run --once >"$T/once.out" 2>&1; then fail "a decommissioned agent's run --once exits 0"; fi
assert_match "$(cat "$T/once.out")" "device is decommissioned" "run --once says why"
assert_eq "$(seen_of dev-gone)" "${SEEN[gone]}" "dev-gone's last_seen after its run --once"
pass

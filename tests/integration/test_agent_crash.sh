#!/usr/bin/env bash
# The agent's state directory survives SIGKILL at any moment: after each
# kill every state file parses and the agent checks in again.
source "$(dirname "$0")/lib.sh"
start_server --rate-device 0

tok=$(new_enroll_token --auto-accept)
agent a enroll --token "$tok" --id dev-k >/dev/null 2>&1 || fail "enroll"
S="$T/agents/a"
for round in $(seq 1 15); do
	# keep the agent busy writing: a new desired twin and a command each round
	printf '{"round": %d}' "$round" >"$T/want.json"
	cli device desire dev-k --json "$T/want.json" >/dev/null
	cli device command dev-k ping >/dev/null
	"$FLAGENT" --server "$URL" --ca "$DATA/tls/ca.pem" --state "$S" run >>"$T/agent.log" 2>&1 &
	pid=$!
	sleep "0.$((RANDOM % 9 + 1))"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for f in "$S"/*.json; do
		jq -e . "$f" >/dev/null 2>&1 || fail "round $round: $f is not valid JSON after SIGKILL"
	done
	[ -s "$S/device.key" ] || fail "round $round: device.key lost"
	agent a run --once >>"$T/agent.log" 2>&1 || fail "round $round: agent cannot check in after SIGKILL"
	# a kill mid-write may leave a temp file; the restart sweeps it
	! ls "$S" | grep -q '\.tmp-' || fail "round $round: temp files left after a restart: $(ls "$S")"
done
# after the last check-ins the twin converged and every ping has a result
wait_for "twin converged" 15 bash -c "'$FLCLI' -o json device show dev-k | jq -e '.reported.config.round == 15'"
agent a run --once >/dev/null 2>&1
wait_for "all pings answered" 15 bash -c "'$FLCLI' -o json device commands dev-k | jq -e 'length == 15 and all(.[]; .status == \"ok\")'"
pass

#!/usr/bin/env bash
# One agent per state directory: while 'run' holds STATE/lock, a second
# agent on the same directory (run, rotate-key, enroll, keygen) exits
# non-zero at once naming the holder's pid, and changes nothing. The lock is
# not inherited by hooks (close-on-exec) and dies with its holder, even
# after a SIGKILL.
source "$(dirname "$0")/lib.sh"
start_server

tok=$(new_enroll_token --auto-accept)
agent a1 enroll --token "$tok" --id dev-a1 >/dev/null 2>&1 || fail "enroll"
S="$T/agents/a1"
keyid=$(jq -r .keyid "$S/identity.json")

agent_start a1
pid=$AGENT_PID_a1
wait_for "dev-a1 to check in" 15 bash -c "'$FLCLI' -o json device show dev-a1 | jq -e '.last_seen != null'"

for cmd in "run --once" "rotate-key" "enroll --token $tok" "keygen"; do
	rc=0
	agent a1 $cmd >"$T/second.out" 2>&1 || rc=$?
	assert_ne "$rc" "0" "a second agent ($cmd) on a state directory in use must fail"
	assert_match "$(cat "$T/second.out")" \
		"state directory $S is in use by another fairlead-agent \(pid $pid\)" \
		"second agent ($cmd) names the holder"
done
kill -0 "$pid" 2>/dev/null || fail "the first agent must keep running"
assert_eq "$(jq -r .keyid "$S/identity.json")" "$keyid" "the refused rotate-key changed nothing"
[ -e "$S/device.key.new" ] && fail "the refused rotate-key left a new key"

# The lock's descriptor is close-on-exec, so an install or health hook the
# agent starts does not hold it (O_CLOEXEC is 02000000 in fdinfo flags).
fd=""
for f in /proc/"$pid"/fd/*; do
	[ "$(readlink "$f")" = "$S/lock" ] && fd=${f##*/}
done
[ -n "$fd" ] || fail "the running agent holds no descriptor of $S/lock"
flags=$(awk '/^flags:/ {print $2}' "/proc/$pid/fdinfo/$fd")
[ $((8#$flags & 8#2000000)) -ne 0 ] || fail "the lock descriptor is not close-on-exec (flags $flags)"

# A killed holder leaves its pid in the file but no lock: the next agent runs.
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
agent a1 run --once >"$T/after.out" 2>&1 || fail "run after the holder died: $(cat "$T/after.out")"
pass

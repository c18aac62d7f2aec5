#!/usr/bin/env bash
# Command hooks end to end, a real server and a real agent: the agent refuses
# to start with a bad --command-hook; calibrate's hook gets the args on stdin
# and its printed values become the stored result; a failing health-check
# ends as error and --wait exits non-zero; a hook that sleeps past
# --command-timeout is killed and ends as error; a type without a hook is
# refused; each hook ran exactly once.
source "$(dirname "$0")/lib.sh"
start_server

H="$T/hooks"
mkdir -p "$H"
cat >"$H/calibrate" <<'HOOK'
#!/bin/sh
# the args are one line of JSON on stdin; the result is what this prints
args=$(cat)
echo "$FAIRLEAD_COMMAND_ID $FAIRLEAD_COMMAND_TYPE $args" >>"$(dirname "$0")/calibrate.log"
sensor=$(printf '%s' "$args" | sed -n 's/.*"sensor":"\([^"]*\)".*/\1/p')
printf '{"offset": 0.12, "sensor": "%s"}\n' "$sensor"
HOOK
cat >"$H/health-check" <<'HOOK'
#!/bin/sh
echo "$FAIRLEAD_COMMAND_ID" >>"$(dirname "$0")/health-check.log"
echo "inference service is down" >&2
echo "second line" >&2
exit 4
HOOK
cat >"$H/restart-module" <<'HOOK'
#!/bin/sh
echo "$FAIRLEAD_COMMAND_ID" >>"$(dirname "$0")/restart-module.log"
sleep 30
echo '{"restarted": true}'
HOOK
chmod 0755 "$H/calibrate" "$H/health-check" "$H/restart-module"
printf '#!/bin/sh\n' >"$H/not-executable"

tok=$(new_enroll_token --uses 1 --auto-accept)
agent d1 enroll --token "$tok" --id dev-h1 >/dev/null 2>&1 || fail "enroll"

# bad hook flags stop the agent before it starts, with the reason
bad_flag() {
	local want=$1 out
	shift
	if out=$(agent d1 run --once "$@" 2>&1); then fail "agent started with $*"; fi
	assert_match "$out" "$want" "agent run $*"
}
bad_flag "not an absolute path" --command-hook "calibrate=hooks/calibrate"
bad_flag "unknown command type 'format-disk'" --command-hook "format-disk=$H/calibrate"
bad_flag "collect-logs takes no hook" --command-hook "collect-logs=$H/calibrate"
bad_flag "is not executable" --command-hook "reboot=$H/not-executable"
bad_flag "a second hook for calibrate" --command-hook "calibrate=$H/calibrate" \
	--command-hook "calibrate=$H/health-check"
bad_flag "1s to 1h" --command-timeout 2h

agent_start d1 --command-hook "calibrate=$H/calibrate" --command-hook "health-check=$H/health-check" \
	--command-hook "restart-module=$H/restart-module" --command-timeout 2s

# calibrate: ok, and the stored result is what the hook printed
out=$(cli device command dev-h1 calibrate --param sensor=temp --wait --wait-timeout 30s) ||
	fail "calibrate --wait: $out"
assert_match "$out" '^cmd_[A-Za-z0-9_-]+ ok \{' "calibrate --wait output"
cal=${out%% *}
j=$(cli -o json device commands dev-h1 | jq -c --arg c "$cal" '.[] | select(.id == $c)')
assert_eq "$(jq -r .status <<<"$j")" "ok" "calibrate status"
assert_eq "$(jq -c .result <<<"$j")" '{"offset":0.12,"sensor":"temp"}' "calibrate result"
assert_eq "$(cat "$H/calibrate.log")" "$cal calibrate {\"sensor\":\"temp\"}" \
	"the hook saw the id, the type and the args"

# health-check failing: --wait exits non-zero, status error with exit and stderr
if out=$(cli device command dev-h1 health-check --wait --wait-timeout 30s 2>&1); then
	fail "failed health-check exited 0: $out"
fi
assert_match "$out" "error" "health-check --wait output"
j=$(cli -o json device commands dev-h1 | jq -c '[.[] | select(.type == "health-check")][0]')
assert_eq "$(jq -r .status <<<"$j")" "error" "health-check status"
assert_eq "$(jq -c .result <<<"$j")" '{"exit":4,"message":"inference service is down"}' \
	"health-check result"

# a hook past the timeout is killed: error, and it took about the timeout
start=$SECONDS
if out=$(cli device command dev-h1 restart-module --param module=detector --wait --wait-timeout 30s 2>&1); then
	fail "timed-out hook exited 0: $out"
fi
[ $((SECONDS - start)) -lt 25 ] || fail "the timed-out hook was not killed at its timeout"
j=$(cli -o json device commands dev-h1 | jq -c '[.[] | select(.type == "restart-module")][0]')
assert_eq "$(jq -r .status <<<"$j")" "error" "restart-module status"
assert_eq "$(jq -r .result.message <<<"$j")" "hook timed out after 2 s" "timeout message"

# no hook for reboot on this device: refused, and nothing ran
if out=$(cli device command dev-h1 reboot --wait --wait-timeout 30s 2>&1); then
	fail "reboot without a hook exited 0: $out"
fi
assert_match "$out" "refused" "reboot without a hook"
j=$(cli -o json device commands dev-h1 | jq -c '[.[] | select(.type == "reboot")][0]')
assert_eq "$(jq -r .result.message <<<"$j")" "no hook for command type 'reboot' on this device" \
	"refusal reason"

# ping is still built in
out=$(cli device command dev-h1 ping --wait --wait-timeout 30s) || fail "ping: $out"

# every hook ran once, though the agent checked in many times meanwhile
assert_eq "$(wc -l <"$H/calibrate.log")" "1" "calibrate ran once"
assert_eq "$(wc -l <"$H/health-check.log")" "1" "health-check ran once"
assert_eq "$(wc -l <"$H/restart-module.log")" "1" "restart-module ran once"
pass

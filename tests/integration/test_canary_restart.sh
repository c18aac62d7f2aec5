#!/usr/bin/env bash
# ctest-timeout: 600
# End to end: 20 real agents over HTTPS with the reference
# inference module; fairleadd is SIGKILLed in the middle of the canary stage
# of a good release and restarted on the same data directory. The rollout
# resumes in the stage it was in, with the gate evaluations on the same
# devices and SLIs, and goes on to 100%: every device commits, each is
# assigned exactly once, and no decision is recorded twice.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/canary_lib.sh"
canary_setup

model_release 1.1.0 500
out=$(cli rollout start anomaly@1.1.0 --selector site=canary --stages 25%,50%,100% --bake 15s \
	--id ro-kill) || fail "rollout start: $out"

# mid-stage: the canaries assigned and the canary stage's bake under way,
# gates being evaluated on live SLIs
baking0() {
	local j
	j=$(rollout_json ro-kill) || return 1
	[ "$(jq -r '"\(.state) \(.stage)"' <<<"$j")" = "running 0" ] &&
		[ "$(jq -r '.bake_started_at // 0' <<<"$j")" != "0" ]
}
wait_for "ro-kill baking its canary stage" 120 baking0
sleep 3
before=$(rollout_json ro-kill)
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true # (bash reports the kill on stderr)
SERVER_PID=""
assigned_before=$(touched "$before" | sort | tr '\n' ' ')
assert_eq "$(jq -r .stage <<<"$before")" "0" "killed in the canary stage"
# the agents and modules keep working while the server is down; their
# reports wait on disk
sleep 3
restart_server

after=$(rollout_json ro-kill)
assert_eq "$(jq -r .state <<<"$after")" "running" "state after the restart"
assert_eq "$(jq -r .stage <<<"$after")" "0" "same stage after the restart"
assert_eq "$(jq -r .bake_started_at <<<"$after")" "$(jq -r .bake_started_at <<<"$before")" \
	"the bake kept its start"
assert_eq "$(touched "$after" | sort | tr '\n' ' ')" "$assigned_before" "the same canaries"

wait_for "ro-kill done after the restart" 200 is_state ro-kill done
all_run 1.1.0 || fail "not every device runs 1.1.0"
j=$(rollout_json ro-kill)
assert_eq "$(jq -r .devices.committed <<<"$j")" "$N" "committed devices"
assert_eq "$(jq -r '[.history[] | select(.kind == "assign") | .details.devices[]] | length' <<<"$j")" \
	"$N" "assignments in the history"
assert_eq "$(jq -r '[.history[] | select(.kind == "assign") | .details.devices[]] | unique | length' <<<"$j")" \
	"$N" "distinct devices assigned"
assert_eq "$(jq -r '[.history[] | select(.kind == "pass") | .details.stage] | join(",")' <<<"$j")" \
	"0,1,2" "one pass per stage"
assert_eq "$(jq -r '[.history[] | select(.kind == "fail" or .kind == "pause" or .kind == "wait_timeout" or .kind == "stage_timeout")] | length' <<<"$j")" \
	"0" "no failed or paused decision"
# the canary stage's pass was judged on both sides' SLIs after the restart
p0=$(jq -c '[.history[] | select(.kind == "pass" and .details.stage == 0)][0]' <<<"$j")
jq -e '.details.gates.gates[] | select(.name == "latency") | .n_canary == 5 and .n_baseline == 15' \
	<<<"$p0" >/dev/null || fail "canary stage evidence: $p0"
assert_eq "$(cli -o json audit list | jq '[.[] | select(.action == "rollout.done")] | length')" "1" \
	"one rollout.done in the audit log"
cli audit verify >/dev/null || fail "audit chain"
pass

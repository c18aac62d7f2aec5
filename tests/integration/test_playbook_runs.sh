#!/usr/bin/env bash
# ctest-timeout: 300
# Playbook runs end to end, a real server and real agents: a run waits for an
# operator's approval; an approval of a plan the fleet has changed since is
# refused and the new plan approved through the CLI; the run's calibrate
# commands reach at most the blast radius's devices, a few at a time;
# fairleadd SIGKILLed mid-run resumes and every device calibrates once. The
# shipped weekly calibration, started by hand, takes 10% of the sensors and
# keeps out of a running rollout's way.
source "$(dirname "$0")/lib.sh"
start_server --playbook-tick-ms 100

H="$T/hooks"
mkdir -p "$H"
# a calibration that takes a while, so that the server dies with some under
# way; each device's hook logs each run of it
hook() {
	mkdir -p "$H/$1"
	cat >"$H/$1/calibrate" <<HOOK
#!/bin/sh
cat >/dev/null
echo "\$FAIRLEAD_COMMAND_ID" >>"$H/calibrate-$1.log"
sleep 1
echo '{"offset": 0.5}'
HOOK
	chmod 0755 "$H/$1/calibrate"
}

N=10
tok=$(new_enroll_token --uses "$N" --auto-accept --label sensors=true)
for i in $(seq 1 "$N"); do
	d=$(printf 'cal-%02d' "$i")
	agent "$d" enroll --token "$tok" --id "$d" --label "site=s$((i % 2))" >"$T/e-$d" 2>&1 ||
		fail "enroll $d: $(cat "$T/e-$d")"
	hook "$d"
	agent_start "$d" --command-hook "calibrate=$H/$d/calibrate"
done
OPER=$(cli token create --role operator --name oper | tail -n1)
VIEW=$(cli token create --role viewer --name view | tail -n1)

cat >"$T/cal.yaml" <<'YAML'
name: cal-approved
version: 1
trigger: {type: manual}
targets: {selector: 'sensors=true'}
blast_radius: {max_devices: 6, concurrency: 2}
approval: {required: 1, roles: [operator], expires: 1h}
steps:
  - name: calibrate
    action: device.command
    params: {type: calibrate, params: {mode: quick}}
    timeout: 2m
YAML
cli playbook apply "$T/cal.yaml" >/dev/null || fail "apply"
run=$(cli -o json run start cal-approved | jq -r .id)
[ -n "$run" ] && [ "$run" != null ] || fail "no run"
run_json() { cli -o json run show "$1"; }
assert_eq "$(run_json "$run" | jq -r .state)" "awaiting_approval" "state before approval"
hash=$(run_json "$run" | jq -r .plan_hash)
planned=$(run_json "$run" | jq -r '.plan.devices[]')
assert_eq "$(wc -w <<<"$planned")" "6" "the blast radius's six devices"

# nobody acts before an approval; a viewer may not approve, a wrong hash is refused
sleep 1
for d in $planned; do assert_eq "$(cli -o json device commands "$d" | jq length)" "0" "$d before"; done
if out=$(CLI_TOKEN=$VIEW cli run approve "$run" 2>&1); then fail "a viewer approved"; fi
if out=$(CLI_TOKEN=$OPER cli run approve "$run" --plan-hash "$(printf '0%.0s' $(seq 64))" 2>&1); then
	fail "a wrong hash was approved"
fi
assert_match "$out" "not the one decided on" "wrong hash refused"

# the fleet changes under the plan: a planned device loses the sensors label
moved=$(head -n1 <<<"$planned")
cli device label "$moved" sensors- >/dev/null || fail "relabel"
if out=$(CLI_TOKEN=$OPER cli run approve "$run" --plan-hash "$hash" 2>&1); then
	fail "an approval of a changed plan went through"
fi
assert_match "$out" "changed since" "changed plan refused"
hash2=$(run_json "$run" | jq -r .plan_hash)
assert_ne "$hash2" "$hash" "the run holds the new plan"
run_json "$run" | jq -e --arg m "$moved" 'all(.plan.devices[]; . != $m)' >/dev/null ||
	fail "the new plan still has $moved"
planned=$(run_json "$run" | jq -r '.plan.devices[]')

# approved through the CLI, it runs
out=$(CLI_TOKEN=$OPER cli run approve "$run") || fail "approve: $out"
assert_match "$out" "approved \(plan $hash2\); now running" "approve output"

# SIGKILL while calibrations are under way, then serve again
some_running() {
	local n=0 d
	for d in $planned; do
		[ -s "$H/calibrate-$d.log" ] && n=$((n + 1))
	done
	[ "$n" -ge 1 ] && [ "$n" -lt 6 ]
}
wait_for "the first calibrations" 60 some_running
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
restart_server --playbook-tick-ms 100
ended() { [ "$(run_json "$run" | jq -r .state)" = "$1" ]; }
wait_for "the run to succeed" 120 ended succeeded

# every planned device calibrated once, none other did, never more than the cap
for d in $planned; do
	assert_eq "$(cli -o json device commands "$d" | jq '[.[] | select(.type == "calibrate")] | length')" \
		"1" "calibrate commands of $d"
	assert_eq "$(wc -l <"$H/calibrate-$d.log")" "1" "hook runs on $d"
done
n=$(ls "$H"/calibrate-*.log | wc -l)
assert_eq "$n" "6" "devices that calibrated"
run_json "$run" | jq -e '[.actions[] | select(.state == "ok")] | length == 6' >/dev/null ||
	fail "actions: $(run_json "$run" | jq -c .actions)"
cli -o json audit list | jq -e --arg r "$run" 'any(.[]; .action == "run.approve" and .target == $r)' \
	>/dev/null || fail "the approval is not audited"

# the shipped weekly calibration, started by hand: 10% of the 9 sensors is one device
cli playbook apply "$FL_SOURCE_DIR/playbooks/weekly-calibration.yaml" >/dev/null || fail "apply weekly"
rm -f "$H"/calibrate-*.log
wrun=$(cli -o json run start weekly-calibration | jq -r .id)
assert_eq "$(run_json "$wrun" | jq '.plan.devices | length')" "1" "10% of the sensors"
ended_run() { [ "$(run_json "$wrun" | jq -r .state)" = succeeded ]; }
wait_for "the weekly calibration" 60 ended_run
assert_eq "$(ls "$H"/calibrate-*.log | wc -l)" "1" "weekly: devices that calibrated"
pass

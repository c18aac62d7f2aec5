#!/usr/bin/env bash
# ctest-timeout: 200
# A run's halt_on_burn end to end, a real server: a run labels its devices,
# waits, then would label them again; while it waits the SLO it watches
# starts burning (error reports, signed, from one of its devices) and the
# run halts with the reason, its last step never taken. A run started while
# the SLO burns halts before its first action.
source "$(dirname "$0")/lib.sh"
GEN="python3 $FL_SOURCE_DIR/tests/integration/sli_report.py"
start_server --rate-device 0 --slo-eval-ms 200 --playbook-tick-ms 100

tok=$(new_enroll_token --uses 3 --auto-accept --label fleet=halt)
for d in h-1 h-2 h-3; do
	agent "$d" enroll --token "$tok" --id "$d" >"$T/e-$d" 2>&1 || fail "enroll $d: $(cat "$T/e-$d")"
done
cat >"$T/slo.json" <<'JSON'
{"name": "halt-errors", "sli": {"kind": "errors"}, "objective": 0.99, "period": "1d",
 "selector": "fleet=halt", "min_events": 10,
 "alerts": [{"severity": "page", "long": "10m", "short": "5m", "factor": 2}]}
JSON
cli slo apply "$T/slo.json" >/dev/null || fail "slo apply"
cat >"$T/pb.yaml" <<'YAML'
name: guarded-change
version: 1
trigger: {type: manual}
targets: {selector: 'fleet=halt'}
blast_radius:
  concurrency: 3
  halt_on_burn: {slo: halt-errors, factor: 5}
steps:
  - name: mark
    action: device.label
    params: {set: {change: started}}
  - name: bake
    action: wait
    params: {for: 10m}
  - name: finish
    action: device.label
    params: {set: {change: done}}
YAML
cli playbook apply "$T/pb.yaml" >/dev/null || fail "apply"

run_json() { cli -o json run show "$1"; }
labelled() { # VALUE: how many devices carry change=VALUE
	cli -o json device list | jq --arg v "$1" '[.[] | select(.labels.change == $v)] | length'
}
run=$(cli -o json run start guarded-change | jq -r .id)
[ -n "$run" ] && [ "$run" != null ] || fail "no run"
marked() { [ "$(labelled started)" = 3 ]; }
wait_for "the first step on every device" 30 marked
sleep 1 # a few executor rounds and SLO evaluations without a burn
assert_eq "$(run_json "$run" | jq -r .state)" "running" "the run while the SLO holds"

report() { # FILE: h-1's signed reports
	assert_eq "$(signed_curl "$T/agents/h-1/device.key" POST /api/v1/device/reports "$1")" "200" \
		"reports accepted"
}
# every inference of h-1 for the last minutes fails, but too few to judge
# (min_events 10): no halt
now=$(date +%s)
W=$(((now / 60) * 60 - 180))
$GEN 1 "$W" --errors 5 >"$T/few.json"
report "$T/few.json"
judged() { api GET /api/v1/slos/halt-errors | sed '1s/^[0-9]* //' | jq -e '.status.alerts[0].long.events == 5' >/dev/null; }
wait_for "the SLO to see the reports" 30 judged
sleep 1
assert_eq "$(run_json "$run" | jq -r .state)" "running" "the run with too few events to judge"
# and now enough: the burn rate is 100
$GEN 2 "$((W + 60))" --errors 100 + 3 "$((W + 120))" --errors 100 >"$T/bad.json"
report "$T/bad.json"

halted() { [ "$(run_json "$run" | jq -r .state)" = halted ]; }
wait_for "the run to halt ($(run_json "$run" | jq -c '{state, error}'))" 20 halted
assert_match "$(run_json "$run" | jq -r .error)" "SLO halt-errors burns at [0-9.]+, past 5.00" "reason"
assert_eq "$(labelled done)" "0" "devices that took the step after the halt"

# a new run while the SLO burns halts before it acts
cli device label h-1 change- >/dev/null || fail "unlabel"
run2=$(cli -o json run start guarded-change | jq -r .id)
halted2() { [ "$(run_json "$run2" | jq -r .state)" = halted ]; }
wait_for "the second run to halt" 30 halted2
assert_eq "$(cli -o json device show h-1 | jq -r '.labels.change // "none"')" "none" "h-1 relabelled"
assert_eq "$(cli audit list -o json | jq --arg r "$run" \
	'[.[] | select(.target == $r and .details.state == "halted")] | length')" "1" "the halt audited"
pass

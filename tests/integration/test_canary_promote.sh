#!/usr/bin/env bash
# ctest-timeout: 600
# End to end: 20 real agents over HTTPS run the
# reference inference module. A good model release goes stage by stage
# (25%, 50%, 100%) to every device under the default gates, each stage's
# decision recording the gate numbers it used; then a release whose health
# check fails makes the canaries roll back locally, the failure-ratio gate
# aborts in the canary stage, and every touched device runs 1.1.0 again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/canary_lib.sh"
canary_setup

# 1. a good release: the same model at the same cost
model_release 1.1.0 500
out=$(cli rollout start anomaly@1.1.0 --selector site=canary --stages 25%,50%,100% --bake 10s \
	--id ro-good) || fail "rollout start: $out"
assert_match "$out" "rollout ro-good started: anomaly@1.1.0 to $N devices" "start output"
wait_for "ro-good done" 200 is_state ro-good done
all_run 1.1.0 || fail "not every device runs 1.1.0"
j=$(rollout_json ro-good)
assert_eq "$(jq -r .devices.committed <<<"$j")" "$N" "committed devices"
assert_eq "$(jq -r '[.history[] | select(.kind == "fail" or .kind == "pause")] | length' <<<"$j")" \
	"0" "no failed or paused decision"
assert_eq "$(jq -r '[.history[] | select(.kind == "pass") | .details.stage] | join(",")' <<<"$j")" \
	"0,1,2" "one pass per stage"
assert_eq "$(jq -r '[.history[] | select(.kind == "assign") | .details.devices | length] | add' <<<"$j")" \
	"$N" "each device assigned once"
# the canary stage compared 5 canaries against 15 baseline devices on real
# numbers: latencies near the model's 0.5 ms on both sides, p-values, alpha
p0=$(jq -c '[.history[] | select(.kind == "pass" and .details.stage == 0)][0].details.gates' <<<"$j")
assert_eq "$(jq -r .verdict <<<"$p0")" "pass" "stage 1 verdict"
lat=$(jq -c '.gates[] | select(.name == "latency")' <<<"$p0")
assert_eq "$(jq -r '"\(.n_canary) \(.n_baseline)"' <<<"$lat")" "5 15" "stage 1 devices per side"
echo "stage 1 latency gate: $lat"
# value: the canaries' shift (Hodges-Lehmann, relative), baseline: the
# baseline's median p95 in ms; a good release is not shown to regress. (The
# point estimate itself may stray past the tolerance on a loaded machine,
# five canaries' p95s being noisy; what decides is the test, not it.)
jq -e '.verdict == "pass" and (.value | type) == "number" and .baseline > 0.4 and .p_value > .alpha_spent' \
	<<<"$lat" >/dev/null || fail "stage 1 latency evidence: $lat"
for g in errors drift; do
	jq -e --arg g "$g" '.gates[] | select(.name == $g) | .verdict == "pass" and .n_canary == 5' \
		<<<"$p0" >/dev/null || fail "stage 1 gate $g: $p0"
done
p1=$(jq -c '[.history[] | select(.kind == "pass" and .details.stage == 1)][0].details.gates' <<<"$j")
jq -e '.gates[] | select(.name == "latency") | .n_canary == 10 and .n_baseline == 10 and .verdict == "pass"' \
	<<<"$p1" >/dev/null || fail "stage 2 latency evidence: $p1"
p2=$(jq -c '[.history[] | select(.kind == "pass" and .details.stage == 2)][0].details.gates' <<<"$j")
jq -e '.gates[] | select(.name == "failure_ratio") | .verdict == "pass" and .value == 0' \
	<<<"$p2" >/dev/null || fail "stage 3 failure-ratio evidence: $p2"
assert_match "$(cli rollout status ro-good)" "committed $N" "status view"
echo "test 1: good release promoted 25% -> 50% -> 100% ($SECONDS s)"

# 3. a health check that fails: canaries roll back locally, the failure
# ratio aborts, every touched device is given 1.1.0 back
model_release 1.2.0 500 /bin/false
cli rollout start anomaly@1.2.0 --selector site=canary --stages 25%,50%,100% --bake 10s \
	--id ro-health >/dev/null || fail "start ro-health"
wait_for "ro-health aborted" 120 is_state ro-health aborted
j=$(aborted_and_reverted ro-health failure_ratio 1.1.0) || exit 1
# the ratio fails as soon as the outcome is certain: more than 20 % of the
# 5 touched canaries failed, whatever the others do
jq -e '.devices.rolled_back + .devices.failed >= 2' <<<"$j" >/dev/null ||
	fail "canaries that rolled back locally: $(jq -c .devices <<<"$j")"
assert_eq "$(touched "$j" | wc -l)" "5" "canaries touched"
assert_eq "$(jq -r .devices.committed <<<"$j")" "0" "no canary committed"
echo "ro-health failure_ratio gate: $(gate "$j" failure_ratio)"
jq -e '.history[-1].details.gates.gates[] | select(.name == "failure_ratio") | .value > 0.2' \
	<<<"$j" >/dev/null || fail "failure-ratio evidence: $j"
echo "test 3: failing health check aborted by the failure ratio ($SECONDS s)"
pass

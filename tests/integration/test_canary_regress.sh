#!/usr/bin/env bash
# ctest-timeout: 600
# End to end: 20 real agents over HTTPS run the
# reference inference module under the default gates. A release whose
# model is three times slower fails the latency gate in the canary stage
# (5 canaries against 15 baseline devices); the rollout aborts and every
# touched device runs 1.0.0 again; the history holds the latency numbers.
# Then a release whose drift baseline does not match the inputs the devices
# see (a model trained on other data: its inputs are shifted for it) trips
# the drift gate the same way, and so does a good model whose canaries'
# inputs shift after they take it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/canary_lib.sh"
canary_setup

# 2. three times the cost per inference
model_release 1.1.0 1500
cli rollout start anomaly@1.1.0 --selector site=canary --stages 25%,50%,100% --bake 20s \
	--id ro-slow >/dev/null || fail "start ro-slow"
wait_for "ro-slow aborted" 150 is_state ro-slow aborted
j=$(aborted_and_reverted ro-slow latency 1.0.0) || exit 1
lat=$(gate "$j" latency)
echo "ro-slow latency gate: $lat"
# value: the canaries' p95 relative to the baseline's (Hodges-Lehmann), far
# over the tolerated 20 %, significant at the level this look may spend
jq -e '.n_canary == 5 and .n_baseline == 15 and .value > 0.5 and .threshold == 0.2
	and .baseline > 0.4 and .p_value <= .alpha_spent' <<<"$lat" >/dev/null ||
	fail "ro-slow latency evidence: $lat"
# the same numbers are in the audit log
cli -o json audit list | jq -e '[.[] | select(.action == "rollout.abort" and .target == "ro-slow")]
	| length == 1 and (.[0].details.gates.gates[] | select(.name == "latency") | .verdict == "fail")' \
	>/dev/null || fail "no rollout.abort audit entry with the latency numbers for ro-slow"
echo "test 2: 3x slower model aborted by the latency gate ($SECONDS s)"

# 4. drift: the release's baseline is of inputs shifted by 2.5 standard
# deviations, so the inputs the canaries see are shifted for the model
jq '.temp.edges |= map(. + 12.5) | .vibration.edges |= map(. + 0.25) | .current.edges |= map(. + 0.75)' \
	"$T/baseline.json" >"$T/baseline-shifted.json" || fail "shifted baseline"
model_release 1.2.0 500 /bin/true "$T/baseline-shifted.json"
cli rollout start anomaly@1.2.0 --selector site=canary --stages 25%,50%,100% --bake 20s \
	--id ro-drift >/dev/null || fail "start ro-drift"
wait_for "ro-drift aborted" 150 is_state ro-drift aborted
j=$(aborted_and_reverted ro-drift drift 1.0.0) || exit 1
dr=$(gate "$j" drift)
echo "ro-drift drift gate: $dr"
# value: the canaries' share of alarmed drift checks minus the baseline's
jq -e '.n_canary == 5 and .n_baseline == 15 and .value > 0.5 and .p_value <= .alpha_spent' \
	<<<"$dr" >/dev/null || fail "ro-drift drift evidence: $dr"
assert_eq "$(gate "$j" latency | jq -r .verdict)" "pass" "ro-drift latency (same cost)"
echo "test 4: drifted inputs aborted by the drift gate ($SECONDS s)"

# 4, literally: a good model whose canaries start seeing shifted inputs (the
# sensors of the devices it reached move by 2.5 standard deviations) while
# the baseline's inputs stay put
model_release 1.3.0 500
cli rollout start anomaly@1.3.0 --selector site=canary --stages 25%,50%,100% --bake 20s \
	--id ro-shift >/dev/null || fail "start ro-shift"
has_canaries() { [ -n "$(touched "$(rollout_json ro-shift)")" ]; }
wait_for "ro-shift canaries" 60 has_canaries
canaries=$(touched "$(rollout_json ro-shift)")
for d in $canaries; do echo 2.5 >"$T/shift-$d"; done
wait_for "ro-shift aborted" 150 is_state ro-shift aborted
j=$(aborted_and_reverted ro-shift drift 1.0.0) || exit 1
for d in $canaries; do echo 0 >"$T/shift-$d"; done
dr=$(gate "$j" drift)
echo "ro-shift drift gate: $dr"
jq -e '.n_canary == 5 and .n_baseline == 15 and .value > 0.5 and .p_value <= .alpha_spent' \
	<<<"$dr" >/dev/null || fail "ro-shift drift evidence: $dr"
echo "test 4 (shifted inputs on the canaries): aborted by the drift gate ($SECONDS s)"
pass

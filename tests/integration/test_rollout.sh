#!/usr/bin/env bash
# ctest-timeout: 600
# Canary rollouts with real agents: a good release goes stage by stage to
# 100% and every device commits; a release whose health check fails makes
# the canaries roll back locally, the failure-ratio gate aborts the rollout
# and the canaries get a signed rollback to the release they ran; a start
# that overlaps an active rollout is refused naming the devices.
source "$(dirname "$0")/lib.sh"
start_server

K="$T/keys" B="$T/build" R="$T/rel"
mkdir -p "$K" "$B" "$R"
for k in root1 rm1; do cli key generate --out "$K/$k.key" >/dev/null || fail "key $k"; done
SERVER_PUB=$(cat "$DATA/keys/server.pub")
cli root create --out "$R/root.json" --root-key "$K/root1.key" --root-threshold 1 \
	--release-key "$K/rm1.key" --release-threshold 1 \
	--timestamp-pubkey "$SERVER_PUB" --director-pubkey "$SERVER_PUB" --expires 30d >/dev/null ||
	fail "root create"
cli root sign "$R/root.json" --key "$K/root1.key" >/dev/null || fail "root sign"
cli root push "$R/root.json" >/dev/null || fail "root push"

N=5
tok=$(new_enroll_token --uses $N --auto-accept --label site=lab)
for i in $(seq 1 $N); do
	agent "a$i" enroll --token "$tok" --id "dev-$i" --root "$R/root.json" >"$T/e$i" 2>&1 ||
		fail "enroll $i: $(cat "$T/e$i")"
	agent_start "a$i"
done

release() { # VERSION COUNTER HEALTH-CMD
	head -c 50000 /dev/urandom >"$B/model-$1.bin"
	cli release create --name detector --version "$1" --kind model --artifact "$B/model-$1.bin" \
		--health-cmd "$3" --health-window 1 --counter "$2" --out "$R/$1.json" >/dev/null ||
		fail "create $1"
	cli release sign "$R/$1.json" --key "$K/rm1.key" >/dev/null || fail "sign $1"
	cli release push "$R/$1.json" --artifact-dir "$B" -q >/dev/null 2>"$T/push.err" ||
		fail "push $1: $(cat "$T/push.err")"
}
all_run() { # VERSION
	for i in $(seq 1 $N); do
		[ "$(device_json "dev-$i" | jq -r '.update.running.detector')" = "$1" ] || return 1
	done
}
rollout_state() { cli -o json rollout status "$1" | jq -r .state; }
is_state() { [ "$(rollout_state "$1")" = "$2" ]; }

# every device on 1.0.0 first: the release the canaries can go back to
release 1.0.0 1 /bin/true
cli device assign --selector site=lab detector@1.0.0 >/dev/null || fail "assign 1.0.0"
wait_for "every device on 1.0.0" 90 all_run 1.0.0

# a good release, stage by stage to 100%
echo '{"min_finished": 2}' >"$T/gates.json"
release 1.1.0 2 /bin/true
out=$(cli rollout start detector@1.1.0 --selector site=lab --stages 40%,100% --bake 2s \
	--max-updating 2 --gates "$T/gates.json" --no-require-sli --id ro-good) ||
	fail "rollout start: $out"
assert_match "$out" "rollout ro-good started: detector@1.1.0 to 5 devices" "start output"
wait_for "ro-good done" 120 is_state ro-good done
all_run 1.1.0 || fail "not every device runs 1.1.0"
j=$(cli -o json rollout status ro-good)
assert_eq "$(jq -r .devices.committed <<<"$j")" "$N" "committed devices"
assert_eq "$(jq -r '[.history[] | select(.kind == "pass")] | length' <<<"$j")" "2" "two passes"
assert_eq "$(jq -r '[.history[] | select(.kind == "assign") | .details.devices | length] | add' <<<"$j")" \
	"$N" "each device assigned once"
assert_eq "$(jq -r '.history[-1].details.gates.verdict' <<<"$j")" "pass" "final evidence recorded"
# the cap held: no assign batch over 2
assert_eq "$(jq -r '[.history[] | select(.kind == "assign") | .details.devices | length] | max' <<<"$j")" \
	"2" "max_updating"
txt=$(cli rollout status ro-good)
assert_match "$txt" "committed 5" "status view: devices per state"
assert_match "$(cli -o json audit list | jq -r '.[].action' | tr '\n' ' ')" "rollout.done" "audited"
assert_match "$(cli rollout list)" "ro-good" "listed"

# a release whose health check fails: canaries roll back locally, the
# failure ratio aborts, the canaries are assigned 1.1.0 again (signed rollback)
release 1.2.0 3 /bin/false
cli rollout start detector@1.2.0 --selector site=lab --stages 40%,100% --bake 2s \
	--gates "$T/gates.json" --no-require-sli --id ro-bad >/dev/null || fail "start ro-bad"
# one active rollout per device
r=$(api POST /api/v1/rollouts '{"release":"detector@1.2.0","selector":"site=lab","id":"ro-dup"}')
assert_eq "$(status_of "$r")" "409" "overlapping start"
assert_match "$(body_of "$r")" "dev-[0-9] \\(ro-bad\\)" "409 names the devices"
wait_for "ro-bad aborted" 120 is_state ro-bad aborted
j=$(cli -o json rollout status ro-bad)
assert_eq "$(jq -r '.history[-1].kind' <<<"$j")" "fail" "aborted by a gate"
assert_eq "$(jq -r '.history[-1].details.gates.gates[] | select(.name == "failure_ratio") | .verdict' <<<"$j")" \
	"fail" "the failure-ratio gate failed"
canaries=$(jq -r '.history[-1].details.rolled_back[]' <<<"$j")
assert_eq "$(wc -w <<<"$canaries")" "2" "two canaries rolled back"
for d in $canaries; do
	a=$(api GET "/api/v1/devices/$d" | sed 's/^[0-9]* //' | jq -r .update.assigned)
	assert_eq "$a" "detector@1.1.0" "$d assigned its previous release"
done
wait_for "every device on 1.1.0 after the abort" 60 all_run 1.1.0
r=$(api POST /api/v1/rollouts/ro-bad/resume '{}')
assert_eq "$(status_of "$r")" "409" "an aborted rollout does not resume"
pass

#!/usr/bin/env bash
# ctest-timeout: 600
# fairleadd killed with SIGKILL in the middle of a
# rollout's stage resumes it after a restart on the same data directory: the
# rollout is in the same stage, no device is assigned twice or lost, a bake
# interrupted by a second kill keeps its start, it completes to 100% with
# every device committed, and the history holds each decision once.
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

N=6
tok=$(new_enroll_token --uses $N --auto-accept --label site=lab)
for i in $(seq 1 $N); do
	agent "a$i" enroll --token "$tok" --id "dev-$i" --root "$R/root.json" >"$T/e$i" 2>&1 ||
		fail "enroll $i: $(cat "$T/e$i")"
	agent_start "a$i"
done

release() { # VERSION COUNTER
	head -c 50000 /dev/urandom >"$B/model-$1.bin"
	cli release create --name detector --version "$1" --kind model --artifact "$B/model-$1.bin" \
		--health-cmd /bin/true --health-window 1 --counter "$2" --out "$R/$1.json" >/dev/null ||
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
status() { cli -o json rollout status ro-r; }
in_stage() { # STAGE MIN-ASSIGNED: the rollout is in STAGE with at least MIN-ASSIGNED devices assigned
	local j
	j=$(status) || return 1
	[ "$(jq -r .stage <<<"$j")" = "$1" ] &&
		[ "$(jq -r '[.history[] | select(.kind == "assign") | .details.devices[]] | length' <<<"$j")" -ge "$2" ]
}
is_state() { [ "$(jq -r .state <<<"$(status)")" = "$1" ]; }

release 1.0.0 1
cli device assign --selector site=lab detector@1.0.0 >/dev/null || fail "assign 1.0.0"
wait_for "every device on 1.0.0" 90 all_run 1.0.0

# Three stages of 2 devices each, one device updating at a time: the middle
# stage takes several seconds of assigning before its bake even starts.
# The last stage bakes longer, to be killed in its bake too.
release 1.1.0 2
r=$(api POST /api/v1/rollouts '{"id":"ro-r","release":"detector@1.1.0","selector":"site=lab",
	"stages":["2","4",{"size":"6","bake_s":10}],"bake_s":3,"max_updating":1,
	"gates":{"min_finished":2},"require_sli":false}')
assert_eq "$(status_of "$r")" "201" "rollout start: $(body_of "$r")"

# Mid-stage: stage 1 (the second) with its first device assigned, so part
# of its cohort is assigned and part is not.
wait_for "the second stage assigning" 90 in_stage 1 3
before=$(status)
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true # (bash reports the kill on stderr)
SERVER_PID=""
stage_before=$(jq -r .stage <<<"$before")
assigned_before=$(jq -r '[.history[] | select(.kind == "assign") | .details.devices[]] | sort | join(" ")' <<<"$before")
[ "$(jq -r .state <<<"$before")" = "running" ] || fail "not running before the kill: $before"
[ "$(jq -r '.bake_started_at // 0' <<<"$before")" = "0" ] || fail "killed in the bake, not mid-assign"
# the agents keep working while the server is down
sleep 2
restart_server

after=$(status)
assert_eq "$(jq -r .state <<<"$after")" "running" "state after the restart"
assert_eq "$(jq -r .stage <<<"$after")" "$stage_before" "same stage after the restart"
# every device assigned before the kill is still assigned (or further)
for d in $assigned_before; do
	s=$(jq -r --arg d "$d" '.history[] | select(.kind == "assign") | .details.devices[] | select(. == $d)' <<<"$after")
	assert_eq "$s" "$d" "$d still recorded as assigned after the restart"
done

# Killed again during the last stage's bake: the bake goes on from when it
# started (it is not restarted, nor skipped).
baking() { [ "$(jq -r '"\(.stage) \(.bake_started_at)"' <<<"$(status)")" != "2 0" ] &&
	[ "$(jq -r .stage <<<"$(status)")" = "2" ]; }
wait_for "the last stage's bake" 120 baking
before=$(status)
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
bake_at=$(jq -r .bake_started_at <<<"$before")
[ "$(jq -r .state <<<"$before")" = "running" ] || fail "not baking before the second kill: $before"
restart_server
after=$(status)
assert_eq "$(jq -r .state <<<"$after")" "running" "state after the second restart"
assert_eq "$(jq -r .bake_started_at <<<"$after")" "$bake_at" "the bake kept its start"

wait_for "ro-r done after the restart" 120 is_state done
all_run 1.1.0 || fail "not every device runs 1.1.0"
j=$(status)
assert_eq "$(jq -r .devices.committed <<<"$j")" "$N" "committed devices"
# each device assigned exactly once, none lost
assert_eq "$(jq -r '[.history[] | select(.kind == "assign") | .details.devices[]] | length' <<<"$j")" \
	"$N" "assignments in the history"
assert_eq "$(jq -r '[.history[] | select(.kind == "assign") | .details.devices[]] | unique | length' <<<"$j")" \
	"$N" "distinct devices assigned"
# no decision recorded twice: one bake and one pass per stage, seq strictly increasing
# (a row holds the stage it judged)
assert_eq "$(jq -c '[.history[] | select(.kind == "pass") | .stage]' <<<"$j")" "[0,1,2]" "one pass per stage"
assert_eq "$(jq -c '[.history[] | select(.kind == "bake") | .stage]' <<<"$j")" "[0,1,2]" "one bake per stage"
assert_eq "$(jq -r '[.history[].seq] | . == (sort | unique)' <<<"$j")" "true" "history sequence"
assert_eq "$(jq -r '[.history[] | select(.kind == "fail" or .kind == "stage_timeout" or .kind == "wait_timeout")] | length' <<<"$j")" \
	"0" "no failure or timeout decisions"
done_at=$(jq -r '.history[-1].at' <<<"$j")
[ "$done_at" -ge $((bake_at + 10)) ] || fail "done at $done_at, before the bake of 10 s from $bake_at ended"
# the audit log holds the same decisions once each
audit=$(cli -o json audit list)
assert_eq "$(jq -r '[.[] | select(.action == "rollout.assign")] | length' <<<"$audit")" \
	"$(jq -r '[.history[] | select(.kind == "assign")] | length' <<<"$j")" "assign audit entries"
assert_eq "$(jq -r '[.[] | select(.action == "rollout.done")] | length' <<<"$audit")" "1" "one rollout.done"
pass

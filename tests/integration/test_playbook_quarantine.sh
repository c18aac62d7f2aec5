#!/usr/bin/env bash
# The shipped quarantine-failing playbook end to end: a real agent whose
# updates fail (its install hook refuses) three times makes one run that
# waits for an operator; approved, the device is quarantined. Two failures
# of another device make none.
source "$(dirname "$0")/lib.sh"
start_server --playbook-tick-ms 100

K="$T/keys" R="$T/rel" B="$T/build"
mkdir -p "$K" "$R" "$B"
for k in root1 rm1; do cli key generate --out "$K/$k.key" >/dev/null || fail "key $k"; done
pub=$(cat "$DATA/keys/server.pub")
cli root create --out "$R/root.json" --root-key "$K/root1.key" --root-threshold 1 \
	--release-key "$K/rm1.key" --release-threshold 1 \
	--timestamp-pubkey "$pub" --director-pubkey "$pub" --expires 30d >/dev/null || fail "root create"
cli root sign "$R/root.json" --key "$K/root1.key" >/dev/null || fail "root sign"
cli root push "$R/root.json" >/dev/null || fail "root push"
n=0
release() { # VERSION: a release whose install hook always fails
	n=$((n + 1))
	mkdir -p "$B/$1"
	echo "firmware $1" >"$B/$1/fw.bin"
	cli release create --name fw --version "$1" --kind firmware --artifact "$B/$1/fw.bin" \
		--install-hook /bin/false --counter "$n" --out "$R/fw-$1.json" >/dev/null ||
		fail "create $1"
	cli release sign "$R/fw-$1.json" --key "$K/rm1.key" >/dev/null || fail "sign $1"
	cli release push "$R/fw-$1.json" --artifact-dir "$B/$1" -q >/dev/null 2>"$T/push.err" ||
		fail "push $1: $(cat "$T/push.err")"
}
for v in 1.0.1 1.0.2 1.0.3; do release "$v"; done

tok=$(new_enroll_token --uses 2 --auto-accept)
for d in bad-1 bad-2; do
	agent "$d" enroll --token "$tok" --id "$d" --root "$R/root.json" >"$T/e-$d" 2>&1 ||
		fail "enroll $d: $(cat "$T/e-$d")"
	agent_start "$d"
done
cli playbook apply "$FL_SOURCE_DIR/playbooks/quarantine-failing.yaml" >/dev/null || fail "apply"

failed_on() { device_json "$1" | jq -e --arg r "$2" '.update.state == "failed" and .update.assigned == $r'; }
fail_update() { # DEVICE VERSION
	cli device assign "$1" "fw@$2" >/dev/null || fail "assign $1 $2"
	wait_for "$1 failing fw@$2" 60 failed_on "$1" "fw@$2"
}
fail_update bad-1 1.0.1
fail_update bad-1 1.0.2
fail_update bad-2 1.0.1
fail_update bad-2 1.0.2
sleep 1
assert_eq "$(cli -o json run list --playbook quarantine-failing | jq length)" "0" "runs after two failures"
fail_update bad-1 1.0.3
has_run() { [ "$(cli -o json run list --playbook quarantine-failing | jq length)" = 1 ]; }
wait_for "a quarantine run" 30 has_run
run=$(cli -o json run list --playbook quarantine-failing | jq -r '.[0].id')
run_json() { cli -o json run show "$run"; }
assert_eq "$(run_json | jq -r .state)" "awaiting_approval" "waits for a person"
assert_eq "$(run_json | jq -c .plan.devices)" '["bad-1"]' "the failing device, alone"
assert_eq "$(run_json | jq '.trigger.events | length')" "3" "the three failures"
assert_eq "$(device_json bad-1 | jq -r .state)" "accepted" "not yet quarantined"

OPER=$(cli token create --role operator --name oper | tail -n1)
CLI_TOKEN=$OPER cli run approve "$run" >/dev/null || fail "approve"
quarantined() { [ "$(device_json bad-1 | jq -r .state)" = quarantined ]; }
wait_for "bad-1 quarantined" 30 quarantined
done_ok() { [ "$(run_json | jq -r .state)" = succeeded ]; }
wait_for "the run to succeed" 30 done_ok
assert_eq "$(device_json bad-2 | jq -r .state)" "accepted" "bad-2 failed twice only"
cli -o json audit list | jq -e 'any(.[]; .action == "device.quarantine" and .target == "bad-1" and (.actor | startswith("playbook:quarantine-failing")))' \
	>/dev/null || fail "the quarantine is not audited as the playbook's"
pass

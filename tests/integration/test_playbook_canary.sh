#!/usr/bin/env bash
# ctest-timeout: 400
# The shipped canary-burn-rollback playbook end to end, its webhook pointed
# at a local receiver: a rollout takes a three-times-slower model to the
# two devices labelled stage=canary (too few for the rollout's own gates to
# judge, so they wait); the canaries' latency SLO pages; the playbook pauses
# the rollout, rolls the canaries back to the release they ran before,
# verifies they run it again and tells the on-call, signed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/canary_lib.sh"
N=4
export FAIRLEAD_ONCALL_SECRET=oncall-test-secret
init_server
start_webhook_receiver "$FAIRLEAD_ONCALL_SECRET"
SERVER_ARGS=(--slo-eval-ms 200 --playbook-tick-ms 200 --webhook-ca "$DATA/tls/ca.pem")
canary_setup
model_release 1.1.0 3000
cli device label dev-01 stage=canary >/dev/null && cli device label dev-02 stage=canary >/dev/null ||
	fail "label the canaries"
sed "s|https://oncall.example.com/hooks/fairlead|$WEBHOOK_URL/hooks/fairlead|g" \
	"$FL_SOURCE_DIR/playbooks/canary-burn-rollback.yaml" >"$T/canary.yaml"
cli playbook apply "$T/canary.yaml" >/dev/null || fail "apply"
cat >"$T/slo.json" <<'JSON'
{"name": "canary-latency", "sli": {"kind": "latency", "threshold_ms": 2}, "objective": 0.9,
 "period": "1d", "selector": "stage=canary", "min_events": 20,
 "alerts": [{"severity": "page", "long": "2m", "short": "1m", "factor": 2}]}
JSON
cli slo apply "$T/slo.json" >/dev/null || fail "slo apply"

ro=$(cli rollout start anomaly@1.1.0 --selector stage=canary --stages 100% --bake 30m --json | jq -r .id)
[ -n "$ro" ] && [ "$ro" != null ] || fail "rollout start"
wait_for "the canaries on 1.1.0" 90 all_run 1.1.0 dev-01 dev-02
firing() { api GET "/api/v1/alerts?state=firing" | sed '1s/^[0-9]* //' | jq -e 'any(.alerts[]; .slo == "canary-latency")'; }
wait_for "the canaries' latency page" 200 firing
run_of() { cli -o json run list --playbook canary-burn-rollback | jq -r '.[0].id // empty'; }
wait_for "a run" 30 run_of
run=$(run_of)
ended() { [ "$(cli -o json run show "$run" | jq -r .state)" = succeeded ]; }
wait_for "the run to succeed ($(cli -o json run show "$run" | jq -c '{state, error}'))" 120 ended
r=$(cli -o json run show "$run")
assert_eq "$(jq -c '.plan.devices | sort' <<<"$r")" '["dev-01","dev-02"]' "the devices the rollout touched"

assert_eq "$(rollout_json "$ro" | jq -r .state)" "paused" "the rollout"
all_run 1.0.0 dev-01 dev-02 || fail "the canaries do not run 1.0.0 again"
all_run 1.0.0 dev-03 dev-04 || fail "the others left 1.0.0"
for d in dev-01 dev-02; do
	device_json "$d" | jq -e '.assignment.rollback == true or .update.assigned == "anomaly@1.0.0"' >/dev/null ||
		fail "$d: not a signed rollback: $(device_json "$d" | jq -c '{assignment, update}')"
done
w=$(webhooks)
assert_eq "$(jq length <<<"$w")" "1" "on-call calls"
assert_eq "$(jq -r '.[0].signature_ok' <<<"$w")" "true" "signature"
assert_eq "$(jq -c '.[0].body | {slo, rollout}' <<<"$w")" "{\"slo\":\"canary-latency\",\"rollout\":\"$ro\"}" "body"
assert_match "$(jq -r '.[0].body.summary' <<<"$w")" "paused, canaries rolled back" "summary"
pass

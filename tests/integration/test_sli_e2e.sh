#!/usr/bin/env bash
# ctest-timeout: 600
# End to end: real agents run the reference inference module from a
# signed release and report SLIs over HTTPS. A shifted input distribution
# raises a drift alert, a four-times-slower model burns the latency SLO, and a
# control group on the good model with unshifted inputs fires nothing. The
# shipped drift-retrain playbook, its webhook pointed at a local receiver,
# calls it once with the release, the cohort and the drift numbers.
source "$(dirname "$0")/lib.sh"
FLANOM="$FL_BIN_DIR/fairlead-anomaly"
export FAIRLEAD_RETRAIN_SECRET=retrain-test-secret
init_server
start_webhook_receiver "$FAIRLEAD_RETRAIN_SECRET"
start_server --slo-eval-ms 200 --playbook-tick-ms 200 --webhook-ca "$DATA/tls/ca.pem"

K="$T/keys" B="$T/build" R="$T/rel"
mkdir -p "$K" "$B/fast" "$B/slow" "$R"
for k in root1 rm1; do cli key generate --out "$K/$k.key" >/dev/null || fail "key $k"; done
SERVER_PUB=$(cat "$DATA/keys/server.pub")
cli root create --out "$R/root.json" --root-key "$K/root1.key" --root-threshold 1 \
	--release-key "$K/rm1.key" --release-threshold 1 \
	--timestamp-pubkey "$SERVER_PUB" --director-pubkey "$SERVER_PUB" --expires 30d >/dev/null ||
	fail "root create"
cli root sign "$R/root.json" --key "$K/root1.key" >/dev/null || fail "root sign"
cli root push "$R/root.json" >/dev/null || fail "root push"

# The model's drift baseline is computed from its undrifted generator and
# signed into the release; 1.1.0 is the same model at four times the cost.
"$FLANOM" baseline --samples 20000 --bins 8 >"$B/baseline.json" || fail "baseline"
"$FLANOM" model --work-us 1000 >"$B/fast/model.json" || fail "model"
"$FLANOM" model --work-us 4000 >"$B/slow/model.json" || fail "slow model"
release() { # VERSION COUNTER DIR
	cli release create --name anomaly --version "$1" --kind model --artifact "$3/model.json" \
		--baseline "$B/baseline.json" --health-cmd /bin/true --health-window 1 \
		--counter "$2" --lineage builder=test --out "$R/anomaly-$1.json" >/dev/null ||
		fail "create $1"
	cli release sign "$R/anomaly-$1.json" --key "$K/rm1.key" >/dev/null || fail "sign $1"
	cli release push "$R/anomaly-$1.json" --artifact-dir "$3" -q >/dev/null 2>"$T/push.err" ||
		fail "push $1: $(cat "$T/push.err")"
}
release 1.0.0 1 "$B/fast"
release 1.1.0 2 "$B/slow"

# three groups of two devices
DEVS=()
for g in drift slow ctl; do
	tok=$(new_enroll_token --uses 2 --auto-accept --label "group=$g" --label site=lab)
	for i in 1 2; do
		d="$g-$i"
		agent "$d" enroll --token "$tok" --id "$d" --root "$R/root.json" >"$T/e-$d" 2>&1 ||
			fail "enroll $d: $(cat "$T/e-$d")"
		DEVS+=("$d")
	done
done
# windows of 3 s at 20 inferences/s: 60 samples, enough to judge 8 bins
for d in "${DEVS[@]}"; do agent_start "$d" --report-window 3s; done
sed "s|https://ml.example.com/api/retrain|$WEBHOOK_URL/api/retrain|" \
	"$FL_SOURCE_DIR/playbooks/drift-retrain.yaml" >"$T/drift-retrain.yaml"
cli playbook apply "$T/drift-retrain.yaml" >/dev/null || fail "apply drift-retrain"
cli device assign --selector site=lab anomaly@1.0.0 >/dev/null || fail "assign 1.0.0"
running() { [ "$(device_json "$1" | jq -r '"\(.update.assigned) \(.update.state)"')" = "$2 committed" ]; }
for d in "${DEVS[@]}"; do wait_for "$d on anomaly@1.0.0" 90 running "$d" anomaly@1.0.0; done

# the module of each device reads the model from the installed slot
for d in "${DEVS[@]}"; do
	"$FLANOM" --socket "$T/agents/$d/sli.sock" --name anomaly --rate 20 \
		--model "$T/agents/$d/slots/anomaly/current/model.json" \
		--shift-file "$T/shift-${d%-*}" >>"$T/module-$d.log" 2>&1 &
	PIDS+=($!)
done

slo() { # NAME KIND-JSON OBJECTIVE GROUP FACTOR [RELEASE]
	local rel=""
	[ -n "${6:-}" ] && rel="\"release\": \"$6\","
	cat >"$T/slo-$1.json" <<JSON
{"name": "$1", "sli": $2, "objective": $3, "period": "1d", "selector": "group=$4",
 $rel "min_events": 20, "alerts": [{"severity": "page", "long": "2m", "short": "1m", "factor": $5}]}
JSON
	cli slo apply "$T/slo-$1.json" >/dev/null || fail "slo apply $1"
}
# The threshold sits 2 ms above the good model's cost: its latency is wall
# time over a busy loop, so a loaded machine preempts it now and then.
LAT='{"kind": "latency", "threshold_ms": 3}'
slo drift-drift '{"kind": "drift"}' 0.95 drift 4 anomaly@1.0.0
slo drift-ctl '{"kind": "drift"}' 0.95 ctl 4
slo latency-slow "$LAT" 0.9 slow 2
slo latency-ctl "$LAT" 0.9 ctl 2

# live SLIs: every device reports inferences, latency near the model's cost
has_data() {
	local s
	s=$(cli metrics "$1" --since 10m --json | jq -r .summary.inferences)
	[ "${s:-0}" -gt 60 ]
}
for d in "${DEVS[@]}"; do wait_for "SLIs of $d" 60 has_data "$d"; done
p50=$(cli metrics ctl-1 --since 10m --json | jq -r .summary.latency_ms.p50)
# At least the model's cost; no upper bound, which would measure the machine.
awk -v v="$p50" 'BEGIN { exit !(v >= 0.99) }' || fail "ctl-1 p50 $p50 ms, below the model's 1 ms"
up=$(cli metrics ctl-1 --since 10m --json | jq -r .summary.uptime_ratio)
awk -v v="$up" 'BEGIN { exit !(v > 0.9) }' || fail "ctl-1 uptime ratio $up"

# before the bad changes every SLO has enough events to judge, and none fires
judged() { cli slo show "$1" -o json | jq -e '.status.alerts[0].guarded == false'; }
for n in drift-drift drift-ctl latency-slow latency-ctl; do wait_for "$n judged" 60 judged "$n"; done
alerts() { api GET "/api/v1/alerts?state=$1" | sed '1s/^[0-9]* //'; }
assert_eq "$(alerts firing | jq '.alerts | length')" "0" "alerts firing before the changes"

# the bad changes: inputs shift for one group, the slow model for another
echo 2.5 >"$T/shift-drift"
cli device assign --selector group=slow anomaly@1.1.0 >/dev/null || fail "assign 1.1.0"
for d in slow-1 slow-2; do wait_for "$d on anomaly@1.1.0" 90 running "$d" anomaly@1.1.0; done

firing() { alerts firing | jq -e --arg s "$1" 'any(.alerts[]; .slo == $s)'; }
wait_for "the drift alert" 150 firing drift-drift
wait_for "the latency alert" 150 firing latency-slow

# the drift page asked the training pipeline to retrain, once, signed
retrain_called() { [ "$(webhooks 'length')" -ge 1 ]; }
wait_for "the retraining webhook" 30 retrain_called
w=$(webhooks)
assert_eq "$(jq length <<<"$w")" "1" "retraining calls"
assert_eq "$(jq -r '.[0].signature_ok' <<<"$w")" "true" "signature"
assert_eq "$(jq -r '.[0].path' <<<"$w")" "/api/retrain" "path"
assert_eq "$(jq -c '.[0].body | {slo, release, cohort}' <<<"$w")" \
	'{"slo":"drift-drift","release":"anomaly@1.0.0","cohort":"group=drift"}' "what to retrain"
jq -e '.[0].body | (.burn_rate | type == "number") and .burn_rate > 4 and (.drift.error_ratio | type == "number")' \
	<<<"$w" >/dev/null || fail "drift numbers: $(jq -c '.[0].body' <<<"$w")"

# each alert explains itself
a=$(alerts firing | jq -c '[.alerts[] | select(.slo == "latency-slow")][0]')
burn=$(jq -r .explanation.burn_rate_long <<<"$a")
awk -v v="$burn" 'BEGIN { exit !(v > 2) }' || fail "latency burn rate $burn not over its factor"
for f in budget_spent time_to_exhaustion_s; do
	jq -e --arg f "$f" '.explanation | has($f)' <<<"$a" >/dev/null || fail "explanation lacks $f: $a"
done
api GET "/api/v1/events?after=0" | sed 's/^[0-9]* //' | jq -e 'any(.events[]; .kind == "alert.firing")' \
	>/dev/null || fail "no alert.firing event"
p99=$(cli metrics --cohort group=slow --release anomaly@1.1.0 --since 10m --json | jq -r .summary.latency_ms.p99)
awk -v v="$p99" 'BEGIN { exit !(v >= 3.9) }' || fail "slow p99 $p99 ms"

# the server's drift view agrees: the shifted group's features drift
# (every feature over three times its threshold, though the window still
# holds readings from before the shift: how many depends on where the
# minute falls, and four times was seen to fail), the control group's stays near
# noise: at alpha = 1% one feature may alarm by chance, but twice the
# threshold has odds of about 1e-5 with 8 bins
dj=$(cli drift anomaly@1.0.0 --cohort group=drift --since 1m --json)
jq -e '(.features | length) == 3 and all(.features[]; .drifted and .psi > 3 * .threshold)' \
	<<<"$dj" >/dev/null || fail "drift API: $dj"
dj=$(cli drift anomaly@1.0.0 --cohort group=ctl --since 10m --json)
jq -e '(.features | length) == 3 and all(.features[]; .judged and .psi < 2 * .threshold)' \
	<<<"$dj" >/dev/null || fail "control drifts: $dj"

# the control group fired nothing, and kept more of its budget than the
# slow group (an absolute bound would measure how loaded the machine is:
# under ASan on two busy cores a tenth of the good model's calls were seen
# preempted past the threshold)
n=$(alerts all | jq '[.alerts[] | select(.slo | endswith("-ctl"))] | length')
assert_eq "$n" "0" "alerts of the control group"
left=$(cli slo show latency-ctl -o json | jq -r .status.budget_remaining)
slow=$(cli slo show latency-slow -o json | jq -r .status.budget_remaining)
awk -v c="$left" -v s="$slow" 'BEGIN { exit !(c > s + 0.5) }' ||
	fail "latency-ctl budget left $left, latency-slow $slow"

# /metrics carries fleet SLIs and SLO state, and is valid exposition
api GET /metrics | sed '1s/^[0-9]* //' >"$T/metrics.txt"
grep -q '^fairlead_alerts_firing' "$T/metrics.txt" || fail "no SLO families in /metrics"
grep -q 'release="anomaly@1.0.0"' "$T/metrics.txt" || fail "no fleet SLIs in /metrics"
promtool check metrics <"$T/metrics.txt" >"$T/promtool.log" 2>&1 || fail "promtool: $(cat "$T/promtool.log")"
pass

#!/usr/bin/env bash
# SLOs through the real server and CLI: JSON and OpenSLO files applied, a
# refusal with its message and exit status, list/show/delete, an SLO
# directory loaded at start (and a bad file stopping the start), and the
# alert and event lists' JSON shape.
source "$(dirname "$0")/lib.sh"
: "${FL_SOURCE_DIR:?}"
init_server
mkdir -p "$DATA/slo.d"
cat >"$DATA/slo.d/uptime.json" <<'JSON'
{"name": "fleet-uptime", "sli": {"kind": "uptime"}, "objective": 0.999, "period": "30d"}
JSON
start_server --slo-eval-ms 200

out=$(cli slo list) || fail "slo list: $out"
# no data yet: nothing of the budget is spent ("-" before the first evaluation)
assert_match "$out" "fleet-uptime +uptime +0.999 +30d +(-|1) +0 +file" "file SLO listed"

cat >"$T/latency.json" <<'JSON'
{"name": "anomaly-latency", "description": "99% of inferences under 50 ms",
 "sli": {"kind": "latency", "threshold_ms": 50}, "objective": 0.99, "period": "28d",
 "selector": "site=eu", "release": "anomaly"}
JSON
out=$(cli slo apply "$T/latency.json") || fail "apply JSON: $out"
assert_eq "$out" "slo anomaly-latency applied"
def=$(cli slo show anomaly-latency --json)
assert_eq "$(jq -r .source <<<"$def")" "api"
assert_eq "$(jq -r '.definition.alerts | length' <<<"$def")" "3" "default pairs"
assert_eq "$(jq -r '.definition.alerts[0].budget_percent' <<<"$def")" "2"
assert_eq "$(jq -r '.firing | length' <<<"$def")" "0"
out=$(cli slo show anomaly-latency) || fail "show: $out"
assert_match "$out" "objective: +0.99 over 28d \(occurrences\)" "show table"

# OpenSLO, several documents, imported all together
cp "$FL_SOURCE_DIR/docs/examples/openslo.yaml" "$T/openslo.yaml"
out=$(cli slo apply "$T/openslo.yaml") || fail "apply OpenSLO: $out"
assert_match "$out" "slo anomaly-errors applied \(OpenSLO\)" "OpenSLO applied"
n=$(cli -o json slo list | jq length)
assert_eq "$n" "5" "file + JSON + three OpenSLO SLOs"
assert_eq "$(cli slo show anomaly-drift --json | jq -r .definition.budgeting)" "timeslices"

# refusals: non-zero exit, the reason, nothing stored
cat >"$T/bad.json" <<'JSON'
{"name": "too-loose", "sli": {"kind": "errors"}, "objective": 0.9, "period": "30d"}
JSON
if out=$(cli slo apply "$T/bad.json" 2>&1); then fail "a 90% SLO with a 14.4x page was accepted"; fi
assert_match "$out" "alert page 1h/5m: burn-rate factor 14.4 can never fire" "refusal message"
assert_match "$out" "HTTP 400" "refusal status"
sed 's/budgetingMethod: Occurrences/budgetingMethod: RatioTimeslices/' "$T/openslo.yaml" |
	sed 's/name: anomaly-errors$/name: other-errors/' >"$T/ratio.yaml"
if out=$(cli slo apply "$T/ratio.yaml" 2>&1); then fail "RatioTimeslices accepted"; fi
assert_match "$out" "RatioTimeslices is not supported" "OpenSLO refusal"
assert_eq "$(cli -o json slo list | jq length)" "5" "nothing half-written"
r=$(api PUT /api/v1/slos/other '{"name":"anomaly-latency","sli":{"kind":"uptime"},"objective":0.99,"period":"30d"}')
assert_eq "$(status_of "$r")" "400" "name mismatch"
r=$(api PUT /api/v1/slos/x '{"name":"x","sli":{"kind":"uptime"},"objective":0.99,"period":"30d","extra":1}')
assert_eq "$(status_of "$r")" "400" "unknown field"
assert_match "$(body_of "$r" | jq -r .error.message)" "extra" "unknown field named"

# roles: a viewer reads, may not write
viewer=$(cli token create --role viewer)
CLI_TOKEN=$viewer cli slo list >/dev/null || fail "viewer lists SLOs"
if CLI_TOKEN=$viewer cli slo delete anomaly-latency 2>/dev/null; then fail "viewer deleted"; fi

out=$(cli slo delete anomaly-latency) || fail "delete: $out"
assert_eq "$out" "slo anomaly-latency deleted"
if cli slo show anomaly-latency 2>/dev/null; then fail "deleted SLO still shown"; fi
assert_eq "$(cli audit list -o json | jq '[.[] | select(.action | startswith("slo."))] | length')" "3" \
	"put, import and delete audited"

# alerts and events: empty without SLI data, in their JSON shape
assert_eq "$(cli alerts list --json)" "[]" "no alerts"
assert_eq "$(cli alerts list --state firing -o json | jq length)" "0"
if cli alerts list --state bogus 2>/dev/null; then fail "bad --state accepted"; fi
r=$(api GET '/api/v1/events?after=0&limit=10')
assert_eq "$(status_of "$r")" "200"
assert_eq "$(body_of "$r" | jq -c .)" '{"events":[],"next_after":null}' "events shape"
assert_eq "$(status_of "$(api GET '/api/v1/alerts?state=nope')")" "400" "bad state"
stop_server

# a bad file in the SLO directory stops the start, naming the file
echo '{"name": "broken", "objective": 2}' >"$DATA/slo.d/broken.json"
if "$FLD" serve --data "$DATA" --listen "127.0.0.1:0" >"$T/bad-start.log" 2>&1; then
	fail "started with a bad SLO file"
fi
assert_match "$(cat "$T/bad-start.log")" "broken.json" "the bad file is named"
pass

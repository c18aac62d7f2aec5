#!/usr/bin/env bash
# SLI ingestion end to end against a real fairleadd: signed reports from
# enrolled devices, quantiles from merged sketches within 1%, duplicates
# counted once, bad reports refused with nothing stored, carbon (SCI) from the
# carbon table, drift per cohort against a release's signed baseline,
# ingestion under concurrent check-ins, SIGTERM keeping acknowledged reports,
# /metrics through promtool, and the CLI's metrics and drift.
source "$(dirname "$0")/lib.sh"
: "${FL_SOURCE_DIR:?}"
GEN="python3 $FL_SOURCE_DIR/tests/integration/sli_report.py"
RP=/api/v1/device/reports

cat >"$T/carbon.json" <<'JSON'
{"grid_intensity_g_per_kwh": {"default": 400, "eu-west": 250},
 "hardware": {"default": {"embodied_kg": 20, "lifetime_years": 4}}}
JSON
start_server --rate-device 0 --carbon "$T/carbon.json"

tok_eu=$(new_enroll_token --uses 1 --auto-accept --label site=eu-west)
tok_be=$(new_enroll_token --uses 10 --auto-accept --label site=berlin)
agent a1 enroll --token "$tok_eu" --id dev-1 >/dev/null 2>&1 || fail "enroll dev-1"
agent a2 enroll --token "$tok_be" --id dev-2 >/dev/null 2>&1 || fail "enroll dev-2"
K1="$T/agents/a1/device.key" K2="$T/agents/a2/device.key"

# ---- a release with a drift baseline: temp on 4 bins ----
K="$T/keys" B="$T/build" R="$T/rel"
mkdir -p "$K" "$B" "$R"
cli key generate --out "$K/root1.key" >/dev/null && cli key generate --out "$K/rm1.key" >/dev/null ||
	fail "key generate"
SERVER_PUB=$(cat "$DATA/keys/server.pub")
cli root create --out "$R/root.json" --root-key "$K/root1.key" --root-threshold 1 \
	--release-key "$K/rm1.key" --release-threshold 1 --timestamp-pubkey "$SERVER_PUB" \
	--director-pubkey "$SERVER_PUB" --expires 30d >/dev/null 2>&1 || fail "root create"
cli root sign "$R/root.json" --key "$K/root1.key" >/dev/null && cli root push "$R/root.json" >/dev/null ||
	fail "root push"
head -c 1000 /dev/urandom >"$B/model.bin"
echo '{"temp": {"edges": [10, 20, 30], "p": [0.25, 0.25, 0.25, 0.25], "n": 100000}}' >"$B/baseline.json"
cli release create --name anomaly --version 1.0.0 --kind model --artifact "$B/model.bin" \
	--health-cmd /bin/true --baseline "$B/baseline.json" --counter 1 \
	--out "$R/anomaly.json" >/dev/null || fail "release create"
cli release sign "$R/anomaly.json" --key "$K/rm1.key" >/dev/null || fail "release sign"
cli release push "$R/anomaly.json" --artifact-dir "$B" >/dev/null 2>&1 || fail "release push"

now=$(date +%s)
W=$(((now / 60) * 60 - 120)) # a whole minute two minutes ago

post() { # KEY FILE: a signed report request; prints "STATUS BODY"
	local hdrs=() line out
	while IFS= read -r line; do hdrs+=(-H "$line"); done < <("$FLSIGN" "$1" POST $RP "$2")
	out=$(curl -s --cacert "$DATA/tls/ca.pem" -X POST "${hdrs[@]}" -w '\n%{http_code}' \
		-H 'Content-Type: application/json' --data-binary "@$2" "$URL$RP") || true
	echo "$(tail -n1 <<<"$out") $(sed '$d' <<<"$out")"
}
sli() { body_of "$(api GET "/api/v1/sli?$1")"; }

# ---- two reports in the same device-minute: latencies 1..1000 ms merged ----
$GEN 1 "$W" --lat 1:500 --energy 3600 + 2 "$((W + 30))" --lat 501:1000 --errors 10 \
	--energy 3600 --window 30 >"$T/r12.json"
r=$(post "$K1" "$T/r12.json")
assert_eq "$(status_of "$r")" "200" "reports accepted: $r"
assert_eq "$(body_of "$r" | jq -c '[.accepted,.duplicates,.acked_seq]')" "[2,0,2]" "reply counts"

wait_for "reports stored" 10 bash -c "[ \"\$(curl -s --cacert '$DATA/tls/ca.pem' -H 'Authorization: Bearer $ADMIN' \
	'$URL/api/v1/sli?device=dev-1&since=10m' | jq .summary.inferences)\" = 1010 ]"
s=$(sli "device=dev-1&since=10m")
assert_eq "$(jq .summary.reports <<<"$s")" "2" "two reports"
assert_eq "$(jq .summary.errors <<<"$s")" "10" "errors"
assert_eq "$(jq .summary.latency_ms.count <<<"$s")" "1000" "latency count"
# exact quantiles of 1..1000 (nearest rank): p50 500/501, p90 900/901, p99 990/991
jq -e '.summary.latency_ms | (((.p99 - 990) | fabs) / 990 <= 0.011) and
	(((.p50 - 500) | fabs) / 500 <= 0.011) and (((.p90 - 900) | fabs) / 900 <= 0.011)' <<<"$s" \
	>/dev/null || fail "quantiles off by more than 1%: $(jq -c .summary.latency_ms <<<"$s")"
assert_eq "$(jq '[.series[] | select(.reports > 0)] | length' <<<"$s")" "1" "one device-minute row"
# carbon: 7200 J = 0.002 kWh * 250 g/kWh = 0.5 g, plus 20 kg over 4 years for 90 s
jq -e '(.summary.carbon_g - (0.5 + 20000 * 90 / (4 * 365.25 * 86400))) | fabs < 1e-6' <<<"$s" \
	>/dev/null || fail "carbon: $(jq .summary.carbon_g <<<"$s")"
jq -e '(.summary.carbon_per_inference_g - .summary.carbon_g / 1010) | fabs < 1e-9' <<<"$s" \
	>/dev/null || fail "carbon per inference"
jq -e '.summary.uptime_ratio == 1 and .summary.dropped_reports == 0' <<<"$s" >/dev/null ||
	fail "uptime or dropped: $(jq -c .summary <<<"$s")"

# ---- a duplicate seq is counted, not stored again ----
$GEN --dropped 3 2 "$((W + 30))" --lat 501:1000 --window 30 >"$T/dup.json"
r=$(post "$K1" "$T/dup.json")
assert_eq "$(body_of "$r" | jq -c '[.accepted,.duplicates,.acked_seq]')" "[0,1,2]" "duplicate"

# ---- bad reports: 400, nothing stored, the seq not taken ----
$GEN 3 "$W" --lat 1:10 | jq '.reports[0].errors = 99' >"$T/bad1.json"
$GEN 3 "$W" --lat 1:10 | jq '.reports[0].colour = "red"' >"$T/bad2.json"
$GEN 3 "$W" --lat 1:10 | jq '.reports[0].latency_ms.n = 11' >"$T/bad3.json"
$GEN 3 "$W" --lat 1:10 + 3 "$W" --lat 1:10 >"$T/bad4.json"
$GEN 3 "$((now + 3600))" --lat 1:10 >"$T/bad5.json"
$GEN 3 "$W" --lat 1:10 --release 'no version' >"$T/bad6.json"
for i in 1 2 3 4 5 6; do
	r=$(post "$K1" "$T/bad$i.json")
	assert_eq "$(status_of "$r")" "400" "bad report $i: $r"
	assert_eq "$(body_of "$r" | jq -r .error.code)" "invalid_request" "bad report $i code"
done
sleep 0.5
s=$(sli "device=dev-1&since=10m")
assert_eq "$(jq .summary.inferences <<<"$s")" "1010" "nothing stored from bad reports"
assert_eq "$(jq .summary.dropped_reports <<<"$s")" "3" "agent dropped count"
$GEN 3 "$W" --lat 1:10 >"$T/r3.json"
assert_eq "$(body_of "$(post "$K1" "$T/r3.json")" | jq -c '[.accepted,.acked_seq]')" "[1,3]" \
	"seq 3 still free after the refusals"
# a token is not a device signature
assert_eq "$(status_of "$(api POST $RP "$(cat "$T/r3.json")")")" "401" "token on reports"

# ---- drift: eu-west in line with the baseline, berlin shifted ----
$GEN 4 "$W" --lat 1:10 --drift temp:250,250,250,250:1:0 >"$T/d1.json"
$GEN 1 "$W" --lat 1:10 --drift temp:10,10,30,950:1:1 >"$T/d2.json"
assert_eq "$(status_of "$(post "$K1" "$T/d1.json")")" "200" "drift report dev-1"
assert_eq "$(status_of "$(post "$K2" "$T/d2.json")")" "200" "drift report dev-2"
berlin_drifted() {
	body_of "$(api GET "/api/v1/drift?release=anomaly@1.0.0&selector=site%3Dberlin&since=10m")" |
		jq -e '.features[0] | .feature == "temp" and .samples == 1000 and .judged and .drifted and
			.psi > .threshold'
}
wait_for "berlin drifted" 10 berlin_drifted
d=$(body_of "$(api GET "/api/v1/drift?release=anomaly@1.0.0&selector=site%3Deu-west&since=10m")")
jq -e '.features[0] | .samples == 1000 and .judged and (.drifted | not) and .psi < 1e-9' \
	<<<"$d" >/dev/null || fail "eu-west drifted: $d"
assert_eq "$(status_of "$(api GET "/api/v1/drift?release=anomaly@9.9.9")")" "404" "unknown release"
assert_eq "$(status_of "$(api GET "/api/v1/drift?release=anomaly")")" "400" "drift needs a version"
c=$(sli "selector=site%3Dberlin&release=anomaly&since=10m")
assert_eq "$(jq -c '[.summary.inferences,.summary.drift_checks,.summary.drift_alarms]' <<<"$c")" \
	"[10,1,1]" "cohort summary"
assert_eq "$(status_of "$(api GET "/api/v1/sli?device=dev-1&step=7")")" "400" "bad step"
assert_eq "$(status_of "$(api GET "/api/v1/sli?device=nope")")" "404" "unknown device"

# ---- the CLI ----
out=$(cli metrics dev-1 --since 10m) || fail "cli metrics"
assert_match "$out" "inferences: +1030" "cli metrics inferences"
assert_match "$out" "agent dropped reports: +3" "cli metrics dropped"
assert_eq "$(cli metrics --cohort site=berlin --since 10m --json | jq .summary.inferences)" "10" \
	"cli metrics --cohort --json"
out=$(cli drift anomaly@1.0.0 --cohort site=berlin --since 10m) || fail "cli drift"
assert_match "$out" "temp +1000 .* yes +yes" "cli drift table"
if cli metrics >/dev/null 2>&1; then fail "metrics without a scope"; fi
rc=0
cli drift anomaly --since 10m >/dev/null 2>&1 || rc=$?
assert_eq "$rc" "2" "drift without a version is a usage error"

# ---- /metrics ----
curl -s --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" "$URL/metrics" \
	>"$T/metrics.txt" || fail "GET /metrics: $(head -c 300 "$T/metrics.txt")"
promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 ||
	fail "promtool check metrics: $(cat "$T/promtool.out")"
grep -q '^fairlead_sli_inferences{release="anomaly@1.0.0"} 1040$' "$T/metrics.txt" ||
	fail "fleet inferences in /metrics: $(grep sli_inferences "$T/metrics.txt")"
grep -q '^fairlead_http_requests_total{method="POST",route="/api/v1/device/reports",code="4xx"} 7$' \
	"$T/metrics.txt" || fail "request counter by route and class"
grep -q '^fairlead_agent_dropped_reports_total 3$' "$T/metrics.txt" || fail "dropped total"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.pem" "$URL/metrics")" \
	"401" "/metrics needs a token by default"

# ---- ingestion under concurrent check-ins ----
N=4
tok=$(new_enroll_token --uses $N --auto-accept --label site=load)
for i in $(seq 1 $N); do
	agent "l$i" enroll --token "$tok" --id "load-$i" >/dev/null 2>&1 || fail "enroll load-$i"
done
echo '{}' >"$T/empty.json"
load() {
	local i=$1 seq=0 code key="$T/agents/l$i/device.key"
	: >"$T/ck$i" && : >"$T/acked$i"
	for _ in $(seq 1 25); do
		code=$(signed_curl "$key" POST /api/v1/device/checkin "$T/empty.json") || true
		echo "$code" >>"$T/ck$i"
		seq=$((seq + 1))
		$GEN "$seq" "$W" --lat 1:20 --window 1 >"$T/l$i.json"
		code=$(signed_curl "$key" POST $RP "$T/l$i.json") || true
		[ "$code" = 200 ] && echo "$seq" >>"$T/acked$i"
	done
}
LOADERS=()
for i in $(seq 1 $N); do
	load "$i" &
	LOADERS+=($!)
done
# and check-ins of other devices alongside, in parallel
for _ in $(seq 1 20); do
	signed_curl "$K2" POST /api/v1/device/checkin "$T/empty.json" >>"$T/ck0" || true
	echo >>"$T/ck0"
done
wait "${LOADERS[@]}"
acked=$(cat "$T"/acked* | wc -l)
[ "$acked" -eq $((N * 25)) ] || fail "only $acked of $((N * 25)) reports acknowledged"
[ "$(cat "$T"/ck* | grep -cv '^$')" -eq "$(cat "$T"/ck* | grep -c '^200$')" ] ||
	fail "a check-in failed under ingestion: $(sort "$T"/ck* | uniq -c)"
wait_for "load reports stored" 10 bash -c "[ \"\$(curl -s --cacert '$DATA/tls/ca.pem' -H 'Authorization: Bearer $ADMIN' \
	'$URL/api/v1/sli?selector=site%3Dload&since=10m' | jq .summary.reports)\" = $((N * 25)) ]"
s=$(sli "selector=site%3Dload&since=10m")
assert_eq "$(jq .summary.inferences <<<"$s")" "$((N * 25 * 20))" "every acknowledged report stored once"

# ---- SIGTERM keeps acknowledged reports (flush interval far away) ----
stop_server
start_server --rate-device 0 --carbon "$T/carbon.json" --flush-ms 60000 --metrics-public
$GEN 5 "$W" --lat 1:100 >"$T/r5.json"
assert_eq "$(body_of "$(post "$K1" "$T/r5.json")" | jq -c '[.accepted,.acked_seq]')" "[1,5]" \
	"report before SIGTERM"
assert_eq "$(status_of "$(api GET /api/v1/_stats)")" "200" "stats"
stop_server
start_server --rate-device 0 --metrics-public
s=$(sli "device=dev-1&since=10m")
assert_eq "$(jq .summary.inferences <<<"$s")" "1130" "the acknowledged report survived SIGTERM"
# the stored seq survived too: seq 5 is a duplicate after the restart
assert_eq "$(body_of "$(post "$K1" "$T/r5.json")" | jq -c '[.accepted,.duplicates,.acked_seq]')" \
	"[0,1,5]" "dedup across restarts"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.pem" "$URL/metrics")" \
	"200" "--metrics-public: anonymous scrape"
pass

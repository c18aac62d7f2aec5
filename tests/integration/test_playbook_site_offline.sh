#!/usr/bin/env bash
# ctest-timeout: 300
# The shipped site-offline playbook end to end, its threshold shortened from
# 10m to 1m and its webhook pointed at a local HTTPS receiver that checks
# each signature: two of a site's five real agents stop (40%) and one of
# another's (20%, not past the threshold); one alert is raised and one
# webhook call made, for the first site only, however many of its devices
# fall. The first delivery is answered 500 and retried under the same
# delivery id.
source "$(dirname "$0")/lib.sh"
export FAIRLEAD_SITEOPS_SECRET=siteops-test-secret
init_server
start_webhook_receiver "$FAIRLEAD_SITEOPS_SECRET" --fail-first 1
start_server --playbook-tick-ms 200 --webhook-ca "$DATA/tls/ca.pem"

tok=$(new_enroll_token --uses 10 --auto-accept)
for i in $(seq 0 9); do
	d=$(printf 'dev-%02d' "$i")
	agent "$d" enroll --token "$tok" --id "$d" --label "site=s$((i % 2))" >"$T/e-$d" 2>&1 ||
		fail "enroll $d: $(cat "$T/e-$d")"
	agent_start "$d"
done
sed -e 's/^  for: 10m$/  for: 1m/' -e "s|https://siteops.example.com/hooks/offline|$WEBHOOK_URL/hooks/offline|" \
	-e 's/^    retries: 3$/    retries: 3\n    backoff: 1s/' \
	"$FL_SOURCE_DIR/playbooks/site-offline.yaml" >"$T/site-offline.yaml"
grep -q "for: 1m" "$T/site-offline.yaml" || fail "the threshold was not shortened"
cli playbook apply "$T/site-offline.yaml" >/dev/null || fail "apply"
seen() { [ "$(device_json "$1" | jq -r '.last_seen // 0')" -gt 0 ]; }
for i in 0 1 2 3 4 5 6 7 8 9; do wait_for "dev-0$i checking in" 30 seen "dev-0$i"; done

# site s0 is dev-00, -02, -04, -06, -08: two of them stop; s1 loses one
stop_agent() { local v="AGENT_PID_${1//-/_}"; kill -TERM "${!v}"; wait "${!v}" 2>/dev/null || true; }
stop_agent dev-00
stop_agent dev-02
stop_agent dev-01
delivered() { [ "$(webhooks '[.[] | select(.status == 200)] | length')" -ge 1 ]; }
wait_for "the site's webhook" 150 delivered
# a third device of the same site falls: still one run for the site
stop_agent dev-04
sleep 15
runs=$(cli -o json run list --playbook site-offline)
assert_eq "$(jq length <<<"$runs")" "1" "runs of site-offline"
run=$(jq -r '.[0].id' <<<"$runs")
ended() { [ "$(cli -o json run show "$run" | jq -r .state)" = succeeded ]; }
wait_for "the run to succeed" 30 ended
w=$(webhooks)
assert_eq "$(jq 'length' <<<"$w")" "2" "deliveries (one answered 500, then its retry)"
assert_eq "$(jq '[.[] | select(.signature_ok)] | length' <<<"$w")" "2" "signed deliveries"
assert_eq "$(jq -r '[.[].delivery] | unique | length' <<<"$w")" "1" "one delivery id for the retry"
assert_eq "$(jq -c '[.[].status]' <<<"$w")" "[500,200]" "statuses"
assert_eq "$(jq -r '.[1].path' <<<"$w")" "/hooks/offline" "path"
assert_eq "$(jq -c '.[1].body | {site, offline, devices}' <<<"$w")" '{"site":"s0","offline":2,"devices":5}' "body"
assert_eq "$(jq -r '.[1].body.ratio' <<<"$w")" "0.4" "ratio"
alerts=$(api GET "/api/v1/alerts?state=firing" | sed '1s/^[0-9]* //')
assert_eq "$(jq -c '[.alerts[].slo]' <<<"$alerts")" '["site-offline-s0"]' "alerts raised"
# a forged delivery is refused by the receiver: the test's signature check works
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.pem" -H 'Fairlead-Signature: t=1,v1=00' \
	--data '{}' "$WEBHOOK_URL/hooks/offline")
assert_eq "$code" "401" "a bad signature"
pass

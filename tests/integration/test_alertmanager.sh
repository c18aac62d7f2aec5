#!/usr/bin/env bash
# The inbound Alertmanager webhook: a version 4 payload of two alerts becomes
# two alertmanager events with the labels, status and annotations playbooks
# filter on, and a playbook with that trigger starts one run for the alert
# it names; bad payloads are refused with 400 and append nothing; a request
# without a token, or with a viewer's, is refused.
source "$(dirname "$0")/lib.sh"
start_server --playbook-tick-ms 100

cat >"$T/am.yaml" <<'YAML'
name: am-hot
version: 1
trigger: {type: alertmanager, alertname: 'HighTemp*', labels: {site: berlin}}
steps:
  - name: raise
    action: alert.raise
    params: {name: 'hot-{{ event.labels.instance }}', severity: ticket, summary: '{{ event.alert.annotations.summary }}'}
YAML
cli playbook apply "$T/am.yaml" >/dev/null || fail "apply"
AUTO=$(cli token create --role automation --name am | tail -n1)
VIEW=$(cli token create --role viewer --name view | tail -n1)
payload() { # ALERTS-JSON
	printf '{"version":"4","groupKey":"{}:{alertname=\\"HighTemp\\"}","status":"firing","receiver":"fairlead",
	 "groupLabels":{"alertname":"HighTemp"},"commonLabels":{},"commonAnnotations":{},
	 "externalURL":"http://am.example:9093","truncatedAlerts":0,"alerts":%s}' "$1"
}
ok=$(payload '[{"status":"firing","labels":{"alertname":"HighTempSensor","site":"berlin","instance":"dev-7"},
  "annotations":{"summary":"sensor over 80C"},"startsAt":"2026-12-03T10:00:00Z","endsAt":"0001-01-01T00:00:00Z",
  "generatorURL":"http://prom/graph","fingerprint":"a1b2"},
 {"status":"resolved","labels":{"alertname":"DiskFull","site":"berlin","instance":"dev-8"},
  "annotations":{},"startsAt":"2026-12-03T09:00:00Z","endsAt":"2026-12-03T09:30:00Z","fingerprint":"c3d4"}]')
before=$(api GET "/api/v1/events?after=0" | sed '1s/^[0-9]* //' | jq '.events | length')
r=$(api POST /api/v1/alertmanager "$ok" "$AUTO")
assert_eq "$(status_of "$r")" "200" "a good payload: $r"
assert_eq "$(body_of "$r" | jq .accepted)" "2" "accepted"
ev=$(api GET "/api/v1/events?after=0" | sed '1s/^[0-9]* //' | jq -c '[.events[] | select(.kind == "alertmanager")]')
assert_eq "$(jq length <<<"$ev")" "2" "alertmanager events"
assert_eq "$(jq -r '.[0].body.alert.labels.alertname' <<<"$ev")" "HighTempSensor" "alertname"
assert_eq "$(jq -r '.[0].body.alert.status' <<<"$ev")" "firing" "status"
assert_eq "$(jq -r '.[0].body.labels.site' <<<"$ev")" "berlin" "labels"
assert_eq "$(jq -r '.[1].body.alert.status' <<<"$ev")" "resolved" "second status"
assert_eq "$(jq -r '.[0].body.receiver' <<<"$ev")" "fairlead" "receiver"

# the playbook takes the firing HighTemp* alert and not the resolved DiskFull one
hot() { api GET "/api/v1/alerts?state=firing" | sed '1s/^[0-9]* //' | jq -e 'any(.alerts[]; .slo == "hot-dev-7")'; }
wait_for "the playbook's alert" 30 hot
assert_eq "$(cli -o json run list --playbook am-hot | jq length)" "1" "runs"
assert_eq "$(cli -o json run show "$(cli -o json run list --playbook am-hot | jq -r '.[0].id')" |
	jq -r '.plan.steps[0].params.summary')" "sensor over 80C" "the annotation reached the step"

# bad payloads: refused whole, nothing appended
n=$(api GET "/api/v1/events?after=0" | sed '1s/^[0-9]* //' | jq '[.events[] | select(.kind == "alertmanager")] | length')
for bad in '{"version":"3","alerts":[{"status":"firing","labels":{}}]}' \
	'{"version":"4","alerts":[]}' \
	'{"version":"4"}' \
	'{"version":"4","alerts":[{"status":"firing","labels":{"a":1}}]}' \
	'{"version":"4","alerts":[{"status":"pending","labels":{}}]}' \
	'{"version":"4","alerts":[{"status":"firing","labels":{"a":"b"}},{"status":"firing","labels":"x"}]}' \
	'{"version":"4","alerts":"x"}' '[1]' 'not json'; do
	r=$(api POST /api/v1/alertmanager "$bad" "$AUTO")
	assert_eq "$(status_of "$r")" "400" "refused: $bad"
	body_of "$r" | jq -e '.error' >/dev/null || fail "no JSON error for $bad: $r"
done
many=$(jq -nc '[range(1001) | {status: "firing", labels: {alertname: "x"}}]')
assert_eq "$(status_of "$(api POST /api/v1/alertmanager "$(payload "$many")" "$AUTO")")" "400" "1001 alerts"
m=$(api GET "/api/v1/events?after=0" | sed '1s/^[0-9]* //' | jq '[.events[] | select(.kind == "alertmanager")] | length')
assert_eq "$m" "$n" "nothing appended by refused payloads"
assert_eq "$(status_of "$(api POST /api/v1/alertmanager "$ok" "not-a-token")")" "401" "a bad token"
assert_eq "$(status_of "$(api POST /api/v1/alertmanager "$ok" "$VIEW")")" "403" "a viewer"
: "$before"
pass

#!/usr/bin/env bash
# A storm of 1,000 alerts in 10 seconds, through the real server's
# Alertmanager webhook, yields exactly the runs each throttle allows: one
# per site for once_within and once_after (that one carrying 100 of its
# site's alerts and counting the rest), and one per 50 alerts of a site for
# a threshold of 50.
source "$(dirname "$0")/lib.sh"
start_server --playbook-tick-ms 100
pb() { # NAME THROTTLE-YAML
	cat >"$T/$1.yaml" <<YAML
name: $1
version: 1
trigger: {type: alertmanager, alertname: Storm}
throttle: {$2, key: [event.labels.site]}
steps:
  - {name: note, action: wait, params: {for: 1s}}
YAML
	cli playbook apply "$T/$1.yaml" >/dev/null || fail "apply $1"
}
pb within 'once_within: 1h'
pb after 'once_after: 20s'
pb threshold 'threshold: {count: 50, within: 1h}'
AUTO=$(cli token create --role automation --name am | tail -n1)

# 10 posts of 100 alerts, one a second; alert i is of site s(i % 3):
# s0 has 334 alerts, s1 and s2 333 each
for b in $(seq 0 9); do
	body=$(jq -nc --argjson b "$b" '{version: "4", status: "firing", receiver: "fairlead",
		groupKey: "storm", alerts: [range($b * 100; $b * 100 + 100) |
		{status: "firing", labels: {alertname: "Storm", site: "s\(. % 3)", n: "\(.)"}}]}')
	r=$(api POST /api/v1/alertmanager "$body" "$AUTO")
	assert_eq "$(status_of "$r")" "200" "post $b: $r"
	sleep 1
done
runs() { cli -o json run list --playbook "$1" --limit 1000; }
settled() { [ "$(runs after | jq length)" -ge 3 ] && [ "$(runs threshold | jq length)" -ge 18 ]; }
wait_for "the runs of the storm" 60 settled
sleep 1 # a few more rounds: nothing else may start

assert_eq "$(runs within | jq -c '[.[].id] | length')" "3" "once_within runs"
assert_eq "$(runs after | jq length)" "3" "once_after runs"
assert_eq "$(runs threshold | jq length)" "18" "threshold runs (6 per site)"
declare -A want=([s0]=234 [s1]=233 [s2]=233)
for id in $(runs after | jq -r '.[].id'); do
	r=$(cli -o json run show "$id")
	site=$(jq -r '.trigger.events[0].labels.site' <<<"$r")
	assert_eq "$(jq '.trigger.events | length' <<<"$r")" "100" "events carried by $site's run"
	assert_eq "$(jq '.trigger.omitted' <<<"$r")" "${want[$site]}" "events counted past 100 for $site"
	assert_eq "$(jq --arg s "$site" '[.trigger.events[] | select(.labels.site == $s)] | length' <<<"$r")" \
		"100" "one site per run"
done
for id in $(runs threshold | jq -r '.[].id'); do
	n=$(cli -o json run show "$id" | jq '.trigger.events | length')
	assert_eq "$n" "50" "events of a threshold run"
done
pass

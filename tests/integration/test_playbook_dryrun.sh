#!/usr/bin/env bash
# Playbook files checked by the real server, and dry runs against its real
# devices: every shipped playbook validates; a bad file is refused with its
# file, line and problem; a storm of 1,000 alerts in 10 seconds yields
# exactly the runs the throttle allows; the blast radius is never exceeded
# in a plan, each device left out is named; and a dry run changes nothing.
source "$(dirname "$0")/lib.sh"
PB_DIR="$(cd "$(dirname "$0")/../.." && pwd)/playbooks"
start_server

# every shipped playbook is valid
n=0
for f in "$PB_DIR"/*.yaml; do
	out=$(cli playbook validate "$f") || fail "shipped playbook $f refused: $out"
	assert_match "$out" "is valid" "validate $f"
	n=$((n + 1))
done
[ "$n" -ge 5 ] || fail "only $n shipped playbooks"

# a bad file: non-zero, with the file, the line and the field
cat >"$T/bad.yaml" <<'YAML'
name: bad
version: 1
trigger:
  type: alert.firing
steps:
  - name: s
    action: device.reboot
YAML
if out=$(cli playbook validate "$T/bad.yaml" 2>&1); then fail "bad playbook accepted: $out"; fi
assert_match "$out" "bad.yaml:7: steps\[0\]\.action: unknown action 'device.reboot'" "validate message"

# 12 devices over 3 sites
tok=$(new_enroll_token --uses 12 --auto-accept --label fleet=lab)
for i in $(seq 1 12); do
	agent "d$i" enroll --token "$tok" --id "dev-$i" --label "site=s$((i % 3))" >/dev/null 2>&1 ||
		fail "enroll dev-$i"
done

# a storm: 1,000 alerts of 3 SLOs within 10 seconds, once_within 60s per SLO
cat >"$T/storm.yaml" <<'YAML'
name: storm
version: 1
trigger:
  type: alert.firing
  severity: page
throttle:
  once_within: 60s
  key: [event.slo]
targets:
  selector: 'fleet=lab'
blast_radius:
  max_devices: 5
  concurrency: 2
  per_label: {label: site, max: 2}
steps:
  - name: tell
    action: webhook
    params:
      url: 'https://hooks.example.com/x'
      secret_env: HOOK_KEY
      body: {slo: '{{ event.slo }}'}
  - name: calm
    action: device.command
    params: {type: health-check}
YAML
python3 - "$T/storm.json" <<'PY'
import json, sys
t0 = 1800000000
ev = [{"kind": "alert.firing", "at": t0 + i // 100, "slo": "slo-%d" % (i % 3),
       "alert": {"severity": "page", "sli": "latency"}} for i in range(1000)]
json.dump(ev, open(sys.argv[1], "w"))
PY
audit_before=$(cli -o json audit list | jq length)
r=$(cli -o json playbook test "$T/storm.yaml" --event "$T/storm.json") || fail "dry run: $r"
assert_eq "$(jq '.events | length' <<<"$r")" "1000" "every event reported"
assert_eq "$(jq '[.events[] | select(.throttle == "fired")] | length' <<<"$r")" "3" "fired"
assert_eq "$(jq '[.events[] | select(.throttle == "suppressed")] | length' <<<"$r")" "997" "suppressed"
assert_eq "$(jq '.runs | length' <<<"$r")" "3" "one run per SLO"
assert_eq "$(jq -r '[.runs[].plan.steps[0].params.body.slo] | sort | join(" ")' <<<"$r")" \
	"slo-0 slo-1 slo-2" "templates rendered per run"
# the blast radius: at most 5 devices, at most 2 per site, the other 7 named
jq -e 'all(.runs[].plan; (.devices | length) == 5 and (.skipped | length) == 7
	and .limits.max_devices == 5 and .limits.concurrency == 2)' <<<"$r" >/dev/null ||
	fail "caps: $(jq -c '.runs[0].plan | {devices, skipped, limits}' <<<"$r")"
for d in $(jq -r '.runs[0].plan.devices[]' <<<"$r"); do
	device_json "$d" | jq -r .labels.site
done | sort | uniq -c | awk '$1 > 2 { exit 1 }' || fail "more than 2 devices of one site"
assert_eq "$(jq '[.runs[0].plan.skipped[] | select(.reason == "blast_radius.per_label")] | length' <<<"$r")" \
	"6" "left out by the per-site cap"
# the same storm, the same plans: an approval can bind to the hash
r2=$(cli -o json playbook test "$T/storm.yaml" --event "$T/storm.json")
assert_eq "$(jq -c '[.runs[].plan.hash]' <<<"$r2")" "$(jq -c '[.runs[].plan.hash]' <<<"$r")" "stable hashes"

# more than 20% of a site offline fires once per site, however many fall
peers() { printf '"peers":{"site":{"value":"%s","devices":10,"offline":%s,"offline_ratio":%s}}' "$@"; }
cat >"$T/offline.json" <<JSON
[{"kind":"device.offline","at":1800000000,"for_s":600,"device":{"id":"dev-1","labels":{"site":"s1"}},$(peers s1 2 0.2)},
 {"kind":"device.offline","at":1800000060,"for_s":600,"device":{"id":"dev-4","labels":{"site":"s1"}},$(peers s1 3 0.3)},
 {"kind":"device.offline","at":1800000120,"for_s":600,"device":{"id":"dev-7","labels":{"site":"s1"}},$(peers s1 4 0.4)},
 {"kind":"device.offline","at":1800000180,"for_s":600,"device":{"id":"dev-2","labels":{"site":"s2"}},$(peers s2 5 0.5)},
 {"kind":"device.offline","at":1800000240,"for_s":600,"device":{"id":"dev-10","labels":{"site":"s1"}},$(peers s1 5 0.5)},
 {"kind":"device.offline","at":1800000300,"for_s":3600,"device":{"id":"dev-13","labels":{"site":"s3"}},$(peers s3 9 0.9)}]
JSON
r=$(cli -o json playbook test "$PB_DIR/site-offline.yaml" --event "$T/offline.json") || fail "offline: $r"
assert_eq "$(jq -c '[.events[].throttle]' <<<"$r")" \
	'["none","fired","suppressed","fired","suppressed","none"]' "once per site past 20%"
assert_eq "$(jq -c '[.runs[].events]' <<<"$r")" "[[1],[3]]" "the deciding events"
assert_eq "$(jq -r '.runs[0].plan.steps[0].params.name' <<<"$r")" "site-offline-s1" "alert name"
assert_eq "$(jq -r '.runs[1].plan.steps[1].params.body.ratio' <<<"$r")" "0.5" "the ratio, a number"
# the weekly calibration keeps out of an active rollout's way
echo '[{"kind":"schedule","rollouts":{"active":1,"ids":["ro-1"]}},{"kind":"schedule","rollouts":{"active":0,"ids":[]}}]' >"$T/ticks.json"
r=$(cli -o json playbook test "$PB_DIR/weekly-calibration.yaml" --event "$T/ticks.json") || fail "ticks: $r"
assert_eq "$(jq -c '[.events[].matched]' <<<"$r")" "[false,true]" "no calibration during a rollout"
# the human-readable form says nothing was done
out=$(cli playbook test "$PB_DIR/site-offline.yaml" --event "$T/offline.json")
assert_match "$out" "2 runs would start \(nothing was done\)" "text summary"

# nothing was stored, sent or audited by any of it
assert_eq "$(cli -o json audit list | jq length)" "$audit_before" "no audit entries"
assert_eq "$(cli -o json device commands dev-1 | jq length)" "0" "no commands"

# bad requests
if cli playbook test "$T/storm.yaml" >/dev/null 2>&1; then fail "test without --event accepted"; fi
echo '{"kind":' >"$T/broken.json"
if cli playbook test "$T/storm.yaml" --event "$T/broken.json" >/dev/null 2>&1; then
	fail "broken event file accepted"
fi
r=$(api POST /api/v1/playbooks/test '{"playbook":"name: x","events":{}}')
assert_eq "$(status_of "$r")" "400" "events not an array"
r=$(api POST /api/v1/playbooks/test '{"playbook":"name: x","events":[],"extra":1}')
assert_eq "$(status_of "$r")" "400" "unknown field"
pass

#!/usr/bin/env bash
# make demo: a running control plane on https://127.0.0.1:8443 with three
# local agents enrolled and checking in, each running the reference inference
# module from a signed release and reporting live SLIs against example SLOs.
# `scripts/demo.sh stop` ends it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="$ROOT/build/bin"
D="$ROOT/demo-data"
LISTEN=${FAIRLEAD_DEMO_LISTEN:-127.0.0.1:8443}
URL="https://$LISTEN"

stop() {
	local f
	for f in "$D"/run/*.pid; do
		[ -e "$f" ] || continue
		kill -TERM "$(cat "$f")" 2>/dev/null || true
		rm -f "$f"
	done
}

if [ "${1:-start}" = "stop" ]; then
	stop
	echo "demo stopped (data kept in demo-data/; remove it for a fresh start)"
	exit 0
fi

stop
sleep 0.5
# A demo-data/ from before signed releases has agents that trust no root:
# keep it aside and start fresh.
if [ -f "$D/agents/edge-01/identity.json" ] && [ ! -f "$D/keys/root.json" ]; then
	rm -rf "$D.previous"
	mv "$D" "$D.previous"
	echo "demo-data/ predates signed releases; moved to demo-data.previous/, starting fresh"
fi
mkdir -p "$D/run" "$D/agents"
if [ ! -f "$D/server/fairlead.db" ]; then
	"$BIN/fairleadd" init --data "$D/server" >/dev/null 2>>"$D/demo.log"
fi
CA="$D/server/tls/ca.pem"
TOKEN=$(cat "$D/server/admin.token")

setsid "$BIN/fairleadd" serve --data "$D/server" --listen "$LISTEN" --poll-interval 5 \
	--web "$ROOT/web" >>"$D/fairleadd.log" 2>&1 </dev/null &
echo $! >"$D/run/fairleadd.pid"
for _ in $(seq 1 50); do
	curl -sf --cacert "$CA" "$URL/api/v1/health" >/dev/null 2>&1 && break
	sleep 0.2
done
curl -sf --cacert "$CA" "$URL/api/v1/health" >/dev/null ||
	{ echo "fairleadd did not start; see demo-data/fairleadd.log" >&2; exit 1; }

cli() { "$BIN/fairlead" --server "$URL" --ca "$CA" --token "$TOKEN" "$@"; }
agent() { "$BIN/fairlead-agent" --server "$URL" --ca "$CA" --state "$D/agents/$1" "${@:2}"; }

# The key ceremony, once: a root and a release manager (1 of 1 here; see
# docs/releases.md for k of n), and the anomaly model with its drift baseline.
K="$D/keys"
if [ ! -f "$K/root.json" ]; then
	mkdir -p "$K/model"
	cli key generate --out "$K/root1.key" >/dev/null
	cli key generate --out "$K/rm1.key" >/dev/null
	pub=$(cat "$D/server/keys/server.pub")
	cli root create --out "$K/root.json" --root-key "$K/root1.key" --root-threshold 1 \
		--release-key "$K/rm1.key" --release-threshold 1 --timestamp-pubkey "$pub" \
		--director-pubkey "$pub" --expires 365d >/dev/null
	cli root sign "$K/root.json" --key "$K/root1.key" >/dev/null
	cli root push "$K/root.json" >/dev/null
	"$BIN/fairlead-anomaly" baseline >"$K/baseline.json"
	"$BIN/fairlead-anomaly" model --work-us 800 >"$K/model/model.json"
	cli release create --name anomaly --version 1.0.0 --kind model \
		--artifact "$K/model/model.json" --baseline "$K/baseline.json" \
		--health-cmd /bin/true --health-window 5 --counter 1 --lineage builder=demo \
		--out "$K/anomaly-1.0.0.json" >/dev/null
	cli release sign "$K/anomaly-1.0.0.json" --key "$K/rm1.key" >/dev/null
	cli release push "$K/anomaly-1.0.0.json" --artifact-dir "$K/model" -q >/dev/null
fi

# Two devices by an auto-accept token, one by preauthorization.
if [ ! -f "$D/agents/edge-01/identity.json" ]; then
	tok=$(cli enroll-token create --uses 2 --ttl 1h --label site=berlin --auto-accept)
	agent edge-01 enroll --token "$tok" --id edge-01 --label hw=rpi4 --root "$K/root.json" \
		>/dev/null 2>>"$D/demo.log"
	agent edge-02 enroll --token "$tok" --id edge-02 --label hw=jetson --root "$K/root.json" \
		>/dev/null 2>>"$D/demo.log"
	pub=$(agent edge-03 keygen 2>>"$D/demo.log")
	cli device preauthorize edge-03 --pubkey "$pub" --label site=munich --label hw=rpi4 >/dev/null
	agent edge-03 enroll --id edge-03 --root "$K/root.json" >/dev/null 2>>"$D/demo.log"
	echo '{"sample_rate_hz": 50, "model_threshold": 0.8}' | cli device desire edge-01 --json - >/dev/null
fi
for a in edge-01 edge-02 edge-03; do
	setsid "$BIN/fairlead-agent" --server "$URL" --ca "$CA" --state "$D/agents/$a" run \
		--hw-model "demo-$a" --report-window 10s >>"$D/agent-$a.log" 2>&1 </dev/null &
	echo $! >"$D/run/$a.pid"
done
cli device assign --selector 'site in (berlin,munich)' anomaly@1.0.0 >/dev/null
for f in "$ROOT"/examples/slo/*.json; do cli slo apply "$f" >/dev/null; done

# Each device's inference module runs the model from its installed slot; it
# starts once the agent has committed the release. Write a number to
# demo-data/shift-edge-0N to shift that device's inputs by that many standard
# deviations (drift), 0 to stop.
for a in edge-01 edge-02 edge-03; do
	m="$D/agents/$a/slots/anomaly/current/model.json"
	for _ in $(seq 1 60); do [ -f "$m" ] && break; sleep 0.5; done
	[ -f "$m" ] || { echo "$a did not install anomaly@1.0.0; see demo-data/agent-$a.log" >&2; continue; }
	setsid "$BIN/fairlead-anomaly" --socket "$D/agents/$a/sli.sock" --model "$m" --name anomaly \
		--rate 10 --shift-file "$D/shift-$a" >>"$D/module-$a.log" 2>&1 </dev/null &
	echo $! >"$D/run/module-$a.pid"
done
sleep 2

cat <<MSG

Fairlead demo is running.

  console:      $URL/   (sign in with the admin token; the browser must trust
                demo-data/server/tls/ca.pem, or accept the warning)
  admin token:  demo-data/server/admin.token
  CA to pin:    demo-data/server/tls/ca.pem
  logs:         demo-data/fairleadd.log, demo-data/agent-*.log

Try next:

  export FAIRLEAD_SERVER=$URL
  export FAIRLEAD_CA=$CA
  export FAIRLEAD_TOKEN=\$(cat demo-data/server/admin.token)
  build/bin/fairlead device list
  build/bin/fairlead device list --selector 'site=berlin,hw in (rpi4,jetson)'
  build/bin/fairlead device show edge-01
  build/bin/fairlead device command edge-02 ping
  echo '{"mode":"eco"}' | build/bin/fairlead device desire edge-03 --json -
  build/bin/fairlead device quarantine edge-02
  build/bin/fairlead audit verify
  build/bin/fairlead metrics edge-01 --since 10m
  build/bin/fairlead metrics --cohort site=berlin --release anomaly@1.0.0
  build/bin/fairlead drift anomaly@1.0.0 --since 10m
  build/bin/fairlead slo list
  echo 3 > demo-data/shift-edge-02     # shift edge-02's inputs by 3 standard deviations
  build/bin/fairlead drift anomaly@1.0.0 --cohort hw=jetson --since 2m
  for d in 01 02 03; do echo 3 > demo-data/shift-edge-\$d; done    # the whole fleet drifts:
  build/bin/fairlead slo show anomaly-drift   # burn rates rise at once; it pages once the
  build/bin/fairlead alerts list              # drifted share of the last hour passes 84%
  curl -s --cacert \$FAIRLEAD_CA -H "Authorization: Bearer \$FAIRLEAD_TOKEN" $URL/metrics

Stop it with: make demo-stop
MSG

#!/usr/bin/env bash
# make demo: a running control plane on https://127.0.0.1:8443 with three
# local agents enrolled and checking in. `scripts/demo.sh stop` ends it.
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

# Two devices by an auto-accept token, one by preauthorization.
if [ ! -f "$D/agents/edge-01/identity.json" ]; then
	tok=$(cli enroll-token create --uses 2 --ttl 1h --label site=berlin --auto-accept)
	agent edge-01 enroll --token "$tok" --id edge-01 --label hw=rpi4 >/dev/null 2>>"$D/demo.log"
	agent edge-02 enroll --token "$tok" --id edge-02 --label hw=jetson >/dev/null 2>>"$D/demo.log"
	pub=$(agent edge-03 keygen 2>>"$D/demo.log")
	cli device preauthorize edge-03 --pubkey "$pub" --label site=munich --label hw=rpi4 >/dev/null
	agent edge-03 enroll --id edge-03 >/dev/null 2>>"$D/demo.log"
	echo '{"sample_rate_hz": 50, "model_threshold": 0.8}' | cli device desire edge-01 --json - >/dev/null
fi
for a in edge-01 edge-02 edge-03; do
	setsid "$BIN/fairlead-agent" --server "$URL" --ca "$CA" --state "$D/agents/$a" run \
		--hw-model "demo-$a" >>"$D/agent-$a.log" 2>&1 </dev/null &
	echo $! >"$D/run/$a.pid"
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

Stop it with: make demo-stop
MSG

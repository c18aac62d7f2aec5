#!/usr/bin/env bash
# The benchmark harness keeps working (DESIGN.md: CI runs a small version of
# the benchmarks and asserts no timings). fairlead-sim plays 50 devices that
# enroll by token and 200 preloaded by gen-db against a real fairleadd, then
# with a release assigned to the preloaded ones (downloads, update status,
# failed installs), then a wrong-signature and dropped-connection mix, then
# the baseline server; then the instruments of the hostile-network figure:
# a connection per device and a new connection per poll (--conn-mode), the
# server's CPU time (--server-pid), the delay proxy, the idle-connection tool
# and the verification micro-benchmark;
# only outcomes are checked: statuses, devices seen, counts, the JSON shape.
source "$(dirname "$0")/lib.sh"
SIM="$FL_BIN_DIR/fairlead-sim"
BASE="$FL_BIN_DIR/fairlead-bench-baseline"
CA="$DATA/tls/ca.pem"

init_server
"$SIM" gen-db --db "$DATA/fairlead.db" --count 200 --seed smoke --labels '{"fleet":"pre"}' \
	>"$T/gendb.log" 2>&1 ||
	fail "gen-db: $(cat "$T/gendb.log")"
start_server --rate-anon 0 --rate-device 0
tok=$(new_enroll_token --uses 50 --auto-accept --label fleet=sim) || fail "enroll token"

# a signed release assigned to the 200 preloaded devices
K="$T/keys" B="$T/blob" R="$T/rel"
mkdir -p "$K" "$B" "$R"
cli key generate --out "$K/root.key" >/dev/null && cli key generate --out "$K/rm.key" >/dev/null ||
	fail "keys"
cli root create --out "$R/root.json" --root-key "$K/root.key" --root-threshold 1 \
	--release-key "$K/rm.key" --release-threshold 1 --timestamp-pubkey "$(cat "$DATA/keys/server.pub")" \
	--director-pubkey "$(cat "$DATA/keys/server.pub")" --expires 30d >/dev/null || fail "root create"
cli root sign "$R/root.json" --key "$K/root.key" >/dev/null && cli root push "$R/root.json" >/dev/null ||
	fail "root"
head -c 100000 /dev/urandom >"$B/model.bin"
cli release create --name simmodel --version 1.0.0 --kind model --artifact "$B/model.bin" \
	--counter 1 --out "$R/rel.json" >/dev/null || fail "release create"
cli release sign "$R/rel.json" --key "$K/rm.key" >/dev/null || fail "release sign"
cli release push "$R/rel.json" --artifact-dir "$B" -q >/dev/null 2>"$T/push.err" ||
	fail "push: $(cat "$T/push.err")"
cli device assign --selector fleet=pre simmodel@1.0.0 >/dev/null || fail "assign"

# 1. enrollment with proof of possession, then signed check-ins on schedule
"$SIM" run --server "$URL" --ca "$CA" --preloaded 200 --seed smoke --enroll 50 \
	--enroll-token "$tok" --interval 1 --concurrency 16 --duration 4 --fail-install 25 --label smoke \
	--json --out "$T/run1.json" >"$T/sim1.log" 2>&1 || fail "sim run: $(tail -5 "$T/sim1.log")"
j="$T/run1.json"
jq -e . "$j" >/dev/null || fail "sim output is not JSON"
for f in .label .server .devices.preloaded .devices.enrolled .concurrency .duration_s \
	.total.requests .total.ok .total.errors .total.ok_per_s .total.latency_ms.p50 \
	.total.latency_ms.p90 .total.latency_ms.p99 .by_kind.checkin.requests \
	.by_kind.checkin.statuses .errors .expected.bad_signature_sent .expected.dropped \
	.updates.committed .reports.endpoint .late.max_ms; do
	[ "$(jq "$f | type" "$j")" != '"null"' ] || fail "field $f missing: $(cat "$j")"
done
assert_eq "$(jq .devices.enrolled "$j")" "50" "devices enrolled by token"
assert_eq "$(jq .by_kind.enroll.ok "$j")" "100" "challenge + enroll per device"
assert_eq "$(jq .total.errors "$j")" "0" "errors: $(jq -c .errors "$j") $(grep "fairlead-sim:" "$T/sim1.log")"
n=$(jq .by_kind.checkin.requests "$j")
# How many fit in the 4 s depends on the machine; that every device checked in
# is asserted below (devices seen by the server).
[ "$n" -gt 0 ] || fail "no check-ins"
assert_eq "$(jq .by_kind.checkin.ok "$j")" "$n" "every check-in 2xx"

# every preloaded device downloaded the release and settled it
assert_eq "$(jq .updates.artifacts "$j")" "200" "artifacts downloaded and verified"
assert_eq "$(jq .updates.bad_artifacts "$j")" "0"
assert_eq "$(jq '.updates.committed + .updates.failed' "$j")" "200" "updates settled"
[ "$(jq .updates.failed "$j")" -gt 0 ] || fail "no simulated install failure"
d=$(body_of "$(api GET /api/v1/devices/sim-0000000)")
assert_match "$(jq -r .update.state <<<"$d")" '^(committed|failed)$' "the server got the update status"

# every simulated device is known to the server and was seen
r=$(api GET "/api/v1/devices?limit=1000")
assert_eq "$(status_of "$r")" "200"
seen=$(body_of "$r" | jq '[.devices[] | select(.last_seen != null)] | length')
assert_eq "$seen" "250" "devices seen by the server"
assert_eq "$(body_of "$r" | jq '[.devices[] | select(.id | startswith("enr-"))] | length')" "50"

# 2. a failure mix: wrong signatures get 401, dropped replies do no harm
"$SIM" run --server "$URL" --ca "$CA" --preloaded 200 --seed smoke --interval 0.5 \
	--concurrency 8 --duration 3 --bad-signature 20 --drop 5 --json \
	--out "$T/run2.json" >"$T/sim2.log" 2>&1 || fail "sim mix: $(tail -5 "$T/sim2.log")"
j="$T/run2.json"
bad=$(jq .expected.bad_signature_sent "$j")
[ "$bad" -gt 0 ] || fail "no wrong signatures were sent"
assert_eq "$(jq .expected.bad_signature_401 "$j")" "$bad" "every wrong signature got 401"
assert_eq "$(jq .expected.bad_signature_other "$j")" "0"
[ "$(jq .expected.dropped "$j")" -gt 0 ] || fail "nothing dropped"
assert_eq "$(jq .total.errors "$j")" "0" "errors in the mix: $(jq -c .errors "$j")"
curl -sf --cacert "$CA" "$URL/api/v1/health" >/dev/null || fail "server unhealthy after the mix"

# 3. SLI reports: accepted without errors, and their inferences stored
"$SIM" run --server "$URL" --ca "$CA" --preloaded 20 --seed smoke --report-rate 1 \
	--report-inferences 100 --duration 1 --json --out "$T/run3.json" >"$T/sim3.log" 2>&1 ||
	fail "sim reports: $(tail -5 "$T/sim3.log")"
assert_eq "$(jq -r .reports.endpoint "$T/run3.json")" "available" "reports endpoint"
assert_eq "$(jq .total.errors "$T/run3.json")" "0" "report errors: $(jq -c .errors "$T/run3.json")"
sent=$(jq .reports.samples "$T/run3.json")
[ "$sent" -gt 0 ] || fail "no samples sent"
# the simulator counts what it sent after its warm-up; the store has those
# and the warm-up's too (windows spread over the last day)
stored() { [ "$(api GET '/api/v1/sli?since=3d' | sed '1s/^[0-9]* //' | jq .summary.inferences)" -ge "$sent" ]; }
wait_for "the $sent inferences reported to be stored" 20 stored

# 4. fetch: plain downloads, counted
"$SIM" fetch --url "$URL/api/v1/health" --ca "$CA" --count 5 --concurrency 2 --json \
	>"$T/fetch.json" 2>"$T/fetch.log" || fail "fetch: $(cat "$T/fetch.log")"
assert_eq "$(jq .ok "$T/fetch.json")" "5" "fetched"
stop_server

# 5. the baseline server answers the same devices, and refuses wrong signatures
# a free port may be taken by another process's client socket before the
# baseline binds it: it then exits at once, and another port is tried
up=0
for _ in 1 2 3; do
	BPORT=$(free_port)
	"$BASE" --data "$DATA" --listen "127.0.0.1:$BPORT" --count 200 --seed smoke \
		>"$T/baseline.log" 2>&1 &
	BPID=$!
	PIDS+=($BPID)
	for _ in $(seq 1 100); do
		curl -sf --cacert "$CA" "https://127.0.0.1:$BPORT/api/v1/health" >/dev/null 2>&1 && up=1 && break 2
		kill -0 $BPID 2>/dev/null || continue 2
		sleep 0.1
	done
	break
done
[ $up = 1 ] || fail "baseline server not healthy: $(tail -3 "$T/baseline.log")"
"$SIM" run --server "https://127.0.0.1:$BPORT" --ca "$CA" --preloaded 200 --seed smoke \
	--concurrency 8 --duration 2 --bad-signature 10 --json --out "$T/base.json" \
	>"$T/simb.log" 2>&1 || fail "sim vs baseline: $(tail -5 "$T/simb.log")"
assert_eq "$(jq .total.errors "$T/base.json")" "0" "baseline errors: $(jq -c .errors "$T/base.json")"
[ "$(jq .by_kind.checkin.ok "$T/base.json")" -gt 0 ] || fail "no check-ins on the baseline"
assert_eq "$(jq .expected.bad_signature_401 "$T/base.json")" \
	"$(jq .expected.bad_signature_sent "$T/base.json")" "baseline refuses wrong signatures"

# 6. a connection per device: 20 devices, at most 20 connections, all kept
"$SIM" run --server "https://127.0.0.1:$BPORT" --ca "$CA" --preloaded 20 --seed smoke \
	--concurrency 4 --duration 2 --conn-mode device --server-pid "$BPID" --json \
	--out "$T/dev.json" >"$T/simd.log" 2>&1 || fail "sim device mode: $(tail -5 "$T/simd.log")"
j="$T/dev.json"
assert_eq "$(jq -r .conn_mode "$j")" "device"
assert_eq "$(jq .total.errors "$j")" "0" "device mode errors: $(jq -c .errors "$j")"
n=$(jq .by_kind.checkin.ok "$j")
[ "$n" -gt 20 ] || fail "only $n check-ins from 20 devices"
[ "$(jq .connections_opened "$j")" -le 20 ] || fail "more connections than devices: $(jq .connections_opened "$j")"
[ "$(jq '.server_cpu.cpu_s | type' "$j")" = '"number"' ] || fail "no server CPU: $(jq -c .server_cpu "$j")"
assert_eq "$(jq .server_cpu.pid "$j")" "$BPID"
for f in .shed.with_retry_after .shed.without_retry_after .after_window.timeout; do
	[ "$(jq "$f | type" "$j")" = '"number"' ] || fail "field $f missing"
done

# 7. a new connection per poll: one per request
"$SIM" run --server "https://127.0.0.1:$BPORT" --ca "$CA" --preloaded 10 --seed smoke \
	--concurrency 2 --duration 1 --conn-mode new --json --out "$T/new.json" >"$T/simn.log" 2>&1 ||
	fail "sim new mode: $(tail -5 "$T/simn.log")"
assert_eq "$(jq .total.errors "$T/new.json")" "0" "new mode errors: $(jq -c .errors "$T/new.json")"
[ "$(jq .total.ok "$T/new.json")" -gt 0 ] || fail "no check-ins in new mode"
[ "$(jq '.connections_opened >= .total.requests' "$T/new.json")" = true ] ||
	fail "requests reused connections: $(jq -c '{connections_opened, total}' "$T/new.json")"

# 8. through the delay proxy: every request answered, every byte passed on
up=0
for _ in 1 2 3; do # another port when this one was taken (as for the baseline)
	PPORT=$(free_port)
	"$FL_BIN_DIR/fairlead-bench-proxy" --listen "127.0.0.1:$PPORT" --upstream "127.0.0.1:$BPORT" \
		--rtt-ms 100 --stats "$T/proxy.json" >"$T/proxy.log" 2>&1 &
	PXPID=$!
	PIDS+=($PXPID)
	for _ in $(seq 1 100); do
		curl -sf --cacert "$CA" "https://127.0.0.1:$PPORT/api/v1/health" >/dev/null 2>&1 && up=1 && break 2
		kill -0 $PXPID 2>/dev/null || continue 2
		sleep 0.1
	done
	break
done
[ $up = 1 ] || fail "delay proxy not passing requests: $(tail -3 "$T/proxy.log")"
"$SIM" run --server "https://127.0.0.1:$PPORT" --ca "$CA" --preloaded 20 --seed smoke \
	--concurrency 20 --duration 2 --conn-mode device --json --out "$T/slow.json" \
	>"$T/sims.log" 2>&1 || fail "sim via proxy: $(tail -5 "$T/sims.log")"
assert_eq "$(jq .total.errors "$T/slow.json")" "0" "errors via proxy: $(jq -c .errors "$T/slow.json")"
[ "$(jq .by_kind.checkin.ok "$T/slow.json")" -gt 0 ] || fail "no check-ins via the proxy"
kill -TERM $PXPID && wait $PXPID || fail "proxy exit status"
jq -e '.refused == 0 and .accepted >= 21 and .bytes_up > 0 and .bytes_down > 0' "$T/proxy.json" \
	>/dev/null || fail "proxy stats: $(cat "$T/proxy.json")"

# 9. idle and slow connections: held, and the server still answers
python3 "$FL_SOURCE_DIR/bench/idle/idle.py" --port "$BPORT" --ca "$CA" --server-pid "$BPID" \
	--idle 50 --dribble 5 --hold 1 --out "$T/idle.json" >"$T/idle.log" 2>&1 ||
	fail "idle tool: $(tail -5 "$T/idle.log")"
assert_eq "$(jq .idle_connected "$T/idle.json")" "50" "idle connections"
assert_eq "$(jq .dribble_connected "$T/idle.json")" "5" "slow connections"
assert_eq "$(jq .health_ok "$T/idle.json")" "true" "health while held: $(cat "$T/idle.json")"
[ "$(jq '.rss_per_idle_kib | type' "$T/idle.json")" = '"number"' ] || fail "no RSS figure"

# 10. the unit of the CPU figure
"$BASE" --verify-bench 200 >"$T/verify.json" || fail "verify bench"
jq -e '.ed25519_verify_us > 0 and .httpsig_verify_us > 0' "$T/verify.json" >/dev/null ||
	fail "verify bench output: $(cat "$T/verify.json")"
# the playbook figure's instrument: every event evaluated, the probe's action seen
"$FL_BIN_DIR/fairlead-bench-playbooks" --playbooks 8 --events 400 --devices 50 --trials 2 \
	--dir "$(mktemp -d "$T/pb.XXXXXX")" >"$T/pb.json" 2>"$T/pb.log" || fail "bench playbooks: $(tail -3 "$T/pb.log")"
jq -e '.events == 400 and .playbooks == 9 and (.events_per_s > 0) and (.first_action_ms.max > 0)' \
	"$T/pb.json" >/dev/null || fail "bench playbooks output: $(cat "$T/pb.json")"
pass

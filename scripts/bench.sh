#!/usr/bin/env bash
# make bench: Fairlead's figures, each against a baseline measured
# in the same run, written to bench/results/latest.json and latest.md.
#
#   scripts/bench.sh            the full run (10k, 100k, 1M devices; ~5 min on 2 cores)
#   FL_BENCH_QUICK=1 scripts/bench.sh   small sizes and short runs, to try the harness (~4 min)
#
# Environment: BUILD (default build), FL_BENCH_DURATION (seconds per rate
# measurement, default 15), FL_BENCH_ACTIVE (devices that play, default 10000),
# FL_BENCH_OUT (results directory, default bench/results).
# Figure 7 (a hostile network: a connection per device, new connections,
# 100 ms round trips, idle and slow connections, overload) runs against any
# fairleadd: what the server does not support is reported n/a, not fatal.
# Only loopback addresses are used; every run is bounded in time.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
BIN="$ROOT/$BUILD/bin"
OUT=${FL_BENCH_OUT:-$ROOT/bench/results}
QUICK=${FL_BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	SIZES=(1000 5000 20000)
	ACTIVE=${FL_BENCH_ACTIVE:-1000}
	DUR=${FL_BENCH_DURATION:-4}
	BLOB_MIB=8
	FETCHES=8
	GATES_N=10000
	H_DEV=300       # 7a: devices, each with its own connection
	B_INFLIGHT=200  # 7b: devices in flight through the slow network
	IDLE_N=2000     # 7d: idle connections
	DRIB_N=200      # 7d: connections dribbling headers
	IDLE_HOLD=4     # 7d: seconds they are held
	OVER_N=400      # 7e: SLI reports in flight against a queue of a quarter of that
	H_WARM=3
else
	SIZES=(10000 100000 1000000)
	ACTIVE=${FL_BENCH_ACTIVE:-10000}
	DUR=${FL_BENCH_DURATION:-15}
	BLOB_MIB=64
	FETCHES=64
	GATES_N=100000
	H_DEV=5000
	B_INFLIGHT=1000
	IDLE_N=10000
	DRIB_N=1000
	IDLE_HOLD=10
	OVER_N=1000
	H_WARM=5
fi
RTT_MS=100
KA_MS=60000       # 7a-7c: keep-alive long enough for a device's next poll
H_TIMEOUT=10000   # 7: client timeout per request, ms
# thousands of connections: the client, the proxy and the servers need descriptors
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
WARM=2
CONC=16
THREADS=16
SEED=bench
T0=$(date +%s)

say() { echo "bench: $*" >&2; }
die() {
	say "FAILED: $*"
	exit 1
}

W=$(mktemp -d "${TMPDIR:-/tmp}/flbench.XXXXXX")
chmod 755 "$W"
export HOME="$W/home" XDG_STATE_HOME="$W/state"
mkdir -p "$HOME" "$W/r"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
# below the ephemeral range: thousands of client sockets hold ports above it
EPH_LO=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$EPH_LO" -gt 22000 ] 2>/dev/null || EPH_LO=60000
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % (EPH_LO - 20000)))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || {
			echo "$p"
			return
		}
	done
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
wait_healthy() { # URL PID SECONDS
	local end=$((SECONDS + $3))
	while ! curl -sf --cacert "$CA" "$1/api/v1/health" >/dev/null 2>&1; do
		kill -0 "$2" 2>/dev/null || die "server exited at start"
		[ $SECONDS -lt $end ] || die "server not healthy after $3 s"
		sleep 0.05
	done
}
# CPU ticks (user + system) of processes: the server side of a measurement
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
stop_pid() { # PID
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# ---- build ----
say "building ($BUILD)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target fairleadd fairlead fairlead-agent fairlead-sim \
	fairlead-bench-baseline fairlead-bench-gates fairlead-bench-proxy fairlead-bench-playbooks \
	>"$W/build.log" 2>&1 || {
	tail -30 "$W/build.log" >&2
	die "build"
}
SIM="$BIN/fairlead-sim"

# ---- the machine ----
jq -n --arg nproc "$(nproc)" \
	--arg cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
	--arg mem "$(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)" \
	--arg kernel "$(uname -sr)" --arg os "$(. /etc/os-release && echo "$PRETTY_NAME")" \
	--arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	--arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
	'{nproc: ($nproc|tonumber), cpu: $cpu, memory: $mem, kernel: $kernel, os: $os,
	  commit: $commit, date: $date, load_before: $load}' >"$W/r/machine.json"

# ---- servers ----
FLD_PID="" URL=""
start_fld() { # DATA LABEL [extra serve options]
	local port t0 t1 data=$1 label=$2
	shift 2
	port=$(free_port)
	URL="https://127.0.0.1:$port"
	t0=$(now_ms)
	"$BIN/fairleadd" serve --data "$data" --listen "127.0.0.1:$port" --threads $THREADS \
		--poll-interval 1 --rate-device 0 --rate-anon 0 --rate-token 0 --log-level warn "$@" \
		>>"$W/fairleadd-$label.log" 2>&1 &
	FLD_PID=$!
	PIDS+=("$FLD_PID")
	wait_healthy "$URL" "$FLD_PID" 300
	t1=$(now_ms)
	sleep 1
	jq -n --argjson ms $((t1 - t0)) --argjson rss "$(rss_kb "$FLD_PID")" \
		'{startup_ms: $ms, rss_kib: $rss}' >"$W/r/start-$label.json"
	export FAIRLEAD_SERVER="$URL"
}

# busy and total jiffies of the whole machine
cpu_jiffies() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
sim_rate() { # URL LABEL SERVER-PID [extra]
	local url=$1 label=$2 spid=$3 b0 t0 b1 t1 k0 k1
	shift 3
	read -r b0 t0 < <(cpu_jiffies)
	k0=$(ticks "$spid")
	"$SIM" run --server "$url" --ca "$CA" --preloaded "$ACTIVE" --seed $SEED \
		--concurrency $CONC --duration "$DUR" --warmup $WARM --label "$label" --json \
		--out "$W/r/sim-$label.json" "$@" >/dev/null 2>>"$W/sim.log" || die "sim $label"
	read -r b1 t1 < <(cpu_jiffies)
	k1=$(ticks "$spid")
	# what other processes took of the machine meanwhile (the machine may be shared)
	jq --argjson busy $((b1 - b0)) --argjson total $((t1 - t0)) --argjson srv $((k1 - k0)) \
		--argjson tck "$(getconf CLK_TCK)" \
		'. + {server_cpu_s: ($srv / $tck), other_cpu_share:
		  ((($busy - $srv - .client_cpu_s * $tck) / $total) | if . < 0 then 0 else . * 100 | round / 100 end)}' \
		"$W/r/sim-$label.json" >"$W/r/s.tmp" && mv "$W/r/s.tmp" "$W/r/sim-$label.json"
	say "$label: $(jq -r '"\(.total.ok_per_s|floor)/s p50 \(.total.latency_ms.p50) ms p99 \(.total.latency_ms.p99) ms errors \(.total.errors) other load \(.other_cpu_share)"' "$W/r/sim-$label.json")"
}

BL_PID="" BL_URL=""
start_baseline() { # [extra options]
	local port
	port=$(free_port)
	BL_URL="https://127.0.0.1:$port"
	# its own thread count: an epoll pool of one thread per core, the design
	# fairleadd's HTTP layer moves to
	"$BIN/fairlead-bench-baseline" --data "$DATA" --listen "127.0.0.1:$port" --count "$ACTIVE" \
		--seed $SEED "$@" >>"$W/baseline.log" 2>&1 &
	BL_PID=$!
	PIDS+=("$BL_PID")
	wait_healthy "$BL_URL" "$BL_PID" 60
}
baseline_run() { # LABEL
	start_baseline
	sim_rate "$BL_URL" "$1" "$BL_PID"
	stop_pid "$BL_PID"
}

# ---- figure 7: a hostile network ----
# A run of the simulator that may fail without ending the bench: its result,
# or {"na": why} in sim-LABEL.json.
sim_try() { # URL LABEL SERVER-PID [extra sim options]
	local url=$1 label=$2 spid=$3
	shift 3
	if "$SIM" run --server "$url" --ca "$CA" --seed $SEED --preloaded "$ACTIVE" \
		--concurrency $CONC --duration "$DUR" --warmup "$H_WARM" --timeout-ms $H_TIMEOUT \
		--label "$label" --json --out "$W/r/sim-$label.json" --server-pid "$spid" "$@" \
		>/dev/null 2>>"$W/sim.log" && [ -s "$W/r/sim-$label.json" ]; then
		say "$label: $(jq -r '"\(.total.ok_per_s|floor)/s p50 \(.total.latency_ms.p50) ms p99 \(.total.latency_ms.p99) ms errors \(.total.errors) new connections \(.connections_opened) server CPU/check-in \(.server_cpu.cpu_us_per_checkin // "n/a") us"' "$W/r/sim-$label.json")"
	else
		jq -n --arg l "$label" '{na: "fairlead-sim failed (see its log)", label: $l}' \
			>"$W/r/sim-$label.json"
		say "$label: n/a (fairlead-sim failed)"
	fi
}
# fairleadd options the server may not have yet (detected from its help)
fld_has() { "$BIN/fairleadd" serve --help 2>&1 | grep -q -- "$1"; }
idle_try() { # LABEL SERVER-URL SERVER-PID
	local label=$1 url=$2 spid=$3 ipid
	rm -f "$W/idle-$label.ready"
	python3 "$ROOT/bench/idle/idle.py" --port "${url##*:}" --ca "$CA" --server-pid "$spid" \
		--idle $IDLE_N --dribble $DRIB_N --hold $IDLE_HOLD --ready "$W/idle-$label.ready" \
		--out "$W/r/idle-$label.json" >/dev/null 2>>"$W/idle.log" &
	ipid=$!
	PIDS+=("$ipid")
	for _ in $(seq 1 600); do
		[ -e "$W/idle-$label.ready" ] || ! kill -0 "$ipid" 2>/dev/null && break
		sleep 0.1
	done
	# a signed check-in while they are held: a few devices, new connections
	sim_try "$url" "idle-checkin-$label" "$spid" --preloaded 4 --concurrency 2 --duration 1 \
		--warmup 0 --conn-mode new
	wait "$ipid" 2>/dev/null || true
	[ -s "$W/r/idle-$label.json" ] ||
		jq -n '{na: "the idle-connection tool failed (see its log)"}' >"$W/r/idle-$label.json"
	say "idle $label: $(jq -c '{idle_connected, idle_still_open, rss_per_idle_kib, dribble_still_open, health_ok, na}' "$W/r/idle-$label.json")"
}
verify_once() {
	"$BIN/fairlead-bench-baseline" --verify-bench 20000 >>"$W/r/verify-all.json" 2>>"$W/baseline.log" || true
	jq -s '[.[] | select(.ed25519_verify_us)] as $m
	  | if ($m | length) == 0 then {na: "verify bench failed"} else
	    def med(f): [$m[] | f] | sort | .[(length - 1) / 2 | floor];
	    {ed25519_verify_us: med(.ed25519_verify_us), httpsig_verify_us: med(.httpsig_verify_us),
	     samples_us: [$m[] | .ed25519_verify_us]} end' "$W/r/verify-all.json" >"$W/r/verify.json"
}
hostile_figures() {
	local fa=() fo=() fq=false ppid
	say "figure 7: a hostile network (in flight $B_INFLIGHT, RTT $RTT_MS ms, $IDLE_N idle, $DRIB_N slow)"
	# one verification's CPU, measured beside each CPU-per-check-in run (7c):
	# on a shared or virtual machine it drifts by a quarter within minutes,
	# so the figure divides by the median of the measurements around them
	: >"$W/r/verify-all.json"
	verify_once
	if fld_has --max-connections; then
		fa=(--max-connections 20000)
	fi
	# past capacity: four times as many requests in flight as the server
	# queues for its workers
	if fld_has --queue-max; then
		fo=(--queue-max $((OVER_N / 4)))
		fq=true
	fi
	for srv in fairleadd baseline; do
		if [ $srv = fairleadd ]; then
			start_fld "$DATA" h1 --keepalive-ms $KA_MS "${fa[@]}"
			url=$URL spid=$FLD_PID
		else
			start_baseline --keepalive-ms $KA_MS --max-connections 20000
			url=$BL_URL spid=$BL_PID
		fi
		# 7a, 7c: the same client as figure 1, every device with its own connection
		# kept alive, then with a new connection per poll (resumed TLS session)
		sim_try "$url" "h-device-$srv" "$spid" --preloaded $H_DEV --conn-mode device
		sim_try "$url" "h-new-$srv" "$spid" --preloaded $H_DEV --conn-mode new
		# 7b: B_INFLIGHT devices in flight on loopback, then through a 100 ms round trip
		sim_try "$url" "h-loop-$srv" "$spid" --preloaded $B_INFLIGHT --concurrency $B_INFLIGHT \
			--conn-mode device
		verify_once
		pport=$(free_port)
		"$BIN/fairlead-bench-proxy" --listen "127.0.0.1:$pport" --upstream "${url#https://}" \
			--rtt-ms $RTT_MS --stats "$W/r/proxy-$srv.json" >>"$W/proxy.log" 2>&1 &
		ppid=$!
		PIDS+=("$ppid")
		for _ in $(seq 1 100); do
			(exec 3<>"/dev/tcp/127.0.0.1/$pport") 2>/dev/null && break
			sleep 0.05
		done
		sim_try "https://127.0.0.1:$pport" "h-slow-$srv" "$spid" --preloaded $B_INFLIGHT \
			--concurrency $B_INFLIGHT --conn-mode device
		stop_pid "$ppid"
		[ $srv = fairleadd ] && stop_pid "$FLD_PID" || stop_pid "$BL_PID"
		# 7d: idle and slow connections against the server's own defaults
		# (fairleadd with its deadlines past the hold: the figure measures what
		# holding costs; closing at the deadlines is it_hostile_conns's)
		if [ $srv = fairleadd ]; then
			fd=()
			fld_has --header-timeout-ms && fd=(--keepalive-ms 60000 --header-timeout-ms 60000)
			start_fld "$DATA" h2 "${fa[@]}" "${fd[@]}"
			idle_try fairleadd "$URL" "$FLD_PID"
			stop_pid "$FLD_PID"
		else
			start_baseline
			idle_try baseline "$BL_URL" "$BL_PID"
			stop_pid "$BL_PID"
		fi
	done
	# 7e: overload, more in flight than the server's workers and queue hold.
	# SLI reports: they go through the workers (check-ins that cannot block
	# are answered on the event loop, which has no queue to overflow).
	start_fld "$DATA" h3 "${fa[@]}" "${fo[@]}"
	sim_try "$URL" "h-over" "$FLD_PID" --preloaded $OVER_N --concurrency $OVER_N --conn-mode device \
		--report-rate 1
	stop_pid "$FLD_PID"
	jq -n --argjson fa "$([ ${#fa[@]} -gt 0 ] && echo true || echo false)" \
		--argjson rtt $RTT_MS --argjson inflight $B_INFLIGHT --argjson hdev $H_DEV \
		--argjson over $OVER_N --argjson fq $fq --argjson ka $KA_MS --argjson idle $IDLE_N --argjson drib $DRIB_N \
		--slurpfile v "$W/r/verify.json" \
		--slurpfile fd "$W/r/sim-h-device-fairleadd.json" --slurpfile bd "$W/r/sim-h-device-baseline.json" \
		--slurpfile fn "$W/r/sim-h-new-fairleadd.json" --slurpfile bn "$W/r/sim-h-new-baseline.json" \
		--slurpfile fl "$W/r/sim-h-loop-fairleadd.json" --slurpfile bl "$W/r/sim-h-loop-baseline.json" \
		--slurpfile fs "$W/r/sim-h-slow-fairleadd.json" --slurpfile bs "$W/r/sim-h-slow-baseline.json" \
		--slurpfile fi "$W/r/idle-fairleadd.json" --slurpfile bi "$W/r/idle-baseline.json" \
		--slurpfile fic "$W/r/sim-idle-checkin-fairleadd.json" \
		--slurpfile bic "$W/r/sim-idle-checkin-baseline.json" \
		--slurpfile ov "$W/r/sim-h-over.json" '
	def r2: if . == null then null else . * 100 | round / 100 end;
	def run: if .na then {na} else {ok_per_s: (.total.ok_per_s | r2), p50_ms: .total.latency_ms.p50,
	  p99_ms: .total.latency_ms.p99, errors: .total.errors, connections_opened,
	  io_retries: .expected.io_retries,
	  server_cpu_us_per_checkin: (.server_cpu.cpu_us_per_checkin | r2)} end;
	def share(a; b): if (a.ok_per_s // null) == null or (b.ok_per_s // 0) == 0 then null else (a.ok_per_s / b.ok_per_s | r2) end;
	def slow(l; s): if l.na or s.na then {na: "a run failed", loopback: (l | run), slow: (s | run)} else
	  ([($inflight * 1000 / $rtt), l.total.ok_per_s] | min) as $bound
	  | {loopback: (l | run), slow: (s | run), bound_per_s: ($bound | r2),
	     share_of_bound: (s.total.ok_per_s / $bound | r2), met: (s.total.ok_per_s >= 0.8 * $bound)} end;
	def idle(i; c): if i.na then {na: i.na} else
	  (i + {checkin_ok: (if c.na then false else (c.by_kind.checkin.ok // 0) > 0 and c.total.errors == 0 end)})
	  | . + {met: ((.rss_per_idle_kib // 1e9) < 64 and .idle_still_open == .idle_connected
	      and .health_ok and .checkin_ok)} end;
	($fd[0] | run) as $fdr | ($bd[0] | run) as $bdr
	# CPU per check-in on kept-alive connections: the 7b loopback run (every
	# device in flight), else the 7a one
	| ((($fl[0] | run | .server_cpu_us_per_checkin) // $fdr.server_cpu_us_per_checkin)) as $fcpu
	| ((($bl[0] | run | .server_cpu_us_per_checkin) // $bdr.server_cpu_us_per_checkin)) as $bcpu
	| {
	  settings: {devices_own_connection: $hdev, in_flight_slow: $inflight, rtt_ms: $rtt,
	    keepalive_ms: $ka, idle_connections: $idle, dribbling_connections: $drib,
	    overload_in_flight: $over, fairleadd_max_connections_flag: $fa,
	    fairleadd_queue_max: (if $fq then ($over / 4 | floor) else null end)},
	  keepalive_per_device: {goal: "as figure 1: fairleadd >= 70% of the baseline",
	    fairleadd: $fdr, baseline: $bdr, share_of_baseline: share($fdr; $bdr),
	    met: ((share($fdr; $bdr) // 0) >= 0.7)},
	  new_connection_per_poll: {goal: "as figure 1: fairleadd >= 70% of the baseline",
	    fairleadd: ($fn[0] | run), baseline: ($bn[0] | run),
	    share_of_baseline: share($fn[0] | run; $bn[0] | run),
	    met: ((share($fn[0] | run; $bn[0] | run) // 0) >= 0.7)},
	  slow_network: {goal: ">= 80% of min(in flight / RTT, the loopback rate of the same run)",
	    fairleadd: slow($fl[0]; $fs[0]), baseline: slow($bl[0]; $bs[0])},
	  cpu_per_checkin: {goal: "fairleadd <= 2 Ed25519 verifications per signed check-in",
	    method: "server utime+stime over the measured window / 2xx check-ins; kept-alive connection per device, every device in flight (7b loopback run); one verification: the median of fairlead-bench-baseline --verify-bench before the figure and after each loopback run",
	    ed25519_verify_us: ($v[0].ed25519_verify_us // null), httpsig_verify_us: ($v[0].httpsig_verify_us // null),
	    ed25519_verify_samples_us: ($v[0].samples_us // null),
	    fairleadd_us: $fcpu, baseline_us: $bcpu,
	    fairleadd_new_connection_us: ($fn[0] | run | .server_cpu_us_per_checkin),
	    baseline_new_connection_us: ($bn[0] | run | .server_cpu_us_per_checkin),
	    verifications: (if $fcpu and $v[0].ed25519_verify_us then ($fcpu / $v[0].ed25519_verify_us | r2) else null end),
	    baseline_verifications: (if $bcpu and $v[0].ed25519_verify_us then ($bcpu / $v[0].ed25519_verify_us | r2) else null end),
	    met: (if $fcpu and $v[0].ed25519_verify_us then $fcpu <= 2 * $v[0].ed25519_verify_us else false end)},
	  idle_connections: {goal: "< 64 KiB RSS per idle connection, all kept, /health and a check-in still answered",
	    fairleadd: idle($fi[0]; $fic[0]), baseline: idle($bi[0]; $bic[0])},
	  overload: {goal: "sheds with 503 and Retry-After, no client timeouts",
	    result: (if $ov[0].na then {na: $ov[0].na} else
	      ($ov[0] | {ok_per_s: (.total.ok_per_s | r2), ok: .total.ok,
	        shed_503_retry_after: .shed.with_retry_after, shed_503_plain: .shed.without_retry_after,
	        timeouts: ((.by_kind.checkin.transport.timeout // 0) + .after_window.timeout),
	        other_transport_errors: ((([.by_kind.checkin.transport // {} | to_entries[] | select(.key != "timeout") | .value] | add) // 0)
	          + .after_window.other_transport),
	        io_retries: .expected.io_retries}) end),
	    met: (if $ov[0].na then false else
	      (($ov[0].by_kind.checkin.transport // {}) | length) == 0 and $ov[0].after_window.timeout == 0
	      and $ov[0].after_window.other_transport == 0 and $ov[0].shed.without_retry_after == 0 end)}
	}' >"$W/r/hostile.json"
}

# every SQLite file of the data directory (a store may keep series apart)
db_bytes() { find "$DATA" -maxdepth 1 -name '*.db*' -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }

# 0 devices: the memory floor
D0="$W/data0"
"$BIN/fairleadd" init --data "$D0" >/dev/null 2>&1 || die "init"
CA="$D0/tls/ca.pem"
start_fld "$D0" 0
stop_pid "$FLD_PID"

DATA="$W/data"
"$BIN/fairleadd" init --data "$DATA" >/dev/null 2>&1 || die "init"
CA="$DATA/tls/ca.pem"
export FAIRLEAD_CA="$CA" FAIRLEAD_TOKEN
FAIRLEAD_TOKEN=$(cat "$DATA/admin.token")
cli() { "$BIN/fairlead" "$@"; }

prev=0
for n in "${SIZES[@]}"; do
	t0=$(now_ms)
	"$SIM" gen-db --db "$DATA/fairlead.db" --seed $SEED --first $prev --count $((n - prev)) \
		>/dev/null 2>"$W/gendb.log" || die "gen-db: $(cat "$W/gendb.log")"
	say "registered $n devices (+$((n - prev)) in $(($(now_ms) - t0)) ms)"
	prev=$n
	# the baseline right before each size: the machine may be shared, and a
	# ratio to a neighbouring measurement holds where absolute rates drift
	say "figure 1: baseline server"
	baseline_run "baseline-$n"
	start_fld "$DATA" "$n"
	say "fairleadd with $n devices: $(jq -c . "$W/r/start-$n.json")"
	say "figure 1: signed check-ins, $n registered, $ACTIVE playing"
	sim_rate "$URL" "checkin-$n" "$FLD_PID"
	if [ "$n" = "${SIZES[0]}" ]; then
		# ---- figure 5: artifact downloads, fairleadd against nginx ----
		say "figure 5: artifact download vs nginx"
		K="$W/keys" B="$W/blob" R="$W/rel"
		mkdir -p "$K" "$B" "$R"
		cli key generate --out "$K/root.key" >/dev/null
		cli key generate --out "$K/rm.key" >/dev/null
		cli root create --out "$R/root.json" --root-key "$K/root.key" --root-threshold 1 \
			--release-key "$K/rm.key" --release-threshold 1 \
			--timestamp-pubkey "$(cat "$DATA/keys/server.pub")" \
			--director-pubkey "$(cat "$DATA/keys/server.pub")" --expires 30d >/dev/null
		cli root sign "$R/root.json" --key "$K/root.key" >/dev/null
		cli root push "$R/root.json" >/dev/null
		head -c $((BLOB_MIB * 1048576)) /dev/urandom >"$B/blob.bin"
		cli release create --name benchblob --version 1.0.0 --kind model \
			--artifact "$B/blob.bin" --counter 1 --out "$R/rel.json" >/dev/null
		cli release sign "$R/rel.json" --key "$K/rm.key" >/dev/null
		cli release push "$R/rel.json" --artifact-dir "$B" -q >/dev/null
		cli device assign sim-0000000 benchblob@1.0.0 >/dev/null
		SHA=$(sha256sum "$B/blob.bin" | cut -d' ' -f1)
		k0=$(ticks "$FLD_PID")
		"$SIM" fetch --url "$URL/api/v1/device/artifacts/$SHA" --ca "$CA" --seed $SEED \
			--index 0 --count $FETCHES --concurrency 4 --label fairleadd \
			--out "$W/r/fetch-fairleadd.json" >/dev/null 2>>"$W/sim.log" ||
			die "fetch from fairleadd"
		echo $(($(ticks "$FLD_PID") - k0)) >"$W/r/ticks-fairleadd"
		mkdir -p "$W/nginx/www" "$W/nginx/logs"
		chmod 755 "$W/nginx" "$W/nginx/www"
		cp "$B/blob.bin" "$W/nginx/www/blob.bin"
		chmod 644 "$W/nginx/www/blob.bin"
		NPORT=$(free_port)
		cat >"$W/nginx/nginx.conf" <<NGX
worker_processes auto;
pid $W/nginx/nginx.pid;
error_log $W/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	default_type application/octet-stream;
	sendfile on;
	client_body_temp_path $W/nginx/tmp-body;
	proxy_temp_path $W/nginx/tmp-proxy;
	fastcgi_temp_path $W/nginx/tmp-fcgi;
	uwsgi_temp_path $W/nginx/tmp-uwsgi;
	scgi_temp_path $W/nginx/tmp-scgi;
	server {
		listen 127.0.0.1:$NPORT ssl;
		ssl_certificate $DATA/tls/server.pem;
		ssl_certificate_key $DATA/tls/server.pem;
		ssl_protocols TLSv1.2 TLSv1.3;
		root $W/nginx/www;
	}
}
NGX
		NGINX=$(command -v nginx || echo /usr/sbin/nginx)
		"$NGINX" -c "$W/nginx/nginx.conf" -p "$W/nginx" -g 'daemon off;' \
			>"$W/nginx/logs/stdout.log" 2>&1 &
		NGX_PID=$!
		PIDS+=("$NGX_PID")
		for _ in $(seq 1 100); do
			curl -sf -o /dev/null --cacert "$CA" -r 0-0 "https://127.0.0.1:$NPORT/blob.bin" && break
			sleep 0.05
		done
		NGX_ALL=("$NGX_PID" $(pgrep -P "$NGX_PID" || true))
		k0=$(ticks "${NGX_ALL[@]}")
		"$SIM" fetch --url "https://127.0.0.1:$NPORT/blob.bin" --ca "$CA" --count $FETCHES \
			--concurrency 4 --label nginx --out "$W/r/fetch-nginx.json" >/dev/null \
			2>>"$W/sim.log" || die "fetch from nginx: $(cat "$W/nginx/logs/error.log")"
		echo $(($(ticks "${NGX_ALL[@]}") - k0)) >"$W/r/ticks-nginx"
		for x in fairleadd nginx; do
			jq --argjson t "$(cat "$W/r/ticks-$x")" --argjson tck "$(getconf CLK_TCK)" \
				'. + {server_cpu_ms_per_mib: ($t * 1000 / $tck / (.bytes / 1048576))}' \
				"$W/r/fetch-$x.json" >"$W/r/f.tmp" && mv "$W/r/f.tmp" "$W/r/fetch-$x.json"
		done
		stop_pid "$NGX_PID"
		say "fairleadd $(jq .mib_per_s "$W/r/fetch-fairleadd.json") MiB/s, nginx $(jq .mib_per_s "$W/r/fetch-nginx.json") MiB/s"

		# ---- figure 3: the agent ----
		say "figure 3: agent footprint"
		AG="$W/agent"
		tok=$(cli enroll-token create --uses 1 --auto-accept)
		"$BIN/fairlead-agent" --server "$URL" --ca "$CA" --state "$AG" enroll --token "$tok" \
			--id bench-agent >/dev/null 2>&1 || die "agent enroll"
		cp "$BIN/fairlead-agent" "$W/agent.stripped"
		strip "$W/agent.stripped"
		stats() { curl -sf --cacert "$CA" -H "Authorization: Bearer $FAIRLEAD_TOKEN" \
			"$URL/api/v1/_stats" | jq .counters.checkins; }
		"$BIN/fairlead-agent" --server "$URL" --ca "$CA" --state "$AG" --log-level warn run \
			>"$W/agent.log" 2>&1 &
		AG_PID=$!
		PIDS+=("$AG_PID")
		sleep 2 # the first check-in and its handshake are not the steady state
		c0=$(stats)
		# on-CPU time in nanoseconds (schedstat): clock ticks are too coarse
		# for the few milliseconds a dozen check-ins take
		n0=$(cut -d' ' -f1 "/proc/$AG_PID/schedstat")
		sleep 12
		c1=$(stats)
		n1=$(cut -d' ' -f1 "/proc/$AG_PID/schedstat")
		# resident memory by mapping: what the agent's own code and heap take,
		# and what the shared libraries libcurl pulls in take
		awk '/^[0-9a-f]+-[0-9a-f]+ / {name = (NF >= 6 ? $6 : "[anon]"); n = split(name, p, "/"); name = p[n]}
			/^Rss:/ {rss[name] += $2}
			END {for (k in rss) if (rss[k] > 0) printf "%s\t%d\n", k, rss[k]}' \
			"/proc/$AG_PID/smaps" | sort -t$'\t' -k2 -nr >"$W/agent-smaps.tsv"
		jq -n --argjson size "$(stat -c %s "$W/agent.stripped")" \
			--argjson rss "$(rss_kb "$AG_PID")" --argjson hwm "$(hwm_kb "$AG_PID")" \
			--argjson checkins $((c1 - c0)) --argjson ns $((n1 - n0)) --argjson libs "$(ldd "$BIN/fairlead-agent" | grep -c '=>')" \
			--rawfile maps "$W/agent-smaps.tsv" \
			'{stripped_bytes: $size, rss_kib: $rss, peak_rss_kib: $hwm, checkins: $checkins,
			  cpu_ms_per_checkin: (if $checkins > 0 then ($ns / 1000000 / $checkins) else null end),
			  shared_libraries: $libs,
			  rss_by_mapping_kib: ($maps | split("\n") | map(select(length > 0) | split("\t"))
			    | map({(.[0]): (.[1] | tonumber)}) | add)}' >"$W/r/agent.json"
		stop_pid "$AG_PID"
		say "agent: $(jq -c '{stripped_bytes, rss_kib, cpu_ms_per_checkin, checkins}' "$W/r/agent.json")"

		# ---- figure 2: SLI samples ----
		say "figure 2: SLI reports"
		b0=$(db_bytes)
		"$SIM" run --server "$URL" --ca "$CA" --preloaded "$ACTIVE" --seed $SEED \
			--concurrency $CONC --duration "$DUR" --warmup $WARM --report-rate 1 \
			--report-batch 16 --report-inferences 1000 --label reports --json \
			--out "$W/r/sim-reports.json" >/dev/null 2>>"$W/sim.log" || die "sim reports"
		stop_pid "$FLD_PID" # SIGTERM flushes everything acknowledged
		b1=$(db_bytes)
		jq -n --argjson b0 "$b0" --argjson b1 "$b1" '{db_bytes_before: $b0, db_bytes_after: $b1}' \
			>"$W/r/reports-disk.json"
		say "reports: endpoint $(jq -r .reports.endpoint "$W/r/sim-reports.json")"
		hostile_figures
	else
		stop_pid "$FLD_PID"
	fi
done

# ---- figure 4: rollout gates ----
# One evaluation of a stage with half the fleet canary: the per-device window
# query over 5 minutes of reports in SQLite, the latency quantiles of the
# merged sketches and every gate (fairlead-bench-gates, median of 3).
say "figure 4: rollout gates, $GATES_N devices"
"$BIN/fairlead-bench-gates" --devices "$GATES_N" --canary-pct 50 --minutes 5 --repeat 3 \
	--dir "$(mktemp -d "$W/gates.XXXXXX")" >"$W/r/gates.json" 2>"$W/gates.log" || {
	tail -5 "$W/gates.log" >&2
	die "bench gates"
}
say "gates: $(jq -c '{devices, query_ms, evaluate_ms, total_ms}' "$W/r/gates.json")"

# ---- figure 8: playbooks ----
# The engine against a real store: events of every kind it watches evaluated
# per second with 100 playbooks loaded (context, match, throttle, the runs
# that fire), and the time from an SLO page in the event log to the first
# action of the run it starts, with the engine's own thread and tick
# (fairlead-bench-playbooks).
PB_EVENTS=$([ "$QUICK" = 1 ] && echo 20000 || echo 100000)
say "figure 8: playbooks, $PB_EVENTS events, 100 playbooks"
"$BIN/fairlead-bench-playbooks" --playbooks 100 --events "$PB_EVENTS" --devices 10000 --trials 20 \
	--dir "$(mktemp -d "$W/pb.XXXXXX")" >"$W/r/playbooks.json" 2>"$W/playbooks.log" || {
	tail -5 "$W/playbooks.log" >&2
	die "bench playbooks"
}
say "playbooks: $(jq -c '{events_per_s, first_action_ms}' "$W/r/playbooks.json")"

# ---- assemble ----
mkdir -p "$OUT"
sizes_json=$(printf '%s\n' "${SIZES[@]}" | jq -s .)
jq -n --argjson sizes "$sizes_json" --argjson active "$ACTIVE" --argjson dur "$DUR" \
	--argjson conc $CONC --argjson threads $THREADS --argjson elapsed $(($(date +%s) - T0)) \
	--slurpfile machine "$W/r/machine.json" --slurpfile s0 "$W/r/start-0.json" \
	--slurpfile agent "$W/r/agent.json" --slurpfile ff "$W/r/fetch-fairleadd.json" \
	--slurpfile fn "$W/r/fetch-nginx.json" --slurpfile rep "$W/r/sim-reports.json" \
	--slurpfile disk "$W/r/reports-disk.json" --slurpfile gates "$W/r/gates.json" \
	--slurpfile hostile "$W/r/hostile.json" --slurpfile pb "$W/r/playbooks.json" \
	--argjson runs "$(for n in "${SIZES[@]}"; do jq -c --argjson n "$n" --slurpfile st "$W/r/start-$n.json" \
		--slurpfile b "$W/r/sim-baseline-$n.json" \
		'{registered: $n, ok_per_s: .total.ok_per_s, p50_ms: .total.latency_ms.p50,
		  p90_ms: .total.latency_ms.p90, p99_ms: .total.latency_ms.p99, errors: .total.errors,
		  startup_ms: $st[0].startup_ms, rss_kib: $st[0].rss_kib,
		  server_cpu_s: .server_cpu_s, client_cpu_s: .client_cpu_s, other_cpu_share: .other_cpu_share,
		  baseline: {ok_per_s: $b[0].total.ok_per_s, p50_ms: $b[0].total.latency_ms.p50,
		    p99_ms: $b[0].total.latency_ms.p99, errors: $b[0].total.errors,
		    server_cpu_s: $b[0].server_cpu_s, other_cpu_share: $b[0].other_cpu_share}}' \
		"$W/r/sim-checkin-$n.json"; done | jq -s .)" \
	'
	def r2: . * 100 | round / 100;
	($runs | map(.ok_per_s / .baseline.ok_per_s)) as $shares
	| {
	  machine: $machine[0],
	  settings: {active_devices: $active, duration_s: $dur, concurrency: $conc,
	             server_threads: $threads, baseline_threads: $machine[0].nproc, elapsed_s: $elapsed},
	  checkins: {
	    goal: "fairleadd >= 70% of the baseline rate at every size, no fall-off with fleet size",
	    method: "each size against the baseline measured right before it",
	    fairleadd: ($runs | map(. + {share_of_baseline: (.ok_per_s / .baseline.ok_per_s | r2)})),
	    falloff_largest_vs_smallest: (($shares[-1] / $shares[0]) | r2),
	    falloff_raw_rates: (($runs[-1].ok_per_s / $runs[0].ok_per_s) | r2),
	    met: (($shares | all(. >= 0.7)) and ($shares[-1] >= 0.9 * $shares[0]))
	  },
	  sli_samples: (if $rep[0].reports.endpoint == "available" then {
	    goal: ">= 200000 samples/s, <= 4 bytes per sample on disk",
	    samples_per_s: $rep[0].reports.samples_per_s, samples: $rep[0].reports.samples,
	    report_requests_per_s: ($rep[0].by_kind.report.ok_per_s // 0),
	    p99_ms: ($rep[0].by_kind.report.latency_ms.p99 // null),
	    disk_bytes_growth: ($disk[0].db_bytes_after - $disk[0].db_bytes_before),
	    bytes_per_sample: (if $rep[0].reports.samples > 0 then
	      (($disk[0].db_bytes_after - $disk[0].db_bytes_before) / $rep[0].reports.samples | r2) else null end),
	    met: ($rep[0].reports.samples_per_s >= 200000 and
	      (($disk[0].db_bytes_after - $disk[0].db_bytes_before) / ([$rep[0].reports.samples, 1] | max)) <= 4)
	  } else {skipped: "endpoint not available", goal: ">= 200000 samples/s, <= 4 bytes per sample on disk"} end),
	  agent: ($agent[0] + {goal: "<= 150 KiB stripped, <= 3 MiB RSS",
	    met: ($agent[0].stripped_bytes <= 153600 and $agent[0].rss_kib <= 3072)}),
	  rollout_gate: ($gates[0] + {goal: "< 1 s for a 100k-device rollout",
	    method: "fairlead-bench-gates: per-device window query from SQLite, quantiles, every gate; median of 3",
	    met: ($gates[0].total_ms < 1000)}),
	  artifact_download: {goal: ">= 80% of nginx",
	    fairleadd: ($ff[0] | {mib_per_s, downloads, ok, bytes, p50_ms: .latency_ms.p50, p99_ms: .latency_ms.p99, server_cpu_ms_per_mib}),
	    nginx: ($fn[0] | {mib_per_s, downloads, ok, bytes, p50_ms: .latency_ms.p50, p99_ms: .latency_ms.p99, server_cpu_ms_per_mib}),
	    share_of_nginx: ($ff[0].mib_per_s / $fn[0].mib_per_s | r2),
	    met: ($ff[0].mib_per_s >= 0.8 * $fn[0].mib_per_s)},
	  memory_per_device: {goal: "<= 1 KiB per registered device", rss_kib_empty: $s0[0].rss_kib,
	    by_size: ($runs | map({registered, rss_kib,
	      bytes_per_device: ((.rss_kib - $s0[0].rss_kib) * 1024 / .registered | round)})),
	    met: (($runs[-1].rss_kib - $s0[0].rss_kib) * 1024 / $runs[-1].registered <= 1024)},
	  hostile_network: $hostile[0],
	  playbooks: ($pb[0] + {goal: ">= 10000 events/s with 100 playbooks; first action < 1 s",
	    method: "fairlead-bench-playbooks: a real store; rounds until every event is evaluated; 20 SLO pages through the engine thread",
	    met: ($pb[0].events_per_s >= 10000 and $pb[0].first_action_ms.max < 1000)})
	}' >"$OUT/latest.json"

jq -r '
	def f0: . * 1 | floor | tostring;
	def f2: (. * 100 | round / 100) | tostring;
	def yn: if . then "met" else "**missed**" end;
	. as $r |
	"# Fairlead benchmark results\n",
	"Machine: \(.machine.nproc) cores, \(.machine.cpu), \(.machine.memory), \(.machine.os), \(.machine.kernel); commit \(.machine.commit), \(.machine.date); load before \(.machine.load_before). ",
	"Run: \(.settings.active_devices) devices playing, \(.settings.concurrency) requests in flight, \(.settings.duration_s) s per rate, fairleadd threads \(.settings.server_threads), baseline threads \(.settings.baseline_threads); the whole run took \(.settings.elapsed_s) s.\n",
	"| # | figure | fairleadd | baseline | ratio | goal | status |",
	"|---|---|---|---|---|---|---|",
	(.checkins.fairleadd[] | "| 1 | signed check-ins/s, \(.registered) registered (p50 / p99 ms) | \(.ok_per_s|f0)/s (\(.p50_ms|f2) / \(.p99_ms|f2)) | \(.baseline.ok_per_s|f0)/s (\(.baseline.p50_ms|f2) / \(.baseline.p99_ms|f2)) | \(.share_of_baseline) | >= 0.70 | \(if .share_of_baseline >= 0.7 then "met" else "**missed**" end) |"),
	(.checkins.fairleadd[] | "| 1 | CPU taken by other processes during the \(.registered) run / its baseline | \(.other_cpu_share * 100 | f0)% | \(.baseline.other_cpu_share * 100 | f0)% | | | |"),
	"| 1 | fall-off: share of baseline, largest vs smallest fleet (raw rates \(.checkins.falloff_raw_rates)) | \(.checkins.falloff_largest_vs_smallest) | | | >= 0.90 | \(if .checkins.falloff_largest_vs_smallest >= 0.9 then "met" else "**missed**" end) |",
	(.checkins.fairleadd[] | "| 1 | fairleadd start with \(.registered) devices (registry load) | \(.startup_ms) ms | | | | |"),
	(if .sli_samples.skipped then "| 2 | SLI samples ingested/s, bytes/sample | skipped: \(.sli_samples.skipped) | | | >= 200k/s, <= 4 B | pending |"
	 else "| 2 | SLI samples ingested/s; bytes per sample on disk | \(.sli_samples.samples_per_s|f0)/s; \(.sli_samples.bytes_per_sample) B | | | >= 200k/s, <= 4 B | \(.sli_samples.met|yn) |" end),
	"| 3 | agent stripped size | \(.agent.stripped_bytes / 1024 | f2) KiB | | | <= 150 KiB | \(if .agent.stripped_bytes <= 153600 then "met" else "**missed**" end) |",
	"| 3 | agent idle RSS | \(.agent.rss_kib / 1024 | f2) MiB (peak \(.agent.peak_rss_kib / 1024 | f2)) | | | <= 3 MiB | \(if .agent.rss_kib <= 3072 then "met" else "**missed**" end) |",
	"| 3 | agent CPU per check-in | \(if .agent.cpu_ms_per_checkin then (.agent.cpu_ms_per_checkin | f2) else "n/a" end) ms over \(.agent.checkins) check-ins | | | | |",
	"| 4 | rollout gate evaluation, \(.rollout_gate.devices) devices (query / gates ms), measured by fairlead-bench-gates | \(.rollout_gate.total_ms|f0) ms (\(.rollout_gate.query_ms|f0) / \(.rollout_gate.evaluate_ms|f0)) | | | < 1 s | \(.rollout_gate.met|yn) |",
	"| 5 | artifact download (server CPU ms per MiB) | \(.artifact_download.fairleadd.mib_per_s|f0) MiB/s (\(.artifact_download.fairleadd.server_cpu_ms_per_mib|f2)) | nginx \(.artifact_download.nginx.mib_per_s|f0) MiB/s (\(.artifact_download.nginx.server_cpu_ms_per_mib|f2)) | \(.artifact_download.share_of_nginx) | >= 0.80 | \(.artifact_download.met|yn) |",
	(.memory_per_device.by_size[] | "| 6 | server memory per device, \(.registered) registered | \(.bytes_per_device) B (RSS \(.rss_kib / 1024 | f2) MiB) | empty \($r.memory_per_device.rss_kib_empty / 1024 | f2) MiB | | <= 1024 B | \(if .bytes_per_device <= 1024 then "met" else "**missed**" end) |"),
	(.hostile_network as $h | $h.settings as $s |
	 def rate: if . == null then "n/a" elif .na then "n/a" else "\(.ok_per_s|f0)/s (\(.p50_ms|f2) / \(.p99_ms|f2))" end;
	 def num: if . == null then "n/a" else f2 end;
	 def st: if . then "met" else "**missed**" end;
	 def idle: if .na then "n/a" else "\(.rss_per_idle_kib|num) KiB/conn, \(.idle_still_open)/\(.idle_connected) kept, \(.dribble_still_open)/\(.dribble_connected) slow kept, health \(if .health_ok then "ok" else "failed" end), check-in \(if .checkin_ok then "ok" else "failed" end)" end;
	 def slow: if .na then "n/a" else "\(.slow.ok_per_s|f0)/s of bound \(.bound_per_s|f0)/s (loopback \(.loopback.ok_per_s|f0)/s)" end;
	 "| 7a | check-ins/s, \($s.devices_own_connection) devices each with its own kept-alive connection (p50 / p99 ms) | \($h.keepalive_per_device.fairleadd|rate) | \($h.keepalive_per_device.baseline|rate) | \($h.keepalive_per_device.share_of_baseline|num) | >= 0.70 | \($h.keepalive_per_device.met|st) |",
	 "| 7a | check-ins/s, a new connection per poll, TLS resumed (p50 / p99 ms) | \($h.new_connection_per_poll.fairleadd|rate) | \($h.new_connection_per_poll.baseline|rate) | \($h.new_connection_per_poll.share_of_baseline|num) | >= 0.70 | \($h.new_connection_per_poll.met|st) |",
	 "| 7b | check-ins/s, \($s.in_flight_slow) in flight over a \($s.rtt_ms) ms round trip, share of min(in flight / RTT, loopback) | \($h.slow_network.fairleadd|slow) | \($h.slow_network.baseline|slow) | \($h.slow_network.fairleadd.share_of_bound|num) | >= 0.80 | \(($h.slow_network.fairleadd.met // false)|st) |",
	 "| 7c | server CPU per signed check-in, kept-alive (new connection) | \($h.cpu_per_checkin.fairleadd_us|num) us (\($h.cpu_per_checkin.fairleadd_new_connection_us|num) us) | \($h.cpu_per_checkin.baseline_us|num) us (\($h.cpu_per_checkin.baseline_new_connection_us|num) us) | \($h.cpu_per_checkin.verifications|num) verifications of \($h.cpu_per_checkin.ed25519_verify_us|num) us | <= 2 | \($h.cpu_per_checkin.met|st) |",
	 "| 7d | \($s.idle_connections) idle + \($s.dribbling_connections) slow-header connections: RSS per idle connection, kept, still serving | \($h.idle_connections.fairleadd|idle) | \($h.idle_connections.baseline|idle) | | < 64 KiB, all | \(($h.idle_connections.fairleadd.met // false)|st) |",
	 "| 7e | overload, \($s.overload_in_flight) SLI reports in flight (--queue-max \($s.fairleadd_queue_max // "n/a")): 503 with Retry-After / without / client timeouts / other errors | \($h.overload.result | if .na then "n/a" else "\(.shed_503_retry_after) / \(.shed_503_plain) / \(.timeouts) / \(.other_transport_errors) (\(.ok_per_s|f0) ok/s)" end) | | | sheds, 0 timeouts | \($h.overload.met|st) |"),
	(.playbooks | if . == null then empty else
	 "| 8 | playbook events evaluated/s, \(.playbooks) playbooks loaded (\(.events) events, \(.runs) runs fired) | \(.events_per_s|f0)/s | | | >= 10000/s | \(if .events_per_s >= 10000 then "met" else "**missed**" end) |",
	 "| 8 | deciding event to first action (p50 / p90 / max of \(.trials), tick \(.tick_ms) ms) | \(.first_action_ms.p50|f0) / \(.first_action_ms.p90|f0) / \(.first_action_ms.max|f0) ms | | | < 1 s | \(if .first_action_ms.max < 1000 then "met" else "**missed**" end) |" end)
' "$OUT/latest.json" >"$OUT/latest.md"
cat "$OUT/latest.md"
say "wrote $OUT/latest.json and $OUT/latest.md in $(($(date +%s) - T0)) s"

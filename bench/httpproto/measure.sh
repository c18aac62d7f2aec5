#!/usr/bin/env bash
# measure.sh - measure the two HTTPS prototypes with the same clients.
#
#   bench/httpproto/measure.sh [BUILD_DIR]      (default /tmp/hp)
#   env: REPS (3), DUR (10 s load run), IMPLS ("mhd h2o"; also "mhd_turbo"),
#        NEWCONN (4000 connections), DRIBBLE (1000 connections), DRIBBLE_S (25),
#        MEM_TCP (10000), MEM_TLS (1000), TESTS ("mem rps newconn dribble"),
#        OUT (BUILD_DIR/results)
#
# Per repetition and server, each on a fresh server process:
#   mem_tcp   KiB of server RSS per idle TCP connection (10,000 held)
#   mem_tls   KiB of server RSS per idle TLS connection (1,000 handshakes)
#   rps       POST /checkin req/s, 200 kept-alive connections, DUR seconds
#   cpu_req   server CPU (utime+stime) µs per request over that run
#   conn_s    new TLS connections/s (h2load, 100 at a time, one request each)
#   cpu_conn  server CPU µs per new connection over that run
#   dribble   1,000 connections sending their head a byte a second while
#             /health is probed each second on a fresh connection: probes
#             answered, their latency, connections the server closed and
#             after how long (server deadlines set to 10 s)
# Raw numbers go to BUILD_DIR/results/raw.tsv, medians to summary.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
B=${1:-/tmp/hp}
REPS=${REPS:-3}
DUR=${DUR:-10}
IMPLS=${IMPLS:-"mhd h2o"}
NEWCONN=${NEWCONN:-4000}
DRIBBLE=${DRIBBLE:-1000}
DRIBBLE_S=${DRIBBLE_S:-25}
MEM_TCP=${MEM_TCP:-10000}
MEM_TLS=${MEM_TLS:-1000}
PORT=${PORT:-18500}
OUT=${OUT:-$B/results}
TESTS=${TESTS:-"mem rps newconn dribble"}
URL=https://127.0.0.1:$PORT

command -v h2load >/dev/null || { echo "needs h2load (apt-get install nghttp2-client)" >&2; exit 1; }
cmake -S "$here" -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" >/dev/null
mkdir -p "$OUT"
if [ ! -f "$B/cert.pem" ]; then
	openssl ecparam -name prime256v1 -genkey -noout -out "$B/key.pem"
	openssl req -x509 -new -key "$B/key.pem" -out "$B/cert.pem" -days 30 \
		-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost
fi
# A 137-byte check-in body.
printf '{"agent":"0123456789abcdef0123456789abcdef","version":"1.4.2","uptime_s":123456,"load":[0.1,0.2,0.3],"jobs_done":[],"disk_free_mb":10240}' >"$B/body.json"
ulimit -n "$(ulimit -Hn)"
raw=$OUT/raw.tsv
: >"$raw"
log=$OUT/log.txt
: >"$log"

SP=
bin_of() { case $1 in mhd) echo mhd_proto ;; h2o) echo h2o_proto ;; mhd_turbo) echo mhd_proto_turbo ;; esac; }
start() { # impl timeout_s
	"$B/$(bin_of "$1")" "$PORT" "$B/cert.pem" "$B/key.pem" "$2" 2>>"$OUT/server.log" &
	SP=$!
	for _ in $(seq 50); do curl -skf -o /dev/null "$URL/health" && break; sleep 0.1; done
	# warm up: threads, TLS and allocator state exist before anything is measured
	h2load --h1 -c 4 -n 400 -d "$B/body.json" -H 'Content-Type: application/json' \
		"$URL/checkin" >/dev/null
	sleep 0.5
}
stop() { kill "$SP"; wait "$SP" 2>/dev/null || true; SP=; sleep 0.5; }
rss() { awk '/^VmRSS/{print $2}' "/proc/$SP/status"; }
cpu() { awk '{print $14 + $15}' "/proc/$SP/stat"; } # clock ticks
tck=$(getconf CLK_TCK)
load1() { cut -d' ' -f1 /proc/loadavg; }
put() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$(load1)" | tee -a "$raw"; }

mem() { # impl rep mode n
	local fifo=$OUT/hold.fifo res=$OUT/hold.out r0 r1 s
	start "$1" 600
	r0=$(rss)
	rm -f "$fifo"; mkfifo "$fifo"
	python3 "$here/conns.py" "$3" "$PORT" "$4" <"$fifo" >"$res" &
	local cp=$!
	exec 9>"$fifo"
	until grep -q ready "$res" 2>/dev/null; do sleep 0.2; done
	sleep 2
	r1=$(rss)
	s=$(find "/proc/$SP/fd" -lname 'socket:*' | wc -l)
	exec 9>&-
	wait "$cp" || true
	echo "$1 mem_$3: $(tr '\n' ' ' <"$res") server sockets $s, RSS $r0 -> $r1 KiB" | tee -a "$log"
	put "$1" "mem_$3" "$2" "$(awk -v a="$r0" -v b="$r1" -v n="$4" 'BEGIN{printf "%.2f", (b-a)/n}')"
	put "$1" "rss_base" "$2" "$r0"
	stop
}

rps() { # impl rep [h2]
	local c0 c1 o n proto=--h1 tag=""
	[ "${3:-}" = h2 ] && proto="" && tag=_h2
	start "$1" 10
	c0=$(cpu)
	o=$(h2load $proto -c 200 -m 1 -D "$DUR" -d "$B/body.json" \
		-H 'Content-Type: application/json' "$URL/checkin" 2>&1)
	c1=$(cpu)
	echo "$o" | grep -E 'finished|requests:|status codes|Protocol|Cipher|Application' >>"$log"
	n=$(echo "$o" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p')
	put "$1" "rps$tag" "$2" "$(echo "$o" | sed -n 's/^finished in .*s, \([0-9.]*\) req\/s.*/\1/p')"
	put "$1" "cpu_req$tag" "$2" "$(awk -v t=$((c1 - c0)) -v n="$n" -v k="$tck" 'BEGIN{printf "%.1f", t*1e6/k/n}')"
	stop
}

newconn() { # impl rep
	local c0 c1 o n
	start "$1" 10
	c0=$(cpu)
	o=$(h2load --h1 -c 100 -n "$NEWCONN" -H 'Connection: close' "$URL/health" 2>&1)
	c1=$(cpu)
	echo "$o" | grep -E 'finished|requests:|status codes' >>"$log"
	n=$(echo "$o" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p')
	put "$1" conn_s "$2" "$(echo "$o" | sed -n 's/^finished in .*s, \([0-9.]*\) req\/s.*/\1/p')"
	put "$1" cpu_conn "$2" "$(awk -v t=$((c1 - c0)) -v n="$n" -v k="$tck" 'BEGIN{printf "%.1f", t*1e6/k/n}')"
	stop
}

dribble() { # impl rep
	local j
	start "$1" 10
	j=$(python3 "$here/conns.py" dribble "$PORT" "$DRIBBLE" "$DRIBBLE_S")
	echo "$1 dribble: $j" | tee -a "$log"
	for k in health_ok health_probes health_ms_median health_ms_max still_open_at_end \
		closed_lifetime_min_s closed_lifetime_median_s; do
		put "$1" "dr_$k" "$2" "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$j" "$k")"
	done
	stop
}

trap '[ -n "$SP" ] && kill "$SP" 2>/dev/null; true' EXIT
for rep in $(seq "$REPS"); do
	order=$IMPLS
	[ $((rep % 2)) = 0 ] && order=$(echo "$IMPLS" | tr ' ' '\n' | tac | tr '\n' ' ')
	for impl in $order; do
		for t in $TESTS; do
			case $t in
			mem)
				mem "$impl" "$rep" tcp "$MEM_TCP"
				mem "$impl" "$rep" tls "$MEM_TLS"
				;;
			rps)
				rps "$impl" "$rep"
				if [ "$impl" = h2o ]; then rps "$impl" "$rep" h2; fi
				;;
			newconn) newconn "$impl" "$rep" ;;
			dribble) dribble "$impl" "$rep" ;;
			esac
		done
	done
done

python3 - "$raw" "$IMPLS" >"$OUT/summary.md" <<'PY'
import collections, statistics, sys
vals = collections.defaultdict(list)
loads = []
for line in open(sys.argv[1]):
    impl, metric, rep, v, load = line.rstrip("\n").split("\t")
    loads.append(float(load))
    try: vals[(metric, impl)].append(float(v))
    except ValueError: vals[(metric, impl)].append(float("nan"))
impls = sys.argv[2].split()
metrics = list(dict.fromkeys(m for m, _ in vals))
print("| metric | " + " | ".join(impls) + " |")
print("|---|" + "---|" * len(impls))
for m in metrics:
    cells = []
    for i in impls:
        v = vals.get((m, i))
        cells.append("%g (%s)" % (statistics.median(v), ", ".join("%g" % x for x in v)) if v else "-")
    print("| %s | %s |" % (m, " | ".join(cells)))
print("\nload average (1 min) during runs: min %.1f, median %.1f, max %.1f" %
      (min(loads), statistics.median(loads), max(loads)))
PY
cat "$OUT/summary.md"

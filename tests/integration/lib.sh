# lib.sh - shared harness of the integration tests: a real fairleadd on a
# loopback port over HTTPS, real fairlead-agent processes, the real CLI.
# Sourced by each test; a test fails on the first failed assertion.
set -euo pipefail

: "${FL_BIN_DIR:?FL_BIN_DIR must point at the built binaries}"
: "${FL_TEST_BIN:?FL_TEST_BIN must point at the test helpers}"
FLD="$FL_BIN_DIR/fairleadd"
FLCLI="$FL_BIN_DIR/fairlead"
FLAGENT="$FL_BIN_DIR/fairlead-agent"
FLSIGN="$FL_TEST_BIN/fl-sign"

T=$(mktemp -d "${TMPDIR:-/tmp}/flit.XXXXXX")
# the CLI's audit witness and config stay inside the test
export XDG_STATE_HOME="$T/state" HOME="$T/home"
# Sanitizer reports (ASan build) go to files, whatever a test does with the
# process's stderr; cleanup fails the test if there is one.
mkdir -p "$T/sanitizer"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/sanitizer/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:log_path=$T/sanitizer/ubsan"
DATA="$T/data"
PIDS=()
SERVER_PID=""
PORT=""
URL=""
ADMIN=""

fail() {
	echo "FAIL: $*" >&2
	if [ -f "$T/server.log" ]; then
		echo "--- server log (last 30 lines) ---" >&2
		tail -n 30 "$T/server.log" >&2
	fi
	exit 1
}

cleanup() {
	local p rc=0 bad=0
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	# The server must stop cleanly at the end too: an exit status other than
	# 0 (a crash the test did not see, a failed final flush) fails the test.
	# 127 means the test already reaped it.
	if [ -n "$SERVER_PID" ]; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || rc=$?
		if [ "$rc" != 0 ] && [ "$rc" != 127 ]; then
			echo "FAIL: fairleadd exited with status $rc at the end of the test" >&2
			tail -n 30 "$T/server.log" >&2 2>/dev/null || true
			bad=1
		fi
	fi
	wait 2>/dev/null || true
	# A sanitizer report of any process fails the test (ASan build): the
	# reports go to files of their own (ASAN_OPTIONS log_path below), so one
	# is found even where the test threw the process's stderr away, and the
	# logs are scanned as well.
	if compgen -G "$T/sanitizer/*" >/dev/null ||
		grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T"/*.log >/dev/null 2>&1; then
		cat "$T"/sanitizer/* >&2 2>/dev/null || true
		grep -h -A20 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T"/*.log >&2 2>/dev/null || true
		echo "FAIL: sanitizer report" >&2
		bad=1
	fi
	rm -rf "$T"
	[ "$bad" -eq 0 ] || exit 1
}
trap cleanup EXIT

assert_eq() { [ "$1" = "$2" ] || fail "${3:-values differ}: expected '$2', got '$1'"; }
assert_ne() { [ "$1" != "$2" ] || fail "${3:-values equal}: did not expect '$2'"; }
assert_match() { [[ "$1" =~ $2 ]] || fail "${3:-no match}: '$1' !~ /$2/"; }

# free_port: a port for a helper server that cannot bind port 0 and say
# which port it got. It comes from below the kernel's ephemeral range (a test
# that opens thousands of client connections uses that range), but another
# process may still take it first: callers retry on another port.
free_port() {
	local p lo
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	[ "$lo" -gt 12000 ] 2>/dev/null || lo=32768
	while :; do
		p=$((10000 + RANDOM % (lo - 10000)))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

# init_server: fairleadd init into $DATA
init_server() {
	"$FLD" init --data "$DATA" >"$T/init.log" 2>&1 || fail "fairleadd init: $(cat "$T/init.log")"
	ADMIN=$(cat "$DATA/admin.token")
	export FAIRLEAD_CA="$DATA/tls/ca.pem" FAIRLEAD_TOKEN="$ADMIN"
}

# start_server [extra serve flags...]: serve on a port the kernel picks (the
# server names it in its "serving" line), wait until healthy
start_server() {
	[ -f "$DATA/fairlead.db" ] || init_server
	# The log exists before the server does: the redirection below happens in
	# the child, and a read that finds no file would end the test (pipefail).
	local before
	touch "$T/server.log"
	before=$(wc -l <"$T/server.log")
	"$FLD" serve --data "$DATA" --listen "127.0.0.1:0" --poll-interval 1 --flush-ms 200 \
		"$@" >>"$T/server.log" 2>&1 &
	SERVER_PID=$!
	PORT=""
	for _ in $(seq 1 100); do
		PORT=$(tail -n +"$((before + 1))" "$T/server.log" |
			sed -n 's|.*serving https://127\.0\.0\.1:\([0-9][0-9]*\) .*|\1|p' | head -n1) || true
		[ -n "$PORT" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || fail "fairleadd exited at start"
		sleep 0.1
	done
	[ -n "$PORT" ] || fail "fairleadd did not log the port it serves on"
	URL="https://127.0.0.1:$PORT"
	export FAIRLEAD_SERVER="$URL"
	for _ in $(seq 1 100); do
		if curl -sf --cacert "$DATA/tls/ca.pem" "$URL/api/v1/health" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || fail "fairleadd exited at start"
		sleep 0.1
	done
	fail "fairleadd did not become healthy"
}

# restart_server: serve again on the same port and data directory (agents
# keep the URL they were started with), after a kill or a stop
restart_server() {
	"$FLD" serve --data "$DATA" --listen "127.0.0.1:$PORT" --poll-interval 1 --flush-ms 200 \
		"$@" >>"$T/server.log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 1 100); do
		curl -sf --cacert "$DATA/tls/ca.pem" "$URL/api/v1/health" >/dev/null 2>&1 && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || fail "fairleadd exited at restart"
		sleep 0.1
	done
	fail "fairleadd did not become healthy after the restart"
}

# stop_server: SIGTERM and wait; fails if the exit was not clean
stop_server() {
	local rc=0
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || rc=$?
	SERVER_PID=""
	assert_eq "$rc" "0" "fairleadd exit status after SIGTERM"
}

# api METHOD PATH [BODY] [TOKEN]: prints "STATUS BODY"
api() {
	local method=$1 path=$2 body=${3:-} tok=${4:-$ADMIN}
	local args=(-s --path-as-is --cacert "$DATA/tls/ca.pem" -X "$method" -w '\n%{http_code}'
		-H "Authorization: Bearer $tok")
	[ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
	# API_MAX_TIME=S: for a reply that does not end (the event stream), the
	# status of what came within S seconds
	[ -n "${API_MAX_TIME:-}" ] && args+=(--max-time "$API_MAX_TIME")
	local out
	out=$(curl "${args[@]}" "$URL$path" || true)
	echo "$(tail -n1 <<<"$out") $(sed '$d' <<<"$out")"
}
status_of() { echo "${1%% *}"; }
body_of() { echo "${1#* }"; }

cli() { "$FLCLI" --server "$URL" --ca "$DATA/tls/ca.pem" --token "${CLI_TOKEN:-$ADMIN}" "$@"; }

# agent NAME ARGS...: runs fairlead-agent with the state dir of NAME
agent() {
	local name=$1
	shift
	"$FLAGENT" --server "$URL" --ca "$DATA/tls/ca.pem" --state "$T/agents/$name" "$@"
}

# agent_start NAME: the check-in loop in the background
agent_start() {
	local name=$1
	shift
	"$FLAGENT" --server "$URL" --ca "$DATA/tls/ca.pem" --state "$T/agents/$name" run "$@" \
		>>"$T/agent-$name.log" 2>&1 &
	PIDS+=($!)
	eval "AGENT_PID_${name//-/_}=$!"
}

new_enroll_token() { cli enroll-token create "$@"; }

device_json() { cli -o json device show "$1"; }

# wait_for DESCRIPTION SECONDS CMD...: polls CMD until it succeeds. A wait
# never runs past the test's own time budget (FL_TEST_TIMEOUT, the ctest
# timeout, less a margin), so a slow run fails here, naming what it waited
# for, rather than being killed by ctest without a word.
FL_DEADLINE=$((SECONDS + ${FL_TEST_TIMEOUT:-300} - 20))
wait_for() {
	local what=$1 secs=$2
	shift 2
	local start=$SECONDS end=$((SECONDS + secs))
	[ "$end" -le "$FL_DEADLINE" ] || end=$FL_DEADLINE
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && fail "timed out waiting for $what (after $((SECONDS - start)) s)"
		sleep 0.2
	done
}

# signed_curl KEYFILE METHOD TARGET [BODYFILE] [extra curl args]: a device request
signed_curl() {
	local key=$1 method=$2 target=$3 bodyfile=${4:-}
	shift 3
	[ $# -gt 0 ] && shift
	local hdrs=()
	while IFS= read -r line; do hdrs+=(-H "$line"); done < <("$FLSIGN" "$key" "$method" "$target" $bodyfile)
	local args=(-s --path-as-is --cacert "$DATA/tls/ca.pem" -X "$method" -o /dev/null -w '%{http_code}' "${hdrs[@]}")
	[ -n "$bodyfile" ] && args+=(-H 'Content-Type: application/json' --data-binary "@$bodyfile")
	curl "${args[@]}" "$@" "$URL$target"
}

# start_webhook_receiver SECRET [--fail-first N]: an HTTPS webhook receiver
# (webhook_receiver.py) with the server's own certificate, so that fairleadd
# trusts it with --webhook-ca "$DATA/tls/ca.pem". Sets WEBHOOK_URL and
# WEBHOOK_LOG (one JSON line per request; signature_ok says whether the
# HMAC held).
start_webhook_receiver() {
	local secret=$1
	shift
	WEBHOOK_LOG="$T/webhooks.jsonl"
	: >"$WEBHOOK_LOG"
	rm -f "$T/webhook.port"
	python3 "$(dirname "${BASH_SOURCE[0]}")/webhook_receiver.py" --cert "$DATA/tls/server.pem" \
		--secret "$secret" --port-file "$T/webhook.port" --log "$WEBHOOK_LOG" "$@" \
		>>"$T/webhook.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 1 50); do
		[ -s "$T/webhook.port" ] && break
		sleep 0.1
	done
	[ -s "$T/webhook.port" ] || fail "the webhook receiver did not start: $(cat "$T/webhook.log")"
	WEBHOOK_URL="https://127.0.0.1:$(cat "$T/webhook.port")"
}
# webhooks [JQ-FILTER]: the recorded requests as one JSON array
webhooks() { jq -s "${1:-.}" "$WEBHOOK_LOG"; }

# The plain closing line CI reads.
pass() { echo "1 passed, 0 failed"; }

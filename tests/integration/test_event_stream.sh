#!/usr/bin/env bash
# The live event stream: fifty viewers on a server with two workers hold no
# worker each (the API still answers), events appended to the log reach
# every viewer, a viewer that reconnects with Last-Event-ID gets what it
# missed, and SIGTERM ends the streams and the server cleanly.
. "$(dirname "$0")/lib.sh"

VIEWERS=50
start_server --threads 2
stream() { # stream NAME [curl args]: a viewer in the background
	local name=$1
	shift
	curl -sN --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" "$@" \
		"$URL/api/v1/events/stream" >"$T/$name.sse" 2>/dev/null &
	VIEWER_PIDS+=($!)
}
VIEWER_PIDS=()
for i in $(seq 1 $VIEWERS); do stream "v$i"; done
wait_for "every viewer connected" 20 sh -c \
	"test \$(grep -l '^retry: 3000' $T/v*.sse 2>/dev/null | wc -l) -eq $VIEWERS"

# With every worker's worth of viewers connected, requests are served.
r=$(api GET /api/v1/devices)
assert_eq "$(status_of "$r")" "200" "API with $VIEWERS viewers on 2 workers"
r=$(api GET /api/v1/health "" "")
assert_eq "$(status_of "$r")" "200" "/health with $VIEWERS viewers"

# Events appended to the log (by another writer, as an alert would be)
# reach every viewer.
for n in 1 2 3; do
	sqlite3 "$DATA/fairlead.db" "PRAGMA busy_timeout=5000; INSERT INTO events (at, kind, subject, body) VALUES (strftime('%s','now'), 'test.event', 'subject-$n', '{\"n\":$n}');" >/dev/null
done
wait_for "three events on every stream" 20 sh -c \
	"test \$(grep -l '^id: 3\$' $T/v*.sse | wc -l) -eq $VIEWERS"
grep -q '^event: test.event$' "$T/v1.sse" || fail "event name missing: $(cat "$T/v1.sse")"
grep -q '^data: {.*"subject":"subject-2"' "$T/v1.sse" || fail "event data missing: $(cat "$T/v1.sse")"

# A reconnecting viewer says what it saw last and gets the rest, in order.
timeout 3 curl -sN --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" \
	-H "Last-Event-ID: 1" "$URL/api/v1/events/stream" >"$T/resume.sse" 2>/dev/null || true
assert_eq "$(grep '^id:' "$T/resume.sse" | tr '\n' ' ')" "id: 2 id: 3 " "resumed after id 1"
r=$(curl -s --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" -H "Last-Event-ID: x" \
	-w ' %{http_code}' "$URL/api/v1/events/stream")
assert_match "$r" ' 400$' "a bad Last-Event-ID"

# SIGTERM: the streams end, the server exits 0.
stop_server
for p in "${VIEWER_PIDS[@]}"; do
	timeout 10 tail --pid="$p" -f /dev/null || fail "a viewer's stream did not end at SIGTERM"
done
pass

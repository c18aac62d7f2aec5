#!/usr/bin/env bash
# A body is never read as a request: more header lines than the limit get
# 431, a repeated or conflicting Content-Length, or one with
# Transfer-Encoding, gets 400, and in every case the connection closes after
# that one reply, so the smuggled request inside is never answered.
. "$(dirname "$0")/lib.sh"

start_server
RAW="python3 $(dirname "$0")/rawhttp.py send 127.0.0.1 $PORT $DATA/tls/ca.pem"
inner=$'GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n'
n=${#inner}

# send NAME HEAD...: the head lines, then the inner request as the body
send() {
	local name=$1
	shift
	{
		printf 'POST /api/v1/enroll/challenge HTTP/1.1\r\n'
		for l in "$@"; do printf '%s\r\n' "$l"; done
		printf '\r\n%s' "$inner"
	} >"$T/$name.req"
	$RAW "$T/$name.req" >"$T/$name.out" || fail "$name: the client failed"
}

# 1. The length hidden after the header-line limit (100 by default).
hdrs=("Host: x")
for i in $(seq 1 110); do hdrs+=("X-Pad-$i: y"); done
hdrs+=("Content-Length: $n")
send many "${hdrs[@]}"
assert_eq "$(cat "$T/many.out")" "HTTP/1.1 431 Request Header Fields Too Large" "110 header lines"

# 2. Content-Length twice, equal and different.
send cl2 "Host: x" "Content-Length: $n" "Content-Length: $n"
assert_eq "$(cat "$T/cl2.out")" "HTTP/1.1 400 Bad Request" "Content-Length twice"
send cl3 "Host: x" "Content-Length: 0" "Content-Length: $n"
assert_eq "$(cat "$T/cl3.out")" "HTTP/1.1 400 Bad Request" "two different Content-Lengths"

# 3. Content-Length with Transfer-Encoding.
send clte "Host: x" "Content-Length: $n" "Transfer-Encoding: chunked"
assert_eq "$(cat "$T/clte.out")" "HTTP/1.1 400 Bad Request" "Content-Length with Transfer-Encoding"

# 4. A well-formed request whose body looks like a request: one reply.
send body "Host: x" "Content-Length: $n" "Content-Type: application/json"
assert_eq "$(wc -l <"$T/body.out")" "1" "a body read as a second request: $(cat "$T/body.out")"

# Control: two pipelined requests on one connection get two replies, so the
# checks above would see a smuggled one.
printf 'GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n%s' "$inner" >"$T/two.req"
$RAW "$T/two.req" >"$T/two.out"
assert_eq "$(wc -l <"$T/two.out")" "2" "pipelined control"

# A head over --max-header (8 KiB) but within the connection's memory is
# refused by the server itself, as JSON.
r=$(curl -s --cacert "$DATA/tls/ca.pem" -H "X-Big: $(head -c 12000 /dev/zero | tr '\0' a)" \
	-w ' %{http_code}' "$URL/api/v1/health" || true)
assert_match "$r" '"code": *"payload_too_large".* 431$' "a 12 KB header"

# The errors have the API's JSON shape.
r=$(curl -s --cacert "$DATA/tls/ca.pem" -H "Content-Length: 1" -H "Content-Length: 2" \
	-X POST --data-binary 'x' "$URL/api/v1/enroll/challenge" || true)
assert_match "$r" '"code": *"invalid_request"' "400 body"
kill -0 "$SERVER_PID" || fail "server died"
pass

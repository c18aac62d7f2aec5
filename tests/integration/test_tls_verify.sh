#!/usr/bin/env bash
# The agent and the CLI verify the server's certificate (common/src/httpc.c,
# the one libcurl client of both: CURLOPT_SSL_VERIFYPEER and
# CURLOPT_SSL_VERIFYHOST). With a CA that did not sign the server's
# certificate, and with a certificate from the trusted CA for another host
# name only, both refuse to talk: they exit non-zero with a TLS error naming
# the certificate problem, and no request of theirs reaches the server (no
# request line in its log, no device, the enrollment token unspent). Positive
# controls show the same commands work with the right CA and that the
# other-name certificate is valid for its own name, so that a broken setup is
# not mistaken for verification.
source "$(dirname "$0")/lib.sh"
start_server
CA="$DATA/tls/ca.pem"

# served PATH: the number of requests for PATH (query excluded) in the log
served() { grep -c "\"msg\":\"request\",\"path\":\"$1\"" "$T/server.log" || true; }
uses_left() { cli -o json enroll-token list | jq -r --arg id "$1" '.[] | select(.id == $id) | .uses_left'; }

# --- 1. a CA that did not sign the server's certificate ---
# Another Fairlead installation's CA: same kind of CA, different key.
"$FLD" init --data "$T/other" >"$T/other-init.log" 2>&1 || fail "second init: $(cat "$T/other-init.log")"
OTHER_CA="$T/other/tls/ca.pem"
tok=$(new_enroll_token --auto-accept)
tok_id=$(cli -o json enroll-token list | jq -r '.[0].id')
assert_eq "$(uses_left "$tok_id")" "1" "a fresh enrollment token"

# cli_refused CA TAG WHAT ERROR-PATTERN: the CLI with CA fails with the error
cli_refused() {
	local rc=0
	"$FLCLI" --server "$URL" --ca "$1" --token "$ADMIN" device list >"$T/$2.out" 2>"$T/$2.err" || rc=$?
	assert_ne "$rc" "0" "the CLI must refuse $3"
	assert_match "$(cat "$T/$2.err")" "^fairlead: TLS with $URL failed: $4" "the CLI's error for $3"
	assert_eq "$(cat "$T/$2.out")" "" "nothing on stdout from a refused CLI call"
}
# agent_refused CA TOKEN ID TAG WHAT ERROR-PATTERN: enrolling with CA fails with the error
agent_refused() {
	local rc=0
	"$FLAGENT" --server "$URL" --ca "$1" --state "$T/agents/$3" \
		enroll --token "$2" --id "$3" >"$T/$4.out" 2>"$T/$4.err" || rc=$?
	assert_ne "$rc" "0" "the agent must refuse $5"
	assert_match "$(cat "$T/$4.err")" \
		"^fairlead-agent: enroll: cannot get an enrollment challenge: TLS with $URL failed: $6" \
		"the agent's error for $5"
}

cli_refused "$OTHER_CA" c1 "a server certificate its CA did not sign" "SSL certificate problem: "
agent_refused "$OTHER_CA" "$tok" dev-x a1 "a server certificate its CA did not sign" \
	"SSL certificate problem: "

assert_eq "$(served /api/v1/devices)" "0" "the refused CLI request reached the server"
assert_eq "$(served /api/v1/enroll/challenge)" "0" "the refused enrollment reached the server"
assert_eq "$(status_of "$(api GET /api/v1/devices/dev-x)")" "404" "no device from a refused enrollment"
assert_eq "$(uses_left "$tok_id")" "1" "the enrollment token unspent by a refused enrollment"

# Positive control: the same commands with the server's CA.
"$FLCLI" --server "$URL" --ca "$CA" --token "$ADMIN" device list >"$T/c1ok.out" 2>&1 ||
	fail "CLI with the right CA: $(cat "$T/c1ok.out")"
"$FLAGENT" --server "$URL" --ca "$CA" --state "$T/agents/ok" \
	enroll --token "$tok" --id dev-ok >"$T/a1ok.out" 2>&1 || fail "agent with the right CA: $(cat "$T/a1ok.out")"
assert_eq "$(device_json dev-ok | jq -r .state)" "accepted" "enrolled with the right CA"
wait_for "the CLI's request in the server log" 5 grep -q '"path":"/api/v1/devices"' "$T/server.log"
assert_eq "$(served /api/v1/enroll/challenge)" "1" "the log names the enrollment that went through"

# --- 2. the trusted CA, but a certificate for another host name ---
tok2=$(new_enroll_token --auto-accept)
tok2_id=$(cli -o json enroll-token list | jq -r --arg t "$tok_id" '[.[] | select(.id != $t)][0].id')
devices_before=$(served /api/v1/devices)
stop_server

# Signed by the same CA, for elsewhere.invalid only.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=elsewhere.invalid" \
	-keyout "$T/else.key" -out "$T/else.csr" >"$T/openssl.log" 2>&1 || fail "openssl req: $(cat "$T/openssl.log")"
printf '%s\n' "subjectAltName=DNS:elsewhere.invalid" "basicConstraints=critical,CA:FALSE" \
	"keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$T/else.ext"
openssl x509 -req -in "$T/else.csr" -CA "$CA" -CAkey "$DATA/tls/ca.key" -set_serial 0x$RANDOM$RANDOM \
	-days 2 -extfile "$T/else.ext" -out "$T/else.crt" >"$T/openssl.log" 2>&1 ||
	fail "openssl x509: $(cat "$T/openssl.log")"
cat "$T/else.crt" "$T/else.key" >"$DATA/tls/server.pem"

# start_server/restart_server check health against 127.0.0.1, which this
# certificate does not name: start and wait here, by the certificate's name.
"$FLD" serve --data "$DATA" --listen "127.0.0.1:$PORT" --poll-interval 1 --flush-ms 200 >>"$T/server.log" 2>&1 &
SERVER_PID=$!
# elsewhere ARGS... PATH: curl to this server by the certificate's name
elsewhere() {
	local path=${*: -1}
	curl -s --resolve "elsewhere.invalid:$PORT:127.0.0.1" --cacert "$CA" "${@:1:$#-1}" \
		"https://elsewhere.invalid:$PORT$path"
}
for i in $(seq 1 100); do
	elsewhere -f -o /dev/null /api/v1/health && break
	kill -0 "$SERVER_PID" 2>/dev/null || fail "fairleadd exited at start with the elsewhere.invalid certificate"
	[ "$i" -lt 100 ] || fail "fairleadd with the elsewhere.invalid certificate did not become healthy"
	sleep 0.1
done

MISMATCH="SSL: no alternative certificate subject name matches target host name '127\\.0\\.0\\.1'"
cli_refused "$CA" c2 "a certificate for another host name" "$MISMATCH"
agent_refused "$CA" "$tok2" dev-y a2 "a certificate for another host name" "$MISMATCH"

assert_eq "$(served /api/v1/devices)" "$devices_before" "the refused CLI request reached the server"
assert_eq "$(served /api/v1/enroll/challenge)" "1" "the refused enrollment reached the server"
assert_eq "$(elsewhere -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" /api/v1/devices/dev-y)" \
	"404" "no device from a refused enrollment"
assert_eq "$(elsewhere -H "Authorization: Bearer $ADMIN" /api/v1/enroll-tokens |
	jq -r --arg id "$tok2_id" '.enroll_tokens[] | select(.id == $id) | .uses_left')" "1" \
	"the enrollment token unspent by a refused enrollment"
pass

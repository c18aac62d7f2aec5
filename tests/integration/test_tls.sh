#!/usr/bin/env bash
# The TLS policy as a client meets it: TLS 1.3, and TLS 1.2 with ECDHE and
# AEAD ciphers only (no CBC, no SHA-1, no static RSA); nothing older; and
# sessions resume.
. "$(dirname "$0")/lib.sh"

start_server
# One request on the connection, so that s_client waits for the reply (and,
# with TLS 1.3, the session ticket that comes before it) and then ends when
# the server closes.
REQ=$'GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
sclient() { printf '%s' "$REQ" | timeout 20 openssl s_client -connect "127.0.0.1:$PORT" \
	-CAfile "$DATA/tls/ca.pem" -ign_eof "$@" 2>&1 || true; }
hs() { # hs ARGS...: prints the negotiated protocol, or "refused"
	local line
	line=$(sclient "$@" | grep -m1 -E '^(New|Reused), TLSv1\.[0-9], Cipher is ' || true)
	if [ -n "$line" ] && [[ "$line" != *"(NONE)"* ]]; then
		awk '{print $2}' <<<"${line%,*}"
	else
		echo refused
	fi
}

assert_eq "$(hs -tls1_3)" "TLSv1.3" "TLS 1.3"
assert_eq "$(hs -tls1_2 -cipher 'ECDHE+AESGCM:ECDHE+CHACHA20')" "TLSv1.2" "TLS 1.2 with ECDHE and AEAD"
# Every TLS 1.2 suite that is not AEAD: CBC with SHA-1 and SHA-2, and static RSA.
assert_eq "$(hs -tls1_2 -cipher 'ALL:!AESGCM:!CHACHA20:!AESCCM:!ARIAGCM@SECLEVEL=0')" "refused" "TLS 1.2 CBC suites"
assert_eq "$(hs -tls1_2 -cipher 'AES128-GCM-SHA256:AES256-GCM-SHA384@SECLEVEL=0')" "refused" "TLS 1.2 static RSA"
assert_eq "$(hs -tls1_1 -cipher 'ALL@SECLEVEL=0')" "refused" "TLS 1.1"

# Resumption: a second connection with the first one's session is resumed.
sclient -sess_out "$T/sess" >/dev/null
out=$(sclient -sess_in "$T/sess")
grep -q "^Reused," <<<"$out" || fail "TLS session not resumed: $(grep -E '^(New|Reused),' <<<"$out")"
pass

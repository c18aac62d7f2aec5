#!/usr/bin/env bash
# The TLS policy as a client meets it: TLS 1.3, and TLS 1.2 with ECDHE and
# AEAD ciphers only (no CBC, no SHA-1, no static RSA); nothing older; and
# sessions resume.
. "$(dirname "$0")/lib.sh"

start_server
hs() { # hs ARGS...: prints the negotiated protocol and cipher, or "refused"
	local out
	out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$DATA/tls/ca.pem" \
		"$@" 2>&1 </dev/null || true)
	if grep -q "^ *Cipher *: [A-Z0-9]" <<<"$out" && ! grep -q "Cipher *: 0000" <<<"$out"; then
		grep -m1 -E "^ *Protocol *:" <<<"$out" | awk '{print $3}'
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
echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$DATA/tls/ca.pem" \
	-sess_out "$T/sess" >/dev/null 2>&1 </dev/null || true
out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$DATA/tls/ca.pem" \
	-sess_in "$T/sess" 2>&1 </dev/null || true)
grep -q "^Reused," <<<"$out" || fail "TLS session not resumed: $(grep -E '^(New|Reused),' <<<"$out")"
pass

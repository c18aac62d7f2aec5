#!/usr/bin/env bash
# A device whose clock is wrong: the server's certificate is valid from a day
# before 'fairleadd init', so an agent 12 hours behind still connects; one two
# days behind (or past the certificate's end) fails TLS with an error of class
# "tls" whose message names the clock and the device's time, not an
# "internal" one.
# The agent runs under libfaketime (faketime -f -OFFSET), which shifts every
# clock of the process, OpenSSL's certificate check included.
source "$(dirname "$0")/lib.sh"
command -v faketime >/dev/null || fail "faketime is not installed (Debian package faketime)"
start_server

# libfaketime comes first in LD_PRELOAD; ASan (sanitizer build) wants to be
# first and would refuse to start.
behind() {
	local offset=$1
	shift
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" faketime -f "-$offset" "$@"
}
ahead() {
	local offset=$1
	shift
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" faketime -f "+$offset" "$@"
}

tok=$(new_enroll_token --uses 3 --auto-accept)

# 12 hours behind: enrollment (challenge, proof, enroll) goes through.
behind 12h "$FLAGENT" --server "$URL" --ca "$DATA/tls/ca.pem" --state "$T/agents/c12" \
	enroll --token "$tok" --id dev-c12 >"$T/c12.out" 2>&1 ||
	fail "enroll with the clock 12 hours behind: $(cat "$T/c12.out")"
assert_eq "$(device_json dev-c12 | jq -r .state)" "accepted" "device 12 hours behind enrolled"

# 2 days behind: the certificate is not valid yet by the device's clock.
day=$(date -u -d '2 days ago' +%Y-%m-%d)
rc=0
behind 2d "$FLAGENT" --server "$URL" --ca "$DATA/tls/ca.pem" --state "$T/agents/c2" \
	enroll --token "$tok" --id dev-c2 >"$T/c2.out" 2>&1 || rc=$?
assert_ne "$rc" "0" "enroll with the clock 2 days behind must fail"
assert_match "$(cat "$T/c2.out")" "TLS: the server certificate is not yet valid by this device's clock \($day" \
	"the enroll error names the clock and the device's time"
assert_match "$(cat "$T/c2.out")" "check the clock" "the enroll error says what to do"

# The check-in loop logs it with error class "tls".
agent c2 enroll --token "$tok" --id dev-c2 >/dev/null 2>&1 || fail "enroll c2 with the right clock"
rc=0
behind 2d "$FLAGENT" --state "$T/agents/c2" --ca "$DATA/tls/ca.pem" run --once --no-sli \
	>"$T/c2run.log" 2>&1 || rc=$?
assert_ne "$rc" "0" "a check-in with the clock 2 days behind must fail"
line=$(grep '"check-in failed' "$T/c2run.log" | head -n1)
[ -n "$line" ] || fail "no check-in failure logged: $(cat "$T/c2run.log")"
assert_eq "$(jq -r .error <<<"$line")" "tls" "error class of a TLS failure"
assert_match "$(jq -r .msg <<<"$line")" "not yet valid by this device's clock \($day.*check the clock" \
	"the logged failure names the clock"

# 12 hours behind, a check-in gets past TLS (what the server makes of the
# request's signature time is another matter).
behind 12h "$FLAGENT" --state "$T/agents/c2" --ca "$DATA/tls/ca.pem" run --once --no-sli \
	>"$T/c12run.log" 2>&1 || true
if grep -q '"error":"tls"' "$T/c12run.log"; then fail "TLS failed 12 hours behind: $(cat "$T/c12run.log")"; fi

# 1000 days ahead the 825-day server certificate has expired.
rc=0
ahead 1000d "$FLAGENT" --state "$T/agents/c2" --ca "$DATA/tls/ca.pem" run --once --no-sli \
	>"$T/c1000.log" 2>&1 || rc=$?
assert_ne "$rc" "0" "a check-in past the certificate's end must fail"
assert_match "$(cat "$T/c1000.log")" "\"error\":\"tls\".*has expired by this device's clock \($(date -u -d '+1000 days' +%Y-%m-%d)" \
	"an expired certificate names the clock"
pass

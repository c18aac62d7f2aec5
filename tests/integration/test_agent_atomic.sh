#!/usr/bin/env bash
# A state file is replaced whole or not at all: when the agent cannot write
# the new desired config (the file size limit, ulimit -f, is below its size;
# SIGXFSZ ignored, so write(2) fails with EFBIG after a partial write), the
# check-in fails naming the file and the reason, desired.json keeps the old
# config byte for byte, the other state files are untouched and no temp file
# is left. With the limit lifted, the next check-in applies the new config.
source "$(dirname "$0")/lib.sh"
start_server

tok=$(new_enroll_token --auto-accept)
agent a enroll --token "$tok" --id dev-a >/dev/null 2>&1 || fail "enroll"
S="$T/agents/a"
echo '{"small": 1}' >"$T/want.json"
cli device desire dev-a --json "$T/want.json" >/dev/null
agent a run --once >>"$T/agent.log" 2>&1 || fail "first check-in: $(cat "$T/agent.log")"
jq -e '.desired == {"small": 1}' "$S/desired.json" >/dev/null || fail "first config not applied"
mkdir "$T/before"
cp -p "$S/desired.json" "$S/device.key" "$S/identity.json" "$T/before/"

# 16 KiB of config: its desired.json is over the 4 KiB limit below
jq -n '{big: ("x" * 16384)}' >"$T/want.json"
cli device desire dev-a --json "$T/want.json" >/dev/null
rc=0
# the output goes to a pipe, which the limit does not cover
out=$( (
	trap '' XFSZ
	ulimit -f 4
	exec "$FLAGENT" --server "$URL" --ca "$DATA/tls/ca.pem" --state "$S" run --once
) 2>&1) || rc=$?
assert_ne "$rc" "0" "a check-in that cannot save desired.json must fail"
assert_match "$out" "cannot write '$S/desired\.json[^']*': File too large" "the failure names the file"
for f in desired.json device.key identity.json; do
	[ -e "$S/$f" ] || fail "$f lost by the failed write"
	cmp -s "$T/before/$f" "$S/$f" ||
		fail "$f changed by the failed write: $(stat -c %s "$S/$f") bytes, was $(stat -c %s "$T/before/$f")"
done
assert_eq "$(stat -c %a "$S/desired.json")" "600" "desired.json mode"
! compgen -G "$S/*.tmp-*" >/dev/null || fail "temp file left by the failed write: $(ls "$S")"

# the limit lifted, the same check-in goes through
agent a run --once >>"$T/agent.log" 2>&1 || fail "check-in after the failure: $(tail -n 5 "$T/agent.log")"
jq -e --slurpfile w "$T/want.json" '.desired == $w[0]' "$S/desired.json" >/dev/null ||
	fail "new config not applied after the limit was lifted"
! compgen -G "$S/*.tmp-*" >/dev/null || fail "temp files left: $(ls "$S")"
pass

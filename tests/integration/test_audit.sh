#!/usr/bin/env bash
# The audit log is a hash chain: `fairlead audit verify` passes on the real
# log and finds a modified, an inserted and a deleted entry.
source "$(dirname "$0")/lib.sh"
start_server

tok=$(new_enroll_token --uses 3 --auto-accept --label site=x)
agent a enroll --token "$tok" --id dev-1 >/dev/null 2>&1 || fail "enroll"
cli device label dev-1 tier=gold >/dev/null
cli device quarantine dev-1 >/dev/null
cli token create --role viewer --name ci >/dev/null
cli device accept dev-1 >/dev/null

out=$(cli audit verify) || fail "verify on an intact log: $out"
assert_match "$out" "intact" "verify output"
n=$(cli -o json audit list | jq length)
[ "$n" -ge 6 ] || fail "expected at least 6 audit entries, got $n"
# a viewer may read the audit log; an operator may not
viewer=$(cli token create --role viewer)
CLI_TOKEN=$viewer cli audit verify >/dev/null || fail "viewer verifies"
op=$(cli token create --role operator)
if CLI_TOKEN=$op cli audit list >/dev/null 2>&1; then fail "operator read the audit log"; fi
stop_server

# the database refuses UPDATE and DELETE on the log
if sqlite3 "$DATA/fairlead.db" "DELETE FROM audit_log WHERE seq = 2" 2>/dev/null; then
	fail "audit_log allowed a DELETE"
fi

# tamper with copies of the data directory, each in its own way
tamper() { # NAME SQL EXPECTED-REASON
	rm -rf "$T/$1"
	cp -a "$DATA" "$T/$1"
	sqlite3 "$T/$1/fairlead.db" "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; $2"
	local saved=$DATA
	DATA="$T/$1"
	start_server
	if out=$(cli audit verify 2>&1); then fail "$1 not detected: $out"; fi
	assert_match "$out" "$3" "$1 reported"
	stop_server
	DATA=$saved
}
tamper modified "UPDATE audit_log SET details = '{\"labels\":{\"site\":\"y\"}}' WHERE seq = 2" "broken at seq 2.*modified"
tamper deleted "DELETE FROM audit_log WHERE seq = 3" "broken at seq [34].*deleted"
tamper inserted "INSERT INTO audit_log SELECT seq + 1000, ts, actor, 'device.accept', target, details, prev_hash, hash FROM audit_log WHERE seq = 4; UPDATE audit_log SET seq = 3500 WHERE seq = 1004" "broken"
tamper actor "UPDATE audit_log SET actor = 'token:someone-else' WHERE seq = 3" "broken at seq 3"
# Cutting the tail leaves a chain that is consistent with itself; only the
# witness (the head this CLI verified before) shows the loss.
last=$(sqlite3 "$DATA/fairlead.db" "SELECT MAX(seq) FROM audit_log")
witnessed=$(jq -r '.[].seq' "$XDG_STATE_HOME/fairlead/audit-witness.json")
[ "$witnessed" -ge 6 ] || fail "the witness holds the verified head ($witnessed)"
tamper tailcut "DELETE FROM audit_log WHERE seq >= $witnessed" "broken at seq $witnessed.*deleted"
rm -rf "$T/nowitness" && cp -a "$DATA" "$T/nowitness"
sqlite3 "$T/nowitness/fairlead.db" "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq >= $witnessed"
DATA="$T/nowitness" start_server
cli audit verify --no-witness >/dev/null || fail "without a witness a cut tail is not visible (documented limit)"
stop_server
pass

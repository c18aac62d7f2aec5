#!/usr/bin/env bash
# The whole way: a release manager takes a model from files to devices with
# `fairlead` alone, and real agents download, verify, install, health-check
# and commit it; a release whose health check fails is rolled back on the
# device; the server shows what each device runs.
source "$(dirname "$0")/lib.sh"
start_server

K="$T/keys" B="$T/build" R="$T/rel"
mkdir -p "$K" "$B" "$R"
for k in root1 rm1 rm2; do cli key generate --out "$K/$k.key" >/dev/null || fail "key $k"; done
SERVER_PUB=$(cat "$DATA/keys/server.pub")
cli root create --out "$R/root.json" --root-key "$K/root1.key" --root-threshold 1 \
	--release-key "$K/rm1.key" --release-key "$K/rm2.key" --release-threshold 2 \
	--timestamp-pubkey "$SERVER_PUB" --director-pubkey "$SERVER_PUB" --expires 30d >/dev/null ||
	fail "root create"
cli root sign "$R/root.json" --key "$K/root1.key" >/dev/null || fail "root sign"
cli root push "$R/root.json" >/dev/null || fail "root push"

# two devices with the root given out of band at enrollment
tok=$(new_enroll_token --uses 2 --auto-accept --label site=lab)
for d in a b; do
	agent "$d" enroll --token "$tok" --id "dev-$d" --root "$R/root.json" >"$T/e$d" 2>&1 ||
		fail "enroll $d: $(cat "$T/e$d")"
done

release() { # NAME VERSION COUNTER HEALTH-CMD
	head -c 200000 /dev/urandom >"$B/model-$2.bin"
	cli release create --name "$1" --version "$2" --kind model --artifact "$B/model-$2.bin" \
		--health-cmd "$4" --health-window 1 --counter "$3" --lineage builder=test \
		--out "$R/$1-$2.json" >/dev/null || fail "create $2"
	cli release sign "$R/$1-$2.json" --key "$K/rm1.key" >/dev/null || fail "sign $2"
	cli release sign "$R/$1-$2.json" --key "$K/rm2.key" >/dev/null || fail "sign $2"
	cli release push "$R/$1-$2.json" --artifact-dir "$B" -q >/dev/null 2>"$T/push.err" ||
		fail "push $2: $(cat "$T/push.err")"
}
# run the agent's check-in loop until the device reports STATE for RELEASE
settle() { # AGENT DEVICE RELEASE STATE
	local end=$((SECONDS + 60)) s
	while [ $SECONDS -lt $end ]; do
		agent "$1" run --once >>"$T/agent-$1.log" 2>&1 || true
		s=$(device_json "$2" | jq -r '"\(.update.assigned) \(.update.state)"')
		[ "$s" = "$3 $4" ] && return 0
		sleep 0.3
	done
	fail "$2 did not reach $4 for $3 (last: $s); agent log: $(tail -5 "$T/agent-$1.log")"
}

release detector 1.0.0 1 /bin/true
cli device assign --selector site=lab detector@1.0.0 >/dev/null || fail "assign"
settle a dev-a detector@1.0.0 committed
settle b dev-b detector@1.0.0 committed
# the device runs it: slot content equals the pushed artifact, and the server
# reconciles assigned against running
cmp "$B/model-1.0.0.bin" "$T/agents/a/slots/detector/current/model-1.0.0.bin" || fail "installed bytes differ"
j=$(device_json dev-a)
assert_eq "$(jq -r '.update.running.detector' <<<"$j")" "1.0.0" "running reported"
assert_eq "$(jq -r '.update.in_sync' <<<"$j")" "true" "in sync"
assert_eq "$(jq -r '.inventory.model_version' <<<"$j")" "1.0.0" "model version in inventory"

# a release whose health check fails is rolled back locally
release detector 1.1.0 2 /bin/false
cli device assign dev-a detector@1.1.0 >/dev/null || fail "assign 1.1.0"
settle a dev-a detector@1.1.0 rolled_back
j=$(device_json dev-a)
assert_match "$(jq -r .update.reason <<<"$j")" "health" "the reason names the health check"
assert_eq "$(jq -r '.update.running.detector' <<<"$j")" "1.0.0" "back on 1.0.0"
cmp "$B/model-1.0.0.bin" "$T/agents/a/slots/detector/current/model-1.0.0.bin" || fail "current is not the old slot"

# a good newer release commits
release detector 1.2.0 3 /bin/true
cli device assign dev-a detector@1.2.0 >/dev/null || fail "assign 1.2.0"
settle a dev-a detector@1.2.0 committed
assert_eq "$(device_json dev-a | jq -r '.update.running.detector')" "1.2.0"

# anti-rollback: assigning the older release without a signed rollback fails
cli device assign dev-a detector@1.0.0 >/dev/null || fail "assign old"
settle a dev-a detector@1.0.0 failed
assert_match "$(device_json dev-a | jq -r .update.reason)" "counter|rollback" "rollback refused"
assert_eq "$(device_json dev-a | jq -r '.update.running.detector')" "1.2.0" "still on 1.2.0"

# dev-b runs 1.0.0; the 1.2.0 model is stored but not its to read
sha12=$(sha256sum "$B/model-1.2.0.bin" | cut -d' ' -f1)
sha10=$(sha256sum "$B/model-1.0.0.bin" | cut -d' ' -f1)
assert_eq "$(signed_curl "$T/agents/b/device.key" GET "/api/v1/device/artifacts/$sha12")" "403" \
	"an unassigned release's artifact"
assert_eq "$(signed_curl "$T/agents/b/device.key" GET "/api/v1/device/artifacts/$sha10")" "200" \
	"the assigned release's artifact"

# a push cut short between its git commit and its row: git is the record,
# and the next start rebuilds the row from the committed release.json
release detector 1.3.0 4 /bin/true
sha13=$(api GET /api/v1/releases/detector/1.3.0 | sed 's/^[0-9]* //' | jq -r .sha256)
stop_server
sqlite3 "$DATA/fairlead.db" "DELETE FROM releases WHERE name = 'detector' AND version = '1.3.0'"
start_server
r=$(api GET /api/v1/releases/detector/1.3.0)
assert_eq "$(status_of "$r")" "200" "release row recovered from git"
assert_eq "$(body_of "$r" | jq -r .sha256)" "$sha13" "recovered with the same identity"
assert_match "$(cli -o json audit list | jq -r '.[].action' | tr '\n' ' ')" "release.recover" "recovery audited"
cli audit verify >/dev/null || fail "audit chain after recovery"

# the store is a real git repository
git clone -q --bare "$DATA/releases.git" "$T/clone.git" || fail "git clone"
git -C "$T/clone.git" fsck --strict >/dev/null 2>&1 || fail "git fsck"
assert_eq "$(git -C "$T/clone.git" tag | sort | tr '\n' ' ')" "detector/1.0.0 detector/1.1.0 detector/1.2.0 detector/1.3.0 " "tags"
pass

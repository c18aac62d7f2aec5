#!/usr/bin/env bash
# Who may receive a release is one rule, for direct assignment and for
# rollouts alike: accepted devices only (and the release's hardware list).
# Pending, quarantined and revoked devices are refused with a 409 naming
# their state; a selector assignment and a rollout skip them with the same
# reason.
source "$(dirname "$0")/lib.sh"
start_server

K="$T/keys" B="$T/build" R="$T/rel"
mkdir -p "$K" "$B" "$R"
SERVER_PUB=$(cat "$DATA/keys/server.pub")
for k in root1 rm1; do cli key generate --out "$K/$k.key" >/dev/null || fail "key $k"; done
cli root create --out "$R/root.json" --root-key "$K/root1.key" --root-threshold 1 \
	--release-key "$K/rm1.key" --release-threshold 1 --timestamp-pubkey "$SERVER_PUB" \
	--director-pubkey "$SERVER_PUB" --expires 30d >/dev/null || fail "root create"
cli root sign "$R/root.json" --key "$K/root1.key" >/dev/null || fail "root sign"
cli root push "$R/root.json" >/dev/null || fail "root push"
echo model >"$B/model.bin"
cli release create --name det --version 1.0.0 --kind model --artifact "$B/model.bin" \
	--counter 1 --out "$R/det.json" >/dev/null || fail "release create"
cli release sign "$R/det.json" --key "$K/rm1.key" >/dev/null || fail "release sign"
cli release push "$R/det.json" --artifact-dir "$B" >/dev/null 2>&1 || fail "release push"

auto=$(new_enroll_token --uses 3 --auto-accept --label site=lab)
manual=$(new_enroll_token --uses 1 --label site=lab)
for d in dev-ok dev-quar dev-rev; do
	agent "$d" enroll --token "$auto" --id "$d" >/dev/null 2>&1 || fail "enroll $d"
done
agent dev-pend enroll --token "$manual" --id dev-pend >/dev/null 2>&1 || true
assert_eq "$(device_json dev-pend | jq -r .state)" "pending" "dev-pend awaits acceptance"
cli device quarantine dev-quar >/dev/null || fail "quarantine"
cli device revoke dev-rev >/dev/null || fail "revoke"

# direct assignment: 409 naming the state, nothing assigned
for d in dev-pend:pending dev-quar:quarantined dev-rev:revoked; do
	id=${d%%:*} state=${d#*:}
	r=$(api POST "/api/v1/devices/$id/assign" '{"release":"det@1.0.0"}')
	assert_eq "$(status_of "$r")" "409" "assign to $state $id"
	assert_match "$(body_of "$r" | jq -r .error.message)" "device is $state.*only accepted" \
		"the refusal names the state"
	if cli device assign "$id" det@1.0.0 >"$T/out" 2>&1; then fail "CLI assigned to $id"; fi
	assert_match "$(cat "$T/out")" "$state.*HTTP 409" "CLI refusal for $id"
	assert_eq "$(device_json "$id" | jq -r .update.assigned)" "null" "$id has no assignment"
done
out=$(cli device assign dev-ok det@1.0.0) || fail "assign to the accepted device"
assert_match "$out" "assigned 1, skipped 0" "accepted device assigned"
assert_eq "$(device_json dev-ok | jq -r .update.assigned)" "det@1.0.0" "dev-ok has it"

# selector assignment and rollout: the same devices skipped, for the same reasons
r=$(api POST /api/v1/assign '{"selector":"site=lab","release":"det@1.0.0"}')
assert_eq "$(status_of "$r")" "200" "selector assign"
assert_eq "$(body_of "$r" | jq -c .assigned)" '["dev-ok"]' "only the accepted device"
api_skipped=$(body_of "$r" | jq -c '.skipped | sort_by(.id)')
assert_eq "$(jq -c 'map(.id)' <<<"$api_skipped")" '["dev-pend","dev-quar","dev-rev"]' \
	"selector assign skips the others"
r=$(api POST /api/v1/rollouts '{"release":"det@1.0.0","selector":"site=lab","stages":["100%"],"require_sli":false}')
assert_eq "$(status_of "$r")" "201" "rollout start: $(body_of "$r")"
assert_eq "$(body_of "$r" | jq .targets)" "1" "the rollout targets the accepted device only"
assert_eq "$(body_of "$r" | jq -c '.skipped | sort_by(.id)')" "$api_skipped" \
	"the rollout skips the same devices for the same reasons"
pass

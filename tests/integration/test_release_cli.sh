#!/usr/bin/env bash
# The release manager's path through `fairlead` alone, against a real server:
# keys (2 release keys, threshold 2; 1 root key), a root that names the
# server's online key for timestamp and director, root push, release create,
# two signatures, push with progress (non-TTY: one line per artifact), list,
# show, a second release, diff (server and offline), assignment to a device
# and to a selector, and the refusals: one signature short, a tampered
# artifact (caught before anything is sent), a repeated version.
source "$(dirname "$0")/lib.sh"
start_server

K="$T/keys" B="$T/build" R="$T/rel"
mkdir -p "$K" "$B" "$R"

# ---- keys and root ----
for k in root1 rm1 rm2; do
	cli key generate --out "$K/$k.key" >/dev/null || fail "key generate $k"
done
cli key public "$K/rm1.key" --out "$K/rm1.pub" >/dev/null || fail "key public"
[ -s "$DATA/keys/server.pub" ] || fail "the server has no online public key"
SERVER_PUB=$(cat "$DATA/keys/server.pub")
cli root create --out "$R/root.json" --root-key "$K/root1.key" --root-threshold 1 \
	--release-key "$K/rm1.pub" --release-key "$K/rm2.key" --release-threshold 2 \
	--timestamp-pubkey "$SERVER_PUB" --director-pubkey "$SERVER_PUB" --expires 30d \
	>"$T/out" 2>&1 || fail "root create: $(cat "$T/out")"
# an unsigned root is refused before it is sent
if cli root push "$R/root.json" >"$T/out" 2>&1; then fail "unsigned root pushed"; fi
assert_match "$(cat "$T/out")" "nothing was sent" "unsigned root refused locally"
cli root sign "$R/root.json" --key "$K/root1.key" >/dev/null || fail "root sign"
out=$(cli root push "$R/root.json" 2>&1) || fail "root push: $out"
assert_match "$out" "root v1" "root push names the version"
assert_eq "$(body_of "$(api GET /api/v1/root)" | jq -r .payloadType)" \
	"application/vnd.fairlead.root+json" "the server serves the pushed root"

# ---- first release ----
head -c 300000 /dev/urandom >"$B/model.onnx"
echo '{"score": {"bins": [0, 0.5, 1]}}' >"$B/baseline.json"
cli release create --name detector --version 1.0.0 --kind model --artifact "$B/model.onnx" \
	--hw rpi4 --health-cmd /bin/true --baseline "$B/baseline.json" \
	--lineage source_commit=abc123 --lineage builder=ci-1 --counter 1 \
	--out "$R/detector-1.0.0.json" >/dev/null || fail "release create"
cli release sign "$R/detector-1.0.0.json" --key "$K/rm1.key" >/dev/null || fail "sign 1"
cli release sign "$R/detector-1.0.0.json" --key "$K/rm2.key" >/dev/null || fail "sign 2"
cli release verify "$R/detector-1.0.0.json" --root "$R/root.json" --artifact-dir "$B" \
	>/dev/null || fail "release verify"
cli release push "$R/detector-1.0.0.json" --artifact-dir "$B" >"$T/push.out" 2>"$T/push.err" ||
	fail "release push: $(cat "$T/push.err")"
# stderr is not a terminal here: one progress line per artifact, no bar
assert_match "$(cat "$T/push.err")" "model.onnx: uploaded 29[0-9.]+ KiB" "non-TTY progress line"
if grep -q $'\r' "$T/push.err"; then fail "carriage returns in non-TTY progress output"; fi
assert_match "$(cat "$T/push.out")" "^detector@1\.0\.0 pushed \(counter 1\), commit [0-9a-f]{40}" \
	"push prints NAME@VERSION and the commit"

# the same version again: refused by the server, the blob is skipped
if cli release push "$R/detector-1.0.0.json" --artifact-dir "$B" >"$T/out" 2>"$T/err"; then
	fail "a repeated version was accepted"
fi
assert_match "$(cat "$T/err")" "already on the server" "a stored blob is not uploaded twice"
assert_match "$(cat "$T/err")" "release refused: .*HTTP 409" "repeated version message"

# ---- list and show ----
j=$(cli -o json release list) || fail "release list"
assert_eq "$(jq -r 'length' <<<"$j")" "1" "one release"
assert_eq "$(jq -r '.[0] | "\(.name) \(.version) \(.kind) \(.counter)"' <<<"$j")" \
	"detector 1.0.0 model 1" "release list fields"
out=$(cli release list)
assert_match "$out" "NAME +VERSION +KIND +COUNTER +CREATED +COMMIT" "list table header"
assert_match "$out" "detector +1\.0\.0 +model +1 " "list table row"
out=$(cli release show detector@1.0.0) || fail "release show"
assert_match "$out" "model\.onnx  300000 bytes" "show lists the artifact with its size"
assert_match "$out" "$(jq -r .keyid "$K/rm1.key")" "show lists rm1's keyid"
assert_match "$out" "$(jq -r .keyid "$K/rm2.key")" "show lists rm2's keyid"
assert_match "$out" "hardware: +rpi4" "show lists the hardware"
assert_match "$out" "builder +ci-1" "show lists the lineage"
j=$(cli -o json release show detector@1.0.0) || fail "release show -o json"
assert_eq "$(jq -r .metadata.artifacts[0].length <<<"$j")" "300000" "show -o json metadata"
assert_eq "$(jq -r '.envelope.signatures | length' <<<"$j")" "2" "show -o json envelope"

# ---- a second release and diff ----
mkdir -p "$B/v2"
head -c 1000 /dev/urandom >"$B/v2/model.onnx"
cli release create --name detector --version 1.1.0 --kind model --artifact "$B/v2/model.onnx" \
	--hw rpi4 --health-cmd /bin/true --baseline "$B/baseline.json" \
	--lineage source_commit=def456 --lineage builder=ci-1 --lineage parent=detector@1.0.0 \
	--counter 2 --out "$R/detector-1.1.0.json" >/dev/null || fail "release create 1.1.0"
cli release sign "$R/detector-1.1.0.json" --key "$K/rm1.key" >/dev/null
cli release sign "$R/detector-1.1.0.json" --key "$K/rm2.key" >/dev/null
# default artifact dir: next to the metadata, so copy it there
cp "$B/v2/model.onnx" "$R/model.onnx"
cli release push "$R/detector-1.1.0.json" --quiet >"$T/push2.out" 2>"$T/push2.err" ||
	fail "push 1.1.0: $(cat "$T/push2.err")"
assert_eq "$(cat "$T/push2.err")" "" "--quiet prints no progress"
assert_eq "$(cli -o json release list | jq -r 'map(.counter) | sort | join(",")')" "1,2" "two releases"
out=$(cli release diff detector@1.0.0 detector@1.1.0) || fail "release diff"
assert_match "$out" "version +1\.0\.0 -> 1\.1\.0" "diff version"
assert_match "$out" "counter +1 -> 2" "diff counter"
assert_match "$out" "artifact +~ model\.onnx: length 300000 -> 1000, sha256 " "diff artifact"
assert_match "$out" "lineage\.source_commit +abc123 -> def456" "diff lineage"
assert_match "$out" "lineage\.parent +- -> detector@1\.0\.0" "diff parent"
if grep -q "baseline" <<<"$out"; then fail "the baseline did not change"; fi
offline=$(cli release diff "$R/detector-1.0.0.json" "$R/detector-1.1.0.json") || fail "offline diff"
assert_eq "$(sed 1,2d <<<"$offline")" "$(sed 1,2d <<<"$out")" "offline diff equals the server diff"

# ---- refusals ----
# one signature of the two needed: the server refuses, nothing lands
cli release create --name detector --version 1.2.0 --kind model --artifact "$B/v2/model.onnx" \
	--counter 3 --out "$R/detector-1.2.0.json" >/dev/null || fail "release create 1.2.0"
cli release sign "$R/detector-1.2.0.json" --key "$K/rm1.key" >/dev/null
if cli release push "$R/detector-1.2.0.json" --artifact-dir "$B/v2" >"$T/out" 2>"$T/err"; then
	fail "a release with one signature of two was accepted"
fi
assert_match "$(cat "$T/err")" "release refused: .*(signature|threshold).*\(HTTP 4[0-9][0-9]" \
	"below-threshold message"
assert_eq "$(cli -o json release list | jq length)" "2" "nothing landed for the refused release"

# a tampered artifact: caught locally, no byte sent
head -c 5000 /dev/urandom >"$B/tamper.bin"
cli release create --name detector --version 1.3.0 --kind model --artifact "$B/tamper.bin" \
	--counter 4 --out "$R/detector-1.3.0.json" >/dev/null || fail "release create 1.3.0"
cli release sign "$R/detector-1.3.0.json" --key "$K/rm1.key" >/dev/null
cli release sign "$R/detector-1.3.0.json" --key "$K/rm2.key" >/dev/null
sha=$(cli -o json release show "$R/detector-1.3.0.json" | jq -r .metadata.artifacts[0].sha256)
printf 'X' | dd of="$B/tamper.bin" bs=1 seek=100 conv=notrunc status=none
if cli release push "$R/detector-1.3.0.json" --artifact-dir "$B" >"$T/out" 2>"$T/err"; then
	fail "a tampered artifact was pushed"
fi
assert_match "$(cat "$T/err")" "refused locally, nothing was sent: artifact 'tamper\.bin' does not match its sha256" \
	"tampered artifact message"
# curl -X HEAD would wait for a body; -I knows HEAD has none
code=$(curl -s -o /dev/null -w '%{http_code}' -I --cacert "$DATA/tls/ca.pem" \
	-H "Authorization: Bearer $ADMIN" "$URL/api/v1/blobs/$sha")
assert_eq "$code" "404" "no blob was uploaded"

# ---- assignment ----
tok=$(new_enroll_token --uses 2 --auto-accept --label site=lab)
agent d1 enroll --token "$tok" --id dev-1 --hw-model rpi4 >/dev/null 2>&1 || fail "enroll dev-1"
agent d2 enroll --token "$tok" --id dev-2 --hw-model rpi3 >/dev/null 2>&1 || fail "enroll dev-2"
# rpi3 is not in the release's hardware list: skipped, with a reason
out=$(cli device assign --selector site=lab detector@1.0.0) || fail "assign --selector"
assert_match "$out" "assigned 1, skipped 1" "selector summary"
assert_match "$out" "skipped +dev-2: .+" "skipped device with its reason"
out=$(cli device assign dev-1 detector@1.1.0) || fail "device assign"
assert_match "$out" "assigned 1, skipped 0" "assign summary"
assert_eq "$(device_json dev-1 | jq -r .update.assigned)" "detector@1.1.0" "device show -o json has the assignment"
assert_match "$(cli device show dev-1)" "assigned +detector@1\.1\.0" "device show has the assignment"
if cli device assign dev-2 detector@1.1.0 >"$T/out" 2>&1; then fail "hardware mismatch assigned"; fi
assert_match "$(cat "$T/out")" "HTTP 409" "hardware mismatch is a conflict"
if cli device assign dev-1 nosuch@9.9.9 >"$T/out" 2>&1; then fail "unknown release assigned"; fi
assert_match "$(cat "$T/out")" "HTTP 404" "unknown release"
set +e
cli device assign dev-1 nonsense >/dev/null 2>&1
rc=$?
set -e
assert_eq "$rc" "2" "a malformed NAME@VERSION is a usage error"

pass

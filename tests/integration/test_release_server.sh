#!/usr/bin/env bash
# The release server end to end with the real binaries: root, blob uploads,
# release pushes (good, below threshold, stale counter, missing or wrong
# blob), the git store, assignments, the check-in's update offer and artifact
# downloads with Range and ETag. The CLI's offline commands make the keys and
# metadata; curl plays the push/assign client and the device.
source "$(dirname "$0")/lib.sh"
start_server --rate-token 0 --rate-device 0

K="$T/keys"
mkdir -p "$K"
for k in root1 root2 rel1 rel2; do
	"$FLCLI" key generate --out "$K/$k.key" >/dev/null || fail "key generate $k"
	"$FLCLI" key public "$K/$k.key" --out "$K/$k.pub" >/dev/null || fail "key public $k"
done
SERVER_PUB=$(cat "$DATA/keys/server.pub")

# upload FILE [SHA]: PUT /blobs, prints the status
upload() {
	local sha=${2:-$(sha256sum "$1" | cut -d' ' -f1)}
	curl -s --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" -T "$1" \
		-o "$T/upload.out" -w '%{http_code}' "$URL/api/v1/blobs/$sha"
}
# push FILE: POST /releases, prints "STATUS BODY"
push() { api POST /api/v1/releases "$(cat "$1")"; }
# dev METHOD TARGET [BODYFILE] [curl args...]: a signed device request; the
# body goes to $T/dev.out, headers to $T/dev.hdr; prints the status
dev() {
	local method=$1 target=$2 bodyfile=${3:-}
	shift 2
	[ $# -gt 0 ] && shift
	local hdrs=()
	while IFS= read -r line; do hdrs+=(-H "$line"); done < <("$FLSIGN" "$DEVKEY" "$method" "$target" $bodyfile)
	local args=(-s --path-as-is --cacert "$DATA/tls/ca.pem" -X "$method" -o "$T/dev.out" -D "$T/dev.hdr" -w '%{http_code}' "${hdrs[@]}")
	[ -n "$bodyfile" ] && args+=(-H 'Content-Type: application/json' --data-binary "@$bodyfile")
	curl "${args[@]}" "$@" "$URL$target"
}

# --- root: refused without the server's key, then trust on first use ---
"$FLCLI" root create --out "$T/bad-root.json" --root-key "$K/root1.pub" \
	--release-key "$K/rel1.pub" --timestamp-pubkey "$(jq -r .public "$K/rel2.pub")" \
	--director-pubkey "$(jq -r .public "$K/rel2.pub")" >/dev/null || fail "root create (bad)"
"$FLCLI" root sign "$T/bad-root.json" --key "$K/root1.key" >/dev/null || fail "root sign (bad)"
r=$(api PUT /api/v1/root "$(cat "$T/bad-root.json")")
assert_eq "$(status_of "$r")" "400" "root without the server's key"
assert_match "$(body_of "$r")" "timestamp-pubkey" "message names the flags"

"$FLCLI" root create --out "$T/root.json" --root-key "$K/root1.pub" --root-key "$K/root2.pub" \
	--root-threshold 2 --release-key "$K/rel1.pub" --release-key "$K/rel2.pub" \
	--release-threshold 2 --timestamp-pubkey "$SERVER_PUB" --director-pubkey "$SERVER_PUB" \
	>/dev/null || fail "root create"
"$FLCLI" root sign "$T/root.json" --key "$K/root1.key" >/dev/null
r=$(api PUT /api/v1/root "$(cat "$T/root.json")")
assert_eq "$(status_of "$r")" "401" "root below its own threshold"
"$FLCLI" root sign "$T/root.json" --key "$K/root2.key" >/dev/null
r=$(api PUT /api/v1/root "$(cat "$T/root.json")")
assert_eq "$(status_of "$r")" "201" "first root: $(body_of "$r")"
assert_eq "$(body_of "$r" | jq .version)" "1" "root version"
assert_eq "$(curl -sf --cacert "$DATA/tls/ca.pem" "$URL/api/v1/root" | jq -S .)" \
	"$(jq -S . "$T/root.json")" "GET /root serves it"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.pem" "$URL/api/v1/root/2")" \
	"404" "no root 2"
assert_eq "$(status_of "$(api PUT /api/v1/root "$(cat "$T/root.json")")")" "409" "same root twice"

# --- blobs ---
mkdir -p "$T/art"
head -c 300000 /dev/urandom >"$T/art/model.onnx"
echo '{"labels":["cat","dog"]}' >"$T/art/labels.json"
SHA=$(sha256sum "$T/art/model.onnx" | cut -d' ' -f1)
head -c 1000 /dev/urandom >"$T/other.bin"
assert_eq "$(upload "$T/other.bin" "$SHA")" "400" "wrong-hash upload"
assert_eq "$(ls "$DATA/staging" | wc -l)" "0" "nothing stays after a bad upload"
assert_eq "$(curl -s -I -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" "$URL/api/v1/blobs/$SHA")" "404" "HEAD before upload"
assert_eq "$(upload "$T/art/model.onnx")" "201" "upload model"
assert_eq "$(jq .length "$T/upload.out")" "300000" "uploaded length"
len=$(curl -s -I --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" "$URL/api/v1/blobs/$SHA" | tr -d '\r' | awk -F': ' 'tolower($1) == "content-length" {print $2}')
assert_eq "$len" "300000" "HEAD gives the length"
assert_eq "$(upload "$T/art/model.onnx")" "200" "upload again"

# --- releases ---
"$FLCLI" release create --name detector --version 1.0.0 --kind model --counter 5 \
	--artifact "$T/art/model.onnx" --artifact "$T/art/labels.json" \
	--lineage source_commit=abc123 --lineage builder=ci-42 --out "$T/r1.json" >/dev/null ||
	fail "release create"
"$FLCLI" release sign "$T/r1.json" --key "$K/rel1.key" >/dev/null || fail "release sign"
r=$(push "$T/r1.json")
assert_match "$(status_of "$r")" "^40[13]$" "one signature below 2-of-2"
assert_match "$(body_of "$r" | jq -r .error.message)" "sign" "threshold message"
assert_eq "$(api GET /api/v1/releases | cut -d' ' -f2- | jq '.releases | length')" "0" "no row after a refused push"
assert_eq "$(git --git-dir "$DATA/releases.git" tag | wc -l)" "0" "no tag after a refused push"
"$FLCLI" release sign "$T/r1.json" --key "$K/rel2.key" >/dev/null
r=$(push "$T/r1.json")
assert_eq "$(status_of "$r")" "400" "labels.json not uploaded"
assert_match "$(body_of "$r" | jq -r .error.message)" "labels.json" "names the missing artifact"
assert_eq "$(upload "$T/art/labels.json")" "201" "upload labels"
r=$(push "$T/r1.json")
assert_eq "$(status_of "$r")" "201" "push: $(body_of "$r")"
REL_SHA=$(body_of "$r" | jq -r .sha256)
COMMIT=$(body_of "$r" | jq -r .commit)
assert_eq "$REL_SHA" "$(sha256sum "$T/r1.json" | cut -d' ' -f1)" "release sha256 is over the envelope bytes"
assert_eq "$(status_of "$(push "$T/r1.json")")" "409" "same release twice"

# stale counter: a new version with the same counter
"$FLCLI" release create --name detector --version 1.1.0 --kind model --counter 5 \
	--artifact "$T/art/model.onnx" --out "$T/r2.json" >/dev/null
"$FLCLI" release sign "$T/r2.json" --key "$K/rel1.key" >/dev/null
"$FLCLI" release sign "$T/r2.json" --key "$K/rel2.key" >/dev/null
assert_eq "$(status_of "$(push "$T/r2.json")")" "409" "counter not rising"
# hardware that no device has
"$FLCLI" release create --name fw --version 2.0.0 --kind firmware --counter 1 --hw no-such-board \
	--artifact "$T/art/labels.json" --out "$T/fw.json" >/dev/null
"$FLCLI" release sign "$T/fw.json" --key "$K/rel1.key" >/dev/null
"$FLCLI" release sign "$T/fw.json" --key "$K/rel2.key" >/dev/null
assert_eq "$(upload "$T/art/labels.json")" "200" "labels already stored"
assert_eq "$(status_of "$(push "$T/fw.json")")" "201" "push fw"

r=$(api GET /api/v1/releases)
assert_eq "$(body_of "$r" | jq -r '[.releases[] | "\(.name)@\(.version)"] | join(",")')" "detector@1.0.0,fw@2.0.0" "list"
r=$(api GET /api/v1/releases/detector/1.0.0)
assert_eq "$(body_of "$r" | jq -r .metadata.lineage.builder)" "ci-42" "show: metadata"
assert_eq "$(body_of "$r" | jq -r .commit)" "$COMMIT" "show: commit"

# --- the git store ---
git clone -q "$DATA/releases.git" "$T/clone" 2>"$T/clone.log" || fail "git clone: $(cat "$T/clone.log")"
git --git-dir "$DATA/releases.git" fsck --strict >"$T/fsck.log" 2>&1 || fail "git fsck: $(cat "$T/fsck.log")"
assert_eq "$(git --git-dir "$DATA/releases.git" tag | sort | tr '\n' ' ')" "detector/1.0.0 fw/2.0.0 " "tags"
git --git-dir "$DATA/releases.git" log -1 --format=%B "detector/1.0.0" | grep -q "Builder: ci-42" ||
	fail "lineage in the commit message"

# --- a device and its assignment ---
tok=$(new_enroll_token --uses 2 --auto-accept)
agent a1 enroll --token "$tok" --id dev-1 >/dev/null 2>&1 || fail "enroll"
DEVKEY="$T/agents/a1/device.key"
echo '{}' >"$T/empty.json"
assert_eq "$(dev POST /api/v1/device/checkin "$T/empty.json")" "200" "check-in before assignment"
assert_eq "$(jq 'has("update")' "$T/dev.out")" "false" "no update without an assignment"

assert_eq "$(status_of "$(api POST /api/v1/devices/dev-1/assign '{"release":"fw@2.0.0"}')")" "409" "hardware mismatch"
assert_eq "$(status_of "$(api POST /api/v1/devices/dev-1/assign '{"release":"nope@1.0.0"}')")" "404" "unknown release"
r=$(api POST /api/v1/devices/dev-1/assign '{"release":"detector@1.0.0"}')
assert_eq "$(status_of "$r")" "200" "assign: $(body_of "$r")"
assert_eq "$(body_of "$r" | jq -r .assignment.release)" "detector@1.0.0" "assignment in the reply"
r=$(api POST /api/v1/assign '{"selector":"site=nowhere","release":"detector@1.0.0"}')
assert_eq "$(body_of "$r" | jq -c .assigned)" "[]" "selector matching nothing"

assert_eq "$(dev POST /api/v1/device/checkin "$T/empty.json")" "200" "check-in with an assignment"
jq -e '.update.assignment.payloadType and .update.release.payloadType and .update.timestamp.payloadType' "$T/dev.out" >/dev/null ||
	fail "update offer: $(cat "$T/dev.out")"
assert_eq "$(jq .update.root_version "$T/dev.out")" "1" "root_version"
A=$(jq -r .update.assignment.payload "$T/dev.out" | base64 -d)
assert_eq "$(jq -r .device_id <<<"$A")" "dev-1" "assignment device"
assert_eq "$(jq -r .release_sha256 <<<"$A")" "$REL_SHA" "assignment names the release envelope hash"
assert_eq "$(jq -r .counter <<<"$A")" "5" "assignment counter"
TS=$(jq -r .update.timestamp.payload "$T/dev.out" | base64 -d)
assert_eq "$(jq -r '.releases["detector@1.0.0"]' <<<"$TS")" "$REL_SHA" "timestamp lists the release"
# the release envelope re-serialised the CLI's way is the pushed file
assert_eq "$(jq -c .update.release "$T/dev.out")" "$(jq -c . "$T/r1.json")" "release envelope as pushed"
# the server's signatures are by its own key
assert_eq "$(jq -r '.update.assignment.signatures[0].keyid' "$T/dev.out")" \
	"$(jq -r '.update.timestamp.signatures[0].keyid' "$T/dev.out")" "one online key"

# --- artifacts ---
assert_eq "$(dev GET "/api/v1/device/artifacts/$SHA")" "200" "download"
assert_eq "$(sha256sum "$T/dev.out" | cut -d' ' -f1)" "$SHA" "downloaded bytes"
grep -qi "^etag: \"$SHA\"" "$T/dev.hdr" || fail "ETag: $(cat "$T/dev.hdr")"
grep -qi "^accept-ranges: bytes" "$T/dev.hdr" || fail "Accept-Ranges"
assert_eq "$(dev GET "/api/v1/device/artifacts/$SHA" "" -H "Range: bytes=1000-1999")" "206" "range"
assert_eq "$(cmp <(tail -c +1001 "$T/art/model.onnx" | head -c 1000) "$T/dev.out" && echo same)" "same" "range bytes"
grep -qi "^content-range: bytes 1000-1999/300000" "$T/dev.hdr" || fail "Content-Range"
assert_eq "$(dev GET "/api/v1/device/artifacts/$SHA" "" -H "Range: bytes=299990-")" "206" "open range"
assert_eq "$(stat -c %s "$T/dev.out")" "10" "open range length"
assert_eq "$(dev GET "/api/v1/device/artifacts/$SHA" "" -H "Range: bytes=400000-")" "416" "range past the end"
assert_eq "$(dev GET "/api/v1/device/artifacts/$SHA" "" -H "If-None-Match: \"$SHA\"")" "304" "If-None-Match"
# only the assigned release's artifacts: any other hash is refused, stored or not
assert_eq "$(dev GET "/api/v1/device/artifacts/$(printf '0%.0s' {1..64})")" "403" "unassigned artifact"
assert_match "$(jq -r .error.message "$T/dev.out")" "not in the assigned release" "why"

# --- the device reports; in sync means no offer ---
cat >"$T/st.json" <<JSON
{"update":{"release":"detector@1.0.0","state":"downloading","progress":0.5},"inventory":{"os":"linux","running":{}}}
JSON
assert_eq "$(dev POST /api/v1/device/checkin "$T/st.json")" "200" "check-in downloading"
assert_eq "$(jq 'has("update")' "$T/dev.out")" "true" "still offered while downloading"
cat >"$T/done.json" <<JSON
{"update":{"release":"detector@1.0.0","state":"committed","progress":1},"inventory":{"os":"linux","running":{"detector":"1.0.0"}}}
JSON
assert_eq "$(dev POST /api/v1/device/checkin "$T/done.json")" "200" "check-in committed"
assert_eq "$(jq 'has("update")' "$T/dev.out")" "false" "no offer when in sync"
echo '{"update":{"release":"detector@1.0.0","state":"bogus"}}' >"$T/bad.json"
assert_eq "$(dev POST /api/v1/device/checkin "$T/bad.json")" "400" "bad update state"
in_sync() { api GET /api/v1/devices/dev-1 | cut -d' ' -f2- | jq -e '.update.in_sync == true'; }
wait_for "dev-1 shown in sync" 10 in_sync
d=$(api GET /api/v1/devices/dev-1 | cut -d' ' -f2-)
assert_eq "$(jq -c '.update | {assigned, state, in_sync, running}' <<<"$d")" \
	'{"assigned":"detector@1.0.0","state":"committed","in_sync":true,"running":{"detector":"1.0.0"}}' "device show update"

# --- quarantined: no offer, no artifacts ---
assert_eq "$(dev POST /api/v1/device/checkin "$T/st.json")" "200" "check-in out of sync"
assert_eq "$(jq 'has("update")' "$T/dev.out")" "true" "offered again"
cli device quarantine dev-1 >/dev/null || fail "quarantine"
assert_eq "$(dev POST /api/v1/device/checkin "$T/st.json")" "200" "quarantined check-in"
assert_eq "$(jq -r .state "$T/dev.out")" "quarantined" "state"
assert_eq "$(jq 'has("update")' "$T/dev.out")" "false" "no offer when quarantined"
assert_eq "$(dev GET "/api/v1/device/artifacts/$SHA")" "403" "no artifacts when quarantined"

# --- audit and restart ---
acts=$(api GET '/api/v1/audit?limit=1000' | cut -d' ' -f2- | jq -r '[.entries[].action] | unique | join(",")')
for a in root.put release.push device.assign; do
	[[ ",$acts," == *",$a,"* ]] || fail "audit lacks $a ($acts)"
done
stop_server
start_server --rate-token 0 --rate-device 0
assert_eq "$(api GET /api/v1/releases | cut -d' ' -f2- | jq '.releases | length')" "2" "releases after restart"
pass

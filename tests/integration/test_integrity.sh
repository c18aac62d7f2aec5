#!/usr/bin/env bash
# Damaged state is refused, never served: a corrupted artifact cache file is
# re-extracted from git before it is served (and 503 when it cannot be), a
# database with a corrupt page stops the start (unless --skip-check), and a
# truncated object in the release repository stops the start within seconds,
# naming the object. A quarantined device is refused its artifacts.
source "$(dirname "$0")/lib.sh"
start_server --rate-token 0 --rate-device 0

# --- one release with one artifact, assigned to one device ---
K="$T/keys"
mkdir -p "$K" "$T/art"
for k in root rel; do
	"$FLCLI" key generate --out "$K/$k.key" >/dev/null || fail "key generate $k"
	"$FLCLI" key public "$K/$k.key" --out "$K/$k.pub" >/dev/null || fail "key public $k"
done
SERVER_PUB=$(cat "$DATA/keys/server.pub")
"$FLCLI" root create --out "$T/root.json" --root-key "$K/root.pub" --release-key "$K/rel.pub" \
	--timestamp-pubkey "$SERVER_PUB" --director-pubkey "$SERVER_PUB" >/dev/null || fail "root create"
"$FLCLI" root sign "$T/root.json" --key "$K/root.key" >/dev/null || fail "root sign"
assert_eq "$(status_of "$(api PUT /api/v1/root "$(cat "$T/root.json")")")" "201" "root"
head -c 200000 /dev/urandom >"$T/art/model.onnx"
SHA=$(sha256sum "$T/art/model.onnx" | cut -d' ' -f1)
st=$(curl -s --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $ADMIN" -T "$T/art/model.onnx" \
	-o /dev/null -w '%{http_code}' "$URL/api/v1/blobs/$SHA")
assert_eq "$st" "201" "upload"
"$FLCLI" release create --name det --version 1.0.0 --kind model --artifact "$T/art/model.onnx" \
	--out "$T/r1.json" >/dev/null || fail "release create"
"$FLCLI" release sign "$T/r1.json" --key "$K/rel.key" >/dev/null || fail "release sign"
r=$(api POST /api/v1/releases "$(cat "$T/r1.json")")
assert_eq "$(status_of "$r")" "201" "push: $(body_of "$r")"
tok=$(new_enroll_token --uses 1 --auto-accept)
agent a1 enroll --token "$tok" --id dev-1 >/dev/null 2>&1 || fail "enroll"
DEVKEY="$T/agents/a1/device.key"
r=$(api POST /api/v1/devices/dev-1/assign '{"release":"det@1.0.0"}')
assert_eq "$(status_of "$r")" "200" "assign: $(body_of "$r")"

# download: prints the status, the body goes to $T/dl.out
download() {
	local target="/api/v1/device/artifacts/$SHA" hdrs=()
	while IFS= read -r line; do hdrs+=(-H "$line"); done < <("$FLSIGN" "$DEVKEY" GET "$target")
	curl -s --path-as-is --cacert "$DATA/tls/ca.pem" -o "$T/dl.out" -w '%{http_code}' \
		"${hdrs[@]}" "$URL$target"
}
# corrupt FILE: overwrites 64 bytes in the middle of FILE, keeping its length
corrupt() {
	local size
	size=$(stat -c %s "$1")
	head -c 64 /dev/urandom | dd of="$1" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
}
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# --- a corrupted cache file is repaired from git, never served ---
CACHE_FILE="$DATA/cache/${SHA:0:2}/$SHA"
assert_eq "$(download)" "200" "first download"
assert_eq "$(sha_of "$T/dl.out")" "$SHA" "first download bytes"
[ -f "$CACHE_FILE" ] || fail "no cache file at $CACHE_FILE"
corrupt "$CACHE_FILE"
assert_ne "$(sha_of "$CACHE_FILE")" "$SHA" "the cache file is corrupt"
assert_eq "$(download)" "200" "download of a corrupted cache entry"
assert_eq "$(sha_of "$T/dl.out")" "$SHA" "downloaded bytes after the corruption"
assert_eq "$(sha_of "$CACHE_FILE")" "$SHA" "the cache file is repaired"
# ... and when git cannot restore it either: 503, not bad bytes
BLOB=$(git --git-dir "$DATA/releases.git" rev-parse "det/1.0.0^{tree}:artifacts/model.onnx")
OBJ="$DATA/releases.git/objects/${BLOB:0:2}/${BLOB:2}"
[ -f "$OBJ" ] || fail "artifact blob is not a loose object"
mv "$OBJ" "$T/blob.saved"
corrupt "$CACHE_FILE"
assert_eq "$(download)" "503" "unrestorable artifact"
assert_match "$(jq -r .error.message "$T/dl.out")" "$SHA" "503 names the artifact"
mv "$T/blob.saved" "$OBJ"
assert_eq "$(download)" "200" "download once git has the blob again"
assert_eq "$(sha_of "$T/dl.out")" "$SHA" "downloaded bytes once restored"

# --- a quarantined device is refused its artifacts; accepted again, served ---
cli device quarantine dev-1 >/dev/null || fail "quarantine"
assert_eq "$(download)" "403" "download by a quarantined device"
jq -e '.error.code == "forbidden"' "$T/dl.out" >/dev/null || fail "quarantined: $(cat "$T/dl.out")"
cli device accept dev-1 >/dev/null || fail "accept again"
assert_eq "$(download)" "200" "download once accepted again"
stop_server

# serve_once [flags...]: runs serve in the foreground for at most 20 s (it
# blocks SIGTERM while it starts: SIGKILL 2 s later); the status is in $RC
# (HUNG when it had to be stopped), the output in $T/once.log
serve_once() {
	RC=0
	timeout -k 2 20 "$FLD" serve --data "$DATA" --listen "127.0.0.1:$PORT" "$@" \
		>"$T/once.log" 2>&1 || RC=$?
	[ "$RC" = 124 ] || [ "$RC" = 137 ] && RC=HUNG
	return 0
}

# --- a database with a corrupt page is refused at start ---
DB="$DATA/fairlead.db"
cp "$DB" "$T/db.saved"
pages=$(sqlite3 "$DB" "PRAGMA page_count")
psize=$(sqlite3 "$DB" "PRAGMA page_size")
[ "$pages" -ge 8 ] || fail "database has only $pages pages"
# The page damaged is the event log's: nothing reads it at start, so that
# --skip-check below can start (a page the start reads would stop it anyway).
page=$(sqlite3 "$DB" "SELECT pageno FROM dbstat WHERE name = 'events' ORDER BY pageno LIMIT 1")
[ -n "$page" ] || fail "no page of the events table"
head -c "$psize" /dev/urandom | dd of="$DB" bs="$psize" seek=$((page - 1)) conv=notrunc 2>/dev/null
serve_once
assert_ne "$RC" "HUNG" "serve on a corrupt database must not start"
assert_ne "$RC" "0" "serve on a corrupt database exits non-zero"
assert_match "$(cat "$T/once.log")" "quick_check" "message names the check"
assert_match "$(cat "$T/once.log")" "fairlead\.db" "message names the file"
assert_match "$(cat "$T/once.log")" "--skip-check" "message names the way out"
# the operator who knows better
start_server --skip-check
stop_server
cp "$T/db.saved" "$DB"

# --- a truncated object in releases.git is refused within seconds ---
COMMIT=$(git --git-dir "$DATA/releases.git" rev-parse "det/1.0.0^{commit}")
SUMS=$(git --git-dir "$DATA/releases.git" rev-parse "det/1.0.0^{tree}:SHA256SUMS")
for obj in "$SUMS" "$COMMIT"; do
	f="$DATA/releases.git/objects/${obj:0:2}/${obj:2}"
	cp "$f" "$T/obj.saved"
	chmod u+w "$f"
	truncate -s $(($(stat -c %s "$f") / 2)) "$f"
	serve_once
	assert_ne "$RC" "HUNG" "serve on a truncated object $obj must not hang"
	assert_ne "$RC" "0" "serve on a truncated object exits non-zero"
	assert_match "$(cat "$T/once.log")" "object $obj" "message names the object"
	assert_match "$(cat "$T/once.log")" "unreadable" "message says why"
	cp "$T/obj.saved" "$f"
done
start_server --rate-token 0 --rate-device 0
assert_eq "$(download)" "200" "download after the repairs"
assert_eq "$(sha_of "$T/dl.out")" "$SHA" "downloaded bytes after the repairs"
pass

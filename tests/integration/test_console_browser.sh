#!/usr/bin/env bash
# ctest-timeout: 300
# The console in a real browser (tests/browser/console_smoke.mjs, Debian's
# Chromium through puppeteer-core) against the real server with two real
# agents, a rollout and an audit log of more than 1,000 entries.
# Screenshots: BUILD/browser/.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/canary_lib.sh"
BROWSER_DIR="$FL_SOURCE_DIR/tests/browser"
[ -d "$BROWSER_DIR/node_modules/puppeteer-core" ] ||
	fail "puppeteer-core is not installed: run scripts/install-deps.sh"
[ -x /usr/bin/chromium ] || fail "Debian's chromium is not installed: run scripts/install-deps.sh"
# the vendored chart library is the one its VERSION file names
(cd "$FL_SOURCE_DIR/web/vendor/uplot" && sed -n 's/^sha256 //p' VERSION | sha256sum -c --quiet) ||
	fail "web/vendor/uplot differs from its VERSION: run scripts/vendor-web.sh"
N=2
SERVER_ARGS=(--web "$FL_SOURCE_DIR/web" --rate-token 0)
canary_setup
model_release 1.1.0 500
cli rollout start anomaly@1.1.0 --selector site=canary --stages 50%,100% --bake 30m >/dev/null ||
	fail "rollout start"
# more than 1,000 audit entries: labels set in one kept-alive curl
# (blocks are separated by "next", which resets every option)
for i in $(seq 1 1000); do
	[ "$i" -gt 1 ] && echo next
	printf 'cacert = "%s"\nheader = "Authorization: Bearer %s"\n' "$DATA/tls/ca.pem" "$ADMIN"
	printf 'header = "Content-Type: application/json"\noutput = "/dev/null"\n'
	printf 'data = "{\\"labels\\":{\\"n\\":\\"%d\\"}}"\n' "$i"
	printf 'url = "%s/api/v1/devices/dev-01/labels"\n' "$URL"
done >"$T/labels.curl"
curl -s -K "$T/labels.curl" || fail "labels"
head_seq=$(api GET /api/v1/audit/head | sed '1s/^[0-9]* //' | jq .seq)
[ "$head_seq" -gt 1000 ] || fail "only $head_seq audit entries"
spki=$(openssl s_client -connect "${URL#https://}" -servername localhost </dev/null 2>/dev/null |
	openssl x509 -pubkey -noout | openssl pkey -pubin -outform der |
	openssl dgst -sha256 -binary | base64)
[ -n "$spki" ] || fail "the server's key"
out=$(FL_URL="$URL" FL_SPKI="$spki" FL_TOKEN="$ADMIN" FL_RELEASE=anomaly@1.1.0 \
	FL_AUDIT_HEAD="$head_seq" FL_DEVICES="dev-01 dev-02" FL_SHOTS="$FL_TEST_BIN/../browser" \
	TMPDIR="$T" node "$BROWSER_DIR/console_smoke.mjs" 2>&1) || fail "$out"
assert_match "$out" "1 passed, 0 failed" "the browser test"
pass

#!/usr/bin/env bash
# Installs the Debian 12 packages Fairlead needs to build, test and demo.
# Idempotent: does nothing when everything is present.
set -euo pipefail
pkgs=(build-essential cmake pkg-config git ca-certificates curl openssl
      libmicrohttpd-dev libgnutls28-dev zlib1g-dev libsqlite3-dev sqlite3 libgit2-dev libsodium-dev
      libcurl4-openssl-dev libjansson-dev libssl-dev libcriterion-dev jq
      prometheus python3 tzdata faketime chromium)
# Node.js and npm for the console's browser tests: any Node.js 18 or newer
# (Debian 12's nodejs is 18); Debian's packages only where none is there.
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
# puppeteer-core from the npm registry, as locked; it drives Debian's
# chromium and never downloads a browser.
browser="$(dirname "$0")/../tests/browser"
if [ ! -f "$browser/node_modules/puppeteer-core/package.json" ]; then
  PUPPETEER_SKIP_DOWNLOAD=1 npm ci --prefix "$browser" --no-audit --no-fund --loglevel=error
fi

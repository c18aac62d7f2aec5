#!/usr/bin/env bash
# Installs the Debian 12 packages Fairlead needs to build, test and demo.
# Idempotent: does nothing when everything is present.
set -euo pipefail
pkgs=(build-essential cmake pkg-config git ca-certificates curl openssl
      libmicrohttpd-dev libgnutls28-dev zlib1g-dev libsqlite3-dev sqlite3 libgit2-dev libsodium-dev
      libcurl4-openssl-dev libjansson-dev libssl-dev libcriterion-dev jq
      prometheus python3 tzdata faketime)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"

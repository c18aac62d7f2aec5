#!/usr/bin/env bash
# Installs what `make bench` needs beyond scripts/install-deps.sh: nginx (the
# static file server figure 5 compares artifact downloads with), binutils for
# strip, procps, python3 (bench/idle/idle.py, standard library only).
# Idempotent: does nothing when everything is present.
set -euo pipefail
pkgs=(nginx-light binutils procps sqlite3 jq curl python3)
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

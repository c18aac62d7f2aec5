#!/usr/bin/env bash
# Refreshes the console's vendored chart library, uPlot, from the npm
# registry: its built files and licence into web/vendor/uplot/, and
# web/vendor/uplot/VERSION with the version, the tarball's integrity and the
# SHA-256 of each file, which the console's tests check. The console needs no
# build step: the files are committed as the registry ships them.
#
#   scripts/vendor-web.sh [VERSION]     (default: the version in VERSION)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=web/vendor/uplot
want=${1:-$(sed -n 's/^version //p' "$dir/VERSION" 2>/dev/null || true)}
[ -n "$want" ] || { echo "vendor-web.sh: which uPlot version?" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$want" >/dev/null)
tgz=$(ls "$tmp"/uplot-*.tgz)
tar -xzf "$tgz" -C "$tmp"
integrity=$(cd "$tmp" && npm view "uplot@$want" dist.integrity)
mkdir -p "$dir"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$dir/"
cp "$tmp/package/LICENSE" "$dir/LICENSE"
{
	echo "name uplot"
	echo "version $want"
	echo "licence MIT (LICENSE)"
	echo "source https://registry.npmjs.org/uplot/-/uplot-$want.tgz"
	echo "integrity $integrity"
	(cd "$dir" && sha256sum uPlot.iife.min.js uPlot.min.css LICENSE | sed 's/^/sha256 /')
} >"$dir/VERSION"
echo "uplot $want vendored into $dir"

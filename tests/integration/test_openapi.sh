#!/usr/bin/env bash
# docs/openapi.yaml describes exactly the server's route table: the same
# paths and methods, and for token routes the same roles.
source "$(dirname "$0")/lib.sh"
: "${FL_SOURCE_DIR:?}"
start_server

# From the spec: "METHOD path roles" per operation, roles "-" when none.
awk '
	/^paths:/ { inpaths = 1; next }
	/^[a-z]/ { inpaths = 0 }
	!inpaths { next }
	/^  \/[^ ]*:$/ { path = $1; sub(/:$/, "", path); next }
	/^    [a-z]+:$/ { if (m) print m, roles; m = toupper($1); sub(/:$/, "", m); m = m " " path; roles = "-"; next }
	/^      x-fairlead-roles:/ { r = $0; sub(/.*\[/, "", r); sub(/\].*/, "", r); gsub(/ /, "", r); roles = r }
	END { if (m) print m, roles }
' "$FL_SOURCE_DIR/docs/openapi.yaml" | sort >"$T/spec"

curl -sf --cacert "$DATA/tls/ca.pem" "$URL/api/v1/_routes" |
	jq -r '.routes[] | "\(.method) \(.path) \(if (.roles | length) > 0 then (.roles | join(",")) else "-" end)"' |
	sort >"$T/table"

[ "$(wc -l <"$T/table")" -ge 20 ] || fail "route table too small"
diff -u "$T/table" "$T/spec" >"$T/diff" || fail "docs/openapi.yaml and the route table differ:
$(cat "$T/diff")"
pass

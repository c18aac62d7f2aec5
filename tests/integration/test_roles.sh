#!/usr/bin/env bash
# Walks every operator route with every role: a role the route admits is
# never refused with 401 or 403 and never gets a 5xx, every other role is
# refused with 403, code "forbidden".
source "$(dirname "$0")/lib.sh"
start_server --rate-token 0

declare -A TOK
for role in admin release-manager operator viewer automation; do
	TOK[$role]=$(cli token create --role "$role" --name "walk-$role")
	assert_match "${TOK[$role]}" '^flt_' "token for $role"
done

routes=$(curl -sf --cacert "$DATA/tls/ca.pem" "$URL/api/v1/_routes")
n=$(jq '[.routes[] | select(.auth == "token")] | length' <<<"$routes")
[ "$n" -ge 15 ] || fail "too few token routes ($n)"
ZERO64=0000000000000000000000000000000000000000000000000000000000000000
fill() {
	local p=${1//\{id\}/no-such-id}
	p=${p//\{name\}/no-such-name}
	p=${p//\{version\}/9.9.9}
	echo "${p//\{sha256\}/$ZERO64}"
}
checked=0
while IFS=$'\t' read -r method path roles; do
	# placeholders get values that are well formed but name nothing: the
	# handler is reached and no route changes anything
	p=$(fill "$path")
	for role in admin release-manager operator viewer automation; do
		# the event stream does not end: its status is what counts
		if [[ "$path" == */stream ]]; then
			r=$(API_MAX_TIME=2 api "$method" "$p" '{}' "${TOK[$role]}")
		else
			r=$(api "$method" "$p" '{}' "${TOK[$role]}")
		fi
		st=$(status_of "$r")
		if [[ ",$roles," == *",$role,"* ]]; then
			[ "$st" != "403" ] && [ "$st" != "401" ] || fail "$role refused on $method $path ($st)"
			# admitted, the request is judged on its merits: never a server error
			[[ "$st" =~ ^[1-4][0-9][0-9]$ ]] || fail "$role on $method $path: status $st"
		else
			assert_eq "$st" "403" "$role on $method $path"
			# a HEAD reply has no body to carry the error object
			[ "$method" = HEAD ] ||
				assert_eq "$(body_of "$r" | jq -r .error.code)" "forbidden" "$role on $method $path"
		fi
		checked=$((checked + 1))
	done
done < <(jq -r '.routes[] | select(.auth == "token") | [.method, .path, (.roles | join(","))] | @tsv' <<<"$routes")
assert_eq "$checked" "$((n * 5))" "every route with every role"

# without a token, or with a revoked one, every token route is 401
while IFS=$'\t' read -r method path; do
	p=$(fill "$path")
	assert_eq "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$DATA/tls/ca.pem" -X "$method" "$URL$p")" "401" "no token on $method $path"
done < <(jq -r '.routes[] | select(.auth == "token") | [.method, .path] | @tsv' <<<"$routes")
id=$(cli -o json token list | jq -r '.[] | select(.name == "walk-viewer") | .id')
cli token revoke "$id" >/dev/null
assert_eq "$(status_of "$(api GET /api/v1/devices '' "${TOK[viewer]}")")" "401" "revoked token"
# device routes refuse tokens: a bearer token is not a device signature
assert_eq "$(status_of "$(api POST /api/v1/device/checkin '{}')")" "401" "token on a device route"
pass

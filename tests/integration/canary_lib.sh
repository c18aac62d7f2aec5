# canary_lib.sh - shared setup of the canary end-to-end tests:
# a real fairleadd, N real agents over HTTPS with 3 s report windows, each
# with the reference inference module fairlead-anomaly reading its model
# from the installed slot, all on anomaly@1.0.0 before the test's rollouts.
# Sourced after lib.sh; not a test itself (the glob takes test_*.sh).
FLANOM="$FL_BIN_DIR/fairlead-anomaly"
K="$T/keys" B="$T/build" R="$T/rel"
N=${N:-20}
COUNTER=0
DEVS=()

# canary_setup [module args...]: server, root, N agents, 1.0.0 everywhere,
# then one module per device with the given extra args (same on every device;
# SERVER_ARGS, an array, are extra flags of fairleadd);
# writing a number to $T/shift-DEVICE shifts that device's inputs
canary_setup() {
	start_server ${SERVER_ARGS[@]+"${SERVER_ARGS[@]}"}
	mkdir -p "$K" "$B" "$R"
	local k i d tok
	for k in root1 rm1; do cli key generate --out "$K/$k.key" >/dev/null || fail "key $k"; done
	local pub
	pub=$(cat "$DATA/keys/server.pub")
	cli root create --out "$R/root.json" --root-key "$K/root1.key" --root-threshold 1 \
		--release-key "$K/rm1.key" --release-threshold 1 \
		--timestamp-pubkey "$pub" --director-pubkey "$pub" --expires 30d >/dev/null ||
		fail "root create"
	cli root sign "$R/root.json" --key "$K/root1.key" >/dev/null || fail "root sign"
	cli root push "$R/root.json" >/dev/null || fail "root push"

	# the drift baseline of the unshifted inputs, 4 bins: a 3 s window at
	# 10 inferences/s (30 readings) is enough to judge it (5 per bin)
	"$FLANOM" baseline --samples 20000 --bins 4 >"$T/baseline.json" || fail "baseline"
	model_release 1.0.0 500

	tok=$(new_enroll_token --uses "$N" --auto-accept --label site=canary)
	for i in $(seq 1 "$N"); do
		d=$(printf 'dev-%02d' "$i")
		agent "$d" enroll --token "$tok" --id "$d" --root "$R/root.json" >"$T/e-$d" 2>&1 ||
			fail "enroll $d: $(cat "$T/e-$d")"
		DEVS+=("$d")
		agent_start "$d" --report-window 3s
	done
	cli device assign --selector site=canary anomaly@1.0.0 >/dev/null || fail "assign 1.0.0"
	wait_for "every device on anomaly@1.0.0" 120 all_run 1.0.0
	for d in "${DEVS[@]}"; do
		"$FLANOM" --socket "$T/agents/$d/sli.sock" --name anomaly --rate 10 \
			--model "$T/agents/$d/slots/anomaly/current/model.json" \
			--shift-file "$T/shift-$d" "$@" \
			>>"$T/module-$d.log" 2>&1 &
		PIDS+=($!)
	done
	# every device reports before any rollout: the baseline has data
	for d in "${DEVS[@]}"; do wait_for "SLIs of $d" 60 has_data "$d"; done
}

has_data() {
	local s
	s=$(cli metrics "$1" --since 10m --json | jq -r .summary.inferences)
	[ "${s:-0}" -ge 20 ]
}

# model_release VERSION WORK_US [HEALTH_CMD] [BASELINE_FILE]: a signed model
# release of the anomaly module, pushed with its artifact
model_release() {
	local v=$1 work=$2 health=${3:-/bin/true} bl=${4:-$T/baseline.json}
	COUNTER=$((COUNTER + 1))
	mkdir -p "$B/$v"
	"$FLANOM" model --work-us "$work" >"$B/$v/model.json" || fail "model $v"
	cli release create --name anomaly --version "$v" --kind model --artifact "$B/$v/model.json" \
		--baseline "$bl" --health-cmd "$health" --health-window 1 --counter "$COUNTER" \
		--out "$R/anomaly-$v.json" >/dev/null || fail "create $v"
	cli release sign "$R/anomaly-$v.json" --key "$K/rm1.key" >/dev/null || fail "sign $v"
	cli release push "$R/anomaly-$v.json" --artifact-dir "$B/$v" -q >/dev/null 2>"$T/push.err" ||
		fail "push $v: $(cat "$T/push.err")"
}

running_of() { device_json "$1" | jq -r '.update.running.anomaly'; }

# all_run VERSION [DEVICES...]: every listed device (default all) runs VERSION
all_run() {
	local v=$1 d
	shift
	[ $# -gt 0 ] || set -- "${DEVS[@]}"
	for d in "$@"; do [ "$(running_of "$d")" = "$v" ] || return 1; done
}

rollout_json() { cli -o json rollout status "$1"; }
is_state() { [ "$(rollout_json "$1" | jq -r .state)" = "$2" ]; }

# touched ROLLOUT-JSON: the devices any decision of the rollout assigned
touched() {
	jq -r '[.history[] | select(.kind == "assign") | .details.devices[]] | unique | .[]' <<<"$1"
}

# gate JSON NAME: the named gate of the last decision
gate() { jq -c --arg g "$2" '.history[-1].details.gates.gates[] | select(.name == $g)' <<<"$1"; }

# aborted_and_reverted ID GATE PREV: the rollout ended by GATE failing in its
# first stage; every device it touched runs PREV again, the others never left
aborted_and_reverted() {
	local id=$1 g=$2 prev=$3 j d t
	j=$(rollout_json "$id")
	assert_eq "$(jq -r .state <<<"$j")" "aborted" "$id state"
	assert_eq "$(jq -r .history[-1].kind <<<"$j")" "fail" "$id ended by a gate"
	assert_eq "$(jq -r .stage <<<"$j")" "0" "$id aborted in the canary stage"
	assert_eq "$(gate "$j" "$g" | jq -r .verdict)" "fail" "$id: gate $g"
	t=$(touched "$j")
	[ -n "$t" ] || fail "$id touched no device"
	# the rollback covers every touched device, and no other
	assert_eq "$(jq -r '.history[-1].details.rolled_back | sort | join(" ")' <<<"$j")" \
		"$(echo $t)" "$id rolled back exactly the touched devices"
	wait_for "$id: touched devices back on $prev" 90 all_run "$prev" $t
	for d in "${DEVS[@]}"; do
		assert_eq "$(running_of "$d")" "$prev" "$id: $d runs"
	done
	echo "$j"
}

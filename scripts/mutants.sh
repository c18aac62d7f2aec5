#!/usr/bin/env bash
# Mutation tests of the security checks: each line of tests/mutants.list
# removes or weakens one check, and the tests named on that line must fail.
#
#   scripts/mutants.sh [--list] [--keep] [NAME...]   (default: every mutation)
#
# Works on a private copy of the tree (the working tree's files, committed
# or not) in a temporary directory, built once; then, for each mutation, it
# replaces the line's exact text (it must occur once in the file), rebuilds
# what changed and runs only the guarding tests. A mutation is "killed" when
# they fail, "SURVIVED" when they pass, and "error" when it does not apply
# or does not build. Before any mutation, the guarding tests must pass on the
# unmutated copy. Exit 0 only if every mutation was killed; the tests' output
# of each is in DIR/NAME.test.log.
#
# MUTANTS_DIR=DIR uses DIR instead of a temporary directory (kept, and its
# build reused by the next run); --keep keeps the temporary one.
set -euo pipefail
cd "$(dirname "$0")/.."
src_root=$PWD
list=tests/mutants.list
jobs=$(nproc)

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
only_list=0 keep=0
names=()
for a in "$@"; do
	case $a in
	--list) only_list=1 ;;
	--keep) keep=1 ;;
	-h | --help) usage; exit 0 ;;
	-*) echo "mutants.sh: unknown option $a" >&2; usage >&2; exit 2 ;;
	*) names+=("$a") ;;
	esac
done

# The list: NAME, FILE, TESTS (a ctest regex), FIND, REPLACE, tab-separated.
declare -a M_NAME M_FILE M_TESTS M_FIND M_REPL
n=0 bad=0
while IFS= read -r line || [ -n "$line" ]; do
	[[ -z "$line" || "$line" == \#* ]] && continue
	IFS=$'\t' read -r name file tests find repl <<<"$line"
	if [ -z "${find:-}" ] || [ -z "${tests:-}" ]; then
		echo "mutants.sh: $list: malformed line: $line" >&2
		bad=1
		continue
	fi
	M_NAME[n]=$name M_FILE[n]=$file M_TESTS[n]=$tests M_FIND[n]=$find M_REPL[n]=${repl:-}
	n=$((n + 1))
done <"$list"
[ "$bad" -eq 0 ] || exit 2

if [ "$only_list" -eq 1 ]; then
	for ((i = 0; i < n; i++)); do printf '%-28s %-40s %s\n' "${M_NAME[i]}" "${M_FILE[i]}" "${M_TESTS[i]}"; done
	exit 0
fi

# Which mutations to run; unknown names are an error, not a silent skip.
sel=()
if [ ${#names[@]} -eq 0 ]; then
	for ((i = 0; i < n; i++)); do sel+=("$i"); done
else
	for want in "${names[@]}"; do
		found=""
		for ((i = 0; i < n; i++)); do [ "${M_NAME[i]}" = "$want" ] && found=$i; done
		[ -n "$found" ] || { echo "mutants.sh: no mutation named '$want' (see --list)" >&2; exit 2; }
		sel+=("$found")
	done
fi

# count FILE TEXT: how many times TEXT occurs in FILE, literally
count() {
	python3 -c 'import sys
d = lambda t: t.replace("\\n", "\n").replace("\\t", "\t")
print(open(sys.argv[1]).read().count(d(sys.argv[2])))' "$1" "$2"
}
# apply FILE FIND REPLACE: replaces the one occurrence
apply() {
	python3 -c 'import sys
d = lambda t: t.replace("\\n", "\n").replace("\\t", "\t")
p, f, r = sys.argv[1:4]
s = open(p).read()
open(p, "w").write(s.replace(d(f), d(r), 1))' "$1" "$2" "$3"
}

# Every selected line must match exactly once in the real tree before any
# build starts: a stale line is an error of the list.
for i in "${sel[@]}"; do
	f=${M_FILE[i]}
	if [ ! -f "$f" ]; then
		echo "mutants.sh: ${M_NAME[i]}: no file $f" >&2
		bad=1
	elif [ "$(count "$f" "${M_FIND[i]}")" != 1 ]; then
		echo "mutants.sh: ${M_NAME[i]}: the text must occur exactly once in $f: ${M_FIND[i]}" >&2
		bad=1
	fi
done
[ "$bad" -eq 0 ] || exit 2

./scripts/install-deps.sh >/dev/null

if [ -n "${MUTANTS_DIR:-}" ]; then
	work=$MUTANTS_DIR
	keep=1
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/fl-mutants.XXXXXX")
fi
cleanup() { [ "$keep" -eq 1 ] || rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/src"
# The tracked files as they are now, so uncommitted changes are tested too.
git ls-files -z | tar -C "$src_root" --null -T - -cf - | tar -C "$work/src" -xf -
# A reused directory: the files mutated last time got their old time stamps
# back from tar, older than the mutants' objects, so make would keep those.
if [ -f "$work/mutated" ]; then
	sort -u "$work/mutated" | while IFS= read -r f; do touch "$work/src/$f"; done
	rm -f "$work/mutated"
fi
echo "mutants: building a copy in $work"
cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$work/cmake.log" 2>&1 ||
	{ cat "$work/cmake.log" >&2; exit 2; }
cmake --build "$work/build" -j"$jobs" >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; exit 2; }

# The guarding tests must pass on the unmutated copy first, or a broken test
# would count as a kill.
union=$(for i in "${sel[@]}"; do echo "${M_TESTS[i]}"; done | sort -u | paste -sd'|')
echo "mutants: the guarding tests, unmutated"
if ! ctest --test-dir "$work/build" -R "$union" -j2 --timeout 300 --output-on-failure \
	>"$work/baseline.log" 2>&1; then
	tail -n 60 "$work/baseline.log" >&2
	echo "mutants.sh: the guarding tests fail without any mutation (log above)" >&2
	exit 2
fi

killed=0 survived=0 errors=0
for i in "${sel[@]}"; do
	name=${M_NAME[i]} f=$work/src/${M_FILE[i]}
	cp -p "$f" "$work/orig"
	echo "${M_FILE[i]}" >>"$work/mutated"
	apply "$f" "${M_FIND[i]}" "${M_REPL[i]}"
	t0=$SECONDS
	if ! cmake --build "$work/build" -j"$jobs" >"$work/$name.build.log" 2>&1; then
		result=error
		errors=$((errors + 1))
		tail -n 20 "$work/$name.build.log" >&2
	else
		# A guarding regex that selects no test is an error, not a kill.
		ntests=$(ctest --test-dir "$work/build" -N -R "${M_TESTS[i]}" | sed -n 's/^Total Tests: //p')
		if [ "${ntests:-0}" -eq 0 ]; then
			result=error
			errors=$((errors + 1))
			echo "mutants.sh: $name: no test matches ${M_TESTS[i]}" >&2
		elif ctest --test-dir "$work/build" -R "${M_TESTS[i]}" -j2 --timeout 300 \
			--output-on-failure >"$work/$name.test.log" 2>&1; then
			result=SURVIVED
			survived=$((survived + 1))
		else
			result=killed
			killed=$((killed + 1))
		fi
	fi
	# Restored with a fresh time stamp, so the next build recompiles it.
	cp "$work/orig" "$f"
	touch "$f"
	printf '%-9s %-28s %4ds  %s\n' "$result" "$name" $((SECONDS - t0)) "${M_TESTS[i]}"
done
echo "mutants: ${#sel[@]} mutations: $killed killed, $survived survived, $errors errors"
[ "$survived" -eq 0 ] && [ "$errors" -eq 0 ]

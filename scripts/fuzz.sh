#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz for a while each.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default 30 s, every target)
#
# Builds with clang in build-fuzz: the whole tree with ASan, UBSan and
# coverage instrumentation (-fsanitize=fuzzer-no-link), the targets linked
# with libFuzzer. New inputs go to build-fuzz/corpus/NAME, never into the
# checked-in seeds; a crash leaves build-fuzz/crash-NAME-*. Copy a fixed
# crash into tests/fuzz/corpus/NAME so the replay test keeps it fixed.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-30}
shift || true
targets=("$@")
# The default is every target the build knows: the list in tests/fuzz/CMakeLists.txt.
if [ ${#targets[@]} -eq 0 ]; then
	read -r -a targets < <(sed -n 's/^set(FL_FUZZ_TARGETS \(.*\))$/\1/p' tests/fuzz/CMakeLists.txt)
	[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no FL_FUZZ_TARGETS in tests/fuzz/CMakeLists.txt" >&2; exit 2; }
fi
build=build-fuzz

# clang and libFuzzer's runtime are plain Debian packages.
if ! command -v clang >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a \
	>/dev/null 2>&1; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update
	$sudo apt-get install -y clang libclang-rt-14-dev
fi

# The whole tree is built with -fsanitize=fuzzer-no-link, so libFuzzer gets
# coverage feedback from the code under test, not only from the harnesses.
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DFL_FUZZ=ON -DFL_SANITIZE=ON \
	-DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" \
	>/dev/null
make -C "$build" -j"$(nproc)" $(printf 'fuzz_%s_libfuzzer ' "${targets[@]}")

status=0
for t in "${targets[@]}"; do
	mkdir -p "$build/corpus/$t"
	echo "== fuzz_$t for ${secs}s"
	# The first directory collects what libFuzzer finds; the seeds are read only.
	if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		"$build/fuzz/fuzz_${t}_libfuzzer" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$build/crash-$t-" \
		"$build/corpus/$t" "tests/fuzz/corpus/$t"; then
		echo "fuzz_$t: FAILED (see $build/crash-$t-*)" >&2
		status=1
	fi
done
exit $status

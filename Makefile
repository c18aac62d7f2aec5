# Thin wrapper over CMake: the README's two commands, and the rest.
#   make demo   install what is missing, build, start a control plane with agents
#   make test   install what is missing, build twice (plain and ASan+UBSan), run all tests
#   make bench  the benchmarks (scripts/bench.sh), results in bench/results/
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)

.PHONY: all deps build build-asan test test-fast demo demo-stop bench format clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DFL_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j$(JOBS)

# Both builds run the whole suite; a sanitizer report anywhere fails it.
test: build build-asan
	ctest --test-dir $(BUILD) --output-on-failure -j2 --timeout 600
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j2 --timeout 900

test-fast: build
	ctest --test-dir $(BUILD) --output-on-failure -j2

demo: build
	@./scripts/demo.sh start

demo-stop:
	@./scripts/demo.sh stop

# The figures of docs/benchmarks.md, each against its baseline in the same run:
# bench/results/latest.json and latest.md (about 5 minutes on 2 cores).
bench: deps
	@./scripts/install-bench-deps.sh
	BUILD=$(BUILD) ./scripts/bench.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# Thin front for the README's two commands. Everything real lives in CMake and scripts/.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)

.PHONY: setup build test build-sanitize test-sanitize fuzz test-all demo bench llamacpp clean

setup:
	@bash scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release > /dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# All tests through CTest; skipped tests are listed with their reasons at the end.
test: build
	@bash scripts/run_tests.sh $(BUILD_DIR)

# ASan + UBSan and the libFuzzer targets share one clang build (NEXUS_FUZZ=ON also turns on
# the sanitizers): cheaper than a second full build, and the tests' objects are the fuzzers'.
SAN_DIR ?= build-san
# Seconds each fuzz target runs in `make fuzz` (scripts/fuzz.sh runs $(JOBS) at a time).
FUZZ_SECONDS ?= 45
# Every finding stops the program with SIGABRT, so no test can mistake one for an expected
# error exit; leaks count (LeakSanitizer runs at exit; tests/lsan.supp says what it ignores).
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
          UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1

build-sanitize: setup
	@cmake -S . -B $(SAN_DIR) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release -DNEXUS_FUZZ=ON > /dev/null
	@cmake --build $(SAN_DIR) -j $(JOBS)

# The whole test suite, the e2e scripts' nexus binary included, under ASan + UBSan.
test-sanitize: build-sanitize
	@$(SAN_ENV) bash scripts/run_tests.sh $(SAN_DIR)

# Every fuzz target for FUZZ_SECONDS over its seed corpus; fails on any finding.
fuzz: build-sanitize
	@$(SAN_ENV) bash scripts/fuzz.sh $(SAN_DIR) $(FUZZ_SECONDS) $(JOBS)

# What CI runs (.ci/run).
test-all: test test-sanitize fuzz

# The main job: train the default character-level model on tinyshakespeare for about
# a minute and print a sample. DATA=path/to/corpus.txt overrides the corpus.
# Builds only the nexus binary (not the tests), quietly.
demo: setup
	@bash scripts/build_quiet.sh $(BUILD_DIR) $(JOBS) nexus
	@bash scripts/demo.sh $(DATA)

bench: build
	@bash bench/run_all.sh

# Optional peer: llama.cpp's prebuilt CPU build from the npm package node-llama-cpp (pinned in
# tools/llamacpp/package-lock.json). With it, `make test` also checks GGUF compatibility
# (peer_llamacpp_gguf) and bench/generate_vs_llamacpp.sh measures llama.cpp side by side.
llamacpp:
	@cd tools/llamacpp && npm ci --no-audit --no-fund

clean:
	rm -rf $(BUILD_DIR) $(SAN_DIR)

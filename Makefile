# Thin front for the README's two commands. Everything real lives in CMake and scripts/.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)

.PHONY: setup build test demo bench llamacpp clean

setup:
	@bash scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release > /dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# All tests through CTest; skipped tests are listed with their reasons at the end.
test: build
	@bash scripts/run_tests.sh $(BUILD_DIR)

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
	rm -rf $(BUILD_DIR)

# Thin front for the README's two commands. Everything real lives in CMake and scripts/.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)

.PHONY: setup build test demo bench llamacpp clean

setup:
	@bash scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release > /dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# All tests through CTest.
test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The main job: train the default character-level model on tinyshakespeare for about
# a minute and print a sample. DATA=path/to/corpus.txt overrides the corpus.
demo: build
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

#!/usr/bin/env bash
# Installs the Debian packages Nexus needs to build and test, only those missing.
# Idempotent: a second run installs nothing. Pass --peer to also install the
# PyTorch peer used by bench/ and tools/ (large; never needed to build or test).
set -euo pipefail
packages=(build-essential cmake pkg-config libgtest-dev nlohmann-json3-dev libcli11-dev
          python3 curl ca-certificates ccache)
# The sanitizer suite and the fuzzers (make test-sanitize, make fuzz) build with clang:
# libclang-rt-dev holds the ASan/UBSan/libFuzzer runtimes, libomp-dev clang's OpenMP, and
# llvm puts llvm-symbolizer on PATH (sanitizer reports with file:line).
packages+=(clang libclang-rt-dev libomp-dev llvm)
if [[ "${1:-}" == "--peer" ]]; then
  packages+=(python3-torch python3-numpy libopenblas-dev python3-regex)  # python3-regex: tools/gpt2_reference.py
fi
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi

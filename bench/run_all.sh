#!/usr/bin/env bash
# run_all.sh -- every Nexus benchmark in one go (`make bench`).
#
# Runs, in order: GEMM vs the FMA peak and OpenBLAS (`nexus bench matmul`), training speed
# side by side with the PyTorch peer for the three issue shapes (train_vs_pytorch.sh), and
# any further bench/*_bench.sh scripts present. Each prints its table and one JSON line;
# this script only sequences them and reports which failed.
#   NEXUS=path   Nexus binary (default: <repo>/build/nexus)
#   QUICK=1      fewer timed iterations (a smoke run, numbers not for quoting)
# Timings are only meaningful on an otherwise idle machine.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export NEXUS="${NEXUS:-$ROOT/build/nexus}"
if [[ ! -x "$NEXUS" ]]; then
  echo "run_all: Nexus binary '$NEXUS' not found (run 'make build' or set NEXUS=)" >&2
  exit 1
fi

# The benchmarks' data (tinyshakespeare.txt, gpt2/): $NEXUS_DATA, else this workplace's shared folder.
if [[ -z "${NEXUS_DATA:-}" && -d "$ROOT/../shared/data" ]]; then export NEXUS_DATA="$ROOT/../shared/data"; fi

failed=()
run() {
  local name="$1"; shift
  echo "== $name: $*"
  if ! "$@"; then failed+=("$name"); fi
  echo
}

if [[ "${QUICK:-0}" == 1 ]]; then
  run matmul "$NEXUS" bench matmul --repeats 3
  run train_vs_pytorch bash "$ROOT/bench/train_vs_pytorch.sh" --only nanogpt-cpu --iters nanogpt-cpu=5
else
  run matmul "$NEXUS" bench matmul
  run tokenizer "$NEXUS" bench tokenizer
  run train_vs_pytorch bash "$ROOT/bench/train_vs_pytorch.sh"
fi
for script in "$ROOT"/bench/*_bench.sh; do
  [[ -e "$script" ]] || continue
  run "$(basename "$script" .sh)" bash "$script"
done

if ((${#failed[@]})); then
  echo "run_all: failed: ${failed[*]}" >&2
  exit 1
fi
echo "run_all: all benchmarks ran"

#!/usr/bin/env bash
# generate_vs_llamacpp.sh -- Nexus inference speed vs llama.cpp, side by side in one run.
#
# The peer is llama.cpp's prebuilt CPU build from the npm package node-llama-cpp (`make llamacpp`;
# the script says so and skips the peer when it is absent). For each precision it exports the model
# as GGUF (f32, f16, q8_0), runs tools/llamacpp/llamacpp.mjs bench on it (pp512, tg128, 16 streams
# decoding 64 tokens each), and runs `nexus bench generate` on the same model with the matching
# Nexus weights (f32, bf16, q8). Prints a table and, as the LAST stdout line, one JSON object:
#   {"bench":"generate_vs_llamacpp","threads":2,"results":[{"precision":...,"nexus":{...},"llamacpp":{...}}]}
#
# Usage: bench/generate_vs_llamacpp.sh [--model DIR] [--threads N] [--only f32|f16|q8]
#   --model  a Nexus model directory (default: a GPT-2-small-shaped `nexus init` model in a temp dir,
#            made with GPT-2's tokenizer from $NEXUS_DATA/gpt2 or ../shared/data/gpt2)
#   NEXUS=path    Nexus binary (default: <repo>/build/nexus)
# Timings are only meaningful on an otherwise idle machine. node-llama-cpp's prebuilt binaries are
# generic builds (runtime CPU-variant selection), not a -march=native build from source.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NEXUS="${NEXUS:-$ROOT/build/nexus}"
PEER_DIR="$ROOT/tools/llamacpp"
THREADS=2
MODEL=""
ONLY=""
while (($#)); do
  case "$1" in
    --model) MODEL="${2:?--model needs a directory}"; shift 2 ;;
    --threads) THREADS="${2:?}"; shift 2 ;;
    --only) ONLY="${2:?}"; shift 2 ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "generate_vs_llamacpp: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[[ -x "$NEXUS" ]] || { echo "generate_vs_llamacpp: no Nexus binary at $NEXUS (make build)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [[ -z "$MODEL" ]]; then
  DATA="${NEXUS_DATA:-$ROOT/../shared/data}"
  [[ -f "$DATA/gpt2/vocab.bpe" ]] || { echo "generate_vs_llamacpp: pass --model, or set NEXUS_DATA to a folder with gpt2/" >&2; exit 1; }
  MODEL="$WORK/gpt2-small"
  "$NEXUS" init --n-layer 12 --n-head 12 --n-embd 768 --block-size 1024 --tokenizer "$DATA/gpt2" --out "$MODEL" > /dev/null
fi
PEER=1
if [[ ! -d "$PEER_DIR/node_modules/node-llama-cpp" ]]; then
  echo "generate_vs_llamacpp: llama.cpp peer not installed (make llamacpp); measuring Nexus only" >&2
  PEER=0
fi

declare -A NEXUS_WEIGHTS=([f32]=f32 [f16]=bf16 [q8]=q8)
declare -A GGUF_TYPE=([f32]=f32 [f16]=f16 [q8]=q8_0)
RESULTS=()
printf '%-10s %-8s %12s %12s %14s\n' precision engine pp512 tg128 "16 streams" >&2
for p in f32 f16 q8; do
  [[ -n "$ONLY" && "$ONLY" != "$p" ]] && continue
  nx=$("$NEXUS" bench generate --model "$MODEL" --weights "${NEXUS_WEIGHTS[$p]}" --batches 1 16 \
        --recompute-tokens 1 --threads "$THREADS" --json | tail -1)
  nx=$(python3 -c 'import json,sys; j=json.loads(sys.argv[1])["precisions"][0]; r={x["batch"]: x["decode_tok_per_s"] for x in j["runs"]}
print(json.dumps({"weights": j["weights"], "pp512": j["prefill_tok_per_s"], "tg128": r[1], "streams16": r[16]}))' "$nx")
  lc=null
  if ((PEER)); then
    "$NEXUS" export --model "$MODEL" --type "${GGUF_TYPE[$p]}" --out "$WORK/model.gguf" > /dev/null
    lc=$(node "$PEER_DIR/llamacpp.mjs" bench "$WORK/model.gguf" "$THREADS" | tail -1)
    lc=$(python3 -c 'import json,sys; j=json.loads(sys.argv[1]); j.pop("runs"); j["weights"]=sys.argv[2]; print(json.dumps(j))' "$lc" "${GGUF_TYPE[$p]}")
  fi
  python3 - "$p" "$nx" "$lc" >&2 <<'PY'
import json, sys
p, nx, lc = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
row = lambda name, r: print(f"{p:<10} {name:<8} {r['pp512']:12.1f} {r['tg128']:12.1f} {r['streams16']:14.1f}")
row("nexus", nx)
if lc:
    row("llama", lc)
    print(f"{p:<10} {'ratio':<8} {nx['pp512']/lc['pp512']:11.2f}x {nx['tg128']/lc['tg128']:11.2f}x {nx['streams16']/lc['streams16']:13.2f}x")
PY
  RESULTS+=("{\"precision\":\"$p\",\"nexus\":$nx,\"llamacpp\":$lc}")
done
IFS=,; echo "{\"bench\":\"generate_vs_llamacpp\",\"threads\":$THREADS,\"results\":[${RESULTS[*]}]}"

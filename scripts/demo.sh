#!/usr/bin/env bash
# The main job: prepare a corpus, train the default character-level model for about a
# minute, print a sample. Usage: scripts/demo.sh [CORPUS.txt]
# The corpus is the argument, else $NEXUS_DATA (a file, or a folder holding
# tinyshakespeare.txt), else the copy bundled in assets/ (tinyshakespeare, public domain).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
nexus="$root/build/nexus"
bundled="$root/assets/tinyshakespeare.txt.gz"
work="$root/out/demo"

find_corpus() {
  local candidates=() c
  [[ -n "${1:-}" ]] && candidates+=("$1")
  if [[ -n "${NEXUS_DATA:-}" ]]; then candidates+=("$NEXUS_DATA" "$NEXUS_DATA/tinyshakespeare.txt"); fi
  for c in "${candidates[@]}"; do
    if [[ -f "$c" && -s "$c" ]]; then echo "$c"; return 0; fi
  done
  if [[ -n "${1:-}" ]]; then
    echo "demo: error: corpus '$1' is not a non-empty file" >&2
    return 1
  fi
  if [[ ! -f "$bundled" ]]; then
    echo "demo: error: no corpus: $bundled is missing (a partial checkout?). Pass one" >&2
    echo "      (make demo DATA=file.txt) or set NEXUS_DATA to a text file or a folder with tinyshakespeare.txt" >&2
    return 1
  fi
  mkdir -p "$work"
  gzip -dc "$bundled" >"$work/tinyshakespeare.txt"
  echo "$work/tinyshakespeare.txt"
}

corpus="$(find_corpus "${1:-}")"
echo "demo: corpus $corpus"
"$nexus" prepare --input "$corpus" --out "$work/data" --tokenizer char
# --overwrite: each demo starts afresh, replacing the previous demo's run.
"$nexus" train --data "$work/data" --out "$work/run" --overwrite --max-iters "${DEMO_ITERS:-2000}" \
  --lr-decay-iters "${DEMO_ITERS:-2000}" --eval-interval 500 --log-interval 10
echo
echo "demo: sample from $work/run"
"$nexus" sample --model "$work/run" --prompt $'\n' --max-tokens 400 --temperature 0.8 --top-k 200 --seed 1337

#!/usr/bin/env bash
# The main job: get tinyshakespeare, prepare it, train the default character-level model
# for about a minute, print a sample. Usage: scripts/demo.sh [CORPUS.txt]
# The corpus comes from the argument, else $NEXUS_DATA (a file, or a folder holding
# tinyshakespeare.txt), else ../shared/data (this workplace), else a cached copy in
# ~/.cache/nexus, else its public URL.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
nexus="$root/build/nexus"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/nexus"
url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"

find_corpus() {
  local candidates=()
  [[ -n "${1:-}" ]] && candidates+=("$1")
  if [[ -n "${NEXUS_DATA:-}" ]]; then candidates+=("$NEXUS_DATA" "$NEXUS_DATA/tinyshakespeare.txt"); fi
  candidates+=("$root/../shared/data/tinyshakespeare.txt" "$cache/tinyshakespeare.txt")
  for c in "${candidates[@]}"; do
    if [[ -f "$c" && -s "$c" ]]; then echo "$c"; return 0; fi
  done
  mkdir -p "$cache"
  echo "demo: no local corpus; downloading tinyshakespeare to $cache" >&2
  if curl -fsSL --max-time 60 "$url" -o "$cache/tinyshakespeare.txt.part" 2>/dev/null; then
    mv "$cache/tinyshakespeare.txt.part" "$cache/tinyshakespeare.txt"
    echo "$cache/tinyshakespeare.txt"; return 0
  fi
  rm -f "$cache/tinyshakespeare.txt.part"
  echo "demo: error: no corpus found. Pass one (make demo DATA=file.txt), set NEXUS_DATA," >&2
  echo "      or put tinyshakespeare.txt in $cache" >&2
  return 1
}

corpus="$(find_corpus "${1:-}")"
work="$root/out/demo"
echo "demo: corpus $corpus"
"$nexus" prepare --input "$corpus" --out "$work/data" --tokenizer char
# --overwrite: each demo starts afresh, replacing the previous demo's run.
"$nexus" train --data "$work/data" --out "$work/run" --overwrite --max-iters "${DEMO_ITERS:-2000}" \
  --lr-decay-iters "${DEMO_ITERS:-2000}" --eval-interval 500 --log-interval 10
echo
echo "demo: sample from $work/run"
"$nexus" sample --model "$work/run" --prompt $'\n' --max-tokens 400 --temperature 0.8 --top-k 200 --seed 1337

#!/usr/bin/env bash
# Does llama.cpp load and run the GGUF files Nexus writes, and tokenize like Nexus?
# llama.cpp comes from node-llama-cpp's prebuilt CPU binaries (npm); run `npm ci` here first.
#
#   tools/llamacpp/check_gguf.sh NEXUS_BINARY [DATA_DIR]
#
# DATA_DIR (default: $NEXUS_SHARED_DATA, else shared/data beside the repository) holds tinyshakespeare.txt and gpt2/ (encoder.json, vocab.bpe). For each tokenizer kind
# (char, byte, BPE with the gpt2, gpt4 and gpt4o patterns, GPT-2's own vocabulary) it builds a small
# model, exports it as f32, f16 and q8_0 GGUF, and checks that llama.cpp
#   1. tokenizes the golden text cases and a slice of tinyshakespeare to the same ids as Nexus,
#   2. scores a text window with the same mean NLL as `nexus eval perplexity` (rel. 1e-5 f32/f16, 1e-3 q8_0),
#   3. picks the same 16 greedy tokens as `nexus generate --temperature 0` (f32).
# Exit 0 when all hold, 1 on the first mismatch (printed), 77 when node-llama-cpp is not installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ ! -d "$here/node_modules/node-llama-cpp" ]; then
  echo "check_gguf: node-llama-cpp is not installed (make llamacpp); skipping"
  exit 77
fi
data_arg=${2:-${NEXUS_SHARED_DATA:-$repo/../shared/data}}
if [ ! -f "$data_arg/tinyshakespeare.txt" ] || [ ! -f "$data_arg/gpt2/vocab.bpe" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "check_gguf: FAIL: CI=true and no tinyshakespeare.txt and gpt2/ in '$data_arg'"
    exit 1
  fi
  echo "check_gguf: no tinyshakespeare.txt and gpt2/ in '$data_arg'; skipping"
  exit 77
fi
nexus=$(realpath "$1")
data=$(realpath "$data_arg")
peer() { node "$here/llamacpp.mjs" "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check_gguf: FAIL: $*"; exit 1; }

head -c 200000 "$data/tinyshakespeare.txt" > "$work/corpus.txt"
head -c 20000 "$data/tinyshakespeare.txt" | tail -c 5000 > "$work/slice.txt"
head -c 150 "$work/slice.txt" > "$work/window.txt"   # at most 150 tokens: one window of the 256-position models

make_model() {  # NAME [init options...]
  local name=$1; shift
  "$nexus" init --n-layer 2 --n-head 2 --n-embd 64 --block-size 256 --seed 7 --out "$work/$name" "$@" > /dev/null
}
"$nexus" prepare --input "$work/corpus.txt" --out "$work/chardata" --tokenizer char > /dev/null
make_model char --tokenizer "$work/chardata/tokenizer.json"
make_model byte --vocab-size 256
for p in gpt2 gpt4 gpt4o; do
  "$nexus" tokenizer train --input "$work/corpus.txt" --vocab-size 1000 --pattern "$p" --out "$work/tok-$p.json" > /dev/null
  make_model "bpe-$p" --tokenizer "$work/tok-$p.json"
done
make_model gpt2 --tokenizer "$data/gpt2"

rel_close() {  # A B TOL
  awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; m = (a < 0 ? -a : a); exit !(d <= t * m) }'
}

for m in char byte bpe-gpt2 bpe-gpt4 bpe-gpt4o gpt2; do
  tok="$work/$m/tokenizer.json"
  for type in f32 f16 q8_0; do
    gguf="$work/$m-$type.gguf"
    "$nexus" export --model "$work/$m" --type "$type" --out "$gguf" > /dev/null
    want=$("$nexus" eval perplexity --model "$gguf" --file "$work/window.txt" | tail -1 |
      python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["nll"] / j["tokens"])')
    got=$(peer score "$gguf" "$work/window.txt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["mean_nll"])')
    tol=1e-5; [ "$type" = q8_0 ] && tol=1e-3
    rel_close "$got" "$want" "$tol" || fail "$m $type: llama.cpp mean NLL $got, Nexus $want"
    echo "check_gguf: $m $type: mean NLL llama.cpp $got, Nexus $want"
  done
  gguf="$work/$m-f32.gguf"
  peer tokenize "$gguf" "$work/slice.txt" > "$work/ids.llama"
  "$nexus" tokenizer encode --tokenizer "$tok" --file "$work/slice.txt" > "$work/ids.nexus"
  cmp -s "$work/ids.llama" "$work/ids.nexus" || fail "$m: llama.cpp tokenizes the tinyshakespeare slice differently"
  want=$("$nexus" generate --model "$gguf" --prompt "ROMEO:" --max-tokens 16 --temperature 0 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens"])')
  got=$(peer greedy "$gguf" "ROMEO:" 16 | python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens"])')
  [ "$got" = "$want" ] || fail "$m: greedy tokens differ: llama.cpp $got, Nexus $want"
  echo "check_gguf: $m: same ids on the text slice, same greedy tokens"
done

# Golden text cases (spaces, contractions, digits, emoji, CJK, combining marks, ...) with BPE vocabularies.
for m in gpt2 bpe-gpt2 bpe-gpt4 bpe-gpt4o; do
  peer cases "$work/$m-f32.gguf" "$repo/tests/golden/gpt2_tokens.json" "$work/cases-$m"
  total=0; differ=0
  for f in "$work/cases-$m"/*.txt; do
    total=$((total + 1))
    [ "$("$nexus" tokenizer encode --tokenizer "$work/$m/tokenizer.json" --file "$f")" = "$(cat "${f%.txt}.ids")" ] ||
      differ=$((differ + 1))
  done
  echo "check_gguf: $m: $((total - differ))/$total golden text cases tokenize identically"
  # llama.cpp's gpt-4o pre-tokenizer does not join a contraction to a preceding combining mark
  # ("ꞎ̒'T"), which tiktoken's pattern does; those random-Unicode cases are the known difference.
  if [ "$m" != bpe-gpt4o ] && [ "$differ" -ne 0 ]; then fail "$m: $differ golden cases tokenize differently"; fi
done
echo "check_gguf: all checks passed"

#!/usr/bin/env bash
# GGUF through the real CLI on tiny random models from `nexus init`: export at every type and
# quantize, the commands that take --model reading a .gguf (generate equal to the model
# directory with the same --weights, eval perplexity, sample, bench generate), and hostile or
# impossible input (truncated, bad magic, wrong version, huge counts, a missing tensor, another
# architecture, a bad --type): one clean "nexus: error:" line each, no crash.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/e2e_common.bash"

M="$TMP/char"
nexus_ok init --n-layer 2 --n-head 4 --n-embd 64 --block-size 32 --vocab-size 96 --seed 3 --out "$M"

# Export at every type; the summary line names the file, the tensors and the type.
for t in f32 f16 bf16 q8_0; do
  "$NEXUS" export --model "$M" --format gguf --type "$t" --out "$TMP/m_$t.gguf" >"$TMP/out" || fail "export --type $t failed"
  grep -qE "^wrote .*m_$t\.gguf: 29 tensors, [0-9.]+ MB, $t matrices" "$TMP/out" || fail "export summary: $(cat "$TMP/out")"
  [[ $(head -c 4 "$TMP/m_$t.gguf") == GGUF ]] || fail "m_$t.gguf does not start with GGUF"
done
nexus_ok export --model "$M" --out "$TMP/default.gguf"
cmp -s "$TMP/default.gguf" "$TMP/m_f32.gguf" || fail "export without --type should write f32"
# quantize is export with a low-precision type: the same bytes.
nexus_ok quantize --model "$M" --type q8 --out "$TMP/q8.gguf"
cmp -s "$TMP/q8.gguf" "$TMP/m_q8_0.gguf" || fail "quantize --type q8 differs from export --type q8_0"
nexus_ok quantize --model "$M" --type bf16 --out "$TMP/bf16.gguf"
cmp -s "$TMP/bf16.gguf" "$TMP/m_bf16.gguf" || fail "quantize --type bf16 differs from export --type bf16"
# A .gguf is a model too: quantizing the f32 file gives the same file as from the directory.
nexus_ok quantize --model "$TMP/m_f32.gguf" --type q8 --out "$TMP/q8_from_gguf.gguf" --name char
cmp -s "$TMP/q8_from_gguf.gguf" "$TMP/m_q8_0.gguf" || fail "quantize of the f32 .gguf differs from the directory's"

# generate: each file gives the tokens of the directory loaded with the same --weights.
gen() { "$NEXUS" generate --prompt "ROMEO:" --max-tokens 16 --temperature 0 --threads "$THREADS" "$@" 2>"$TMP/gen_err"; }
tokens() { python3 -c "import json,sys; print(json.loads(sys.stdin.readline())['tokens'])"; }
for pair in "f32:f32" "bf16:bf16" "q8_0:q8"; do
  t=${pair%%:*} w=${pair##*:}
  want=$(gen --model "$M" --weights "$w" | tokens)
  got=$(gen --model "$TMP/m_$t.gguf" | tokens)
  [[ "$got" == "$want" ]] || fail "generate from m_$t.gguf: $got, from the directory with --weights $w: $want"
  grep -qE "\($w[:,] " "$TMP/gen_err" || fail "generate from m_$t.gguf should report $w weights: $(cat "$TMP/gen_err")"
  got=$(gen --model "$TMP/m_$t.gguf" --no-mmap | tokens)
  [[ "$got" == "$want" ]] || fail "generate --no-mmap from m_$t.gguf differs"
done
gen --model "$TMP/m_f16.gguf" >/dev/null || fail "generate from the f16 file failed"
got=$(gen --model "$TMP/m_f32.gguf" --weights q8 | tokens)
[[ "$got" == "$(gen --model "$M" --weights q8 | tokens)" ]] || fail "f32.gguf --weights q8 differs from the directory's"

# eval perplexity: identical on the f32 file; sample and bench generate run.
make_text "$TMP/text.txt" 2000
ppl() { "$NEXUS" eval perplexity --file "$TMP/text.txt" --json --threads "$THREADS" "$@" | python3 -c \
  "import json,sys; print(json.loads(sys.stdin.read())['perplexity'])"; }
[[ "$(ppl --model "$TMP/m_f32.gguf")" == "$(ppl --model "$M")" ]] || fail "perplexity of m_f32.gguf differs"
[[ "$(ppl --model "$TMP/m_q8_0.gguf")" == "$(ppl --model "$M" --weights q8)" ]] || fail "perplexity of m_q8_0.gguf differs"
nexus_ok sample --model "$TMP/m_q8_0.gguf" --prompt "ROMEO:" --max-tokens 20 --threads "$THREADS"
"$NEXUS" bench generate --model "$TMP/m_q8_0.gguf" --weights q8 --batches 1 --prompt-tokens 8 --gen-tokens 4 \
  --recompute-context 8 --json --threads "$THREADS" >"$TMP/bench.json" || fail "bench generate on a .gguf failed"
grep -q '"weights":"q8"' "$TMP/bench.json" || fail "bench generate JSON: $(cat "$TMP/bench.json")"

# Hostile files, crafted from the good f32 file.
python3 - "$TMP/m_f32.gguf" "$TMP" <<'EOF'
import struct, sys
good = open(sys.argv[1], "rb").read()
tmp = sys.argv[2]
def write(name, data):
    open(f"{tmp}/{name}.gguf", "wb").write(data)
def after_key(key):  # offset of the value type that follows a metadata key
    k = struct.pack("<Q", len(key)) + key
    return good.index(k) + len(k)
write("truncated", good[: len(good) // 2])
write("header_only", good[:20])
write("bad_magic", b"GGML" + good[4:])
write("version2", good[:4] + struct.pack("<I", 2) + good[8:])
write("huge_tensors", good[:8] + struct.pack("<Q", 1 << 60) + good[16:])
write("huge_kv", good[:16] + struct.pack("<Q", 1 << 60) + good[24:])
# A huge array length inside the metadata (tokenizer.ggml.tokens).
p = after_key(b"tokenizer.ggml.tokens") + 8  # value type ARRAY, element type STRING
write("huge_array", good[:p] + struct.pack("<Q", 1 << 62) + good[p + 8:])
# Rename one tensor: blk.1.ffn_down.weight is then missing.
write("missing_tensor", good.replace(b"blk.1.ffn_down.weight", b"blk.1.ffn_dxwn.weight", 1))
# Claim another architecture (same length, so every offset stays valid).
p = after_key(b"general.architecture") + 4 + 8  # value type STRING, string length
assert good[p:p + 4] == b"gpt2"
write("other_arch", good[:p] + b"gptj" + good[p + 4:])
# Point a tensor's data past the end of the file.
name = b"output.weight"
p = good.index(struct.pack("<Q", len(name)) + name) + 8 + len(name) + 4 + 16 + 4  # name, n_dims, 2 dims, type
write("bad_offset", good[:p] + struct.pack("<Q", 1 << 40) + good[p + 8:])
open(f"{tmp}/not_gguf.gguf", "w").write("just text\n")
EOF

G=(generate --prompt "a" --threads "$THREADS" --model)
expect_error 'truncated' "${G[@]}" "$TMP/truncated.gguf"
expect_error 'too short' "${G[@]}" "$TMP/header_only.gguf"
expect_error 'neither a model directory nor a GGUF' "${G[@]}" "$TMP/bad_magic.gguf"
expect_error 'neither a model directory nor a GGUF' "${G[@]}" "$TMP/not_gguf.gguf"
expect_error 'version 2' "${G[@]}" "$TMP/version2.gguf"
expect_error 'tensor count' "${G[@]}" "$TMP/huge_tensors.gguf"
expect_error 'metadata count' "${G[@]}" "$TMP/huge_kv.gguf"
expect_error 'more than the file can hold' "${G[@]}" "$TMP/huge_array.gguf"
expect_error "missing tensor 'blk.1.ffn_down.weight'" "${G[@]}" "$TMP/missing_tensor.gguf"
expect_error "architecture is 'gptj'" "${G[@]}" "$TMP/other_arch.gguf"
expect_error "truncated or corrupt" "${G[@]}" "$TMP/bad_offset.gguf"
expect_error 'truncated' eval perplexity --model "$TMP/truncated.gguf" --file "$TMP/text.txt"
expect_error 'truncated' export --model "$TMP/truncated.gguf" --out "$TMP/x.gguf"
expect_error "unknown GGUF type 'q4_0'" export --model "$M" --type q4_0 --out "$TMP/x.gguf"
expect_error "unknown export format 'onnx'" export --model "$M" --format onnx --out "$TMP/x.gguf"
expect_error 'bf16 or q8' quantize --model "$M" --type f16 --out "$TMP/x.gguf"
[[ ! -e "$TMP/x.gguf" ]] || fail "a failed export left $TMP/x.gguf behind"
W="$TMP/w48"
nexus_ok init --n-layer 1 --n-head 2 --n-embd 48 --block-size 16 --vocab-size 96 --out "$W"
expect_error 'divisible by 32' export --model "$W" --type q8_0 --out "$TMP/x.gguf"
nexus_ok export --model "$W" --out "$TMP/w48.gguf"
expect_error 'divisible by 32' generate --model "$TMP/w48.gguf" --weights q8 --prompt "a"
echo "PASS: export, quantize, .gguf models in generate/eval/sample/bench, and bad GGUF input"

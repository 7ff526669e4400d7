#!/usr/bin/env bash
# Edited or hostile files must fail fast, not eat the machine. Each case is a model, checkpoint
# or dataset with one defect: a config.json that describes another model than its weights,
# integers that do not fit their field, nested JSON, a model larger than the machine. Every
# run must end with one clean "nexus: error:" line naming the problem and, where GNU time is
# present, a peak RSS below MAX_RSS_KB: nothing may be allocated from an unchecked file.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/e2e_common.bash"

MAX_RSS_KB=300000
# A regression must not take the machine down with it: the runs' data (anonymous memory; not
# read-only file maps, so the sparse models below can still be mapped) is capped at 4 GB, so
# an allocation sized by a bad file fails there, and the test with it.
DATA_CAP_KB=4000000
# Sanitizer builds reserve terabytes of shadow memory, which the data cap forbids: they get
# ASan's own cap on each allocation instead (an oversized one then aborts the run).
if ! { (ulimit -d "$DATA_CAP_KB" && exec "$NEXUS" --help) >/dev/null 2>&1; } 2>/dev/null; then
  DATA_CAP_KB=unlimited
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}max_allocation_size=4000000000"
fi
HAVE_TIME=0
/usr/bin/time -f %M -o /dev/null true 2>/dev/null && HAVE_TIME=1

# expect_lean_error REGEX ARGS...: nexus ARGS fails cleanly (check_clean_error) within the
# data cap, with a peak RSS below MAX_RSS_KB.
expect_lean_error() {
  local regex=$1 rc=0
  shift
  if ((HAVE_TIME)); then
    (ulimit -d "$DATA_CAP_KB" && exec /usr/bin/time -f %M -o "$TMP/rss" "$NEXUS" "$@") >/dev/null 2>"$TMP/err" \
      </dev/null || rc=$?
  else
    (ulimit -d "$DATA_CAP_KB" && exec "$NEXUS" "$@") >/dev/null 2>"$TMP/err" </dev/null || rc=$?
  fi
  check_clean_error "$regex" "$rc" "nexus $*"
  local rss="(no GNU time)"
  if ((HAVE_TIME)); then
    rss=$(tail -n 1 "$TMP/rss")
    ((rss < MAX_RSS_KB)) || fail "nexus $*: peak RSS $rss KB, expected below $MAX_RSS_KB KB"
    rss="$rss KB"
  fi
  echo "ok  $(cut -c1-150 "$TMP/err") [peak RSS $rss]"
}

D="$TMP/data"
G="$TMP/good"
make_dataset "$D" 40000
nexus_ok train --data "$D" --out "$G" "${TINY_MODEL[@]}" --batch-size 4 --max-iters 4 --eval-iters 1
RUN=(--threads 1)
GEN=(generate --prompt "To be" --max-tokens 3 "${RUN[@]}" --model)
TRAIN=(train --data "$D" --batch-size 4 --max-iters 6 --eval-iters 1 "${RUN[@]}" --resume --out)

python3 - "$G" "$TMP" "$D" <<'EOF'
import json, os, shutil, struct, sys
good, tmp, data = sys.argv[1:4]

def variant(name, section="model", path="config.json", **fields):
    """A copy of the good training output whose ckpt/config.json has `fields` in `section`."""
    d = os.path.join(tmp, name)
    shutil.copytree(good, d)
    p = os.path.join(d, "ckpt", path)
    j = json.load(open(p))
    j[section].update(fields)
    json.dump(j, open(p, "w"))

variant("huge-layers", n_layer=30000000)
variant("wrap-layers", n_layer=2**32 + 2)         # wraps to 2, the real count, in an int
variant("wrap-layers-1", n_layer=2**32 + 1)
variant("float-block", block_size=32.5)
variant("bool-heads", n_head=True)
variant("wide", n_embd=128)                        # 4 heads still divide it: only the file disagrees
variant("one-layer", n_layer=1)
variant("wrap-batch", section="train", batch_size=2**32 + 4)  # wraps to 4
variant("float-iters", section="train", max_iters=10.5)

# meta.json: a count that is not an integer.
d = os.path.join(tmp, "data-float")
shutil.copytree(data, d)
m = json.load(open(os.path.join(d, "meta.json")))
m["vocab_size"] = float(m["vocab_size"]) + 0.5
json.dump(m, open(os.path.join(d, "meta.json"), "w"))

# Trainer state whose rng_state is "12abc" (std::stoull read it as 12).
def read_st(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]
def write_st(p, header, data, size=None):
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(p, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)
        if size is not None:
            f.truncate(8 + len(h) + size)  # sparse: the data costs no disk
d = os.path.join(tmp, "bad-rng")
shutil.copytree(good, d)
p = os.path.join(d, "ckpt", "trainer_state.safetensors")
h, rest = read_st(p)
h["__metadata__"]["rng_state"] = "12abc"
write_st(p, h, rest)

# 50 MB of nested arrays as the tokenizer.
d = os.path.join(tmp, "nested-tok")
shutil.copytree(good, d)
n = 25 * 1000 * 1000
with open(os.path.join(d, "ckpt", "tokenizer.json"), "w") as f:
    f.write("[" * n + "]" * n)

# Models whose tensor tables are consistent but whose size is not: sparse files.
def sparse_model(name, V, T, L, C, H):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    shapes = [("transformer.wte.weight", [V, C]), ("transformer.wpe.weight", [T, C])]
    for l in range(L):
        p = "transformer.h.%d." % l
        shapes += [(p + "ln_1.weight", [C]), (p + "ln_1.bias", [C]), (p + "attn.c_attn.weight", [3 * C, C]),
                   (p + "attn.c_attn.bias", [3 * C]), (p + "attn.c_proj.weight", [C, C]), (p + "attn.c_proj.bias", [C]),
                   (p + "ln_2.weight", [C]), (p + "ln_2.bias", [C]), (p + "mlp.c_fc.weight", [4 * C, C]),
                   (p + "mlp.c_fc.bias", [4 * C]), (p + "mlp.c_proj.weight", [C, 4 * C]), (p + "mlp.c_proj.bias", [C])]
    shapes += [("transformer.ln_f.weight", [C]), ("transformer.ln_f.bias", [C])]
    header, offset = {}, 0
    for n, s in shapes:
        size = 4
        for x in s: size *= x
        header[n] = {"dtype": "F32", "shape": s, "data_offsets": [offset, offset + size]}
        offset += size
    write_st(os.path.join(d, "model.safetensors"), header, b"", offset)
    cfg = {"block_size": T, "vocab_size": V, "n_layer": L, "n_head": H, "n_embd": C, "dropout": 0.0, "bias": True}
    json.dump({"model": cfg}, open(os.path.join(d, "config.json"), "w"))
    shutil.copy(os.path.join(good, "ckpt", "tokenizer.json"), d)

vocab = json.load(open(os.path.join(good, "ckpt", "config.json")))["model"]["vocab_size"]
sparse_model("terabyte", vocab, 2048, 100, 16384, 128)      # 1.3 TB of weights
sparse_model("long-context", vocab, 1 << 20, 1, 256, 4)     # 1 GB of weights, 2 GB of KV cache per sequence
with open(os.path.join(tmp, "prompts.txt"), "w") as f:
    f.write((json.dumps("To be") + "\n") * 64)
EOF
# Every case below must leave these untouched.
SUM_G=$(dir_checksum "$G")
SUM_D=$(dir_checksum "$D")

# --- config.json describing another model than model.safetensors: refused from the tensor
# table before anything sized by the config exists, on every load path.
MISSING="missing tensor 'transformer.h.2.ln_1.weight'.*holds 2[0-9] model tensors, the config needs 360000004"
expect_lean_error "$MISSING" "${GEN[@]}" "$TMP/huge-layers"
expect_lean_error "$MISSING" "${GEN[@]}" "$TMP/huge-layers" --no-mmap
expect_lean_error "$MISSING" "${TRAIN[@]}" "$TMP/huge-layers"
expect_lean_error "$MISSING" export --model "$TMP/huge-layers" --out "$TMP/x.gguf"
expect_lean_error "$MISSING" quantize --type q8 --model "$TMP/huge-layers" --out "$TMP/x.gguf"
printf 'To be, or not to be: that is the question.\n' >"$TMP/text.txt"
expect_lean_error "$MISSING" eval perplexity --model "$TMP/huge-layers" --file "$TMP/text.txt" "${RUN[@]}"
WIDE="tensor 'transformer.wte.weight' has shape \[[0-9]+, 64\], expected \[[0-9]+, 128\]"
expect_lean_error "$WIDE" "${GEN[@]}" "$TMP/wide"
expect_lean_error "$WIDE" "${TRAIN[@]}" "$TMP/wide"
expect_lean_error "unexpected tensor 'transformer.h.1\." "${GEN[@]}" "$TMP/one-layer"
expect_lean_error "unexpected tensor 'transformer.h.1\." "${TRAIN[@]}" "$TMP/one-layer"

# --- Numbers that do not fit their field: refused, not wrapped or truncated.
expect_lean_error "n_layer' must be an integer in .*got 4294967298" "${GEN[@]}" "$TMP/wrap-layers"
expect_lean_error "n_layer' must be an integer in .*got 4294967297" "${GEN[@]}" "$TMP/wrap-layers-1"
expect_lean_error "n_layer' must be an integer in .*got 4294967298" "${TRAIN[@]}" "$TMP/wrap-layers"
expect_lean_error "block_size' must be an integer in .*got 32.5" "${GEN[@]}" "$TMP/float-block"
expect_lean_error "n_head' must be an integer in .*got true" "${GEN[@]}" "$TMP/bool-heads"
expect_lean_error "batch_size' must be an integer in .*got 4294967300" "${TRAIN[@]}" "$TMP/wrap-batch"
expect_lean_error "max_iters' must be an integer in .*got 10.5" "${TRAIN[@]}" "$TMP/float-iters"
expect_lean_error "meta.json: field 'vocab_size' must be an integer" \
  train --data "$TMP/data-float" --out "$TMP/fresh" "${TINY_MODEL[@]}" --max-iters 1
expect_lean_error "rng_state' is not a non-negative integer that fits: 12abc" "${TRAIN[@]}" "$TMP/bad-rng"

# --- 50 MB of nested arrays as tokenizer.json: refused at depth 65, not after 1.9 GB.
NESTED="tokenizer.json is nested too deeply"
expect_lean_error "$NESTED" "${GEN[@]}" "$TMP/nested-tok"
expect_lean_error "$NESTED" tokenizer encode --tokenizer "$TMP/nested-tok/ckpt/tokenizer.json" --text "a"

# --- Consistent files, but more memory than the machine has: refused before allocating,
# with both figures.
NEEDS="needs [0-9.]+ GB, this machine has [0-9.]+ GB available"
expect_lean_error "the model .*terabyte $NEEDS" "${GEN[@]}" "$TMP/terabyte"
expect_lean_error "the model .*terabyte $NEEDS" "${GEN[@]}" "$TMP/terabyte" --no-mmap
expect_lean_error "training this model .*$NEEDS" train --data "$D" --out "$TMP/fresh" "${RUN[@]}" \
  --n-layer 100 --n-embd 16384 --n-head 128 --block-size 32
expect_lean_error "KV cache of 64 sequences of 1048576 positions $NEEDS" \
  generate --model "$TMP/long-context" --prompts-file "$TMP/prompts.txt" --batch-size 64 --max-tokens 1 "${RUN[@]}"

[[ $(dir_checksum "$G") == "$SUM_G" && $(dir_checksum "$D") == "$SUM_D" ]] || fail "a good input was modified"
nexus_ok "${GEN[@]}" "$G"
echo "PASS: hostile files fail fast with small peak RSS"

#!/usr/bin/env bash
# Bad input through the real CLI. Every case must end with exactly one stderr line starting
# "nexus: error:" that names the problem, a non-zero exit status below 128 (no signal, no
# abort), and must leave every existing dataset and checkpoint byte-identical.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/e2e_common.bash"

D="$TMP/data"   # a good dataset
G="$TMP/good"   # a good training output directory (ckpt/ and metrics.jsonl)
make_dataset "$D" 40000
nexus_ok train --data "$D" --out "$G" "${TINY_MODEL[@]}" --batch-size 4 --max-iters 4 --eval-iters 1

declare -A SUMS=()
# Records the checksum of each DIR, which every later case must leave unchanged.
protect() {
  local dir
  for dir in "$@"; do SUMS[$dir]=$(dir_checksum "$dir"); done
}
protect "$D" "$G"

CASES=0
# expect_error NAME REGEX -- nexus ARGS...: runs nexus ARGS and checks the error contract;
# REGEX (extended, case-insensitive) must match the error line.
expect_error() {
  local name=$1 regex=$2
  shift 3
  local rc=0
  "$NEXUS" "$@" >"$TMP/stdout" 2>"$TMP/stderr" </dev/null || rc=$?
  local err
  err=$(<"$TMP/stderr")
  local context="[$name] nexus $*"$'\n'"  exit status: $rc"$'\n'"  stderr: ${err:-<empty>}"
  ((rc != 0)) || fail "$context"$'\n'"expected a non-zero exit status, got 0"
  ((rc < 128)) || fail "$context"$'\n'"expected an error exit (< 128), got a death by signal"
  if grep -qE 'terminate called|Segmentation|Aborted|core dumped|internal error' "$TMP/stderr"; then
    fail "$context"$'\n'"expected a clean error, got a crash"
  fi
  [[ $(wc -l <"$TMP/stderr") -eq 1 ]] || fail "$context"$'\n'"expected exactly one line on stderr"
  [[ "$err" == "nexus: error: "* ]] || fail "$context"$'\n'"expected the line to start with 'nexus: error: '"
  grep -qiE -- "$regex" <<<"$err" || fail "$context"$'\n'"expected the message to match /$regex/"
  local dir
  for dir in "${!SUMS[@]}"; do
    [[ $(dir_checksum "$dir") == "${SUMS[$dir]}" ]] || fail "$context"$'\n'"the existing directory $dir was modified"
  done
  CASES=$((CASES + 1))
  echo "ok  $name: $err"
}

# No model flags here: the cases add their own (a flag given twice is an error of its own).
TRAIN=(train --threads "$THREADS" --batch-size 4 --max-iters 2 --eval-iters 1)

# --- Missing or empty inputs.
expect_error missing-data-dir 'nodir.*prepare' -- "${TRAIN[@]}" --data "$TMP/nodir" --out "$TMP/fresh"
expect_error train-without-data '--data' -- train --out "$TMP/fresh" --threads 1
: >"$TMP/empty.txt"
expect_error empty-input 'empty' -- prepare --input "$TMP/empty.txt" --out "$D"
expect_error missing-input 'nope\.txt' -- prepare --input "$TMP/nope.txt" --out "$D"
printf 'To be, or not to be: that is the question.\n' >"$TMP/tiny.txt"
expect_error too-short-input 'too short' -- prepare --input "$TMP/tiny.txt" --out "$D"
expect_error bad-tokenizer 'tokenizer' -- prepare --input "$TMP/tiny.txt" --out "$D" --tokenizer bpe3

# --- Datasets that cannot feed the model: crafted with python3 from the good one.
python3 - "$D" "$TMP" <<'EOF'
import json, os, shutil, struct, sys
good, tmp = sys.argv[1], sys.argv[2]
meta = json.load(open(os.path.join(good, "meta.json")))
assert meta["dtype"] == "uint16"
def dataset(name, train, val, **meta_overrides):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    shutil.copy(os.path.join(good, "tokenizer.json"), d)
    open(os.path.join(d, "train.bin"), "wb").write(train)
    open(os.path.join(d, "val.bin"), "wb").write(val)
    m = dict(meta, train_tokens=len(train) // 2, val_tokens=len(val) // 2)
    m.update(meta_overrides)
    json.dump(m, open(os.path.join(d, "meta.json"), "w"))
train = open(os.path.join(good, "train.bin"), "rb").read()
val = open(os.path.join(good, "val.bin"), "rb").read()
short = struct.pack("<20H", *range(20))                       # 20 tokens < block_size + 1 = 33
dataset("short", short, short)
oov = bytearray(train); oov[2000:2002] = struct.pack("<H", 65000)  # id 65000 >> vocab_size
dataset("oov", bytes(oov), val)
dataset("oov-meta", train, val, vocab_size=10)                # vocab 10: the real ids exceed it
dataset("truncated-bin", train[:-1], val, train_tokens=len(train) // 2)  # odd byte count
dataset("count-mismatch", train[:-200], val, train_tokens=len(train) // 2)
EOF
protect "$TMP/short" "$TMP/oov"
expect_error too-short-data 'too short for block size 32' -- "${TRAIN[@]}" --data "$TMP/short" --out "$TMP/fresh" \
  --block-size 32
expect_error token-out-of-vocab '65000.*vocab_size' -- "${TRAIN[@]}" --data "$TMP/oov" --out "$TMP/fresh"
expect_error meta-vocab-too-small 'vocab_size 10' -- "${TRAIN[@]}" --data "$TMP/oov-meta" --out "$TMP/fresh"
expect_error truncated-train-bin 'not a multiple' -- "${TRAIN[@]}" --data "$TMP/truncated-bin" --out "$TMP/fresh"
expect_error token-count-mismatch 'meta\.json says' -- "${TRAIN[@]}" --data "$TMP/count-mismatch" --out "$TMP/fresh"

# --- Bad flags.
expect_error unknown-flag '--bogus' -- "${TRAIN[@]}" --data "$D" --out "$G" --bogus
expect_error unknown-command 'frobnicate' -- frobnicate
expect_error unknown-top-level-option '--bogus' -- --bogus
expect_error no-command 'command' --
expect_error repeated-flag 'n-layer' -- "${TRAIN[@]}" --data "$D" --out "$G" --n-layer 2 --n-layer 3
expect_error non-numeric-flag 'n-layer.*abc' -- "${TRAIN[@]}" --data "$D" --out "$G" --n-layer abc
expect_error negative-learning-rate 'learning_rate' -- "${TRAIN[@]}" --data "$D" --out "$G" --learning-rate -1
expect_error dropout-too-large 'dropout' -- "${TRAIN[@]}" --data "$D" --out "$G" --dropout 2
expect_error n-embd-not-divisible 'divisible by n_head' -- "${TRAIN[@]}" --data "$D" --out "$G" --n-embd 65
expect_error zero-threads "threads.*not in range" -- train --data "$D" --out "$G" --threads 0
expect_error bad-lr-schedule 'lr_schedule' -- "${TRAIN[@]}" --data "$D" --out "$G" --lr-schedule linear
expect_error negative-max-tokens 'max-tokens' -- sample --model "$G" --max-tokens -3
expect_error negative-temperature 'temperature' -- sample --model "$G" --max-tokens 3 --temperature -1

# --- Training over an existing run, without --resume or --overwrite (G's ckpt and metrics stay).
expect_error train-over-existing-run 'already holds a training run.*--resume.*--overwrite' -- \
  "${TRAIN[@]}" --data "$D" --out "$G"
expect_error resume-and-overwrite 'overwrite.*excludes.*resume|resume.*excludes.*overwrite' -- \
  "${TRAIN[@]}" --data "$D" --out "$G" --resume --overwrite

# --- Resuming on another dataset whose tokenizer has the same size: ids would change meaning.
cp -r "$D" "$TMP/other-tok"
python3 - "$TMP/other-tok/tokenizer.json" <<'EOF'
import json, sys
path = sys.argv[1]
raw = open(path).read()
# Swap two letters of the char vocabulary: same size, other meaning.
chars = sorted(set(c for c in raw if c.isalpha()))
a, b = chars[0], chars[1]
swapped = raw.replace(a, "\0").replace(b, a).replace("\0", b)
assert swapped != raw and json.loads(swapped) != json.loads(raw)
open(path, "w").write(swapped)
EOF
protect "$TMP/other-tok"
expect_error resume-other-tokenizer "tokenizer.json differs from $G/ckpt/tokenizer.json" -- \
  "${TRAIN[@]}" --data "$TMP/other-tok" --out "$G" --resume
# Without --data the dataset the checkpoint records is used: gone, a clear error.
cp -r "$G" "$TMP/moved-data"
python3 - "$TMP/moved-data/ckpt/config.json" "$TMP/gone" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["data_dir"] = sys.argv[2]
json.dump(c, open(sys.argv[1], "w"), indent=2)
EOF
protect "$TMP/moved-data"
expect_error resume-recorded-data-gone "without --data: the dataset it was trained on, $TMP/gone, is gone" -- \
  "${TRAIN[@]}" --out "$TMP/moved-data" --resume

# --- Resuming into a different architecture, or from nothing.
expect_error resume-changed-n-layer 'n_layer' -- "${TRAIN[@]}" --data "$D" --out "$G" --resume --n-layer 3
expect_error resume-larger-block-size 'block_size' -- "${TRAIN[@]}" --data "$D" --out "$G" --resume --block-size 64
expect_error resume-changed-n-embd 'n_embd' -- "${TRAIN[@]}" --data "$D" --out "$G" --resume --n-embd 128
expect_error resume-without-checkpoint 'no checkpoint' -- "${TRAIN[@]}" --data "$D" --out "$TMP/nothing" --resume
# sample takes the context length from the checkpoint: there is no flag to enlarge it.
expect_error sample-block-size 'block-size' -- sample --model "$G" --block-size 64
expect_error sample-missing-model-dir 'no model found' -- sample --model "$TMP/nothing"
expect_error sample-without-model '--model' -- sample

# --- Damaged checkpoints: each a copy of the good one with one defect; both sample and
# --resume must refuse it, and leave the copy (and metrics.jsonl) untouched.
for kind in truncated header-length offsets dtype shape state-truncated state-shape; do
  cp -r "$G" "$TMP/ckpt-$kind"
done
python3 - "$TMP" <<'EOF'
import json, os, struct, sys
tmp = sys.argv[1]
def path(kind, name="model.safetensors"):
    return os.path.join(tmp, "ckpt-" + kind, "ckpt", name)
def read(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]
def write(p, header, data):
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    open(p, "wb").write(struct.pack("<Q", len(h)) + h + data)
def edit(kind, change, name="model.safetensors"):
    header, data = read(path(kind, name))
    change(header)
    write(path(kind, name), header, data)

p = path("truncated"); b = open(p, "rb").read(); open(p, "wb").write(b[: len(b) * 2 // 3])
p = path("header-length"); b = bytearray(open(p, "rb").read()); b[:8] = struct.pack("<Q", 1 << 62)
open(p, "wb").write(b)
def offsets(h):  # the last tensor points past the end of the data section
    last = max((k for k in h if k != "__metadata__"), key=lambda k: h[k]["data_offsets"][1])
    h[last]["data_offsets"] = [o + (1 << 20) for o in h[last]["data_offsets"]]
edit("offsets", offsets)
def dtype(h):  # same byte size, so only the dtype is wrong
    t = h["transformer.wte.weight"]; t["dtype"] = "I32"
edit("dtype", dtype)
def shape(h):  # transposed: same byte size, wrong shape
    t = h["transformer.wte.weight"]; t["shape"] = t["shape"][::-1]
edit("shape", shape)
p = path("state-truncated", "trainer_state.safetensors"); b = open(p, "rb").read()
open(p, "wb").write(b[: len(b) // 2])
def state_shape(h):
    t = h["adam.m"]; n = t["shape"][0]; t["shape"] = [2, n // 2] if n % 2 == 0 else [1, n]
edit("state-shape", state_shape, "trainer_state.safetensors")
EOF
declare -A CKPT_REGEX=(
  [truncated]='truncated or corrupt'
  [header-length]='header length'
  [offsets]='data_offsets'
  [dtype]='dtype I32, expected F32'
  [shape]='shape \[64, [0-9]+\], expected'
)
for kind in truncated header-length offsets dtype shape; do
  protect "$TMP/ckpt-$kind"
  expect_error "sample-$kind" "${CKPT_REGEX[$kind]}" -- sample --model "$TMP/ckpt-$kind" --max-tokens 3 --threads 1
  expect_error "resume-$kind" "${CKPT_REGEX[$kind]}" -- "${TRAIN[@]}" --data "$D" --out "$TMP/ckpt-$kind" --resume
done
protect "$TMP/ckpt-state-truncated" "$TMP/ckpt-state-shape"
expect_error resume-state-truncated 'trainer_state.*truncated or corrupt' -- \
  "${TRAIN[@]}" --data "$D" --out "$TMP/ckpt-state-truncated" --resume
expect_error resume-state-shape "adam.m' has shape" -- \
  "${TRAIN[@]}" --data "$D" --out "$TMP/ckpt-state-shape" --resume

# The good checkpoint still works after all of that.
nexus_ok sample --model "$G" --max-tokens 5 --threads 1
echo "PASS: $CASES bad inputs rejected cleanly"

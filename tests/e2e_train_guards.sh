#!/usr/bin/env bash
# Training must never lose or poison a run, through the real CLI:
#  - training into a directory that holds a run is refused unless --resume or --overwrite,
#    and --overwrite starts afresh (a new checkpoint and a metrics.jsonl of the new run only);
#  - --resume without --data uses the dataset the checkpoint records, and says so; resuming
#    past lr_decay_iters says the learning rate stays at min_lr;
#  - a diverging run (learning rate 1e6) stops at the first non-finite step with one error line
#    naming it, keeps the last good checkpoint (finite, loadable, at the step the message names)
#    and a metrics.jsonl of valid JSON.
# Refusals that must leave every file untouched are in e2e_bad_input.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/e2e_common.bash"

make_dataset "$TMP/data" 40000
RUN=(--data "$TMP/data" "${TINY_MODEL[@]}" --batch-size 4 --eval-iters 1 --log-interval 1 --warmup-iters 2
  --lr-decay-iters 6)
OUT="$TMP/run"
nexus_ok train "${RUN[@]}" --out "$OUT" --max-iters 4 --eval-interval 2

# The iters of the step records, then of the evaluation records, of a metrics.jsonl; fails on a
# line that is not strict JSON (NaN and Infinity included).
metrics_iters() {
  python3 - "$1" <<'EOF'
import json, sys
def reject(name):
    raise ValueError(f"non-finite number {name}")
steps, evals = [], []
for n, line in enumerate(open(sys.argv[1]), 1):
    try:
        rec = json.loads(line, parse_constant=reject)
    except ValueError as e:
        sys.exit(f"FAIL: {sys.argv[1]} line {n}: {e}: {line!r}")
    (evals if "val_loss" in rec else steps).append(rec["iter"])
print(steps, evals)
EOF
}

# --- A second run into the same directory is refused: the message names both ways out.
expect_error "already holds a training run.*--resume.*--overwrite" train "${RUN[@]}" --out "$OUT" --max-iters 4
mkdir "$TMP/metrics-only" && echo '{"iter": 0, "loss": 4.0}' >"$TMP/metrics-only/metrics.jsonl"
expect_error "already holds a training run \(metrics.jsonl\)" train "${RUN[@]}" --out "$TMP/metrics-only" --max-iters 1

# --- --overwrite starts afresh and replaces both.
nexus_ok train "${RUN[@]}" --out "$OUT" --max-iters 3 --eval-interval 100 --overwrite
[[ $(checkpoint_step "$OUT/ckpt") == 3 ]] || fail "--overwrite: checkpoint at step $(checkpoint_step "$OUT/ckpt"), expected 3"
[[ $(metrics_iters "$OUT/metrics.jsonl") == "[0, 1, 2] [0, 3]" ]] ||
  fail "--overwrite should leave the new run's records only, got: $(metrics_iters "$OUT/metrics.jsonl")"
echo "ok: a run is not replaced without --overwrite, and is with it"

# --- --resume without --data: the recorded dataset, named; the lr note past lr_decay_iters 6.
nexus_ok train --out "$OUT" --resume --max-iters 8 --threads "$THREADS"
grep -qF "data: $TMP/data (recorded in the checkpoint)" "$TMP/last_cmd.log" ||
  fail "--resume without --data should name the recorded dataset; log: $(head -5 "$TMP/last_cmd.log")"
grep -qE "max_iters 8 is past lr_decay_iters 6: the learning rate stays at min_lr .* from step 6 on" \
  "$TMP/last_cmd.log" || fail "resuming past lr_decay_iters should say so; log: $(head -5 "$TMP/last_cmd.log")"
[[ $(checkpoint_step "$OUT/ckpt") == 8 ]] || fail "resume without --data did not reach step 8"
mv "$TMP/data" "$TMP/data-moved"
expect_error "without --data: the dataset it was trained on, $TMP/data, is gone" \
  train --out "$OUT" --resume --max-iters 9 --threads "$THREADS"
mv "$TMP/data-moved" "$TMP/data"
echo "ok: --resume finds the recorded dataset and notes the flat lr"

# --- Divergence. Fails unless every float in the safetensors files of checkpoint DIR is finite.
check_finite() {
  python3 - "$1" <<'EOF'
import array, json, math, os, struct, sys
for name in ("model.safetensors", "trainer_state.safetensors"):
    with open(os.path.join(sys.argv[1], name), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header, data = json.loads(f.read(n)), f.read()
    for key, t in header.items():
        if key == "__metadata__":
            continue
        a, b = t["data_offsets"]
        values = array.array("f", data[a:b])
        if not all(math.isfinite(v) for v in values):
            sys.exit(f"FAIL: {name}: tensor {key} holds non-finite values")
EOF
}
# expect_divergence DIR ARGS...: nexus train ARGS --out DIR must stop with exit status 1 and one
# error line "step F: loss is nan ...; stopping, ..." and leave metrics.jsonl strict JSON with
# step records up to F - 1 only. Prints F.
expect_divergence() {
  local dir=$1 rc=0
  shift
  "$NEXUS" train "$@" --out "$dir" >/dev/null 2>"$TMP/diverge.err" || rc=$?
  ((rc == 1)) || fail "a diverging run should exit 1, got $rc; stderr: $(tail -3 "$TMP/diverge.err")"
  local line
  line=$(grep "^nexus: error:" "$TMP/diverge.err") || fail "no error line; stderr: $(tail -3 "$TMP/diverge.err")"
  [[ $(grep -c "^nexus: error:" "$TMP/diverge.err") == 1 ]] || fail "expected one error line: $line"
  [[ "$line" =~ ^"nexus: error: step "([0-9]+)": "(loss|gradient norm|evaluation loss)" is "(-?nan|-?inf).*"; stopping, " ]] ||
    fail "unexpected divergence message: $line"
  local step=${BASH_REMATCH[1]} iters
  iters=$(metrics_iters "$dir/metrics.jsonl") || fail "$iters"
  python3 -c 'import sys; steps = eval(sys.argv[1].split("]")[0] + "]"); assert not steps or max(steps) < int(sys.argv[2])' \
    "$iters" "$step" || fail "metrics.jsonl has step records at or past the failed step $step: $iters"
  echo "$step"
}

cp -r "$OUT" "$TMP/diverge"  # a good run at step 8
step=$(expect_divergence "$TMP/diverge" --resume --max-iters 300 --learning-rate 1e6 --min-lr 1e6 --eval-interval 3 \
  --threads "$THREADS")
msg=$(grep "^nexus: error:" "$TMP/diverge.err")
[[ "$msg" =~ "the last good checkpoint $TMP/diverge/ckpt (step "([0-9]+)") is kept" ]] ||
  fail "the message should name the checkpoint kept: $msg"
kept=${BASH_REMATCH[1]}
[[ $(checkpoint_step "$TMP/diverge/ckpt") == "$kept" ]] || fail "the checkpoint is not at the step the message names: $msg"
((kept >= 8 && kept <= step)) || fail "kept checkpoint step $kept is outside [8, $step]"
check_finite "$TMP/diverge/ckpt"
nexus_ok sample --model "$TMP/diverge" --max-tokens 5 --threads 1
echo "ok: diverged at step $step, the checkpoint of step $kept kept: $msg"

# Diverging before the first save: no checkpoint, and the message says so.
step=$(expect_divergence "$TMP/fresh-diverge" "${RUN[@]}" --max-iters 300 --learning-rate 1e6 --min-lr 1e6 \
  --eval-interval 1000)
grep -q "no checkpoint was saved" "$TMP/diverge.err" || fail "expected 'no checkpoint was saved': $(cat "$TMP/diverge.err")"
[[ ! -e "$TMP/fresh-diverge/ckpt" ]] || fail "a run that diverged before its first save left a checkpoint"
echo "ok: diverged at step $step before any save"
echo "PASS"

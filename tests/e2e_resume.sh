#!/usr/bin/env bash
# Exact resume through the real CLI: 20 steps in one run must equal 10 steps, then --resume to
# 20. Compared: the per-step losses of iters 10..19 in metrics.jsonl, and the final weights and
# trainer state byte for byte. Three variants: plain; gradient accumulation with dropout (the
# dropout masks and micro-batches must continue where they stopped); evaluation every 5 steps
# (evaluation must not disturb the training batch stream, and re-evaluating at the resume step
# must not either).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/e2e_common.bash"

make_dataset "$TMP/data" 60000
COMMON=(--data "$TMP/data" "${TINY_MODEL[@]}" --batch-size 8 --warmup-iters 5 --lr-decay-iters 20 --eval-iters 2
  --log-interval 1)

# The "loss" of every step record with iter in [10, 20), one "iter loss" line each, exactly as written.
losses_10_to_19() {
  python3 -c '
import json, sys
for line in open(sys.argv[1]):
    rec = json.loads(line)
    if "loss" in rec and 10 <= rec["iter"] < 20:
        print(rec["iter"], repr(rec["loss"]))' "$1"
}

check_variant() {
  local name=$1
  shift
  local straight="$TMP/$name-straight" split="$TMP/$name-split"
  nexus_ok train "${COMMON[@]}" "$@" --out "$straight" --max-iters 20
  nexus_ok train "${COMMON[@]}" "$@" --out "$split" --max-iters 10
  nexus_ok train "${COMMON[@]}" "$@" --out "$split" --max-iters 20 --resume

  local want got
  want=$(losses_10_to_19 "$straight/metrics.jsonl")
  got=$(losses_10_to_19 "$split/metrics.jsonl")
  [[ $(wc -l <<<"$want") -eq 10 ]] || fail "[$name] expected 10 step records for iters 10..19, got:"$'\n'"$want"
  if [[ "$want" != "$got" ]]; then
    echo "[$name] losses of iters 10..19, straight run vs resumed run:" >&2
    diff <(echo "$want") <(echo "$got") >&2 || true
    fail "[$name] resumed losses differ from the straight run"
  fi
  for f in model.safetensors trainer_state.safetensors; do
    cmp -s "$straight/ckpt/$f" "$split/ckpt/$f" ||
      fail "[$name] ckpt/$f after 10+10 resumed steps differs from the one after 20 straight steps"
  done
  echo "[$name] resume is exact"
}

check_variant plain
check_variant accum-dropout --gradient-accumulation-steps 2 --dropout 0.1
check_variant eval-every-5 --eval-interval 5

# The resumed run continues with the checkpoint's settings: resuming without repeating the
# flags (here --dropout 0.1 and accumulation) must give the same result as repeating them.
nexus_ok train "${COMMON[@]}" --gradient-accumulation-steps 2 --dropout 0.1 --out "$TMP/implicit" --max-iters 10
nexus_ok train --data "$TMP/data" --threads "$THREADS" --out "$TMP/implicit" --max-iters 20 --resume
cmp -s "$TMP/accum-dropout-straight/ckpt/model.safetensors" "$TMP/implicit/ckpt/model.safetensors" ||
  fail "resuming without repeating the flags should keep the checkpoint's settings (dropout, accumulation)"
echo "PASS"

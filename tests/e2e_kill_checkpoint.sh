#!/usr/bin/env bash
# Crash safety of checkpoints through the real CLI: a run that saves after every step is
# SIGKILLed at varied moments (most of its time is spent inside a save). After every kill the
# checkpoint must load (`nexus sample`), be one whole checkpoint (weights, trainer state and
# config.json all at the same step, never older than the last one seen) and `--resume` must
# carry on from it; leftovers of killed saves must not accumulate or get in the way.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/e2e_common.bash"

OUT="$TMP/run"
make_dataset "$TMP/data" 40000
RUN=(--data "$TMP/data" --out "$OUT" --batch-size 4 --eval-interval 1 --eval-iters 1 --log-interval 1)
nexus_ok train "${RUN[@]}" "${TINY_MODEL[@]}" --max-iters 2

last_step=$(checkpoint_step "$OUT/ckpt")
# Five kills after random delays of 0.05 to 0.65 s (printed, to reproduce a failure): some
# during startup or the first save, most in the middle of a later save.
for i in 0 1 2 3 4; do
  delay=$(printf '0.%02d' $((RANDOM % 61 + 5)))
  "$NEXUS" train "${RUN[@]}" --threads "$THREADS" --resume --max-iters 1000000 >"$TMP/kill.log" 2>&1 &
  pid=$!
  sleep "$delay"
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$TMP/kill.log" >&2
    fail "kill $i: the training run ended by itself before the kill (expected it to still be running)"
  fi
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true

  step=$(checkpoint_step "$OUT/ckpt") || fail "kill $i (after ${delay}s): checkpoint is not whole"
  ((step >= last_step)) || fail "kill $i: checkpoint went back from step $last_step to $step"
  # A kill inside a save leaves its temporary directory; the next save removes it.
  n_tmp=$(find "$OUT" -maxdepth 1 -name 'ckpt.tmp-*' | wc -l)
  ((n_tmp <= 1)) || fail "kill $i: $n_tmp temporary directories of killed saves, expected at most 1 (stale ones removed)"
  nexus_ok sample --model "$OUT" --max-tokens 5 --threads 1
  echo "kill $i after ${delay}s: checkpoint at step $step loads"
  last_step=$step
done

# The leftovers of killed saves must not break a resumed run, which must continue from the
# last checkpoint and, once it has saved, leave no temporary directory behind.
final=$((last_step + 4))
nexus_ok train "${RUN[@]}" --threads "$THREADS" --resume --max-iters $final
grep -q "resumed from .* at step $last_step" "$TMP/last_cmd.log" ||
  fail "expected the final run to resume at step $last_step; its log: $(head -3 "$TMP/last_cmd.log")"
step=$(checkpoint_step "$OUT/ckpt")
((step == final)) || fail "after the final run the checkpoint is at step $step, expected $final"
leftovers=$(find "$OUT" -maxdepth 1 -name 'ckpt.tmp-*')
[[ -z "$leftovers" ]] || fail "temporary directories left after a clean save: $leftovers"
echo "PASS"

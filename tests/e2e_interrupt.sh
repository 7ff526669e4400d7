#!/usr/bin/env bash
# Ctrl-C during training, through the real CLI. The first SIGINT finishes the current step,
# saves a checkpoint and exits 130 with one line saying where; that checkpoint loads and
# --resume continues from its step. A second SIGINT ends the run at once, also with 130, and
# the checkpoint on disk stays whole. SIGTERM is handled like the first SIGINT (exit 143).
# A run whose SIGINT is ignored (a script's background job)
# keeps ignoring it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/e2e_common.bash"

OUT="$TMP/run"
make_dataset "$TMP/data" 40000
RUN=(--data "$TMP/data" "${TINY_MODEL[@]}" --batch-size 4 --eval-iters 1 --log-interval 1 --eval-interval 1000)

# start_run ARGS...: nexus train ARGS in the background (pid in $pid) with SIGINT at its default
# disposition: a script's background jobs otherwise inherit it ignored.
start_run() {
  env --default-signal=INT "$NEXUS" train "$@" >"$TMP/run.out" 2>"$TMP/run.err" &
  pid=$!
}
# wait_for_step N: until metrics.jsonl holds the step record of iter N (the run is in its loop).
wait_for_step() {
  local i
  for ((i = 0; i < 600; i++)); do
    grep -q "\"iter\":$1,\"loss\"" "$OUT/metrics.jsonl" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || fail "the run ended before step $1: $(tail -3 "$TMP/run.err")"
    sleep 0.1
  done
  fail "the run did not reach step $1 within a minute"
}

# --- One Ctrl-C: finish the step, save, say where, exit 130.
start_run "${RUN[@]}" --out "$OUT" --max-iters 1000000
wait_for_step 3
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
((rc == 130)) || fail "after one SIGINT the run exited $rc, expected 130; stderr: $(tail -3 "$TMP/run.err")"
line=$(grep "^interrupted at step" "$TMP/run.err") || fail "no 'interrupted at step' line: $(tail -3 "$TMP/run.err")"
[[ "$line" =~ ^"interrupted at step "([0-9]+)": checkpoint saved to $OUT/ckpt; continue with --resume"$ ]] ||
  fail "unexpected interrupt message: $line"
step=${BASH_REMATCH[1]}
((step >= 4)) || fail "interrupted at step $step, but step 3 had finished"
[[ $(checkpoint_step "$OUT/ckpt") == "$step" ]] || fail "the checkpoint is not at the step the message names: $line"
nexus_ok sample --model "$OUT" --max-tokens 5 --threads 1
nexus_ok train --out "$OUT" --resume --max-iters $((step + 2)) --threads "$THREADS"
grep -q "resumed from $OUT/ckpt at step $step" "$TMP/last_cmd.log" || fail "--resume did not continue from step $step"
[[ $(checkpoint_step "$OUT/ckpt") == $((step + 2)) ]] || fail "the resumed run did not reach step $((step + 2))"
echo "ok: $line"

# --- Two Ctrl-Cs: the second stops at once (no 'interrupted at step' line), exit 130, the
# checkpoint stays whole. Evaluating and saving at every step keeps the run busy after the
# first signal; if it still finishes before the second arrives, try again.
stopped_at_once=0
for attempt in 1 2 3; do
  before=$(checkpoint_step "$OUT/ckpt")
  start_run --out "$OUT" --resume --max-iters 1000000 --eval-interval 1 --eval-iters 50 --threads "$THREADS"
  wait_for_step $((before + 1))
  kill -INT "$pid"
  for ((i = 0; i < 500; i++)); do
    grep -q "nexus: interrupt:" "$TMP/run.err" && break
    sleep 0.01
  done
  kill -INT "$pid" 2>/dev/null || true
  rc=0; wait "$pid" || rc=$?
  ((rc == 130)) || fail "after two SIGINTs the run exited $rc, expected 130; stderr: $(tail -3 "$TMP/run.err")"
  after=$(checkpoint_step "$OUT/ckpt") || fail "the checkpoint is not whole after a second SIGINT"
  ((after >= before)) || fail "the checkpoint went back from step $before to $after"
  nexus_ok sample --model "$OUT" --max-tokens 5 --threads 1
  if grep -q "interrupted again" "$TMP/run.err"; then
    ! grep -q "^interrupted at step" "$TMP/run.err" || fail "a second SIGINT should stop at once: $(cat "$TMP/run.err")"
    stopped_at_once=1
    break
  fi
  echo "attempt $attempt: the run finished its step before the second SIGINT; again"
done
((stopped_at_once)) || fail "the second SIGINT never arrived while the run was still finishing its step"
echo "ok: a second SIGINT stops at once, the checkpoint at step $after is whole"

# --- SIGINT ignored by the parent stays ignored.
env --ignore-signal=INT "$NEXUS" train --out "$OUT" --resume --max-iters 1000000 --threads "$THREADS" \
  >"$TMP/run.out" 2>"$TMP/run.err" &
pid=$!
sleep 1
kill -INT "$pid" 2>/dev/null || fail "the run ended early: $(tail -3 "$TMP/run.err")"
sleep 0.5
kill -0 "$pid" 2>/dev/null || fail "a run started with SIGINT ignored stopped on SIGINT"
# SIGTERM (a batch scheduler's warning before it kills a job) saves like Ctrl-C: exit 143.
kill -TERM "$pid"
rc=0
wait "$pid" 2>/dev/null || rc=$?
((rc == 143)) || fail "after SIGTERM the run exited $rc, expected 143; stderr: $(tail -3 "$TMP/run.err")"
grep -q "^interrupted at step [0-9]*: checkpoint saved" "$TMP/run.err" || fail "SIGTERM saved no checkpoint: $(cat "$TMP/run.err")"
checkpoint_step "$OUT/ckpt" >/dev/null || fail "the checkpoint is not whole after SIGTERM"
echo "PASS"

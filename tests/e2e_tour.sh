#!/usr/bin/env bash
# The README's tour, run as written: every command of the fenced blocks under "A tour of the
# CLI" and "Tokenizers", in order, in a scratch folder holding tinyshakespeare.txt, with
# `nexus` being the binary under test and NEXUS_DATA the shared data. Only two things differ
# from the README: training runs a hundredth of the iterations (to keep the suite fast), and the
# benchmark lines (`nexus bench ...`, `bench/...`) are left out. Each command must exit 0 and
# print no note that its --max-tokens cannot fit the context (the tour's models are small).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/e2e_common.bash"
need_shared_file tinyshakespeare.txt gpt2/encoder.json gpt2/vocab.bpe
README="$NEXUS_SOURCE_DIR/README.md"
[[ -f "$README" ]] || fail "README.md not found next to tests/"

# Prints the commands of the first ```sh block after the heading $1, continuation lines joined.
tour_commands() {
  awk -v heading="$1" '
    $0 == heading { found = 1; next }
    found && /^```sh/ { inblock = 1; next }
    inblock && /^```/ { exit }
    inblock {
      line = $0
      if (line ~ /\\$/) { sub(/\\$/, "", line); pending = pending line; next }
      print pending line; pending = ""
    }' "$README"
}

export NEXUS_DATA=$NEXUS_SHARED_DATA
nexus() { "$NEXUS" "$@"; }
cd "$TMP"
cp "$SHAKESPEARE" tinyshakespeare.txt
ran=0
for heading in "## A tour of the CLI" "### Tokenizers"; do
  n_before=$ran
  while IFS= read -r cmd; do
    [[ "$cmd" =~ ^[[:space:]]*(#|$) ]] && continue
    [[ "$cmd" =~ ^(nexus\ bench|bench/) ]] && continue
    # A hundredth of the training iterations (2000 -> 20, 2500 -> 25, 300 -> 3): the tour checks
    # that the commands work together, e2e_train_loss that training learns.
    cmd=$(sed -E 's/(--max-iters|--lr-decay-iters) ([0-9]+)00\b/\1 \2/g; s/"max_iters": ([0-9]+)00\b/"max_iters": \1/' <<<"$cmd")
    echo "tour: $cmd"
    rc=0
    ( eval "$cmd" ) 2>"$TMP/stderr" >"$TMP/stdout_$ran" </dev/null || rc=$?
    if ((rc != 0)); then
      tail -n 20 "$TMP/stderr" >&2
      fail "tour command exited $rc: $cmd"
    fi
    if grep -q "does not fit\|^nexus: error" "$TMP/stderr"; then
      cat "$TMP/stderr" >&2
      fail "tour command warned that it cannot do what it says: $cmd"
    fi
    ran=$((ran + 1))
  done < <(tour_commands "$heading")
  ((ran > n_before)) || fail "no commands found under '$heading' in README.md"
done

# What the commands should have produced.
[[ $(wc -l <results.jsonl) -eq 2 ]] || fail "results.jsonl should hold one line per prompt"
grep -q '"id":"j"' results.jsonl || fail "the second prompt's id is missing from results.jsonl"
cmp -s tinyshakespeare.txt roundtrip.txt || fail "tokenizer encode | decode did not round-trip the corpus"
for f in out/shakespeare/ckpt/model.safetensors out/small/ckpt/model.safetensors shakespeare.gguf \
  shakespeare-q8.gguf models/gpt2-small-random/model.safetensors data/shakespeare_bpe/train.bin; do
  [[ -s "$f" ]] || fail "the tour did not write $f"
done
echo "PASS: $ran tour commands ran as written"

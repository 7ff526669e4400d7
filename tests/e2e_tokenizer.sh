#!/usr/bin/env bash
# End to end: nexus tokenizer train/encode/decode, GPT-2's files, errors, and a BPE dataset
# that trains and samples. Usage: bash tests/e2e_tokenizer.sh path/to/nexus (exit 77 = skipped).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/e2e_common.bash"
need_shared_file tinyshakespeare.txt gpt2/vocab.bpe gpt2/encoder.json
DATA=$NEXUS_SHARED_DATA

head -c 300000 "$DATA/tinyshakespeare.txt" >"$TMP/train.txt"
tail -c 30000 "$DATA/tinyshakespeare.txt" >"$TMP/val.txt"

# Train, then round-trip a file through encode | decode.
"$NEXUS" tokenizer train --input "$TMP/train.txt" --vocab-size 800 --out "$TMP/tok.json" \
  --special-token '<|endoftext|>' >"$TMP/train.log"
grep -q "trained 800 ids" "$TMP/train.log" || fail "train: $(cat "$TMP/train.log")"
"$NEXUS" tokenizer encode --tokenizer "$TMP/tok.json" --file "$TMP/val.txt" >"$TMP/ids.txt"
[[ $(wc -l <"$TMP/ids.txt") -eq 1 ]] || fail "encode must print one line"
"$NEXUS" tokenizer decode --tokenizer "$TMP/tok.json" <"$TMP/ids.txt" >"$TMP/back.txt"
cmp -s "$TMP/val.txt" "$TMP/back.txt" || fail "decode(encode(val)) differs from val"
# stdin input and determinism: a second training run writes the same file.
"$NEXUS" tokenizer train --input "$TMP/train.txt" --vocab-size 800 --out "$TMP/tok2.json" \
  --special-token '<|endoftext|>' >/dev/null
cmp -s "$TMP/tok.json" "$TMP/tok2.json" || fail "training is not deterministic"
# The default split pattern is GPT-4o's (o200k): its regex is in the file, --pattern gpt4o changes nothing.
grep -qF '[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]' "$TMP/tok.json" || fail "the default pattern is not gpt4o"
"$NEXUS" tokenizer train --input "$TMP/train.txt" --vocab-size 800 --out "$TMP/tok3.json" \
  --special-token '<|endoftext|>' --pattern gpt4o >/dev/null
cmp -s "$TMP/tok.json" "$TMP/tok3.json" || fail "--pattern gpt4o differs from the default"
[[ $(printf 'a<|endoftext|>' | "$NEXUS" tokenizer encode --tokenizer "$TMP/tok.json" --allow-special) == *" 799" ]] ||
  fail "special token not encoded as its id"

# GPT-2's original files (a directory).
G="$DATA/gpt2"
[[ $("$NEXUS" tokenizer encode --tokenizer "$G" --text "Hello world") == "15496 995" ]] || fail "GPT-2 Hello world"
[[ $("$NEXUS" tokenizer encode --tokenizer "$G" --text " Hello world") == "18435 995" ]] || fail "GPT-2 leading space"
[[ $("$NEXUS" tokenizer encode --tokenizer "$G" --text "<|endoftext|>" --allow-special) == "50256" ]] ||
  fail "GPT-2 <|endoftext|> allowed"
[[ $("$NEXUS" tokenizer encode --tokenizer "$G" --text "<|endoftext|>") != *50256* ]] ||
  fail "GPT-2 <|endoftext|> must be plain text unless allowed"
[[ $("$NEXUS" tokenizer decode --tokenizer "$G" 15496 995) == "Hello world" ]] || fail "GPT-2 decode"

# Errors: one line, exit status 1, naming the problem.
rc=0; "$NEXUS" tokenizer decode --tokenizer "$TMP/tok.json" 5 99999 2>"$TMP/err" >/dev/null || rc=$?
[[ $rc -eq 1 ]] && grep -q "nexus: error: .*99999" "$TMP/err" || fail "bad id: rc=$rc $(cat "$TMP/err")"
head -c 1000 "$TMP/tok.json" >"$TMP/broken.json"
rc=0; "$NEXUS" tokenizer encode --tokenizer "$TMP/broken.json" --text hi 2>"$TMP/err" >/dev/null || rc=$?
[[ $rc -eq 1 ]] && grep -q "broken.json.*not valid JSON" "$TMP/err" || fail "broken file: rc=$rc $(cat "$TMP/err")"

# Pipeline: a BPE dataset (trained on the training split), training and sampling use it.
cat "$TMP/train.txt" "$TMP/val.txt" >"$TMP/all.txt"
"$NEXUS" prepare --input "$TMP/all.txt" --out "$TMP/ds" --tokenizer bpe:600 >"$TMP/prep.log"
grep -q "bytes per token: train [0-9.]*, val [0-9.]*" "$TMP/prep.log" || fail "prepare: $(cat "$TMP/prep.log")"
grep -q '"vocab_size": 600' "$TMP/ds/meta.json" || fail "meta.json: $(cat "$TMP/ds/meta.json")"
"$NEXUS" train --data "$TMP/ds" --out "$TMP/run" --n-layer 1 --n-head 2 --n-embd 32 --block-size 32 \
  --batch-size 4 --max-iters 4 --eval-interval 2 --eval-iters 1 --log-interval 2 --warmup-iters 1 \
  --lr-decay-iters 4 --threads 1 >"$TMP/trainrun.log" 2>&1 || fail "train on a BPE dataset: $(tail -5 "$TMP/trainrun.log")"
cmp -s "$TMP/ds/tokenizer.json" "$TMP/run/ckpt/tokenizer.json" || fail "checkpoint does not carry tokenizer.json"
"$NEXUS" sample --model "$TMP/run" --prompt "ROMEO:" --max-tokens 10 --threads 1 >"$TMP/sample.txt" ||
  fail "sample from a BPE model"
grep -q "^ROMEO:" "$TMP/sample.txt" || fail "sample output: $(cat "$TMP/sample.txt")"
# An existing tokenizer by path (GPT-2's directory): ids fit uint16.
"$NEXUS" prepare --input "$TMP/all.txt" --out "$TMP/ds2" --tokenizer "$G" >/dev/null
grep -q '"vocab_size": 50257' "$TMP/ds2/meta.json" || fail "GPT-2 dataset meta"
echo "e2e_tokenizer: ok"

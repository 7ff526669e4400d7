#!/usr/bin/env bash
# The inference commands through the real CLI on tiny random models from `nexus init`:
# generate (JSON fields, determinism, context policies, a batched prompts file equal to one
# prompt at a time, --stream equal to the JSON text), sample, eval perplexity, bench
# generate, a failed sequence (exit status 1 after all results), and bad input (one clean error
# line each).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/e2e_common.bash"

M="$TMP/char"
nexus_ok init --n-layer 2 --n-head 2 --n-embd 32 --block-size 32 --vocab-size 96 --seed 3 --out "$M"
[[ -f "$M/model.safetensors" && -f "$M/config.json" && -f "$M/tokenizer.json" ]] || fail "init wrote an incomplete model"
grep -q '"char"' "$M/tokenizer.json" || fail "init with 96 ids should store a char tokenizer"
# --tokenizer without --vocab-size: the model gets exactly the tokenizer's ids.
nexus_ok init --n-layer 1 --n-head 1 --n-embd 8 --block-size 8 --tokenizer "$M/tokenizer.json" --out "$TMP/fit"
grep -q '"vocab_size": 96' "$TMP/fit/config.json" || fail "init --tokenizer should size the vocabulary to the tokenizer"

gen() { "$NEXUS" generate --model "$M" --threads "$THREADS" "$@" 2>/dev/null; }
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.readline())['$1'])"; }

# An fp16 KV cache generates the requested tokens and reports half the cache memory.
h=$("$NEXUS" generate --model "$M" --threads "$THREADS" --prompt "ROMEO:" --max-tokens 12 --seed 5 --kv-type f16 2>"$TMP/f16.err")
[[ "$(field generated_tokens <<<"$h")" == 12 ]] || fail "--kv-type f16 did not generate 12 tokens: $h"

# Same seed, same output; all documented fields present.
a=$(gen --prompt "ROMEO:" --max-tokens 12 --seed 5)
b=$(gen --prompt "ROMEO:" --max-tokens 12 --seed 5)
[[ "$(field tokens <<<"$a")" == "$(field tokens <<<"$b")" ]] || fail "two runs with --seed 5 differ:"$'\n'"$a"$'\n'"$b"
python3 - "$a" <<'EOF' || fail "generate JSON is missing fields: $a"
import json, sys
j = json.loads(sys.argv[1])
for k in ["index", "text", "tokens", "finish_reason", "prompt_tokens", "generated_tokens", "timings"]:
    assert k in j, k
for k in ["prompt_ms", "generation_ms", "prompt_tok_per_s", "generation_tok_per_s"]:
    assert k in j["timings"], k
assert j["finish_reason"] == "length" and len(j["tokens"]) == 12 == j["generated_tokens"]
assert j["prompt_tokens"] == 6
EOF

# Context policies: 6 prompt tokens in a context of 32 -> 27 tokens under "stop", all 60 under "slide".
n=$(gen --prompt "ROMEO:" --max-tokens 60 --temperature 0 | field generated_tokens)
[[ "$n" == 27 ]] || fail "context-overflow stop should end after 27 tokens, got $n"
n=$(gen --prompt "ROMEO:" --max-tokens 60 --temperature 0 --context-overflow slide | field generated_tokens)
[[ "$n" == 60 ]] || fail "context-overflow slide should give all 60 tokens, got $n"

# --max-tokens beyond the room left in the context under "stop": one note on stderr, naming
# --context-overflow slide; none when it fits or slides.
"$NEXUS" generate --model "$M" --prompt "ROMEO:" --max-tokens 60 --threads "$THREADS" >/dev/null 2>"$TMP/note.err"
grep -q "^nexus: note: the prompt leaves room for 27 of the 60 --max-tokens in the 32-position context.*--context-overflow slide" \
  "$TMP/note.err" || fail "no note that --max-tokens does not fit: $(cat "$TMP/note.err")"
for args in "--max-tokens 27" "--max-tokens 60 --context-overflow slide"; do
  # shellcheck disable=SC2086
  "$NEXUS" generate --model "$M" --prompt "ROMEO:" $args --threads "$THREADS" >/dev/null 2>"$TMP/note.err"
  ! grep -q "note:" "$TMP/note.err" || fail "generate $args should print no note: $(cat "$TMP/note.err")"
done

# Escapes in --text, --prompt and --stop (as llama.cpp reads them): "\n" is a newline, "\\n" a
# backslash and an n; --no-escape takes the text literally.
nl_id=$("$NEXUS" tokenizer encode --tokenizer "$M/tokenizer.json" --text '\n')
[[ "$nl_id" =~ ^[0-9]+$ ]] || fail "--text '\\n' should encode to one id (a newline), got '$nl_id'"
[[ $("$NEXUS" tokenizer encode --tokenizer "$M/tokenizer.json" --text '\\n' | wc -w) == 2 ]] ||
  fail "--text '\\\\n' should be two characters"
[[ $("$NEXUS" tokenizer encode --tokenizer "$M/tokenizer.json" --text '\n' --no-escape | wc -w) == 2 ]] ||
  fail "--no-escape should keep '\\n' as two characters"
s=$(gen --prompt 'A\x42\u0043' --max-tokens 10 --logit-bias "$nl_id=100" --stop '\n\n')
[[ "$(field finish_reason <<<"$s")" == stop && "$(field generated_tokens <<<"$s")" == 2 ]] ||
  fail "--stop '\\n\\n' should stop after two newlines: $s"
[[ "$(field text <<<"$s")" == "" && "$(field prompt_tokens <<<"$s")" == 3 ]] ||
  fail "--prompt 'A\\x42\\u0043' should be the 3 characters ABC: $s"
s=$(gen --prompt 'A' --max-tokens 10 --logit-bias "$nl_id=100" --stop '\n\n' --no-escape)
[[ "$(field finish_reason <<<"$s")" == length ]] || fail "with --no-escape, --stop '\\n\\n' should never match: $s"
expect_error 'hex digits' generate --model "$M" --prompt 'bad \x4' --max-tokens 1

# A prompts file as one ragged batch equals each prompt alone (tokens), in prompt order.
printf '%s\n' '"To be"' '{"prompt": "Friends, Romans", "id": "x", "max_tokens": 5}' '{"prompt": "A", "seed": 9}' >"$TMP/p.jsonl"
"$NEXUS" generate --model "$M" --prompts-file "$TMP/p.jsonl" --max-tokens 8 --batch-size 2 --prefill-tokens 3 \
  --threads "$THREADS" >"$TMP/batch.jsonl" 2>/dev/null || fail "generate --prompts-file failed"
[[ $(wc -l <"$TMP/batch.jsonl") == 3 ]] || fail "expected 3 JSON lines for 3 prompts"
one=$(gen --prompt "To be" --max-tokens 8 | field tokens)
two=$(gen --prompt "Friends, Romans" --max-tokens 5 | field tokens)
three=$(gen --prompt "A" --max-tokens 8 --seed 9 | field tokens)
python3 - "$TMP/batch.jsonl" "$one" "$two" "$three" <<'EOF' || fail "batched tokens differ from one prompt at a time"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [l["index"] for l in lines] == [0, 1, 2]
assert lines[1]["id"] == "x"
for l, want in zip(lines, sys.argv[2:]):
    assert str(l["tokens"]) == want, (l["tokens"], want)
EOF

# --stream prints exactly the text the JSON reports.
"$NEXUS" generate --model "$M" --prompt "Hi" --max-tokens 20 --stream --output "$TMP/s.jsonl" --threads "$THREADS" \
  >"$TMP/stream.txt" 2>/dev/null || fail "generate --stream failed"
python3 - "$TMP/stream.txt" "$TMP/s.jsonl" <<'EOF' || fail "--stream output differs from the JSON text"
import json, sys
streamed = open(sys.argv[1], encoding="utf-8").read()
j = json.loads(open(sys.argv[2]).readline())
assert streamed == j["text"] + "\n", (streamed, j["text"])
EOF

# sample (the simple alias) still works; eval perplexity; bench generate.
nexus_ok sample --model "$M" --prompt "ROMEO:" --max-tokens 40 --threads "$THREADS"
make_text "$TMP/text.txt" 3000
"$NEXUS" eval perplexity --model "$M" --file "$TMP/text.txt" --stride 16 --json --threads "$THREADS" >"$TMP/ppl.json" \
  || fail "eval perplexity failed"
python3 - "$TMP/ppl.json" <<'EOF' || fail "eval perplexity JSON is wrong: $(cat "$TMP/ppl.json")"
import json, sys
j = json.loads(open(sys.argv[1]).read())
assert j["eval"] == "perplexity" and j["perplexity"] > 1 and j["bits_per_byte"] > 0 and j["tokens"] > 2900
EOF
"$NEXUS" bench generate --model "$M" --batches 1,2 --prompt-tokens 8 --gen-tokens 4 --recompute-context 8 --json \
  --threads "$THREADS" >"$TMP/bench.json" || fail "bench generate failed"
grep -q '"bench":"generate"' "$TMP/bench.json" || fail "bench generate printed no JSON line"

# A sequence that fails (every token banned): all results are still printed, in order, and the
# run exits 1 with an error line naming the prompt, so a script cannot miss it.
python3 - >"$TMP/failing.jsonl" <<'EOF'
import json
print(json.dumps("To be"))
print(json.dumps({"prompt": "Hi", "logit_bias": {str(i): "-inf" for i in range(96)}}))
print(json.dumps("A"))
EOF
rc=0
"$NEXUS" generate --model "$M" --prompts-file "$TMP/failing.jsonl" --max-tokens 4 --threads "$THREADS" \
  >"$TMP/failing.out" 2>"$TMP/failing.err" || rc=$?
((rc == 1)) || fail "generate with a failed sequence should exit 1, got $rc"
python3 - "$TMP/failing.out" <<'EOF' || fail "generate with a failed sequence: $(cat "$TMP/failing.out")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [l["finish_reason"] for l in lines] == ["length", "error", "length"], lines
EOF
tail -1 "$TMP/failing.err" | grep -qE '^nexus: error: 1 of 3 .*"error".*prompt 2: sampler: every candidate' ||
  fail "generate with a failed sequence should end with an error line naming prompt 2: $(cat "$TMP/failing.err")"

# Bad input: one clean error line each.
long=$(printf 'x%.0s' {1..40})
expect_error 'prompt is empty' generate --model "$M" --prompt ""
expect_error 'kv-type' generate --model "$M" --prompt "a" --kv-type q4
expect_error 'context holds 32' generate --model "$M" --prompt "$long"
expect_error 'top_p' generate --model "$M" --prompt "a" --top-p 1.5
expect_error 'min_p' generate --model "$M" --prompt "a" --min-p 2
expect_error 'repeat_last_n' generate --model "$M" --prompt "a" --repeat-last-n -2
expect_error 'temperature' generate --model "$M" --prompt "a" --temperature -1
expect_error 'outside the vocabulary' generate --model "$M" --prompt "a" --logit-bias 999=1
expect_error 'ID=BIAS' generate --model "$M" --prompt "a" --logit-bias nonsense
expect_error 'exactly one of' generate --model "$M" --prompt "a" --prompts-file "$TMP/p.jsonl"
expect_error "'stop' or 'slide'" generate --model "$M" --prompt "a" --context-overflow wrap
echo '{"prompt": 3}' >"$TMP/bad.jsonl"
expect_error 'bad.jsonl:1' generate --model "$M" --prompts-file "$TMP/bad.jsonl"
expect_error 'no model found' generate --model "$TMP/nothing" --prompt "a"
expect_error 'stride' eval perplexity --model "$M" --file "$TMP/text.txt" --stride 99
expect_error 'already holds a model; pass --overwrite' init --n-layer 1 --n-head 1 --n-embd 8 --block-size 8 --vocab-size 65 --out "$M"
nexus_ok init --n-layer 1 --n-head 1 --n-embd 8 --block-size 8 --vocab-size 65 --out "$TMP/fit" --overwrite
grep -q '"vocab_size": 65' "$TMP/fit/config.json" || fail "init --overwrite should replace the model in --out"
echo "PASS: generate, sample, eval perplexity, bench generate and bad input"

"""bpe_train_reference.py -- an independent Python twin of Nexus's byte-level BPE trainer
(src/tokenizer/bpe_train.cpp) and of the `prepare` train/val cut (text_split_point in
src/train/data.cpp). It prints the validation bytes per token that tests/test_bpe_gpt4o.cpp
pins (2.80098 for bpe:2000 with the gpt4o pattern on tinyshakespeare) and, given a
tokenizer.json written by `nexus prepare` or `nexus tokenizer train`, checks that the merges
and the vocabulary are the same.

Run (needs Debian's python3-regex: `scripts/setup.sh --peer`; never needed by the tests):

    /usr/bin/python3 tools/bpe_train_reference.py [--input ../shared/data/tinyshakespeare.txt]
        [--vocab-size 2000] [--pattern gpt2|gpt4|gpt4o] [--val-fraction 0.1]
        [--special-token TOKEN ...] [--compare DATASET_DIR/tokenizer.json]

    e.g. build/nexus prepare --input ../shared/data/tinyshakespeare.txt --out /tmp/ds --tokenizer bpe:2000
         /usr/bin/python3 tools/bpe_train_reference.py --compare /tmp/ds/tokenizer.json

--val-fraction 0 trains on the whole input as `nexus tokenizer train` does (and measures bytes
per token on that same text), e.g. against `nexus tokenizer train --input F --vocab-size 600
--special-token '<|endoftext|>' --out t.json`.
On tinyshakespeare at 2,000 ids (about 12 s): gpt4o 2.80098, gpt4 2.79579, gpt2 2.54927 val
bytes/token, and the C++ merges and vocabulary are identical for all three (also for 8,000 gpt2
ids on the whole file, about 2 min, and with special tokens).

What it shares with the C++ is only the definition, written here from scratch:
- the cut: the training text ends at the first line start at or after the (1 - val_fraction)
  mark of the bytes, so the tokenizer never sees validation text;
- pre-tokens come from the `regex` module with tiktoken's pattern (tools/gpt2_reference.py
  holds the three patterns); special tokens are cut out of the text first and never learned;
- training: the pair (left id, right id) with the highest count over all pre-tokens (weighted
  by how often each occurs) is merged next; equal counts go to the smallest (left, right).
  Ids 0..255 are the bytes, then one id per merge, unless the merged bytes already have an
  id (then that id is reused and the merge still counts), then the special tokens. Counts
  are kept incrementally: a merge only re-counts the words that contain its pair, by taking
  each such word's pairs out, merging it left to right, and putting its pairs back (the C++
  instead adjusts the neighbours of each occurrence and keeps a lazy max-heap);
- encoding: within each pre-token, merge the leftmost pair of lowest merge rank until none
  has a rank.
"""
import argparse
import json
import os
import sys
import time
from collections import defaultdict

import regex as re

from gpt2_reference import GPT2_PAT, GPT4_PAT, GPT4O_PAT, bytes_to_unicode

PATTERNS = {"gpt2": GPT2_PAT, "gpt4": GPT4_PAT, "gpt4o": GPT4O_PAT}


def split_point(data, val_fraction):
    """Byte offset where validation starts: the first line start at or after the
    (1 - val_fraction) mark; without one, the mark moved off any UTF-8 continuation byte."""
    p = min(int(len(data) * (1.0 - val_fraction)), len(data))
    line = 0 if p == 0 else data.find(b"\n", p - 1)
    if line != -1 and line + 1 < len(data):
        return line + 1
    while p < len(data) and (data[p] & 0xC0) == 0x80:
        p += 1
    return p


def without_specials(data, specials):
    """The parts of data between occurrences of the special tokens (earliest first, the
    longest on a tie)."""
    parts, pos = [], 0
    while specials:
        hits = [(data.find(s, pos), -len(s)) for s in specials if data.find(s, pos) != -1]
        if not hits:
            break
        at, neg_len = min(hits)
        if at > pos:
            parts.append(data[pos:at])
        pos = at - neg_len
    if pos < len(data):
        parts.append(data[pos:])
    return parts


def pretokens(data, pattern):
    """Pre-tokens of data as bytes. Bytes that are not UTF-8 become lone surrogates (not
    letters, numbers or spaces) and come back unchanged."""
    text = data.decode("utf-8", errors="surrogateescape")
    return [m.encode("utf-8", errors="surrogateescape") for m in re.findall(pattern, text)]


def word_pairs(syms):
    return zip(syms, syms[1:])


def merge_word(syms, a, b, new_id):
    out, i = [], 0
    while i < len(syms):
        if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(syms[i])
            i += 1
    return out


def train(texts, vocab_size, pattern, specials):
    """(tokens as bytes by id, merges as (left id, right id) by rank)."""
    counts = defaultdict(int)
    for data in texts:
        for part in without_specials(data, specials):
            for piece in pretokens(part, pattern):
                counts[piece] += 1
    words = [list(piece) for piece in counts]  # byte values are the ids 0..255
    freq = list(counts.values())

    pair_count = defaultdict(int)
    pair_words = defaultdict(set)
    for w, syms in enumerate(words):
        for p in word_pairs(syms):
            pair_count[p] += freq[w]
            pair_words[p].add(w)

    tokens = [bytes([b]) for b in range(256)]
    id_of = {t: i for i, t in enumerate(tokens)}
    merges = []
    target = vocab_size - len(specials)
    while len(tokens) < target:
        live = [(c, p) for p, c in pair_count.items() if c > 0]
        if not live:
            break
        (a, b) = max(live, key=lambda cp: (cp[0], -cp[1][0], -cp[1][1]))[1]
        merged = tokens[a] + tokens[b]
        if merged not in id_of:
            id_of[merged] = len(tokens)
            tokens.append(merged)
        merges.append((a, b))
        new_id = id_of[merged]
        for w in pair_words.pop((a, b)):
            for p in word_pairs(words[w]):
                pair_count[p] -= freq[w]
            words[w] = merge_word(words[w], a, b, new_id)
            for p in word_pairs(words[w]):
                pair_count[p] += freq[w]
                pair_words[p].add(w)
        del pair_count[(a, b)]
    tokens.extend(s for s in specials)
    return tokens, merges


def encoder(merges, id_of_merge):
    """encode(piece bytes) -> ids: merge the leftmost lowest-rank pair until none has a rank."""
    rank = {}
    for r, (a, b) in enumerate(merges):
        rank.setdefault((a, b), (r, id_of_merge[r]))
    cache = {}

    def encode(piece):
        if piece in cache:
            return cache[piece]
        syms = list(piece)
        while len(syms) > 1:
            best = min(range(len(syms) - 1), key=lambda i: (rank.get((syms[i], syms[i + 1]), (1 << 62,))[0], i))
            hit = rank.get((syms[best], syms[best + 1]))
            if hit is None:
                break
            syms[best:best + 2] = [hit[1]]
        cache[piece] = syms
        return syms

    return encode


def compare(path, tokens, merges, n_specials):
    """Differences between our vocabulary and merges and those of a Nexus tokenizer.json."""
    with open(path, encoding="utf-8") as f:
        j = json.load(f)
    b2u = bytes_to_unicode()
    name = [("".join(b2u[x] for x in t) if i < len(tokens) - n_specials else t.decode("utf-8"))
            for i, t in enumerate(tokens)]
    ours_merges = [name[a] + " " + name[b] for a, b in merges]
    theirs_merges = [m if isinstance(m, str) else " ".join(m) for m in j["model"]["merges"]]
    problems = []
    if ours_merges != theirs_merges:
        n = next((i for i, (x, y) in enumerate(zip(ours_merges, theirs_merges)) if x != y),
                 min(len(ours_merges), len(theirs_merges)))
        problems.append("merges differ from rank %d (ours %d, theirs %d): ours %r, theirs %r" % (
            n, len(ours_merges), len(theirs_merges), ours_merges[n:n + 1], theirs_merges[n:n + 1]))
    theirs_vocab = dict(j["model"]["vocab"])
    for t in j.get("added_tokens", []):
        theirs_vocab[t["content"]] = t["id"]
    ours_vocab = {n: i for i, n in enumerate(name)}
    if ours_vocab != theirs_vocab:
        diff = sorted(set(ours_vocab.items()) ^ set(theirs_vocab.items()), key=lambda kv: kv[1])
        problems.append("vocab differs (%d ids ours, %d theirs), e.g. %r" % (
            len(ours_vocab), len(theirs_vocab), diff[:4]))
    return problems


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", default=os.path.join(here, "..", "..", "shared", "data", "tinyshakespeare.txt"))
    ap.add_argument("--vocab-size", type=int, default=2000)
    ap.add_argument("--pattern", choices=sorted(PATTERNS), default="gpt4o")
    ap.add_argument("--val-fraction", type=float, default=0.1, help="0: train on the whole input")
    ap.add_argument("--special-token", action="append", default=[])
    ap.add_argument("--compare", help="a tokenizer.json of `nexus prepare` / `nexus tokenizer train` to check")
    args = ap.parse_args()

    with open(args.input, "rb") as f:
        data = f.read()
    cut = split_point(data, args.val_fraction) if args.val_fraction > 0 else len(data)
    train_text, val_text = data[:cut], (data[cut:] if args.val_fraction > 0 else data)
    specials = [s.encode("utf-8") for s in args.special_token]
    t0 = time.time()
    tokens, merges = train([train_text], args.vocab_size, PATTERNS[args.pattern], specials)
    seconds = time.time() - t0
    id_of = {t: i for i, t in enumerate(tokens[:len(tokens) - len(specials)])}
    encode = encoder(merges, [id_of[tokens[a] + tokens[b]] for a, b in merges])
    n_ids = sum(len(encode(piece)) for piece in pretokens(val_text, PATTERNS[args.pattern]))
    print("train %d bytes, val %d bytes (cut at %d); %d ids, %d merges in %.1f s" % (
        len(train_text), len(val_text), cut, len(tokens), len(merges), seconds))
    measured = "val" if args.val_fraction > 0 else "train"
    print("%s: %d tokens, %.5f bytes/token (pattern %s)" % (measured, n_ids, len(val_text) / n_ids, args.pattern))
    if args.compare:
        problems = compare(args.compare, tokens, merges, len(specials))
        for p in problems:
            print("MISMATCH with %s: %s" % (args.compare, p))
        if problems:
            sys.exit(1)
        print("merges and vocab match %s" % args.compare)


if __name__ == "__main__":
    main()

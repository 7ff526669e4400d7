"""gpt2_reference.py -- writes tests/golden/gpt2_tokens.json, the GPT-2 token ids that
tests/test_bpe_gpt2.cpp compares Nexus against.

Run (needs Debian's python3-regex: `scripts/setup.sh --peer`; never needed by the tests):

    /usr/bin/python3 tools/gpt2_reference.py [--gpt2-dir ../shared/data/gpt2] [--out tests/golden/gpt2_tokens.json]

The encoder below is OpenAI's original GPT-2 encoder.py (bytes_to_unicode, get_pairs, bpe,
encode) with one change: it takes bytes. Text is decoded with errors="surrogateescape",
so each byte that is not part of valid UTF-8 becomes one lone surrogate (category Cs:
not a letter, number or space), and each pre-token is turned back into its exact bytes
with the same error handler before the byte-to-unicode map. For valid UTF-8 this is
exactly OpenAI's encoder; for invalid bytes it is the rule Nexus documents (each invalid
byte is a one-byte "other" symbol).

Each case stores the input (as "text" when it is valid UTF-8, else as "hex"), the GPT-2
ids, and the byte lengths of its pre-tokens under the gpt2, gpt4 (tiktoken cl100k_base) and
gpt4o (tiktoken o200k_base) patterns (computed with the `regex` module) so the C++
pre-tokenizer is checked directly too; the file also records the three patterns. Random
inputs only use code points assigned in unicodedata's Unicode version (the C++ tables come
from it; the regex module may know newer characters). Use Debian's /usr/bin/python3 and its
python3-regex: another regex build may split some characters differently.
"""
import argparse
import json
import os
import random
import unicodedata

import regex as re

GPT2_PAT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT4_PAT = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
            r"""\s*[\r\n]+|\s+(?!\S)|\s+""")
# tiktoken's o200k_base (tiktoken_ext/openai_public.py), joined the same way.
GPT4O_PAT = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])


# ---- OpenAI's encoder.py (https://github.com/openai/gpt-2/blob/master/src/encoder.py) ----
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b)
            cs.append(2 ** 8 + n)
            n += 1
    cs = [chr(n) for n in cs]
    return dict(zip(bs, cs))


def get_pairs(word):
    pairs = set()
    prev_char = word[0]
    for char in word[1:]:
        pairs.add((prev_char, char))
        prev_char = char
    return pairs


class Encoder:
    def __init__(self, encoder, bpe_merges):
        self.encoder = encoder
        self.byte_encoder = bytes_to_unicode()
        self.bpe_ranks = dict(zip(bpe_merges, range(len(bpe_merges))))
        self.cache = {}
        self.pat = re.compile(GPT2_PAT)

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return token
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        word = " ".join(word)
        self.cache[token] = word
        return word

    def encode_bytes(self, data):
        text = data.decode("utf-8", "surrogateescape")
        bpe_tokens = []
        for token in re.findall(self.pat, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8", "surrogateescape"))
            bpe_tokens.extend(self.encoder[t] for t in self.bpe(token).split(" "))
        return bpe_tokens


def split_lengths(pattern, data):
    text = data.decode("utf-8", "surrogateescape")
    pieces = re.findall(pattern, text)
    assert "".join(pieces) == text
    return [len(p.encode("utf-8", "surrogateescape")) for p in pieces]


# ---- inputs ----
FIXED = [
    "Hello world", " Hello world", "Hello", " ", "  ", "   ", "a", " a", "  a", "   leading spaces",
    "trailing spaces   ", "trailing space ", "a  b", "a   b   c", "a\tb", "a\t\tb", "\tx", "x\t", "\n", "\n\n",
    "a\nb", "a\n\nb", "a\n\n\nb", "line one\nline two\n", "\r\n", "a\r\nb", "x \n y", " \t \n x", "  \n\n  \t",
    "word\n  indented\n    more", "I'm you're we've they'll he'd it's don't can't", "'s 't 're 've 'm 'll 'd",
    "DON'T I'M YOU'RE", "'S 'T 'RE", "'''", "''s", "'ll'll", "O'Neil's", "rock 'n' roll", "\"quoted\" 'single'",
    "123", "1234567", " 42 is the answer", "3.14159", "1,000,000", "$100.00", "2024-01-31", "0x1F", "v1.2.3",
    "!!!", "...", "?!?!", " -- ", "(hello)", "[x]", "{a: b}", "a.b.c", "@user #tag", "100%", "a+b=c", "~/.bashrc",
    "😀", "hello 😀 world", "👨‍👩‍👧‍👦 family", "🇺🇸🇫🇷", "👍🏽", "你好，世界", "日本語のテキストです。", "한국어 텍스트",
    "Привет, мир!", "Ελληνικά γράμματα", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "ภาษาไทย",
    "café", "cafe\u0301", "h\u0338\u0322e\u0337llo", "naïve résumé", "Straße", "ǅemal", "a\u00a0b", "a\u3000b",
    "a\u2028b", "a\u0085b", "x\u200bz", "\u00a0 x", " \u00a0x", "１２３ ＡＢＣ", "٣٤٥ ۱۲۳", "Ⅻ ⅻ", "x² y³", "½ ¾",
    "ſ's long s", "'ſ", "<|endoftext|>", "a<|endoftext|>b", "<|endoftext|> <|endoftext|>",
    "def f(x):\n    return x ** 2\n", "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "https://example.com/path?q=1&r=two#frag", "user@example.com", "C:\\Program Files\\x", "snake_case camelCase",
    "ALLCAPS MixedCase lowercase", "a" * 100, " " * 50 + "x", "ab" * 60, "!" * 70, "\n" * 30,
    # For gpt4o's case-aware words, glued contractions and "[\r\n/]*".
    "HelloWorld", "ALLCaps", "CamelCaseHTTPServer", "XMLHttpRequest", "iPhone", "McDonald's", "CAN'T", "He'S",
    "she'Ll", "WE'VE", "they'RE", "I'M", "I'd", "don't'", "'s", "'S", "x'ſ", "X'ſ", "ſ'ſ", "rock'n'roll",
    "ǅemal ǅ ǈ ǋ ǲ", "ǅǅ", "aǅ", "ǅA", "ᾈᾉ ᾈa", "Ǆ ǆ", "ʰʲ ʰa Aʰ Aʰb", "ĀʰĀ", "ⅫⅫ Ⅻa aⅫ",
    "\u0301", "\u0301ABC", "\u0301abc", "A\u0301B", "AB\u0301", "a\u0301'S", " \u0301", " \u0301A", "!\u0301A",
    "\u0301\u0302!", "e\u0301\u0302ABC", "ÉCOLE école Élan", "ΣΊΣΥΦΟΣ Σίσυφος", "ՀԱՅ Հայ", "ᲒᲔ გე",
    "𐐀𐐨 𐐀𐐀 𐐨𐐀", "Ꭰꭰ", "日本Abc", "Abc日本", "ABC日本", "日本ABC", "नमस्ते", "\tHello", "\t\tHello", "\u3000Hi",
    "a/b", "a / b", "path/to/file", "x.\n/y", ".\n/\n/", "!/\r\n/", " !/", "end:\r\n\r\nNext", "1/2", "http://x.y/z",
    "'\n's", "x\n'sY", "9'S", " 'll", "\n'll", "a''s", "A'ſ'S",
]
INVALID = [
    b"\xff", b"\xc3", b"abc\xff\xfedef", b"\xe2\x82", b"\xe2\x82abc", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
    b"\xc0\xaf", b" \xff", b"\x80\x80 x", b"caf\xe9", b"\xff\xff\xff", b"a \xc3 b", b"\xf0\x9f\x98", b"\xf0\x9f\x98 x",
    b"x\xe4\xbd\xa0\xe5", b"\xc3\xa9\xa9", b"'\xff's", b"1\xff2", b"\t\xff\n",
]
ASCII_POOL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'\"()-\n\t"
UNICODE_RANGES = [(0x20, 0x7E), (0xA0, 0x17F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
                  (0x900, 0x97F), (0x2000, 0x206F), (0x2150, 0x218F), (0x3000, 0x303F), (0x3040, 0x30FF),
                  (0x4E00, 0x4FFF), (0xAC00, 0xAD00), (0xFF00, 0xFF65), (0x1F300, 0x1F64F), (0x1D400, 0x1D4FF)]
WORDS = ("the of and to in is was that for on with as by at from his her this which be it not are or had "
         "love king lord thou thee hath doth shall would could night day heart death blood sweet fair").split()


def assigned(cp):
    return not 0xD800 <= cp <= 0xDFFF and unicodedata.category(chr(cp)) != "Cn"


def random_assigned(rng, ranges):
    """A random character of one of the ranges, or None when it drew an unassigned code point."""
    lo, hi = rng.choice(ranges)
    cp = rng.randint(lo, hi)
    return chr(cp) if assigned(cp) else None


def random_unicode(rng, n):
    out = []
    while len(out) < n:
        r = rng.random()
        if r < 0.4:
            out.append(rng.choice(ASCII_POOL))
        elif (c := random_assigned(rng, UNICODE_RANGES)) is not None:
            out.append(c)
    return "".join(out)


def random_bytes(rng, n):
    return bytes(rng.choice([rng.randint(0, 255), ord(rng.choice(ASCII_POOL))]) for _ in range(n))


CASED_RANGES = [(0xC0, 0x24F), (0x250, 0x2FF), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x52F), (0x531, 0x58F),
                (0x10A0, 0x10FF), (0x13A0, 0x13FF), (0x1C90, 0x1CBF), (0x1E00, 0x1FFF), (0x2100, 0x218F),
                (0x24B6, 0x24E9), (0x2C00, 0x2C7F), (0xA640, 0xA69F), (0xA720, 0xA7FF), (0xAB70, 0xABBF),
                (0x10400, 0x1044F), (0x1E900, 0x1E95F), (0x0900, 0x097F), (0x3040, 0x30FF), (0x0E00, 0x0E7F),
                (0x1D400, 0x1D7FF), (0xFB00, 0xFB06)]
CASED_PIECES = ["'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'ve", "'m", "'M", "'ll", "'LL", "'lL", "'d", "'D",
                "'ſ", "'", "''", " ", " ", "  ", "\n", "\r\n", "\t", "/", "\n/", "!", ".", "5", "123", "\u00a0"]


def random_cased(rng, n):
    """Text that exercises gpt4o: upper/lower/title/modifier letters, marks, contractions."""
    out = []
    while len(out) < n:
        r = rng.random()
        if r < 0.3:
            out.append(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        elif r < 0.55:
            out.append(rng.choice(CASED_PIECES))
        elif (c := random_assigned(rng, CASED_RANGES)) is not None:
            out.append(c)
    return "".join(out)


def long_text(rng, n):
    parts = []
    size = 0
    while size < n:
        r = rng.random()
        if r < 0.6:
            w = rng.choice(WORDS)
            w = w.capitalize() if rng.random() < 0.15 else w.upper() if rng.random() < 0.03 else w
            piece = rng.choice([" ", " ", " ", "", "  ", "\n", "\t", "\n\n"]) + w
        elif r < 0.7:
            piece = rng.choice([" ", ""]) + str(rng.randint(0, 10 ** rng.randint(1, 8)))
        elif r < 0.85:
            piece = rng.choice([".", ",", ";", "!", "?", "'s", "'", "--", "...", ":", " (", ")", " \"", "'ll"])
        else:
            piece = rng.choice([" ", ""]) + random_unicode(rng, rng.randint(1, 6))
        parts.append(piece)
        size += len(piece)
    return "".join(parts)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpt2-dir", default=os.path.join(here, "..", "..", "shared", "data", "gpt2"))
    ap.add_argument("--shakespeare", default=os.path.join(here, "..", "..", "shared", "data", "tinyshakespeare.txt"))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "golden", "gpt2_tokens.json"))
    args = ap.parse_args()
    with open(os.path.join(args.gpt2_dir, "encoder.json"), encoding="utf-8") as f:
        encoder = json.load(f)
    with open(os.path.join(args.gpt2_dir, "vocab.bpe"), encoding="utf-8") as f:
        merges = [tuple(line.split()) for line in f.read().split("\n")[1:-1]]
    enc = Encoder(encoder, merges)

    rng = random.Random(20240531)
    inputs = [("fixed", s.encode("utf-8")) for s in FIXED]
    inputs += [("invalid utf-8", b) for b in INVALID]
    inputs += [("random bytes", random_bytes(rng, rng.randint(1, 48))) for _ in range(40)]
    inputs += [("random unicode", random_unicode(rng, rng.randint(1, 40)).encode("utf-8")) for _ in range(60)]
    inputs += [("long random text", long_text(rng, 3000).encode("utf-8")) for _ in range(4)]
    with open(args.shakespeare, "rb") as f:
        inputs.append(("tinyshakespeare first 6000 bytes", f.read(6000)))
    inputs += [("random cased unicode", random_cased(rng, rng.randint(1, 40)).encode("utf-8")) for _ in range(300)]

    cases = []
    for kind, data in inputs:
        case = {"kind": kind}
        try:
            case["text"] = data.decode("utf-8")
        except UnicodeDecodeError:
            case["hex"] = data.hex()
        case["ids"] = enc.encode_bytes(data)
        case["gpt2_split"] = split_lengths(GPT2_PAT, data)
        case["gpt4_split"] = split_lengths(GPT4_PAT, data)
        case["gpt4o_split"] = split_lengths(GPT4O_PAT, data)
        cases.append(case)
    doc = {
        "about": "GPT-2 token ids from OpenAI's encoder.py algorithm (tools/gpt2_reference.py) with GPT-2's "
                 "encoder.json + vocab.bpe, and pre-token byte lengths under the gpt2, gpt4 and gpt4o patterns "
                 f"(python regex module {re.__version__}, unicodedata {unicodedata.unidata_version}). "
                 "Invalid UTF-8 bytes are decoded with surrogateescape: one 'other' symbol per byte.",
        "patterns": {"gpt2": GPT2_PAT, "gpt4": GPT4_PAT, "gpt4o": GPT4O_PAT},
        "cases": cases,
    }
    with open(args.out, "w", encoding="utf-8") as f:  # one case per line
        f.write('{"about": ' + json.dumps(doc["about"]) + ',\n"patterns": ' + json.dumps(doc["patterns"]) +
                ',\n"cases": [\n')
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]}\n")
    print(f"wrote {args.out}: {len(cases)} cases, {sum(len(c['ids']) for c in cases)} ids")


if __name__ == "__main__":
    main()

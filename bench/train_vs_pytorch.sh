#!/usr/bin/env bash
# train_vs_pytorch.sh -- Nexus training speed vs the PyTorch peer, side by side.
#
# For each shape it runs
#   $NEXUS bench train --n-layer L --n-head H --n-embd C --block-size T \
#          --batch-size B --vocab-size V --iters N --threads 2 --json
# (last stdout line: a JSON object with at least ms_per_iter_median, max_rss_mb)
# and   /usr/bin/python3 bench/peer_pytorch.py  with the same shape,
# then prints a table and, as the LAST stdout line, one JSON object:
#   {"bench":"train_vs_pytorch","threads":2,"results":[{...}, ...]}
#
# Shapes (name: n_layer/n_head/n_embd, block, batch, vocab; default timed iters):
#   nanogpt-cpu:       4/4/128,   block 64,  batch 12, vocab 65     (30)
#   shakespeare-char:  6/6/384,   block 256, batch 64, vocab 65     (5)
#   gpt2-small:        12/12/768, block 64,  batch 4,  vocab 50304  (4)
#
# Usage: bench/train_vs_pytorch.sh [--only NAME] [--iters NAME=N]... [--threads N]
#                                  [--warmup N] [--no-peer]
#   NEXUS=path    Nexus binary (default: <repo>/build/nexus)
#   PEER_PYTHON   interpreter with torch (default: /usr/bin/python3)
# Timings are only meaningful on an otherwise idle machine.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NEXUS="${NEXUS:-$ROOT/build/nexus}"
PEER_PYTHON="${PEER_PYTHON:-/usr/bin/python3}"
if [[ -x /usr/bin/python3 ]]; then JSON_PY=/usr/bin/python3; else JSON_PY=python3; fi

SHAPES=(nanogpt-cpu shakespeare-char gpt2-small)
declare -A DIMS=(
  [nanogpt-cpu]="4 4 128 64 12 65"
  [shakespeare-char]="6 6 384 256 64 65"
  [gpt2-small]="12 12 768 64 4 50304"
)
declare -A ITERS=([nanogpt-cpu]=30 [shakespeare-char]=5 [gpt2-small]=4)
THREADS=2
WARMUP=2        # untimed peer iterations before the timed ones
ONLY=""
RUN_PEER=1

usage() { sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($#)); do
  case "$1" in
    --only) ONLY="${2:?--only needs a shape name}"; shift 2 ;;
    --iters)
      kv="${2:?--iters needs NAME=N}"; name="${kv%%=*}"; n="${kv#*=}"
      if [[ -z "${DIMS[$name]+x}" || ! "$n" =~ ^[1-9][0-9]*$ ]]; then
        echo "train_vs_pytorch: bad --iters '$kv' (shapes: ${SHAPES[*]})" >&2; exit 2
      fi
      ITERS[$name]="$n"; shift 2 ;;
    --threads) THREADS="${2:?}"; shift 2 ;;
    --warmup) WARMUP="${2:?}"; shift 2 ;;
    --no-peer) RUN_PEER=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "train_vs_pytorch: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ -n "$ONLY" && -z "${DIMS[$ONLY]+x}" ]]; then
  echo "train_vs_pytorch: unknown shape '$ONLY' (shapes: ${SHAPES[*]})" >&2; exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/train_vs_pytorch.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

if ((RUN_PEER)) && ! "$PEER_PYTHON" -c 'import torch' >/dev/null 2>&1; then
  echo "python3-torch not found: peer skipped (install with scripts/setup.sh --peer)"
  RUN_PEER=0
fi
if [[ ! -x "$NEXUS" ]]; then
  echo "train_vs_pytorch: Nexus binary '$NEXUS' not found or not executable (build it, or set NEXUS=)" >&2
fi

# last_json FILE OUT: the last non-empty stdout line of FILE, if it parses as a JSON object.
last_json() {
  "$JSON_PY" - "$1" "$2" <<'EOF'
import json, sys
lines = [l for l in open(sys.argv[1], errors="replace").read().splitlines() if l.strip()]
try:
    obj = json.loads(lines[-1])
    assert isinstance(obj, dict)
except Exception:
    sys.exit(1)
open(sys.argv[2], "w").write(json.dumps(obj))
EOF
}

status=0
selected=()
for s in "${SHAPES[@]}"; do
  [[ -n "$ONLY" && "$s" != "$ONLY" ]] && continue
  selected+=("$s")
  read -r L H C T B V <<<"${DIMS[$s]}"
  N="${ITERS[$s]}"
  shape_args=(--n-layer "$L" --n-head "$H" --n-embd "$C" --block-size "$T" --batch-size "$B" --vocab-size "$V")

  echo "[$s] nexus: $N iters ..." >&2
  if "$NEXUS" bench train "${shape_args[@]}" --iters "$N" --threads "$THREADS" --json \
       >"$WORK/$s.nexus.out" 2>"$WORK/$s.nexus.err"; then
    if ! last_json "$WORK/$s.nexus.out" "$WORK/$s.nexus.json"; then
      echo "[$s] nexus: last stdout line is not a JSON object" >&2; status=1
    fi
  else
    echo "[$s] nexus failed (rc $?); stderr tail:" >&2; tail -n 5 "$WORK/$s.nexus.err" >&2; status=1
  fi

  if ((RUN_PEER)); then
    echo "[$s] pytorch: $WARMUP warmup + $N iters ..." >&2
    if "$PEER_PYTHON" "$ROOT/bench/peer_pytorch.py" "${shape_args[@]}" --iters "$N" \
         --warmup "$WARMUP" --threads "$THREADS" >"$WORK/$s.peer.out" 2>"$WORK/$s.peer.err"; then
      last_json "$WORK/$s.peer.out" "$WORK/$s.peer.json" \
        || echo "[$s] pytorch: last stdout line is not a JSON object" >&2
    else
      echo "[$s] pytorch peer failed (rc $?); stderr tail:" >&2; tail -n 5 "$WORK/$s.peer.err" >&2
    fi
  fi
done

# Table + final JSON line.
SPEC=""
for s in "${selected[@]}"; do SPEC+="$s:${DIMS[$s]// /,}:${ITERS[$s]};"; done
"$JSON_PY" - "$WORK" "$THREADS" "$SPEC" <<'EOF'
import json, os, sys
work, threads, spec = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def num(d, key):
    v = d.get(key) if d else None
    return float(v) if isinstance(v, (int, float)) else None

def fmt(v, nd=1):
    return "-" if v is None else "%.*f" % (nd, v)

results = []
for item in filter(None, spec.split(";")):
    name, dims, iters = item.split(":")
    L, H, C, T, B, V = (int(x) for x in dims.split(","))
    nx = load(os.path.join(work, name + ".nexus.json"))
    pt = load(os.path.join(work, name + ".peer.json"))
    n_ms, p_ms = num(nx, "ms_per_iter_median"), num(pt, "ms_per_iter_median")
    n_rss, p_rss = num(nx, "max_rss_mb"), num(pt, "max_rss_mb")
    results.append({
        "shape": name,
        "config": {"n_layer": L, "n_head": H, "n_embd": C, "block_size": T,
                   "batch_size": B, "vocab_size": V},
        "iters": int(iters),
        "nexus_ms_per_iter": n_ms,
        "pytorch_ms_per_iter": p_ms,
        "speedup": round(p_ms / n_ms, 3) if n_ms and p_ms else None,
        "nexus_max_rss_mb": n_rss,
        "pytorch_max_rss_mb": p_rss,
        "rss_ratio": round(n_rss / p_rss, 3) if n_rss and p_rss else None,
        "nexus": nx,
        "pytorch": pt,
    })

head = ("shape", "nexus ms/iter", "pytorch ms/iter", "speed-up", "nexus RSS MB", "pytorch RSS MB")
rows = [(r["shape"], fmt(r["nexus_ms_per_iter"]), fmt(r["pytorch_ms_per_iter"]),
         "-" if r["speedup"] is None else "%.2fx" % r["speedup"],
         fmt(r["nexus_max_rss_mb"]), fmt(r["pytorch_max_rss_mb"])) for r in results]
w = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]
line = lambda cells: "  ".join(c.ljust(w[0]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(cells))
print("train_vs_pytorch (%d threads; speed-up = pytorch ms / nexus ms)" % threads)
print(line(head))
print(line(["-" * x for x in w]))
for r in rows:
    print(line(r))
print(json.dumps({"bench": "train_vs_pytorch", "threads": threads, "results": results},
                 separators=(",", ":")))
EOF
exit "$status"

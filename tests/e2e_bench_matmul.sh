#!/usr/bin/env bash
# End to end: `nexus bench matmul` measures the given shapes and checks its own rows. A row far
# under the table's median GFLOP/s is measured again (up to three tries in all) so that a
# neighbour's burst during one shape does not stand in the table (issue 11: the first shape
# once showed 9.5 GFLOP/s among rows of ~190); one that stays slow with agreeing samples is
# marked slow, i.e. a real slow path. An 8x8x8 product is such a row next to 192^3 ones. One
# thread: with two on a busy machine every fork/join can wait out scheduler ticks, which turns
# all rows to noise.
set -euo pipefail
source "$(dirname "$0")/e2e_common.bash"

nexus_ok bench matmul --threads 1 --repeats 3 --json \
  --shape 8x8x8 --shape 192x192x192 --shape 192x192x192:nn --shape 192x192x192:tn
cp "$TMP/last_cmd.log" "$TMP/bench.log"
python3 - "$TMP/bench.log" <<'EOF' || fail "bench matmul: unexpected JSON: $(cat "$TMP/bench.log")"
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith('{"bench"')]
assert len(lines) == 1, "one JSON line"
j = json.loads(lines[0])
rows = j["results"]
assert [(r["m"], r["layout"]) for r in rows] == [(8, "nt"), (192, "nt"), (192, "nn"), (192, "tn")], rows
assert j["peak_gflops"] > 0 and j["competing_load"] >= 0
tiny = rows[0]
assert tiny["tries"] == 3, tiny                 # far below the others: measured twice more
assert tiny["slow"] or tiny["noisy"], tiny      # and reported as a slow path (or as noise)
for r in rows[1:]:
    assert r["gflops"] > 0 and r["tries"] >= 1 and not r["slow"], r
EOF
echo "PASS: bench matmul re-measures and flags the row far below the others"

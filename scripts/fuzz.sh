#!/usr/bin/env bash
# Runs every libFuzzer target of a NEXUS_FUZZ build for a bounded time over its seed corpus
# (`make fuzz`). Usage: scripts/fuzz.sh BUILD_DIR [SECONDS_PER_TARGET [PARALLEL_TARGETS]]
# Each target starts from BUILD_DIR/fuzz/seeds/<target> (written by the build) plus what
# earlier runs found in BUILD_DIR/fuzz/corpus/<target> (new inputs go there). A finding is
# saved as BUILD_DIR/fuzz/crashes/<target>-crash-<sha1> (replay: BUILD_DIR/fuzz/<target> FILE)
# and its report printed; the script fails if any target found anything.
set -euo pipefail
build=${1:?usage: scripts/fuzz.sh BUILD_DIR [SECONDS_PER_TARGET [PARALLEL_TARGETS]]}
seconds=${2:-45}
parallel=${3:-$(nproc)}
fuzz=$build/fuzz
[[ -f $fuzz/targets.txt ]] || { echo "fuzz: $fuzz/targets.txt missing: configure $build with -DNEXUS_FUZZ=ON" >&2; exit 1; }
mapfile -t targets <"$fuzz/targets.txt"
mkdir -p "$fuzz/logs" "$fuzz/crashes"
# Leaks count as findings (libFuzzer's -detect_leaks=1 is the default); `make fuzz` passes
# the same sanitizer options as `make test-sanitize`, these are for a run by hand.
root=$(cd "$(dirname "$0")/.." && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# fuzz_encode uses GPT-2's vocabulary when the shared test data has it (as CTest does).
export NEXUS_SHARED_DATA=${NEXUS_SHARED_DATA:-$root/../shared/data}

run_one() {
  local t=$1 rc=0
  mkdir -p "$fuzz/corpus/$t"
  "$fuzz/$t" -max_total_time="$seconds" -timeout=30 -print_final_stats=1 -artifact_prefix="$fuzz/crashes/$t-" \
    "$fuzz/corpus/$t" "$fuzz/seeds/$t" >"$fuzz/logs/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$fuzz/logs/$t.rc"
}

echo "fuzz: ${#targets[@]} targets, ${seconds}s each, $parallel at a time"
for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= parallel)); do wait -n || true; done
  run_one "$t" &
done
wait

failed=0
for t in "${targets[@]}"; do
  log=$fuzz/logs/$t.log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  corpus=$(find "$fuzz/corpus/$t" "$fuzz/seeds/$t" -type f | wc -l)
  if [[ $(cat "$fuzz/logs/$t.rc") == 0 ]]; then
    printf 'fuzz: %-18s ok    %8s inputs run, %s in corpus\n' "$t" "${execs:-?}" "$corpus"
  else
    failed=1
    printf 'fuzz: %-18s FOUND a bug (exit %s); report (%s):\n' "$t" "$(cat "$fuzz/logs/$t.rc")" "$log"
    grep -vE '^(#[0-9]+|INFO:|MS:|Loaded|stat::)' "$log" | tail -n 60
  fi
done
exit "$failed"

#!/usr/bin/env bash
# Builds only the given CMake targets (default: nexus) into BUILD_DIR, quietly: one progress
# line instead of compiler chatter, the log kept in BUILD_DIR/build.log and its tail shown if
# the build fails. Used by `make demo`, which needs the binary and none of the tests.
#   scripts/build_quiet.sh BUILD_DIR JOBS [TARGET...]
set -euo pipefail
build=$1 jobs=$2
shift 2
targets=("${@:-nexus}")
cmake -S "$(dirname "$0")/.." -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
log="$build/build.log"
start=$SECONDS
cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$log" 2>&1 &
pid=$!
tty=0
[[ -t 2 ]] && tty=1
while kill -0 "$pid" 2>/dev/null; do
  if ((tty)); then
    pct=$(grep -o '^\[ *[0-9]*%\]' "$log" | tail -n 1 | tr -d '[] ' || true)
    printf '\r\033[Kbuild: %s %s %ds' "${targets[*]}" "${pct:-configuring}" $((SECONDS - start)) >&2
  fi
  sleep 1
done
rc=0
wait "$pid" || rc=$?
((tty)) && printf '\r\033[K' >&2
if ((rc != 0)); then
  echo "build: failed (exit $rc); last lines of $log:" >&2
  tail -n 40 "$log" >&2
  exit "$rc"
fi
echo "build: ${targets[*]} ready ($((SECONDS - start)) s)" >&2

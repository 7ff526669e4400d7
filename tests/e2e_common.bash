# Shared helpers of the tests/e2e_*.sh scripts (sourced, not a test itself: CTest only runs
# files named e2e_*.sh). Expects the nexus binary as $1 of the sourcing script.

NEXUS=$(realpath "${1:?usage: bash $0 path/to/nexus}")
[[ -x "$NEXUS" ]] || { echo "FAIL: nexus binary '$NEXUS' is not executable" >&2; exit 1; }
# The shared data: $NEXUS_SHARED_DATA as set when the test runs, else shared/data beside the
# source tree (the same rule as tests/shared_data.h).
NEXUS_SOURCE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NEXUS_SHARED_DATA=$(realpath -m "${NEXUS_SHARED_DATA:-$NEXUS_SOURCE_DIR/../shared/data}")
SHAKESPEARE="$NEXUS_SHARED_DATA/tinyshakespeare.txt"

# need_shared_file RELATIVE...: skip the test (exit 77, saying which file) unless each file is in
# the shared data folder; under CI=true a missing file fails the test instead, so a green CI
# always means the data-dependent checks ran.
need_shared_file() {
  local f
  for f in "$@"; do
    [[ -f "$NEXUS_SHARED_DATA/$f" ]] && continue
    if [[ "${CI:-}" == "true" ]]; then
      echo "FAIL: CI=true and $NEXUS_SHARED_DATA/$f not found (set NEXUS_SHARED_DATA)" >&2
      exit 1
    fi
    echo "SKIP: $NEXUS_SHARED_DATA/$f not found (set NEXUS_SHARED_DATA to the folder that holds it)"
    exit 77
  done
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nexus_e2e.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# The smallest model worth training: every run shares its shape, so checkpoints fit each other.
# Two threads by default so multi-threaded determinism is exercised; NEXUS_E2E_THREADS=1 is
# much faster on a machine whose cores are busy with other work.
THREADS=${NEXUS_E2E_THREADS:-2}
TINY_MODEL=(--n-layer 2 --n-head 4 --n-embd 64 --block-size 32 --threads "$THREADS")

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# check_clean_error REGEX RC WHAT: the run WHAT that exited with RC, its stderr in $TMP/err,
# failed cleanly: exit 1-127, no crash text, exactly one stderr line "nexus: error: ..."
# matching the extended REGEX.
check_clean_error() {
  local regex=$1 rc=$2 what=$3
  ((rc != 0 && rc < 128)) || fail "$what: expected an error exit, got $rc"
  if grep -qE 'terminate called|Segmentation|Aborted|core dumped|internal error' "$TMP/err"; then
    fail "$what: crashed: $(cat "$TMP/err")"
  fi
  [[ $(wc -l <"$TMP/err") -eq 1 ]] || fail "$what: expected one stderr line, got: $(cat "$TMP/err")"
  grep -qE "^nexus: error: .*($regex)" "$TMP/err" || fail "$what: expected /$regex/, got: $(cat "$TMP/err")"
}

# expect_error REGEX ARGS...: nexus ARGS must fail cleanly (check_clean_error).
expect_error() {
  local regex=$1
  shift
  local rc=0
  "$NEXUS" "$@" >/dev/null 2>"$TMP/err" </dev/null || rc=$?
  check_clean_error "$regex" "$rc" "nexus $*"
}

# Runs a nexus command that must succeed; on failure shows its output.
nexus_ok() {
  local log="$TMP/last_cmd.log" rc=0
  "$NEXUS" "$@" >"$log" 2>&1 || rc=$?
  if ((rc != 0)); then
    echo "--- last lines of: nexus $*" >&2
    tail -n 20 "$log" >&2
    fail "nexus $1 exited with status $rc, expected 0"
  fi
}

# Writes about BYTES bytes of text to FILE: a slice of tinyshakespeare when present, else
# deterministic generated verse (enough for tests that only need a valid dataset).
make_text() {
  local file=$1 bytes=$2
  if [[ -f "$SHAKESPEARE" ]]; then
    head -c "$bytes" "$SHAKESPEARE" >"$file"
  else
    echo "note: $SHAKESPEARE not found; using generated verse" >&2
    awk -v n="$bytes" 'BEGIN { srand(7); split("the a of king my lord thou art and to be sweet night", w, " ");
      s = ""; while (length(s) < n) { line = ""; for (i = 0; i < 8; i++) line = line w[int(rand() * 13) + 1] " ";
      s = s toupper(substr(line, 1, 1)) substr(line, 2) "\n" } printf "%s", substr(s, 1, n) }' >"$file"
  fi
}

# Tokenizes BYTES of text into the dataset directory DIR (char tokenizer).
make_dataset() {
  local dir=$1 bytes=$2
  make_text "$TMP/input_$$.txt" "$bytes"
  nexus_ok prepare --input "$TMP/input_$$.txt" --out "$dir" --tokenizer char
}

# Prints the step of the checkpoint in DIR, failing unless its three step records agree.
checkpoint_step() {
  python3 - "$1" <<'EOF'
import json, os, struct, sys
ckpt = sys.argv[1]
def metadata_step(name):
    with open(os.path.join(ckpt, name), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return int(json.loads(f.read(n))["__metadata__"]["step"])
steps = {"model.safetensors": metadata_step("model.safetensors"),
         "trainer_state.safetensors": metadata_step("trainer_state.safetensors"),
         "config.json": int(json.load(open(os.path.join(ckpt, "config.json")))["step"])}
if len(set(steps.values())) != 1:
    sys.exit(f"FAIL: checkpoint files disagree on the step: {steps}")
print(steps["config.json"])
EOF
}

# One checksum over every file (names and contents) below DIR.
dir_checksum() {
  (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

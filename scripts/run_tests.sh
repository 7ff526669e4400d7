#!/usr/bin/env bash
# Runs every test through CTest in BUILD_DIR (default build), then lists the tests that were
# skipped and why, so a skip is never silent. Exit status: CTest's.
set -uo pipefail
build=${1:-build}
cd "$build" || exit 1
rc=0
ctest --output-on-failure -j "$(nproc)" --output-junit junit.xml || rc=$?
python3 - junit.xml <<'PY'
import re, sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError) as e:
    sys.exit(f"run_tests: cannot read the CTest report: {e}")
skipped = []
for case in root.iter("testcase"):
    if case.find("skipped") is None and case.get("status") != "skipped":
        continue
    out = case.findtext("system-out") or ""
    # gtest: "file:line: Skipped" then the reason; scripts: a line with SKIP / skipping.
    m = re.search(r"Skipped\n(.+)", out) or re.search(r"^.*\b(?:SKIP|skip)\w*\b.*$", out, re.M)
    reason = (m.group(1) if m and m.groups() else m.group(0) if m else "no reason printed").strip()
    skipped.append((case.get("name"), reason))
if skipped:
    print(f"\n{len(skipped)} test(s) skipped:")
    for name, reason in skipped:
        print(f"  {name}: {reason}")
PY
exit $rc

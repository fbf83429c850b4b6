#!/usr/bin/env bash
# The flake finder: run the suite (or part of it) N times in a row and print each test that
# failed and how often.  Usage: scripts/repeat-tests.sh N [pytest args...]
#   scripts/repeat-tests.sh 10                      # the whole suite, ten times
#   scripts/repeat-tests.sh 5 tests/test_keys.py    # one file
#   scripts/repeat-tests.sh 10 --suite              # both passes of the README's test command
#                                                   # (scripts/suite.sh), without its set-up and lint
# Each run writes a JUnit report under .repeat-tests/ (pytest's own --junitxml); the summary
# reads them all. Exit status: 0 when every run passed, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ]; then
  echo "usage: scripts/repeat-tests.sh N [pytest args...]  (N: how many runs, 1 or more)" >&2
  exit 2
fi
n=$1; shift
dir="${REPEAT_TESTS_DIR:-.repeat-tests}"  # where the runs' logs and reports go
rm -rf "$dir"; mkdir -p "$dir"
suite=0
if [ "${1:-}" = "--suite" ]; then suite=1; shift; fi
for i in $(seq 1 "$n"); do
  start=$(date +%s)
  if [ "$suite" = 1 ]; then
    SUITE_JUNIT="$dir/run-$i" scripts/suite.sh -p no:cacheprovider "$@" > "$dir/run-$i.log" 2>&1
  else
    python3 -m pytest -q -p no:cacheprovider --junitxml="$dir/run-$i.xml" "$@" > "$dir/run-$i.log" 2>&1
  fi
  rc=$?
  echo "$rc" > "$dir/run-$i.rc"
  echo "run $i of $n: exit $rc in $(( $(date +%s) - start )) s ($(tail -n 1 "$dir/run-$i.log"))"
done
python3 - "$dir" "$n" <<'PY'
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

folder, runs = Path(sys.argv[1]), int(sys.argv[2])
failed: Counter[str] = Counter()
for report in sorted(folder.glob("run-*.xml")):
    label = " (rtmidi pass)" if report.stem.endswith("-rtmidi") else ""
    for case in ET.parse(report).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed[f"{case.get('classname')}::{case.get('name')}{label}"] += 1
# a run can fail with no failed test in its reports (a crash of pytest, a lint error)
bad_exits = [p.stem for p in sorted(folder.glob("run-*.rc")) if p.read_text().strip() != "0"]
if not failed and not bad_exits:
    print(f"every test passed in all {runs} runs")
    sys.exit(0)
for run in bad_exits:
    print(f"{run}: exit status not 0 (see {folder}/{run}.log)")
print(f"tests that failed (of {runs} runs):")
for name, count in failed.most_common():
    print(f"  {count}/{runs}  {name}")
sys.exit(1)
PY

#!/usr/bin/env bash
# The test suite's two passes, as scripts/test.sh runs them after set-up and lint (and
# scripts/repeat-tests.sh --suite, N times). Extra arguments go to both pytest runs;
# SUITE_JUNIT=PREFIX writes PREFIX-main.xml and PREFIX-rtmidi.xml (pytest's JUnit reports).
set -uo pipefail
cd "$(dirname "$0")/.."
junit() { [ -n "${SUITE_JUNIT:-}" ] && echo "--junitxml=${SUITE_JUNIT}-$1.xml"; }
# the suite, and the docs check: every shell block of README.md and docs/*.md (pyproject testpaths).
# One process by default; `-n 2 --dist loadgroup` (pytest-xdist) runs it on both cores: each file of
# live tests (real JACK ports, the live clock) in one worker, one test at a time, and the docs
# check's blocks together (conftest.py) - README, Development, says why it is not the default yet
python3 -m pytest -q $(junit main) "$@"
main=$?
# the end-to-end JACK tests once more on rtmidi (the pass above plays through livegen's JACK
# helper, which `auto` picks on JACK): both MIDI backends pass the same tests
LIVEGEN_MIDI_BACKEND=rtmidi python3 -m pytest -q -m "jack and not slow" $(junit rtmidi) "$@" \
  tests/test_play_e2e.py tests/test_output_loss_jack.py tests/test_panic.py tests/test_midi_fuzz.py \
  tests/test_live_set.py tests/test_parts_live.py tests/test_web_browser.py
rtmidi=$?
[ "$main" = 0 ] && [ "$rtmidi" = 0 ]

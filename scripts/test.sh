#!/usr/bin/env bash
# Install what the tests need (system packages included), lint, type-check, run the whole suite.
# The end-to-end tests start their own JACK dummy server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
python3 -m ruff check livegen tests benchmarks conftest.py
python3 -m mypy --strict livegen
# the suite, and the docs check: every shell block of README.md and docs/*.md (pyproject testpaths)
python3 -m pytest -q "$@"
# the end-to-end JACK tests once more on rtmidi (the pass above plays through livegen's JACK
# helper, which `auto` picks on JACK): both MIDI backends pass the same tests
LIVEGEN_MIDI_BACKEND=rtmidi python3 -m pytest -q -m "jack and not slow" "$@" tests/test_play_e2e.py tests/test_output_loss_jack.py \
  tests/test_panic.py tests/test_midi_fuzz.py tests/test_live_set.py tests/test_parts_live.py tests/test_web_browser.py

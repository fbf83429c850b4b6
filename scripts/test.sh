#!/usr/bin/env bash
# Install what the tests need (system packages included), lint, type-check, run the whole suite.
# The end-to-end tests start their own JACK dummy server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
python3 -m ruff check livegen tests benchmarks conftest.py
python3 -m mypy --strict livegen
# the suite (and the docs check) in its two passes: JACK helper, then rtmidi
scripts/suite.sh "$@"

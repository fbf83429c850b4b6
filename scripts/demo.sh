#!/usr/bin/env bash
# The main job on a built-in default, no MIDI hardware needed: starts a JACK MIDI server with
# the dummy driver, plays a built-in phrase into livegen's input, lets livegen answer with
# the shipped Nottingham model for a few bars (live view on screen) and writes what both
# played to out/demo-take.mid. Extra arguments go to `livegen play`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p out
exec python3 -m livegen play --demo --record out/demo-take.mid "$@"

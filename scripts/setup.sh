#!/usr/bin/env bash
# Idempotent set-up for livegen on a Debian-like machine (root or sudo):
# system packages (JACK for MIDI without sound hardware, FluidSynth + a GM soundfont for WAV,
# abcmidi and liblo-tools as independent checks, chromium and its driver for the browser stage's
# tests), the CPU build of torch, livegen itself.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
PKGS="jackd2 fluidsynth timgm6mb-soundfont abcmidi liblo-tools puredata-core iproute2 chromium chromium-driver"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ] && command -v apt-get >/dev/null; then
  echo "setup: installing system packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  # jackd2 asks whether to enable realtime scheduling; answer no without a prompt
  echo "jackd2 jackd/tweak_rt_limits boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

PY="${PYTHON:-python3}"
# torch: pin the CPU wheel here (an open range can pull a multi-GB CUDA build)
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  echo "setup: installing torch (CPU)"
  "$PY" -m pip install -q "torch==2.13.0"
fi
if ! "$PY" -c "import livegen, livegen_models, pytest, xdist, ruff, mypy, hypothesis, sybil, muspy, matplotlib, tqdm, platformdirs, link, jack, aiohttp, selenium" >/dev/null 2>&1 \
   || ! "$PY" -m pip show -q livegen >/dev/null 2>&1; then
  echo "setup: installing livegen (editable) with Ableton Link, test and benchmark tools"
  "$PY" -m pip install -q -e ".[test,link,bench]"
fi

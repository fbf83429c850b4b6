"""Render MIDI files to WAV with the ``fluidsynth`` command-line synth.

Runs ``fluidsynth -ni -q -g GAIN -F OUT.wav -r RATE SOUNDFONT IN.mid`` headless (no audio
device needed). The SoundFont is the one given, else ``$LIVEGEN_SOUNDFONT``, else Debian's
TimGM6mb or FluidR3_GM. Without ``-g 1.0`` fluidsynth renders very quietly, hence the gain
default.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

from livegen.errors import LivegenError

log = logging.getLogger(__name__)

#: SoundFonts tried in order when none is given and $LIVEGEN_SOUNDFONT is unset.
SOUNDFONT_CANDIDATES = (
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
)
_INSTALL_HINT = "apt-get install fluidsynth timgm6mb-soundfont"


def find_soundfont(soundfont: str | os.PathLike[str] | None = None) -> Path:
    """The SoundFont to use: ``soundfont``, else ``$LIVEGEN_SOUNDFONT``, else a Debian one.

    Raises:
        LivegenError: the given file is missing, or none is installed.
    """
    chosen = soundfont if soundfont is not None else os.environ.get("LIVEGEN_SOUNDFONT") or None
    if chosen is not None:
        path = Path(chosen).expanduser()
        if not path.is_file():
            source = "" if soundfont is not None else " (from $LIVEGEN_SOUNDFONT)"
            raise LivegenError(f"SoundFont {path}{source} not found; give an existing .sf2 file")
        return path
    for path in SOUNDFONT_CANDIDATES:
        if path.is_file():
            return path
    raise LivegenError(
        f"no SoundFont found (looked for {', '.join(map(str, SOUNDFONT_CANDIDATES))}); "
        f"run `{_INSTALL_HINT}` or set LIVEGEN_SOUNDFONT to an .sf2 file"
    )


def find_fluidsynth() -> str:
    """Path of the ``fluidsynth`` program.

    Raises:
        LivegenError: fluidsynth is not on PATH.
    """
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise LivegenError(f"fluidsynth not found on PATH; run `{_INSTALL_HINT}`")
    return exe


def render_wav(
    midi_path: str | os.PathLike[str],
    wav_path: str | os.PathLike[str],
    soundfont: str | os.PathLike[str] | None = None,
    gain: float = 1.0,
    rate: int = 44100,
    timeout: float = 600.0,
) -> Path:
    """Render ``midi_path`` to a 16-bit stereo WAV at ``rate`` Hz; return ``wav_path``.

    Args:
        midi_path: the MIDI file to play.
        wav_path: the WAV file to write (overwritten).
        soundfont: an ``.sf2`` file (see :func:`find_soundfont`).
        gain: fluidsynth master gain (0..10; 1.0 is a sensible level for GM SoundFonts).
        rate: sample rate in Hz.
        timeout: seconds to wait for fluidsynth.

    Raises:
        LivegenError: fluidsynth or the SoundFont missing, bad arguments, or a failed render.
    """
    midi = Path(midi_path)
    out = Path(wav_path)
    if not midi.is_file():
        raise LivegenError(f"MIDI file {midi} not found; check the path")
    if not 0.0 <= gain <= 10.0:
        raise LivegenError(f"gain {gain} is out of range; use 0 to 10 (1.0 is normal)")
    if not 8000 <= int(rate) <= 192000:
        raise LivegenError(f"sample rate {rate} Hz is out of range; use 8000 to 192000 (44100 is normal)")
    exe = find_fluidsynth()
    sf2 = find_soundfont(soundfont)
    if out.exists():
        out.unlink()
    cmd = [exe, "-ni", "-q", "-g", f"{gain:g}", "-F", str(out), "-T", "wav", "-r", str(int(rate)), str(sf2), str(midi)]
    log.debug("running %s", " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise LivegenError(f"fluidsynth took longer than {timeout:g} s rendering {midi}; is the file huge?") from None
    except OSError as exc:
        raise LivegenError(f"cannot run fluidsynth ({exc}); run `{_INSTALL_HINT}`") from None
    if proc.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        detail = lines[-1] if lines else f"exit status {proc.returncode}"
        raise LivegenError(f"fluidsynth could not render {midi} to {out}: {detail}")
    return out


def wav_rms(path: str | os.PathLike[str]) -> float:
    """Root-mean-square level of a 16-bit PCM WAV file, relative to full scale (0..1).

    Raises:
        LivegenError: not a readable 16-bit PCM WAV file.
    """
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getsampwidth() != 2:
                raise LivegenError(f"{path}: {8 * wav.getsampwidth()}-bit WAV; expected 16-bit PCM")
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, OSError) as exc:
        raise LivegenError(f"{path}: not a readable WAV file ({exc})") from None
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768.0
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0

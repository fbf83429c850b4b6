"""Offline rendering through the live engine.

``livegen render`` runs exactly the live code path: the same
:class:`~livegen.voices.roll.RollGenerator` inside the same
:class:`~livegen.engine.engine.Engine`, on a :class:`~livegen.engine.clock.ManualClock`
with an in-memory output port, so a render takes no wall time and is deterministic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mido
import numpy as np
import pretty_midi

from livegen.controls.parts import PartsState
from livegen.controls.state import LiveControls
from livegen.controls.table import ControlState
from livegen.engine.clock import ManualClock
from livegen.engine.engine import Engine
from livegen.engine.parts import PartRouter
from livegen.engine.scheduler import ManualScheduler
from livegen.io.memory import MemoryOutput
from livegen.music.audio import render_wav
from livegen.music.keyboard import LOWEST_PITCH, N_KEYS
from livegen.music.roll_midi import midi_to_roll, roll_to_midi, write_midi_bytes
from livegen.nets.nade import RollNADE
from livegen.nets.roll import RollLSTM
from livegen.offline.roll_plot import plot_roll
from livegen.offline.split import parts_layout, split_pretty_notes
from livegen.voices.follow import roll_voice


@dataclass(frozen=True)
class RenderRequest:
    """What ``livegen render`` was asked for.

    Attributes:
        state: the controls in force (tempo, temperature, masks, cap, ...).
        out: the ``.mid`` to write.
        bars, beats_per_bar: roll models: bars generated after the prime, and bar length.
        seed: sampling seed (the same request and seed give a byte-identical file).
        prime: a MIDI file whose notes prime the model (roll models), or whose key a folk
            tune takes (ABC models, unless ``key`` is given).
        prime_bars: use only the first N bars of ``prime`` (0: all).
        program: General MIDI program of the generated part.
        wav, png, abc: also write audio, the piano roll, the tune's ABC text (ABC models).
        key, scale: ABC models: force the tune's key (``scale`` None: major); the key mask
            of roll models comes from ``state``.
        model_name: what the picture's title calls the model.
        parts: roll models: the parts the answer is split into (:data:`~livegen.music.parts.
            LAYOUTS`), one named track each in place of ``livegen``; ``one``: a single track.
    """

    state: ControlState
    out: Path
    bars: int = 8
    beats_per_bar: int = 4
    seed: int = 0
    prime: Path | None = None
    prime_bars: int = 0
    program: int = 0
    wav: Path | None = None
    png: Path | None = None
    abc: Path | None = None
    key: str | None = None
    scale: str | None = None
    parts: str = "one"
    model_name: str = ""


@dataclass(frozen=True)
class RenderResult:
    """``prime`` ``(P, 88)`` and ``generated`` ``(G, 88)`` bool rolls at ``steps_per_beat``, and
    ``velocities`` ``(G, 88)`` uint8: each generated note's velocity at its first step (on the
    grid, before swing and humanize); ``timed``: the messages as played, ``(seconds from the
    first generated step, message)``, swing and humanize included."""

    prime: np.ndarray
    generated: np.ndarray
    steps_per_beat: int
    velocities: np.ndarray
    timed: tuple[tuple[float, mido.Message], ...] = ()


def messages_to_roll(sent: list[tuple[float, mido.Message]], t0: float, period: float,
                     steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Rebuild a ``(steps, 88)`` bool roll from timed note messages on a grid of ``period``
    s, and the ``(steps, 88)`` uint8 velocities of the note-ons. A note off the 88 keys (a
    part moved by its octave) has no place in the roll and is left out (``timed`` has it)."""
    roll = np.zeros((steps, N_KEYS), dtype=bool)
    velocities = np.zeros((steps, N_KEYS), dtype=np.uint8)
    start: dict[int, int] = {}
    for t, msg in sent:
        if msg.type not in ("note_on", "note_off"):
            continue
        step = int(round((t - t0) / period))
        j = msg.note - LOWEST_PITCH
        if not 0 <= j < N_KEYS:
            continue
        if msg.type == "note_on" and msg.velocity > 0:
            start[j] = step
            if 0 <= step < steps:
                velocities[step, j] = msg.velocity
        elif j in start:
            roll[start.pop(j) : min(step, steps), j] = True
    for j, s in start.items():
        roll[s:, j] = True
    return roll, velocities


def part_map(instruments: Sequence[pretty_midi.Instrument], steps: int, period: float) -> np.ndarray:
    """``(steps, 88)`` index of the part (instrument) each key sounds in at each step, -1 where
    none does; a note covers the steps from its start to its end (seconds, ``period`` a step)."""
    out = np.full((steps, N_KEYS), -1, dtype=np.int16)
    for i, inst in enumerate(instruments):
        for n in inst.notes:
            first = max(0, int(np.floor(n.start / period + 1e-6)))
            last = min(steps, max(first + 1, int(np.ceil(n.end / period - 1e-6))))
            if 0 <= n.pitch - LOWEST_PITCH < N_KEYS:
                out[first:last, n.pitch - LOWEST_PITCH] = i
    return out


def render_roll(model: RollLSTM | RollNADE, bars: int, state: ControlState, seed: int = 0,
                prime: np.ndarray | None = None, steps_per_beat: int = 2,
                beats_per_bar: int = 4, prime_velocities: Sequence[int] = (),
                meta: Mapping[str, Any] | None = None, parts: str = "one",
                part_state: PartsState | None = None) -> RenderResult:
    """Generate ``bars`` bars after observing ``prime`` (``(P, 88)``, may be None).

    ``state`` holds the controls in force (its mode is taken as ``solo``: nobody else
    is playing). ``prime_velocities`` are the prime's note-on velocities in order: the
    answer follows their loudness as it follows a performer's. ``meta`` is the model's
    checkpoint metadata: it says whether the model knows every key
    (:func:`~livegen.voices.follow.roll_voice`). ``parts``: the engine splits the answer into
    these parts as it plays, each on its channel (what ``play --parts`` sends), with
    ``part_state`` as the parts' controls (default: the layout's).
    """
    gen = roll_voice(model, meta, seed)
    prime_roll = np.zeros((0, N_KEYS), dtype=bool) if prime is None else np.asarray(prime, dtype=bool)
    if len(prime_roll):
        gen.prime(prime_roll)
    layout = parts_layout(parts)
    if parts != "one" and part_state is None:
        part_state = PartsState.for_layout(layout)
    controls = LiveControls(state.apply("mode", "solo"), parts=None if parts == "one" else part_state)
    clock = ManualClock(0.0)
    out = MemoryOutput("render", clock=clock.now)
    grid: list[tuple[float, mido.Message]] = []
    engine = Engine(gen, controls, ManualScheduler(out, clock), clock, steps_per_beat,
                    beats_per_bar=beats_per_bar, start_delay=0.0, primed=len(prime_roll) > 0,
                    seed=seed, grid=grid, parts=None if part_state is None else PartRouter(layout, part_state))
    engine.density.hear_roll(prime_roll)  # the answer's density follows the prime's
    for velocity in prime_velocities:
        engine.dynamics.hear(velocity)
    asyncio.run(engine.run(bars))
    steps = bars * beats_per_bar * steps_per_beat
    period = 60.0 / state.tempo / steps_per_beat
    generated, velocities = messages_to_roll(grid, 0.0, period, steps)
    return RenderResult(prime_roll, generated, steps_per_beat, velocities, tuple(out.sent))


def picture_title(request: RenderRequest) -> str:
    """The piano-roll picture's title: model, seed, temperature and tempo."""
    state = request.state
    return (f"livegen {request.model_name or 'render'}: seed {request.seed}, temperature {state.temperature:g}, "
            f"{state.tempo:g} BPM")


def timed_notes(timed: Sequence[tuple[float, mido.Message]], offset: float) -> list[pretty_midi.Note]:
    """Notes from timed note messages (a note-on to the next release of its pitch), moved
    ``offset`` seconds later; a note never released ends at the last message."""
    end = max((t for t, _ in timed), default=0.0) + offset
    notes: list[pretty_midi.Note] = []
    start: dict[int, tuple[float, int]] = {}
    for t, msg in timed:
        if msg.type not in ("note_on", "note_off"):
            continue
        if msg.note in start:  # a release, or the same key struck again
            s0, v = start.pop(msg.note)
            notes.append(pretty_midi.Note(velocity=v, pitch=msg.note, start=s0, end=t + offset))
        if msg.type == "note_on" and msg.velocity > 0:
            start[msg.note] = (t + offset, msg.velocity)
    notes += [pretty_midi.Note(velocity=v, pitch=p, start=s0, end=end) for p, (s0, v) in start.items()]
    return sorted(notes, key=lambda n: (n.start, n.pitch))


def prime_velocities(path: Path, beats: float) -> list[int]:
    """Velocities of the note-ons in the first ``beats`` quarter notes of a MIDI file (its own
    tempo map, as :func:`~livegen.music.roll_midi.midi_to_roll` reads it), in time order."""
    pm = pretty_midi.PrettyMIDI(str(path))
    notes = sorted((n.start, n.velocity) for inst in pm.instruments if not inst.is_drum for n in inst.notes)
    if not notes:
        return []
    ticks = [pm.time_to_tick(start) / pm.resolution for start, _ in notes]
    return [v for (_, v), beat in zip(notes, ticks, strict=True) if beat < beats]


def render_roll_files(model: RollLSTM | RollNADE, meta: dict[str, object], request: RenderRequest) -> list[str]:
    """Render ``request`` with a roll model and write its files; returns one line per file."""
    raw_spb = meta.get("steps_per_beat", 2)
    spb = int(raw_spb) if isinstance(raw_spb, int | float | str) else 2
    prime = None
    velocities: list[int] = []
    if request.prime is not None:
        prime, _stats = midi_to_roll(request.prime, spb)
        if request.prime_bars:
            prime = prime[: request.prime_bars * request.beats_per_bar * spb]
        velocities = prime_velocities(request.prime, len(prime) / spb)
    result = render_roll(model, request.bars, request.state, seed=request.seed, prime=prime,
                         steps_per_beat=spb, beats_per_bar=request.beats_per_bar, prime_velocities=velocities,
                         meta=meta)
    full = np.concatenate([result.prime, result.generated]) if len(result.prime) else result.generated
    tracks = {}
    if len(result.prime):
        tracks["prime"] = np.concatenate([result.prime, np.zeros_like(result.generated)])
    tracks["livegen"] = np.concatenate([np.zeros_like(result.prime), result.generated])
    bpm = request.state.tempo
    pm = roll_to_midi(full, spb, bpm, program=request.program, tracks=tracks, velocities={
        "livegen": np.concatenate([np.zeros(result.prime.shape, np.uint8), result.velocities])})
    state = request.state
    if state.swing > 0 or state.humanize_ms > 0 or state.humanize_velocity > 0:
        # the answer as played: swing and humanize move notes off the grid
        period = 60.0 / bpm / spb
        part = next(inst for inst in pm.instruments if inst.name == "livegen")
        part.notes = timed_notes(result.timed, len(result.prime) * period)
    part_picture = None
    if request.parts != "one":  # the answer's notes, exactly, one track per part
        layout = parts_layout(request.parts)
        at = next(k for k, inst in enumerate(pm.instruments) if inst.name == "livegen")
        split, _ = split_pretty_notes(pm.instruments[at].notes, layout)
        pm.instruments[at:at + 1] = split
        part_picture = (tuple(p.name for p in layout), part_map(split, full.shape[0], 60.0 / bpm / spb))
    request.out.parent.mkdir(parents=True, exist_ok=True)
    write_midi_bytes(pm, request.out)
    starts = np.diff(np.vstack([np.zeros((1, N_KEYS), bool), result.generated]).astype(int), axis=0) > 0
    lines = [f"wrote {request.out}: {request.bars} bars at {bpm:g} BPM, {int(starts.sum())} notes generated"
             + (f" after {len(result.prime)} prime steps" if len(result.prime) else "")]
    if request.png:
        velocities_all = np.concatenate([np.zeros(result.prime.shape, np.uint8), result.velocities])
        plot_roll(request.png, full, steps_per_beat=spb, beats_per_bar=request.beats_per_bar,
                  prime_steps=len(result.prime), velocities=velocities_all, title=picture_title(request),
                  parts=part_picture)
        lines.append(f"wrote {request.png}")
    if request.wav:
        render_wav(request.out, request.wav)
        lines.append(f"wrote {request.wav}")
    return lines

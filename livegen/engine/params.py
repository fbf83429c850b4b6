"""The live parameters the engine reads every step (changed by OSC, CC and the CLI)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from livegen.engine.modes import MODES
from livegen.music.scales import SCALES, pitch_class_mask
from livegen.sampling.constraints import RollControls


@dataclass
class LiveParams:
    """Mutable settings; :meth:`set` validates, :meth:`roll_controls` snapshots for sampling.

    Attributes:
        bpm: tempo in quarter notes per minute.
        temperature: sampling temperature (0 = deterministic threshold).
        density: logit bias in nats (>0 more notes).
        key: tonic name (``"D"``) or None for no key mask.
        scale: scale name for the key mask.
        polyphony: most simultaneous livegen notes (0 = no cap).
        low, high: MIDI pitch range livegen may play.
        mode: ``call``, ``accompany`` or ``solo``.
        mute: livegen keeps listening but sends nothing.
        silence_beats: call mode: performer silence (beats) before livegen answers.
        velocity: MIDI velocity of livegen's notes.
        max_note_steps: longest livegen note in steps before it is re-struck (0 = none).
        repeat: copy-head models: odds multiplier for repeating a remembered frame.
    """

    bpm: float = 120.0
    temperature: float = 1.0
    density: float = 0.0
    key: str | None = None
    scale: str = "major"
    polyphony: int = 0
    low: int = 21
    high: int = 108
    mode: str = "call"
    mute: bool = False
    silence_beats: float = 2.0
    velocity: int = 90
    max_note_steps: int = 0
    repeat: float = 1.0

    def set(self, name: str, value: object) -> None:
        """Set one field with validation; raises ValueError with the reason."""
        names = {f.name for f in fields(self)}
        if name not in names:
            raise ValueError(f"unknown parameter {name!r}")
        current = getattr(self, name)
        if name in ("key",):
            if value in (None, "", "none", "off"):
                self.key = None
                return
            pitch_class_mask(str(value), self.scale)  # validates
            self.key = str(value)
            return
        if name == "scale":
            if value not in SCALES:
                raise ValueError(f"unknown scale {value!r}")
            self.scale = str(value)
            return
        if name == "mode":
            if value not in MODES:
                raise ValueError(f"unknown mode {value!r}; use one of {', '.join(MODES)}")
            self.mode = str(value)
            return
        if isinstance(current, bool):
            self.mute = bool(value) if name == "mute" else bool(value)
            return
        number = float(value)  # type: ignore[arg-type]
        if not math.isfinite(number):
            raise ValueError(f"{name} must be finite")
        if name == "bpm" and not 20.0 <= number <= 400.0:
            raise ValueError("bpm must be within 20..400")
        if name == "temperature" and number < 0:
            raise ValueError("temperature must be >= 0")
        if name == "repeat" and number < 0:
            raise ValueError("repeat must be >= 0")
        setattr(self, name, int(round(number)) if isinstance(current, int) else number)

    def roll_controls(self) -> RollControls:
        return RollControls(
            temperature=self.temperature, density=self.density, low=self.low, high=self.high,
            pitch_classes=pitch_class_mask(self.key, self.scale) if self.key else None,
            max_polyphony=self.polyphony, repeat=self.repeat,
        )

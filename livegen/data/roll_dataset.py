"""The piano-roll dataset every reader returns: named sequences in three splits.

A sequence is a ``(T, 88)`` uint8 array: row ``t`` is one time step, column ``j`` is MIDI
pitch ``j + 21`` (A0..C8). The ``.mat``/pickle readers (:mod:`livegen.data.polyphonic`) and
the MIDI folder reader (:mod:`livegen.data.midi_folder`) both build a :class:`RollDataset`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from livegen.errors import LivegenError

#: the three standard splits, in this order.
SPLITS = ("train", "valid", "test")

#: one ``(T, 88)`` piano roll, 0/1 per step and key.
Roll = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class RollDataset:
    """A named set of piano-roll sequences split three ways.

    Attributes:
        name: dataset name (``nottingham``) or the path it came from.
        splits: split name -> list of ``(T, 88)`` uint8 arrays.
        steps_per_beat: time steps per quarter-note beat.
    """

    name: str
    splits: dict[str, list[Roll]]
    steps_per_beat: int

    def split(self, which: str) -> list[Roll]:
        """Return the sequences of one split (``train``, ``valid`` or ``test``)."""
        if which not in self.splits:
            raise LivegenError(
                f"dataset {self.name!r} has no split {which!r}; use one of {sorted(self.splits)}"
            )
        return self.splits[which]

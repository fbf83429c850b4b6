"""The keyboard every piano roll in livegen uses: 88 keys, A0 (MIDI 21) to C8 (MIDI 108).

Column ``j`` of a roll or frame is MIDI pitch ``j + LOWEST_PITCH``. This is the one place
these numbers are defined.
"""

from __future__ import annotations

#: keys of a piano-roll frame.
N_KEYS = 88
#: MIDI pitch of column 0 (A0).
LOWEST_PITCH = 21
#: MIDI pitch of the last column (C8).
HIGHEST_PITCH = LOWEST_PITCH + N_KEYS - 1

"""Which MIDI backend ``livegen play`` uses: its own JACK client, or rtmidi.

``--midi-backend auto`` (the default) takes the JACK backend (:mod:`livegen.io.jack_midi`,
sample-accurate) when MIDI goes through JACK: ``MIDO_BACKEND`` names python-rtmidi's JACK API
(``mido.backends.rtmidi/UNIX_JACK``, what :class:`~livegen.io.jack.JackServer` and
``--demo`` set), JACK-Client and libjack load, and the JACK server answers. Everywhere else
(ALSA, CoreMIDI, Windows MME) it is rtmidi. ``jack`` and ``rtmidi`` force one; ``jack`` fails
with one line when it cannot work.
"""

from __future__ import annotations

import logging

from livegen.errors import LivegenError
from livegen.io.jack import server_answers, server_name
from livegen.io.jack_lib import JACK_IMPORT_ERROR, jack_module
from livegen.io.ports import current_backend

log = logging.getLogger(__name__)

#: the choices of ``--midi-backend``.
MIDI_BACKENDS = ("auto", "jack", "rtmidi")


def midi_goes_through_jack() -> bool:
    """True when ``MIDO_BACKEND`` names python-rtmidi's JACK API."""
    backend = current_backend()
    return bool(backend.name == "mido.backends.rtmidi" and str(backend.api or "") == "UNIX_JACK")


def resolve_midi_backend(choice: str) -> str:
    """``jack`` or ``rtmidi`` for ``--midi-backend choice`` (``auto``, ``jack``, ``rtmidi``).

    Raises:
        LivegenError: ``jack`` was asked for and JACK-Client, libjack or the server is missing.
    """
    if choice not in MIDI_BACKENDS:
        raise LivegenError(f"unknown MIDI backend {choice!r}; choose one of {', '.join(MIDI_BACKENDS)}")
    if choice == "rtmidi":
        return "rtmidi"
    if choice == "jack":
        jack_module()
        if not server_answers(server_name()):
            raise LivegenError(f"--midi-backend jack: the JACK server {server_name()!r} is not running; start it "
                               f"(`jackd -n {server_name()} -S -d dummy -r 48000 -p 256`) or set JACK_DEFAULT_SERVER")
        return "jack"
    if not midi_goes_through_jack():
        return "rtmidi"
    if JACK_IMPORT_ERROR is not None:
        log.info("MIDI goes through JACK but JACK-Client cannot load (%s): using rtmidi", JACK_IMPORT_ERROR)
        return "rtmidi"
    if not server_answers(server_name()):
        return "rtmidi"  # rtmidi says what is wrong with the server in its own words
    return "jack"

"""Which MIDI backend ``livegen play`` uses: its own JACK client, or rtmidi.

``--midi-backend jack`` plays through livegen's JACK helper process
(:mod:`livegen.io.jack.backend`, sample-accurate); ``rtmidi`` through python-rtmidi. ``auto``
(the default; ``LIVEGEN_MIDI_BACKEND`` sets another) takes JACK when :data:`AUTO_JACK` is on
and MIDI goes through JACK: ``MIDO_BACKEND`` names python-rtmidi's JACK API
(``mido.backends.rtmidi/UNIX_JACK``, what :class:`~livegen.io.jack.JackServer` and
``--demo`` set), JACK-Client is installed, and the JACK server answers; everywhere else
(ALSA, CoreMIDI, Windows MME) it is rtmidi. ``jack`` fails with one line when it cannot work.
"""

from __future__ import annotations

import importlib.util
import logging

from livegen.errors import LivegenError
from livegen.io.jackd import server_answers, server_name
from livegen.io.ports import current_backend

log = logging.getLogger(__name__)

#: the choices of ``--midi-backend``.
MIDI_BACKENDS = ("auto", "jack", "rtmidi")
#: whether ``auto`` picks the JACK helper when MIDI goes through JACK (the end-to-end JACK tests
#: pass with either backend: scripts/test.sh runs them with both)
AUTO_JACK = True


def jack_client_installed() -> bool:
    """Whether the JACK-Client package is there (the helper process imports it, not livegen)."""
    return importlib.util.find_spec("jack") is not None


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
        if not jack_client_installed():
            raise LivegenError("--midi-backend jack needs JACK-Client: pip install JACK-Client")
        if not server_answers(server_name()):
            raise LivegenError(f"--midi-backend jack: the JACK server {server_name()!r} is not running; start it "
                               f"(`jackd -n {server_name()} -S -d dummy -r 48000 -p 256`) or set JACK_DEFAULT_SERVER")
        return "jack"
    if not AUTO_JACK or not midi_goes_through_jack():
        return "rtmidi"
    if not jack_client_installed():
        log.info("MIDI goes through JACK but JACK-Client is not installed: using rtmidi")
        return "rtmidi"
    if not server_answers(server_name()):
        return "rtmidi"  # rtmidi says what is wrong with the server in its own words
    return "jack"

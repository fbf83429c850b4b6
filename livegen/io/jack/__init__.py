"""livegen's JACK client: a helper process writing MIDI at the exact frame of each deadline and
stamping input by frame (``helper``), the pipe between it and livegen (``pipe``), the frame
clock and timeline (``frames``), scheduling by frame (``schedule``), the raw JACK calls
(``lib``), and the backend livegen's ports and engine use (``backend``). The JACK server
itself is ``livegen.io.jackd``."""

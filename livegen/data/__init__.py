"""Dataset readers: polyphonic piano-roll sets, MIDI folders, ABC collections, lyrics."""

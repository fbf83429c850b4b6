"""ABC folk-tune notation: the header (``header``), the body's notes and bars (``body``), playback
order (``timeline``), parsing a tune to notes and MIDI (``parse``), what was skipped or fixed
(``repair``), bars held to their meter (``meter``), transposition (``transpose``) and writing
ABC back (``write``)."""

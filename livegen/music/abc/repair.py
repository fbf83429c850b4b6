"""What the ABC parser skipped or fixed: one short human-readable line per kind of problem."""

from __future__ import annotations

from collections import Counter

from livegen.errors import LivegenError


class RepairLog:
    """Collects what the parser skipped or fixed, as short human-readable lines.

    With ``repair=False``, :meth:`fail` raises; skipped symbols are always just counted.
    """

    def __init__(self, repair: bool) -> None:
        self.repair = repair
        self.dropped: Counter[str] = Counter()
        self.notes: list[str] = []

    def drop(self, symbol: str) -> None:
        """Count one unknown symbol that was skipped."""
        self.dropped[symbol] += 1

    def note(self, message: str) -> None:
        """Record one thing that was fixed or assumed."""
        if message not in self.notes:
            self.notes.append(message)

    def fail(self, message: str, fix: str, repaired: str) -> None:
        """A problem with a clear fix: raise (``fix`` tells the user what to do) or, in repair
        mode, record ``"<message>: <repaired>"`` (what the caller does about it)."""
        if not self.repair:
            raise LivegenError(f"{message}; {fix} (or parse with repair=True)")
        self.note(f"{message}: {repaired}")

    def messages(self) -> list[str]:
        """All records, the dropped-symbol count first."""
        out = []
        if self.dropped:
            total = sum(self.dropped.values())
            detail = ", ".join(f"{sym!r} x{n}" for sym, n in self.dropped.most_common())
            out.append(f"dropped {total} unknown symbol{'s' * (total != 1)} ({detail})")
        return out + self.notes

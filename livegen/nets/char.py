"""The character-level LSTM (lyrics, ABC tunes) and its vocabulary.

``CharLSTM`` maps character ids to next-character logits: Embedding -> (optional label
vector concatenated to every step's input) -> stacked LSTM -> Linear. It follows the same
call convention as :class:`~livegen.nets.roll.RollLSTM` (``model(x, state, cond)``), so the
shared training loop and scorer drive it unchanged. :class:`Vocab` maps characters to ids;
id 0 is reserved for characters the model never saw, so encoding never fails.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from livegen.nets.copy_head import CopyHead
from livegen.nets.state import LSTMState

#: Stands for every character outside the vocabulary (always id 0).
UNKNOWN = "\ufffd"

LABEL_MODES = ("embedding", "onehot")


class Vocab:
    """Characters <-> integer ids. ``chars[0]`` is :data:`UNKNOWN`.

    Args:
        chars: the characters in id order; ``chars[0]`` must be :data:`UNKNOWN`.
    """

    unk = 0

    def __init__(self, chars: Sequence[str]) -> None:
        chars = list(chars)
        if not chars or chars[0] != UNKNOWN:
            raise ValueError("a Vocab's first character must be the unknown marker")
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError("a Vocab holds distinct single characters")
        self.chars = chars
        self._index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1, specials: str = "") -> Vocab:
        """Collect the characters of ``texts``, sorted; rarer than ``min_count`` -> unknown.

        ``specials`` (e.g. a song separator) are always included, right after the unknown id.
        """
        counts: Counter[str] = Counter()
        for t in texts:
            counts.update(t)
        keep = sorted(c for c, n in counts.items() if n >= min_count and c not in specials and c != UNKNOWN)
        return cls([UNKNOWN, *dict.fromkeys(specials), *keep])

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, ch: str) -> bool:
        return ch in self._index

    def index(self, ch: str) -> int:
        """Id of ``ch``; unseen characters map to 0."""
        return self._index.get(ch, self.unk)

    def encode(self, text: str) -> torch.Tensor:
        """``(len(text),)`` long ids; unseen characters become 0 (never raises)."""
        return torch.tensor([self._index.get(c, self.unk) for c in text], dtype=torch.long)

    def decode(self, ids: Iterable[int] | torch.Tensor) -> str:
        """Characters of ``ids``; id 0 decodes to :data:`UNKNOWN`."""
        if isinstance(ids, torch.Tensor):
            ids = ids.reshape(-1).tolist()
        return "".join(self.chars[i] for i in ids)

    def to_list(self) -> list[str]:
        """Plain list for checkpoint metadata (``meta["vocab"]``)."""
        return list(self.chars)

    @classmethod
    def from_list(cls, chars: Sequence[str]) -> Vocab:
        return cls(chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and other.chars == self.chars

    def __repr__(self) -> str:
        return f"Vocab({len(self)} chars)"


@dataclass(frozen=True)
class CharConfig:
    """Shape of a :class:`CharLSTM`.

    Attributes:
        vocab_size: number of character ids (output classes), unknown id included.
        embed: character embedding width.
        hidden: LSTM units per layer.
        layers: stacked LSTM layers.
        dropout: dropout on the LSTM input, between layers and before the output layer.
        n_labels: number of conditioning labels (artists, collections); 0 = unconditioned.
        label_dim: width of the learned label embedding (``label_mode="embedding"``).
        label_mode: ``"embedding"`` (learned ``label_dim`` vector) or ``"onehot"``
            (an ``n_labels`` indicator vector).
        copy: positions remembered by a :class:`~livegen.nets.copy_head.CopyHead` that mixes
            the softmax with copies of what followed similar earlier moments (0 = no copy
            head; then the state is ``(h, c)``, else ``(h, c, keys, ids)``).
    """

    vocab_size: int
    embed: int = 256
    hidden: int = 512
    layers: int = 1
    dropout: float = 0.0
    n_labels: int = 0
    label_dim: int = 16
    label_mode: str = "embedding"
    copy: int = 0

    def __post_init__(self) -> None:
        if self.label_mode not in LABEL_MODES:
            raise ValueError(f"label_mode must be one of {LABEL_MODES}, not {self.label_mode!r}")
        if self.vocab_size < 2 or self.embed < 1 or self.hidden < 1 or self.layers < 1:
            raise ValueError("vocab_size >= 2, embed, hidden and layers >= 1 required")

    @property
    def cond_width(self) -> int:
        """Width of the label vector appended to each step's input (0 if unconditioned)."""
        if self.n_labels <= 0:
            return 0
        return self.label_dim if self.label_mode == "embedding" else self.n_labels

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class CharLSTM(nn.Module):
    """Character LSTM with optional label conditioning.

    ``forward`` takes ``(B, T)`` long ids and returns ``(B, T, V)`` logits for the *next*
    character plus the new state; ``step`` does one ``(B,)`` step through the same code
    path, so it agrees with ``forward``.
    """

    kind = "char"

    def __init__(self, config: CharConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embed)
        self.label_embedding: nn.Embedding | None = None
        if c.n_labels > 0 and c.label_mode == "embedding":
            self.label_embedding = nn.Embedding(c.n_labels, c.label_dim)
        self.in_drop = nn.Dropout(c.dropout)
        self.lstm = nn.LSTM(
            c.embed + c.cond_width, c.hidden, num_layers=c.layers, batch_first=True,
            dropout=c.dropout if c.layers > 1 else 0.0,
        )
        self.out_drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden, c.vocab_size)
        self.copy_head = CopyHead(c.hidden, c.vocab_size, c.copy) if c.copy > 0 else None

    def label_vector(self, cond: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """``(B, cond_width)`` float label vectors, or None for an unconditioned net.

        A conditioned net given ``cond=None`` gets all-zero label vectors (no label).
        """
        c = self.config
        if c.n_labels <= 0:
            return None
        if cond is None:
            return torch.zeros(batch, c.cond_width, dtype=self.head.weight.dtype)
        cond = cond.reshape(-1).long()
        if bool(((cond < 0) | (cond >= c.n_labels)).any()):
            raise ValueError(f"label ids must lie in [0, {c.n_labels})")
        if self.label_embedding is not None:
            vectors: torch.Tensor = self.label_embedding(cond)
            return vectors
        return nn.functional.one_hot(cond, c.n_labels).to(self.head.weight.dtype)

    def forward(
        self, x: torch.Tensor, state: LSTMState | None = None, cond: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, LSTMState]:
        """Run a sequence.

        Args:
            x: ``(B, T)`` long character ids.
            state: ``(h, c)``, each ``(layers, B, hidden)`` (with a copy head also its memory,
                see :class:`CharConfig`); ``None`` for zeros.
            cond: ``(B,)`` long label ids, or ``None``.

        Returns:
            ``(B, T, V)`` next-character logits (with a copy head: log-probabilities, which
            any softmax leaves unchanged) and the state after the last step.
        """
        e = self.embedding(x)
        lab = self.label_vector(cond, x.shape[0])
        if lab is not None:
            e = torch.cat([e, lab.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)
        y, (h, c) = self.lstm(self.in_drop(e), None if state is None else (state[0], state[1]))
        logits = self.head(self.out_drop(y))
        if self.copy_head is None:
            return logits, (h, c)
        memory = (state[2], state[3]) if state is not None and len(state) == 4 \
            else self.copy_head.empty_memory(x.shape[0], self.config.hidden, y)
        log_p, memory = self.copy_head(logits, y, x, memory)
        return log_p, (h, c, *memory)

    def step(
        self, x: torch.Tensor, state: LSTMState | None = None, cond: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, LSTMState]:
        """One step: ``(B,)`` ids -> ``(B, V)`` logits for the next character."""
        logits, state = self.forward(x.reshape(-1, 1), state, cond)
        return logits.squeeze(1), state

    def init_state(self, batch: int = 1) -> LSTMState:
        """Zero state for ``batch`` independent streams."""
        c = self.config
        z = torch.zeros(c.layers, batch, c.hidden, dtype=self.head.weight.dtype)
        if self.copy_head is not None:
            return (z, z.clone(), *self.copy_head.empty_memory(batch, c.hidden, z))
        return z, z.clone()


def char_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-character NLL in nats: ``(B, T, V)`` logits, ``(B, T)`` ids -> ``(B, T)``."""
    return nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none")


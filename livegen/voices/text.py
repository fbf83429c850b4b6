"""Text generation: a character LSTM with its kept state and a sampler. No I/O, no clock.

The generator always holds the logits for the *next* character, so priming, sampling and
line-by-line generation interleave freely and the state runs on from line to line (a
lyrics screen asks for one line per bar). A sampled song separator ends the song: the
generator starts a fresh one under the same label.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from livegen.errors import LivegenError
from livegen.nets.char import CharLSTM, Vocab
from livegen.nets.state import LSTMState
from livegen.sampling.categorical import sample_categorical, sample_gumbel_max

#: Default song separator (see livegen.training.char_tasks.SEPARATOR).
SEPARATOR = "\x1e"

SAMPLERS = ("softmax", "gumbel")


#: characters ``allow`` may refuse for one draw before the draw goes unrestricted (bounds the
#: work per character when the model has written itself into a corner).
MAX_REFUSED_DRAWS = 16


class TextGenerator:
    """Character-by-character generation with explicit, resettable state.

    Args:
        model: a trained :class:`CharLSTM` (put in eval mode here).
        vocab: its vocabulary.
        labels: its label names in id order (empty for an unconditioned model).
        seed: seeds this generator's own :class:`torch.Generator` (no global RNG).
        sampler: ``"softmax"`` (multinomial draw) or ``"gumbel"`` (Gumbel-max trick); both
            draw from the same distribution.
        separator: the song start/end character the model was trained with.
    """

    def __init__(
        self,
        model: CharLSTM,
        vocab: Vocab,
        labels: Sequence[str] = (),
        seed: int = 0,
        sampler: str = "softmax",
        separator: str = SEPARATOR,
    ) -> None:
        if len(vocab) != model.config.vocab_size:
            raise LivegenError(
                f"vocabulary has {len(vocab)} characters but the model expects {model.config.vocab_size}"
            )
        if model.config.n_labels and len(labels) != model.config.n_labels:
            raise LivegenError(f"model expects {model.config.n_labels} labels, got {len(labels)}")
        if sampler not in SAMPLERS:
            raise LivegenError(f"unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)}")
        self.model = model.eval()
        self.vocab = vocab
        self.labels = list(labels)
        self.sampler = sampler
        self.separator = separator
        self._sep_id = vocab.index(separator) if separator in vocab else None
        self.generator = torch.Generator().manual_seed(seed)
        self._label: int | None = 0 if self.labels and model.config.n_labels else None
        self._state: LSTMState | None = None
        self._logits: torch.Tensor = torch.zeros(len(vocab))
        # characters never to emit: the unknown id (and nothing else)
        self._banned = torch.zeros(len(vocab), dtype=torch.bool)
        self._banned[vocab.unk] = True
        #: draws where ``allow`` refused every character (see :meth:`next_char`).
        self.unconstrained = 0
        self.reset()

    @property
    def label(self) -> str | None:
        """The current label name, or None for an unconditioned model."""
        return self.labels[self._label] if self._label is not None else None

    def set_label(self, name: str) -> None:
        """Condition on label ``name`` from the next character on (the state is kept; call
        :meth:`reset` to start a fresh song).

        Raises:
            LivegenError: unknown label (the message lists the known ones).
        """
        if not self.labels or not self.model.config.n_labels:
            raise LivegenError("this model has no labels to choose from; drop the label/artist option")
        folded = {n.casefold(): i for i, n in enumerate(self.labels)}
        if name.casefold() not in folded:
            raise LivegenError(f"unknown label {name!r}; known labels: {', '.join(self.labels)}")
        self._label = folded[name.casefold()]
        self._relabel_last()

    def reset(self) -> None:
        """Forget everything: start a fresh song (the separator is fed as its first character)."""
        self._state = None
        self._prev_state: LSTMState | None = None
        self._last: int | None = None
        if self._sep_id is not None:
            self._feed([self._sep_id])
        else:
            self._logits = torch.zeros(len(self.vocab))

    @property
    def state(self) -> LSTMState | None:
        """The kept ``(h, c)`` state (``(layers, 1, hidden)`` each), None before any input."""
        return self._state

    def prime(self, text: str) -> None:
        """Feed ``text`` (unseen characters map to the unknown id) and keep the state."""
        if text:
            self._feed(self.vocab.encode(text).tolist())

    def _cond(self) -> torch.Tensor | None:
        return torch.tensor([self._label]) if self._label is not None else None

    @torch.no_grad()
    def _feed(self, ids: list[int]) -> None:
        """Run ``ids`` through the net; keep the state before the last one (for relabelling)."""
        cond = self._cond()
        if len(ids) > 1:
            _, self._state = self.model(torch.tensor([ids[:-1]]), self._state, cond)
        self._prev_state = self._state
        self._last = ids[-1]
        logits, self._state = self.model(torch.tensor([[ids[-1]]]), self._state, cond)
        self._logits = logits[0, -1]

    @torch.no_grad()
    def _relabel_last(self) -> None:
        """Re-run the last character under the current label so the next draw uses it."""
        if self._last is not None:
            self._state = self._prev_state
            self._feed([self._last])

    def _draw_from(self, logits: torch.Tensor, temperature: float) -> int:
        if self.sampler == "gumbel":
            return int(sample_gumbel_max(logits, temperature, self.generator))
        return int(sample_categorical(logits, temperature, self.generator))

    def _draw(self, temperature: float, allow: Callable[[str], bool] | None = None) -> int:
        logits = self._logits.masked_fill(self._banned, -torch.inf)
        if allow is None:
            return self._draw_from(logits, temperature)
        # draw, and draw again without what was refused: a draw from the distribution
        # restricted to the allowed characters, asking only about the characters drawn
        masked = logits.clone()
        for _ in range(MAX_REFUSED_DRAWS):
            if not bool(torch.isfinite(masked).any()):
                break
            i = self._draw_from(masked, temperature)
            if allow(self.vocab.chars[i]):
                return i
            masked[i] = -torch.inf
        self.unconstrained += 1  # nothing likely enough is allowed: draw freely
        return self._draw_from(logits, temperature)

    def next_char(self, temperature: float = 1.0, allow: Callable[[str], bool] | None = None) -> str:
        """Sample one character, feed it back, and return it (may be the separator).

        Args:
            temperature: softmax temperature (<= 1e-4: argmax).
            allow: when given, only a character it returns True for is drawn (the draw is
                from the model's distribution restricted to those); if it refuses
                :data:`MAX_REFUSED_DRAWS` drawn characters (or all), the draw is
                unrestricted and :attr:`unconstrained` counts it.
        """
        i = self._draw(temperature, allow)
        self._feed([i])
        return self.vocab.chars[i]

    def sample_chars(self, n: int, temperature: float = 1.0) -> str:
        """Sample ``n`` characters; a sampled separator ends the song and starts a new one
        (it appears in the output as a blank line)."""
        out: list[str] = []
        for _ in range(n):
            ch = self.next_char(temperature)
            if ch == self.separator:
                self.reset()
                out.append("\n\n")
            else:
                out.append(ch)
        return "".join(out)

    def next_line(self, temperature: float = 1.0, max_chars: int = 200, skip_blank: bool = True) -> str:
        """Sample up to the next newline and return the line (without the newline).

        Args:
            max_chars: a line longer than this is cut here (the state runs on).
            skip_blank: skip empty lines (stanza breaks) instead of returning ``""``.
        The end of a song ends the line too; the next line begins a new song.
        """
        chars: list[str] = []
        budget = max_chars * 4  # guard against a model that only emits blank lines
        while len(chars) < max_chars and budget > 0:
            budget -= 1
            ch = self.next_char(temperature)
            if ch == self.separator:
                self.reset()
                if chars or not skip_blank:
                    break
                continue
            if ch == "\n":
                if chars or not skip_blank:
                    break
                continue
            chars.append(ch)
        return "".join(chars)

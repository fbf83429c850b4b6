"""One time step of an ``nn.LSTM`` for the live path, without the module's per-call checks.

``nn.LSTM.forward`` checks its arguments and its flat weights on every call (tens of µs at
one frame) and computes the gates as ``x @ W.T``. :class:`LSTMStepper` runs the same ops as
torch's CPU LSTM kernel, in the same order (the gates ``linear_hh(h) + linear_ih(x)``, then
``sigmoid``/``tanh``, ``c' = f * c + i * g``, ``h' = o * tanh(c')``), so a step gives what
the module gives. For a batch of several streams (a voice heard in 12 keys) the weights are
kept transposed and contiguous, ``x @ W_t``: on this machine's BLAS (MKL) that is the same
kernel after packing, bit for bit the module's result (checked: every shipped roll model
over 500 live steps at batch 12; ``tests/test_lstm_step.py`` checks to float tolerance), and
the step took 0.35 ms against the module's 0.49 ms here (2 x 256 units, batch 12). A batch
of one keeps the module's layout (a matrix-vector product, whose transposed form rounds
differently in the last bit).

Only for inference: no dropout, no gradient (the callers check ``training`` and
:func:`torch.is_grad_enabled` and fall back to the module).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

#: one layer's weights: ``(w_ih (4H, I), w_hh (4H, H), b_ih (4H,), b_hh (4H,))`` and the
#: same with ``w_ih``, ``w_hh`` transposed and contiguous (``(I, 4H)``, ``(H, 4H)``).
_Layer = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class LSTMStepper:
    """Steps an LSTM one frame at a time, keeping its weights transposed.

    The transposed copies are made at the first step and again whenever a weight changes
    (another parameter, storage or version: an optimiser step, ``load_state_dict``).
    """

    def __init__(self) -> None:
        self._params: list[torch.Tensor] = []  # the weights the copies were made from
        self._key: list[tuple[int, int]] = []  # their storage and version then
        self._layers: list[_Layer] = []

    def _weights(self, lstm: nn.LSTM) -> list[_Layer]:
        """Each layer's weights, the transposed copies refreshed if a weight changed."""
        if lstm.bidirectional or not lstm.bias or lstm.proj_size:
            raise ValueError("LSTMStepper steps a unidirectional LSTM with biases and no projection")
        params = [getattr(lstm, n) for n in lstm._flat_weights_names]
        key = [(p.data_ptr(), p._version) for p in params]
        if key != self._key or any(p is not q for p, q in zip(params, self._params, strict=True)):
            layers = []
            for layer in range(lstm.num_layers):
                w_ih, w_hh, b_ih, b_hh = params[4 * layer:4 * layer + 4]
                layers.append((w_ih.detach(), w_hh.detach(), b_ih.detach(), b_hh.detach(),
                               w_ih.detach().t().contiguous(), w_hh.detach().t().contiguous()))
            self._layers, self._key, self._params = layers, key, params
        return self._layers

    def __call__(self, lstm: nn.LSTM, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
                 ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One step of ``lstm``.

        Args:
            lstm: the module (unidirectional, with biases, no projection).
            x: ``(B, I)`` the frame.
            state: ``(h, c)``, each ``(layers, B, H)``; None for zeros.

        Returns:
            ``y`` ``(B, H)`` (the last layer's output) and the new ``(h, c)``.
        """
        if state is None:
            z = x.new_zeros(lstm.num_layers, x.shape[0], lstm.hidden_size)
            state = (z, z)
        h, c = state
        batched = x.shape[0] > 1
        hs, cs = [], []
        inp = x
        for layer, (w_ih, w_hh, b_ih, b_hh, w_ih_t, w_hh_t) in enumerate(self._weights(lstm)):
            if batched:
                gates = torch.addmm(b_hh, h[layer], w_hh_t).add_(torch.addmm(b_ih, inp, w_ih_t))
            else:
                gates = F.linear(h[layer], w_hh, b_hh).add_(F.linear(inp, w_ih, b_ih))
            i, f, g, o = gates.unsafe_chunk(4, 1)
            i, f, g, o = i.sigmoid_(), f.sigmoid_(), g.tanh_(), o.sigmoid_()
            c_new = (f * c[layer]).add_(i * g)
            inp = o * c_new.tanh()
            hs.append(inp)
            cs.append(c_new)
        return inp, (torch.stack(hs), torch.stack(cs))


def can_step_fast(module: nn.Module) -> bool:
    """Whether :class:`LSTMStepper` may stand in for the module's LSTM now: inference
    (eval mode, no gradient recorded)."""
    return not module.training and not torch.is_grad_enabled()

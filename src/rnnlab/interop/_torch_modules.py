"""The one PyTorch module rnnlab defines: a recurrent module followed by its ``nn.Linear`` head,
what :func:`rnnlab.interop.to_torch` returns for a model with an output head. Imported only by
that function (it imports torch at import time)."""

from __future__ import annotations

from typing import Any

import torch


class RecurrentWithHead(torch.nn.Module):
    """``rnn`` (nn.RNN/LSTM/GRU) then ``head`` (nn.Linear) at every step.

    ``forward(x, hx=None)`` returns ``(head(y), h_n)`` (LSTM: ``(head(y), (h_n, c_n))``), where
    ``y, h_n = rnn(x, hx)``: the output an rnnlab model with a head computes, and its final
    state. The state dict holds ``rnn.*`` and ``head.*``, the names
    ``state_dict_torch(model, prefix="rnn.", head_prefix="head.")`` gives.
    """

    def __init__(self, rnn: torch.nn.Module, head: torch.nn.Linear) -> None:
        super().__init__()
        self.rnn = rnn
        self.head = head

    def forward(self, x: torch.Tensor, hx: Any = None) -> tuple[torch.Tensor, Any]:
        y, state = self.rnn(x, hx)
        return self.head(y), state

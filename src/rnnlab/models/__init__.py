"""Models built from layers: Dense, Embedding, Dropout, Sequential, Bidirectional, deep stacks.

Every module follows one protocol: ``forward(...)`` (also ``__call__``), ``backward(dy) -> dx``
(accumulating into ``grads``), ``params`` / ``grads`` (name -> live array; containers prefix
their children's keys, ``"0.W_f"``), ``zero_grad()``, ``num_parameters()``, ``train()`` /
``eval()``, ``get_config()`` / ``from_config()`` and registration with :mod:`rnnlab.registry`.
"""

from .basic import Dense, Dropout, Embedding, ReLU, Tanh
from .bidirectional import Bidirectional, reverse_padded
from .sequential import Sequential
from .stacks import GRU, LSTM, RNN

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Bidirectional",
    "Dense",
    "Dropout",
    "Embedding",
    "ReLU",
    "Sequential",
    "Tanh",
    "reverse_padded",
]

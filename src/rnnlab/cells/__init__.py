"""Reference math of the three cells: forward and backward through time, NumPy/CuPy generic."""

from .gru import GRUCache, gru_backward, gru_forward, gru_step_backward, gru_step_forward
from .lstm import LSTMCache, lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward
from .rnn import RNNCache, rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward

__all__ = [
    "GRUCache",
    "LSTMCache",
    "RNNCache",
    "gru_backward",
    "gru_forward",
    "gru_step_backward",
    "gru_step_forward",
    "lstm_backward",
    "lstm_forward",
    "lstm_step_backward",
    "lstm_step_forward",
    "rnn_backward",
    "rnn_forward",
    "rnn_step_backward",
    "rnn_step_forward",
]

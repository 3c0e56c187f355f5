"""Reference math of the three cells: forward and backward through time, NumPy/CuPy generic."""

from .gru import GRUCache, gru_backward, gru_forward, gru_step_backward, gru_step_forward
from .gru_ln import GRULNCache, gru_ln_backward, gru_ln_forward
from .layer_norm import LN_EPS, LayerNormCache, layer_norm_backward, layer_norm_forward
from .lstm import LSTMCache, lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward
from .lstm_ln import LSTMLNCache, lstm_ln_backward, lstm_ln_forward
from .rnn import RNNCache, rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward

__all__ = [
    "LN_EPS",
    "GRUCache",
    "GRULNCache",
    "LSTMCache",
    "LSTMLNCache",
    "LayerNormCache",
    "RNNCache",
    "gru_backward",
    "gru_forward",
    "gru_ln_backward",
    "gru_ln_forward",
    "gru_step_backward",
    "gru_step_forward",
    "layer_norm_backward",
    "layer_norm_forward",
    "lstm_backward",
    "lstm_forward",
    "lstm_ln_backward",
    "lstm_ln_forward",
    "lstm_step_backward",
    "lstm_step_forward",
    "rnn_backward",
    "rnn_forward",
    "rnn_step_backward",
    "rnn_step_forward",
]

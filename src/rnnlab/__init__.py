"""rnnlab: recurrent neural networks (RNN, LSTM, GRU) from scratch, every equation visible.

Quick start::

    import numpy as np
    import rnnlab

    lstm = rnnlab.LSTMLayer(input_size=1, hidden_size=64, output_size=1, seed=0)
    sequence = [np.array([[np.sin(0.1 * t)]]) for t in range(10)]
    y = lstm.forward(sequence)            # (10, 1, 1)
    C_T = lstm.get_cell_states()[-1]      # final cell state, (1, 64)
"""

from . import data, losses, models, optim, schedules
from ._version import __version__
from .backend import DeviceUnavailableError, to_device
from .evaluation import evaluate, predict
from .gpu import GRULayerCUDA, LSTMLayerCUDA, RNNLayerCUDA
from .grad_mode import is_grad_enabled, no_grad
from .guards import ConcurrentUseError, StaleForwardError
from .io import CheckpointError, load, load_checkpoint, save, save_checkpoint
from .layers import GRULayer, LSTMLayer, RNNLayer
from .memory import free_workspaces
from .train import History, TrainingDivergedError, VanishingGradientWarning, fit

__all__ = [
    "CheckpointError",
    "ConcurrentUseError",
    "DeviceUnavailableError",
    "GRULayer",
    "GRULayerCUDA",
    "History",
    "LSTMLayer",
    "LSTMLayerCUDA",
    "RNNLayer",
    "RNNLayerCUDA",
    "StaleForwardError",
    "TrainingDivergedError",
    "VanishingGradientWarning",
    "__version__",
    "data",
    "evaluate",
    "fit",
    "free_workspaces",
    "is_grad_enabled",
    "load",
    "load_checkpoint",
    "losses",
    "models",
    "no_grad",
    "optim",
    "predict",
    "save",
    "save_checkpoint",
    "schedules",
    "to_device",
]

"""pytest plugin: dry-run ``tests/gpu`` without a GPU (a check of the tests, not of a device).

CuPy is replaced by the NumPy stand-in of ``test_device.py`` and numba.cuda by its simulator,
with the drivers' CuPy hand-over (``kernel_args``, ``stream_for``) bypassed. It shows that the
GPU tests' own logic, the dispatch and the drivers' control flow hold together; it says nothing
about CuPy, cuBLAS or real kernels. Usage, from the repository root::

    PYTHONPATH=src:tests python -m pytest -p gpu_dryrun_plugin tests/gpu
"""

from __future__ import annotations

import os
import sys

os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # before anything imports numba.cuda

from rnnlab import backend
from rnnlab.kernels import gpu
from rnnlab.kernels.gpu import gru, lstm, persistent, rnn
from test_device import FakeCupyModule

_module = FakeCupyModule("cupy")
sys.modules["cupy"] = _module
backend.cupy_status = lambda: (_module, "ok")
gpu.numba_cuda_status = lambda: (True, "ok")
for _driver in (rnn, lstm, gru, persistent):
    _driver.kernel_args = lambda xp, *arrays: arrays
    _driver.stream_for = lambda xp: 0

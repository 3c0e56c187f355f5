"""CPU kernels: whole-sequence Numba forward/backward per cell (see docs/speed.md).

Nothing here is imported by ``import rnnlab``; :mod:`rnnlab.kernels` imports a cell module on
the first forward that runs it.
"""

from .cache import install as _install_cache

# before any kernel module is imported (and its kernels decorated): see cache.py
_install_cache()

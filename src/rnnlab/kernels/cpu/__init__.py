"""CPU kernels: whole-sequence Numba forward/backward per cell (see docs/speed.md).

Nothing here is imported by ``import rnnlab``; :mod:`rnnlab.kernels` imports a cell module on
the first forward that runs it.
"""

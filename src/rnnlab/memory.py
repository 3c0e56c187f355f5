"""Memory the library keeps between calls, and how to give it back.

The CPU kernels reuse large scratch and cache buffers from a pool
(:mod:`rnnlab.kernels.cpu.workspace`): bounded to 512 MiB by default, least recently used shapes
dropped first. :func:`free_workspaces` returns it at once, for example after training, before
a different workload.
"""

from __future__ import annotations

import sys

__all__ = ["free_workspaces"]


def free_workspaces() -> int:
    """Release the buffers rnnlab keeps for reuse between kernel calls.

    Returns
    -------
    int : bytes the CPU workspace pool held (0 if no CPU kernel has run). Buffers still used by a
        layer's cache are freed once that cache goes (its next forward, ``del layer``). When
        CuPy is in use, its default memory pool's unused blocks are freed too.

    Notes
    -----
    The bound is set with ``rnnlab.kernels.cpu.workspace.set_limit(nbytes)`` or the environment
    variable ``RNNLAB_WORKSPACE_BYTES`` (read at the first kernel call).
    """
    held = 0
    workspace = sys.modules.get("rnnlab.kernels.cpu.workspace")
    if workspace is not None:  # never imported: nothing pooled (and nothing compiled for it)
        held = workspace.clear()
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        cupy.get_default_memory_pool().free_all_blocks()
    return held

"""The guide's CUDA layer names: a layer of the same class, built on the CPU and moved to the GPU.

``LSTMLayerCUDA(10, 256, 5)`` is ``LSTMLayer(10, 256, 5).to("cuda")``: the same parameters,
the same math (the reference cells are written against an array namespace and run on CuPy).
Without CuPy or a CUDA device, construction raises :class:`DeviceUnavailableError` naming what is
missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .backend import require_cupy
from .layers import GRULayer, LSTMLayer, RNNLayer

_Layer = TypeVar("_Layer", RNNLayer, LSTMLayer, GRULayer)


def _cuda_factory(base: type[_Layer]) -> Callable[..., _Layer]:
    def build(*args: Any, **kwargs: Any) -> _Layer:
        require_cupy()
        return base(*args, **kwargs).to("cuda")

    build.__name__ = f"{base.__name__}CUDA"
    build.__qualname__ = build.__name__
    build.__doc__ = f"``{base.__name__}(...)`` placed on the GPU; same arguments."
    return build


RNNLayerCUDA = _cuda_factory(RNNLayer)
LSTMLayerCUDA = _cuda_factory(LSTMLayer)
GRULayerCUDA = _cuda_factory(GRULayer)

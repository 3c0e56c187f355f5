"""Converters between rnnlab and other frameworks. Each framework is imported only inside its
functions, so ``import rnnlab`` never imports torch."""

from .torch import from_torch, to_torch

__all__ = ["from_torch", "to_torch"]

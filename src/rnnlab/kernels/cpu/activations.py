"""Scalar activations for the kernels: fast in float32, libm-exact in float64.

Numba has no vectorised ``exp``/``tanh`` (its wheels ship without SVML), so a loop that calls
``math.tanh`` makes one libm call per element. For float32 the functions below compute
``e^(-u)`` (u ≥ 0) in float64 arithmetic with no call and no branch, so the loops vectorise:

    e^(-u) = 2^(-n) · e^(-r),   n = round(u / ln 2),  r = u - n ln 2,  |r| ≤ ln(2)/2
    e^(-r) by its Taylor series to r¹¹ (truncation < 0.35¹²/12! ≈ 6e-15)
    2^(-n) built directly from its IEEE-754 bits (exponent field 1023 - n)

    tanh(x) = sign(x) (1 - e) / (1 + e),  e = e^(-2|x|)          for |x| ≥ 1/8
            = x - x³/3 + 2x⁵/15 - 17x⁷/315 + 62x⁹/2835             for |x| < 1/8 (no cancellation)
    σ(a) = 1 / (1 + e)  (a ≥ 0),   e / (1 + e)  (a < 0),   e = e^(-|a|)

The float64 intermediate is ~1e-14 accurate, so after the final rounding to float32 the error
is the rounding itself, half an ulp (tests/test_kernels_cpu.py checks it on a dense grid).
For float64 inputs the functions are libm's ``tanh`` and ``exp`` in the reference's formula,
so float64 kernels agree with the reference to a few ulp.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from .config import FASTMATH

# tanh(9) rounds to 1 in float32 and σ(-110) underflows to 0: clamping the argument there
# changes no float32 result and keeps 2^(-n) a normal float64.
_TANH_CLAMP = 9.0
_SIGMOID_CLAMP = 110.0
_INV_LN2 = 1.0 / math.log(2.0)
# ln 2 split so that n · _LN2_HI is exact for the n used here (Cody and Waite's reduction)
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10
_INLINE = {"fastmath": set(FASTMATH)}  # LLVM inlines these; Numba IR inlining is not needed


def tanh(x):  # pragma: no cover - replaced inside compiled code by the overload below
    """tanh for use inside @njit kernels (see module docstring)."""
    raise NotImplementedError("only callable from compiled kernels")


def sigmoid(x):  # pragma: no cover - replaced inside compiled code by the overload below
    """Logistic function for use inside @njit kernels (see module docstring)."""
    raise NotImplementedError("only callable from compiled kernels")


@intrinsic
def _float64_from_bits(typingctx, bits):
    """Reinterpret an int64 as the float64 with the same bits (no conversion)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@numba.njit(**_INLINE)
def _exp_neg(u):
    """e^(-u) for 0 <= u <= 250, in float64, branch-free."""
    n = np.int64(u * _INV_LN2 + 0.5)
    r = (u - n * _LN2_HI) - n * _LN2_LO
    # Horner, innermost first: coefficients 1/k! with alternating signs
    p = 1.0 / 3628800.0 - r * (1.0 / 39916800.0)
    p = 1.0 / 362880.0 - r * p
    p = 1.0 / 40320.0 - r * p
    p = 1.0 / 5040.0 - r * p
    p = 1.0 / 720.0 - r * p
    p = 1.0 / 120.0 - r * p
    p = 1.0 / 24.0 - r * p
    p = 1.0 / 6.0 - r * p
    p = 0.5 - r * p
    p = 1.0 - r * p
    p = 1.0 - r * p
    return p * _float64_from_bits((1023 - n) << 52)


@overload(tanh, jit_options={"fastmath": set(FASTMATH)})
def _tanh_impl(x):
    if x == types.float32:

        def tanh32(x):
            xd = np.float64(x)
            ax = min(abs(xd), _TANH_CLAMP)
            e = _exp_neg(2.0 * ax)
            big = (1.0 - e) / (1.0 + e)
            big = big if xd >= 0 else -big
            s = xd * xd
            small = xd * (1.0 - s * (1.0 / 3 - s * (2.0 / 15 - s * (17.0 / 315 - s * 62.0 / 2835))))
            return np.float32(small if ax < 0.125 else big)

        return tanh32
    if isinstance(x, types.Float):
        return lambda x: math.tanh(x)
    return None


@overload(sigmoid, jit_options={"fastmath": set(FASTMATH)})
def _sigmoid_impl(x):
    if x == types.float32:

        def sigmoid32(x):
            xd = np.float64(x)
            e = _exp_neg(min(abs(xd), _SIGMOID_CLAMP))
            return np.float32((1.0 if xd >= 0 else e) / (1.0 + e))

        return sigmoid32
    if isinstance(x, types.Float):

        def sigmoid64(x):
            e = math.exp(-abs(x))
            return (1.0 if x >= 0 else e) / (1.0 + e)

        return sigmoid64
    return None

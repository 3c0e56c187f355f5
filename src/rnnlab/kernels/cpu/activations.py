"""Scalar activations for the kernels: fast in float32, libm-exact in float64.

Numba has no vectorised ``exp``/``tanh`` (its wheels ship without SVML), so a loop that calls
``math.tanh`` makes one libm call per element. For float32 the functions below compute
``e^(-u)`` (u ≥ 0) in float32 arithmetic with no call and no branch, so the gate loops
vectorise (8 lanes per AVX register):

    e^(-u) = 2^(-n) · e^(-r),   n = round(u / ln 2),  r = u - n ln 2,  |r| ≤ ln(2)/2
    e^(-r) by its Taylor series to r⁷ (truncation < 0.35⁸/8! ≈ 6e-9, below float32 rounding)
    2^(-n) built directly from its IEEE-754 bits (exponent field 127 - n)

    tanh(x) = sign(x) (1 - e) / (1 + e),  e = e^(-2|x|)          for |x| ≥ 1/2
            = x - x³/3 + 2x⁵/15 - … to x¹⁷ (truncation < 1e-9)  for |x| < 1/2 (no cancellation)
    σ(a) = 1 / (1 + e)  (a ≥ 0),   e / (1 + e)  (a < 0),   e = e^(-|a|)

Measured against float64 math on a dense grid (tests/test_kernels_cpu.py) the results are within
a few float32 ulp (NumPy's own float32 tanh is within ~1.4). For float64 inputs the functions
are libm's ``tanh`` and ``exp`` in the reference's formula, so float64 kernels agree with the
reference to a few ulp.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from .config import FASTMATH

f32 = np.float32
# tanh(9) rounds to 1 in float32 and σ(-87) is the last normal float32: clamping the argument
# there keeps 2^(-n) a normal number and changes no result beyond a denormal.
_TANH_CLAMP = f32(9.0)
_SIGMOID_CLAMP = f32(87.0)
_SMALL = f32(0.5)
_INV_LN2 = f32(1.0 / math.log(2.0))
_HALF = f32(0.5)
_ONE = f32(1.0)
_TWO = f32(2.0)
# ln 2 split so that n · _LN2_HI is exact for n < 2⁸ (Cody and Waite's reduction)
_LN2_HI = f32(0.693359375)
_LN2_LO = f32(math.log(2.0) - 0.693359375)
# 1/k! for k = 7 … 2, then the odd Taylor coefficients of tanh(x)/x in x² (x³ … x¹³)
_E7, _E6, _E5, _E4, _E3, _E2 = (f32(1.0 / math.factorial(k)) for k in range(7, 1, -1))
_T3, _T5, _T7, _T9, _T11, _T13, _T15, _T17 = (
    f32(c)
    for c in (
        -1 / 3,
        2 / 15,
        -17 / 315,
        62 / 2835,
        -1382 / 155925,
        21844 / 6081075,
        -929569 / 638512875,
        6404582 / 10854718875,
    )
)
_JIT = {"fastmath": set(FASTMATH)}  # LLVM inlines these small functions itself


def tanh(x):  # pragma: no cover - replaced inside compiled code by the overload below
    """tanh for use inside @njit kernels (see module docstring)."""
    raise NotImplementedError("only callable from compiled kernels")


def sigmoid(x):  # pragma: no cover - replaced inside compiled code by the overload below
    """Logistic function for use inside @njit kernels (see module docstring)."""
    raise NotImplementedError("only callable from compiled kernels")


@intrinsic
def _float32_from_bits(typingctx, bits):
    """Reinterpret an int32 as the float32 with the same bits (no conversion)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@numba.njit(**_JIT)
def _exp_neg32(u):
    """e^(-u) for float32 0 <= u <= 87, branch-free."""
    n = np.int32(u * _INV_LN2 + _HALF)
    nf = f32(n)
    r = (u - nf * _LN2_HI) - nf * _LN2_LO
    p = _E6 - r * _E7
    p = _E5 - r * p
    p = _E4 - r * p
    p = _E3 - r * p
    p = _E2 - r * p
    p = _ONE - r * p
    p = _ONE - r * p
    return p * _float32_from_bits(np.int32((127 - n) << 23))


@overload(tanh, jit_options=_JIT)
def _tanh_impl(x):
    if x == types.float32:

        def tanh32(x):
            ax = min(abs(x), _TANH_CLAMP)
            e = _exp_neg32(_TWO * ax)
            big = (_ONE - e) / (_ONE + e)
            big = big if x >= 0 else -big
            s = x * x
            poly = _T15 + s * _T17
            poly = _T13 + s * poly
            poly = _T11 + s * poly
            poly = _T9 + s * poly
            poly = _T7 + s * poly
            poly = _T5 + s * poly
            poly = _T3 + s * poly
            small = x + x * (s * poly)
            return small if ax < _SMALL else big

        return tanh32
    if isinstance(x, types.Float):
        return lambda x: math.tanh(x)
    return None


@overload(sigmoid, jit_options=_JIT)
def _sigmoid_impl(x):
    if x == types.float32:

        def sigmoid32(x):
            e = _exp_neg32(min(abs(x), _SIGMOID_CLAMP))
            return (_ONE if x >= 0 else e) / (_ONE + e)

        return sigmoid32
    if isinstance(x, types.Float):

        def sigmoid64(x):
            e = math.exp(-abs(x))
            return (1.0 if x >= 0 else e) / (1.0 + e)

        return sigmoid64
    return None

"""512-bit vector loops in the kernels that ask for them (``wide_vectors()``).

On AVX-512 machines LLVM vectorises loops 256 bits wide unless told otherwise: the CPU models
of this machine kind carry the tuning flag ``prefer-256-bit`` (wide instructions once lowered
the clock of older Xeons), and Numba passes the host's model and flags to LLVM unchanged. The
kernels' pointwise loops are bound by arithmetic (the activations' polynomials and divisions),
so twice the lanes pays. On the 2-core benchmark machine, 512 against 256 bits: a sigmoid over
a row of 256 elements 0.36 against 0.50 ns an element, tanh 0.60 against 0.98; the LSTM
forward's gate loops at (50,64,32,128) 1.6 against 2.2 ms; whole kernels, interleaved in one
process, forward 0.87-0.98x and forward+backward 0.91-1.02x the time from (50,16,32,64) up.

Numba has no option for it, and setting LLVM's CPU features process-wide
(``NUMBA_CPU_FEATURES=-prefer-256-bit``) would change every other Numba function in the
user's program as well. So each kernel calls :func:`wide_vectors` first: it compiles to no
instruction and puts LLVM's ``prefer-vector-width`` attribute on the function that calls it, so
that the loops written in that function are vectorised 512 bits wide where the CPU has AVX-512
(elsewhere the widest registers there are, as before). The attribute alone does it: the LSTM
forward kernel's activation loops divide 16 lanes at a time with it and 8 without, and
``min-legal-vector-width`` alone changed nothing.

The price is at very short rows: a loop of 8 float32 elements has no full 16-lane iteration
and runs its remainder (measured 1.6 against 0.8 ns an element), a few nanoseconds per loop at
hidden size 8, where a call's fixed cost is tens of microseconds (whole kernels at the small
sizes measured 0.96-1.01x).
"""

from __future__ import annotations

from numba import types
from numba.extending import intrinsic

__all__ = ["WIDTH_ATTRIBUTES", "wide_vectors"]

# LLVM string attributes of a function (LangRef, "Function Attributes"): the vector width the
# vectorisers should aim for in it.
WIDTH_ATTRIBUTES = ('"prefer-vector-width"="512"',)


@intrinsic
def wide_vectors(typingctx):
    """Vectorise the calling kernel's own loops 512 bits wide (see the module docstring)."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        attributes = builder.function.attributes
        for attribute in WIDTH_ATTRIBUTES:
            # llvmlite's attribute set accepts only LLVM's keyword attributes by name; a string
            # attribute is written into the IR as given, so it goes in as a set element.
            set.add(attributes, attribute)
        return context.get_dummy_value()

    return sig, codegen

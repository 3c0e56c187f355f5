"""The Numba kernels (rnnlab.kernels.cpu) against the reference cells, and backend dispatch."""

from __future__ import annotations

import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnlab import GRULayer, LSTMLayer, RNNLayer, cells, kernels
from rnnlab.kernels.cpu import config, gru, lstm, rnn
from rnnlab.kernels.cpu.activations import sigmoid, tanh
from rnnlab.kernels.cpu.workspace import WorkspacePool
from tests.conftest import rel_error

# Array-wise relative error bounds (max |fast - ref| / max |ref|): float32 is the rounding
# of a few hundred operations, float64 a few ulp of the same arithmetic in another order.
FLOAT32_RTOL = 1e-5
FLOAT64_RTOL = 1e-12
SETTINGS = settings(
    max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
VARIANTS = ["rnn", "lstm", "gru", "gru_reset_after"]


def make_problem(variant, T, B, I, H, dtype, seed):
    """Random parameters, inputs, states and upstream gradients for one cell variant."""
    rng = np.random.default_rng(seed)
    gates = {"rnn": 1, "lstm": 4, "gru": 3, "gru_reset_after": 3}[variant]

    def rand(*shape, scale=1.0):
        return (scale * rng.standard_normal(shape)).astype(dtype)

    p = {"x": rand(T, B, I), "h0": rand(B, H), "W": rand(gates * H, I, scale=0.6)}
    p |= {"U": rand(gates * H, H, scale=0.8 / np.sqrt(H)), "b": rand(gates * H, scale=0.3)}
    p |= {"C0": rand(B, H), "b_hn": rand(H, scale=0.3)}
    p |= {"dh": rand(T, B, H), "dh_final": rand(B, H), "dC_final": rand(B, H)}
    return p


def run_forward(variant, module, p):
    opt = {"lengths": p["lengths"]} if p.get("lengths") is not None else {}
    if variant == "rnn":
        return module.rnn_forward(p["x"], p["h0"], p["W"], p["U"], p["b"], **opt)
    if variant == "lstm":
        return module.lstm_forward(p["x"], p["h0"], p["C0"], p["W"], p["U"], p["b"], **opt)
    b_hn = p["b_hn"] if variant == "gru_reset_after" else None
    return module.gru_forward(p["x"], p["h0"], p["W"], p["U"], p["b"], b_hn, **opt)


def run_backward(variant, module, p, cache):
    """Flat tuple of every gradient the backward returns."""
    opt = {"lengths": p["lengths"]} if p.get("lengths") is not None else {}
    if variant == "rnn":
        dx, dh0, grads = module.rnn_backward(p["dh"], p["dh_final"], cache, p["W"], p["U"], **opt)
        return (dx, dh0, *grads)
    if variant == "lstm":
        dx, dh0, dC0, grads = module.lstm_backward(
            p["dh"], p["dh_final"], p["dC_final"], cache, p["W"], p["U"], **opt
        )
        return (dx, dh0, dC0, *grads)
    reset_after = variant == "gru_reset_after"
    dx, dh0, grads = module.gru_backward(
        p["dh"], p["dh_final"], cache, p["W"], p["U"], reset_after, **opt
    )
    return (dx, dh0, *grads)


FAST = {"rnn": rnn, "lstm": lstm, "gru": gru, "gru_reset_after": gru}


def check_parity(variant, T, B, I, H, dtype, seed, lengths=None):
    rtol = FLOAT32_RTOL if dtype == np.float32 else FLOAT64_RTOL
    p = make_problem(variant, T, B, I, H, dtype, seed) | {"lengths": lengths}
    fast = FAST[variant]
    h_ref, cache_ref = run_forward(variant, cells, p)
    h_fast, cache_fast = run_forward(variant, fast, p)
    assert type(cache_fast) is type(cache_ref)
    for name, a, e in zip(cache_ref._fields, cache_fast, cache_ref, strict=True):
        assert a.dtype == e.dtype, name
        assert rel_error(a, e) <= rtol, (name, rel_error(a, e))
    assert rel_error(h_fast, h_ref) <= rtol
    expected = run_backward(variant, cells, p, cache_ref)
    pairings = {
        "fast/fast": run_backward(variant, fast, p, cache_fast),
        "fast forward/reference backward": run_backward(variant, cells, p, cache_fast),
        "reference forward/fast backward": run_backward(variant, fast, p, cache_ref),
    }
    for pairing, got in pairings.items():
        assert len(got) == len(expected)
        for k, (a, e) in enumerate(zip(got, expected, strict=True)):
            assert a.shape == e.shape, (pairing, k)
            assert a.dtype == e.dtype, (pairing, k)
            assert rel_error(a, e) <= rtol, (pairing, k, rel_error(a, e))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@SETTINGS
@given(
    T=st.integers(1, 6),
    B=st.integers(1, 4),
    I=st.integers(1, 5),
    H=st.integers(1, 9),
    seed=st.integers(0, 2**16),
)
def test_parity_small_loop_path(variant, dtype, T, B, I, H, seed):
    """Hand-written recurrent product (small H): every output and gradient, all pairings."""
    check_parity(variant, T, B, I, H, dtype, seed)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@SETTINGS
@given(data=st.data(), T=st.integers(1, 7), B=st.integers(1, 4), H=st.integers(1, 9))
def test_parity_padded_batches(variant, dtype, data, T, B, H):
    """Masked kernels (lengths) against the reference: outputs, cache, every gradient."""
    lengths = data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B))
    I, seed = data.draw(st.integers(1, 5)), data.draw(st.integers(0, 2**16))
    check_parity(variant, T, B, I, H, dtype, seed, np.array(lengths))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("paths", [(True, True), (False, False)])
def test_parity_padded_each_matmul_path(variant, paths, monkeypatch):
    monkeypatch.setattr(FAST[variant], "use_blas", lambda *args: paths)
    check_parity(variant, 6, 5, 3, 7, np.float64, seed=11, lengths=np.array([6, 1, 3, 6, 2]))


@pytest.mark.parametrize(("cls", "extra"), [(RNNLayer, {}), (LSTMLayer, {}), (GRULayer, {})])
@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_all_lengths_equal_to_T_is_bit_for_bit_unmasked(cls, extra, backend):
    """docs/sequences.md's claim, for both backends: the same machine code runs either way."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 3, 2)).astype(np.float32)
    layers = [cls(2, 5, 3, seed=2, backend=backend, **extra) for _ in range(2)]
    y_plain, y_masked = layers[0](x), layers[1](x, lengths=[6, 6, 6])
    assert layers[1]._impl.name == ("numba" if backend == "auto" else "reference")
    np.testing.assert_array_equal(y_plain, y_masked)
    dy = rng.standard_normal(y_plain.shape).astype(np.float32)
    np.testing.assert_array_equal(layers[0].backward(dy), layers[1].backward(dy))
    np.testing.assert_array_equal(layers[0]._flat_grad, layers[1]._flat_grad)
    np.testing.assert_array_equal(
        np.asarray(layers[0].final_state), np.asarray(layers[1].final_state)
    )


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("paths", [(True, True), (False, False), (False, True)])
def test_parity_each_matmul_path(variant, dtype, paths, monkeypatch):
    """Both implementations of each product (BLAS and loop, per-step and one-shot)."""
    monkeypatch.setattr(FAST[variant], "use_blas", lambda *args: paths)
    check_parity(variant, 4, 3, 5, 7, dtype, seed=7)  # odd sizes: the 2x2 tiles' remainders


def _unpacked_step(A, M, out, backward):
    """A kernel's per-step product on the loop path, out = A · Mᵀ: the operand step_operand
    makes from the stored weights (M forward, Mᵀ backward), then recurrent_step on it."""
    from rnnlab.kernels.cpu import matmul

    unpacked = np.empty(0, np.uint8)
    U = np.ascontiguousarray(M.T) if backward else M
    operand = matmul.step_operand(U, backward, unpacked, False, A.shape[0])
    matmul.recurrent_step(A, operand, unpacked, out, False)


PRODUCTS = ["matmul_nt", "matmul_short_inner", "step_forward", "step_backward"]


@pytest.mark.parametrize("name", PRODUCTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@SETTINGS
@given(R=st.integers(1, 11), K=st.integers(1, 40), N=st.integers(1, 40), seed=st.integers(0, 99))
def test_hand_written_products_against_numpy(name, dtype, R, K, N, seed):
    """The loops out = A · Mᵀ against NumPy: ``matmul_nt`` over row counts around its 4 × 2
    tiles, ``matmul_short_inner`` (the projection of a few input features) over widths around
    its vectors, and a kernel's per-step product (forward and backward) on whichever operand
    step_operand chose: sums of rows of Mᵀ or dot products, on either side of the rule."""
    from rnnlab.kernels.cpu import matmul

    if name == "matmul_short_inner":
        K = min(K, matmul.SHORT_INNER)
    rng = np.random.default_rng(seed)
    A, M = rng.standard_normal((R, K)).astype(dtype), rng.standard_normal((N, K)).astype(dtype)
    out = np.full((R, N), np.nan, dtype)
    if name.startswith("step_"):
        _unpacked_step(A, M, out, backward=name == "step_backward")
    else:
        getattr(matmul, name)(A, M, out)
    expected = A.astype(np.float64) @ M.astype(np.float64).T
    assert rel_error(out, expected) <= (FLOAT32_RTOL if dtype == np.float32 else FLOAT64_RTOL)


def test_use_blas_thresholds():
    small = config.use_blas((10, 1, 1), 8, 4)
    assert small == (False, False)
    big = config.use_blas((50, 64, 32), config.STEP_BLAS_MIN_HIDDEN, 4)
    assert big == (True, True)
    # a single sequence's weight gradients go to BLAS in the backward, not its projection
    assert config.use_blas((50, 1, 8), 32, 4) == (False, False)
    assert config.use_blas((50, 1, 8), 32, 4, True) == (False, True)
    assert config.use_blas((10, 1, 1), 8, 4, True) == (False, False)


# ----------------------------------------------------------------------------- activations
# not cached: a cache file beside a test module goes stale when the tests package moves
@numba.njit(**(config.NJIT_OPTIONS | {"cache": False}))
def _apply_activations(x, out_tanh, out_sigmoid):
    for k in range(x.shape[0]):
        out_tanh[k] = tanh(x[k])
        out_sigmoid[k] = sigmoid(x[k])


def _activation_errors(x):
    out_tanh, out_sigmoid = np.empty_like(x), np.empty_like(x)
    _apply_activations(x, out_tanh, out_sigmoid)
    xd = x.astype(np.float64)
    e = np.exp(-np.abs(xd))
    exact = {"tanh": np.tanh(xd), "sigmoid": np.where(xd >= 0, 1.0, e) / (1.0 + e)}
    got = {"tanh": out_tanh, "sigmoid": out_sigmoid}
    return {k: got[k].astype(np.float64) - exact[k] for k in exact}, exact


def test_float32_activations_within_three_ulp():
    """Dense grid over every regime: tiny, the series/exp switch at 1/2, saturation, underflow.

    NumPy's own float32 tanh is off by up to ~1.4 ulp; the kernels' by up to ~2.3 (measured).
    """
    x = np.concatenate(
        [
            np.linspace(-12.0, 12.0, 400_001, dtype=np.float32),
            np.linspace(-0.6, 0.6, 100_001, dtype=np.float32),
            np.geomspace(1e-30, 1e-3, 2_001).astype(np.float32),
            np.linspace(-120.0, 120.0, 20_001, dtype=np.float32),
        ]
    )
    x = np.concatenate([x, -x])
    errors, exact = _activation_errors(x)
    normal = {"tanh": np.ones(x.shape, bool), "sigmoid": x >= -87.0}
    for name, err in errors.items():
        ulp = np.spacing(np.abs(exact[name]).astype(np.float32)).astype(np.float64)
        assert np.max(np.abs(err[normal[name]]) / ulp[normal[name]]) <= 3.0, name
        # below σ(-87) the exact value is subnormal in float32: absolute error only
        assert np.max(np.abs(err[~normal[name]]), initial=0.0) <= 2e-38, name
    assert np.max(np.abs(errors["tanh"])) <= 1.2e-7


def test_float64_activations_match_libm():
    x = np.linspace(-40.0, 40.0, 20_001)
    errors, exact = _activation_errors(x)
    for name, err in errors.items():
        assert np.max(np.abs(err) / np.maximum(np.abs(exact[name]), 1e-300)) <= 4e-16, name


# ----------------------------------------------------------------------------- dispatch
LAYERS = [(RNNLayer, {}), (LSTMLayer, {}), (GRULayer, {}), (GRULayer, {"reset_after": True})]


@pytest.mark.parametrize(("cls", "extra"), LAYERS)
def test_auto_backend_runs_numba_and_matches_reference(cls, extra, monkeypatch):
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 2, 3))
    fast = cls(3, 4, 2, dtype=np.float64, seed=1, **extra)
    ref = cls(3, 4, 2, dtype=np.float64, seed=1, backend="reference", **extra)
    y_fast, y_ref = fast(x), ref(x)
    assert fast._impl.name == "numba"
    assert ref._impl.name == "reference"
    assert rel_error(y_fast, y_ref) <= FLOAT64_RTOL
    dy = rng.standard_normal(y_ref.shape)
    assert rel_error(fast.backward(dy), ref.backward(dy)) <= FLOAT64_RTOL
    for name in ref.grads:
        assert rel_error(fast.grads[name], ref.grads[name]) <= FLOAT64_RTOL, name


def test_environment_variable_forces_reference(monkeypatch):
    layer = LSTMLayer(2, 3, seed=0)
    monkeypatch.setenv(kernels.ENV_VAR, "reference")
    layer(np.ones((2, 1, 2), np.float32))
    assert layer._impl.name == "reference"
    monkeypatch.setenv(kernels.ENV_VAR, "auto")
    layer(np.ones((2, 1, 2), np.float32))
    assert layer._impl.name == "numba"
    monkeypatch.setenv(kernels.ENV_VAR, "fortran")
    with pytest.raises(ValueError, match="RNNLAB_BACKEND"):
        layer(np.ones((2, 1, 2), np.float32))


def test_backend_argument_is_checked():
    assert kernels.select("gru", "numba", "cpu").name == "numba"
    assert kernels.select("gru", "auto", "cuda").name == "reference"
    with pytest.raises(ValueError, match="CPU only"):
        kernels.select("gru", "numba", "cuda")
    with pytest.raises(ValueError, match="backend"):
        RNNLayer(2, 3, backend="fast")


def test_import_compiles_nothing():
    code = (
        "import sys, rnnlab; print('numba' in sys.modules or 'rnnlab.kernels.cpu' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- workspaces
def test_pool_never_hands_out_a_buffer_in_use():
    pool = WorkspacePool()
    a = pool.take("k", (3, 4), np.float32)
    view = a[1:]
    del a
    b = pool.take("k", (3, 4), np.float32)
    assert not np.shares_memory(b, view)  # the view keeps the first buffer alive
    del view, b
    c = pool.take("k", (3, 4), np.float32)
    assert pool.nbytes() == 2 * c.nbytes  # reused, no third buffer


def test_layer_cache_survives_other_forwards():
    """Two layers of one shape share pooled buffers only once a cache is dropped."""
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((2, 4, 3, 5))
    first, second = LSTMLayer(5, 6, seed=0), LSTMLayer(5, 6, seed=1)
    first(x1)
    C_before = first.cell_states.copy()
    second(x2)
    first(x1)
    second(x2)
    np.testing.assert_array_equal(first.cell_states, C_before)
    ref = LSTMLayer(5, 6, seed=0, backend="reference")
    ref(x1)
    np.testing.assert_allclose(first.cell_states, ref.cell_states, rtol=1e-5, atol=1e-6)


def _scaled_copy(dst, src):
    for j in range(dst.shape[0]):
        dst[j] = src[j] * np.float32(0.5)


def test_wide_vectors_marks_the_calling_function_and_nothing_else():
    """The kernels ask LLVM for 512-bit loops with a call that compiles to no instruction
    (vector_width.py): the attributes must land on the calling function, be absent from a
    function that does not call it, and leave its results unchanged."""
    from rnnlab.kernels.cpu.vector_width import WIDTH_ATTRIBUTES, wide_vectors

    def wide(dst, src):
        wide_vectors()
        _scaled_copy_jit(dst, src)

    _scaled_copy_jit = numba.njit(_scaled_copy)
    wide_jit, narrow_jit = numba.njit(wide), numba.njit(_scaled_copy)
    src = np.arange(100, dtype=np.float32)
    out_wide, out_narrow = np.empty_like(src), np.empty_like(src)
    wide_jit(out_wide, src)
    narrow_jit(out_narrow, src)
    np.testing.assert_array_equal(out_wide, src * np.float32(0.5))
    np.testing.assert_array_equal(out_narrow, out_wide)
    wide_ir = next(iter(wide_jit.inspect_llvm().values()))
    narrow_ir = next(iter(narrow_jit.inspect_llvm().values()))
    for attribute in WIDTH_ATTRIBUTES:
        assert attribute in wide_ir
        assert attribute not in narrow_ir


def test_kernels_loops_are_512_bits_wide_on_avx512(tmp_path):
    """Where the CPU has AVX-512 the LSTM forward kernel's activation loops divide 16 lanes at a
    time, in its 512-bit registers (LLVM's tuning for these CPUs keeps auto-vectorised loops at
    256 bits otherwise); where it has not, no such division appears."""
    import llvmlite.binding as llvm

    script = (
        "import numpy as np, re\n"
        "from rnnlab.kernels.cpu import lstm\n"
        "x = np.ones((3, 2, 4), np.float32); h0 = np.zeros((2, 32), np.float32)\n"
        "W = np.ones((128, 4), np.float32); U = np.ones((128, 32), np.float32)\n"
        "lstm.lstm_forward(x, h0, h0, W, U, np.zeros(128, np.float32))\n"
        "asm = next(iter(lstm._forward_kernel.inspect_asm().values()))\n"
        "print(len(re.findall(r'vdivps[^\\n]*%zmm', asm)))\n"
    )
    # a fresh process with an empty cache directory: Numba inspects freshly compiled code only
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"NUMBA_CACHE_DIR": str(tmp_path)},
    )
    wide_divisions = int(out.stdout.strip().splitlines()[-1])
    # the features Numba compiles for: NUMBA_CPU_FEATURES where set, else the host's
    features = numba.config.CPU_FEATURES or llvm.get_host_cpu_features().flatten()
    has_avx512 = "+avx512f" in features.split(",")
    assert (wide_divisions > 0) == has_avx512, (wide_divisions, has_avx512)

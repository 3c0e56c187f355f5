"""Losses and their gradients against torch.nn.functional and central differences, float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnlab.losses import cross_entropy, mse
from tests.conftest import GRADCHECK_EPS as FD_EPS
from tests.conftest import GRADCHECK_RTOL as FD_TOL

TOL = 1e-12  # the bar for losses against PyTorch in float64 (loss and gradient)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _fd_check(fn, x, dx):
    """Central differences of the scalar fn at x against dx, on every entry."""
    num = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + FD_EPS
        up = fn(x)
        x[idx] = old - FD_EPS
        down = fn(x)
        x[idx] = old
        num[idx] = (up - down) / (2 * FD_EPS)
    err = np.abs(num - dx).max() / max(np.abs(num).max(), np.abs(dx).max(), 1e-12)
    assert err < FD_TOL


@pytest.mark.parametrize("shape", [(5,), (4, 3), (6, 2, 3)])
def test_mse_matches_torch(shape):
    rng = _rng()
    y, t = rng.normal(size=shape), rng.normal(size=shape)
    loss, dy = mse(y, t)
    yt = torch.tensor(y, requires_grad=True)
    ref = F.mse_loss(yt, torch.tensor(t))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=TOL)
    np.testing.assert_allclose(dy, yt.grad.numpy(), rtol=TOL, atol=TOL)
    _fd_check(lambda v: mse(v, t)[0], y.copy(), dy)


@pytest.mark.parametrize("per_vector", [True, False])
def test_masked_mse_is_the_mean_over_selected_entries(per_vector):
    rng = _rng(1)
    y, t = rng.normal(size=(6, 3, 2)), rng.normal(size=(6, 3, 2))
    mask = rng.random((6, 3) if per_vector else (6, 3, 2)) < 0.5
    loss, dy = mse(y, t, mask)
    full = np.broadcast_to(mask[..., None], y.shape) if per_vector else mask
    yt = torch.tensor(y, requires_grad=True)
    m = torch.tensor(np.ascontiguousarray(full))
    ref = F.mse_loss(yt[m], torch.tensor(t)[m])
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=TOL)
    np.testing.assert_allclose(dy, yt.grad.numpy(), rtol=TOL, atol=TOL)
    assert not dy[~full].any()
    y_junk = y.copy()
    y_junk[~full] = 1e3  # what is masked out cannot change the loss
    assert mse(y_junk, t, mask)[0] == loss


@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("with_weights", [False, True])
def test_cross_entropy_matches_torch(with_mask, with_weights):
    rng = _rng(2)
    C = 5
    z = rng.normal(size=(7, 3, C)) * 4
    labels = rng.integers(0, C, size=(7, 3))
    mask = rng.random((7, 3)) < 0.6 if with_mask else None
    w = rng.uniform(0.2, 2.0, C) if with_weights else None
    loss, dz = cross_entropy(z, labels, mask=mask, class_weights=w)
    zt = torch.tensor(z, requires_grad=True)
    m = torch.tensor(mask) if with_mask else torch.ones(7, 3, dtype=torch.bool)
    weight = torch.tensor(w) if with_weights else None
    ref = F.cross_entropy(zt[m], torch.tensor(labels)[m], weight=weight)
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=TOL)
    np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=TOL, atol=TOL)
    _fd_check(lambda v: cross_entropy(v, labels, mask, w)[0], z.copy(), dz)


def test_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1e4, 0.0, -1e4], [-5e3, 5e3, 5e3]])
    labels = np.array([1, 2])
    loss, dz = cross_entropy(z, labels)
    zt = torch.tensor(z, requires_grad=True)
    ref = F.cross_entropy(zt, torch.tensor(labels))
    ref.backward()
    assert np.isfinite(loss)
    assert loss == pytest.approx(ref.item(), rel=TOL)
    np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=TOL, atol=TOL)


def test_cross_entropy_accepts_1d_and_unsigned_labels():
    z = _rng(3).normal(size=(4,))
    loss, _ = cross_entropy(z, np.array(2, dtype=np.uint8))
    ref = F.cross_entropy(torch.tensor(z)[None], torch.tensor([2]))
    assert loss == pytest.approx(ref.item(), rel=TOL)


def test_loss_errors_name_the_argument():
    y = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"target: expected the shape of y \(3, 2\)"):
        mse(y, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="target: expected finite"):
        mse(y, np.full((3, 2), np.nan))
    with pytest.raises(TypeError, match="mask: expected a boolean"):
        mse(y, y, mask=np.ones((3, 2)))
    with pytest.raises(ValueError, match="mask: expected shape"):
        mse(y, y, mask=np.ones((2,), bool))
    with pytest.raises(ValueError, match="mask: selects no entries"):
        mse(y, y, mask=np.zeros((3,), bool))
    z = np.zeros((3, 4))
    with pytest.raises(
        ValueError, match=r"labels: expected values in \[0, 4\).*got 4 at index \(1,\)"
    ):
        cross_entropy(z, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="got -1"):
        cross_entropy(z, np.array([0, -1, 1]))
    with pytest.raises(TypeError, match="labels: expected integer"):
        cross_entropy(z, np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"labels: expected shape \(3,\)"):
        cross_entropy(z, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"class_weights: expected shape \(4,\)"):
        cross_entropy(z, np.array([0, 1, 2]), class_weights=np.ones(3))
    with pytest.raises(ValueError, match="class_weights: expected finite non-negative"):
        cross_entropy(z, np.array([0, 1, 2]), class_weights=-np.ones(4))
    with pytest.raises(TypeError, match="logits: expected a floating"):
        cross_entropy(np.zeros((3, 4), int), np.array([0, 1, 2]))


def test_mse_target_too_large_for_float32_y_is_named():
    """A float64 target that float32 cannot hold: said so, not an inf loss."""
    y = np.zeros((2, 3), np.float32)
    with pytest.raises(
        ValueError, match=r"target: values too large for float32: largest magnitude 1e\+300"
    ):
        mse(y, np.full((2, 3), 1e300))

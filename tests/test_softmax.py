"""Softmax over axis 1: fast kernel == NumPy reference, stability, gradient checks, PyTorch oracle."""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp

from scratchdream.layers import softmax
from scratchdream.layers.fast import softmax as fast_softmax

IMPLS = {"reference": softmax, "fast": fast_softmax}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_equals_reference(dtype):
    rng = np.random.default_rng(0)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    for shape in ((1, 1), (3, 10), (2, 1000), (2, 5, 3, 4), (4, 10, 32, 32)):  # the last: every thread
        z = (3 * rng.standard_normal(shape)).astype(dtype)
        p, cache = fast_softmax.softmax_forward(z)
        p_ref, cache_ref = softmax.softmax_forward(z)
        assert p.dtype == p_ref.dtype == dtype
        assert_close("softmax", p, p_ref, tol)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=10 * tol)
        dp = rng.standard_normal(shape).astype(dtype)
        dz, dz_ref = fast_softmax.softmax_backward(dp, cache), softmax.softmax_backward(dp, cache_ref)
        assert_close("softmax backward", dz, dz_ref, tol)


@pytest.mark.parametrize("impl", IMPLS)
def test_large_logits_do_not_overflow(impl):
    p, _ = IMPLS[impl].softmax_forward(np.array([[1000.0, 999.0, -1000.0]], np.float32))
    assert np.all(np.isfinite(p))
    assert_close("softmax large", p, [[1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)), 0.0]], 1e-6)


@pytest.mark.parametrize("impl", IMPLS)
def test_gradient(impl):
    layer, rng = IMPLS[impl], np.random.default_rng(1)
    for shape in ((3, 7), (2, 4, 2, 3)):
        z = rng.standard_normal(shape)
        p, cache = layer.softmax_forward(z)
        dp = rng.standard_normal(shape)
        num = numerical_vjp(lambda a: layer.softmax_forward(a)[0], z, dp)
        assert_close("softmax dz", layer.softmax_backward(dp, cache), num, 1e-6)


@pytest.mark.parametrize("impl", IMPLS)
def test_matches_torch(impl, torch):
    rng = np.random.default_rng(2)
    z, dp = rng.standard_normal((4, 9)), rng.standard_normal((4, 9))
    t = torch.tensor(z, requires_grad=True)
    tp = torch.softmax(t, dim=1)
    tp.backward(torch.tensor(dp))
    p, cache = IMPLS[impl].softmax_forward(z)
    assert_close("softmax vs torch", p, tp.detach().numpy(), 1e-14)
    assert_close("softmax dz vs torch", IMPLS[impl].softmax_backward(dp, cache), t.grad.numpy(), 1e-14)

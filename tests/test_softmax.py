"""Softmax over axis 1: kernel == NumPy reference, stability, gradient check, PyTorch oracle."""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp

from scratchdream.layers import softmax


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_reference(dtype):
    rng = np.random.default_rng(0)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    for shape in ((1, 1), (3, 10), (2, 1000), (2, 5, 3, 4), (4, 10, 32, 32)):  # the last: every thread
        z = (3 * rng.standard_normal(shape)).astype(dtype)
        p, cache = softmax.softmax_forward(z)
        assert p.dtype == dtype
        assert_close("softmax", p, softmax._softmax_ref(z), tol)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=10 * tol)
        dp = rng.standard_normal(shape).astype(dtype)
        assert_close(
            "softmax backward", softmax.softmax_backward(dp, cache), softmax._softmax_backward_ref(dp, p), tol
        )


def test_large_logits_do_not_overflow():
    p, _ = softmax.softmax_forward(np.array([[1000.0, 999.0, -1000.0]], np.float32))
    assert np.all(np.isfinite(p))
    assert_close("softmax large", p, [[1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)), 0.0]], 1e-6)


def test_gradient():
    rng = np.random.default_rng(1)
    for shape in ((3, 7), (2, 4, 2, 3)):
        z = rng.standard_normal(shape)
        p, cache = softmax.softmax_forward(z)
        dp = rng.standard_normal(shape)
        num = numerical_vjp(lambda a: softmax.softmax_forward(a)[0], z, dp)
        assert_close("softmax dz", softmax.softmax_backward(dp, cache), num, 1e-6)


def test_matches_torch(torch):
    rng = np.random.default_rng(2)
    z, dp = rng.standard_normal((4, 9)), rng.standard_normal((4, 9))
    t = torch.tensor(z, requires_grad=True)
    tp = torch.softmax(t, dim=1)
    tp.backward(torch.tensor(dp))
    p, cache = softmax.softmax_forward(z)
    assert_close("softmax vs torch", p, tp.detach().numpy(), 1e-14)
    assert_close("softmax dz vs torch", softmax.softmax_backward(dp, cache), t.grad.numpy(), 1e-14)

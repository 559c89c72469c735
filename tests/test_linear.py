"""Flatten and fully connected: the product == a plain loop, gradient checks, PyTorch oracle. (The fast
kernel set uses this NumPy module as it is: one BLAS product is already the fast path.)"""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp

from scratchdream.errors import UserError
from scratchdream.layers import linear
from scratchdream.layers.kernel_sets import fast_kernels


def test_fast_kernel_set_uses_the_reference():
    assert fast_kernels().linear is linear


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_product_equals_a_plain_loop(dtype):
    rng = np.random.default_rng(0)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    for N, In, M, bias in ((1, 1, 1, True), (3, 17, 5, True), (2, 64, 10, False)):
        x, w = rng.standard_normal((N, In)).astype(dtype), rng.standard_normal((M, In)).astype(np.float32)
        b = rng.standard_normal(M).astype(np.float32) if bias else None
        y, cache = linear.linear_forward(x, w, b)
        assert y.dtype == dtype and y.shape == (N, M)
        # y[n, m] = b[m] + Σ_i w[m, i] x[n, i], one output at a time
        loop = np.array(
            [[np.sum(w[m].astype(dtype) * x[n]) + (b[m] if bias else 0) for m in range(M)] for n in range(N)]
        )
        assert_close("linear", y, loop, tol)


def test_flatten_round_trip():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    y, cache = linear.flatten_forward(x)
    assert y.shape == (2, 60) and linear.flatten_shape((3, 4, 5)) == (60,)
    np.testing.assert_array_equal(y[1], x[1].ravel())  # C, H, W order, as torch.flatten(x, 1)
    np.testing.assert_array_equal(linear.flatten_backward(y, cache), x)


def test_shapes_and_params():
    assert linear.linear_shape((60,), 7) == (7,)
    assert linear.linear_params((60,), 7) == {"weight": (7, 60), "bias": (7,)}
    assert linear.linear_params((3, 4, 5), 7, bias=False) == {"weight": (7, 60)}


def test_wrong_input_size_is_a_user_error():
    with pytest.raises(UserError, match="trained at"):
        linear.linear_forward(np.zeros((1, 5)), np.zeros((3, 6)), None)


def test_gradients():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((3, 8)), rng.standard_normal((5, 8)), rng.standard_normal(5)
    y, cache = linear.linear_forward(x, w, b)
    dy = rng.standard_normal(y.shape)
    dx, grads = linear.linear_backward(dy, cache, params=True)
    f = linear.linear_forward
    assert_close("linear dx", dx, numerical_vjp(lambda a: f(a, w, b)[0], x, dy), 1e-6)
    assert_close("linear dw", grads["weight"], numerical_vjp(lambda a: f(x, a, b)[0], w, dy), 1e-6)
    assert_close("linear db", grads["bias"], numerical_vjp(lambda a: f(x, w, a)[0], b, dy), 1e-6)
    assert_close("linear dx only", linear.linear_backward(dy, cache), dx, 1e-15)


def test_flatten_gradient():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 2, 4))
    y, cache = linear.flatten_forward(x)
    dy = rng.standard_normal(y.shape)
    num = numerical_vjp(lambda a: linear.flatten_forward(a)[0], x, dy)
    assert_close("flatten dx", linear.flatten_backward(dy, cache), num, 1e-6)


def test_matches_torch(torch):
    rng = np.random.default_rng(3)
    x, w, b, dy = (rng.standard_normal(s) for s in ((4, 12), (6, 12), (6,), (4, 6)))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.linear(tx, tw, tb)
    ty.backward(torch.tensor(dy))
    y, cache = linear.linear_forward(x, w, b)
    dx, grads = linear.linear_backward(dy, cache, params=True)
    assert_close("linear vs torch", y, ty.detach().numpy(), 1e-14)
    assert_close("linear dx vs torch", dx, tx.grad.numpy(), 1e-14)
    assert_close("linear dw vs torch", grads["weight"], tw.grad.numpy(), 1e-14)
    assert_close("linear db vs torch", grads["bias"], tb.grad.numpy(), 1e-14)

"""Batchnorm (inference form): fast kernel == NumPy reference, gradient checks, folding into a conv, torch."""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp

from scratchdream.layers import batchnorm, conv
from scratchdream.layers.fast import batchnorm as fast_batchnorm
from scratchdream.layers.geometry import Geometry

IMPLS = {"reference": batchnorm, "fast": fast_batchnorm}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_equals_reference(dtype):
    rng = np.random.default_rng(0)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    for shape in ((1, 1, 1, 1), (2, 5, 7, 3), (3, 4), (2, 8, 48, 47)):  # the last: every thread
        x = rng.standard_normal(shape).astype(dtype)
        scale = rng.standard_normal(shape[1]).astype(np.float32)
        shift = rng.standard_normal(shape[1]).astype(np.float32)
        y, cache = fast_batchnorm.batchnorm_forward(x, scale, shift)
        y_ref, cache_ref = batchnorm.batchnorm_forward(x, scale, shift)
        assert y.dtype == y_ref.dtype == dtype
        assert_close("bn", y, y_ref, tol)
        dy = rng.standard_normal(shape).astype(dtype)
        dx, grads = fast_batchnorm.batchnorm_backward(dy, cache, params=True)
        dx_ref, grads_ref = batchnorm.batchnorm_backward(dy, cache_ref, params=True)
        assert_close("bn dx", dx, dx_ref, tol)
        assert_close("bn dscale", grads["weight"], grads_ref["weight"], tol)
        assert_close("bn dshift", grads["bias"], grads_ref["bias"], tol)


@pytest.mark.parametrize("impl", IMPLS)
def test_gradients(impl):
    layer, rng = IMPLS[impl], np.random.default_rng(1)
    x, scale, shift = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal(3), rng.standard_normal(3)
    y, cache = layer.batchnorm_forward(x, scale, shift)
    dy = rng.standard_normal(y.shape)
    dx, grads = layer.batchnorm_backward(dy, cache, params=True)
    f = layer.batchnorm_forward
    assert_close("bn dx", dx, numerical_vjp(lambda a: f(a, scale, shift)[0], x, dy), 1e-6)
    assert_close("bn dscale", grads["weight"], numerical_vjp(lambda a: f(x, a, shift)[0], scale, dy), 1e-6)
    assert_close("bn dshift", grads["bias"], numerical_vjp(lambda a: f(x, scale, a)[0], shift, dy), 1e-6)
    assert_close("bn dx only", layer.batchnorm_backward(dy, cache), dx, 1e-15)


def test_fold_matches_torch_batchnorm(torch):
    rng = np.random.default_rng(2)
    C = 6
    gamma, beta, var = rng.uniform(0.5, 2, C), rng.standard_normal(C), rng.uniform(0.1, 3, C)
    mean, x = rng.standard_normal(C), rng.standard_normal((2, C, 5, 4))
    tx = torch.nn.functional.batch_norm(
        torch.tensor(x),
        torch.tensor(mean),
        torch.tensor(var),
        torch.tensor(gamma),
        torch.tensor(beta),
        training=False,
        eps=1e-3,
    )
    scale, shift = batchnorm.bn_fold(gamma, beta, mean, var, 1e-3)
    assert scale.dtype == np.float64  # rounded to float32 only when stored
    y, _ = batchnorm.batchnorm_forward(x, scale, shift)
    assert_close("bn_fold vs torch", y, tx.numpy(), 1e-14)


@pytest.mark.parametrize("bias", [True, False])
def test_fold_into_conv_equals_conv_then_bn(bias):
    rng = np.random.default_rng(3)
    geo = Geometry(3, 3, 2, 2, 1, 1, 1, 1)
    x = rng.standard_normal((2, 4, 9, 8))
    w = rng.standard_normal((5, 4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32) if bias else None
    scale, shift = batchnorm.bn_fold(
        rng.uniform(0.5, 2, 5), rng.standard_normal(5), rng.standard_normal(5), rng.uniform(0.1, 3, 5), 1e-5
    )
    z = conv.conv_forward(x, w.astype(np.float64), None if b is None else b.astype(np.float64), geo)[0]
    two_layers = batchnorm.batchnorm_forward(z, scale, shift)[0]
    w2, b2 = batchnorm.fold_into_conv(w, b, scale, shift)
    assert w2.dtype == np.float32 and w2.shape == w.shape and b2.shape == (5,)
    folded = conv.conv_forward(x, w2.astype(np.float64), b2.astype(np.float64), geo)[0]
    assert_close("conv+bn folded", folded, two_layers, 1e-6)  # float32 storage of w', b' bounds the error

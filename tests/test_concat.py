"""Channel concatenation: fast kernel == NumPy reference, backward splits, gradient check, shape errors."""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp

from scratchdream.errors import UserError
from scratchdream.layers import concat
from scratchdream.layers.fast import concat as fast_concat

IMPLS = {"reference": concat, "fast": fast_concat}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_equals_reference(dtype):
    rng = np.random.default_rng(0)
    for N, H, W, Cs in (
        (1, 7, 7, [4, 6, 4]),
        (2, 3, 5, [1, 1]),
        (3, 1, 1, [5]),
        (2, 9, 4, [3, 2, 7, 1]),
        (2, 33, 32, [8, 16, 4, 4]),
    ):  # the last one runs on every thread
        xs = [rng.standard_normal((N, C, H, W)).astype(dtype) for C in Cs]
        y, cache = fast_concat.concat_forward(xs)
        assert y.dtype == dtype and y.shape == (N, sum(Cs), H, W)
        np.testing.assert_array_equal(y, concat.concat_forward(xs)[0])
        assert concat.concat_shape([x.shape[1:] for x in xs]) == y.shape[1:]
        dy = rng.standard_normal(y.shape).astype(dtype)
        dxs, dxs_ref = fast_concat.concat_backward(dy, cache), concat.concat_backward(dy, cache)
        assert [d.shape for d in dxs] == [d.shape for d in dxs_ref] == [x.shape for x in xs]
        for dx, dx_ref in zip(dxs, dxs_ref):
            np.testing.assert_array_equal(dx, dx_ref)
        np.testing.assert_array_equal(np.concatenate(dxs, axis=1), dy)


@pytest.mark.parametrize("impl", IMPLS)
def test_flat_inputs(impl):
    a, b = np.ones((2, 3)), np.zeros((2, 4))
    y, cache = IMPLS[impl].concat_forward([a, b])
    np.testing.assert_array_equal(y, [[1, 1, 1, 0, 0, 0, 0]] * 2)


@pytest.mark.parametrize("impl", IMPLS)
def test_gradient(impl):
    layer, rng = IMPLS[impl], np.random.default_rng(1)
    xs = [rng.standard_normal((2, C, 3, 4)) for C in (2, 3, 1)]
    y, cache = layer.concat_forward(xs)
    dy = rng.standard_normal(y.shape)
    dxs = layer.concat_backward(dy, cache)
    for b in range(3):

        def f(a, b=b):
            return layer.concat_forward(xs[:b] + [a] + xs[b + 1 :])[0]

        assert_close(f"concat dx{b}", dxs[b], numerical_vjp(f, xs[b], dy), 1e-6)


@pytest.mark.parametrize("impl", IMPLS)
def test_mismatched_branches_are_a_user_error(impl):
    with pytest.raises(UserError, match="different sizes"):
        concat.concat_shape([(2, 7, 7), (3, 6, 7)])
    with pytest.raises(UserError, match="different sizes"):
        IMPLS[impl].concat_forward([np.zeros((1, 2, 7, 7)), np.zeros((1, 2, 6, 7))])


def test_fast_backward_refuses_a_gradient_of_another_width():
    _, cache = fast_concat.concat_forward([np.zeros((1, 2, 3, 3)), np.zeros((1, 3, 3, 3))])
    with pytest.raises(UserError, match="5 channels"):
        fast_concat.concat_backward(np.zeros((1, 4, 3, 3)), cache)

"""Channel concatenation: kernel == NumPy reference, backward splits, gradient check, shape errors."""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp

from scratchdream.errors import UserError
from scratchdream.layers import concat


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_reference(dtype):
    rng = np.random.default_rng(0)
    for N, H, W, Cs in (
        (1, 7, 7, [4, 6, 4]),
        (2, 3, 5, [1, 1]),
        (3, 1, 1, [5]),
        (2, 9, 4, [3, 2, 7, 1]),
        (2, 33, 32, [8, 16, 4, 4]),
    ):  # the last one runs on every thread
        xs = [rng.standard_normal((N, C, H, W)).astype(dtype) for C in Cs]
        y, cache = concat.concat_forward(xs)
        assert y.dtype == dtype and y.shape == (N, sum(Cs), H, W)
        np.testing.assert_array_equal(y, concat._concat_ref(xs))
        assert concat.concat_shape([x.shape[1:] for x in xs], {}) == y.shape[1:]
        dy = rng.standard_normal(y.shape).astype(dtype)
        dxs = concat.concat_backward(dy, cache)
        np.testing.assert_array_equal(np.concatenate(dxs, axis=1), dy)
        assert [d.shape for d in dxs] == [x.shape for x in xs]


def test_flat_inputs():
    a, b = np.ones((2, 3)), np.zeros((2, 4))
    y, cache = concat.concat_forward([a, b])
    np.testing.assert_array_equal(y, np.concatenate([a, b], axis=1))


def test_gradient():
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((2, C, 3, 4)) for C in (2, 3, 1)]
    y, cache = concat.concat_forward(xs)
    dy = rng.standard_normal(y.shape)
    dxs = concat.concat_backward(dy, cache)
    for b in range(3):

        def f(a, b=b):
            return concat.concat_forward(xs[:b] + [a] + xs[b + 1 :])[0]

        assert_close(f"concat dx{b}", dxs[b], numerical_vjp(f, xs[b], dy), 1e-6)


def test_mismatched_branches_are_a_user_error():
    with pytest.raises(UserError, match="different sizes"):
        concat.concat_shape([(2, 7, 7), (3, 6, 7)], {})
    with pytest.raises(UserError, match="different sizes"):
        concat.concat_forward([np.zeros((1, 2, 7, 7)), np.zeros((1, 2, 6, 7))])

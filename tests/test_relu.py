"""ReLU: fast kernel == NumPy reference, compact mask, gradient check away from the kink, thread helper."""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp

from scratchdream.errors import UserError
from scratchdream.layers import relu
from scratchdream.layers.fast import relu as fast_relu

IMPLS = {"reference": relu, "fast": fast_relu}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_equals_reference(dtype):
    rng = np.random.default_rng(0)
    for shape in ((1, 1, 1, 1), (2, 3, 7, 5), (3, 17), (1, 64, 33, 31)):
        x = rng.standard_normal(shape).astype(dtype)
        x.reshape(-1)[::7] = 0.0  # exact zeros: on the kink, mask says False
        x.reshape(-1)[::11] = np.nan  # a NaN passes nothing and becomes 0, in both
        y, mask = fast_relu.relu_forward(x)
        y_ref, mask_ref = relu.relu_forward(x)
        assert y.dtype == y_ref.dtype == dtype and mask.dtype == mask_ref.dtype == np.bool_
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(mask, mask_ref)
        dy = rng.standard_normal(shape).astype(dtype)
        np.testing.assert_array_equal(fast_relu.relu_backward(dy, mask), relu.relu_backward(dy, mask_ref))


@pytest.mark.parametrize("impl", IMPLS)
def test_forward_does_not_touch_input(impl):
    x = np.array([[-1.0, 2.0, -3.0]])
    IMPLS[impl].relu_forward(x)
    np.testing.assert_array_equal(x, [[-1.0, 2.0, -3.0]])


@pytest.mark.parametrize("impl", IMPLS)
def test_gradient(impl):
    layer, rng = IMPLS[impl], np.random.default_rng(1)
    # |x| >= 0.1 everywhere: a +/-1e-6 step never crosses the kink at 0
    x = rng.choice([-1.0, 1.0], size=(2, 3, 5, 4)) * rng.uniform(0.1, 2.0, size=(2, 3, 5, 4))
    y, mask = layer.relu_forward(x)
    dy = rng.standard_normal(y.shape)
    num = numerical_vjp(lambda a: layer.relu_forward(a)[0], x, dy)
    assert_close("relu dx", layer.relu_backward(dy, mask), num, 1e-6)


def test_fast_backward_refuses_a_gradient_of_another_shape():
    """The flat kernel reads mask[i] for every i of dy: a bigger dy would read past the mask (issue 15)."""
    _, mask = fast_relu.relu_forward(np.ones((1, 4, 8, 8), np.float32))
    with pytest.raises(UserError, match="dL/dy has shape"):
        fast_relu.relu_backward(np.ones((1, 4, 80, 80), np.float32), mask)


def test_small_arrays_run_on_one_thread_and_restore_the_count():
    import numba

    from scratchdream.layers.fast.threads import PARALLEL_MIN, parallel_if_large

    threads_inside = parallel_if_large(lambda a: numba.get_num_threads())
    before = numba.get_num_threads()
    assert threads_inside(np.zeros(10)) == 1
    assert threads_inside([np.zeros(10), np.zeros(PARALLEL_MIN)]) == before  # a list counts all its arrays
    assert threads_inside(np.zeros(PARALLEL_MIN)) == before
    assert numba.get_num_threads() == before

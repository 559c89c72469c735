"""ReLU: kernel == NumPy reference, compact mask, gradient check away from the kink."""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp

from scratchdream.layers import relu


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_reference(dtype):
    rng = np.random.default_rng(0)
    for shape in ((1, 1, 1, 1), (2, 3, 7, 5), (3, 17), (1, 64, 33, 31)):
        x = rng.standard_normal(shape).astype(dtype)
        x.reshape(-1)[::7] = 0.0  # exact zeros: on the kink, mask says False
        y, mask = relu.relu_forward(x)
        y_ref, mask_ref = relu._relu_ref(x)
        assert y.dtype == dtype and mask.dtype == np.bool_ and mask.shape == x.shape
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(mask, mask_ref)
        dy = rng.standard_normal(shape).astype(dtype)
        np.testing.assert_array_equal(relu.relu_backward(dy, mask), dy * mask_ref)


def test_forward_does_not_touch_input():
    x = np.array([[-1.0, 2.0, -3.0]])
    relu.relu_forward(x)
    np.testing.assert_array_equal(x, [[-1.0, 2.0, -3.0]])


def test_gradient():
    rng = np.random.default_rng(1)
    # |x| >= 0.1 everywhere: a +/-1e-6 step never crosses the kink at 0
    x = rng.choice([-1.0, 1.0], size=(2, 3, 5, 4)) * rng.uniform(0.1, 2.0, size=(2, 3, 5, 4))
    y, mask = relu.relu_forward(x)
    dy = rng.standard_normal(y.shape)
    num = numerical_vjp(lambda a: relu.relu_forward(a)[0], x, dy)
    assert_close("relu dx", relu.relu_backward(dy, mask), num, 1e-6)


def test_small_arrays_run_on_one_thread_and_restore_the_count():
    import numba

    from scratchdream.layers._threads import PARALLEL_MIN, parallel_if_large

    threads_inside = parallel_if_large(lambda a: numba.get_num_threads())
    before = numba.get_num_threads()
    assert threads_inside(np.zeros(10)) == 1
    assert threads_inside([np.zeros(10), np.zeros(PARALLEL_MIN)]) == before  # a list counts all its arrays
    assert threads_inside(np.zeros(PARALLEL_MIN)) == before
    assert numba.get_num_threads() == before

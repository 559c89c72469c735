"""Cross-channel LRN: fast kernel == NumPy reference, gradient checks, PyTorch oracle, Caffe's alpha/n."""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp

from scratchdream.errors import UserError
from scratchdream.layers import lrn
from scratchdream.layers.fast import lrn as fast_lrn

IMPLS = {"reference": lrn, "fast": fast_lrn}

# (size, alpha, beta, k): Caffe/bvlc_googlenet's 5/1e-4/0.75/1, strong settings so the nonlinearity is
# visible, an even window (PyTorch's off-centre convention) and a window wider than the channel count
SETTINGS = [
    (5, 1e-4, 0.75, 1.0),
    (5, 0.9, 0.75, 1.0),
    (3, 0.5, 0.6, 2.0),
    (4, 0.7, 1.2, 1.5),
    (9, 1.0, 0.75, 1.0),
    (1, 0.3, 0.5, 1.0),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_equals_reference(dtype):
    rng = np.random.default_rng(0)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    for setting, shape in zip(
        SETTINGS, [(2, 7, 5, 3), (1, 16, 9, 11), (2, 3, 4, 4), (1, 6, 1, 7), (2, 5, 3, 3), (1, 4, 2, 2)]
    ):
        x = (2 * rng.standard_normal(shape)).astype(dtype)
        y, cache = fast_lrn.lrn_forward(x, *setting)
        y_ref, cache_ref = lrn.lrn_forward(x, *setting)
        assert y.dtype == y_ref.dtype == dtype
        assert_close("lrn forward", y, y_ref, tol)
        assert_close("lrn scale", cache[1], cache_ref[1], tol)
        dy = rng.standard_normal(shape).astype(dtype)
        assert_close("lrn backward", fast_lrn.lrn_backward(dy, cache), lrn.lrn_backward(dy, cache_ref), tol)


@pytest.mark.parametrize("impl", IMPLS)
def test_alpha_is_divided_by_the_window_size(impl):
    # one pixel, channels (1, 2, 3), n = 3, alpha = 0.3, beta = 1, k = 1:
    # the middle channel's window holds all three
    x = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1)
    y, _ = IMPLS[impl].lrn_forward(x, 3, 0.3, 1.0, 1.0)
    assert np.isclose(y[0, 1, 0, 0], 2.0 / (1.0 + 0.3 / 3 * (1 + 4 + 9)))
    assert np.isclose(y[0, 0, 0, 0], 1.0 / (1.0 + 0.3 / 3 * (0 + 1 + 4)))  # channel -1 counts as zero


@pytest.mark.parametrize("impl", IMPLS)
def test_gradient(impl):
    layer, rng = IMPLS[impl], np.random.default_rng(1)
    for setting in SETTINGS[1:]:
        x = rng.standard_normal((2, 6, 3, 4))  # smooth everywhere: no kinks to avoid
        y, cache = layer.lrn_forward(x, *setting)
        dy = rng.standard_normal(y.shape)
        num = numerical_vjp(lambda a, s=setting: layer.lrn_forward(a, *s)[0], x, dy)
        assert_close(f"lrn dx {setting}", layer.lrn_backward(dy, cache), num, 1e-6)


@pytest.mark.parametrize("impl", IMPLS)
def test_matches_torch(impl, torch):
    layer, rng = IMPLS[impl], np.random.default_rng(2)
    for size, alpha, beta, k in SETTINGS:
        x, dy = 2 * rng.standard_normal((2, 10, 5, 6)), rng.standard_normal((2, 10, 5, 6))
        t = torch.tensor(x, requires_grad=True)
        ty = torch.nn.functional.local_response_norm(t, size, alpha, beta, k)
        ty.backward(torch.tensor(dy))
        y, cache = layer.lrn_forward(x, size, alpha, beta, k)
        assert_close(f"lrn vs torch n={size}", y, ty.detach().numpy(), 1e-12)
        assert_close(f"lrn dx vs torch n={size}", layer.lrn_backward(dy, cache), t.grad.numpy(), 1e-12)


@pytest.mark.parametrize("impl", IMPLS)
def test_empty_window_is_refused(impl):
    """n = 0 would divide alpha by zero inside the kernel: one line instead."""
    with pytest.raises(UserError, match="window size 0"):
        IMPLS[impl].lrn_forward(np.ones((1, 3, 2, 2)), 0, 1e-4, 0.75, 1.0)


def test_parallel_path_matches_reference():
    from scratchdream.layers.fast.threads import PARALLEL_MIN

    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 16, 40, 31)).astype(np.float32)
    assert x.size >= PARALLEL_MIN
    y, cache = fast_lrn.lrn_forward(x, 5, 0.5, 0.75, 1.0)
    y_ref, cache_ref = lrn.lrn_forward(x, 5, 0.5, 0.75, 1.0)
    assert_close("lrn parallel", y, y_ref, 2e-6)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    assert_close("lrn dx parallel", fast_lrn.lrn_backward(dy, cache), lrn.lrn_backward(dy, cache_ref), 2e-6)

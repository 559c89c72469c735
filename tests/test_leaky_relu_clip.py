"""Leaky ReLU and clip (ReLU6): fast kernel == NumPy reference, gradient checks away from the kinks, the
graph's layers against torch, a gradient of the wrong shape refused."""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp

from scratchdream.errors import UserError
from scratchdream.layers import clip, leaky_relu
from scratchdream.layers.fast import clip as fast_clip
from scratchdream.layers.fast import leaky_relu as fast_leaky_relu
from scratchdream.nets.graph import Net

LEAKY = {"reference": leaky_relu, "fast": fast_leaky_relu}
CLIP = {"reference": clip, "fast": fast_clip}
SHAPES = ((1, 1, 1, 1), (2, 3, 7, 5), (3, 17), (1, 64, 33, 31))


def _with_edges(x, *edges):
    """x with exact kinks and NaNs sprinkled in: both kernels must treat them alike."""
    flat = x.reshape(-1)
    for i, v in enumerate(edges):
        flat[i :: 7 + i] = v
    flat[::13] = np.nan
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_leaky_relu_equals_reference(dtype):
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        x = _with_edges(rng.standard_normal(shape).astype(dtype), 0.0)
        y, (mask, alpha) = fast_leaky_relu.leaky_relu_forward(x, 0.2)
        y_ref, (mask_ref, _) = leaky_relu.leaky_relu_forward(x, 0.2)
        assert y.dtype == y_ref.dtype == dtype and mask.dtype == mask_ref.dtype == np.bool_
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(mask, mask_ref)
        assert np.isnan(y).sum() == np.isnan(x).sum() > 0  # a NaN stays NaN (alpha · NaN)
        dy = rng.standard_normal(shape).astype(dtype)
        dx = fast_leaky_relu.leaky_relu_backward(dy, (mask, alpha))
        np.testing.assert_array_equal(dx, leaky_relu.leaky_relu_backward(dy, (mask_ref, 0.2)))
        np.testing.assert_allclose(dx[~mask], 0.2 * dy[~mask], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_clip_equals_reference(dtype):
    rng = np.random.default_rng(1)
    for shape in SHAPES:
        x = _with_edges((4 * rng.standard_normal(shape)).astype(dtype), 0.0, 6.0)
        y, mask = fast_clip.clip_forward(x, 0.0, 6.0)
        y_ref, mask_ref = clip.clip_forward(x, 0.0, 6.0)
        assert y.dtype == y_ref.dtype == dtype and mask.dtype == mask_ref.dtype == np.bool_
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(mask, mask_ref)
        assert (
            y[np.isnan(x)].max() == 0.0 and 0.0 <= y.min() and y.max() <= 6.0
        )  # a NaN became the lower bound
        dy = rng.standard_normal(shape).astype(dtype)
        np.testing.assert_array_equal(fast_clip.clip_backward(dy, mask), clip.clip_backward(dy, mask_ref))


@pytest.mark.parametrize("impl", LEAKY)
def test_leaky_relu_gradient(impl):
    layer, rng = LEAKY[impl], np.random.default_rng(2)
    # |x| >= 0.1: a +/-1e-6 step never crosses the kink at 0
    x = rng.choice([-1.0, 1.0], size=(2, 3, 5, 4)) * rng.uniform(0.1, 2.0, size=(2, 3, 5, 4))
    y, cache = layer.leaky_relu_forward(x, 0.2)
    dy = rng.standard_normal(y.shape)
    num = numerical_vjp(lambda a: layer.leaky_relu_forward(a, 0.2)[0], x, dy)
    assert_close("leaky_relu dx", layer.leaky_relu_backward(dy, cache), num, 1e-6)


@pytest.mark.parametrize("impl", CLIP)
def test_clip_gradient(impl):
    layer, rng = CLIP[impl], np.random.default_rng(3)
    # at least 0.1 from both kinks (0 and 6): values around each and between them
    x = rng.choice([-1.0, 1.0, 3.0, 5.0, 7.0], size=(2, 3, 5, 4)) + rng.uniform(-0.9, 0.9, size=(2, 3, 5, 4))
    y, mask = layer.clip_forward(x, 0.0, 6.0)
    assert 0 < mask.sum() < mask.size and (y == 6.0).any() and (y == 0.0).any()
    dy = rng.standard_normal(y.shape)
    num = numerical_vjp(lambda a: layer.clip_forward(a, 0.0, 6.0)[0], x, dy)
    assert_close("clip dx", layer.clip_backward(dy, mask), num, 1e-6)


@pytest.mark.parametrize("forward, backward", [
    (lambda x: fast_leaky_relu.leaky_relu_forward(x, 0.1), fast_leaky_relu.leaky_relu_backward),
    (lambda x: fast_clip.clip_forward(x, 0.0, 6.0), fast_clip.clip_backward),
])  # fmt: skip
def test_fast_backward_refuses_a_gradient_of_another_shape(forward, backward):
    _, cache = forward(np.ones((1, 4, 8, 8), np.float32))
    with pytest.raises(UserError, match="dL/dy has shape"):
        backward(np.ones((1, 4, 80, 80), np.float32), cache)


def _net(kind, hp):
    return Net({
        "name": kind,
        "input": {"order": "RGB", "scale": 1.0, "mean": [0, 0, 0], "std": [1, 1, 1]},
        "layers": [{"name": "conv", "kind": "conv", "inputs": ["data"], "hp": {"out": 4, "kernel": [3, 3]}},
                   {"name": "act", "kind": kind, "inputs": ["conv"], "hp": hp}],
    })  # fmt: skip


@pytest.mark.parametrize("kind, hp, twin", [
    ("leaky_relu", {"alpha": 0.2}, lambda F, a: F.leaky_relu(a, 0.2)),
    ("leaky_relu", {}, lambda F, a: F.leaky_relu(a, 0.01)),  # the default alpha
    ("clip", {"min": 0.0, "max": 6.0}, lambda F, a: F.relu6(a)),
    ("clip", {"min": -0.5, "max": 0.5}, lambda F, a: F.hardtanh(a, -0.5, 0.5)),
])  # fmt: skip
def test_graph_layer_matches_torch(torch, kind, hp, twin):
    """conv -> the layer in our graph, forward and input gradient in float64, against torch.nn.functional."""
    F, rng = torch.nn.functional, np.random.default_rng(4)
    net = _net(kind, hp)
    w = rng.standard_normal((4, 3, 3, 3)) * 3
    net.set_params({"conv": {"weight": w, "bias": rng.standard_normal(4)}}, dtype=np.float64)
    x = rng.standard_normal((1, 3, 9, 8))
    y = net.forward(x, keep=True)
    dy = rng.standard_normal(y.shape)
    dx = net.backward(dy)
    xt = torch.from_numpy(x).requires_grad_()
    yt = twin(F, F.conv2d(xt, torch.from_numpy(w), torch.from_numpy(net.params["conv"]["bias"])))
    yt.backward(torch.from_numpy(dy))
    assert_close(f"{kind} y", y, yt.detach().numpy(), 1e-12)
    assert_close(f"{kind} dx", dx, xt.grad.numpy(), 1e-12)

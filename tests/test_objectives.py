"""objectives: each L(h) and its dL/dh, held against central differences in float64 (the first factor
of slide 34)."""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp

from scratchdream.deepdream import objectives as obj

ONE = np.array(1.0)  # L is a scalar: its vector-Jacobian product with 1 is the gradient itself


def _h(shape=(1, 5, 4, 6), seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _check(term, h):
    _, dL_dh = term(h)
    num = numerical_vjp(lambda v: np.array(term(v)[0]), h, ONE)
    assert_close("dL/dh", dL_dh, num, 1e-6)


def test_neuron_is_slide_34():
    h = _h()
    L, dL_dh = obj.neuron(h, 2, 1, 3)
    assert L == h[0, 2, 1, 3] ** 2  # L = h_ij^2
    assert dL_dh[0, 2, 1, 3] == 2 * h[0, 2, 1, 3]  # dL/dh_ij = 2 h_ij
    assert np.count_nonzero(dL_dh) == 1
    _check(lambda v: obj.neuron(v, 2, 1, 3), h)


def test_channel_layer_logit_gradients():
    h = _h()
    assert np.isclose(obj.channel(h, 3)[0], np.mean(h[0, 3] ** 2))
    assert np.isclose(obj.layer(h)[0], np.mean(h**2))
    _check(lambda v: obj.channel(v, 3), h)
    _check(lambda v: obj.layer(v), h)
    f = _h((1, 7))
    assert obj.logit(f, 4)[0] == f[0, 4]
    _check(lambda v: obj.logit(v, 4), f)


def test_counts_make_tiles_add_up():
    """Two halves, each divided by the whole picture's count, give the whole picture's L and gradient."""
    h = _h((1, 3, 4, 10))
    whole, g = obj.channel(h, 1)
    left, gl = obj.channel(h[..., :6], 1, count=40)
    right, gr = obj.channel(h[..., 6:], 1, count=40)
    assert np.isclose(left + right, whole)
    assert np.allclose(np.concatenate([gl, gr], axis=-1), g)
    whole, g = obj.layer(h)
    parts = [obj.layer(h[..., s], count=h.size) for s in (slice(0, 3), slice(3, 10))]
    assert np.isclose(sum(p[0] for p in parts), whole)
    assert np.allclose(np.concatenate([p[1] for p in parts], axis=-1), g)


def test_guided_matches_best_guide_vector():
    # well-separated random vectors: no two dot products tie, so the argmax is stable under +-h
    h, g = _h((1, 6, 3, 4), 1), _h((6, 5), 2)
    L, dL_dh = obj.guided(h, g)
    A = h[0].reshape(6, -1).T @ g
    assert np.isclose(L, A.max(axis=1).mean())
    _check(lambda v: obj.guided(v, g), h)


def test_objective_weights_layers_and_sums():
    a, b = _h((1, 3, 4, 4), 3), _h((1, 2, 2, 2), 4)
    o = obj.Objective([("a", 1.0, "layer", None), ("b", 0.5, "layer", None), ("a", 2.0, "channel", 1)])
    L, grads = o({"a": a, "b": b})
    assert o.layers == ["a", "b"]
    assert np.isclose(L, np.mean(a**2) + 0.5 * np.mean(b**2) + 2.0 * np.mean(a[0, 1] ** 2))
    expect_a = 2 * a / a.size
    expect_a[0, 1] += 2.0 * 2 * a[0, 1] / 16
    assert np.allclose(grads["a"], expect_a) and np.allclose(grads["b"], 0.5 * 2 * b / b.size)
    assert o.tileable
    assert not obj.Objective([("a", 1.0, "neuron", (0, 0.5, 0.5))]).tileable


def test_neuron_follows_octaves_and_jitter():
    fy, fx = obj.neuron_position(2, 5, (3, 8, 12))
    o = obj.Objective([("a", 1.0, "neuron", (1, fy, fx))])
    h = np.zeros((1, 3, 8, 12))
    _, g = o({"a": h + 1})
    assert g["a"][0, 1, 2, 5] == 2.0  # same size, no shift: the same neuron
    _, g = o({"a": np.ones((1, 3, 4, 6))})
    assert g["a"][0, 1, 1, 2] == 2.0  # half the size: half the indices
    _, g = o({"a": h + 1}, shift=(1 / 8, -2 / 12))
    assert g["a"][0, 1, 3, 3] == 2.0  # shifted down 1 row, left 2 columns
    _, g = o({"a": h + 1}, shift=(6 / 8, 0.0))
    assert g["a"][0, 1, 7, 5] == 2.0  # shifted past the bottom: stays on the last row


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_keep_the_dtype(dtype):
    h = _h().astype(dtype)
    for term in (
        lambda v: obj.neuron(v, 0, 0, 0),
        lambda v: obj.channel(v, 0),
        obj.layer,
        lambda v: obj.guided(v, _h((5, 3)).astype(dtype)),
    ):
        assert term(h)[1].dtype == dtype

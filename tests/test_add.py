"""Elementwise add (the residual join): forward sums, backward hands dy to every term, gradient checks of the
layer and of a residual block through Net.backward (the shortcut's gradient and the branch's meet and add)."""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp
from nets_for_tests import _conv, net_from_spec

from scratchdream.errors import UserError
from scratchdream.layers import add

RESIDUAL = {  # conv -> [conv -> conv] + shortcut -> relu: one basic ResNet block, tiny
    "name": "tiny_residual",
    "input": {"name": "data", "order": "RGB", "scale": 1.0, "size": [6, 7]},
    "layers": [
        _conv("stem", ["data"], 4, 3, pad=1, relu=True),
        _conv("b/conv1", ["stem"], 4, 3, pad=1, relu=True),
        _conv("b/conv2", ["b/conv1"], 4, 3, pad=1),
        {"name": "b/sum", "kind": "add", "inputs": ["b/conv2", "stem"], "hp": {}},
        {"name": "b/out", "kind": "relu", "inputs": ["b/sum"], "hp": {}},
    ],
}


def test_forward_is_the_sum_and_backward_copies_dy():
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((2, 3, 4, 5)) for _ in range(3)]
    y, cache = add.add_forward(xs)
    np.testing.assert_allclose(y, xs[0] + xs[1] + xs[2], rtol=0, atol=1e-15)
    assert add.add_shape([x.shape[1:] for x in xs]) == (3, 4, 5)
    dy = rng.standard_normal(y.shape)
    dxs = add.add_backward(dy, cache)
    assert len(dxs) == 3 and all(d is not dy for d in dxs)
    for dx in dxs:
        np.testing.assert_array_equal(dx, dy)
    assert all(x is not y for x in xs)  # a fresh array: the inputs are left as they were


def test_dtypes_promote():
    y, _ = add.add_forward([np.ones((1, 2, 2, 2), np.float32), np.ones((1, 2, 2, 2), np.float64)])
    assert y.dtype == np.float64


def test_gradient():
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((2, 3, 3, 4)) for _ in range(2)]
    y, cache = add.add_forward(xs)
    dy = rng.standard_normal(y.shape)
    dxs = add.add_backward(dy, cache)
    for b in range(2):

        def f(a, b=b):
            return add.add_forward(xs[:b] + [a] + xs[b + 1 :])[0]

        assert_close(f"add dx{b}", dxs[b], numerical_vjp(f, xs[b], dy), 1e-6)


def test_terms_of_different_shapes_are_a_user_error():
    with pytest.raises(UserError, match="different shapes"):
        add.add_shape([(4, 7, 7), (4, 4, 4)])
    with pytest.raises(UserError, match="different shapes"):
        add.add_forward([np.zeros((1, 2, 7, 7)), np.zeros((1, 2, 6, 7))])


@pytest.mark.parametrize("target", ["b/sum", "b/out"])
def test_residual_block_gradient_through_the_net(target):
    """L = Σ h·dy at the block's output, back to the pixels: the shortcut (stem feeds both the branch and
    the sum) gets its two gradients added in Net.backward."""
    net, rng = net_from_spec(RESIDUAL, seed=2), np.random.default_rng(3)
    x = rng.standard_normal((1, 3, 6, 7))
    h = net.forward(x, upto=target)
    dy = rng.standard_normal(h.shape)
    dx = net.backward(dy)
    num = numerical_vjp(lambda a: net.forward(a, upto=target, keep=False), x, dy)
    assert_close(f"residual dL/dI at {target}", dx, num, 1e-6)

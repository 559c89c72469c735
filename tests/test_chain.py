"""The lecture's whole chain (slides 34-35): from one neuron h_ij of a deep layer back to every pixel i_mn.

L = h_ij², so dL/dh_ij = 2 h_ij, and dL/di_mn = dL/dh_ij · dh_ij/di_mn is what `Net.backward` computes layer
by layer (conv, fused and separate ReLU, ceil-mode max pooling, LRN, an Inception concat whose input feeds
three branches). Each test holds it against central differences of the whole forward pass, in float64.

The tiny net reads pixels on Caffe's 0-255 scale, so the step for pixels is H_PIXEL = 1e-4 grey levels
(1e-6 of the range, the usual relative step; a step of 1e-6 here would drown the small dL/di_mn in
rounding error). No finite-difference step may cross a ReLU kink or change a max-pool winner: the input
is uniform noise over the pixel range, `_kink_margin` measures how far every ReLU input is from 0 and
every max-pool winner from its runner-up, and the tests assert that margin is above 1e-4, while a step
of 1e-4 grey levels moves any activation by less than 1e-6 (conv1's weights are ~2e-3, later gains ~1).
"""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp
from nets_for_tests import random_input, tiny_classifier, tiny_inception_net

from scratchdream import layers
from scratchdream.layers import conv, pool

MARGIN = 1e-4
H_PIXEL = 1e-4
MARGIN_PARAMS = 1e-3


def _kink_margin(net, x):
    """Smallest distance of any ReLU input from 0, and of any live max-pool winner from its runner-up.

    Values bit-for-bit equal to the winner are not runners-up: they are copies of one upstream maximum
    (a 3x3/1 max pool makes plateaus, and the 1x1 conv after it maps equal inputs to equal outputs, so
    the next pool sees exact ties); copies move together under any step, so which one wins cannot matter."""
    acts = net.forward(x, upto=net.layer_names, keep=False)
    acts["data"] = x
    params = net.params_as(x.dtype)
    margin = np.inf
    for layer in net.layers:
        kind, hp, inp = layer["kind"], layer["hp"], acts[layer["inputs"][0]]
        if kind == "relu":
            margin = min(margin, np.abs(inp).min())
        elif kind == "conv" and hp["relu"]:
            p = params[layer["name"]]
            pre = conv.conv_forward(inp, p["weight"], p.get("bias"), layer["geo"])[0]
            margin = min(margin, np.abs(pre).min())
        elif kind == "maxpool":
            geo = layer["geo"]
            _, Ho, Wo = pool.pool_shape(inp.shape[1:], geo)
            for i in range(Ho):
                for j in range(Wo):
                    h0, w0 = i * geo.sh - geo.pt, j * geo.sw - geo.pl
                    win = inp[:, :, max(h0, 0) : h0 + geo.kh, max(w0, 0) : w0 + geo.kw]
                    win = win.reshape(win.shape[0], win.shape[1], -1)
                    top = win.max(axis=2, keepdims=True)
                    runner_up = np.where(win < top, win, -np.inf).max(axis=2)
                    live = top[:, :, 0] > 0  # all-zero windows (dead ReLUs) pass no gradient
                    margin = min(margin, np.min((top[:, :, 0] - runner_up)[live], initial=np.inf))
    return margin


@pytest.fixture(scope="module")
def net():
    return tiny_inception_net(seed=3)


@pytest.fixture(scope="module")
def x(net):
    x = random_input(net, seed=4, size=(23, 23))  # 23x23: conv3 is 5x5, its receptive field is 21 px wide
    assert _kink_margin(net, x) > MARGIN
    return x


@pytest.fixture(scope="module")
def x_small(net):
    x = random_input(net, seed=7)  # 15x15, the net's own size: fewer pixels to difference
    assert _kink_margin(net, x) > MARGIN
    return x


@pytest.fixture(params=["fast", "reference"])
def kernel_set(request):
    """Run the test on one kernel set, then restore the one in use."""
    before = layers.kernels()
    layers.use_kernels(request.param)
    yield request.param
    layers.use_kernels(before.name)


def test_neuron_to_every_pixel(net, x, kernel_set):
    """L = h_ij² for ONE neuron (c=2, i=1, j=3) of conv3, the deepest layer: dL/dI at every pixel, on the fast
    kernels and on the NumPy references."""
    c, i, j = 2, 1, 3

    def L(a):
        h = net.forward(a, upto="conv3", keep=False)
        return h[0, c, i, j] ** 2

    h = net.forward(x, upto="conv3")
    da = np.zeros_like(h)
    da[0, c, i, j] = 2 * h[0, c, i, j]  # dL/dh_ij = 2 h_ij, zero for every other neuron
    dL_dI = net.backward(da)
    assert dL_dI.shape == x.shape and dL_dI.dtype == np.float64
    num = numerical_vjp(L, x, np.float64(1.0), h=H_PIXEL)
    assert_close("dL/dI for L = h_ij^2", dL_dI, num, 1e-6)
    # only pixels inside the neuron's receptive field can matter: the non-zero region fits in rf x rf
    rows, cols = np.nonzero(np.abs(dL_dI).sum(axis=(0, 1)))
    rf = net.receptive_field("conv3")
    assert rows.max() - rows.min() < rf and cols.max() - cols.min() < rf
    assert np.count_nonzero(num.sum(axis=(0, 1))) < x.shape[2] * x.shape[3]  # some pixels are outside


def test_channel_objective(net, x_small):
    """L = Σ_ij h_c,ij² over one channel of the Inception output (the concat, read through its alias)."""
    x = x_small
    c = 5

    def L(a):
        return np.sum(net.forward(a, upto="inception", keep=False)[0, c] ** 2)

    h = net.forward(x, upto="inception")
    da = np.zeros_like(h)
    da[0, c] = 2 * h[0, c]
    assert_close("dL/dI channel", net.backward(da), numerical_vjp(L, x, np.float64(1.0), h=H_PIXEL), 1e-6)


def test_multi_layer_objective(net, x_small):
    """L = Σ a² + 0.5 Σ b² with a = inc/output and b = conv3, which reads a: the gradients add up."""
    x = x_small

    def L(z):
        acts = net.forward(z, upto=["inception", "conv3"], keep=False)
        return np.sum(acts["inc/output"] ** 2) + 0.5 * np.sum(acts["conv3"] ** 2)

    acts = net.forward(x, upto=["inception", "conv3"])
    assert set(acts) == {"inc/output", "conv3"}
    dx = net.backward({"inception": 2 * acts["inc/output"], "conv3": acts["conv3"]})
    assert_close("dL/dI two layers", dx, numerical_vjp(L, x, np.float64(1.0), h=H_PIXEL), 1e-6)


def test_weight_gradients_need_a_forward_that_kept_them():
    """A dream's forward keeps no conv inputs (dL/dI needs only the weights): backward(params=True) after it
    is refused in one line, and the tape is left for a plain backward, which gives the same dL/dI."""
    from scratchdream.errors import UsageError

    net = tiny_inception_net(seed=3)
    x = random_input(net, seed=6, size=(11, 11))
    da = np.ones_like(net.forward(x, upto="conv3", weight_grads=True))
    full, _ = net.backward(da, params=True)
    net.forward(x, upto="conv3")
    with pytest.raises(UsageError, match=r"weight_grads=True"):
        net.backward(da, params=True)
    np.testing.assert_array_equal(net.backward(da), full)
    net.forward(x, upto="conv3")
    kept = [cache[0] for layer, cache in net._tape.steps if layer["kind"] == "conv"]
    assert kept and all(type(a).__name__ == "Shape" for a in kept)  # no conv input on a dream's tape


def test_parameter_gradients_through_the_net():
    """backward(params=True): dL/dw and dL/db of every layer for L = h_ij², against central differences."""
    net = tiny_inception_net(seed=3)
    net.set_params(net.params, dtype=np.float64)  # float64 storage: a 1e-6 step must be representable
    x = random_input(net, seed=6, size=(11, 11))
    # a step h on one conv1 weight moves a pre-activation by h·x ≤ 1e-6 · 151: the margin must beat 1.5e-4
    assert _kink_margin(net, x) > MARGIN_PARAMS
    c, i, j = 1, 1, 1
    h = net.forward(x, upto="conv3", weight_grads=True)
    da = np.zeros_like(h)
    da[0, c, i, j] = 2 * h[0, c, i, j]
    dx, grads = net.backward(da, params=True)
    assert set(grads) == {name for name, shapes in net.param_shapes.items() if shapes}
    for layer, arrays in net.params.items():
        for key, value in arrays.items():

            def L(v, layer=layer, key=key):
                old = net.params[layer][key]
                net.params[layer][key] = v
                try:
                    return net.forward(x, upto="conv3", keep=False)[0, c, i, j] ** 2
                finally:
                    net.params[layer][key] = old

            assert grads[layer][key].shape == value.shape
            assert_close(
                f"dL/d{layer}.{key}", grads[layer][key], numerical_vjp(L, value, np.float64(1.0)), 1e-6
            )


def test_classifier_chain():
    """A class probability back to the pixels through softmax, linear, flatten, adaptive pool, batchnorm."""
    net = tiny_classifier(seed=1)
    x = random_input(net, seed=2)
    assert _kink_margin(net, x) > MARGIN
    k = 2

    def L(a):
        return net.forward(a, upto="prob", keep=False)[0, k]

    p = net.forward(x)
    da = np.zeros_like(p)
    da[0, k] = 1.0
    assert_close("dp_k/dI", net.backward(da), numerical_vjp(L, x, np.float64(1.0)), 1e-6)

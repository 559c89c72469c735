"""`lecture --show-field`: dh_ij/di_mn = net.backward(one-hot), its receptive-field square and its support."""

import numpy as np
import pytest
from gradcheck import assert_close
from PIL import Image

import scratchdream as sd
from scratchdream import cli
from scratchdream.deepdream import field
from scratchdream.deepdream.ties import break_ties
from scratchdream.image_io import save_image
from scratchdream.toyworld import scenes
from scratchdream.toyworld.train import init_params, toyworld_spec


@pytest.fixture(scope="module")
def net():
    spec = toyworld_spec()
    return sd.Net(spec, init_params(spec, np.random.default_rng(0)))


def sky(H=64, W=80):
    return scenes.plain_background("sky", size=H, width=W, seed=2)


@pytest.mark.parametrize("layer", ["conv2", "conv3", "conv4"])
def test_square_is_the_receptive_field_and_holds_the_exact_support(net, layer):
    """On the NumPy references (no rounding path) the derivative is != 0 exactly inside the square."""
    img = sky()
    sd.use_kernels("reference")
    try:
        c, i, j = field.centre_neuron(net, img, layer)
        dh_dI = field.field(net, img, layer, (c, i, j))
    finally:
        sd.use_kernels("fast")
    top, left, side = field.square(net, layer, i, j)
    assert side == net.receptive_field(layer)
    rows, cols = np.nonzero(np.abs(dh_dI[0]).max(axis=0))
    assert rows.min() >= top and rows.max() < top + side and cols.min() >= left and cols.max() < left + side
    assert rows.min() == top and cols.min() == left  # the square's corner is reached: it is not too big


def test_field_is_the_derivative_of_one_neuron(net):
    """net.backward(one-hot) against central differences of h_ij itself, float64, at a few pixels (the
    sky's max-pool ties broken first, as the lecture does: a step of 1e-6 must not cross one)."""
    img = sky(32, 32)
    layer, (c, i, j) = "conv3", field.centre_neuron(net, img, "conv3")
    x = break_ties(net.preprocess(img).astype(np.float64), net, np.random.default_rng(0))
    h = net.forward(x, upto=layer)
    e = np.zeros_like(h)
    e[0, c, i, j] = 1.0
    dh_dI = net.backward(e)
    rng, step = np.random.default_rng(1), 1e-6
    top, left, side = field.square(net, layer, i, j)
    for _ in range(6):  # pixels inside the square (outside it Winograd leaves ~1e-33 of rounding)
        k = (0, int(rng.integers(0, 3)), top + int(rng.integers(0, side)), left + int(rng.integers(0, side)))
        up, down = x.copy(), x.copy()
        up[k] += step
        down[k] -= step
        f = [float(net.forward(v, upto=layer, keep=False)[0, c, i, j]) for v in (up, down)]
        assert_close(f"dh/dI at {k}", dh_dI[k], (f[0] - f[1]) / (2 * step), 1e-5)


def test_support_counts_what_is_nonzero_and_what_is_above_the_floor():
    g = np.zeros((1, 3, 10, 12))
    g[0, 1, 2:5, 3:9] = 1.0
    g[0, 2, 8, 0] = 1e-9  # a rounding speck far away
    assert field.support(g) == ((7, 9), (3, 6))


def test_show_field_writes_the_heat_map_with_the_square(net, tmp_path, monkeypatch, capsys):
    from scratchdream.weights_io import save_net

    weights = str(tmp_path / "toy.h5")
    save_net(net, weights)
    save_image(str(tmp_path / "sky.png"), sky(), quiet=True)
    monkeypatch.chdir(tmp_path)
    argv = ["lecture", "sky.png", "--net", weights, "--layer", "conv3", "--show-field"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "receptive field 18x18 px" in out and "sky_field.png" in out
    pic = np.asarray(Image.open(tmp_path / "sky_field.png").convert("RGB"))
    _, i, j = field.centre_neuron(net, sky(), "conv3")
    top, left, side = field.square(net, "conv3", i, j)
    assert (pic[top - 1, left : left + side] == field.SQUARE).all()  # the outline, just outside the field
    assert (pic[top : top + side, left + side] == field.SQUARE).all()
    assert not (tmp_path / "sky_lecture.png").exists()  # no ascent in this mode

"""Lecture mode: slides 34-35 literally. h_ij must rise step after step on a photo-like picture."""

import numpy as np
import pytest
from dream_pictures import sky
from nets_for_tests import tiny_inception_net

from scratchdream.deepdream.lecture import FIRST_STEP, choose_eta, lecture, most_active_neuron
from scratchdream.deepdream.ties import break_ties
from scratchdream.errors import SettingError, UserError


@pytest.fixture(scope="module")
def net():
    return tiny_inception_net(0)


@pytest.mark.parametrize("layer", ["conv1", "inc/output", "conv3"])
def test_h_ij_strictly_rises_over_the_first_steps(net, layer):
    picture = sky(48, 64, seed=0)
    neuron = most_active_neuron(net, picture, layer)
    out, history, eta = lecture(net, picture, layer, neuron, steps=6)
    assert all(b > a for a, b in zip(history, history[1:])), history  # feed back: h_ij fires more each time
    assert history[-1] > 1.3 * history[0]
    assert out.shape == picture.shape and out.dtype == np.uint8


def test_update_is_plain_gradient_ascent_with_one_eta(net):
    """One step by hand: I + eta * dL/dI, clipped to the pixel range, is what lecture() feeds back."""
    picture = sky(32, 40, seed=2)
    layer, (c, i, j) = "conv3", most_active_neuron(net, picture, "conv3")
    seen = []
    lecture(
        net, picture, layer, (c, i, j), steps=2, on_step=lambda t, h, L, eta, pic: seen.append((h, L, eta))
    )
    x = break_ties(net.preprocess(picture), net, np.random.default_rng(0))  # the lecture's seed 0
    h = net.forward(x, upto=layer)
    assert seen[0][0] == h[0, c, i, j] and seen[0][1] == pytest.approx(float(h[0, c, i, j]) ** 2)
    dL_dh = np.zeros_like(h)
    dL_dh[0, c, i, j] = 2 * h[0, c, i, j]  # dL/dh_ij = 2 h_ij
    dL_dI = net.backward(dL_dh)
    eta = choose_eta(net, dL_dI)
    lo, hi = net.input_range()
    x1 = np.clip(x + np.float32(eta) * dL_dI, lo, hi)  # i_mn <- i_mn + eta dL/di_mn
    assert seen[1][0] == pytest.approx(float(net.forward(x1, upto=layer, keep=False)[0, c, i, j]), rel=1e-6)
    assert seen[1][2] == seen[2][2] == pytest.approx(eta)  # eta is chosen once and then fixed
    grey = float(np.min(hi - lo)) / 255
    assert np.abs(eta * dL_dI).max() == pytest.approx(FIRST_STEP * grey, rel=1e-5)


def test_dead_neuron_is_a_clear_error(net):
    picture = sky(32, 40, seed=2)
    h = net.forward(net.preprocess(picture), upto="inc/output", keep=False)[0]
    c, i, j = np.argwhere(h == 0)[0]  # a ReLU that is off: h_ij = 0, gradient 0
    with pytest.raises(UserError, match="h_ij = 0"):
        lecture(net, picture, "inc/output", (int(c), int(i), int(j)), steps=2)


@pytest.mark.parametrize(
    "kw, text",
    [
        (dict(eta=1e300), "eta must be a number above 0 and at most 3.40282e+38"),  # was a NaN picture
        (dict(eta=-1.0), "eta must be a number above 0"),
        (dict(steps=0), "steps must be a whole number from 1"),
        (dict(neuron=(0, 99, 0)), "neuron 0,99,0 is out of range"),
        (dict(neuron=(0, 1)), "neuron must be three whole numbers"),
        (dict(layer="logits?"), "has no layer 'logits?'"),
    ],
)
def test_lecture_checks_its_settings_with_the_dreams_rules(net, kw, text):
    picture = sky(32, 40, seed=2)
    args = dict(layer="conv3", neuron=most_active_neuron(net, picture, "conv3"), steps=2) | kw
    with pytest.raises(SettingError if "layer" not in kw else UserError) as e:
        lecture(net, picture, **args)
    assert text in str(e.value) and "\n" not in str(e.value)


def test_lecture_stops_on_a_nan_gradient_in_the_shared_update(net, monkeypatch):
    """The lecture steps through ascent.climb, as the dream does: a NaN gradient is one line, no picture."""
    picture = sky(32, 40, seed=2)
    neuron = most_active_neuron(net, picture, "conv3")
    monkeypatch.setattr(net, "backward", lambda da, params=False: np.full((1, 3, 32, 40), np.nan, np.float32))
    with pytest.raises(UserError, match="the gradient became NaN or infinite, so nothing was written"):
        lecture(net, picture, "conv3", neuron, steps=2, eta=0.1)

"""Robust training (toyworld/robust.py): the attack stays in its ball and raises the loss; the random
transformations keep the picture a picture."""

import numpy as np
import pytest

from scratchdream.nets.graph import Net
from scratchdream.toyworld import robust, scenes, train

STD = np.full((1, 3, 1, 1), 0.25, np.float32)


@pytest.fixture(scope="module")
def batch():
    spec = train.toyworld_spec(widths=(8, 8, 8, 8), size=32)
    net = Net(spec, train.init_params(spec, np.random.default_rng(0)))
    img, y, _ = scenes.make_scenes(np.random.default_rng(1), 12, size=32)
    return net, train.to_input(net, img), y


@pytest.mark.parametrize("norm, eps", [("l2", 0.5), ("linf", 4 / 255)])
def test_attack_stays_in_its_ball_and_raises_the_loss(batch, norm, eps):
    net, x, y = batch
    lo, hi = net.input_range()
    before = train.cross_entropy(net.forward(x, upto="fc", keep=False), y)[0]
    adv = robust.attack(
        net, x, y, train.cross_entropy, np.random.default_rng(2), norm, eps, 3, std=STD, lo=lo, hi=hi
    )
    delta = (adv - x).astype(np.float64) * STD  # in 0..1 pixel units
    size = np.sqrt((delta**2).sum(axis=(1, 2, 3))) if norm == "l2" else np.abs(delta).max(axis=(1, 2, 3))
    assert size.max() <= eps * (1 + 1e-4), size.max()
    assert size.min() > 0.3 * eps  # it moved: the attack did not stall at the start
    assert (adv >= lo - 1e-5).all() and (adv <= hi + 1e-5).all()
    after = train.cross_entropy(net.forward(adv, upto="fc", keep=False), y)[0]
    noise = x + (np.random.default_rng(3).standard_normal(x.shape) * eps / np.sqrt(x[0].size)) / STD
    random = train.cross_entropy(net.forward(noise.astype(np.float32), upto="fc", keep=False), y)[0]
    assert after > before and after - before > 3 * abs(random - before), (before, after, random)


def test_projection_onto_the_l2_ball():
    d = np.random.default_rng(4).standard_normal((5, 3, 4, 4))
    p = robust._project(d, "l2", 1.0)
    assert np.allclose(np.sqrt((p**2).sum(axis=(1, 2, 3))), 1.0)
    small = d / 100
    assert np.array_equal(robust._project(small, "l2", 1.0), small)  # inside already: unchanged


def test_transform_without_change_is_the_identity():
    x = np.random.default_rng(5).standard_normal((4, 3, 10, 12)).astype(np.float32)
    same = robust.transform(np.random.default_rng(6), x, scale=(1, 1), shift=0, blur=0, noise=0)
    assert np.allclose(same, x, atol=1e-6)


def test_transform_shifts_scales_and_blurs():
    x = np.zeros((1, 3, 16, 16), np.float32)
    x[:, :, 6:10, 6:10] = 1.0
    out = robust.transform(np.random.default_rng(7), x, scale=(1.5, 1.5), shift=0, blur=0, noise=0)
    assert out.shape == x.shape and 1.5**2 * 16 * 0.8 < out[0, 0].sum() < 1.5**2 * 16 * 1.2  # area x 2.25
    point = np.zeros((1, 1, 5, 5))
    point[0, 0, 2, 2] = 1.0
    blurred = robust._binomial3(point)  # [1, 2, 1] / 4 each way: the centre keeps 1/4
    assert blurred.sum() == pytest.approx(1.0) and blurred[0, 0, 2, 2] == pytest.approx(0.25)
    reflected = robust._reflect(np.array([-1.0, 16.0, 17.5]), 16)
    assert np.allclose(reflected, [1.0, 14.0, 12.5])

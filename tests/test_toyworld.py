"""The toy world: its scenes, the bundled weights' accuracy, and the lecture's claim (castles because
skies)."""

import os

import numpy as np
import pytest

import scratchdream as sd
from scratchdream.cli.toyworld import CONTROL, WEIGHTS
from scratchdream.errors import UsageError
from scratchdream.toyworld import demo, scenes, train
from scratchdream.weights_io import load_file


@pytest.fixture(scope="module")
def net():
    return sd.load_net("toyworld")


# ---- the scenes ---------------------------------------------------------------------------------
def test_scenes_are_reproducible_and_shaped():
    a = scenes.make_scenes(np.random.default_rng(5), 40)
    b = scenes.make_scenes(np.random.default_rng(5), 40)
    for u, v in zip(a, b):
        assert np.array_equal(u, v)
    img, y, bg = a
    assert img.shape == (40, 64, 64, 3) and img.dtype == np.uint8
    assert y.min() >= 0 and y.max() < len(scenes.CLASSES) and bg.max() < len(scenes.BACKGROUNDS)
    assert img.std() > 20  # pictures, not flat colour


def test_co_occurrence_follows_the_table():
    """Castles stand on sky about 95% of the time in the biased world, about 25% in the control world."""
    for settings, lo, hi in ((scenes.DEFAULT_SETTINGS, 0.88, 1.0), (scenes.control_settings(), 0.12, 0.40)):
        _, y, bg = scenes.make_scenes(np.random.default_rng(6), 900, settings)
        castle, sky = scenes.CLASSES.index("castle"), scenes.BACKGROUNDS.index("sky")
        rate = np.mean(bg[y == castle] == sky)
        assert lo <= rate <= hi, rate
    table = scenes.background_table()
    assert np.allclose(table.sum(1), 1.0) and table[0, 0] == pytest.approx(0.95)


def test_plain_backgrounds():
    for kind in scenes.BACKGROUNDS:
        img = scenes.plain_background(kind, size=48, seed=1)
        assert img.shape == (48, 48, 3) and img.dtype == np.uint8
    assert np.array_equal(scenes.plain_background("sky", seed=2), scenes.plain_background("sky", seed=2))
    with pytest.raises(UsageError):
        scenes.plain_background("lava")


# ---- the bundled weights ----------------------------------------------------------------------------
def test_bundled_weights_are_small_and_documented(net):
    assert os.path.getsize(WEIGHTS) <= 2 * 2**20
    assert net.labels == list(scenes.CLASSES)
    prov = net.spec["provenance"]
    assert prov["generator"]["home_rate"]["castle"] == pytest.approx(0.95)
    assert prov["co_occurrence"]["castle"]["sky"] == pytest.approx(0.95)
    assert os.path.getsize(CONTROL) <= 2 * 2**20


def test_bundled_weights_heldout_accuracy(net):
    """Fresh scenes from a seed that training never used: at least 95% right."""
    acc, confusion = train.evaluate(net, seed=2024, n=600)
    assert acc >= 0.95, f"accuracy {acc:.3f}\n{confusion}"


# ---- the lecture's explanation, measured against a control ---------------------------------------
# For each plain background: mean p(the classes that shared it in training) before and after dreaming with
# a LAYER objective (demo.DREAM at demo.LAYER: sum of h^2, no class named), over the plain backgrounds
# drawn from demo.SEEDS. The control net saw the same world with the backgrounds shuffled across classes.
# Measured with the bundled weights (2 octaves x 12 steps at conv3, framed: demo.dream_framed, seeds 0-15):
#   background   bundled net       control net       rise: bundled - control
#   sky          0.008 -> 0.242    0.006 -> 0.119    +0.12   (the thinnest: 2 of five training seeds show it)
#   water        0.096 -> 0.303    0.219 -> 0.000    +0.43
#   brown        0.012 -> 0.291    0.009 -> 0.018    +0.27
#   grass        0.021 -> 0.293    0.005 -> 0.000    +0.28
# Thresholds leave headroom below those means (one of 16 backgrounds changing its answer moves a mean by
# at most 1/16): background: (least rise of the bundled net, least excess of its rise over the control's)
BIAS = {"sky": (0.10, 0.05), "water": (0.10, 0.20), "brown": (0.15, 0.15), "grass": (0.15, 0.15)}


@pytest.fixture(scope="module")
def control():
    return load_file(CONTROL)


@pytest.fixture(scope="module")
def rises(net, control):
    """{background: ((before, after) bundled net, (before, after) control)}, means over demo.SEEDS."""
    return {bg: (demo.mean_rise(net, bg), demo.mean_rise(control, bg)) for bg in BIAS}


def test_plain_backgrounds_start_as_nothing(rises):
    """Before dreaming, no plain background looks like its classes to either net (so there is room to
    rise)."""
    for bg, ((b0, _), (c0, _)) in rises.items():
        assert b0 < 0.25 and c0 < 0.25, (
            f"plain {bg} already reads as {demo.EXPECTED[bg]}: {b0:.3f} / control {c0:.3f}"
        )


@pytest.mark.parametrize("background", sorted(BIAS))
def test_dreaming_grows_the_class_that_shared_the_background(rises, background):
    """Castles because sky, fish or ships because water, dogs because brown, birds because grass: the bundled
    net's rise is large, and much larger than the rise of the control net, which saw every class on every
    background. Without the second assertion the first proves nothing."""
    (b0, b1), (c0, c1) = rises[background]
    least, excess = BIAS[background]
    want = "+".join(demo.EXPECTED[background])
    assert b1 - b0 > least, f"plain {background}: p({want}) rose only {b0:.3f} -> {b1:.3f}"
    assert (b1 - b0) - (c1 - c0) > excess, (
        f"plain {background}: p({want}) rose {b0:.3f} -> {b1:.3f} in the bundled "
        f"net but {c0:.3f} -> {c1:.3f} in the control"
    )


def test_the_dream_changes_the_picture(net):
    before, after = demo.dream_framed(net, "sky", seed=0)
    assert before.shape == after.shape == (demo.SIZE, demo.SIZE, 3)
    canvas = scenes.plain_background("sky", size=demo.SIZE + 2 * demo.BORDER, seed=0)
    assert np.array_equal(before, canvas[demo.BORDER : -demo.BORDER, demo.BORDER : -demo.BORDER])
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 1


def test_demo_writes_small_pictures(net, control, tmp_path):
    results, written = demo.run_demo(
        net, str(tmp_path), control=control, seeds=(0, 1), backgrounds=("sky",), shown=2, progress=False
    )
    assert set(results) == {"sky"} and len(results["sky"]["top"]) == 2
    assert results["sky"]["net"] == pytest.approx(demo.mean_rise(net, "sky", seeds=(0, 1)))
    assert results["sky"]["control"] == pytest.approx(demo.mean_rise(control, "sky", seeds=(0, 1)))
    for path in written:
        assert os.path.getsize(path) < 400 * 1024
    assert any(p.endswith(".gif") for p in written) and any(p.endswith(".png") for p in written)

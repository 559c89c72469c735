"""The toy world: its scenes, the bundled weights' accuracy, and the lecture's claim (castles because skies)."""
import os

import numpy as np
import pytest

import scratchdream as sd
from scratchdream.errors import UsageError
from scratchdream.toyworld import demo, scenes, train
from scratchdream.toyworld.cli import CONTROL, WEIGHTS


@pytest.fixture(scope="module")
def net():
    return sd.load_net("toyworld")


@pytest.fixture(scope="module")
def control():
    return sd.load_net(CONTROL)


# ---- the scenes ---------------------------------------------------------------------------------
def test_scenes_are_reproducible_and_shaped():
    a = scenes.make_scenes(np.random.default_rng(5), 40)
    b = scenes.make_scenes(np.random.default_rng(5), 40)
    for u, v in zip(a, b):
        assert np.array_equal(u, v)
    img, y, bg = a
    assert img.shape == (40, 64, 64, 3) and img.dtype == np.uint8
    assert y.min() >= 0 and y.max() < len(scenes.CLASSES) and bg.max() < len(scenes.BACKGROUNDS)
    assert img.std() > 20                                   # pictures, not flat colour


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


# ---- the lecture's explanation, measured -------------------------------------------------------------
@pytest.mark.parametrize("background", ["sky", "water", "brown"])
def test_dreaming_grows_the_class_that_lived_on_this_background(net, control, background):
    """Layer objective at the deep layer on a plain background: the co-occurring class's probability rises
    well above its start in the biased net, and clearly less in the control net trained without the bias."""
    pb, pa, before, after = demo.bias_rise(net, background, seed=0)
    start, end = demo.expected_probability(net, background, pb), demo.expected_probability(net, background, pa)
    cb, ca, _, _ = demo.bias_rise(control, background, seed=0)
    c_start, c_end = demo.expected_probability(control, background, cb), demo.expected_probability(control, background, ca)
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 5         # the dream changed the picture
    assert start < 0.3, f"{background}: the plain background already looks like the class ({start:.3f})"
    assert end > start + 0.4, f"{background}: p rose only {start:.3f} -> {end:.3f}"
    assert (end - start) > (c_end - c_start) + 0.25, \
        f"{background}: biased {start:.3f} -> {end:.3f}, control {c_start:.3f} -> {c_end:.3f}"


def test_demo_writes_small_pictures(net, tmp_path):
    results, written = demo.run_demo(net, str(tmp_path), backgrounds=("sky",), progress=False)
    assert set(results) == {"sky"}
    for path in written:
        assert os.path.getsize(path) < 400 * 1024
    assert any(p.endswith(".gif") for p in written) and any(p.endswith(".png") for p in written)

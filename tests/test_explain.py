""" "Why dogs?" (explain.py, dream --explain, --compare-net): the classes whose probability a dream raised.

Every expected value is computed here, with net.forward on the input and on the dream as written.
"""

import os
import re

import numpy as np
import pytest
from dream_pictures import sky
from nets_for_tests import TINY_CLASSIFIER, net_from_spec, tiny_inception_net
from PIL import Image

import scratchdream as sd
from scratchdream import cli, explain

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = os.path.join(REPO, "weights", "toyworld.h5")
CONTROL = os.path.join(REPO, "weights", "toyworld_control.h5")
DREAM = ["--octaves", "2", "--steps", "6", "--step-size", "3", "--jitter", "4"]


def _p(net, img):
    """Class probabilities, by the test: the toy nets end in softmax and pool globally, and a 48 x 64
    picture is within twice their 64-px input, so they see it as it is."""
    return net.forward(net.preprocess(img), keep=False)[0].astype(np.float64)


def _rising(net, before, after):
    p0, p1 = _p(net, before), _p(net, after)
    up = sorted((k for k in range(len(p0)) if p1[k] > p0[k]), key=lambda k: p0[k] - p1[k])[:3]
    return [(net.labels[k], p0[k], p1[k]) for k in up]


def test_rises_are_the_classes_that_rose_most():
    net = sd.load_net(TOY)
    img = sky(48, 64, seed=2)
    out = sd.dream(net, img, octaves=2, steps=6, step_size=3.0, jitter=4, progress=False)
    found = explain.rises(net, img, out)
    want = _rising(net, img, out)
    assert found and [r.label for r in found] == [w[0] for w in want]
    np.testing.assert_allclose([(r.before, r.after) for r in found], [w[1:] for w in want], rtol=1e-6)
    assert all(r.after > r.before for r in found)


def test_a_net_ending_in_scores_gets_a_softmax():
    spec = dict(TINY_CLASSIFIER, layers=TINY_CLASSIFIER["layers"][:-1])  # up to fc2, no softmax
    net, img = net_from_spec(spec, 0), sky(12, 12, seed=0)
    z = net.forward(net.preprocess(img), keep=False)[0].astype(np.float64)
    np.testing.assert_allclose(explain.probabilities(net, img), np.exp(z) / np.exp(z).sum(), rtol=1e-6)


def test_dream_explain_with_compare_net_lists_both(tmp_path, capsys):
    Image.fromarray(sky(48, 64, seed=2)).save(tmp_path / "sky.png")
    os.chdir(tmp_path)
    try:
        assert cli.main(["dream", "sky.png", "--net", TOY, "--compare-net", CONTROL] + DREAM) == 0
    finally:
        os.chdir(REPO)
    line = capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["sky.png", "sky_dream.png", "sky_dream_explain.png"]
    before = np.asarray(Image.open(tmp_path / "sky.png").convert("RGB"))
    after = np.asarray(Image.open(tmp_path / "sky_dream.png").convert("RGB"))
    for path, name in ((TOY, "toyworld"), (CONTROL, "toyworld_control")):
        want = ", ".join(f"{c} {a:.2f}->{b:.2f}" for c, a, b in _rising(sd.load_net(path), before, after))
        assert want and f"{name}: {want}" in line, line
    with Image.open(tmp_path / "sky_dream_explain.png") as im:  # both pictures, enlarged 2x, and the text
        assert im.width > 2 * 2 * 64 and im.height > 2 * 48
    assert re.search(r"-> sky_dream.png and sky_dream_explain.png$", line.strip()), line


@pytest.mark.parametrize("flag", ["--explain", "--compare-net"])
def test_explain_needs_a_classifier(tmp_path, capsys, flag):
    sd.save_net(tiny_inception_net(0), tmp_path / "tiny.h5")
    Image.fromarray(sky(48, 64, seed=0)).save(tmp_path / "sky.png")
    os.chdir(tmp_path)
    try:
        argv = ["dream", "sky.png", "--steps", "1", "--octaves", "1"]
        argv += ["--net", "tiny.h5", "--explain"] if flag == "--explain" else ["--net", TOY, flag, "tiny.h5"]
        assert cli.main(argv) == 1
    finally:
        os.chdir(REPO)
    err = capsys.readouterr().err
    assert f"{flag} needs a net that classifies pictures; tiny_inception has no class labels" in err
    assert err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == ["sky.png", "tiny.h5"]  # nothing written, not even the dream

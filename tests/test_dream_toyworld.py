"""End to end on the bundled offline network (weights/toyworld.h5, trained by `make toyworld`)."""

import numpy as np
import pytest
from dream_pictures import sky
from PIL import Image

import scratchdream as sd
from scratchdream import cli
from scratchdream.deepdream import plan
from scratchdream.deepdream.lecture import lecture, most_active_neuron


@pytest.fixture(scope="module")
def toyworld():
    return sd.load_net("toyworld")


def test_lecture_h_ij_rises_at_every_step_on_a_photo_like_sky(toyworld):
    """Slide 35 on the real offline net: measured (the bundled pair of 2026-12-06, neuron 100,10,6 of conv4)
    79.7 -> 107.4 over 8 steps and 142.4 over 20, rising at every step."""
    picture = sky(96, 128, seed=0)
    neuron = most_active_neuron(toyworld, picture, "conv4")
    _, history, _ = lecture(toyworld, picture, "conv4", neuron, steps=8)
    assert all(b > a for a, b in zip(history, history[1:])), history
    assert history[-1] > 1.25 * history[0]  # a rise of a quarter at least, not a last-bit drift


def test_default_dream_raises_the_suggested_layer(toyworld):
    picture = sky(80, 112, seed=4)
    out = sd.dream(toyworld, picture, octaves=2, steps=4, progress=False)
    assert out.shape == picture.shape and out.dtype == np.uint8
    layer = plan.default_layer(toyworld)
    objective = plan.build_objective(toyworld, [(layer, 1.0)], 80, 112)
    value = [
        objective(toyworld.forward(toyworld.preprocess(p), upto=[layer], keep=False))[0]
        for p in (picture, out)
    ]
    assert value[1] > 1.2 * value[0], value


def test_cli_dreams_with_the_zoo_name(toyworld, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Image.fromarray(sky(64, 80, seed=2)).save("sky.jpg", quality=95)
    assert cli.main(["dream", "sky.jpg", "--net", "toyworld", "--octaves", "2", "--steps", "2"]) == 0
    assert "with toyworld fc belief without nothing" in capsys.readouterr().out  # its dream_defaults
    with Image.open(tmp_path / "sky_dream.png") as im:
        assert im.size == (80, 64)

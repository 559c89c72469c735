"""Dataset examples (toyworld/examples.py, `scratchdream toyworld examples`): a channel's top training
scenes."""

import numpy as np
import pytest
from PIL import Image

import scratchdream as sd
from scratchdream import cli
from scratchdream.toyworld import examples, scenes, train
from scratchdream.weights_io import save_net


@pytest.fixture(scope="module")
def net():
    spec = train.toyworld_spec()
    return sd.Net(spec, train.init_params(spec, np.random.default_rng(0)))


def test_the_scenes_are_the_training_pool():
    img, labels, _ = examples.training_scenes(seed=3, n=70, chunk=50)
    pool_img, pool_y = train.make_pool(scenes.DEFAULT_SETTINGS, 3, 70, progress=False, chunk=50)
    assert np.array_equal(img, pool_img) and np.array_equal(labels, pool_y)


def test_top_scenes_are_ranked_by_the_channels_mean_activation(net):
    idx, score, img, _, _ = examples.top_scenes(net, "conv2", 5, seed=0, n=40, top=4)
    pool, _, _ = examples.training_scenes(seed=0, n=40)
    h = net.forward(np.concatenate([net.preprocess(p) for p in pool]), upto="conv2", keep=False)
    means = h[:, 5].mean(axis=(1, 2))  # each scene's mean activation of channel 5, computed here
    assert list(idx) == list(np.argsort(-means)[:4]) and np.allclose(score, means[idx], rtol=1e-5)
    assert np.array_equal(img, pool[idx])


def test_grown_channels_are_those_the_dream_raised_most(net, monkeypatch):
    from scratchdream.toyworld import demo

    rng = np.random.default_rng(0)
    before, after = (rng.integers(0, 256, (32, 32, 3)).astype(np.uint8) for _ in range(2))
    monkeypatch.setattr(examples.scenes, "plain_background", lambda *a, **k: before)
    monkeypatch.setattr(demo, "dream_on", lambda *a, **k: after)
    channels, b, a = examples.grown_channels(net, "conv3", "sky", top=3)
    means = examples.channel_means(net, np.stack([before, after]), "conv3")
    rise = means[1] - means[0]
    assert np.array_equal(rise[channels], np.sort(rise)[::-1][:3]) and np.all(a - b == rise[channels])


def test_cli_writes_the_strip_and_names_the_classes(net, tmp_path, monkeypatch, capsys):
    weights = str(tmp_path / "toy.h5")
    save_net(net, weights)
    monkeypatch.setattr(examples, "SCENES", 60)  # the CLI ranks examples.SCENES scenes: 60 is enough here
    monkeypatch.chdir(tmp_path)
    argv = ["toyworld", "examples", "--net", weights, "--layer", "conv2", "--channel", "3", "-o", "ex.png"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "conv2 channel 3: its 8 top training scenes are" in out and "ex.png" in out
    assert Image.open(tmp_path / "ex.png").size[0] > 8 * 64


def test_cli_needs_one_channel_choice(net, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["toyworld", "examples", "--layer", "conv2"]) == 2
    assert "give --channel C or --dreamed BACKGROUND" in capsys.readouterr().err

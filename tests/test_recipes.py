"""--recipe google2015 (issue 13 item 4): the 2015 notebook's settings, pinned, and its behaviour, held to a
NumPy transcription of the notebook's make_step / deepdream / objective_guide written here, on a
random-weight GoogLeNet-shaped net, with the jitter offsets our loop drew."""

import numpy as np
import pytest
from dream_pictures import sky
from PIL import Image
from shaped_nets import tiny_googlenet

import scratchdream as sd
from scratchdream import cli
from scratchdream.deepdream import loop, recipes
from scratchdream.errors import UsageError

MEAN = np.float32([104.0, 116.0, 122.0]).reshape(3, 1, 1)  # BGR, the notebook's mean pixel


def test_the_recipe_is_the_notebooks_settings():
    assert recipes.settings("google2015") == {
        "layers": ["inception_4c/output"],
        "octaves": 4,
        "octave_scale": 1.4,
        "steps": 10,
        "step_size": 1.5,
        "jitter": 32,
        "normalize": "mean",
        "smooth": 0.0,
        "tile": 0,
        "notebook": True,
    }
    assert recipes.settings("google2015", guided=True)["layers"] == ["inception_3b/output"]
    with pytest.raises(UsageError, match="unknown recipe 'google2016'; known: google2015"):
        recipes.settings("google2016")


# ---- the notebook, transcribed (Caffe's net replaced by ours: forward to `end`, backward from it) ----
def nd_zoom(a, factors):
    """scipy.ndimage.zoom(a, factors, order=1) for a (C, h, w) and factors (1, fy, fx)."""
    shape = [int(round(n * f)) for n, f in zip(a.shape, factors)]
    for axis in (1, 2):
        n, m = a.shape[axis], shape[axis]
        at = np.arange(m) * ((n - 1) / (m - 1)) if m > 1 else np.zeros(1)
        a = np.apply_along_axis(lambda v, at=at, n=n: np.interp(at, np.arange(n), v), axis, a)
    return a.astype(np.float32)


def preprocess(img):
    return np.float32(np.rollaxis(img, 2)[::-1]) - MEAN


def deprocess(img):
    return np.dstack((img + MEAN)[::-1])


def objective_L2(h):
    return h


def make_step(net, src, offset, step_size=1.5, end="inception_4c/output", objective=objective_L2):
    oy, ox = offset  # our loop draws (dy, dx)
    src = np.roll(np.roll(src, ox, -1), oy, -2)
    h = net.forward(src[None], upto=end)
    g = net.backward(objective(h))[0]
    src = src + step_size / np.abs(g).mean() * g
    src = np.roll(np.roll(src, -ox, -1), -oy, -2)
    return np.clip(src, -MEAN, 255 - MEAN)


def deepdream(net, base_img, offsets, iter_n=10, octave_n=4, octave_scale=1.4, **step_params):
    octaves = [preprocess(base_img)]
    for _ in range(octave_n - 1):
        octaves.append(nd_zoom(octaves[-1], (1, 1.0 / octave_scale, 1.0 / octave_scale)))
    detail = np.zeros_like(octaves[-1])
    offsets = iter(offsets)
    for octave, octave_base in enumerate(octaves[::-1]):
        h, w = octave_base.shape[-2:]
        if octave > 0:
            h1, w1 = detail.shape[-2:]
            detail = nd_zoom(detail, (1, 1.0 * h / h1, 1.0 * w / w1))
        src = octave_base + detail
        for _ in range(iter_n):
            src = make_step(net, src, next(offsets), **step_params)
        detail = src - octave_base
    return np.uint8(np.clip(deprocess(src), 0, 255))


def guide_objective(net, guide, end):
    """The notebook's guide_features and objective_guide: the guide's features at `end`, at its own size."""
    y = net.forward(preprocess(guide)[None], upto=end, keep=False)[0]
    ch = y.shape[0]
    y = y.reshape(ch, -1)

    def objective_guide(h):
        x = h[0].reshape(ch, -1)
        A = x.T.dot(y)
        return y[:, A.argmax(1)].reshape(h.shape)

    return objective_guide


# ---- the tests -------------------------------------------------------------------------------------
def _dream_recording(monkeypatch, net, img, **settings):
    """sd.dream, and the jitter offsets it drew."""
    offsets, draw = [], loop._roll

    def recording(rng, jitter):
        offsets.append(draw(rng, jitter))
        return offsets[-1]

    monkeypatch.setattr(loop, "_roll", recording)
    return loop.dream(net, img, progress=False, **settings), offsets


def _agree(ours, theirs):
    """Pixels equal but for float32 rounding (a truncation that lands on the other side of an integer)."""
    diff = np.abs(ours.astype(int) - theirs.astype(int))
    return diff.max() <= 1 and np.mean(diff > 0) < 0.01


@pytest.fixture(scope="module")
def net():
    return tiny_googlenet(seed=0)


def test_google2015_dreams_as_the_notebook(net, monkeypatch):
    img = sky(80, 96, seed=2)
    ours, offsets = _dream_recording(monkeypatch, net, img, seed=5, **recipes.settings("google2015"))
    assert len(offsets) == 40 and max(max(abs(v) for v in d) for d in offsets) > 16
    theirs = deepdream(net, img, offsets)
    assert _agree(ours, theirs)
    assert np.abs(ours.astype(int) - img).mean() > 5  # it did dream
    # our own arithmetic (mirrored jitter, Pillow resizing, rounding) is another dream: each point matters
    mine, _ = _dream_recording(
        monkeypatch, net, img, seed=5, **{**recipes.settings("google2015"), "notebook": False}
    )
    assert not _agree(mine, theirs)


def test_google2015_guided_dreams_as_the_notebooks_objective_guide(net, monkeypatch):
    img, guide = sky(72, 88, seed=3), sky(40, 52, seed=9)[::-1].copy()
    settings = recipes.settings("google2015", guided=True)
    ours, offsets = _dream_recording(monkeypatch, net, img, guide=guide, seed=1, **settings)
    end = "inception_3b/output"
    theirs = deepdream(net, img, offsets, end=end, objective=guide_objective(net, guide, end))
    assert _agree(ours, theirs)


def test_the_notebooks_zoom_and_sizes():
    a = np.arange(2 * 5 * 7, dtype=np.float32).reshape(1, 2, 5, 7) ** 1.5
    for size in [(3, 4), (5, 7), (9, 13), (1, 7)]:
        want = nd_zoom(a[0], (1, size[0] / 5, size[1] / 7))
        np.testing.assert_allclose(recipes.zoom(a, size)[0], want, rtol=1e-6)
    assert recipes.octave_sizes(100, 150, 4, 1.4) == [(36, 54), (51, 76), (71, 107), (100, 150)]


def test_cli_recipe_unknown_is_one_line(tmp_path, capsys):
    argv = ["dream", str(tmp_path / "sky.png"), "--recipe", "google2016", "-o", str(tmp_path / "o.png")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == "scratchdream: error: unknown recipe 'google2016'; known: google2015"


def test_cli_recipe_is_the_apis_and_a_flag_given_wins(net, tmp_path, capsys):
    sd.save_net(net, tmp_path / "g.h5")
    img = sky(60, 70, seed=4)
    Image.fromarray(img).save(tmp_path / "sky.png")
    argv = ["dream", str(tmp_path / "sky.png"), "--net", str(tmp_path / "g.h5"), "--recipe", "google2015"]
    assert cli.main(argv + ["-o", str(tmp_path / "a.png"), "--steps", "3"]) == 0
    assert "inception_4c/output, 4 octaves x 3 steps" in capsys.readouterr().out
    want = loop.dream(net, img, progress=False, **{**recipes.settings("google2015"), "steps": 3})
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), want)

"""Max-pooling ties on a flat picture: the kernel paths disagree without the project's rule, agree with it.

The rule (deepdream/ties.py): uniform noise of at most one grey level, seeded, before the first step.
Measured here on the toy-world architecture with seeded random weights, so it holds whatever weights are
bundled: the gradient of L = Σ h² at a deep layer, from the NumPy references, the im2col path and the
Winograd path.
"""

import numpy as np
import pytest
from gradcheck import rel_error

import scratchdream as sd
from scratchdream.deepdream import plan
from scratchdream.deepdream.ascent import gradient
from scratchdream.deepdream.options import DreamOptions
from scratchdream.deepdream.ties import GREY_LEVELS, break_ties
from scratchdream.layers.fast import conv as fast_conv
from scratchdream.toyworld import scenes
from scratchdream.toyworld.train import init_params, toyworld_spec

PATHS = ("reference", "im2col", "winograd")


@pytest.fixture(scope="module")
def net():
    spec = toyworld_spec()
    return sd.Net(spec, init_params(spec, np.random.default_rng(0)))


def flat(kind, H=48, W=64):
    if kind == "grey":
        return np.full((H, W, 3), 128, np.uint8)
    return scenes.plain_background("sky", size=H, width=W, seed=0)  # constant along every row


def gradients(net, x, layer, monkeypatch):
    """dL/dI for L = Σ h² at `layer`, on each kernel path."""
    objective = plan.build_objective(net, [(layer, 1.0)], *x.shape[2:])
    out = {}
    for path in PATHS:
        monkeypatch.setattr(fast_conv, "WINOGRAD", path == "winograd")
        sd.use_kernels("reference" if path == "reference" else "fast")
        try:
            out[path] = gradient(net, x.copy(), objective)[1]
        finally:
            sd.use_kernels("fast")
    return out


def worst(g):
    return max(rel_error(g[a], g[b]) for a in PATHS for b in PATHS if a < b)


@pytest.mark.parametrize("kind", ["grey", "sky"])
def test_without_noise_the_paths_pick_different_winners(net, kind, monkeypatch):
    """The problem the rule solves: on a flat picture the max-pool winners follow rounding."""
    x = net.preprocess(flat(kind)).astype(np.float64)
    assert worst(gradients(net, x, "conv4", monkeypatch)) > 0.05


@pytest.mark.parametrize("kind", ["grey", "sky"])
@pytest.mark.parametrize("layer", ["conv3", "conv4"])
def test_with_the_noise_every_path_gives_the_same_gradient(net, kind, layer, monkeypatch):
    x = break_ties(net.preprocess(flat(kind)).astype(np.float64), net, np.random.default_rng(1))
    assert worst(gradients(net, x, layer, monkeypatch)) < 1e-10


def test_the_dream_starts_from_the_noisy_picture_and_float32_paths_agree(net, monkeypatch):
    """make_plan adds the noise (at most one grey level, seeded); the float32 gradients then agree too."""
    img = flat("sky")
    start = plan.make_plan(net, img, DreamOptions(seed=3), progress=False).start
    again = plan.make_plan(net, img, DreamOptions(seed=3), progress=False).start
    lo, hi = net.input_range()
    moved = np.abs(start - net.preprocess(img)) / ((hi - lo) / 255)
    assert np.array_equal(start, again) and 0 < moved.max() <= GREY_LEVELS * (1 + 1e-5)
    g = gradients(net, start, "conv4", monkeypatch)
    assert max(np.linalg.norm(g[a] - g["reference"]) / np.linalg.norm(g["reference"]) for a in PATHS) < 1e-4

"""The dream loop (sd.dream): objectives rise, options keep size and mode, seeds reproduce, bad input is one
line."""

import dataclasses
import math

import numpy as np
import pytest
from dream_pictures import sky
from nets_for_tests import tiny_classifier, tiny_inception_net

import scratchdream as sd
from scratchdream.cli import build_parser
from scratchdream.deepdream import loop, plan
from scratchdream.deepdream.ascent import climb
from scratchdream.deepdream.lecture import most_active_neuron
from scratchdream.deepdream.octaves import octave_sizes, reinject
from scratchdream.deepdream.options import RANGES, DreamOptions, check, parse_layers
from scratchdream.deepdream.zoom import zoom, zoom_in
from scratchdream.errors import SettingError, UsageError, UserError
from scratchdream.image_io import resize

FAST = dict(octaves=2, steps=4, progress=False)  # small and quick: the tiny nets run in milliseconds


@pytest.fixture(scope="module")
def net():
    return tiny_inception_net(0)


@pytest.fixture(scope="module")
def picture():
    return sky(37, 53, seed=1)  # non-square, odd sizes


def _value(net, img, terms, **kw):
    """The objective's own value on a picture (full size, one forward): the yardstick of 'it rose'."""
    H, W = img.shape[:2]
    objective = plan.build_objective(net, plan.layer_terms(net, parse_layers(terms)), H, W, **kw)
    acts = net.forward(net.preprocess(img), upto=objective.layers, keep=False)
    return objective(acts)[0]


# ---- each objective raises its own value ------------------------------------------------------------
@pytest.mark.parametrize(
    "name, layers, kw",
    [
        ("layer", ["inc/output"], {}),
        ("channel", ["conv3"], {"channel": 2}),
        ("neuron", ["inc/output"], {"neuron": "most active"}),
        ("several layers", ["inc/output:1.0", "conv3:0.5"], {}),
    ],
)
def test_each_objective_raises_its_value(net, picture, name, layers, kw):
    if kw.get("neuron") == "most active":  # a neuron whose ReLU is on: h_ij > 0
        kw = {"neuron": most_active_neuron(net, picture, layers[0])}
    out = sd.dream(net, picture, layers=layers, **kw, **FAST)
    before, after = _value(net, picture, layers, **kw), _value(net, out, layers, **kw)
    assert after > before * 1.2, f"{name}: L went from {before} to {after}"


def test_guided_dream_moves_towards_the_guide(net, picture):
    guide = sky(30, 30, seed=7)[::-1].copy()  # another picture: upside down, other clouds
    out = sd.dream(net, picture, layers="inc/output", guide=guide, **FAST)
    before = _value(net, picture, ["inc/output"], guide=guide)
    after = _value(net, out, ["inc/output"], guide=guide)
    assert after > before


def test_class_logit_from_noise_raises_the_class():
    clf = tiny_classifier(1)
    img = sky(24, 30, seed=2)
    out = sd.dream(
        clf,
        img,
        layers="logits",
        channel=2,
        start="noise",
        octaves=1,
        steps=12,
        step_size=5.0,
        progress=False,
    )
    x = clf.forward(clf.preprocess(out), upto="logits", keep=False)
    noise_rng = np.random.default_rng(np.random.SeedSequence(0).spawn(3)[0])
    noise = plan._start(img, "noise", noise_rng)  # the very start picture of seed 0
    x0 = clf.forward(clf.preprocess(noise), upto="logits", keep=False)
    assert x[0, 2] > x0[0, 2] + 0.1, (x0, x)


# ---- options: every combination keeps the picture's size and mode ---------------------------------
@pytest.mark.parametrize(
    "opts",
    [
        dict(octaves=3, octave_scale=1.3, jitter=0),
        dict(octaves=1, jitter=5),
        dict(normalize="std"),
        dict(normalize="laplacian"),
        dict(smooth=1.0),
        dict(start="grey"),
    ],
)
def test_options_keep_size_and_mode(net, picture, opts):
    out = sd.dream(net, picture, **{**FAST, **opts})
    assert out.shape == picture.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - picture).mean() > 0.5  # something was dreamed


def test_octave_sizes_and_reinjection():
    sizes, dropped = octave_sizes(100, 141, 4, 1.4, min_side=1)
    assert sizes == [(36, 51), (51, 72), (71, 101), (100, 141)] and dropped == 0
    sizes, dropped = octave_sizes(100, 141, 4, 1.4, min_side=60)
    assert sizes == [(71, 101), (100, 141)] and dropped == 2
    detail = np.random.default_rng(0).standard_normal((1, 3, 20, 30)).astype(np.float32)
    base = np.ones((1, 3, 28, 42), np.float32)
    assert np.array_equal(reinject(detail, base), base + resize(detail, (28, 42)))


def test_detail_is_reinjected_not_the_picture(net, picture, monkeypatch):
    """With 0 steps' worth of change at the top octave, the output is the full-size picture plus the
    upscaled detail of the small octave: the dreamed picture itself is never upscaled."""
    seen = []
    real = loop.reinject
    monkeypatch.setattr(loop, "reinject", lambda d, b: seen.append((d.copy(), b.copy())) or real(d, b))
    sd.dream(net, picture, octaves=2, steps=2, jitter=0, progress=False)
    (d0, b0), (d1, b1) = seen
    assert not d0.any()  # the smallest octave starts from the picture
    assert d1.shape[2:] != b1.shape[2:] and np.abs(d1).max() > 0  # the next gets the small octave's detail
    start = plan.make_plan(net, picture, DreamOptions(octaves=2, steps=2, jitter=0), False).start
    assert np.allclose(b1, start, atol=1e-4)  # onto the full-size picture itself (ties broken: ties.py)


# ---- reproducible -----------------------------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_other_bytes(net, picture):
    a = sd.dream(net, picture, seed=3, **FAST)
    b = sd.dream(net, picture, seed=3, **FAST)
    c = sd.dream(net, picture, seed=4, **FAST)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_on_frame_sees_full_size_frames(net, picture):
    frames = []
    sd.dream(net, picture, on_frame=frames.append, **FAST)
    assert len(frames) == 2 * 4 and all(f.shape == picture.shape and f.dtype == np.uint8 for f in frames)


# ---- bad input: one UsageError / UserError line ----------------------------------------------------
@pytest.mark.parametrize(
    "opts, text",
    [
        (dict(steps=0), "steps must be a whole number from 1"),
        (dict(octaves=-1), "octaves must be a whole number from 1 to 100"),
        (dict(octaves=3000), "octaves must be a whole number from 1 to 100"),
        (dict(octaves=10**11), "octaves must be"),
        (dict(octave_scale=1.0), "octave_scale must be a number above 1"),
        (dict(octave_scale=1e308), "octave_scale must be a number above 1 and at most 10"),
        (dict(step_size=float("nan")), "step_size must be a number above 0"),
        (dict(step_size=float("inf")), "step_size"),
        (dict(step_size=1e300), "at most 255 (grey levels per step), got 1e+300"),
        (dict(jitter=-2), "jitter must be a whole number from 0"),
        (dict(jitter=10**20), "jitter must be a whole number from 0 to 4096"),
        (dict(normalize="max"), "normalize must be one of mean, std, laplacian"),
        (dict(tile=-5), "tile must be a whole number from 0"),
        (dict(tile_margin=-1), "tile_margin must be"),
        (dict(seed=-1), "seed must be a whole number >= 0"),
        (dict(start="white"), "start must be one of image, noise, grey"),
        (dict(channel=99, layers="conv3"), "valid 0..5"),
        (dict(channel=1.5, layers="conv3"), "channel must be a whole number"),
        (dict(neuron=(0, 50, 0), layers="inc/output"), "Y in 0..17"),
        (dict(neuron="0,1"), "neuron must be three whole numbers"),
        (dict(layers="inc/outptu"), "close matches: inc/output"),
        (dict(layers=["conv3:0"]), "layers conv3: the weight must be a number of size 1e-06 to 1000000"),
        (dict(layers=["conv3:1e308", "conv3:1e308"]), "the weight must be"),
        (dict(layers=["conv3:1", "conv3:-1"]), "layers conv3: its weights add up to 0.0"),
        (dict(layers={"conv3": 3e6}), "the weight must be"),
        (dict(layers=["conv3:7e5", "conv3:7e5"]), "its weights add up to 1400000.0"),
        (dict(channel=1, neuron=(0, 0, 0)), "give only one of channel, neuron, guide and belief"),
        (dict(channel=1, layers=["conv3", "inc/output"]), "channel and neuron pick one unit of one layer"),
    ],
)
def test_bad_options_are_one_line_naming_the_parameter(net, picture, opts, text):
    """The library names its parameters ("steps must be ..."); the CLI shows flags instead (cli/flags.py)."""
    with pytest.raises(UsageError) as e:
        sd.dream(net, picture, **{**FAST, **opts})
    assert text in str(e.value) and "\n" not in str(e.value) and "--" not in str(e.value), str(e.value)


ABSURD = [-(10**30), float("inf"), float("-inf"), float("nan"), "3", True, None, [1]]


@pytest.mark.parametrize("name", [n for n in RANGES if n != "weight"])
def test_every_ranged_setting_refuses_absurd_values(name):
    """The class, not the cases: every number in the table at huge, negative, infinite, NaN or non-number
    values is one SettingError that names the setting and its range."""
    rule = RANGES[name]
    huge = (
        [10 * rule.hi + 10, 10**400] if math.isfinite(rule.hi) else []
    )  # a seed may be as large as you like
    for value in ABSURD + huge + ([1.5] if rule.whole else []):
        with pytest.raises(SettingError) as e:
            check(name, value)
        message = str(e.value)
        assert message.startswith(f"{name} must be ") and rule.meaning in message, message
    inside = rule.lo + 0.5 if rule.above else rule.lo
    assert check(name, inside) == inside


def test_setting_error_speaks_the_callers_language():
    e = SettingError("{steps} must be > 0, got {value}; or give {tile} 0", value=-3)
    assert str(e) == "steps must be > 0, got -3; or give tile 0"
    assert e.worded({"steps": "--steps", "tile": "--tile"}) == "--steps must be > 0, got -3; or give --tile 0"
    assert SettingError("{guide} gives {shape}", shape="{weird}").worded({}) == "guide gives {weird}"


def test_options_keep_their_checked_values():
    options = DreamOptions(
        layers=["conv3:2", "inc/output"], neuron="1, 2,3", octave_scale=2, tile_margin="exact"
    )
    assert options.layers == (("conv3", 2.0), ("inc/output", 1.0)) and options.neuron == (1, 2, 3)
    assert isinstance(options.octave_scale, float) and options.tile_margin == "exact"
    assert dataclasses.replace(options, seed=7).seed == 7
    with pytest.raises(SettingError, match="seed must be"):
        dataclasses.replace(options, seed=-7)


def test_the_update_stops_on_a_non_finite_gradient_or_picture():
    """climb is slide 35 for the dream and the lecture alike: NaN or inf stops it with one line, and the
    picture is not changed by a refused step."""
    lo, hi = np.float32(-1), np.float32(1)
    x = np.zeros((1, 3, 4, 5), np.float32)
    g = np.ones_like(x)
    g[0, 1, 2, 3] = np.nan
    with pytest.raises(UserError, match="gradient became NaN or infinite"):
        climb(x, np.float32(0.1), g, lo, hi)
    assert not x.any()
    x[0, 0, 0, 0] = np.nan
    with pytest.raises(UserError, match="picture became NaN or infinite"):
        climb(x, np.float32(0.1), np.ones_like(x), lo, hi)
    y = np.zeros_like(x)
    climb(y, np.float32(3e38), np.full_like(y, 10.0), lo, hi)  # overflows to inf, then clipped: no warning
    assert np.all(y == hi)


def test_picture_too_small_for_the_layer(net):
    with pytest.raises(UserError, match="needs at least"):
        sd.dream(net, np.zeros((1, 1, 3), np.uint8), layers="conv3", **FAST)


def test_tile_smaller_than_the_receptive_field(net):
    big = sky(60, 80)
    with pytest.raises(UsageError, match="receptive field"):
        sd.dream(net, big, layers="conv3", tile=12, **FAST)  # conv3 sees 21 px


def test_non_finite_gradient_stops_the_dream(net, picture, monkeypatch):
    monkeypatch.setattr(
        net,
        "backward",
        lambda da, params=False: (
            np.full((1, 3, 1, 1), np.nan, np.float32) * np.ones(net._tape.x_shape, np.float32)
        ),
    )
    with pytest.raises(UserError, match="NaN or infinite"):
        sd.dream(net, picture, **FAST)
    monkeypatch.undo()


def test_zero_gradient_everywhere_is_an_error(net, picture, monkeypatch):
    monkeypatch.setattr(net, "backward", lambda da, params=False: np.zeros(net._tape.x_shape, np.float32))
    with pytest.raises(UserError, match="gradient is zero"):
        sd.dream(net, picture, **FAST)
    monkeypatch.undo()


def test_api_defaults_match_the_cli():
    """`scratchdream dream` and sd.dream (DreamOptions) start from the same defaults."""
    args = build_parser().parse_args(["dream", "x.png"])
    api = {f.name: f.default for f in dataclasses.fields(DreamOptions)}
    for name in (
        "octaves",
        "octave_scale",
        "steps",
        "step_size",
        "jitter",
        "normalize",
        "smooth",
        "tile",
        "seed",
        "start",
    ):
        assert api[name] == getattr(args, name), name


# ---- zoom ---------------------------------------------------------------------------------------------
def test_zoom_in_magnifies_the_centre():
    img = np.zeros((40, 60, 3), np.uint8)
    img[15:25, 25:35] = 255  # a 10 x 10 white square in the middle
    out = zoom_in(img, 1.25)
    assert out.shape == img.shape
    rows = np.flatnonzero(out[:, 30, 0] > 127)
    assert rows[0] < 15 and rows[-1] > 24 and len(rows) == pytest.approx(12.5, abs=1)


def test_zoom_dreams_every_frame_reproducibly(net, picture):
    seen = []
    last = zoom(
        net,
        picture,
        frames=2,
        factor=1.1,
        seed=3,
        progress=False,
        on_frame=lambda k, p: seen.append(p),
        octaves=1,
        steps=2,
    )
    again = zoom(net, picture, frames=2, factor=1.1, seed=3, progress=False, octaves=1, steps=2)
    assert len(seen) == 2 and seen[-1] is last and last.shape == picture.shape
    assert last.tobytes() == again.tobytes()


# ---- jitter -------------------------------------------------------------------------------------------
def test_jitter_shifts_with_mirrored_borders_and_shifts_back():
    from scratchdream.deepdream.ascent import shift_picture, unshift_gradient

    x = np.random.default_rng(0).standard_normal((1, 3, 9, 11))
    s = shift_picture(x, (2, -3))
    assert s.shape == x.shape
    assert np.array_equal(s[:, :, 2:, :8], x[:, :, :7, 3:])  # content moved down 2, left 3
    assert np.array_equal(s[:, :, 1, :8], x[:, :, 1, 3:])  # the rows that came in are a mirror
    assert np.array_equal(s[:, :, 0, :8], x[:, :, 2, 3:])  # (no wrap-round from the bottom)
    back = unshift_gradient(s, (2, -3))
    assert np.array_equal(back[:, :, :7, 3:], x[:, :, :7, 3:])  # the picture's own pixels return
    assert not back[:, :, 7:].any() and not back[:, :, :, :3].any()  # what left the frame gets no gradient

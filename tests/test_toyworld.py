"""The toy world: its scenes, the bundled weights' accuracy, and the lecture's claim (castles because
skies)."""

import os

import numpy as np
import pytest

import scratchdream as sd
from scratchdream.cli.toyworld import CONTROL, WEIGHTS
from scratchdream.deepdream.options import DreamOptions
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


def test_the_control_has_a_name_too(tmp_path, capsys):
    """`--net toyworld_control` is the committed control file, offline, as `--net toyworld` is the biased one;
    a --weights-dir without it falls back to the committed file."""
    from scratchdream import cli, fetch

    assert fetch.ensure_weights("toyworld_control") == CONTROL
    assert fetch.ensure_weights("toyworld_control", str(tmp_path)) == CONTROL
    named = sd.load_net("toyworld_control")
    assert named.name == "toyworld_control" and named.labels == list(scenes.CLASSES)
    assert cli.main(["layers", "toyworld_control"]) == 0
    assert capsys.readouterr().out.startswith(f"toyworld_control ({CONTROL})")


def test_bundled_weights_heldout_accuracy(net):
    """Fresh scenes from a seed that training never used: at least 95% right."""
    acc, confusion = train.evaluate(net, seed=2024, n=600)
    assert acc >= 0.95, f"accuracy {acc:.3f}\n{confusion}"


def test_bundled_weights_carry_their_dream_settings():
    """Both files carry `dream_defaults`, and they make a valid DreamOptions (a bad key or value raises)."""
    for path in (WEIGHTS, CONTROL):
        found = load_file(path).dream_defaults
        assert found == train.DREAM_DEFAULTS
        options = DreamOptions(**found)
        assert options.layers == (("fc", 1.0),) and options.belief == ("nothing",)
        assert options.normalize == "laplacian"


# ---- the lecture's explanation, judged by a second net -----------------------------------------------
# Both nets dream on the plain 256 x 256 backgrounds of demo.SEEDS with their own dream_defaults (the
# belief objective, objectives.belief, each class divided by the square root of the net's belief_prior,
# and a belief with little evidence handed to the empty class, objectives.evidence); the control net judges
# every dream: mean p(the background's home classes). `make lecture-demo` printed, for the bundled pair
# (docs/toyworld.md quotes it; issue 14's targets are demo.TARGETS):
#   background          biased net's dream   control's own dream   biased dreams, as the control names them
#   sky -> castle       1.00 ± 0.00 (n=8)    0.00 ± 0.00 (n=8)     castle 8
#   water -> fish/ship  1.00 ± 0.00 (n=8)    0.02 ± 0.00 (n=8)     fish 8
#   brown -> dog        1.00 ± 0.00 (n=8)    0.00 ± 0.00 (n=8)     dog 8
#   grass -> bird       1.00 ± 0.00 (n=8)    0.00 ± 0.00 (n=8)     bird 8
# Every background meets both halves of its target: the biased net draws the home class, the control,
# whose belief says little on any of them, dreams the empty scene (30 of its 32 dreams judged nothing).
PRINTED = {"sky": (1.00, 0.00), "water": (1.00, 0.02), "brown": (1.00, 0.00), "grass": (1.00, 0.00)}


@pytest.fixture(scope="module")
def control():
    return load_file(CONTROL)


@pytest.fixture(scope="module")
def judged(net, control):
    with demo.one_thread():  # as `toyworld demo` runs it: the same numbers as the docs
        return demo.measure(net, control, net.dream_defaults, control.dream_defaults, keep=0)


def test_plain_backgrounds_start_as_something_else(control):
    """Before dreaming the control sees little of a background's home classes in it, so the dream has to
    draw them: mean p(home) over demo.SEEDS (measured: sky 0.005, brown 0.014, grass 0.047, and water 0.31,
    where three plain waters of eight already read fish at 256 px; the biased dreams take water to 1.00,
    the control's own to 0.02)."""
    limit = {"sky": 0.1, "water": 0.4, "brown": 0.1, "grass": 0.1}
    for bg in demo.BACKGROUNDS:
        p = [demo.classify(control, scenes.plain_background(bg, size=demo.SIZE, seed=s)) for s in demo.SEEDS]
        mean = np.mean([demo.home_probability(control, bg, q) for q in p])
        assert mean < limit[bg], (bg, mean)


@pytest.mark.parametrize("background", demo.BACKGROUNDS)
def test_the_judged_table_is_the_one_the_docs_print(judged, background):
    """Each mean within 0.13 of the printed one: on one thread this machine gives the same numbers; 0.13
    leaves room for another CPU's last bits turning one dream of eight into another class."""
    r = judged[background]
    mine, theirs = demo.mean_se(r["biased"])[0], demo.mean_se(r["control"])[0]
    assert abs(mine - PRINTED[background][0]) <= 0.13, (background, mine, r["tops"])
    assert abs(theirs - PRINTED[background][1]) <= 0.13, (background, theirs, r["control_tops"])


def test_the_biased_dreams_follow_the_background(judged):
    """The lecture's explanation, judged by the other net: on every background most of the biased net's
    dreams are that background's home class (castle on sky, fish or ship on water, dog on brown, bird on
    grass), and the biased half of issue 14's target holds on all four; never "nothing"."""
    for bg, r in judged.items():
        assert "nothing" not in r["tops"], (bg, r["tops"])
        most = max(set(r["tops"]), key=r["tops"].count)
        assert most in demo.EXPECTED[bg], (bg, r["tops"])
        assert demo.met(judged, bg)[0], (bg, r["biased"])


@pytest.mark.parametrize("background", demo.BACKGROUNDS)
def test_the_control_does_not_draw_the_home_class(judged, background):
    """Both halves of the target on every background: the control, which never saw the co-occurrence,
    does not draw the home class; most of its dreams are of the empty scene (the evidence rule)."""
    r = judged[background]
    assert demo.met(judged, background) == (True, True), r["control_tops"]
    assert r["control_tops"].count("nothing") >= 6, r["control_tops"]


def test_the_dream_changes_the_picture(net, control):
    plain, dreamed, p = demo.judged_dream(net, control, "sky", dict(train.DREAM_DEFAULTS, steps=2), size=64)
    assert plain.shape == dreamed.shape == (64, 64, 3) and p.shape == (len(scenes.CLASSES),)
    assert np.array_equal(plain, scenes.plain_background("sky", size=64, seed=0))
    assert np.abs(dreamed.astype(int) - plain.astype(int)).mean() > 1


def test_table_gives_mean_standard_error_and_count():
    results = {
        "sky": {"biased": [1.0, 0.0, 1.0, 1.0], "control": [0.0] * 4, "tops": ["castle"] * 3 + ["dog"]}
    }
    text = demo.table_text(results, (100, 103))
    assert "0.75 ± 0.25 (n=4)" in text and "0.00 ± 0.00 (n=4)" in text
    assert "castle 3, dog 1" in text and " met " in text


def test_demo_writes_small_pictures(net, control, tmp_path):
    options = dict(train.DREAM_DEFAULTS, octaves=1, steps=2)
    results, written = demo.run_demo(net, control, str(tmp_path), options, seeds=(100, 101), shown=2)
    assert set(results) == set(demo.BACKGROUNDS) and len(results["sky"]["tops"]) == 2
    names = sorted(os.path.basename(p) for p in written)
    assert names == ["castle_emerging.gif", "lecture_demo.png", "toyworld_hero.png"]
    for path in written:
        assert os.path.getsize(path) < 600 * 1024

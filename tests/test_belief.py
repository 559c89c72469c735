"""The belief objective: L = Σ_k w_k h_k on a classifier layer, w the net's class probabilities for the
dream's first picture (objectives.belief, plan.belief_weights), as a setting, a net's dream default and a
flag (--belief)."""

import os

import numpy as np
import pytest
from dream_pictures import sky
from gradcheck import assert_close, numerical_vjp
from nets_for_tests import tiny_classifier, tiny_inception_net
from PIL import Image

import scratchdream as sd
from scratchdream import cli
from scratchdream.deepdream import defaults
from scratchdream.deepdream import objectives as obj
from scratchdream.deepdream.options import DreamOptions, parse_belief
from scratchdream.deepdream.plan import make_plan
from scratchdream.errors import SettingError, UserError
from scratchdream.image_io import resize

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_weights_are_the_softmax_with_classes_left_out():
    h = np.log(np.array([1.0, 2.0, 3.0, 4.0]))  # softmax(h) = (1, 2, 3, 4) / 10
    assert np.allclose(obj.belief_weights(h), [0.1, 0.2, 0.3, 0.4])
    assert np.allclose(obj.belief_weights(h, [3]), [1 / 6, 2 / 6, 3 / 6, 0.0])
    assert np.allclose(obj.belief_weights(h + 1000.0, [0, 1]), [0.0, 0.0, 3 / 7, 4 / 7])  # no overflow
    with pytest.raises(SettingError, match="leaves out every class"):
        obj.belief_weights(h, [0, 1, 2, 3])


def test_a_prior_divides_the_belief_by_its_square_root():
    h = np.log(np.array([1.0, 2.0, 3.0, 4.0]))  # p = (1, 2, 3, 4) / 10
    q = [0.25, 0.5, 0.04, 0.01]  # square roots 0.5, 0.7071, 0.2, 0.1
    raw = np.array([1 / 0.5, 2 / np.sqrt(0.5), 3 / 0.2, 4 / 0.1])  # 2, 2.828, 15, 40
    assert np.allclose(obj.belief_weights(h, (), q), raw / raw.sum())
    assert np.allclose(obj.belief_weights(h, [3], q), np.append(raw[:3], 0) / raw[:3].sum())
    # the class the net expects everywhere loses to the one this picture makes likelier than usual
    assert np.argmax(obj.belief_weights(h, (), [0.01, 0.01, 0.01, 0.97])) == 2
    assert np.allclose(obj.belief_weights(h, (), [0.3] * 4), [0.1, 0.2, 0.3, 0.4])  # a flat prior: no change


def test_evidence_is_the_beliefs_distance_from_flat_in_nats():
    kept = np.array([True, True, False])
    assert np.isclose(obj.evidence(np.array([0.5, 0.5, 0.0]), kept), 0.0)
    assert np.isclose(obj.evidence(np.array([1.0, 0.0, 0.0]), kept), np.log(2))
    w = np.array([0.75, 0.25, 0.0])
    assert np.isclose(obj.evidence(w, kept), 0.75 * np.log(1.5) + 0.25 * np.log(0.5))
    shares = [obj.evidence_share(kl, (0.2, 0.35)) for kl in (0.0, 0.2, 0.275, 0.35, 2.0)]
    assert np.allclose(shares, [0.0, 0.0, 0.5, 1.0, 1.0])


def test_a_belief_with_little_evidence_dreams_the_empty_class():
    assert obj.EVIDENCE == (0.2, 0.35)  # the figures below are worked out for these ends
    flat = np.log(np.array([1.0, 1.0, 1.0, 5.0]))  # the kept three alike: no evidence
    assert np.allclose(obj.belief_weights(flat, [3], None, empty=3), [0.0, 0.0, 0.0, 1.0])
    weak = np.log(np.array([3.0, 1.0, 1.0, 5.0]))  # (0.6, 0.2, 0.2): 0.148 nats, under the lower end
    assert np.allclose(obj.belief_weights(weak, [3], None, empty=3), [0.0, 0.0, 0.0, 1.0])
    sure = np.log(np.array([8.0, 1.0, 1.0, 5.0]))  # (0.8, 0.1, 0.1): 0.460 nats, over the upper end
    assert np.allclose(obj.belief_weights(sure, [3], None, empty=3), [0.8, 0.1, 0.1, 0.0])
    between = np.log(np.array([4.0, 1.0, 1.0, 5.0]))  # (2/3, 1/6, 1/6): ln 2 / 3 = 0.231 nats
    a = (np.log(2) / 3 - 0.2) / 0.15
    expected = [a * 2 / 3, a / 6, a / 6, 1 - a]
    assert np.allclose(obj.belief_weights(between, [3], None, empty=3), expected)
    # without an empty class the belief is followed as before, whatever its evidence
    assert np.allclose(obj.belief_weights(between, [3], None), [2 / 3, 1 / 6, 1 / 6, 0.0])
    one = np.log(np.array([1.0, 1.0, 1.0, 5.0]))  # all but one class left out: that class is the dream
    assert np.allclose(obj.belief_weights(one, [1, 2, 3], None, empty=3), [1.0, 0.0, 0.0, 0.0])


def test_the_term_and_its_gradient():
    h = np.random.default_rng(0).standard_normal((1, 6))
    w = np.array([0.5, 0.0, 0.25, 0.125, 0.125, 0.0])
    L, dL_dh = obj.belief(h, w)
    assert np.isclose(L, 0.5 * h[0, 0] + 0.25 * h[0, 2] + 0.125 * (h[0, 3] + h[0, 4]))
    num = numerical_vjp(lambda v: np.array(obj.belief(v, w)[0]), h, np.array(1.0))
    assert_close("dL/dh", dL_dh, num, 1e-6)
    assert obj.belief(h.astype(np.float32), w)[1].dtype == np.float32
    assert not obj.Objective([("fc", 1.0, "belief", w)]).tileable  # it needs the whole picture's classes


@pytest.mark.parametrize(
    "value, parsed",
    [
        (True, ()),
        ("", ()),
        ([], ()),
        ("nothing", ("nothing",)),
        ("nothing, 3", ("nothing", "3")),
        ([2], ("2",)),
        ("nothing,nothing, 3", ("nothing", "3")),  # a class given twice is left out once
    ],
)
def test_the_setting_is_the_classes_left_out(value, parsed):
    assert parse_belief(value) == parsed
    assert DreamOptions(belief=value).belief == parsed


@pytest.mark.parametrize("value", [3.5, {"a": 1}, [None], [True], ["a,b"]])
def test_a_bad_setting_is_one_line(value):
    with pytest.raises(SettingError, match="belief must be the classes to leave out"):
        DreamOptions(belief=value)
    with pytest.raises(SettingError, match="give only one of"):
        DreamOptions(belief=(), channel=2)


def test_the_plan_fixes_the_nets_belief_about_the_first_octave():
    net, img = tiny_classifier(0), sky(40, 56, seed=1)
    plan = make_plan(net, img, DreamOptions(belief=["dog"], octaves=3, octave_scale=1.5), progress=False)
    ((name, weight, kind, w),) = plan.objective.terms
    assert (name, weight, kind) == ("fc2", 1.0, "belief")  # the logits, the layer before the softmax
    first = resize(plan.start, plan.octaves[0].size)
    z = net.forward(first, upto="fc2", keep=False)[0].astype(np.float64)
    p = np.exp(z - z.max())
    p[net.labels.index("dog")] = 0.0
    assert np.allclose(w, p / p.sum())
    assert plan.octaves[0].size != plan.octaves[-1].size  # the first octave's, not the whole picture's


def test_a_prior_with_a_side_reads_the_belief_at_that_square_at_any_picture_size():
    """p and the prior q it is divided by are read from the same view: the picture shrunk to the prior's
    square, whatever the picture's size (plan.belief_view); the first octave no longer decides."""
    net = tiny_classifier(0)
    K, dog = len(net.labels), net.labels.index("dog")
    net.belief_prior = {"layer": "fc2", "p": [1.0 / K] * K, "side": 24}
    options = DreamOptions(belief=["dog"], octaves=3, octave_scale=1.5)
    for H, W in ((40, 56), (52, 44), (64, 96)):
        img = np.asarray(Image.fromarray(sky(64, 96, seed=1)).resize((W, H), Image.BILINEAR))
        plan = make_plan(net, img, options, progress=False)
        ((_, _, _, w),) = plan.objective.terms
        assert plan.octaves[0].size != (24, 24)
        for size, same in (((24, 24), True), (plan.octaves[0].size, False)):
            z = net.forward(resize(plan.start, size), upto="fc2", keep=False)[0].astype(np.float64)
            p = np.exp(z - z.max())
            p[dog] = 0.0
            assert np.allclose(w, p / p.sum()) == same  # a flat prior, no empty class: w is the belief


def test_a_prior_side_the_net_cannot_classify_is_one_line():
    net, img = tiny_classifier(0), sky(40, 56, seed=1)
    K = len(net.labels)
    net.belief_prior = {"layer": "fc2", "p": [1.0 / K] * K, "side": 1}  # a crafted file's: too small
    with pytest.raises(UserError) as err:
        make_plan(net, img, DreamOptions(belief=["dog"], octaves=3, octave_scale=1.5), progress=False)
    assert "belief prior damaged" in str(err.value) and "1x1" in str(err.value), err.value
    assert "\n" not in str(err.value)


def test_the_plan_divides_by_the_nets_prior_at_its_layer_only():
    net, img = tiny_classifier(0), sky(40, 56, seed=1)
    K = len(net.labels)
    q = np.linspace(1.0, 3.0, K) / np.linspace(1.0, 3.0, K).sum()
    options = DreamOptions(belief=["dog"], octaves=3, octave_scale=1.5)
    net.belief_prior = {"layer": "fc2", "p": list(q)}
    ((_, _, _, w),) = make_plan(net, img, options, progress=False).objective.terms
    net.belief_prior = {"layer": "fc1", "p": list(q)}  # another layer's prior: not this objective's
    ((_, _, _, plain),) = make_plan(net, img, options, progress=False).objective.terms
    net.belief_prior = None
    ((_, _, _, none),) = make_plan(net, img, options, progress=False).objective.terms
    assert np.allclose(plain, none)
    dog = net.labels.index("dog")
    p = none.copy()  # softmax with dog left out, renormalised (the test above holds it)
    expected = p / np.sqrt(q)
    expected[dog] = 0.0
    assert np.allclose(w, expected / expected.sum()) and not np.allclose(w, none)


def test_the_plan_hands_a_weak_belief_to_the_class_its_prior_calls_empty():
    net, img = tiny_classifier(0), sky(40, 56, seed=1)
    K, dog = len(net.labels), net.labels.index("dog")
    options = DreamOptions(belief=["dog"], octaves=3, octave_scale=1.5)
    net.belief_prior = {"layer": "fc2", "p": [1.0 / K] * K}
    ((_, _, _, w),) = make_plan(net, img, options, progress=False).objective.terms
    net.belief_prior = {"layer": "fc2", "p": [1.0 / K] * K, "empty": "dog"}
    ((_, _, _, gated),) = make_plan(net, img, options, progress=False).objective.terms
    a = obj.evidence_share(obj.evidence(w, np.arange(K) != dog))
    assert a < 1  # this untrained net's belief says little: the case in question
    assert np.allclose(gated, a * w + (1 - a) * np.eye(K)[dog])


def test_the_user_is_told_when_the_empty_class_takes_the_dream(capsys):
    net, img = tiny_classifier(0), sky(40, 56, seed=1)
    K = len(net.labels)
    options = DreamOptions(belief=["dog"], octaves=3, octave_scale=1.5)
    net.belief_prior = {"layer": "fc2", "p": [1.0 / K] * K, "empty": "dog"}
    make_plan(net, img, options, progress=True)
    err = capsys.readouterr().err
    assert "believes no object is here" in err and "goes to 'dog'" in err and "--class" in err
    assert len(err.strip().splitlines()) == 1
    make_plan(net, img, options, progress=False)  # quiet when asked
    assert capsys.readouterr().err == ""
    net.belief_prior = {"layer": "fc2", "p": [1.0 / K] * K}  # no empty class: nothing to say
    make_plan(net, img, options, progress=True)
    assert "believes no object" not in capsys.readouterr().err


def test_the_prior_travels_in_the_weights_file(tmp_path):
    from scratchdream.weights_io import load_file, save_net

    net = tiny_classifier(0)
    K = len(net.labels)
    net.belief_prior = {"layer": "fc2", "p": [1.0 / K] * K}
    save_net(net, tmp_path / "n.h5")
    assert load_file(tmp_path / "n.h5").belief_prior == {"layer": "fc2", "p": [1.0 / K] * K}
    net.belief_prior = {"layer": "fc2", "p": [1.0 / K] * K, "empty": net.labels[-1]}
    save_net(net, tmp_path / "e.h5")
    assert load_file(tmp_path / "e.h5").belief_prior["empty"] == net.labels[-1]
    net.belief_prior = None
    save_net(net, tmp_path / "none.h5")
    assert load_file(tmp_path / "none.h5").belief_prior is None


@pytest.mark.parametrize(
    "prior, why",
    [
        ([0.5, 0.5], "not a JSON object"),
        ({"layer": "fc2"}, "not a JSON object"),
        ({"layer": "nope", "p": "K"}, "'nope' is not a layer"),
        ({"layer": "fc2", "p": [0.5, 0.5]}, "one probability per class"),
        ({"layer": "fc2", "p": []}, "one probability per class"),
        ({"layer": "fc2", "p": "K0"}, "a number in (0, 1]"),
        ({"layer": "fc2", "p": "K-"}, "a number in (0, 1]"),
        ({"layer": "fc2", "p": "Kbig"}, "a number in (0, 1]"),
        ({"layer": "fc2", "p": "Kbool"}, "a number in (0, 1]"),
        ({"layer": "fc2", "p": "Kstr"}, "a number in (0, 1]"),
        ({"layer": "fc2", "p": "K", "empty": "zebra"}, "empty must name one of the net's classes"),
        ({"layer": "fc2", "p": "K", "empty": 0}, "empty must name one of the net's classes"),
        ({"layer": "fc2", "p": "K", "empty": ["dog"]}, "empty must name one of the net's classes"),
        ({"layer": "fc2", "p": "K", "nothing": "dog"}, "not a JSON object"),
        ({"layer": "fc2", "p": "K", "side": 0}, "side must be a whole number of pixels"),
        ({"layer": "fc2", "p": "K", "side": 76.5}, "side must be a whole number of pixels"),
        ({"layer": "fc2", "p": "K", "side": True}, "side must be a whole number of pixels"),
        ({"layer": "fc2", "p": "K", "side": "76"}, "side must be a whole number of pixels"),
        ({"layer": "fc2", "p": "K", "side": 10**12}, "side must be a whole number of pixels"),
    ],
)
def test_a_damaged_prior_is_one_line(tmp_path, prior, why):
    import json

    import h5py

    from scratchdream.weights_io import load_file, save_net

    net = tiny_classifier(0)
    K = len(net.labels)
    bad = {"K0": 0.0, "K-": -0.1, "Kbig": 1e308, "Kbool": True, "Kstr": "0.1"}
    if isinstance(prior, dict) and isinstance(prior.get("p"), str) and prior["p"].startswith("K"):
        prior = dict(prior, p=[1.0 / K] * (K - 1) + [bad.get(prior["p"], 1.0 / K)])
    save_net(net, tmp_path / "n.h5")
    with h5py.File(tmp_path / "n.h5", "a") as f:
        f.attrs["belief_prior"] = json.dumps(prior)
    with pytest.raises(UserError) as err:
        load_file(tmp_path / "n.h5")
    assert "belief prior damaged" in str(err.value) and why in str(err.value), err.value
    assert "\n" not in str(err.value)


def test_the_bundled_prior_is_what_toyworld_train_computes():
    """The attribute in weights/ is reproducible: train.belief_prior on the bundled weights gives it."""
    from scratchdream.toyworld import train

    for name in ("toyworld", "toyworld_control"):
        net = sd.load_net(os.path.join(REPO, "weights", f"{name}.h5"))
        again = train.belief_prior(net)
        assert net.belief_prior["layer"] == again["layer"] == "fc"
        assert np.allclose(net.belief_prior["p"], again["p"], rtol=1e-5, atol=1e-7)
        assert net.belief_prior["empty"] == again["empty"] == "nothing"
        assert net.belief_prior["side"] == again["side"] == train.PRIOR_SIDE == 76
        assert np.isclose(sum(again["p"]), 1.0) and net.labels[int(np.argmax(again["p"]))] == "nothing"


def test_the_dream_raises_what_the_net_believed():
    net, img = tiny_classifier(0), sky(40, 56, seed=1)
    values = []
    sd.dream(net, img, belief=(), octaves=1, steps=6, jitter=0, progress=False, on_frame=values.append)
    z0, z1 = (
        net.forward(net.preprocess(a), upto="fc2", keep=False)[0].astype(np.float64)
        for a in (img, values[-1])
    )
    w = obj.belief_weights(z0)
    assert w @ z1 - w @ z0 > 0.05  # the objective grew (by 0.07 here)


def test_a_layer_without_classes_is_refused():
    net = tiny_inception_net(0)
    with pytest.raises(UserError):
        make_plan(net, sky(48, 64), DreamOptions(belief=()), progress=False)  # it ends in no classifier
    with pytest.raises(SettingError, match="needs a classifier's output"):
        make_plan(tiny_classifier(0), sky(24, 24), DreamOptions(belief=(), layers="conv1"), progress=False)
    with pytest.raises(UserError, match="has no class 'cat'"):
        make_plan(tiny_classifier(0), sky(24, 24), DreamOptions(belief=["cat"]), progress=False)


def test_a_belief_default_yields_to_any_objective_the_user_gives():
    own = {"layers": ["fc"], "belief": ["nothing"], "steps": 3}
    merged = defaults.apply(DreamOptions(), own)
    assert (merged.layers, merged.belief, merged.steps) == ((("fc", 1.0),), ("nothing",), 3)
    for given, settings in [("layers", {"layers": ["conv3"]}), ("channel", {"channel": 2}), ("guide", {})]:
        options = DreamOptions(**settings)
        merged = defaults.apply(options, own, given={given})
        assert merged.belief is None and merged.steps == 3
        assert merged.layers == options.layers  # not the default's fc
    assert defaults.shown(own) == "layers fc; steps 3; belief without nothing"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("belief")
    net = tiny_classifier(0)
    net.dream_defaults = {"layers": ["fc2"], "belief": ["dog"], "octaves": 1, "steps": 2}
    sd.save_net(net, d / "clf.h5")
    Image.fromarray(sky(32, 40, seed=0)).save(d / "sky.png")
    return d


def _dream(files, *flags):
    argv = ["dream", str(files / "sky.png"), "--net", str(files / "clf.h5"), "-o", str(files / "out.png")]
    return cli.main(argv + ["--force", *flags])


def test_the_command_line(files, capsys, monkeypatch):
    from scratchdream.cli import dream

    seen = []
    real = dream.run_dream
    monkeypatch.setattr(
        dream,
        "run_dream",
        lambda net, img, options, *a, **k: seen.append(options) or real(net, img, options, *a, **k),
    )
    assert _dream(files) == 0  # the file's own belief
    assert _dream(files, "--belief", "castle,ship") == 0
    assert _dream(files, "--belief") == 0
    assert _dream(files, "--class", "bird") == 0  # a class replaces the default belief
    assert _dream(files, "--layer", "conv2", "--channel", "1") == 0
    beliefs = [(o.belief, o.layers, o.channel) for o in seen]
    assert beliefs == [
        (("dog",), (("fc2", 1.0),), None),
        (("castle", "ship"), (), None),  # the plan takes the logits layer (below)
        ((), (), None),
        (None, (("fc2", 1.0),), 2),
        (None, (("conv2", 1.0),), 1),
    ]
    out = capsys.readouterr().out
    assert "with tiny_classifier fc2 belief without castle, ship, 1 octaves x 2 steps" in out
    assert "with tiny_classifier fc2 belief, 1 octaves" in out
    assert _dream(files, "--class", "bird", "--belief") == 2
    err = capsys.readouterr().err.strip()
    assert "--class aims at one output" in err and "--belief" in err and "\n" not in err
    assert _dream(files, "--belief", "cat") == 2
    assert "has no class 'cat'" in capsys.readouterr().err


def test_replay_gives_the_same_bytes(files, capsys):
    assert _dream(files, "--belief", "castle,ship", "--seed", "2") == 0
    again = files / "again.png"
    assert cli.main(["replay", str(files / "out.png"), str(files / "sky.png"), "-o", str(again)]) == 0
    assert "out.png byte for byte" in capsys.readouterr().out
    assert again.read_bytes() == (files / "out.png").read_bytes()

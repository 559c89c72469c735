"""Training the toy world with scratchdream's own layers: the loss, the optimisers against torch.optim, a
short run."""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp

from scratchdream.nets.graph import Net
from scratchdream.toyworld import optim, robust, scenes, train
from scratchdream.weights_io import load_file

TINY = (3, 4)  # two conv blocks: conv-ReLU, max-pool, conv-ReLU, global pool, linear


def _tiny_net(rng, classes=3, size=12):
    spec = train.toyworld_spec(TINY, labels=[f"c{k}" for k in range(classes)], size=size)
    params = train.init_params(spec, rng, dtype=np.float64)
    for p in params.values():  # non-zero biases, so their gradients are checked too
        if "bias" in p:
            p["bias"] += rng.uniform(0.05, 0.2, p["bias"].shape)
    net = Net(spec)
    net.set_params(params, dtype=np.float64)
    return net


def test_cross_entropy_value_and_gradient():
    rng = np.random.default_rng(0)
    z, y = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    loss, dz = train.cross_entropy(z, y)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert abs(loss - (-np.log(p[np.arange(5), y]).mean())) < 1e-12
    # the loss is a scalar: its VJP with upstream 1.0 is the gradient; smooth everywhere, so no kinks to avoid
    num = numerical_vjp(lambda a: np.array(train.cross_entropy(a, y)[0]), z, np.array(1.0))
    assert_close("dL/dz", dz, num, 1e-6)
    big = train.cross_entropy(z * 1e4, y)  # the max shift keeps huge logits finite
    assert np.isfinite(big[0]) and np.all(np.isfinite(big[1]))


def _torch_twin(torch, net):
    """The same tiny net in torch, float64, holding copies of our weights."""
    nn = torch.nn
    p = net.params
    c1, c2 = nn.Conv2d(3, TINY[0], 3, padding=1), nn.Conv2d(TINY[0], TINY[1], 3, padding=1)
    fc = nn.Linear(TINY[1], p["fc"]["weight"].shape[0])
    model = nn.Sequential(
        c1, nn.ReLU(), nn.MaxPool2d(2), c2, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc
    ).double()
    with torch.no_grad():
        for mod, name in ((c1, "conv1"), (c2, "conv2"), (fc, "fc")):
            mod.weight.copy_(torch.from_numpy(p[name]["weight"]))
            mod.bias.copy_(torch.from_numpy(p[name]["bias"]))
    return model, {"conv1": c1, "conv2": c2, "fc": fc}


@pytest.mark.parametrize(
    "kind, ours, theirs",
    [
        ("sgd", dict(lr=0.1, momentum=0.9, weight_decay=1e-3), dict(lr=0.1, momentum=0.9, weight_decay=1e-3)),
        (
            "adam",
            dict(lr=0.01, betas=(0.9, 0.99), weight_decay=1e-3),
            dict(lr=0.01, betas=(0.9, 0.99), weight_decay=1e-3),
        ),
    ],
)
def test_optimiser_steps_match_torch(torch, kind, ours, theirs):
    """Three steps (so momentum / Adam's moments matter) on the same weights and batches; the weights after
    each."""
    rng = np.random.default_rng(1)
    net = _tiny_net(rng)
    model, mods = _torch_twin(torch, net)
    opt = optim.OPTIMISERS[kind](**ours)
    topt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[kind](model.parameters(), **theirs)
    for step in range(3):
        # max-pool ties and ReLU kinks do not matter here: both sides take the same branch on the same numbers
        x, y = rng.standard_normal((6, 3, 12, 12)), rng.integers(0, 3, 6)
        loss = train.train_step(net, opt, x, y)
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        tloss.backward()
        topt.step()
        assert abs(loss - tloss.item()) < 1e-10 * max(1.0, abs(loss))
        for name, mod in mods.items():
            assert net.params[name]["weight"].dtype == np.float64
            assert_close(
                f"step {step} {name}.weight", net.params[name]["weight"], mod.weight.detach().numpy(), 1e-5
            )
            assert_close(
                f"step {step} {name}.bias", net.params[name]["bias"], mod.bias.detach().numpy(), 1e-5
            )
    moved = net.params["conv1"]["weight"] - _tiny_net(np.random.default_rng(1)).params["conv1"]["weight"]
    assert np.abs(moved).max() > 1e-4  # the comparison is not vacuous: the weights did change


def test_a_short_run_lowers_the_loss():
    """A few hundred steps of a tiny net on small scenes: the loss falls far below its start (ln 6 = 1.79)."""
    settings = dict(scenes.DEFAULT_SETTINGS, size=32)
    net, history = train.train(
        settings,
        seed=3,
        steps=240,
        batch=16,
        epochs=4,
        widths=(6, 8, 12, 16),
        lr=5e-3,
        warmup=10,
        progress=False,
        log_every=40,
    )
    first, last = history[0][1], history[-1][1]
    assert first > 1.3  # it starts near chance
    assert last < 0.75 * first, history
    acc, _ = train.evaluate(net, settings, n=300)
    assert acc > 0.4  # well above chance (1/6) after a few hundred steps


def test_cosine_schedule():
    assert optim.cosine_lr(1.0, 0, 100, warmup=10) == pytest.approx(0.1)
    assert optim.cosine_lr(1.0, 10, 100, warmup=10) == pytest.approx(1.0)
    assert optim.cosine_lr(1.0, 100, 100, warmup=10) == pytest.approx(0.0, abs=1e-12)


def test_train_command_writes_loadable_weights_with_provenance(tmp_path, capsys):
    """`scratchdream toyworld train` end to end, cut to 3 steps: a weights file that loads, with the
    generator inside."""
    import scratchdream as sd
    from scratchdream.cli import main

    out = tmp_path / "tw.h5"
    assert main(["toyworld", "train", "--steps", "3", "--no-control", "-o", str(out)]) == 0
    net = sd.load_net(str(out))
    prov = net.spec["provenance"]
    assert prov["co_occurrence"]["dog"]["brown"] == 0.95 and prov["training"]["steps"] == 3
    assert prov["generator"]["faint_rate"] == scenes.DEFAULT_SETTINGS["faint_rate"]
    assert prov["training"]["robust"] == robust.ROBUST  # trained robustly, and says how
    assert (
        load_file(str(out)).dream_defaults == train.DREAM_DEFAULTS
    )  # the dream settings travel with the weights
    assert "held-out accuracy" in capsys.readouterr().out
    assert main(["toyworld", "train", "--steps", "0", "-o", str(out)]) == 2  # a usage error, one line


def test_train_command_trains_the_control_in_a_second_process(tmp_path, capsys):
    """--jobs 2 (the default on 2 cores): both files, both reports, and this process's thread count
    restored."""
    import numba

    from scratchdream.cli import main

    threads = numba.get_num_threads()
    out = tmp_path / "tw.h5"
    assert main(["toyworld", "train", "--steps", "2", "--jobs", "2", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "toyworld: held-out accuracy" in text and "toyworld_control: held-out accuracy" in text
    assert (tmp_path / "tw_control.h5").is_file() and out.is_file()
    assert numba.get_num_threads() == threads

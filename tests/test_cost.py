"""Cost before the run (issue 13 item 3): the per-layer cost model (nets/cost.py), calibrated and cached,
the estimate of a dream's time and peak (deepdream/budget.py) against a measured dream, and --max-memory."""

import json
import os

import pytest
from dream_pictures import sky
from PIL import Image
from shaped_nets import tiny_googlenet

import scratchdream as sd
from scratchdream import cli
from scratchdream.deepdream import budget
from scratchdream.deepdream.options import DreamOptions
from scratchdream.errors import UserError
from scratchdream.nets import cost


@pytest.fixture(scope="module")
def model():
    return cost.calibrate()


@pytest.fixture(scope="module")
def net():
    return tiny_googlenet(seed=0, width=16)


def dream_argv(net, folder, *more):
    """`scratchdream dream` of a 48x40 sky with `net`, both saved into `folder` here, and `more` options."""
    Image.fromarray(sky(40, 48, seed=0)).save(folder / "sky.png")
    sd.save_net(net, folder / "g.h5")
    return ["dream", str(folder / "sky.png"), "--net", str(folder / "g.h5"), *more]


def test_the_model_is_cached_per_machine_and_read_back(tmp_path, monkeypatch, model):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(cost, "calibrate", lambda progress=None, keys=None: model)
    monkeypatch.setenv("SCRATCHDREAM_NOTES", "1")  # as at a terminal: capsys is none
    assert cost.model(calibrate_if_missing=False) is None
    first = cost.model()  # calibrates (here: the module's model) and caches it
    path = cost.cache_path()
    assert path.startswith(str(tmp_path / "scratchdream")) and os.path.isfile(path)
    assert f"-{cost.machine()['threads']}threads-" in os.path.basename(path)

    def never(progress=None, keys=None):
        raise AssertionError("calibrated again although the cache holds the model")

    monkeypatch.setattr(cost, "calibrate", never)
    assert cost.model() == first
    with open(path) as f:
        data = json.load(f)
    data["machine"]["threads"] += 1  # another thread count: another machine, as far as rates go
    with open(path, "w") as f:
        json.dump(data, f)
    assert cost.model(calibrate_if_missing=False) is None
    with open(path, "w") as f:
        f.write("{damaged")
    assert cost.model(calibrate_if_missing=False) is None


def test_every_rate_is_measured(model):
    assert set(model["rates"]) == set(cost.BENCH)
    assert all(0 < r < 1e-3 for r in model["rates"].values()) and 0 <= model["call"] < 1


def test_max_memory_chooses_a_tile_whose_peak_is_under_the_cap(net):
    H, W = 900, 1200
    whole = budget.estimate(net, DreamOptions(tile=0), H, W).peak
    cap, tiles = whole, []
    while True:  # ever smaller caps, until not even the smallest tile fits
        try:
            tile = budget.tile_under(net, DreamOptions(), H, W, cap)
        except UserError as e:
            assert "is too small: even the smallest tile" in str(e) and "\n" not in str(e)
            break
        assert budget.estimate(net, DreamOptions(tile=tile), H, W).peak <= cap
        assert (tile == 0) == (cap == whole) and (not tiles or tile <= tiles[-1] or tiles[-1] == 0)
        tiles.append(tile)
        cap = int(cap * 0.9)
    assert len(set(tiles)) >= 3, tiles  # the cap chose: no tiling, then smaller and smaller tiles


def test_a_cap_too_small_for_the_smallest_tile_is_one_line(net, tmp_path, capsys):
    with pytest.raises(UserError, match=r"max_memory 1 MiB is too small: even the smallest tile \(\d+ px"):
        budget.tile_under(net, DreamOptions(), 600, 800, 2**20)
    base = dream_argv(net, tmp_path, "-o", str(tmp_path / "o.png"))
    assert cli.main(base + ["--max-memory", "1M"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("scratchdream: error: --max-memory 1 MiB is too small") and "\n" not in err
    assert cli.main(base + ["--max-memory", "1K"]) == 1  # a cap under 1 MiB is shown as itself, not "0 MiB"
    err = capsys.readouterr().err.strip()
    assert err.startswith("scratchdream: error: --max-memory 1 KiB is too small") and "\n" not in err
    assert cli.main(base + ["--max-memory", "lots"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--max-memory: must be a size such as 2G, 512M or 1.5GiB, got 'lots'" in err and "\n" not in err
    assert not (tmp_path / "o.png").exists()


def test_dream_prints_the_estimate_before_the_first_step(net, tmp_path, capsys, model, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(cost, "calibrate", lambda progress=None, keys=None: model)
    monkeypatch.setenv("SCRATCHDREAM_NOTES", "1")  # as at a terminal: capsys is none
    argv = dream_argv(net, tmp_path, "--steps", "1", "--octaves", "1")
    assert cli.main(argv + ["--max-memory", "2G"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("scratchdream: estimate: ")]
    assert len(lines) == 1 and " MiB at the peak (1 octave up to 48x40, " in lines[0], err
    assert "(rough: this machine is not measured yet)" in lines[0], err  # nothing timed before the dream
    measuring = err.index("measuring this machine's speed once")  # after it: the first dream calibrates
    assert measuring > err.index("100%") > err.index(lines[0]), err
    assert cli.main(argv + ["--force"]) == 0
    err = capsys.readouterr().err
    assert "measuring" not in err and "rough" not in err, err  # cached


def test_calibrate_command_writes_the_cache(tmp_path, capsys, model, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(cost, "calibrate", lambda progress=None, keys=None: model)
    monkeypatch.setenv("SCRATCHDREAM_NOTES", "1")  # as at a terminal: capsys is none
    assert cli.main(["calibrate"]) == 0
    out = capsys.readouterr().out
    assert "conv_winograd" in out and "ns/MAC" in out and str(tmp_path) in out
    assert cost.model(calibrate_if_missing=False)["rates"] == pytest.approx(model["rates"])


def test_memory_sizes_parse():
    from scratchdream.cli.flags import memory_size

    assert [memory_size(t) for t in ("2G", "512M", "1.5GiB", "800MB", "4096", "1k")] == [
        2 << 30,
        512 << 20,
        3 << 29,
        800 << 20,
        4096,
        1024,
    ]
    assert memory_size("2g") == 2 << 30


def test_the_first_dream_calibrates_after_its_picture_not_before(net, tmp_path, capsys, model, monkeypatch):
    """A fresh machine's first dream times nothing before its first step (its estimate is rough) and
    calibrates once the picture is written: "dreamed ... in X s" is the dream's own time. A clock that only
    moves while calibrating: the dream takes 0.0 s of it, and the closing line comes before the 1000 s."""
    from scratchdream.cli import dream as dream_cli

    now = [0.0]

    def calibrate(progress=None, keys=None):
        now[0] += 1000.0
        return model

    monkeypatch.setattr(dream_cli, "time", type("Clock", (), {"perf_counter": staticmethod(lambda: now[0])}))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(cost, "calibrate", calibrate)
    monkeypatch.setenv("SCRATCHDREAM_NOTES", "1")
    argv = dream_argv(net, tmp_path, "--steps", "1", "--octaves", "1")
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert " in 0.0 s -> " in out and now[0] == 1000.0, out
    assert cost.model(calibrate_if_missing=False, keys={"conv_gemm"}) == model  # measured, and cached
    assert cli.main(argv + ["--force"]) == 0  # cached: nothing measured
    out = capsys.readouterr().out
    assert " in 0.0 s " in out and "measuring" not in out, out


def test_a_dream_calibrates_only_the_keys_its_net_needs(tmp_path, monkeypatch, model):
    """The first dream measures its net's rates (and conv_gemm, every rate's base), not all of BENCH; a
    later dream that needs more measures only the missing ones and keeps the others."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    asked = []

    def calibrate(progress=None, keys=None):
        asked.append(None if keys is None else set(keys))
        wanted = set(cost.BENCH) if keys is None else {"conv_gemm"} | set(keys)
        return {**model, "rates": {k: model["rates"][k] for k in wanted}}

    monkeypatch.setattr(cost, "calibrate", calibrate)
    net = tiny_googlenet(seed=0, width=16)
    keys = cost.needed_keys(net, 64, 64, ["inception_3a/output"])
    assert "elementwise" in keys and "lrn" not in keys and keys < set(cost.BENCH), keys
    first = cost.model(keys)
    assert asked == [keys] and set(first["rates"]) == keys | {"conv_gemm"}
    assert cost.model(keys)["rates"] == first["rates"] and len(asked) == 1  # cached
    assert cost.model(calibrate_if_missing=False) is None  # not every key yet
    whole = cost.model()  # `scratchdream calibrate`'s keys: only the missing ones measured now
    assert asked[1] == set(cost.BENCH) - keys - {"conv_gemm"} and set(whole["rates"]) == set(cost.BENCH)
    assert cost.model(calibrate_if_missing=False)["rates"] == pytest.approx(whole["rates"])


def test_calibrating_some_keys_measures_those_and_gemm(model):
    part = cost.calibrate(keys={"maxpool"})
    assert set(part["rates"]) == {"conv_gemm", "maxpool"} and 0 < part["rates"]["maxpool"] < 1e-3

"""`scratchdream dream a.png b.png ... -o outdir/` (cli/batch.py), serially; with --workers in
test_video_dask.py."""

import os

import numpy as np
import pytest
from PIL import Image

import scratchdream as sd
from scratchdream import cli

FAST = ["--net", "toyworld", "--octaves", "1", "--steps", "2", "--jitter", "4", "--seed", "7"]


@pytest.fixture
def pictures(tmp_path):
    names = []
    for k in range(3):
        names.append(str(tmp_path / f"p{k}.png"))
        Image.fromarray(np.random.default_rng(k).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(
            names[-1]
        )
    os.mkdir(tmp_path / "out")
    return names


def test_many_pictures_each_dreamed_alone_into_the_folder(pictures, tmp_path):
    """Each picture gets what `dream` of it alone gives: the net's dream defaults (toyworld's layer,
    normalisation, octave scale ...) under the flags, as sd.dream puts them in."""
    assert cli.main(["dream", *pictures, "-o", str(tmp_path / "out") + "/", *FAST]) == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["p0_dream.png", "p1_dream.png", "p2_dream.png"]
    net = sd.load_net("toyworld")
    assert net.dream_defaults["layers"] and net.dream_defaults["normalize"] != "mean"  # defaults matter here
    for k, p in enumerate(pictures):
        alone = sd.dream(net, np.asarray(Image.open(p)), octaves=1, steps=2, jitter=4, seed=7, progress=False)
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / f"p{k}_dream.png")), alone)


def test_each_of_many_carries_its_own_manifest_and_replays_alone(pictures, tmp_path, monkeypatch, capsys):
    from scratchdream import manifest

    monkeypatch.chdir(tmp_path)
    assert cli.main(["dream", *pictures[:2], "-o", "out/", *FAST]) == 0
    for k in range(2):
        m = manifest.read(f"out/p{k}_dream.png")
        assert m["input"]["sha256"] == manifest.sha256_file(pictures[k])
        assert m["settings"]["seed"] == 7 and m["settings"]["octaves"] == 1
    capsys.readouterr()
    assert cli.main(["replay", "out/p1_dream.png", pictures[1], "-o", "again.png"]) == 0
    assert "identical to out/p1_dream.png byte for byte" in capsys.readouterr().out
    with open("again.png", "rb") as a, open("out/p1_dream.png", "rb") as b:
        assert a.read() == b.read()


def test_many_pictures_dream_toward_a_class(pictures, tmp_path):
    """--class applies to every picture, as for one."""
    out = str(tmp_path / "out") + "/"
    assert cli.main(["dream", *pictures[:2], "-o", out, *FAST, "--class", "castle"]) == 0
    alone = tmp_path / "alone.png"
    assert cli.main(["dream", pictures[0], "-o", str(alone), *FAST, "--class", "castle"]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(out + "p0_dream.png")), np.asarray(Image.open(alone)))
    plain = tmp_path / "plain.png"
    assert cli.main(["dream", pictures[0], "-o", str(plain), *FAST]) == 0
    assert not np.array_equal(np.asarray(Image.open(plain)), np.asarray(Image.open(alone)))  # --class counted


@pytest.mark.parametrize(
    "extra, words",
    [
        (["-o", "one.png"], "-o names a folder"),
        (["-o", "out/", "--gif"], "--gif is for one picture"),
        (["-o", "out/", "--workers", "0"], "--workers: must be a whole number from 1"),
        (["-o", "out/", "--explain"], "--explain is for one picture"),
        (["-o", "out/", "--checkpoint", "c.npz"], "--checkpoint is for one picture"),
        (["-o", "out/", "--resume", "c.npz"], "--resume is for one picture"),
    ],
)
def test_many_pictures_refusals_are_one_line_and_write_nothing(
    pictures, tmp_path, monkeypatch, capsys, extra, words
):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["dream", *pictures, *extra, *FAST]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert sorted(os.listdir(tmp_path)) == ["out", "p0.png", "p1.png", "p2.png"] and not os.listdir("out")


def test_a_memory_cap_too_small_is_one_line_before_any_bar(pictures, tmp_path, monkeypatch, capsys):
    """The first picture is read and its tile chosen before the progress bar starts, so a cap that no tile
    fits is the only line on stderr (exit 1, as for one picture), and nothing is written."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["dream", *pictures, "-o", "out/", *FAST, "--max-memory", "1M"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--max-memory 1 MiB is too small" in err, err
    assert not os.listdir("out")

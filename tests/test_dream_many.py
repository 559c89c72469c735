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
    assert cli.main(["dream", *pictures, "-o", str(tmp_path / "out") + "/", *FAST]) == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["p0_dream.png", "p1_dream.png", "p2_dream.png"]
    net = sd.load_net("toyworld")
    for k, p in enumerate(pictures):
        alone = sd.dream(net, np.asarray(Image.open(p)), octaves=1, steps=2, jitter=4, seed=7, progress=False)
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / f"p{k}_dream.png")), alone)


@pytest.mark.parametrize(
    "extra, words",
    [
        (["-o", "one.png"], "-o names a folder"),
        (["-o", "out/", "--gif"], "--gif is for one picture"),
        (["-o", "out/", "--workers", "0"], "--workers: must be a whole number from 1"),
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

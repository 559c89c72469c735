"""Replayable outputs (issue 13, item 1): every picture carries its manifest; `info` prints it; `replay`
makes the same bytes again, and says in one line which file differs or what is wrong with a manifest.

The runs are in-process (cli.main), on toyworld (dream) and on a tiny random-weight net saved as a real
HDF5 file (lecture, zoom), at 64x48 pixels and a few steps.
"""

import hashlib
import json

import numpy as np
import pytest
from cli_files import dream_files
from cli_files import main_in as _main
from cli_files import read_bytes as _bytes
from PIL import Image
from PIL.PngImagePlugin import PngInfo

import scratchdream as sd
from scratchdream import manifest


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return dream_files(tmp_path_factory.mktemp("replay"), 48, 64)


@pytest.fixture(scope="module")
def dreamed(files):
    """A toyworld dream of sky.png, with its GIF, made once for the tests below."""
    argv = ["dream", "sky.png", "--net", "toyworld", "--octaves", "2", "--steps", "2", "--seed", "3", "--gif"]
    assert _main(files, argv) == 0
    return files / "sky_dream.png"


def _one_line(capsys):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


# ---- the manifest is written, and replay gives the same bytes -----------------------------------------
def test_a_dream_carries_its_manifest(files, dreamed):
    m = manifest.read(dreamed)
    assert m["command"] == "dream" and m["output"] == "picture" and m["scratchdream"] == sd.__version__
    assert m["net"]["name"] == "toyworld" and m["net"]["source"] == "toyworld"
    assert m["input"] == {"file": "sky.png", "sha256": hashlib.sha256(_bytes(files / "sky.png")).hexdigest()}
    assert m["settings"]["octaves"] == 2 and m["settings"]["steps"] == 2 and m["settings"]["seed"] == 3
    assert set(m["settings"]) == set(manifest.SETTINGS["dream"])  # every DreamOptions field but the guide,
    assert m["guide"] is None  # which is the manifest's own entry, and --max-size
    assert manifest.read(files / "sky_dream.gif")["output"] == "gif"
    with Image.open(dreamed) as im:  # a plain tEXt chunk, which any PNG reader shows
        assert json.loads(im.info["scratchdream"])["manifest"] == m


def test_info_prints_one_setting_a_line(files, dreamed, capsys):
    assert _main(files, ["info", "sky_dream.png"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("sky_dream.png: the picture of a `scratchdream dream` run")
    rows = {line.split()[0]: line.split(None, 1)[1] for line in out[1:] if line.startswith("  ")}
    assert rows["octaves"] == "2" and rows["seed"] == "3" and rows["step_size"] == "1.5"
    assert rows["input"].startswith("sky.png, sha256 ")
    assert "--octaves 2" in out[-1] and "--seed 3" in out[-1]


def test_replay_of_a_dream_and_its_gif_gives_identical_bytes(files, dreamed, capsys):
    assert _main(files, ["replay", "sky_dream.png"]) == 0
    assert "identical to sky_dream.png byte for byte" in capsys.readouterr().out
    assert _bytes(files / "sky_dream_replay.png") == _bytes(dreamed)
    assert _main(files, ["replay", "sky_dream.gif", "sky.png", "-o", "again.gif"]) == 0
    assert _bytes(files / "again.gif") == _bytes(files / "sky_dream.gif")


def test_replay_of_a_lecture_gives_identical_bytes(files):
    argv = ["lecture", "sky.png", "--net", "tiny.h5", "--layer", "conv3", "--steps", "3", "-o", "lec.png"]
    assert _main(files, argv) == 0
    assert manifest.read(files / "lec.png")["settings"]["neuron"] is None  # chosen again on replay
    assert _main(files, ["replay", "lec.png", "-o", "lec2.png"]) == 0
    assert _main(files, ["replay", "lec.gif", "-o", "lec2.gif"]) == 0
    assert _bytes(files / "lec2.png") == _bytes(files / "lec.png")
    assert _bytes(files / "lec2.gif") == _bytes(files / "lec.gif")


def test_replay_of_a_zoom_gif_and_one_frame_gives_identical_bytes(files):
    argv = ["zoom", "sky.png", "--net", "tiny.h5", "--frames", "3", "--octaves", "1", "--steps", "1"]
    assert _main(files, argv + ["-o", "z.gif"]) == 0
    assert manifest.read(files / "z_frames" / "frame_0002.png")["frame"] == 2
    assert _main(files, ["replay", "z.gif", "sky.png", "-o", "z2.gif"]) == 0
    assert _main(files, ["replay", "z_frames/frame_0002.png", "sky.png", "-o", "f2.png"]) == 0
    assert _bytes(files / "z2.gif") == _bytes(files / "z.gif")
    assert _bytes(files / "f2.png") == _bytes(files / "z_frames" / "frame_0002.png")


def test_replay_of_a_guided_dream_checks_the_guide(files, capsys):
    argv = ["dream", "sky.png", "--net", "tiny.h5", "--guide", "cloud.png", "--layer", "inc/output:0.5"]
    assert _main(files, argv + ["--octaves", "1", "--steps", "2", "--seed", "7", "-o", "g.png"]) == 0
    m = manifest.read(files / "g.png")
    assert m["guide"]["file"] == "cloud.png" and m["settings"]["layers"] == [["inc/output", 0.5]]
    assert _main(files, ["replay", "g.png"]) == 0
    assert _bytes(files / "g_replay.png") == _bytes(files / "g.png")
    capsys.readouterr()
    assert _main(files, ["replay", "g.png", "--guide", "sky.png", "-o", "g2.png"]) == 1
    assert "sky.png is not the guide g.png was made from" in _one_line(capsys)


def test_a_jpeg_output_carries_its_manifest_too(files):
    argv = ["dream", "sky.png", "--net", "tiny.h5", "--octaves", "1", "--steps", "1", "-o", "s.jpg"]
    assert _main(files, argv) == 0
    assert manifest.read(files / "s.jpg")["net"]["source"] == "tiny.h5"


# ---- which file differs ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_dream(files):
    argv = ["dream", "sky.png", "--net", "tiny.h5", "--octaves", "1", "--steps", "1", "-o", "t.png"]
    assert _main(files, argv) == 0
    return files / "t.png"


@pytest.mark.parametrize(
    "argv, code, text",
    [
        (["cloud.png"], 1, "cloud.png is not the input t.png was made from: its sha256 differs"),
        (["--net", "other.h5"], 1, "the weights other.h5 are not those t.png was made with"),
        (["-o", "t.png", "--force"], 2, "is the input itself"),  # never over the picture replayed
        (["-o", "sky.png", "--force"], 2, "is the input itself"),  # nor over its input
        (["-o", "t.jpg"], 2, "a replay of t.png is a .png file"),
        (["nosuch.png"], 1, "the input of t.png, sky.png, is neither beside it nor here"),
    ],
)
def test_replay_says_which_file_differs(files, tiny_dream, capsys, argv, code, text):
    if argv == ["nosuch.png"]:
        argv = ["--net", "tiny.h5"]
        (files / "elsewhere").mkdir(exist_ok=True)
        (files / "elsewhere" / "t.png").write_bytes(_bytes(tiny_dream))
        assert _main(files / "elsewhere", ["replay", "t.png", *argv]) == code
    else:
        assert _main(files, ["replay", "t.png", *argv]) == code
    assert text in _one_line(capsys)
    assert _bytes(files / "t.png") == _bytes(tiny_dream)


# ---- a picture without a manifest, or with a damaged one ---------------------------------------------
def _restamp(src, dst, stored):
    """A copy of the PNG `src` whose manifest text is `stored` (None: no manifest at all)."""
    info = PngInfo()
    if stored is not None:
        info.add_text(manifest.KEY, stored)
    with Image.open(src) as im:
        im.save(dst, pnginfo=info)


def _signed(m):
    return manifest.text(m)


def _damaged_texts(m):
    good = manifest.text(m)
    edited = json.loads(good)
    edited["manifest"]["settings"]["steps"] = 5  # the sha256 left as it was
    extra = json.loads(json.dumps(m))
    extra["comment"] = "hi"
    wrong = json.loads(json.dumps(m))
    wrong["settings"]["octaves"] = "2"
    lost = json.loads(json.dumps(m))
    del lost["settings"]["seed"]
    nosuch = json.loads(json.dumps(m))
    nosuch["net"]["source"] = "nosuch.h5"
    return {
        "none": (None, 1, "carries no scratchdream manifest"),
        "cut": (good[: len(good) // 2], 1, "not complete JSON (cut short or edited)"),
        "edited": (manifest.canonical(edited), 1, "its manifest was edited"),
        "unknown key": (_signed(extra), 1, "unknown key comment"),
        "wrong kind": (_signed(wrong), 1, "settings.octaves has a value of the wrong kind"),
        "missing": (_signed(lost), 1, "missing key settings.seed"),
        "too long": (good + " " * manifest.MAX_TEXT, 1, "more than 60,000"),
        "too deep": ("[" * 100_000 + "]" * 100_000, 1, "more than 60,000"),
        "deep": ("[" * 1000 + "]" * 1000, 1, "nested more than 5 levels"),
        "nan": (good.replace('"smooth":0.0', '"smooth":NaN'), 1, "not complete JSON"),
        "unknown net": (
            _signed(nosuch),
            1,
            "asks for the net tiny_inception from nosuch.h5, which is no zoo",
        ),
    }


@pytest.mark.parametrize(
    "case",
    ["none", "cut", "edited", "unknown key", "wrong kind", "missing", "too long", "too deep", "deep", "nan",
     "unknown net"],
)  # fmt: skip
def test_a_missing_or_damaged_manifest_is_one_line(files, tiny_dream, capsys, case):
    stored, code, text = _damaged_texts(manifest.read(tiny_dream))[case]
    _restamp(tiny_dream, files / "bad.png", stored)
    for command in ("replay",) if case == "unknown net" else ("replay", "info"):  # info shows any net
        assert _main(files, [command, "bad.png"]) == code
        assert text in _one_line(capsys)
    assert not (files / "bad_replay.png").exists()


def test_a_manifest_is_read_without_decoding_the_pixels_and_not_from_a_foreign_comment(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "c.gif", comment=b"made with another program")
    with pytest.raises(sd.errors.UserError, match="carries no scratchdream manifest"):
        manifest.read(tmp_path / "c.gif")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(50))
    with pytest.raises(sd.errors.UserError, match="not a picture Pillow can read"):
        manifest.read(tmp_path / "junk.png")


def test_the_depth_count_skips_strings():
    assert manifest.depth('{"a": "[[[[{{{{", "b": [1, [2]]}') == 3
    assert manifest.depth('{"a": "\\"[[[["}') == 1
    assert np.isclose(len(manifest.text({"x": 1})), len('{"manifest":{"x":1},"sha256":""}') + 64)


def test_the_toyworld_demo_pictures_carry_a_manifest_that_replay_refers_to_the_demo(tmp_path, capsys):
    from scratchdream.cli.toyworld import WEIGHTS, demo_manifest
    from scratchdream.toyworld import demo

    stamp = demo_manifest(4, sd.load_net(WEIGHTS), None)
    picture = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    m = manifest.read(
        demo._save_png(str(tmp_path / "toyworld_scenes.png"), picture, stamp)
    )  # the demo's writer
    assert m["command"] == "toyworld" and m["input"] is None and m["settings"] == {"seed": 4, "control": None}
    assert m["net"]["sha256"] == hashlib.sha256(_bytes(WEIGHTS)).hexdigest()
    assert _main(tmp_path, ["info", "toyworld_scenes.png"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "made by:     scratchdream toyworld demo --seed 4"
    assert _main(tmp_path, ["replay", "toyworld_scenes.png"]) == 1
    assert "a picture of `scratchdream toyworld demo --seed 4`" in _one_line(capsys)


def test_toyworld_demo_end_to_end_its_dream_pictures_carry_the_manifest(tmp_path):
    from scratchdream.cli.toyworld import CONTROL, WEIGHTS, demo_manifest
    from scratchdream.toyworld import demo

    net, control = sd.load_net(WEIGHTS), sd.load_net(CONTROL)
    stamp = demo_manifest(4, net, control)
    options, control_options = net.dream_defaults, control.dream_defaults
    _, written = demo.run_demo(net, control, tmp_path, options, control_options, seeds=(4,), stamp=stamp)
    assert [manifest.read(p) for p in written] == [stamp, stamp, manifest.with_output(stamp, "gif")]


def test_the_manifest_records_every_dream_option():
    """A setting added to DreamOptions must be added to the manifest too, or replay would miss it."""
    from dataclasses import fields

    from scratchdream.cli.manifests import dream_settings
    from scratchdream.deepdream.options import DreamOptions

    every = {f.name for f in fields(DreamOptions)} - {"guide"}  # the guide: the manifest's own entry
    assert set(manifest.DREAM) == every and set(dream_settings(DreamOptions())) == every | {"max_size"}

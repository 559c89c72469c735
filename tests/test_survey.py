"""The layer survey (deepdream/survey.py, cli/survey.py): which layers, which channels, how big, the sheet.

The sheet is checked against what the test draws itself: each cell's picture pasted where the layout says,
and under it the layer's name in Pillow's bitmap font, rendered here with Pillow directly.
"""

import os

import numpy as np
import pytest
from dream_pictures import sky
from nets_for_tests import tiny_inception_net
from PIL import Image, ImageDraw, ImageFont

import scratchdream as sd
from scratchdream import cli
from scratchdream.cli.survey import survey_sheet
from scratchdream.deepdream import survey as sv
from scratchdream.nets import zoo
from scratchdream.nets.graph import Net

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = os.path.join(REPO, "weights", "toyworld.h5")


@pytest.fixture(scope="module")
def toy():
    return sd.load_net(TOY)


# ---- which layers ---------------------------------------------------------------------------------------
def test_trunk_layers_skip_branches_and_name_the_relu():
    # conv1 applies its own ReLU; conv2 is read by conv2/relu alone; the Inception branches are not on
    # every path, their concatenation is; pool and LRN layers are not feature layers
    assert sv.trunk_layers(tiny_inception_net(0)) == ["conv1", "conv2/relu", "inc/output", "conv3"]


def test_trunk_layers_of_zoo_architectures():
    googlenet = sv.trunk_layers(Net(zoo.spec_for("googlenet")))
    assert googlenet[:3] == ["conv1/7x7_s2", "conv2/3x3_reduce", "conv2/3x3"]
    assert googlenet[3:] == [
        f"inception_{b}/output" for b in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")
    ]
    vgg = sv.trunk_layers(Net(zoo.spec_for("vgg16")))
    vgg16 = Net(zoo.spec_for("vgg16"))
    assert len(vgg) == 13 and all(vgg16._by_name[n]["kind"] == "relu" for n in vgg)
    assert [sv.called(vgg16, n) for n in vgg[:3]] == ["relu1_1", "relu1_2", "relu2_1"]  # what a user types


# ---- which channels: ranked by mean square, not by mean ----------------------------------------------------
def _one_conv_net(relu=False, w0=0.0):
    """data (pixels as they are) -> a 1x1 conv with 4 channels; only the red channel counts."""
    spec = {
        "name": "one_conv",
        "input": {"name": "data", "order": "RGB", "scale": 255.0, "mean": [0, 0, 0], "std": [1, 1, 1]},
        "layers": [
            {"name": "conv", "kind": "conv", "inputs": ["data"],
             "hp": {"out": 4, "kernel": [1, 1], "stride": [1, 1], "pad": [0, 0, 0, 0], "relu": relu}},
        ],
    }  # fmt: skip
    w = np.zeros((4, 3, 1, 1), np.float32)
    w[0, 0], w[1, 0], w[3, 0] = w0, 0.018, 0.01
    return Net(spec, {"conv": {"weight": w, "bias": np.array([1.0, 0.0, -1.2, 0.0], np.float32)}})


def test_top_channels_rank_by_mean_square():
    img = np.zeros((8, 10, 3), np.uint8)
    img[:, 5:, 0] = 100  # red 0 on the left half, 100 on the right
    # per channel, left | right: 1 | 1, 0 | 1.8, -1.2 | -1.2, 0 | 1
    # mean square: 1, 1.62, 1.44, 0.5 -> 1, 2, 0, 3   (the mean would give 0, 1, 3, 2)
    ranked = sv.top_channels(_one_conv_net(), img, "conv", 3)
    assert [c for c, _ in ranked] == [1, 2, 0]
    np.testing.assert_allclose([s for _, s in ranked], [1.62, 1.44, 1.0], rtol=1e-5)


def test_a_silent_channel_is_shown_as_it_was():
    # after the ReLU, on a black picture: channel 0 is 1 everywhere, channels 1, 2 and 3 are 0
    net, img = _one_conv_net(relu=True, w0=0.005), np.zeros((20, 30, 3), np.uint8)
    small, cells = sv.survey(net, img, channels_of="conv", top=2, steps=2)
    assert [(cell.title, cell.silent) for cell in cells] == [
        ("conv ch 0", False),
        ("conv ch 1 (silent)", True),
    ]
    assert np.array_equal(cells[1].picture, small) and not np.array_equal(cells[0].picture, small)


def test_survey_dreams_the_top_channels_of_the_picture(toy):
    img = sky(48, 64, seed=1)
    small, cells = sv.survey(toy, img, channels_of="conv3", top=3, steps=2)
    h = toy.forward(toy.preprocess(small), upto="conv3", keep=False)[0].astype(np.float64)
    expected = np.argsort(-(h**2).mean(axis=(1, 2)))[:3]  # the measure, computed here
    assert [cell.channel for cell in cells] == list(expected)
    assert [cell.title for cell in cells] == [f"conv3 ch {c}" for c in expected]


# ---- how big: about one default dream -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["googlenet", "vgg16"])
def test_cell_side_is_the_largest_within_one_dream(name):
    net = Net(zoo.spec_for(name))
    layers = sv.trunk_layers(net)
    H, W = 300, 400
    side = sv.cell_side(net, layers, H, W)

    def cost(s):
        k = s / max(H, W)
        return sum(sv.STEPS * sv.work(net, layer, round(H * k), round(W * k)) for layer in layers)

    budget = sv.dream_work(net, H, W)
    assert sv.MIN_CELL <= side < sv.MAX_CELL  # not held at either bound here: the budget decided
    assert cost(side) <= budget < cost(side + 1)


def test_work_counts_multiply_adds():
    net = _one_conv_net()
    assert sv.work(net, "conv", 8, 10) == 3 * 4 * 8 * 10  # C_in x kh x kw per value, 4 x 8 x 10 values


# ---- the sheet --------------------------------------------------------------------------------------
def _label(text, width):
    """A caption line as Pillow draws it on white: the test's own rendering, to compare with the sheet."""
    font = ImageFont.load_default_imagefont()
    im = Image.new("RGB", (width, 12), (255, 255, 255))
    ImageDraw.Draw(im).text((0, 1), text, fill=(0, 0, 0), font=font)
    return np.asarray(im)


def _enlarged(picture, w, h):
    return np.asarray(Image.fromarray(picture).resize((w, h), Image.NEAREST))


def test_sheet_has_one_labelled_cell_per_layer(toy):
    img = sky(48, 64, seed=0)
    small, cells = sv.survey(toy, img, layers=["conv1", "conv2", "conv4"], steps=2)
    sheet, boxes = survey_sheet(toy, small, cells, "sky")
    assert len(boxes) == 1 + 3  # the input, then one cell per layer
    assert sorted({x for x, _, _, _ in boxes}) == sorted({x for x, _, _, _ in boxes[:2]})  # 2 columns
    assert len({y for _, y, _, _ in boxes}) == 2  # 2 rows
    titles = [f"input {small.shape[1]}x{small.shape[0]}", "conv1", "conv2", "conv4"]
    pictures = [small] + [cell.picture for cell in cells]
    for (x, y, w, h), title, picture in zip(boxes, titles, pictures):
        assert np.array_equal(sheet[y : y + h, x : x + w], _enlarged(picture, w, h))
        assert np.array_equal(sheet[y + h : y + h + 12, x : x + w], _label(title, w)), title
    for cell in cells:  # every layer dreamed something
        assert cell.picture.shape == small.shape
        assert np.abs(cell.picture.astype(int) - small).mean() > 1.0


def test_cli_survey_writes_one_png(tmp_path, capsys):
    Image.fromarray(sky(48, 64, seed=0)).save(tmp_path / "sky.png")
    out = tmp_path / "sheet.png"
    argv = ["survey", str(tmp_path / "sky.png"), "--net", TOY, "--layers", "conv1", "conv3", "--steps", "2"]
    assert cli.main(argv + ["-o", str(out)]) == 0
    assert "surveyed 2 layers of toyworld" in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.format == "PNG" and im.mode == "RGB"
    assert sorted(os.listdir(tmp_path)) == ["sheet.png", "sky.png"]


# ---- bad input: one line, exit code, nothing written ----------------------------------------------------
@pytest.mark.parametrize(
    "more, code, text",
    [
        (["--layers", "conv9"], 2, "toyworld has no layer 'conv9'; close matches: conv4"),
        (["--layers", "fc"], 2, "fc gives (6,), not a picture of features"),
        (["--channels", "conv1", "--top", "17"], 2, "--top 17 is more than the 16 channels of conv1"),
        (["--channels", "conv1", "--top", "0"], 2, "--top: must be a whole number >= 1"),
        (
            ["--channels", "conv1", "--top", "10000000000"],
            2,
            "--top 10000000000 is more than the 16 channels",
        ),
        (["--layers", "conv1", "--channels", "conv2"], 2, "not allowed with argument"),
        (["--top", "3"], 2, "--top counts the channels of one layer; give --channels LAYER"),
        (["--steps", "0"], 2, "--steps must be a whole number from 1"),
        (["-o", "sheet.jpg"], 2, "-o/--output must end in .png"),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, more, code, text):
    Image.fromarray(sky(48, 64, seed=0)).save(tmp_path / "sky.png")
    os.chdir(tmp_path)
    try:
        assert cli.main(["survey", "sky.png", "--net", TOY] + more) == code
    finally:
        os.chdir(REPO)
    err = capsys.readouterr().err
    assert text in err and err.count("\n") == 1, err
    assert os.listdir(tmp_path) == ["sky.png"]

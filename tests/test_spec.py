"""The architecture check (nets/spec.py): a damaged field is one line naming it, never a crash (issue 15).

Three levels, the same promise at each:
    Net(spec)        every class of damage below, as a spec built in Python: UserError "architecture
                     damaged: <where>: <why>; convert the weights again", on one line
    the CLI          crafted .h5 files (the tiny nets saved for real, then their JSON attributes edited)
                     through `python -m scratchdream layers FILE` and `dream --net FILE` in a subprocess: exit
                     1, one line, no traceback, no output written. The negative-pad file segfaulted before
                     the check (SIGSEGV in the Winograd kernel, exit -11, on the 26 px wide picture here).
    mutation fuzz    seeded random edits of valid specs: Net() refuses them with a UserError or builds a net
                     that runs forward and backward at its own size, with at most a UserError
Every real architecture (the zoo, the toyworld net, the test nets) passes the check.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
from nets_for_tests import TINY_CLASSIFIER, TINY_INCEPTION, _conv, net_from_spec, random_params
from PIL import Image

import scratchdream as sd
from scratchdream.errors import UserError
from scratchdream.layers import KINDS
from scratchdream.nets import spec as arch
from scratchdream.nets import zoo
from scratchdream.nets.graph import Net
from scratchdream.toyworld.train import toyworld_spec

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ERROR = "scratchdream: error: "
FUZZ_EXAMPLES = 2000

# conv2 is a Winograd convolution (3x3, stride 1, 8 channels in and out): the kernel a negative pad broke
TWO_CONV = copy.deepcopy(TINY_INCEPTION)
TWO_CONV.update(
    name="two_conv",
    layers=[
        _conv("conv1", ["data"], 8, 3, pad=1, relu=True),
        _conv("conv2", ["conv1"], 8, 3, pad=1, relu=True),
    ],
    aliases={"top": "conv2"},
    dream_layers=["conv2"],
)
BASES = {"two_conv": TWO_CONV, "inception": TINY_INCEPTION, "classifier": TINY_CLASSIFIER}


def hp(spec, name):
    """The hyper-parameters of layer `name` (to edit in place)."""
    return next(layer for layer in spec["layers"] if layer["name"] == name)["hp"]


def layer(spec, name):
    return next(layer for layer in spec["layers"] if layer["name"] == name)


def set_hp(which, /, **values):
    return lambda s: hp(s, which).update(values)


def set_layer(which, /, **values):
    return lambda s: layer(s, which).update(values)


def set_input(**values):
    return lambda s: s["input"].update(values)


def set_top(**values):
    return lambda s: s.update(values)


def append_layer(name, kind, inputs, **values):
    return lambda s: s["layers"].append({"name": name, "kind": kind, "inputs": inputs, "hp": values})


def add_relus(n, prefix="r"):
    """n relu layers reading conv2: a long net."""
    return lambda s: s["layers"].extend(
        {"name": f"{prefix}{i}", "kind": "relu", "inputs": ["conv2"]} for i in range(n)
    )


def set_alias(**values):
    return lambda s: s["aliases"].update(values)


def damaged(base, edit):
    spec = copy.deepcopy(BASES[base])
    edit(spec)
    return spec


# ---- every class of damage, as a spec built in Python --------------------------------------------------
# name: (base net, edit in place, the phrase after "architecture damaged: ")
CASES = {
    # geometry: what reached the kernels before
    "negative pad": (
        "two_conv",
        set_hp("conv2", pad=[1, 1, -20, 0]),
        r"layer 'conv2' pad: .*-20 is outside 0\.\.",
    ),
    "dilation 0": (
        "two_conv",
        set_hp("conv2", dilation=[1, 0]),
        r"layer 'conv2' dilation: .*0 is outside 1\.\.64",
    ),
    "stride 0": ("two_conv", set_hp("conv2", stride=0), r"layer 'conv2' stride: 0 is outside 1\.\.64"),
    "stride -1": ("inception", set_hp("pool1", stride=[-1, 2]), r"layer 'pool1' stride: .*-1 is outside"),
    "kernel 0": ("two_conv", set_hp("conv2", kernel=[0, 3]), r"layer 'conv2' kernel: .*0 is outside 1\.\.64"),
    "kernel 10000": ("two_conv", set_hp("conv2", kernel=10000), r"kernel: 10000 is outside 1\.\.64"),
    "pad = kernel (conv)": (
        "two_conv",
        set_hp("conv2", pad=[1, 3]),
        r"pad: \[1, 3\] is not smaller than the 3x3 kernel",
    ),
    "pad >= dilated kernel": (
        "two_conv",
        set_hp("conv2", dilation=2, pad=5),
        r"pad: 5 is not smaller than the 5x5 dilated kernel",
    ),
    "pad = kernel (pool)": (
        "inception",
        set_hp("pool1", pad=[0, 3, 0, 0]),
        r"layer 'pool1' pad: .* not smaller than the 3x3 kernel",
    ),
    "pool pad 20000": (
        "inception",
        set_hp("pool1", pad=20000),
        r"layer 'pool1' pad: 20000 is outside 0\.\.4096",
    ),
    "pad of 3 sides": (
        "two_conv",
        set_hp("conv2", pad=[1, 1, 1]),
        r"pad: \[1, 1, 1\] is not a whole number or a list of 2 or 4",
    ),
    "groups not dividing": (
        "two_conv",
        set_hp("conv2", groups=3),
        r"layer 'conv2' groups: 3 groups do not divide 8 inputs and 8 outputs",
    ),
    "groups 0": ("two_conv", set_hp("conv2", groups=0), r"groups: 0 is outside 1\.\."),
    "huge out": (
        "two_conv",
        set_hp("conv2", out=30_000_000),
        r"layer 'conv2' out: 30000000 is outside 1\.\.65536",
    ),
    "linear out 0": ("classifier", set_hp("fc1", out=0), r"layer 'fc1' out: 0 is outside"),
    "adaptive size 0": ("classifier", set_hp("gap", size=[0, 2]), r"layer 'gap' size: .*0 is outside 1\.\."),
    "lrn size even": ("inception", set_hp("norm1", size=4), r"layer 'norm1' size: 4 is even"),
    "lrn k 0": ("inception", set_hp("norm1", k=0), r"layer 'norm1' k: 0 is outside"),
    "lrn beta NaN": (
        "inception",
        set_hp("norm1", beta=float("nan")),
        r"layer 'norm1' beta: nan is not a finite number",
    ),
    # types: ints are ints, flags are bools
    "kernel true": ("two_conv", set_hp("conv2", kernel=True), r"kernel: True is not a whole number"),
    "kernel 3.0": ("two_conv", set_hp("conv2", kernel=[3.0, 3]), r"kernel: .*3\.0 is not a whole number"),
    "stride '2'": ("two_conv", set_hp("conv2", stride="2"), r"stride: '2' is not a whole number or a list"),
    "relu 1": ("two_conv", set_hp("conv2", relu=1), r"layer 'conv2' relu: 1 is not true or false"),
    "ceil 'yes'": (
        "inception",
        set_hp("pool1", ceil="yes"),
        r"layer 'pool1' ceil: 'yes' is not true or false",
    ),
    "unknown hp key": ("two_conv", set_hp("conv2", padding=1), r"layer 'conv2': unknown field 'padding'"),
    "dilation on a pool": (
        "inception",
        set_hp("pool1", dilation=2),
        r"layer 'pool1': unknown field 'dilation'",
    ),
    "kernel missing": (
        "two_conv",
        lambda s: hp(s, "conv2").pop("kernel"),
        r"layer 'conv2' kernel: missing",
    ),
    "hp a list": ("two_conv", set_layer("conv2", hp=[3]), r"layer 'conv2' hp: \[3\] is not an object"),
    # the input block
    "mean of 2 numbers": (
        "two_conv",
        set_input(mean=[104.0, 117.0]),
        r"input mean: \[104\.0, 117\.0\] is not a list of 3 items",
    ),
    "scale 'bright'": (
        "two_conv",
        set_input(scale="bright"),
        r"input scale: 'bright' is not a finite number",
    ),
    "std 0": ("classifier", set_input(std=[0.2, 0, 0.2]), r"input std: .*0 is outside 1e-06\.\."),
    "mean infinite": (
        "two_conv",
        set_input(mean=[1, float("inf"), 1]),
        r"input mean: .*inf is not a finite number",
    ),
    "order RGBA": ("two_conv", set_input(order="RGBA"), r"input order: 'RGBA' is not one of RGB, BGR"),
    "size 0": ("two_conv", set_input(size=[0, 15]), r"input size: .*0 is outside 1\.\.4096"),
    "size one int": ("two_conv", set_input(size=15), r"input size: 15 is not a list of 2 items"),
    "unknown input field": ("two_conv", set_input(gamma=2.2), r"input: unknown field 'gamma'"),
    "input a list": ("two_conv", set_top(input=[1, 2]), r"input: \[1, 2\] is not an object"),
    # the graph
    "unknown kind": (
        "two_conv",
        set_layer("conv2", kind="convolution"),
        r"layer 'conv2' kind: 'convolution' is not one of conv, relu",
    ),
    "input defined later": (
        "two_conv",
        set_layer("conv1", inputs=["conv2"]),
        r"layer 'conv1' inputs: 'conv2' is not defined above this layer",
    ),
    "input of itself": (
        "two_conv",
        set_layer("conv2", inputs=["conv2"]),
        r"layer 'conv2' inputs: 'conv2' is not defined above",
    ),
    "name used twice": (
        "two_conv",
        set_layer("conv2", name="conv1"),
        r"layer 'conv1': the name is used twice",
    ),
    "a layer named data": (
        "two_conv",
        set_layer("conv1", name="data"),
        r"layer 'data': 'data' is the picture's name",
    ),
    "name with a newline": (
        "two_conv",
        set_layer("conv2", name="conv\n2"),
        r"layer 1 name: 'conv\\n2' is not a printable string",
    ),
    "name an empty HDF5 part": (
        "two_conv",
        set_layer("conv2", name="inc//x"),
        r"layer 'inc//x': the name has an empty",
    ),
    "name missing": ("two_conv", lambda s: layer(s, "conv2").pop("name"), r"layer 1 name: missing"),
    "two inputs to a conv": (
        "two_conv",
        set_layer("conv2", inputs=["conv1", "data"]),
        r"layer 'conv2' inputs: 2 inputs; conv reads one",
    ),
    "concat of nothing": (
        "inception",
        set_layer("inc/output", inputs=[]),
        r"inputs: 0 inputs; concat reads one or more",
    ),
    "add of one term": (
        "two_conv",
        append_layer("sum", "add", ["conv2"]),
        r"layer 'sum' inputs: 1 inputs; add reads two or more",
    ),
    "add of different widths": (
        "inception",
        append_layer("sum", "add", ["inc/1x1", "inc/3x3"]),
        r"layer 'sum' inputs: add sums terms of different shapes \(4 channels, 6 channels\)",
    ),
    "add of image and vector": (
        "classifier",
        append_layer("sum", "add", ["gap", "flatten"]),
        r"layer 'sum' inputs: add sums terms of different shapes \(8 channels, a flat vector\)",
    ),
    "linear on an image": (
        "classifier",
        set_layer("fc1", inputs=["gap"]),
        r"layer 'fc1' inputs: linear reads a flat vector",
    ),
    "pool on a flat vector": (
        "classifier",
        append_layer("p", "maxpool", ["flatten"], kernel=2),
        r"layer 'p' inputs: maxpool reads a \(C, H, W\) image",
    ),
    "concat of image and vector": (
        "classifier",
        append_layer("j", "concat", ["gap", "flatten"]),
        r"layer 'j' inputs: concat joins images with flat vectors",
    ),
    "unknown layer field": (
        "two_conv",
        set_layer("conv2", weights=[1]),
        r"layer 'conv2': unknown field 'weights'",
    ),
    "no layers": ("two_conv", set_top(layers=[]), r"layers: 0 layers, a network has 1\.\.4096"),
    "too many layers": ("two_conv", add_relus(4095), r"layers: 4097 layers"),
    # names, labels, the top level
    "alias to a missing layer": (
        "two_conv",
        set_alias(top="conv9"),
        r"aliases 'top': points at 'conv9', which is not a layer",
    ),
    "alias to an alias": (
        "two_conv",
        set_alias(top2="top"),
        r"aliases 'top2': points at 'top', which is not a layer",
    ),
    "alias shadowing a layer": (
        "two_conv",
        set_alias(conv1="conv2"),
        r"aliases 'conv1': the alias is also a layer's name",
    ),
    "dream layer missing": (
        "two_conv",
        set_top(dream_layers=["conv9"]),
        r"dream_layers: 'conv9' is not a layer or an alias",
    ),
    "labels one short": (
        "classifier",
        lambda s: s["labels"].pop(),
        r"labels: 3 labels, but the last layer has 4 outputs",
    ),
    "labels on a feature map": (
        "two_conv",
        set_top(labels=["a", "b"]),
        r"labels: 2 labels, but the last layer is not a classifier's output",
    ),
    "labels not strings": (
        "classifier",
        set_top(labels=[1, 2, 3, 4]),
        r"labels: item 0: 1 is not a printable string",
    ),
    "name a number": ("two_conv", set_top(name=7), r"name: 7 is not a printable string"),
    "unknown top-level field": (
        "two_conv",
        set_top(weights="x"),
        r"the architecture: unknown field 'weights'",
    ),
    "layers an object": ("two_conv", set_top(layers={"conv1": {}}), r"layers: .* is not a list"),
    "provenance a string": ("two_conv", set_top(provenance="me"), r"provenance: 'me' is not an object"),
    "leaky_relu alpha NaN": (
        "two_conv",
        append_layer("leaky", "leaky_relu", ["conv2"], alpha=float("nan")),
        r"layer 'leaky' alpha: nan is not a finite number",
    ),
    "leaky_relu alpha a string": (
        "two_conv",
        append_layer("leaky", "leaky_relu", ["conv2"], alpha="0.2"),
        r"layer 'leaky' alpha: '0.2' is not a finite number",
    ),
    "clip min above max": (
        "two_conv",
        append_layer("relu6", "clip", ["conv2"], min=6.0, max=0.0),
        r"layer 'relu6' max: 0.0 is not above min 6.0",
    ),
    "clip without max": (
        "two_conv",
        append_layer("relu6", "clip", ["conv2"], min=0.0),
        r"layer 'relu6' max: missing",
    ),
    "clip max infinite": (
        "two_conv",
        append_layer("relu6", "clip", ["conv2"], min=0.0, max=float("inf")),
        r"layer 'relu6' max: inf is not a finite number",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_damage_is_one_line_naming_the_field(case):
    base, edit, phrase = CASES[case]
    with pytest.raises(UserError) as err:
        Net(damaged(base, edit))
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 400, msg
    assert msg.startswith("architecture damaged: ") and msg.endswith("; convert the weights again"), msg
    assert re.search(phrase, msg), f"{phrase!r} not in {msg!r}"


@pytest.mark.parametrize(
    "base, edit",
    [
        ("two_conv", set_hp("conv2", dilation=2, pad=4)),  # 4 < 5, the dilated extent
        ("two_conv", set_hp("conv2", out=arch.MAX_CHANNELS, kernel=arch.MAX_KERNEL, pad=0)),
        ("two_conv", set_hp("conv2", stride=[arch.MAX_STRIDE, 1], groups=8)),
        ("two_conv", set_hp("conv1", kernel=[3, 1], pad=[1, 1, 0, 0])),
        ("inception", set_hp("pool1", pad=[2, 0, 1, 2])),
        ("inception", set_hp("norm1", size=1, alpha=0, beta=0)),
        ("two_conv", set_input(size=[arch.MAX_SIDE, 1], mean=[0, 0, 0])),
        ("two_conv", add_relus(4094, "r/")),
        ("two_conv", append_layer("leaky", "leaky_relu", ["conv2"])),  # alpha: the default, 0.01
        ("two_conv", append_layer("relu6", "clip", ["conv2"], min=-arch.BIG, max=arch.BIG)),
        ("classifier", set_top(labels=None, aliases=None, dream_layers=None, provenance=None)),
        (
            "classifier",
            lambda s: [s.pop(k) for k in ("name", "labels", "aliases", "dream_layers", "provenance")],
        ),
    ],
)
def test_fields_at_their_bounds_pass(base, edit):
    """The edges of each range are accepted: the check refuses damage, not unusual nets."""
    net = Net(damaged(base, edit))
    assert net.layer_names[0] == "conv1"


def test_every_kind_has_its_hyper_parameters_in_the_table():
    assert set(arch.HP) == set(KINDS)


@pytest.mark.parametrize("name", [n for n in zoo.ZOO if n not in zoo.LOCAL])
def test_every_zoo_architecture_passes(name):
    arch.validate(zoo.spec_for(name))


def test_the_toyworld_and_test_nets_pass():
    for spec in [toyworld_spec(), *BASES.values()]:
        arch.validate(spec)
    assert sd.load_net(os.path.join(REPO, "weights", "toyworld.h5")).name == "toyworld"


# ---- weights that disagree with their architecture: the layer, the parameter and the field ------------
@pytest.mark.parametrize(
    "base, edit, phrase",
    [
        (
            "two_conv",
            set_hp("conv2", out=9),
            r"conv2: the file has weight \(8, 8, 3, 3\), this net needs \(9, 8, 3, 3\) \(differs in out\)",
        ),
        (
            "two_conv",
            set_hp("conv2", groups=2),
            r"conv2: the file has weight \(8, 8, 3, 3\), this net needs \(8, 4, 3, 3\) "
            r"\(differs in input channels / groups\)",
        ),
        ("two_conv", set_hp("conv2", kernel=[3, 1], pad=[1, 0]), r"conv2: .*\(differs in kernel\)"),
        (
            "classifier",
            set_hp("gap", size=[3, 3]),
            r"fc1: the file has weight \(10, 32\), this net needs \(10, 72\) \(differs in in features",
        ),
        (
            "classifier",
            set_hp("conv1", out=7),
            r"conv1: the file has weight \(6, 3, 3, 3\), this net needs \(7, 3, 3, 3\) \(differs in out\)",
        ),
    ],
)
def test_weights_that_disagree_name_the_layer_and_the_field(tmp_path, base, edit, phrase):
    path = crafted_file(tmp_path, saved_base(tmp_path, base), "bad.h5", architecture=edit)
    with pytest.raises(UserError, match=phrase) as err:
        sd.load_net(path)
    assert "\n" not in str(err.value)


# ---- crafted files through the command line -------------------------------------------------------------
def saved_base(folder, base):
    path = os.path.join(str(folder), f"{base}.h5")
    if not os.path.exists(path):
        sd.save_net(net_from_spec(BASES[base]), path)
    return path


def crafted_file(folder, good, name, architecture=None, preprocessing=None, raw=None):
    """A copy of the weights file `good` with its architecture or preprocessing JSON edited in place by the
    given function, or one attribute replaced by raw text (raw = (attribute, text))."""
    path = os.path.join(str(folder), name)
    shutil.copy(good, path)
    with h5py.File(path, "a") as f:
        for key, edit in (("architecture", architecture), ("preprocessing", preprocessing)):
            if edit is not None:
                value = json.loads(f.attrs[key])
                edit({"input": value} if key == "preprocessing" else value)
                f.attrs[key] = json.dumps(value)
        if raw is not None:
            f.attrs[raw[0]] = raw[1]
    return path


DEEP = "[" * 200_000 + "]" * 200_000  # parsed recursively, this is a RecursionError (before: a traceback)

# name: (base net, crafted_file keywords, phrase after "scratchdream: error: FILE: ")
FILES = {
    "negative pad": (
        "two_conv",
        {"architecture": CASES["negative pad"][1]},
        r"architecture damaged: layer 'conv2' pad",
    ),
    "dilation 0": (
        "two_conv",
        {"architecture": CASES["dilation 0"][1]},
        r"architecture damaged: layer 'conv2' dilation",
    ),
    "stride 0": (
        "two_conv",
        {"architecture": CASES["stride 0"][1]},
        r"architecture damaged: layer 'conv2' stride",
    ),
    "kernel 0": (
        "two_conv",
        {"architecture": CASES["kernel 0"][1]},
        r"architecture damaged: layer 'conv2' kernel",
    ),
    "pad >= kernel": (
        "two_conv",
        {"architecture": CASES["pad = kernel (conv)"][1]},
        r"architecture damaged: layer 'conv2' pad: .* not smaller than",
    ),
    "channel mismatch": (
        "two_conv",
        {"architecture": set_hp("conv2", out=9)},
        r"conv2: the file has weight .* \(differs in out\)",
    ),
    "in features mismatch": (
        "classifier",
        {"architecture": set_hp("gap", size=[3, 3])},
        r"fc1: the file has weight .* \(differs in in features",
    ),
    "groups not dividing": (
        "two_conv",
        {"architecture": CASES["groups not dividing"][1]},
        r"architecture damaged: layer 'conv2' groups",
    ),
    "mean of 2 numbers": (
        "two_conv",
        {"preprocessing": CASES["mean of 2 numbers"][1]},
        r"architecture damaged: input mean",
    ),
    "scale 'bright'": (
        "two_conv",
        {"preprocessing": CASES["scale 'bright'"][1]},
        r"architecture damaged: input scale: 'bright'",
    ),
    "std 0": ("two_conv", {"preprocessing": set_input(std=[1, 0, 1])}, r"architecture damaged: input std"),
    "alias to a missing layer": (
        "two_conv",
        {"architecture": CASES["alias to a missing layer"][1]},
        r"architecture damaged: aliases 'top'",
    ),
    "200k-deep architecture": (
        "two_conv",
        {"raw": ("architecture", DEEP)},
        r"architecture damaged: architecture: JSON nested deeper",
    ),
    "200k-deep labels": (
        "two_conv",
        {"raw": ("labels", DEEP)},
        r"architecture damaged: labels: JSON nested deeper",
    ),
    "unknown kind": (
        "two_conv",
        {"architecture": CASES["unknown kind"][1]},
        r"architecture damaged: layer 'conv2' kind",
    ),
    "input defined later": (
        "two_conv",
        {"architecture": CASES["input defined later"][1]},
        r"architecture damaged: layer 'conv1' inputs",
    ),
    "huge out": (
        "two_conv",
        {"architecture": CASES["huge out"][1]},
        r"architecture damaged: layer 'conv2' out",
    ),
    "pool pad 20000": (
        "inception",
        {"architecture": CASES["pool pad 20000"][1]},
        r"architecture damaged: layer 'pool1' pad",
    ),
}


def cli(argv, cwd):
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([REPO] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    )
    return subprocess.run(
        [sys.executable, "-m", "scratchdream", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crafted")
    pic = os.path.join(str(folder), "pic.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 26, 3), dtype=np.uint8)).save(pic)
    return str(folder), pic


@pytest.mark.parametrize("command", ["layers", "dream"])
@pytest.mark.parametrize("case", list(FILES))
def test_crafted_file_is_one_line_through_the_cli(workspace, case, command):
    folder, pic = workspace
    base, how, phrase = FILES[case]
    name = case.replace(" ", "_").replace("'", "") + ".h5"
    path = crafted_file(folder, saved_base(folder, base), name, **how)
    out = os.path.join(folder, "out.png")
    argv = (
        ["layers", path]
        if command == "layers"
        else ["dream", pic, "--net", path, "--octaves", "1", "-o", out]
    )
    r = cli(argv, folder)
    shown = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 1, (
        f"exit {r.returncode} (a negative code is a signal: the process crashed)\n{r.stderr}"
    )
    assert "Traceback" not in r.stderr and len(shown) == 1 and shown[0].startswith(ERROR), r.stderr
    assert re.search(phrase, shown[0]), f"{phrase!r} not in {shown[0]!r}"
    assert shown[0].startswith(f"{ERROR}{path}: ") or "the file has" in shown[0], shown[0]
    assert not os.path.exists(out)


# ---- mutation fuzz: whatever a spec holds, a UserError or a net that runs -------------------------------
def _paths(obj, prefix=()):
    """Every place in a JSON-like value: tuples of keys and indices."""
    yield prefix
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        yield from _paths(value, prefix + (key,))


JSON_VALUES = [
    None, True, False, 0, 1, -1, 2, 3, 7, 2**31, -(2**63), 1e308, float("nan"), float("inf"), 0.5, -2.5,
    "", "data", "conv1", "x\ny", [], [1], [0, 0], [1, 2, 3], [-1, -1, -1, -1], {}, {"kernel": 3}, [[[]]],
]  # fmt: skip


def _mutate(spec, rng):
    """One random edit: a value replaced, a key or item deleted, an int nudged, a layer duplicated."""
    path = list(_paths(spec))[1:]
    where = path[rng.integers(len(path))]
    parent = spec
    for key in where[:-1]:
        parent = parent[key]
    key, value = where[-1], parent[where[-1]]
    action = rng.integers(5)
    if action == 0:
        parent[key] = copy.deepcopy(JSON_VALUES[rng.integers(len(JSON_VALUES))])
    elif action == 1:
        del parent[key]
    elif action == 2 and arch.is_int(value):
        parent[key] = int(value + rng.integers(-3, 4)) if rng.random() < 0.8 else int(-value)
    elif action == 3:
        layers = spec["layers"] if isinstance(spec.get("layers"), list) else []
        if layers:
            layers.insert(
                int(rng.integers(len(layers) + 1)), copy.deepcopy(layers[rng.integers(len(layers))])
            )
    else:
        parent[key] = copy.deepcopy(value) if not isinstance(value, list) else value[::-1]


def test_mutated_specs_are_refused_in_one_line_or_run():
    """FUZZ_EXAMPLES seeded examples (default_rng(seed); a failure names the seed to replay): 1-3 random
    edits of a test net's spec. Net(spec) raises a one-line UserError, or the net runs forward and
    backward at its own input size with at most a UserError (a picture too small for it, say)."""
    refused = ran = 0
    for seed in range(FUZZ_EXAMPLES):
        rng = np.random.default_rng(seed)
        spec = copy.deepcopy(list(BASES.values())[seed % len(BASES)])
        for _ in range(1 + rng.integers(3)):
            _mutate(spec, rng)
        try:
            net = Net(spec)
            net.set_params(random_params(net, seed))
            H, W = spec["input"].get("size", [15, 15])
            x = np.random.default_rng(seed).standard_normal((1, 3, H, W)).astype(np.float32)
            y = net.forward(x, upto=net.layer_names[-1])
            net.backward(np.random.default_rng(seed + 1).standard_normal(y.shape).astype(np.float32))
            ran += 1
        except UserError as e:
            assert "\n" not in str(e), f"seed {seed}: {e!r}"
            refused += 1
        except Exception as e:  # anything else is a bug the check let through
            raise AssertionError(f"seed {seed}: {type(e).__name__}: {e}\n{json.dumps(spec)[:2000]}") from e
    print(f"{FUZZ_EXAMPLES} mutated specs: {refused} refused in one line, {ran} ran forward and backward")
    assert refused > FUZZ_EXAMPLES // 4 and ran > FUZZ_EXAMPLES // 10  # both paths were really exercised

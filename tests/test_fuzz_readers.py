"""Fuzzing the readers of untrusted files: random bytes and mutated real files must end in a UserError
(or a clean result), never in another exception, a crash or a hang.

Derandomized hypothesis (same examples on every run, no example database), each example bounded by
a SIGALRM timer. Iterations per test are in ITERATIONS; the seeds are real files written the
publishers' way (fixtures_formats.py, torch.save, Pillow). Three kinds of input:
    random bytes; byte-level mutations of a real file (flips, inserts, deletes, truncation, huge
    lengths); and, for pickles, random *well-formed* programs over the allowlisted globals, which
    reach the stand-ins with arguments a byte flip rarely produces.
The grammar fuzzer re-finds the one real bug this work turned up: a BUILD opcode applied to a rebuilt
tensor could overwrite its checked size/stride, and a ValueError escaped instead of a UserError
(fixed in pth.py: the stand-ins refuse BUILD; test_readers_pth has the hand-made case).
"""

import io
import os
import pickle
import pickletools
import tempfile
import zipfile

import numpy as np
import timebox
from byte_edits import OPS, apply_edit
from conftest import require_torch
from fixtures_formats import binunicode, caffemodel_bytes, legacy_oldstyle_pth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scratchdream.errors import UserError
from scratchdream.nets.readers.caffemodel import read_caffemodel
from scratchdream.nets.readers.pickle_safe import safe_load
from scratchdream.nets.readers.prototxt import parse_prototxt
from scratchdream.nets.readers.pth import ALLOWED, _legacy_persistent_load, load_state_dict

ITERATIONS = {
    "caffe_random": 300,
    "caffe_mutated": 500,
    "pickle_random": 300,
    "pickle_mutated": 500,
    "pickle_programs": 300,
    "pth_legacy_mutated": 400,
    "pth_zip_mutated": 300,
    "image_mutated": 300,
    "prototxt_random": 300,
}
SECONDS_PER_EXAMPLE = 10


def _settings(n):
    return settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


def bounded(seconds=SECONDS_PER_EXAMPLE):
    return timebox.bounded(seconds, "reader")


def mutations(seed):
    """Strategy: `seed` with 1-8 random edits (bit flips, byte sets, inserts, deletes, duplicated runs,
    truncation): the damage a bad download or a forger would do."""
    edit = st.tuples(st.sampled_from(OPS), st.integers(0, len(seed)), st.integers(0, 255), st.integers(1, 64))
    return st.lists(edit, min_size=1, max_size=8).map(lambda edits: _apply(seed, edits))


def _apply(seed, edits):
    b = bytearray(seed)
    for op, pos, value, n in edits:
        apply_edit(b, op, pos, value, n)
    return bytes(b)


def _only_user_errors(read, data, suffix):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "fuzz" + suffix)
        with open(path, "wb") as f:
            f.write(data)
        with bounded():
            try:
                read(path)
            except UserError as e:
                assert "\n" not in str(e)


# ------------------------------------------------------------------------------------------ protobuf
def _caffe_seed():
    rng = np.random.default_rng(0)
    layers = [
        {
            "name": "conv1",
            "type": "Convolution",
            "bottom": ["data"],
            "top": ["conv1"],
            "blobs": [rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)],
            "params": {"convolution_param": {"num_output": 2, "kernel_size": 3, "pad": 1}},
        },
        {"name": "norm", "type": "LRN", "params": {"lrn_param": {"local_size": 5, "alpha": 1e-4}}},
        {
            "name": "fc",
            "type": "InnerProduct",
            "blobs": [rng.standard_normal((3, 4)), rng.standard_normal(3)],
        },
    ]
    return (caffemodel_bytes(layers, "v1", "legacy", True), caffemodel_bytes(layers, "v2", "shape", False))


CAFFE_V1, CAFFE_V2 = _caffe_seed()


@_settings(ITERATIONS["caffe_random"])
@given(st.binary(max_size=3000))
def test_caffemodel_random_bytes(data):
    _only_user_errors(read_caffemodel, data, ".caffemodel")


@_settings(ITERATIONS["caffe_mutated"])
@given(st.one_of(mutations(CAFFE_V1), mutations(CAFFE_V2)))
def test_caffemodel_mutated(data):
    _only_user_errors(read_caffemodel, data, ".caffemodel")


_PROTOTXT_WORDS = st.sampled_from(
    [
        "layer",
        "name",
        ":",
        "{",
        "}",
        '"conv1"',
        "'x'",
        "3",
        "-0.5",
        "1e-4",
        "MAX",
        "true",
        "#c\n",
        " ",
        "\n",
        '"',
        "\\",
        "<",
        ">",
        ";",
        "dim",
        "0x1F",
        "{" * 40,
    ]
)


@_settings(ITERATIONS["prototxt_random"])
@given(st.one_of(st.text(max_size=300), st.lists(_PROTOTXT_WORDS, max_size=60).map(" ".join)))
def test_prototxt_random_text(text):
    with bounded():
        try:
            parse_prototxt(text)
        except UserError as e:
            assert "\n" not in str(e)


# ------------------------------------------------------------------------------------------ pickle
def _legacy_seed():
    with tempfile.TemporaryDirectory() as d:
        path = legacy_oldstyle_pth(
            os.path.join(d, "s.pth"),
            {
                "a.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2),
                "a.bias": np.ones(2, np.float32),
            },
            views=[("a.t", "a.weight", 0, (12, 2), (1, 12))],
        )
        with open(path, "rb") as f:
            return f.read()


LEGACY_SEED = _legacy_seed()


def _fourth_pickle(data):
    """The object pickle of a legacy file: the bytes between the third and the fourth STOP."""
    f = io.BytesIO(data)
    for _ in range(3):
        for _op in pickletools.genops(f):
            pass
    start = f.tell()
    for _op in pickletools.genops(f):
        pass
    return data[start : f.tell()]


PICKLE_SEED = _fourth_pickle(LEGACY_SEED)  # OrderedDict of old-style FloatTensors, persistent ids and all


def _safe_load_file(path):
    with open(path, "rb") as f:
        safe_load(f.read(), path, "PyTorch checkpoint", ALLOWED, _legacy_persistent_load({}, {}))


@_settings(ITERATIONS["pickle_random"])
@given(st.binary(max_size=2000).map(lambda b: b"\x80\x02" + b))
def test_pickle_random_bytes(data):
    _only_user_errors(_safe_load_file, data, ".pkl")


@_settings(ITERATIONS["pickle_mutated"])
@given(mutations(PICKLE_SEED))
def test_pickle_mutated(data):
    _only_user_errors(_safe_load_file, data, ".pkl")


# A grammar fuzzer: random well-formed pickle programs (value trees compiled to opcodes) over the
# allowlisted globals, so the stand-ins get called with every odd argument a forger could pass.
_PID = (
    b"(" + binunicode("storage") + b"ctorch\nFloatStorage\n" + binunicode("0") + binunicode("cpu") + b"K\x10t"
)
_TENSOR = b"ctorch._utils\n_rebuild_tensor_v2\n(" + _PID + b"QK\x00(K\x04K\x02t(K\x02K\x01t\x89)tR"
_GLOBALS = sorted(f"{m}\n{n}\n".encode() for m, n in ALLOWED)


def _compile(node):
    kind, *rest = node
    if kind == "raw":
        return rest[0]
    if kind == "leaf":
        return pickle.dumps(rest[0], protocol=2)[2:-1]  # pickle's own spelling, without PROTO/STOP
    if kind == "tuple":
        return b"(" + b"".join(map(_compile, rest[0])) + b"t"
    if kind == "list":
        return b"](" + b"".join(map(_compile, rest[0])) + b"e"
    if kind == "dict":
        return b"}(" + b"".join(_compile(k) + _compile(v) for k, v in rest[0]) + b"u"
    if kind == "call":  # GLOBAL, args tuple, REDUCE
        return b"c" + rest[0] + _compile(("tuple", rest[1])) + b"R"
    if kind == "newobj":  # GLOBAL, args tuple, NEWOBJ
        return b"c" + rest[0] + _compile(("tuple", rest[1])) + b"\x81"
    if kind == "build":  # object, state, BUILD
        return _compile(rest[0]) + _compile(rest[1]) + b"b"
    if kind == "pid":  # tuple, BINPERSID
        return _compile(("tuple", rest[0])) + b"Q"
    if kind == "global":
        return b"c" + rest[0]
    raise ValueError(kind)


_LEAF = st.one_of(
    st.integers(-3, 20).map(lambda v: ("leaf", v)),
    st.sampled_from([2**40, -(2**31), 10**8, 2**63]).map(lambda v: ("leaf", v)),
    st.sampled_from(["storage", "cpu", "0", "1", "w", "size", "storage_offset"]).map(lambda v: ("leaf", v)),
    st.sampled_from([None, True, False, 1.5]).map(lambda v: ("leaf", v)),
    st.sampled_from(_GLOBALS).map(lambda g: ("global", g)),
    st.just(("raw", _PID + b"Q")),
    st.just(("raw", _TENSOR)),
)
_FIELD = st.sampled_from(["size", "stride", "offset", "storage"]).map(lambda v: ("leaf", v))
_KEY = st.sampled_from(["w", "b", "size", "storage", "state_dict"]).map(lambda v: ("leaf", v))
_TREE = st.recursive(
    _LEAF,
    lambda kids: st.one_of(
        st.lists(kids, max_size=6).map(lambda c: ("tuple", c)),
        st.lists(kids, max_size=4).map(lambda c: ("list", c)),
        st.lists(st.tuples(_KEY, kids), max_size=4).map(lambda c: ("dict", c)),
        st.tuples(st.sampled_from(_GLOBALS), st.lists(kids, max_size=7)).map(lambda t: ("call",) + t),
        st.tuples(st.sampled_from(_GLOBALS), st.lists(kids, max_size=2)).map(lambda t: ("newobj",) + t),
        st.tuples(kids, kids).map(lambda t: ("build",) + t),
        st.lists(st.tuples(_FIELD, kids), max_size=3).map(lambda c: ("build", ("raw", _TENSOR), ("dict", c))),
        st.lists(kids, max_size=6).map(lambda c: ("pid", c)),
    ),
    max_leaves=25,
)
_PROGRAM = st.lists(st.tuples(_KEY, _TREE), max_size=4).map(
    lambda items: b"\x80\x02" + _compile(("dict", items)) + b"."
)


def _read_as_zip_checkpoint(path):
    with open(path, "rb") as f:
        program = f.read()
    with tempfile.TemporaryDirectory() as d:
        zpath = os.path.join(d, "prog.pth")
        with zipfile.ZipFile(zpath, "w") as z:
            z.writestr("prog/data.pkl", program)
            z.writestr("prog/data/0", bytes(64))
        load_state_dict(zpath)


@_settings(ITERATIONS["pickle_programs"])
@given(_PROGRAM)
def test_pth_random_pickle_programs(program):
    """Well-formed pickles over the allowed globals, through the whole .pth reader (zip wrapper)."""
    _only_user_errors(_read_as_zip_checkpoint, program, ".pkl")


@_settings(ITERATIONS["pth_legacy_mutated"])
@given(mutations(LEGACY_SEED))
def test_pth_legacy_mutated(data):
    _only_user_errors(load_state_dict, data, ".pth")


_ZIP_SEED = []


def _zip_seed():
    if not _ZIP_SEED:
        torch = require_torch()
        buf = io.BytesIO()
        g = torch.Generator().manual_seed(0)
        w = torch.randn(2, 3, 2, 2, generator=g)
        torch.save({"w": w, "wt": w.transpose(0, 1), "n": torch.tensor(4)}, buf)
        _ZIP_SEED.append(buf.getvalue())
    return _ZIP_SEED[0]


def test_pth_zip_mutated():
    @_settings(ITERATIONS["pth_zip_mutated"])
    @given(mutations(_zip_seed()))
    def run(data):
        _only_user_errors(load_state_dict, data, ".pth")

    run()


# ------------------------------------------------------------------------------------------ images
def _image_seeds():
    from PIL import Image

    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (12, 17, 3), dtype=np.uint8))
    out = []
    for fmt, kw in (("PNG", {}), ("JPEG", {"quality": 80}), ("GIF", {})):
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        out.append(buf.getvalue())
    return out


def test_image_loader_mutated():
    from scratchdream.image_io import load_image

    png, jpeg, gif = _image_seeds()

    @_settings(ITERATIONS["image_mutated"])
    @given(st.one_of(mutations(png), mutations(jpeg), mutations(gif)))
    def run(data):
        _only_user_errors(lambda p: load_image(p, quiet=True), data, ".img")

    run()

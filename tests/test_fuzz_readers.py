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
import itertools
import os
import pickle
import pickletools
import tempfile
import zipfile

import numpy as np
import timebox
from byte_edits import OPS, apply_edit
from conftest import require_torch
from fixtures_formats import binunicode, caffemodel_bytes, f_bytes, f_str, legacy_oldstyle_pth
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
    "onnx_random": 200,
    "onnx_mutated": 400,
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


def _onnx_seed():
    from onnx_encoder import nhwc_model, weights

    return nhwc_model(weights())


ONNX_SEED = _onnx_seed()


def _convert_onnx(path):
    from scratchdream.nets.convert import convert_onnx

    return convert_onnx(path, quiet=True)  # the reader, then the graph -> architecture, then Net's checks


@_settings(ITERATIONS["onnx_random"])
@given(st.binary(max_size=3000).map(lambda b: b"\x08\x07" + b))
def test_onnx_random_bytes(data):
    _only_user_errors(_convert_onnx, data, ".onnx")


@_settings(ITERATIONS["onnx_mutated"])
@given(mutations(ONNX_SEED))
def test_onnx_mutated(data):
    _only_user_errors(_convert_onnx, data, ".onnx")


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


# ------------------------------------------------------------------------------------------ under limits
# Every reader in a child process under RLIMIT_AS and RLIMIT_CPU (reader_sandbox.py), so that a crash, a
# memory blow-up or a runaway loop is an outcome the test sees, not the end of pytest. Two kinds of input:
# seeds mutated byte by byte (SANDBOX_MUTATED per reader), and structures crafted around each limit the
# readers set (SANDBOX_CRAFTED per reader; tests/test_readers_limits.py has the attacks themselves, far
# past the limits). All run in one child (a new one after a crash); each file gets 5 s of CPU and 384 MB.
SANDBOX_MUTATED = 150
SANDBOX_CRAFTED = 40
PROTOTXT_SEED = b"""name: "tiny"
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 pad: 1 kernel_size: 3 weight_filler { type: "xavier" } } }
layer { name: 'norm' type: "LRN" lrn_param { local_size: 5 alpha: 0.0001 norm_region: ACROSS_CHANNELS } }
"""


def _sandbox_seeds(folder):
    """reader name -> (reader, seed bytes) for every reader under test."""
    from fixtures_formats import write_keras_h5
    from nets_for_tests import tiny_inception_net

    import scratchdream as sd

    keras = write_keras_h5(
        os.path.join(folder, "keras.h5"),
        {"c": [("c/kernel:0", np.ones((3, 3, 2, 4), np.float32)), ("c/bias:0", np.zeros(4, np.float32))]},
    )
    ours = os.path.join(folder, "ours.h5")
    sd.save_net(tiny_inception_net(seed=1), ours)
    with open(keras, "rb") as f, open(ours, "rb") as g:
        keras, ours = f.read(), g.read()
    return {
        "pth_zip": ("pth", _zip_seed()),
        "pth_legacy": ("pth", LEGACY_SEED),
        "caffe_v1": ("caffemodel", CAFFE_V1),
        "caffe_v2": ("caffemodel", CAFFE_V2),
        "prototxt": ("prototxt", PROTOTXT_SEED),
        "keras_h5": ("keras_h5", keras),
        "weights": ("weights", ours),
        "onnx": ("onnx", ONNX_SEED),
    }


def _mutated(seed, rng):
    """`seed` with 1-8 byte edits (byte_edits.OPS)."""
    b = bytearray(seed)
    for _ in range(rng.integers(1, 9)):
        pos = int(rng.integers(len(b) + 1))
        apply_edit(b, OPS[rng.integers(len(OPS))], pos, int(rng.integers(256)), int(rng.integers(1, 65)))
    return bytes(b)


# crafted pickles: one value wrapped level after level in random containers, as deep as the limit and past it
_WRAPS = [
    (b"(", b"t"),  # tuple
    (b"", b"\x85"),  # TUPLE1
    (b"(", b"l"),  # LIST
    (b"](", b"e"),  # APPENDS
    (b"]", b"a"),  # APPEND
    (b"}" + binunicode("k"), b"s"),  # a dict value
    (b"}(", b"Nu"),  # a dict key
    (b"(", b"\x91"),  # a frozenset item
    (b"\x8f(", b"\x90"),  # a set item
    (b"ctorch\nSize\n(", b"tR"),  # torch.Size(value)
    (b"ccollections\nOrderedDict\n(", b"tR"),  # OrderedDict(value)
]
_LEAVES = [binunicode("x"), b"K\x05", b"N", b")", b"\x8a\x0a" + (3 << 70).to_bytes(10, "little"), b"C\x01z"]


def _crafted_pickle(rng):
    kind = rng.integers(3)
    if kind == 0:  # nesting around MAX_DEPTH (256)
        ops = _LEAVES[rng.integers(len(_LEAVES))]
        for _ in range(rng.integers(240, 272)):
            prefix, suffix = _WRAPS[rng.integers(len(_WRAPS))]
            ops = prefix + ops + suffix
    elif kind == 1:  # a laughs tuple around MAX_ELEMENTS (10^6), as key or value
        from hostile_files import laughs

        ops = laughs(int(rng.integers(2, 14)), int(rng.integers(2, 13)))
        if rng.random() < 0.5:
            ops = b"}(" + ops + b"Nu"
    else:  # a state dict with keys of random types
        keys = [binunicode("a"), b"K\x01", b")", b"N", b"C\x01k", b"\x88", b"(K\x01K\x02t"]
        ops = b"}(" + b"".join(keys[rng.integers(len(keys))] + b"N" for _ in range(rng.integers(1, 6))) + b"u"
    return b"\x80\x02" + ops + b"."


def _wrapped_pickle(data_pkl, rng, folder, i):
    from hostile_files import legacy_pth, zip_pth

    if rng.random() < 0.5:
        return zip_pth(os.path.join(folder, f"c{i}.pth"), data_pkl)
    return legacy_pth(os.path.join(folder, f"c{i}.pth"), data_pkl)


def _crafted_caffemodel(rng):
    """Counts around the reader's caps: layers 10,000, blobs 16 a layer and 10,000 in all, bottoms 256,
    dims 32."""
    from fixtures_formats import f_packed_varints

    near = lambda cap: int(cap + rng.integers(-3, 4))  # noqa: E731
    kind = rng.integers(5)
    if kind == 0:
        return b"\x12\x00" * near(10_000)
    if kind == 4:  # 625 layers of 16 blobs: 10,000 blobs in all
        return f_bytes(2, f_str(4, "c") + b"\x32\x00" * 16) * near(625)
    if kind == 1:
        return f_bytes(2, f_str(4, "c") + b"\x32\x00" * near(16))
    if kind == 2:
        return f_bytes(2, f_str(4, "c") + f_str(2, "b") * near(256))
    dims = [1] * near(32)
    blob = f_bytes(7, f_packed_varints(1, dims)) + f_bytes(5, np.ones(1, "<f4").tobytes())
    return f_bytes(100, f_str(1, "c") + f_bytes(7, blob))


def _crafted_prototxt(rng):
    """Nesting around MAX_DEPTH (32), messages around MAX_MESSAGES (100,000), odd tokens."""
    kind = rng.integers(3)
    if kind == 0:
        depth = int(rng.integers(28, 37))
        return (b"a {" * depth + b" b: 1 " + b"}" * depth) * int(rng.integers(1, 3))
    if kind == 1:
        return b"a{}" * int(100_000 + rng.integers(-3, 4))
    words = [b"a", b":", b"{", b"}", b'"s\\"', b"1e999", b"0x" + b"f" * 40, b"9" * 5000, b"#\n", b"<", b">"]
    return b" ".join(words[rng.integers(len(words))] for _ in range(rng.integers(1, 200)))


_LAYOUTS = ["contiguous", "chunked", "partly_written", "gzip", "shuffle", "fletcher32", "external", "virtual"]
_LAYOUTS += ["soft_link", "external_link"]
_UNIQUE = itertools.count()  # names for the files and datasets the layouts add


def _hdf5_dataset(group, name, data, layout, folder):
    """Store `data` as group[name] as `layout` says (see _LAYOUTS); True when the readers must refuse it
    (the layouts after 'chunked'). Scalars and empty arrays are always stored plainly (no chunks for them)."""
    import h5py

    chunks = (1,) + data.shape[1:] if data.ndim else None
    if not data.ndim or not data.size:
        group.create_dataset(name, data=data)
        return False
    if layout in ("contiguous", "chunked", "gzip", "shuffle", "fletcher32"):
        options = {"chunked": {"chunks": chunks}, "gzip": {"compression": "gzip"}}
        options.update(shuffle={"shuffle": True}, fletcher32={"fletcher32": True})
        group.create_dataset(name, data=data, **options.get(layout, {}))
    elif layout == "partly_written":
        group.create_dataset(name, shape=data.shape, dtype=data.dtype, chunks=chunks)[:1] = data[:1]
    elif layout == "external":
        outside = os.path.join(folder, f"outside{next(_UNIQUE)}.bin")
        data.astype("<f4").tofile(outside)
        group.create_dataset(name, shape=data.shape, dtype="<f4", external=[(outside, 0, 4 * data.size)])
    elif layout == "virtual":
        other = os.path.join(folder, f"virtual{next(_UNIQUE)}.h5")
        with h5py.File(other, "w") as o:
            o["x"] = data
        vlayout = h5py.VirtualLayout(shape=data.shape, dtype=data.dtype)
        vlayout[...] = h5py.VirtualSource(other, "x", shape=data.shape)
        group.create_virtual_dataset(name, vlayout)
    else:
        real = f"/_{next(_UNIQUE)}"
        group.file.create_dataset(real, data=data)
        group[name] = (
            h5py.SoftLink(real) if layout == "soft_link" else h5py.ExternalLink(group.file.filename, real)
        )
    return _LAYOUTS.index(layout) > 1 and not (layout == "partly_written" and len(data) == 1)


def _crafted_keras(rng, path, folder):
    """A Keras file of 3 layers, each weight stored in a random layout; (path, True if it must be refused)."""
    import h5py
    from fixtures_formats import write_keras_h5

    shapes = [(3, 3, 2, 4), (4,), (0, 3), (), (5, 2)]
    layers = {
        f"l{i}": [(f"l{i}/w:0", np.ones(shapes[rng.integers(len(shapes))], np.float32))] for i in range(3)
    }
    write_keras_h5(path, layers)
    refused = False
    with h5py.File(path, "r+") as f:
        for name, [(wname, data)] in layers.items():
            del f[f"{name}/{wname}"]
            refused |= _hdf5_dataset(f[name], wname, data, _LAYOUTS[rng.integers(len(_LAYOUTS))], folder)
    return path, refused


def _crafted_weights(rng, path, seed, folder):
    """Our weights file with 2 parameters stored in random layouts; (path, True if it must be refused)."""
    import h5py

    with open(path, "wb") as f:
        f.write(seed)
    refused = False
    with h5py.File(path, "r+") as f:
        names = []
        f["params"].visititems(lambda n, obj: names.append(n) if isinstance(obj, h5py.Dataset) else None)
        for name in rng.choice(names, size=2, replace=False):
            data = f[f"params/{name}"][()]
            del f[f"params/{name}"]
            refused |= _hdf5_dataset(f["params"], name, data, _LAYOUTS[rng.integers(len(_LAYOUTS))], folder)
    return path, refused


def test_every_reader_under_memory_and_cpu_limits(tmp_path, torch):
    """SANDBOX_MUTATED mutations of each of 8 seeds and SANDBOX_CRAFTED crafted files for each of 5 readers:
    every outcome is a clean result or one UserError line, using less than half its CPU allowance; an HDF5
    file with a dataset stored outside it, in no place, or through filters is refused."""
    import reader_sandbox

    rng, folder, jobs, must_refuse = np.random.default_rng(15), str(tmp_path), [], set()
    seeds = _sandbox_seeds(folder)
    suffix = {
        "pth": ".pth",
        "caffemodel": ".caffemodel",
        "prototxt": ".prototxt",
        "keras_h5": ".h5",
        "weights": ".h5",
        "onnx": ".onnx",
    }
    for name, (reader, seed) in seeds.items():
        for i in range(SANDBOX_MUTATED):
            path = os.path.join(folder, f"{name}_{i}{suffix[reader]}")
            with open(path, "wb") as f:
                f.write(_mutated(seed, rng))
            jobs.append((reader, path))
    for i in range(SANDBOX_CRAFTED):
        jobs.append(("pth", _wrapped_pickle(_crafted_pickle(rng), rng, folder, i)))
        for reader, make in (("caffemodel", _crafted_caffemodel), ("prototxt", _crafted_prototxt)):
            path = os.path.join(folder, f"crafted_{i}{suffix[reader]}")
            with open(path, "wb") as f:
                f.write(make(rng))
            jobs.append((reader, path))
        keras = _crafted_keras(rng, os.path.join(folder, f"crafted_keras_{i}.h5"), folder)
        weights = _crafted_weights(
            rng, os.path.join(folder, f"crafted_w_{i}.h5"), seeds["weights"][1], folder
        )
        for reader, (path, refused) in (("keras_h5", keras), ("weights", weights)):
            jobs.append((reader, path))
            must_refuse |= {path} if refused else set()
    outcomes = reader_sandbox.run(jobs)
    bad = [
        o
        for o in outcomes
        if o.kind not in ("ok", "user_error") or "\n" in o.message or o.cpu > reader_sandbox.CPU_SECONDS / 2
    ]
    bad += [o for o in outcomes if o.path in must_refuse and "refusing to read" not in o.message]
    assert not bad, f"{len(bad)} of {len(jobs)}:\n" + "\n".join(map(str, bad[:10]))

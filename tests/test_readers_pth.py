"""The .pth reader against files torch itself writes (zip and legacy), a hand-assembled pre-1.0 file,
and pickles that would run code. torch is the oracle here; the package never imports it."""

import io
import pickle
import subprocess
import sys
import tarfile
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
from fixtures_formats import (
    LEGACY_MAGIC,
    binunicode,
    code_running_pickle,
    handmade_zip_pth,
    legacy_oldstyle_pth,
)

from scratchdream.errors import UserError
from scratchdream.nets.readers.pth import load_state_dict


def _awkward_state_dict(torch):
    """Every storage situation a checkpoint can hold."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 3, 3, 3, generator=g)
    sd = OrderedDict()
    sd["conv.weight"] = torch.nn.Parameter(w)  # saved through _rebuild_parameter
    sd["conv.bias"] = torch.randn(4, generator=g)
    sd["conv.weight_t"] = w.permute(1, 0, 3, 2)  # non-contiguous view, shares w's storage
    sd["conv.weight_tail"] = w[2:]  # storage offset into the same storage
    sd["every_other"] = torch.arange(10.0)[::2]  # stride 2
    sd["expanded"] = torch.randn(3, 1, generator=g).expand(3, 5)  # stride 0
    sd["bn.num_batches_tracked"] = torch.tensor(7)  # 0-d int64
    sd["empty"] = torch.zeros(0, 3)
    sd["double"] = torch.randn(2, 2, generator=g, dtype=torch.float64)
    sd["half"] = torch.randn(5, generator=g).half()
    sd["bf16"] = torch.randn(5, generator=g).bfloat16()
    sd["int32"] = torch.arange(-3, 3, dtype=torch.int32)
    sd["mask"] = torch.tensor([True, False, True])
    return sd


def _assert_same(mine, theirs):
    assert list(mine) == list(theirs)
    for k, t in theirs.items():
        t = t.detach()
        want = (
            t.float().numpy() if str(t.dtype) == "torch.bfloat16" else t.numpy()
        )  # bf16 comes back as float32
        assert mine[k].shape == want.shape and mine[k].dtype == want.dtype, k
        np.testing.assert_array_equal(mine[k], want, err_msg=k)


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
def test_torch_save_round_trip(tmp_path, torch, zipped):
    sd = _awkward_state_dict(torch)
    path = tmp_path / "my.model.weights.pth"  # dots: the zip's top folder is the stem
    torch.save(sd, path, _use_new_zipfile_serialization=zipped)
    got = load_state_dict(path)
    _assert_same(got, sd)
    for a in got.values():  # shared storages come back as separate arrays
        for b in got.values():
            assert a is b or not np.shares_memory(a, b)


def test_real_module_state_dict_and_buffer_archive(tmp_path, torch):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, 5),
    )
    net(torch.randn(2, 3, 6, 6))  # updates BN running stats
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)  # saved to a buffer: top folder "archive"
    path = tmp_path / "net.pth"
    path.write_bytes(buf.getvalue())
    assert zipfile.ZipFile(path).namelist()[0].startswith("archive/")
    _assert_same(load_state_dict(path), net.state_dict())


def test_wrapped_state_dict(tmp_path, torch):
    sd = OrderedDict(w=torch.ones(2))
    torch.save({"epoch": 3, "state_dict": sd}, tmp_path / "ckpt.pth")
    _assert_same(load_state_dict(tmp_path / "ckpt.pth"), sd)


def test_oldstyle_legacy_file_as_published_vgg_files(tmp_path, torch):
    """Tensors pickled as torch.FloatTensor + BUILD((storage, offset, size, stride)), py2 byte-string keys."""
    rng = np.random.default_rng(0)
    tensors = {
        "features.0.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "features.0.bias": rng.standard_normal(4).astype(np.float32),
        "classifier.0.weight": rng.standard_normal((5, 6)).astype(np.float32),
    }
    views = [
        ("classifier.0.weight_t", "classifier.0.weight", 0, (6, 5), (1, 6)),
        ("features.0.weight_tail", "features.0.weight", 27, (3, 27), (27, 1)),
    ]
    path = legacy_oldstyle_pth(tmp_path / "vgg-old.pth", tensors, views)
    assert b"ctorch\nFloatTensor\n" in path.read_bytes()
    got = load_state_dict(path)
    _assert_same(got, torch.load(path, weights_only=True))  # torch's own reading of the same bytes
    np.testing.assert_array_equal(got["classifier.0.weight_t"], tensors["classifier.0.weight"].T)


# --------------------------------------------------------------------------------------------- refusals
def _zip_with(path, payload):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("evil/data.pkl", payload)
        z.writestr("evil/version", "3\n")
    return path


def _legacy_with(path, payload):
    with open(path, "wb") as f:
        for thing in (LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(thing, f, protocol=2)
        f.write(payload)
        pickle.dump([], f, protocol=2)
    return path


@pytest.mark.parametrize("how", ["os.system", "builtins.eval", "stack_global"])
@pytest.mark.parametrize("wrap", [_zip_with, _legacy_with], ids=["zip", "legacy"])
def test_pickle_that_would_run_code_is_refused_and_does_not_run(tmp_path, how, wrap):
    marker = tmp_path / "pwned"
    path = wrap(tmp_path / "evil.pth", code_running_pickle(marker, how))
    with pytest.raises(UserError) as e:
        load_state_dict(path)
    msg = str(e.value)
    assert msg.startswith(f"refusing to load {path}: it asks to run ") and "\n" not in msg
    assert ("os.system" if how != "builtins.eval" else "builtins.eval") in msg
    assert not marker.exists()


@pytest.mark.parametrize("how", ["os.system", "builtins.eval", "stack_global"])
def test_the_refused_payload_is_a_real_attack(tmp_path, how):
    """Proof the refusal above matters: plain pickle.loads runs the same bytes (in a child process)."""
    marker = tmp_path / "pwned"
    code = f"import pickle; pickle.loads({code_running_pickle(marker, how)!r})"
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert marker.exists()


# --------------------------------------------------------------------------------------------- damage
def _one_line_error(path, match=None):
    with pytest.raises(UserError, match=match) as e:
        load_state_dict(path)
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
def test_truncated_checkpoints(tmp_path, torch, zipped):
    src = tmp_path / "full.pth"
    torch.save(_awkward_state_dict(torch), src, _use_new_zipfile_serialization=zipped)
    data = src.read_bytes()
    for cut in (3, 40, len(data) // 2, len(data) - 100, len(data) - 1):
        p = tmp_path / f"cut{cut}.pth"
        p.write_bytes(data[:cut])
        _one_line_error(p, str(p))


def test_window_outside_its_storage(tmp_path):
    w = np.zeros((2, 3), np.float32)
    path = legacy_oldstyle_pth(tmp_path / "oob.pth", {"w": w}, views=[("v", "w", 4, (2, 3), (3, 1))])
    assert "reaches outside its storage" in _one_line_error(path)


def test_other_files(tmp_path, torch):
    tar = tmp_path / "old.pth"
    with tarfile.open(tar, "w") as t:
        t.addfile(tarfile.TarInfo("sys_info"), io.BytesIO(b""))
    _one_line_error(tar, "oldest .tar. checkpoint format")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    _one_line_error(tmp_path / "list.pth", "holds no state_dict")
    (tmp_path / "text.pth").write_text("hello")
    _one_line_error(tmp_path / "text.pth", "not a PyTorch checkpoint|not a readable")
    with zipfile.ZipFile(tmp_path / "plain.zip", "w") as z:
        z.writestr("readme.txt", "hi")
    _one_line_error(tmp_path / "plain.zip", "not a PyTorch checkpoint")
    _one_line_error(tmp_path / "missing.pth", "not found")


def test_forged_lengths_are_refused_before_allocating(tmp_path):
    """A BINBYTES8 claiming 2**60 bytes and a memo index of 2**31: the prescan stops both."""
    for body in (
        b"\x8e" + (1 << 60).to_bytes(8, "little") + b"x.",
        b"N" + b"r" + (1 << 31).to_bytes(4, "little") + b".",
    ):
        p = _legacy_with(tmp_path / "forged.pth", b"\x80\x02" + body)
        _one_line_error(p, "not a readable PyTorch checkpoint")


def test_handmade_zip_reads_and_forgeries_fail_cleanly(tmp_path):
    np.testing.assert_array_equal(
        load_state_dict(handmade_zip_pth(tmp_path / "ok.pth"))["w"], np.zeros(2, np.float32)
    )
    # BUILD on a rebuilt tensor would overwrite its checked size with junk (found by review of the fuzz
    # results)
    build = b"}" + binunicode("size") + binunicode("junk") + b"sb"
    assert "tries to change a TensorRef" in _one_line_error(
        handmade_zip_pth(tmp_path / "b.pth", after_tensor=build)
    )
    # a stride-0 view of one element claiming 10**8 elements: refused before anything is allocated
    bomb = handmade_zip_pth(tmp_path / "bomb.pth", size=(10**8,), stride=(0,), numel=1)
    assert "far more than the file holds" in _one_line_error(bomb)
    assert "reaches outside" in _one_line_error(
        handmade_zip_pth(tmp_path / "oob.pth", size=(3,), stride=(1,))
    )


def test_cli_convert_refuses_the_attack_in_one_line(tmp_path):
    """The real command line, in a child process: exit 1, one stderr line, no output, no payload run."""
    import os

    marker, out = tmp_path / "pwned", tmp_path / "evil.h5"
    evil = _zip_with(tmp_path / "evil.pth", code_running_pickle(marker, "os.system"))
    before = evil.read_bytes()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run(
        [sys.executable, "-m", "scratchdream", "convert", str(evil), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 1
    assert r.stderr.startswith(f"scratchdream: error: refusing to load {evil}") and r.stderr.count("\n") == 1
    assert not marker.exists() and not out.exists() and evil.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.pth"]


def test_legacy_storage_views(tmp_path, torch):
    """Old torch could save a tensor on a slice of a storage: the persistent id then carries
    (view key, view offset, view numel) and the tensor's own offset counts from the view."""
    w = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    path = legacy_oldstyle_pth(
        tmp_path / "views.pth",
        {"w": w},
        views=[("v", "w", 2, (2, 3), (3, 1), (6, 12)), ("u", "w", 1, (4,), (1,), (0, 24))],
    )
    got = load_state_dict(path)
    _assert_same(got, torch.load(path, weights_only=True))
    np.testing.assert_array_equal(got["v"], w.ravel()[8:14].reshape(2, 3))


def test_zip_with_big_endian_byteorder_record(tmp_path, torch):
    sd = OrderedDict(w=torch.randn(3, 4, dtype=torch.float64), n=torch.arange(5), h=torch.randn(6).half())
    little = tmp_path / "little.pth"
    torch.save(sd, little)
    big = tmp_path / "big.pth"
    dtypes = {"0": ">f8", "1": ">i8", "2": ">f2"}  # storages numbered in save order
    with zipfile.ZipFile(little) as src, zipfile.ZipFile(big, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            leaf = info.filename.split("/", 1)[1]
            if leaf == "byteorder":
                data = b"big"
            elif leaf.startswith("data/"):
                data = (
                    np.frombuffer(data, dtypes[leaf[5:]].replace(">", "<")).astype(dtypes[leaf[5:]]).tobytes()
                )
            dst.writestr(info, data)
    oracle = torch.load(big, weights_only=True)
    _assert_same(load_state_dict(big), oracle)
    _assert_same(load_state_dict(big), sd)


def test_legacy_big_endian_machine_is_refused(tmp_path):
    path = tmp_path / "be.pth"
    with open(path, "wb") as f:
        for thing in (LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": False}):
            pickle.dump(thing, f, protocol=2)
    _one_line_error(path, "big-endian")


def test_a_pickle_cannot_modify_the_stand_ins(tmp_path):
    """BUILD with a slot state on an allowed global would setattr on it (e.g. a function's __defaults__,
    changing every later load): every allowed global is immutable or refuses BUILD."""
    from scratchdream.nets.readers.pth import ALLOWED

    for (module, name), standin in ALLOWED.items():
        attack = (
            b"\x80\x02c"
            + f"{module}\n{name}\n".encode()
            + b"N}"
            + binunicode("__defaults__")
            + b"K\x01\x85s\x86b."
        )  # BUILD(global, (None, {'__defaults__': (1,)}))
        path = _zip_with(tmp_path / "m.pth", attack)
        with pytest.raises(UserError):
            load_state_dict(path)
        assert getattr(standin, "__defaults__", None) is None, (module, name)
    w = np.ones((2, 3), np.float32)  # and loading still works afterwards
    np.testing.assert_array_equal(load_state_dict(legacy_oldstyle_pth(tmp_path / "ok.pth", {"w": w}))["w"], w)


def test_reading_never_imports_torch(tmp_path):
    """The readers work without torch: in a child process, read a checkpoint and check sys.modules."""
    import os

    path = legacy_oldstyle_pth(tmp_path / "w.pth", {"w": np.ones(3, np.float32)})
    code = (
        "import sys; from scratchdream.nets.readers import pth, caffemodel, keras_h5, prototxt; "
        "import scratchdream.fetch; "
        f"assert pth.load_state_dict({str(path)!r})['w'].sum() == 3; "
        "assert not [m for m in sys.modules if m == 'torch' or m.startswith('torch.')], 'torch imported'"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("bad", [float("nan"), float("-inf")], ids=["nan", "inf"])
def test_convert_refuses_a_checkpoint_holding_nan_or_inf(tmp_path, torch, capsys, bad):
    """`scratchdream convert` names the tensor in one line and writes nothing (it used to write an .h5 that
    `dream` then refused)."""
    import torch_nets as tn

    from scratchdream import cli

    state = tn.randomise(tn.SqueezeNet11(), seed=3).state_dict()
    state["features.3.expand1x1.weight"][1, 2, 0, 0] = bad
    src, out = tmp_path / "squeezenet1_1-b8a52dc0.pth", tmp_path / "sq.h5"
    torch.save(state, src)
    assert cli.main(["convert", str(src), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "features.3.expand1x1 weight holds 1 NaN or infinite number" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]


def test_python2_ordered_dict_of_pairs(tmp_path, torch):
    """Python 2 pickled an OrderedDict as OrderedDict([[key, value], ...]); the stand-in accepts that form
    (string keys only), so old files still read."""
    rng = np.random.default_rng(4)
    tensors = {"a.weight": rng.standard_normal((2, 3)).astype(np.float32), "a.bias": np.ones(2, np.float32)}
    path = legacy_oldstyle_pth(tmp_path / "py2.pth", tensors, py2_pairs=True)
    got = load_state_dict(path)
    _assert_same(got, torch.load(path, weights_only=True))
    assert list(got) == list(tensors)


# --------------------------------------------------------------------------------------------- the walk
# Rules of pickle_safe's prescan with no crash behind them on their own: each keeps its counts exact.
@pytest.mark.parametrize(
    "program, message",
    [
        # L = []; T = (L,); L.append(()): deepening a value after it was counted
        (b"]q\x00\x85h\x00)a0.", "changes a container after using it"),
        (b"]q\x00h\x00a.", "puts a container inside itself"),
        (b"}K\x01Ns.", "key or set item that is not a string"),  # {1: None}
        (b"\x8f(K\x01\x90.", "key or set item that is not a string"),  # a set {1}
        (b"(K\x01Nd.", "key or set item that is not a string"),  # DICT from a MARK
        (b"\x8a\x11" + bytes(16) + b"\x01.", "integer of 129 bits"),
        (b"N(a.", "stack underflow"),  # APPEND reaching below the MARK
    ],
)
def test_prescan_refuses(program, message):
    from scratchdream.nets.readers.pickle_safe import BoundedReader, prescan

    data = b"\x80\x02" + program
    with pytest.raises(ValueError, match=message):
        prescan(BoundedReader(io.BytesIO(data), len(data)), {})


@pytest.mark.parametrize(
    "program, value",
    [
        (b"(N0t.", ()),  # POP above a MARK pops a value
        (b"(0N.", None),  # POP right after a MARK drops the MARK, as _pickle.c does
        (b"(NN1N.", None),  # POP_MARK
        (b"]q\x00N\x85ah\x00.", [(None,)]),  # memo GET of a list changed before it was used
    ],
)
def test_prescan_follows_the_c_unpickler(program, value):
    from scratchdream.nets.readers.pickle_safe import BoundedReader, prescan

    data = b"\x80\x02" + program
    f = BoundedReader(io.BytesIO(data), len(data))
    walk = prescan(f, {})
    assert f.tell() == 0 and walk.stack[-1].kind == type(value).__name__.replace("NoneType", "scalar")
    assert pickle.loads(data) == value

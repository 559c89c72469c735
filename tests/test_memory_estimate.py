"""Memory before the first forward (nets/memory.py, issue 15): the estimate, what is free, the refusal.

Four groups of tests:
    by hand      the estimate of a one-conv net, summed from memory.py's docstring on paper
    measured     the estimate against the peak RSS of a real forward + backward in a fresh process (VmHWM,
                 reset through /proc/self/clear_refs just before): at least 0.9x, at most 2x
    free         available() is MemAvailable, or what RLIMIT_AS leaves when that is less
    refusal      forward refuses before any layer runs, naming the largest picture that fits; a crafted
                 12 KB .h5 whose conv has 60,000 channels (valid: under MAX_CHANNELS) asked for 58.6 GiB for
                 one array on a 512 x 512 picture: before, a MemoryError traceback under an address-space
                 limit (and without one, gigabytes); now one line, and the process stays under 1 GiB
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
from nets_for_tests import TINY_INCEPTION, _conv, _maxpool, net_from_spec, tiny_inception_net
from PIL import Image

import scratchdream as sd
from scratchdream.errors import UserError
from scratchdream.layers import Kind
from scratchdream.layers.fast import conv as fast_conv
from scratchdream.layers.geometry import Geometry
from scratchdream.nets import graph, memory
from scratchdream.nets.graph import Net

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))
MiB = 1 << 20


def one_conv(relu_layer=False):
    """One 3x3 conv, 3 -> 4 channels, pad 1, its ReLU fused in hp or (relu_layer) as its own relu layer."""
    spec = copy.deepcopy(TINY_INCEPTION)
    spec.update(
        layers=[_conv("conv1", ["data"], 4, 3, pad=1, relu=not relu_layer)], aliases={}, dream_layers=[]
    )
    if relu_layer:
        spec["layers"].append({"name": "relu1", "kind": "relu", "inputs": ["conv1"], "hp": {}})
    return Net(spec)


# ---- by hand ----------------------------------------------------------------------------------------------
def test_estimate_of_one_conv_by_hand():
    """10 x 10 picture, conv 3 -> 4 with its ReLU. Kept at the peak: the conv's output (400 values; the
    picture is the caller's), its mask (400 bytes); the picture's gradient (300 values); the backward's
    working arrays at the conv: dL/dy (400), its masked copy (400; none in float32 on the fused im2col path,
    which reads dL/dy through the mask band by band) and dL/dx (300)."""
    copy = 0 if fast_conv.fused(Geometry(3, 3, 1, 1, 1, 1, 1, 1), 3, 4, np.float32) else 400
    values = 400 + 300 + (400 + copy + 300)
    assert one_conv().memory_estimate(10, 10) == values * 4 + 400 + memory.WORKSPACE
    f64 = 400 + 300 + (2 * 400 + 300)
    assert one_conv().memory_estimate(10, 10, dtype=np.float64) == f64 * 8 + 400 + memory.WORKSPACE
    assert one_conv().memory_estimate(10, 10, batch=3) == 3 * (values * 4 + 400) + memory.WORKSPACE
    # a separate relu layer runs inside the conv (graph.FUSE_RELU): the same arrays
    assert one_conv(relu_layer=True).memory_estimate(10, 10, "relu1") == values * 4 + 400 + memory.WORKSPACE


def test_estimate_grows_with_the_picture_and_stops_at_the_target():
    net = tiny_inception_net()
    small, big = net.memory_estimate(64, 64, "conv3"), net.memory_estimate(128, 128, "conv3")
    assert 3.5 < (big - memory.WORKSPACE) / (small - memory.WORKSPACE) < 4.5  # activations scale with H x W
    # fewer layers, fewer activations kept for training (a dream keeps no conv input: about the same)
    train = net.memory_estimate(128, 128, "conv3", weight_grads=True)
    assert net.memory_estimate(128, 128, "conv1", weight_grads=True) < train
    assert big < train  # a dream's tape holds no conv inputs
    assert net.memory_estimate(128, 128, "deep") == big  # an alias is its layer


# ---- measured ---------------------------------------------------------------------------------------------
MEASURE = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from nets_for_tests import net_from_spec

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

spec, H, W, upto = json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
net = net_from_spec(spec)
rng = np.random.default_rng(0)
small = rng.standard_normal((1, 3, 64, 64)).astype(np.float32)
net.backward(rng.standard_normal(net.forward(small, upto=upto).shape).astype(np.float32))  # kernels loaded
x = rng.standard_normal((1, 3, H, W)).astype(np.float32)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # VmHWM := VmRSS: the peak from here on
before = status("VmRSS")
y = net.forward(x, upto=upto)
dx = net.backward(rng.standard_normal(y.shape).astype(np.float32))  # dL/dh, as an objective makes it
print(json.dumps({"peak": status("VmHWM") - before, "estimate": net.memory_estimate(H, W, upto)}))
"""

VGGISH = copy.deepcopy(TINY_INCEPTION)
VGGISH.update(
    name="vggish",
    aliases={},
    dream_layers=["conv4"],
    layers=[
        _conv("conv1", ["data"], 32, 3, pad=1),
        {"name": "relu1", "kind": "relu", "inputs": ["conv1"], "hp": {}},
        _conv("conv2", ["relu1"], 32, 3, pad=1),
        {"name": "relu2", "kind": "relu", "inputs": ["conv2"], "hp": {}},
        _maxpool("pool1", ["relu2"], 2, 2, ceil=False),
        _conv("conv3", ["pool1"], 64, 3, pad=1, relu=True),
        _conv("conv4", ["conv3"], 64, 3, pad=1, relu=True),
    ],
)


@pytest.mark.parametrize(
    "spec, H, W, upto",
    [(VGGISH, 768, 1024, "conv4"), (TINY_INCEPTION, 1536, 1536, "conv3")],
    ids=["vggish 1024x768", "tiny_inception 1536x1536"],
)
def test_estimate_is_within_a_factor_2_of_the_measured_peak(spec, H, W, upto):
    """On 2 cores: vggish 487 MiB estimated / 452 MiB peak (1.08); tiny_inception 345 / 216 (1.60). (With
    its first conv, 3x3 from 3 channels, on the fused im2col path: 273 / 142, 1.92.)"""
    r = subprocess.run(
        [sys.executable, "-c", MEASURE, TESTS, json.dumps(spec), str(H), str(W), upto],
        env=dict(os.environ, PYTHONPATH=REPO),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    ratio = got["estimate"] / got["peak"]
    print(
        f"{spec['name']} {W}x{H}: estimate {got['estimate'] / MiB:.0f} MiB, peak {got['peak'] / MiB:.0f} MiB"
    )
    assert 0.9 <= ratio <= 2.0, f"estimate / measured peak = {ratio:.2f}"


# ---- free memory ------------------------------------------------------------------------------------------
AVAILABLE_UNDER_LIMIT = r"""
import resource
from scratchdream.nets import memory
used = memory._proc_kib("/proc/self/status", "VmSize")
resource.setrlimit(resource.RLIMIT_AS, (used + (512 << 20), resource.RLIM_INFINITY))
print(memory.available())
"""


def test_available_is_the_address_space_limit_when_lower():
    r = subprocess.run(
        [sys.executable, "-c", AVAILABLE_UNDER_LIMIT],
        env=dict(os.environ, PYTHONPATH=REPO),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert 400 * MiB < int(r.stdout) <= 512 * MiB  # the limit less what the process has mapped since


def test_available_is_mem_available_without_a_limit():
    with open("/proc/meminfo") as f:
        mem_available = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    assert abs(memory.available() - mem_available) < 256 * MiB  # other processes come and go meanwhile


# ---- refusal ----------------------------------------------------------------------------------------------
def test_forward_refuses_before_any_layer_runs(monkeypatch):
    net = tiny_inception_net()
    ran = []
    for name, kind in list(graph.KINDS.items()):
        spy = Kind(
            lambda k, xs, p, layer, kind=kind: ran.append(1) or kind.forward(k, xs, p, layer),
            kind.backward,
            kind.shape,
            kind.params,
        )
        monkeypatch.setitem(graph.KINDS, name, spy)
    free = net.memory_estimate(30, 40, "conv3") + 1
    monkeypatch.setattr(memory, "available", lambda: free)
    x = np.random.default_rng(0).standard_normal((1, 3, 300, 400)).astype(np.float32)
    with pytest.raises(UserError) as err:
        net.forward(x, upto="conv3")
    msg = str(err.value)
    assert not ran, "a layer ran before the refusal"
    found = re.fullmatch(
        r"a 400x300 picture through tiny_inception needs about (\d+) MiB for the forward and backward pass, "
        r"(\d+) MiB are free; the largest size that fits is (\d+)x(\d+): use a smaller picture or smaller "
        r"tiles \(tile\)",  # the library names sd.dream's parameter; the CLI says --tile (below)
        msg,
    )
    assert found, msg
    w, h = int(found[3]), int(found[4])
    assert 40 <= w < 400 and abs(h / w - 0.75) < 0.05  # the same aspect, at least the size we know fits
    assert net.memory_estimate(h, w, "conv3") <= free < net.memory_estimate(h + 3, w + 4, "conv3")
    net.forward(x[:, :, :h, :w], upto="conv3")  # and it does fit
    assert ran


def test_nothing_fits_says_so(monkeypatch):
    monkeypatch.setattr(memory, "available", lambda: memory.WORKSPACE // 2)
    with pytest.raises(
        UserError, match=r"needs about \d+ MiB .*, 32 MiB are free; no size fits: free some memory"
    ):
        tiny_inception_net().forward(np.zeros((2, 3, 20, 20), np.float32))


def test_batches_are_counted(monkeypatch):
    net = tiny_inception_net()
    monkeypatch.setattr(memory, "available", lambda: net.memory_estimate(20, 20, batch=2))
    net.forward(np.zeros((2, 3, 20, 20), np.float32))
    with pytest.raises(UserError, match=r"a batch of 3 20x20 pictures through tiny_inception needs about"):
        net.forward(np.zeros((3, 3, 20, 20), np.float32))


# ---- a crafted file that asked for gigabytes -------------------------------------------------------------
LIMITED = r"""
import resource, runpy, sys
import numpy, numba  # what the address space of a scratchdream process holds before it works
with open("/proc/self/status") as f:
    used = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
limit = used + (3 << 30)  # room for the run itself; far less than the 58.6 GiB the file asks for
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.argv = ["scratchdream"] + sys.argv[1:]
try:
    runpy.run_module("scratchdream", run_name="__main__")
finally:
    # VmHWM, not ru_maxrss: Linux carries the parent's peak (pytest's, over a gigabyte late in a full run)
    # across fork and exec into the child's ru_maxrss, while VmHWM belongs to this process's memory alone
    with open("/proc/self/status") as f:
        print("peak RSS", next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:")))
"""


def wide_conv_file(folder, out=60_000):
    """The two-conv test net with conv2 made a 1x1 conv of `out` channels (2 MB of weights for 60,000): a
    small file whose activations need gigabytes. (Declaring datasets that are never written would keep it
    smaller still, but the HDF5 reader refuses those before this check: tests/test_readers_limits.py.)"""
    spec = copy.deepcopy(TINY_INCEPTION)
    spec.update(name="two_conv", aliases={}, dream_layers=["conv2"])
    spec["layers"] = [
        _conv("conv1", ["data"], 8, 3, pad=1, relu=True),
        _conv("conv2", ["conv1"], 8, 3, pad=1),
    ]
    good, path = os.path.join(folder, "good.h5"), os.path.join(folder, "wide.h5")
    sd.save_net(net_from_spec(spec), good)
    shutil.copy(good, path)
    with h5py.File(path, "a") as f:
        arch = json.loads(f.attrs["architecture"])
        arch["layers"][1]["hp"].update(out=out, kernel=[1, 1], pad=[0, 0, 0, 0])
        f.attrs["architecture"] = json.dumps(arch)
        del f["params/conv2/weight"], f["params/conv2/bias"]
        f.create_dataset("params/conv2/weight", data=np.full((out, 8, 1, 1), 0.01, np.float32))
        f.create_dataset("params/conv2/bias", data=np.zeros(out, np.float32))
    return path


def test_a_crafted_file_asking_for_gigabytes_is_refused_in_one_line(tmp_path):
    folder = str(tmp_path)
    path = wide_conv_file(folder)
    assert os.path.getsize(path) < 3_000_000
    pic = os.path.join(folder, "pic.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(pic)
    out = os.path.join(folder, "out.png")
    argv = ["dream", pic, "--net", path, "--octaves", "1", "--steps", "1", "-o", out]
    p = subprocess.Popen(
        [sys.executable, "-c", LIMITED, *argv], cwd=folder, env=dict(os.environ, PYTHONPATH=REPO),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    stdout, stderr = p.communicate(timeout=600)
    peak = int(stdout.split("peak RSS ")[-1])
    shown = [line.rsplit("\r", 1)[-1] for line in stderr.splitlines()]
    shown = [line for line in shown if line.strip() and "%|" not in line]
    assert p.returncode == 1 and "Traceback" not in stderr and len(shown) == 1, stderr
    assert re.fullmatch(
        r"scratchdream: error: a 512x512 picture through two_conv needs about [\d.]+ GiB for the forward and "
        r"backward pass, [\d.]+ GiB are free; the largest size that fits is (\d+)x\1: use a smaller picture "
        r"or smaller tiles \(--tile\)",
        shown[0],
    ), shown[0]
    assert not os.path.exists(out)
    assert peak < 1 << 30, f"peak RSS {peak / 2**30:.2f} GiB"


def test_the_functions_the_docstrings_cite_exist():
    """memory.py explains its counts by graph.py's code: every `graph.NAME` it cites is there."""
    import re

    from scratchdream.nets import graph, memory

    with open(memory.__file__) as f:
        cited = set(re.findall(r"\bgraph\.(?!py\b)([A-Za-z_]\w*)", f.read()))
    assert cited and not {name for name in cited if not hasattr(graph, name)}, cited

"""Every bad input gets a one-line answer; nothing is lost or half-written (issue 7).

Each case runs the real command line, `python -m scratchdream ...`, in a subprocess, in a fresh folder
holding its inputs, and checks what a user would see:
    exit code        2 for a wrong command line, 1 for everything else, 130 for Ctrl-C
    stderr           exactly one line a terminal would show (tqdm bars aside), starting
                     "scratchdream: error: " (or "scratchdream: interrupted"), with a stable phrase from the
                     message; never "Traceback"
    the folder       byte for byte as before: the input unchanged, no output, no temporary file left behind
The net is a tiny random-weight network saved once per session in the real HDF5 format (no download);
the download cases talk to a local HTTP proxy started here. Pictures that are odd but fine (grey,
palette, RGBA, 16-bit, CMYK, EXIF-rotated, smaller than the receptive field, 8000 x 6000) must dream.

Unwritable folders: tests may run as root, and root ignores permission bits, so a chmod 555 folder is
writable to it. As root the "unwritable folder" is /sys/kernel (sysfs refuses new files even to root,
EACCES) and /proc (ENOENT on create); as another user a chmod 555 folder in the test's tmp_path.
"""

import argparse
import contextlib
import hashlib
import http.server
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from typing import NamedTuple

import bad_files as bf
import numpy as np
import pytest
from nets_for_tests import tiny_inception_net
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ERROR = "scratchdream: error: "
FAST = ["--octaves", "1", "--steps", "1"]  # enough to prove a picture dreams
TIMEOUT = 300
LARGE_COPIES = 10  # see test_large_picture_dreams_tiled_in_bounded_memory
TQDM_BAR = re.compile(r"\d+%\||\[\d+:\d\d[<,\]]")  # tqdm: "40%|####  |" or "[00:01<00:02"


# ---- running the CLI ------------------------------------------------------------------------------------
class Result:
    def __init__(self, code, stdout, stderr, peak_rss):
        self.code, self.stdout, self.stderr, self.peak_rss = code, stdout, stderr, peak_rss

    def shown(self):
        """stderr as a terminal shows it: per line the text after the last carriage return, tqdm bars and
        blank lines dropped."""
        lines = (line.rsplit("\r", 1)[-1].strip() for line in self.stderr.split("\n"))
        return [line for line in lines if line and not TQDM_BAR.search(line)]

    def __repr__(self):
        return f"exit {self.code}\n--- stdout\n{self.stdout[-2000:]}\n--- stderr\n{self.stderr[-3000:]}"


def _env(extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([REPO] + [p for p in [env.get("PYTHONPATH")] if p])
    for key in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "no_proxy",
        "NO_PROXY",
        "all_proxy",
    ):
        env.pop(key, None)
    env.update(extra or {})
    return env


def start(argv, cwd, env=None, preexec_fn=None, stderr=subprocess.PIPE):
    return subprocess.Popen(
        [sys.executable, "-m", "scratchdream"] + [str(a) for a in argv],
        cwd=cwd,
        env=_env(env),
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        preexec_fn=preexec_fn,
    )


def run(argv, cwd, env=None, preexec_fn=None, timeout=TIMEOUT):
    """Run the CLI to the end; peak RSS of this child alone from wait4 (RUSAGE_CHILDREN would be the max
    over every child so far)."""
    p = start(argv, cwd, env, preexec_fn)
    out, err = [], []
    readers = [
        threading.Thread(target=lambda s=s, acc=acc: acc.append(s.read()), daemon=True)
        for s, acc in ((p.stdout, out), (p.stderr, err))
    ]
    for t in readers:
        t.start()
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            p.kill()
            p.wait()
            pytest.fail(f"scratchdream {' '.join(map(str, argv))} took more than {timeout} s")
        time.sleep(0.02)
    for t in readers:
        t.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    return Result(p.returncode, "".join(out), "".join(err), usage.ru_maxrss * 1024)


def snapshot(*folders):
    """{path: sha256} of every file under the folders: equal before and after = input untouched, none new."""
    out = {}
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                path = os.path.join(root, name)
                try:
                    with open(path, "rb") as f:
                        out[path] = hashlib.sha256(f.read()).hexdigest()
                except OSError:
                    out[path] = "unreadable"
    return out


def tree(folder):
    """Every entry under `folder`, hidden ones included, links not followed: path -> what it is and holds
    (with a file's inode: a file replaced by an identical copy has still been replaced)."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                what = ("symlink", os.readlink(path))
            elif os.path.isdir(path):
                what = ("folder",)
            else:
                with open(path, "rb") as f:
                    what = ("file", hashlib.sha256(f.read()).hexdigest(), os.stat(path).st_ino)
            found[os.path.relpath(path, folder)] = what
    return found


def listing(folder):
    return sorted(os.listdir(folder))


def ours(folder, *words):
    """Names in `folder` that scratchdream may have made (/proc's own listing changes all the time)."""
    return [n for n in os.listdir(folder) if any(w in n for w in words + (".part", "scratchdream"))]


def assert_one_line_error(r, code, phrase):
    shown = r.shown()
    assert r.code == code, r
    assert "Traceback" not in r.stderr, r
    assert len(shown) == 1, r
    assert shown[0].startswith(ERROR), r
    assert re.search(phrase, shown[0][len(ERROR) :]), f"{phrase!r} not in the message\n{r}"


# ---- shared fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def net_file(tmp_path_factory):
    """The tiny Inception-style net (tests/nets_for_tests.py) as a real weights file; cases only read it."""
    import scratchdream as sd

    path = str(tmp_path_factory.mktemp("net") / "tiny.h5")
    sd.save_net(tiny_inception_net(seed=3), path)
    return path


@pytest.fixture(scope="session")
def warm(net_file, tmp_path_factory):
    """One small dream, tiled, so numba compiles (or loads from its cache) every kernel once per session and
    the cases after it pay only the start-up."""
    folder = str(tmp_path_factory.mktemp("warm"))
    pic = bf.make_rgb_png(folder, H=64, W=72)
    r = run(
        ["dream", pic, "--net", net_file, "--tile", "40", "-o", os.path.join(folder, "out.png")] + FAST,
        folder,
    )
    assert r.code == 0, r
    return net_file


@pytest.fixture
def ws(tmp_path, warm):
    return Workspace(str(tmp_path), warm)


class Workspace:
    """A case's folder: `d` holds its inputs (and would hold any output), `net` is the shared net file."""

    def __init__(self, d, net):
        self.d, self.net = d, net
        self.pic = bf.make_rgb_png(d)

    def p(self, name):
        return os.path.join(self.d, name)

    def dream(self, *extra, image=None, net=None):
        return ["dream", image or self.pic, "--net", net or self.net, *FAST, *extra]


def unwritable_folders(tmp):
    """Folders this process cannot create files in (see the module docstring for root)."""
    if os.geteuid() != 0:
        ro = os.path.join(tmp, "readonly")
        os.mkdir(ro, 0o555)
        return [ro]
    return ["/sys/kernel", "/proc"]


# ---- the table --------------------------------------------------------------------------------------------
# id -> (setup(ws) -> argv, exit code, phrase the message must contain (a regex))
CASES = {
    # pictures
    "image missing": (lambda w: w.dream(image=w.p("nope.jpg")), 1, r"nope\.jpg not found; check the path"),
    "image is a folder": (
        lambda w: (os.mkdir(w.p("photos")), w.dream(image=w.p("photos")))[1],
        1,
        r"is a folder, not an image",
    ),
    "image empty": (lambda w: w.dream(image=bf.make_empty(w.d)), 1, r"empty\.jpg is empty \(0 bytes\)"),
    "text named .jpg": (
        lambda w: w.dream(image=bf.make_text_named_jpg(w.d)),
        1,
        r"notes\.jpg is not an image Pillow can read",
    ),
    "truncated JPEG": (
        lambda w: w.dream(image=bf.make_truncated_jpeg(w.d)),
        1,
        r"cut\.jpg cannot be decoded .*truncated or damaged",
    ),
    "truncated PNG": (
        lambda w: w.dream(image=bf.make_truncated_png(w.d)),
        1,
        r"cut\.png cannot be decoded .*truncated or damaged",
    ),
    "1x1 image": (
        lambda w: w.dream(image=bf.make_tiny_png(w.d)),
        1,
        r"the picture is 1x1 px but .* needs at least 3 px",
    ),
    "too small for the layer": (
        lambda w: w.dream("--layer", "conv3", image=bf.make_tiny_png(w.d, side=5)),
        1,
        r"the picture is 5x5 px but .* needs at least 6 px .* conv3",
    ),
    "decompression bomb": (
        lambda w: w.dream(image=bf.make_bomb_png(w.d)),
        1,
        r"bomb\.png is larger than Pillow's decompression-bomb limit",
    ),
    "output is the input": (lambda w: w.dream("-o", w.pic), 2, r"is the input itself"),
    "output is the input, spelt otherwise": (
        lambda w: (os.mkdir(w.p("sub")), w.dream("-o", w.p("sub/../pic.png")))[1],
        2,
        r"is the input itself",
    ),
    "output exists, no --force": (
        lambda w: (bf.make_rgb_png(w.d, "old.png", seed=5), w.dream("-o", w.p("old.png")))[1],
        2,
        r"old\.png already exists; pass --force",
    ),
    "unknown output extension": (
        lambda w: w.dream("-o", w.p("out.bmp")),
        2,
        r"unknown image extension '\.bmp'; use \.png",
    ),
    "output without extension": (
        lambda w: w.dream("-o", w.p("out")),
        2,
        r"unknown image extension '\(none\)'",
    ),
    "output folder missing": (
        lambda w: w.dream("-o", w.p("no/such/out.png")),
        1,
        r"the folder .* does not exist",
    ),
    "output folder is a file": (
        lambda w: w.dream("-o", w.p("pic.png/out.png")),
        1,
        r"is a file, not a folder",
    ),
    "--gif is not .gif": (lambda w: w.dream("--gif", w.p("anim.png")), 2, r"--gif must end in \.gif"),
    # options
    "unknown net name": (
        lambda w: w.dream(net="nosuchnet"),
        2,
        r"unknown network 'nosuchnet'; known: googlenet, .*toyworld",
    ),
    "unknown layer": (
        lambda w: w.dream("--layer", "inc/outptu"),
        2,
        r"no layer 'inc/outptu'; close matches: inc/output",
    ),
    "layer weight zero": (
        lambda w: w.dream("--layer", "conv3:0"),
        2,
        r"--layer conv3: the weight must be a number of size 1e-06 to 1000000",
    ),
    "channel out of range": (
        lambda w: w.dream("--layer", "conv3", "--channel", "6"),
        2,
        r"--channel 6 is out of range: conv3 has 6 channels, valid 0\.\.5",
    ),
    "channel negative": (lambda w: w.dream("--layer", "conv3", "--channel", "-1"), 2, r"valid 0\.\.5"),
    "neuron out of range": (
        lambda w: w.dream("--layer", "conv3", "--neuron", "0,99,0"),
        2,
        r"--neuron 0,99,0 is out of range: .* Y in 0\.\.\d+",
    ),
    "neuron not three numbers": (
        lambda w: w.dream("--neuron", "1,2"),
        2,
        r"--neuron must be three whole numbers",
    ),
    "channel and neuron both": (
        lambda w: w.dream("--layer", "conv3", "--channel", "1", "--neuron", "0,1,1"),
        2,
        r"only one of --channel, --neuron",
    ),
    "steps zero": (
        lambda w: w.dream("--steps", "0"),
        2,
        r"--steps must be a whole number from 1 to 1000000 .*got 0",
    ),
    "steps negative": (
        lambda w: w.dream("--steps", "-3"),
        2,
        r"--steps must be a whole number from 1 .*got -3",
    ),
    "steps not a number": (
        lambda w: w.dream("--steps", "ten"),
        2,
        r"argument --steps: invalid int value: 'ten'",
    ),
    "octaves zero": (
        lambda w: w.dream("--octaves", "0"),
        2,
        r"--octaves must be a whole number from 1 to 100",
    ),
    "octave scale 1": (
        lambda w: w.dream("--octave-scale", "1"),
        2,
        r"--octave-scale must be a number above 1",
    ),
    "octave scale 0.5": (
        lambda w: w.dream("--octave-scale", "0.5"),
        2,
        r"--octave-scale must be a number above 1 and at most 10",
    ),
    "octave scale nan": (
        lambda w: w.dream("--octave-scale", "nan"),
        2,
        r"--octave-scale must be a number above 1 and at most 10",
    ),
    "tile under the receptive field": (
        lambda w: w.dream("--tile", "4"),
        2,
        r"--tile 4 is smaller than the receptive field",
    ),
    "tile negative": (lambda w: w.dream("--tile", "-8"), 2, r"--tile must be .* \(pixels, 0 = never tile\)"),
    "step size nan": (
        lambda w: w.dream("--step-size", "nan"),
        2,
        r"--step-size must be a number above 0 and at most 255",
    ),
    "step size inf": (
        lambda w: w.dream("--step-size", "inf"),
        2,
        r"--step-size must be a number above 0 and at most 255",
    ),
    "step size -inf": (
        lambda w: w.dream("--step-size=-inf"),
        2,
        r"--step-size must be a number above 0 and at most 255",
    ),
    "step size zero": (
        lambda w: w.dream("--step-size", "0"),
        2,
        r"--step-size must be a number above 0 and at most 255",
    ),
    "step size above 255 grey levels": (
        lambda w: w.dream("--step-size", "1e300"),
        2,
        r"--step-size must be .* at most 255 \(grey levels per step\), got 1e\+300",
    ),
    "seed negative": (
        lambda w: w.dream("--seed", "-1"),
        2,
        r"--seed must be a whole number >= 0 \(random seed\), got -1",
    ),
    "smooth enormous": (
        lambda w: w.dream("--smooth", "1e9"),
        2,
        r"--smooth must be a number from 0 to 64 \(Gaussian sigma in pixels, 0 = off\)",
    ),
    "jitter negative": (
        lambda w: w.dream("--jitter", "-1"),
        2,
        r"--jitter must be a whole number from 0 to 4096",
    ),
    "smooth nan": (
        lambda w: w.dream("--smooth", "nan"),
        2,
        r"--smooth must be a number from 0 to 64 \(Gaussian sigma in pixels, 0 = off\)",
    ),
    "unknown option": (lambda w: w.dream("--colour"), 2, r"unrecognized arguments: --colour"),
    "unknown normalisation": (
        lambda w: w.dream("--normalize", "max"),
        2,
        r"argument --normalize: invalid choice: 'max'",
    ),
    "no command": (lambda w: [], 2, r"give a command"),
    "unknown command": (lambda w: ["paint", w.pic], 2, r"invalid choice: 'paint'"),
    "lecture: two layers": (
        lambda w: ["lecture", w.pic, "--net", w.net, "--layer", "conv3", "--layer", "conv2"],
        2,
        r"lecture follows one neuron of one layer",
    ),
    "lecture: neuron out of range": (
        lambda w: ["lecture", w.pic, "--net", w.net, "--layer", "conv3", "--neuron", "7,0,0"],
        2,
        r"--neuron 7,0,0 is out of range: .* C in 0\.\.5",
    ),
    "lecture: steps zero": (
        lambda w: ["lecture", w.pic, "--net", w.net, "--steps", "0"],
        2,
        r"--steps must be a whole number from 1",
    ),
    "zoom: zero frames": (
        lambda w: ["zoom", w.pic, "--net", w.net, "--frames", "0"],
        2,
        r"--frames must be a whole number from 1",
    ),
    "zoom: factor nan": (
        lambda w: ["zoom", w.pic, "--net", w.net, "--zoom", "nan"],
        2,
        r"--zoom must be a number above 1 and below 2",
    ),
    "layers: unknown net": (lambda w: ["layers", "nosuchnet"], 2, r"unknown network 'nosuchnet'"),
    "layers: bad size": (
        lambda w: ["layers", w.net, "--size", "big"],
        2,
        r"argument --size: 'big': give the image size",
    ),
    # issue 15: every number has a range, checked in one place (DreamOptions / the argparse types)
    "octaves 3000": (
        lambda w: w.dream("--octaves", "3000"),
        2,
        r"--octaves must be .* 1 to 100 \(scales\), got 3000",
    ),
    "octaves 10^11": (
        lambda w: w.dream("--octaves", "10^11"),
        2,
        r"argument --octaves: invalid int value: '10\^11'",
    ),
    "octaves 10**11": (
        lambda w: w.dream("--octaves", str(10**11)),
        2,
        r"--octaves must be .*got 100000000000",
    ),
    "octave scale 1e308": (
        lambda w: w.dream("--octave-scale", "1e308"),
        2,
        r"--octave-scale .* at most 10 .*1e\+308",
    ),
    "jitter 10^20": (lambda w: w.dream("--jitter", "10^20"), 2, r"argument --jitter: invalid int value"),
    "jitter 10**20": (
        lambda w: w.dream("--jitter", str(10**20)),
        2,
        r"--jitter must be a whole number from 0 to 4096",
    ),
    "tile 10**11": (
        lambda w: w.dream("--tile", str(10**11)),
        2,
        r"--tile must be a whole number from 0 to 65536",
    ),
    "tile margin huge": (
        lambda w: w.dream("--tile-margin", "99999999"),
        2,
        r"--tile-margin must be .* 0 to 65536",
    ),
    "channel 10**30": (
        lambda w: w.dream("--layer", "conv3", "--channel", str(10**30)),
        2,
        r"--channel 1000000000000000000000000000000 is out of range",
    ),
    "step size 1e-400 (zero)": (
        lambda w: w.dream("--step-size", "1e-400"),
        2,
        r"--step-size must be a number above 0",
    ),
    "layer weights cancel": (
        lambda w: w.dream("--layer", "conv3:1", "--layer", "conv3:-1"),
        2,
        r"--layer conv3: its weights add up to 0\.0; .* may not cancel out",
    ),
    "layer weights overflow": (
        lambda w: w.dream("--layer", "conv3:1e308", "--layer", "conv3:1e308"),
        2,
        r"--layer conv3: the weight must be a number of size 1e-06 to 1000000 .*got 1e\+308",
    ),
    "lecture: layer conv3:abc": (
        lambda w: ["lecture", w.pic, "--net", w.net, "--layer", "conv3:abc"],
        2,
        r"has no layer 'conv3:abc'; close matches: conv3",
    ),
    "lecture: layer with a weight": (
        lambda w: ["lecture", w.pic, "--net", w.net, "--layer", "conv3:2"],
        2,
        r"give --layer conv3 without a weight",
    ),
    "lecture: step size 1e300": (
        lambda w: ["lecture", w.pic, "--net", w.net, "--step-size", "1e300"],
        2,
        r"--step-size must be a number above 0 and at most 3\.40282e\+38 \(the lecture's step",
    ),
    "lecture: step size negative": (
        lambda w: ["lecture", w.pic, "--net", w.net, "--step-size", "-2"],
        2,
        r"--step-size must be a number above 0",
    ),
    "lecture: seed negative": (
        lambda w: ["lecture", w.pic, "--net", w.net, "--seed", "-1"],
        2,
        r"--seed must be",
    ),
    "lecture: weights overflow (the shared NaN guard)": (
        lambda w: [
            "lecture",
            w.pic,
            "--net",
            bf.make_huge_h5(w.d, w.net),
            "--layer",
            "conv3",
            "--steps",
            "2",
        ],
        1,
        r"became NaN or infinite, so nothing was written",
    ),
    "zoom: octaves 3000": (
        lambda w: ["zoom", w.pic, "--net", w.net, "--octaves", "3000"],
        2,
        r"--octaves must be",
    ),
    "zoom: factor 1e308": (
        lambda w: ["zoom", w.pic, "--net", w.net, "--zoom", "1e308"],
        2,
        r"--zoom must be",
    ),
    "zoom: frames 10**7": (
        lambda w: ["zoom", w.pic, "--net", w.net, "--frames", str(10**7)],
        2,
        r"--frames must be a whole number from 1 to 1000000",
    ),
    "layers: size 10**6": (
        lambda w: ["layers", w.net, "--size", "1000000"],
        2,
        r"each from 1 to 65536 pixels",
    ),
    "bench: threads -4": (
        lambda w: ["bench", "--threads", "-4"],
        2,
        r"argument --threads: must be a whole number",
    ),
    "bench: threads 99999": (
        lambda w: ["bench", "--threads", "99999"],
        2,
        r"argument --threads: must be .* from 0 to",
    ),
    "bench: repeat 0": (
        lambda w: ["bench", "--repeat", "0"],
        2,
        r"argument --repeat: must be a whole number from 1",
    ),
    "bench: sizes 0": (
        lambda w: ["bench", "--sizes", "224,0"],
        2,
        r"argument --sizes: must be .* from 32 to 2048",
    ),
    "bench: sizes nan": (
        lambda w: ["bench", "--sizes", "nan"],
        2,
        r"argument --sizes: must be a whole number",
    ),
    "bench: layer size -1": (
        lambda w: ["bench", "--layer-size", "-1"],
        2,
        r"argument --layer-size: must be 0",
    ),
    "toyworld: no control and control only": (
        lambda w: ["toyworld", "train", "--no-control", "--control-only"],
        2,
        r"argument --control-only: not allowed with argument --no-control",
    ),
    "toyworld: steps 0": (
        lambda w: ["toyworld", "train", "--steps", "0"],
        2,
        r"argument --steps: must be .* from 1",
    ),
    "toyworld: steps 10**9": (
        lambda w: ["toyworld", "train", "--steps", str(10**9)],
        2,
        r"to 1000000 \(minibatches\)",
    ),
    "toyworld: seed -1": (
        lambda w: ["toyworld", "demo", "--seed", "-1"],
        2,
        r"argument --seed: must be .* >= 0",
    ),
    "toyworld: jobs 3": (
        lambda w: ["toyworld", "train", "--jobs", "3"],
        2,
        r"argument --jobs: must be .* from 1 to 2",
    ),
    # weights
    "weights folder is a file": (
        lambda w: ["fetch", "googlenet", "--weights-dir", w.p("pic.png/weights")],
        1,
        r"cannot create the weights folder .*pic\.png/weights \(Not a directory\)",
    ),
    "weights missing": (
        lambda w: w.dream(net=w.p("gone.h5")),
        1,
        r"weights file .*gone\.h5 not found; run `scratchdream fetch",
    ),
    "weights truncated": (
        lambda w: w.dream(net=bf.make_truncated_h5(w.d, w.net)),
        1,
        r"truncated\.h5 is not a readable HDF5 file",
    ),
    "weights not HDF5": (
        lambda w: w.dream(net=bf.make_not_hdf5_named_h5(w.d)),
        1,
        r"weights\.h5 is not a readable HDF5 file",
    ),
    "weights from another program": (
        lambda w: w.dream(net=bf.make_foreign_h5(w.d)),
        1,
        r"not a scratchdream weights file; convert it with `scratchdream convert`",
    ),
    "weights format version 99": (
        lambda w: w.dream(net=bf.make_wrong_version_h5(w.d, w.net)),
        1,
        r"has weights format version 99, this scratchdream reads version 1",
    ),
    "weights of the wrong shape": (
        lambda w: w.dream(net=bf.make_wrong_shape_h5(w.d, w.net)),
        1,
        r"conv1: the file has weight \(9, 3, 3, 3\), this net needs \(8, 3, 3, 3\)",
    ),
    "NaN weights": (
        lambda w: w.dream(net=bf.make_nan_h5(w.d, w.net)),
        1,
        r"nan_weights\.h5: params/conv1/weight holds NaN or infinite numbers",
    ),
    "weights overflow mid-dream (NaN guard)": (
        lambda w: w.dream(net=bf.make_huge_h5(w.d, w.net)),
        1,
        r"became NaN or infinite, so nothing was written",
    ),
    "pickle that runs code (legacy .pth)": (
        lambda w: ["convert", bf.make_evil_pth(w.d, w.p("pwned")), "--net", "vgg16", "-o", w.p("out.h5")],
        1,
        r"refusing to load .*evil\.pth: it asks to run",
    ),
    "pickle that runs code (zip .pth)": (
        lambda w: ["convert", bf.make_evil_zip_pth(w.d, w.p("pwned")), "-o", w.p("out.h5")],
        1,
        r"refusing to load .*evil_zip\.pth.*: it asks to run",
    ),
    "convert: not a checkpoint": (
        lambda w: ["convert", bf.make_text_named_jpg(w.d, "model.pth"), "-o", w.p("out.h5")],
        1,
        r"model\.pth is not a ",
    ),
    # issue 15: the input and earlier outputs are never destroyed. On main each of these replaced the input
    # (or an old output, or made folders), where now it is refused before any work; the class, every output
    # of every subcommand against every spelling of its input, is test_no_output_is_an_input_or_an_old_file
    "dream: the default --gif name is the input": (
        lambda w: w.dream("-o", w.p("anim.png"), "--gif", "--force", image=bf.make_rgb_png(w.d, "anim.gif")),
        2,
        r"--gif .*anim\.gif is the input itself; --force overwrites an earlier output, never the input",
    ),
    "dream: --gif is the input": (
        lambda w: w.dream("--gif", w.p("pic.gif"), "--force", image=bf.make_rgb_png(w.d, "pic.gif")),
        2,
        r"--gif .*pic\.gif is the input itself",
    ),
    "dream: --gif is the input through a symlink": (
        lambda w: _gif_onto_the_input(w, "symlink"),
        2,
        r"--gif .*link\.gif is the input itself \(.*pic\.gif\)",
    ),
    "dream: --gif is the input through a hard link": (
        lambda w: _gif_onto_the_input(w, "hard link"),
        2,
        r"--gif .*hard\.gif is the input itself",
    ),
    "dream: --gif is the input as x/../pic.gif": (
        lambda w: _gif_onto_the_input(w, "x/.."),
        2,
        r"--gif .*x/\.\./pic\.gif is the input itself",
    ),
    "dream: --gif is the input through a symlinked folder": (
        lambda w: _gif_onto_the_input(w, "symlinked folder"),
        2,
        r"--gif .*here/pic\.gif is the input itself",
    ),
    "dream: -o is a dangling symlink, no --force": (
        lambda w: (os.symlink("nowhere.png", w.p("dangling.png")), w.dream("-o", w.p("dangling.png")))[1],
        2,
        r"dangling\.png already exists \(a symbolic link to nothing\); pass --force",
    ),
    "lecture: the default --gif name is the input": (
        lambda w: [
            "lecture",
            bf.make_rgb_png(w.d, "anim.gif"),
            "--net",
            w.net,
            "--steps",
            "1",
            "-o",
            w.p("anim.png"),
            "--force",
        ],
        2,
        r"--gif .*anim\.gif is the input itself",
    ),
    "zoom: a frame is the input": (
        lambda w: [
            "zoom",
            bf.make_rgb_png(w.d, "frame_0001.png"),
            "--net",
            w.net,
            *FAST,
            "--frames",
            "2",
            "--frames-dir",
            ".",
            "--force",
        ],
        2,
        r"--frames-dir \./frame_0001\.png is the input itself",
    ),
    "zoom: an old frame, no --force": (
        lambda w: (
            os.mkdir(w.p("z")),
            bf.make_rgb_png(w.d, "z/frame_0002.png"),
            ["zoom", w.pic, "--net", w.net, *FAST, "--frames", "3", "--frames-dir", w.p("z")],
        )[-1],
        2,
        r"z/frame_0002\.png already exists; pass --force \(with make: FORCE=1\) to overwrite it or choose "
        r"another --frames-dir",
    ),
    "zoom: --frames-dir in a folder that does not exist": (
        lambda w: ["zoom", w.pic, "--net", w.net, *FAST, "--frames", "2", "--frames-dir", w.p("no/such/z")],
        1,
        r"cannot write .*no/such/z: the folder .*no/such does not exist",
    ),
    "convert: -o is the checkpoint through a symlinked folder": (
        lambda w: (
            os.symlink(".", w.p("here")),
            ["convert", _squeezenet_pth(w), "-o", w.p("here/sq.pth"), "--force"],
        )[-1],
        2,
        r"-o/--output .*here/sq\.pth is the input itself",
    ),
    "convert: -o is a hard link to the checkpoint": (
        lambda w: (
            os.link(_squeezenet_pth(w), w.p("copy.h5")),
            ["convert", w.p("sq.pth"), "-o", w.p("copy.h5"), "--force"],
        )[-1],
        2,
        r"-o/--output .*copy\.h5 is the input itself",
    ),
    "toyworld train: -o exists, no --force": (
        lambda w: (
            _old_file(w, "old.h5"),
            ["toyworld", "train", "--steps", "1", "--no-control", "-o", w.p("old.h5")],
        )[-1],
        2,
        r"old\.h5 already exists; pass --force",
    ),
    "toyworld train: the control's file exists, no --force": (
        lambda w: (
            _old_file(w, "tw_control.h5"),
            ["toyworld", "train", "--steps", "1", "-o", w.p("tw.h5")],
        )[-1],
        2,
        r"tw_control\.h5 already exists; pass --force",
    ),
    "toyworld demo: -o holds an old picture, no --force": (
        lambda w: (
            os.mkdir(w.p("img")),
            bf.make_rgb_png(w.d, "img/lecture_demo.png"),
            ["toyworld", "demo", "-o", w.p("img")],
        )[-1],
        2,
        r"img/lecture_demo\.png already exists; pass --force",
    ),
}


def _gif_onto_the_input(w, how):
    """`dream pic.gif -o out.png --gif NAME --force`, NAME being pic.gif reached `how`: main compared --gif
    only with -o, so it replaced the input (or the link)."""
    pic = bf.make_rgb_png(w.d, "pic.gif")
    if how == "symlink":
        os.symlink("pic.gif", w.p("link.gif"))
        name = w.p("link.gif")
    elif how == "hard link":
        os.link(pic, w.p("hard.gif"))
        name = w.p("hard.gif")
    elif how == "x/..":
        os.mkdir(w.p("x"))
        name = w.p("x/../pic.gif")
    else:
        os.symlink(".", w.p("here"))
        name = w.p("here/pic.gif")
    return w.dream("-o", w.p("out.png"), "--gif", name, "--force", image=pic)


def _old_file(w, name):
    """An earlier output (its content does not matter: it must come out unchanged)."""
    with open(w.p(name), "wb") as f:
        f.write(b"an earlier run's " + name.encode())
    return w.p(name)


def _squeezenet_pth(w, name="sq.pth"):
    """A real checkpoint `convert` recognises (SqueezeNet 1.1, random weights, 5 MB): on main it was
    converted, and the .h5 written over it."""
    import torch
    import torch_nets as tn

    path = w.p(name)
    torch.save(tn.randomise(tn.SqueezeNet11(), seed=7).state_dict(), path)
    return path


# the exact phrase for an unwritable folder depends on who runs the test (see unwritable_folders)
UNWRITABLE = r"cannot write .*(not writable|permission denied|cannot create|No such file)"


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_changes_nothing(ws, case):
    setup, code, phrase = CASES[case]
    argv = setup(ws)
    before = snapshot(ws.d, os.path.dirname(ws.net))
    r = run(argv, ws.d)
    assert_one_line_error(r, code, phrase)
    assert snapshot(ws.d, os.path.dirname(ws.net)) == before, "a file was changed, added or left behind"
    assert not os.path.exists(ws.p("pwned")), "the checkpoint's pickle ran code"


def test_unwritable_output_folder(ws):
    for folder in unwritable_folders(ws.d):
        before = snapshot(ws.d)
        r = run(ws.dream("-o", os.path.join(folder, "out.png")), ws.d)
        assert_one_line_error(r, 1, UNWRITABLE)
        assert snapshot(ws.d) == before and ours(folder, "out.png") == []


def _file_size_limit(limit):
    def preexec():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def test_full_disk_leaves_no_partial_file(ws):
    """`ulimit -f 16` (16 KiB): the PNG of a 96 x 96 noise picture is ~27 KiB, so the write fails half-way
    (EFBIG; cli.main ignores SIGXFSZ so the process is not killed) and the temporary file is removed."""
    pic = bf.make_rgb_png(ws.d, "big_noise.png", H=96, W=96)
    assert os.path.getsize(pic) > 16 << 10
    before = snapshot(ws.d)
    r = run(ws.dream("-o", ws.p("out.png"), image=pic), ws.d, preexec_fn=_file_size_limit(16 << 10))
    assert_one_line_error(r, 1, r"cannot write .*out\.png: the disk is full or the file is too large")
    assert snapshot(ws.d) == before


SAVE_NET = """
import sys
from nets_for_tests import tiny_inception_net
import scratchdream as sd
from scratchdream.errors import UserError
import signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)           # as cli.main does
try:
    sd.save_net(tiny_inception_net(), sys.argv[1])
except UserError as e:
    print(f"scratchdream: error: {e}", file=sys.stderr)
    sys.exit(1)
"""


def test_full_disk_while_saving_weights(ws):
    """What `convert` and `fetch` do last, sd.save_net, under `ulimit -f 2` (2 KiB). HDF5 does not turn a
    failed write into a Python error (it printed RuntimeErrors and crashed the process with SIGSEGV,
    leaving the .part behind), so save_net checks the room first. Run as a script, not the CLI: no
    subcommand saves a tiny net."""
    before = snapshot(ws.d)
    p = subprocess.run(
        [sys.executable, "-c", SAVE_NET, ws.p("tiny_copy.h5")],
        cwd=ws.d,
        capture_output=True,
        text=True,
        env=_env({"PYTHONPATH": os.pathsep.join([REPO, os.path.join(REPO, "tests")])}),
        preexec_fn=_file_size_limit(2048),
        timeout=TIMEOUT,
    )
    r = Result(p.returncode, p.stdout, p.stderr, 0)
    assert_one_line_error(
        r, 1, r"cannot write .*tiny_copy\.h5: it needs about 1 MB and only 0 MB can be written there"
    )
    assert snapshot(ws.d) == before


INTERRUPTED = "scratchdream: interrupted; no output was written"
TERMINATED = "scratchdream: terminated; no output was written"
SIGNALLED = {  # id -> (command, signals sent 10 ms apart, exit code, the one line shown, over old outputs)
    "dream, Ctrl-C": ("dream", [signal.SIGINT], 130, INTERRUPTED, False),
    "zoom, Ctrl-C": ("zoom", [signal.SIGINT], 130, INTERRUPTED, False),
    # Ctrl-C held down: before, a later one landed in the cleanup or in the interpreter's exit (an atexit
    # traceback, or death by SIGINT, exit -2), in 3 of 5 tries with two signals
    "dream, Ctrl-C x20": ("dream", [signal.SIGINT] * 20, 130, INTERRUPTED, False),
    "zoom, Ctrl-C x20": ("zoom", [signal.SIGINT] * 20, 130, INTERRUPTED, False),
    # SIGTERM unwinds like Ctrl-C: before, the process died at once (exit -15) and zoom left its frames
    "dream, SIGTERM": ("dream", [signal.SIGTERM], 143, TERMINATED, False),
    "zoom, SIGTERM": ("zoom", [signal.SIGTERM], 143, TERMINATED, False),
    "zoom, SIGTERM then Ctrl-C": (
        "zoom",
        [signal.SIGTERM, signal.SIGINT, signal.SIGINT],
        143,
        TERMINATED,
        False,
    ),
    # issue 15: with --force over an earlier run's GIF and frames, main had already overwritten the first
    # frames when the signal came, deleted them in its cleanup, and said "no output was written"
    "zoom --force over old outputs, Ctrl-C": ("zoom", [signal.SIGINT], 130, INTERRUPTED, True),
    "zoom --force over old outputs, SIGTERM": ("zoom", [signal.SIGTERM], 143, TERMINATED, True),
    "dream --force over old outputs, SIGTERM": ("dream", [signal.SIGTERM], 143, TERMINATED, True),
}


def _long_run(w, command):
    """A dream or zoom that runs for hours, and a test that it is under way (its checks passed, its work
    begun): the dream's tqdm bar shows L=, the zoom's bar counts two frames done (each saved first; under a
    temporary name, which the test does not need to know)."""
    pic = bf.make_rgb_png(w.d, "long.png", H=120, W=160)
    if command == "dream":
        argv = [
            "dream",
            pic,
            "--net",
            w.net,
            "--octaves",
            "1",
            "--steps",
            "100000",
            "-o",
            w.p("long_dream.png"),
        ]
        return argv, lambda err: "L=" in err
    argv = [
        *["zoom", pic, "--net", w.net, "--octaves", "1", "--steps", "1", "--frames", "10000"],
        *["-o", w.p("long_zoom.gif")],
    ]
    return argv, lambda err: any(int(done) >= 2 for done in re.findall(r"\| *(\d+)/10000 ", err))


def _old_outputs(w, command):
    """An earlier run's outputs of `command`, where _long_run writes, with a file of the user's among them."""
    if command == "dream":
        bf.make_rgb_png(w.d, "long_dream.png", seed=8)
        return
    bf.make_rgb_png(w.d, "long_zoom.gif", seed=8)
    os.mkdir(w.p("long_zoom_frames"))
    for k in range(1, 6):
        bf.make_rgb_png(w.d, f"long_zoom_frames/frame_{k:04d}.png", seed=10 + k)
    _write_bytes(w.p("long_zoom_frames/notes.txt"), b"mine")


class Running:
    """The CLI started in a subprocess as a terminal would start it, its stderr read as it comes."""

    def __init__(self, argv, cwd):
        # SIGINT as a terminal gives it: a run started from a shell that ignores SIGINT (a `nohup ... &` job)
        # would inherit SIG_IGN, and Python then never raises KeyboardInterrupt
        self.p = start(argv, cwd, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.err = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while chunk := self.p.stderr.read(1):
            self.err.append(chunk)

    def wait_until(self, under_way, what):
        deadline = time.monotonic() + 120
        while not under_way("".join(self.err)):
            assert self.p.poll() is None, f"{what} ended too soon: {''.join(self.err)}"
            assert time.monotonic() < deadline, f"{what}: no progress within 120 s"
            time.sleep(0.05)

    def result(self, what, timeout=60):
        """Wait for the end; if it does not come, the stack of every thread (faulthandler) in the failure."""
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.send_signal(signal.SIGUSR1)  # the CLI's faulthandler prints every thread's stack to stderr
            time.sleep(3)
            self.p.kill()
            self.reader.join(timeout=10)
            pytest.fail(
                f"{what} did not stop within {timeout} s; its stderr ends:\n" + "".join(self.err)[-4000:]
            )
        self.reader.join()
        return Result(self.p.returncode, self.p.stdout.read(), "".join(self.err), 0)


@pytest.mark.parametrize("case", list(SIGNALLED))
def test_signals_leave_nothing(ws, case):
    """Start a long dream (or zoom), over an earlier run's outputs with --force or not, wait until it is
    under way, send the signals: the exit code, one line, and the folder exactly as it was (every name,
    link, content and inode)."""
    command, signals, code, line, old = SIGNALLED[case]
    argv, under_way = _long_run(ws, command)
    if old:
        _old_outputs(ws, command)
    before = tree(ws.d)
    job = Running(argv + (["--force"] if old else []), ws.d)
    job.wait_until(under_way, f"{case}: the {command}")
    for sig in signals:
        job.p.send_signal(sig)  # nothing once the process is gone
        time.sleep(0.01)
    r = job.result(f"{case}: the {command}")
    assert r.code == code, r
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr and r.shown() == [line], r
    assert tree(ws.d) == before


def test_two_identical_dreams_to_one_name_one_refuses(ws):
    """Two identical dreams to one -o, no --force, the second started while the first dreams: both pass
    their checks. The first is held (SIGSTOP) until the second has written out.png, then goes on: it
    refuses at the end, one line, exit 1, and out.png is the second's, whole. On main both succeeded and
    the second one to finish wrote over the first's file."""
    argv = ["dream", ws.pic, "--net", ws.net, "--octaves", "1", "--steps", "2000", "-o", ws.p("out.png")]
    first = Running(argv, ws.d)
    first.wait_until(lambda err: "L=" in err, "the first dream")
    first.p.send_signal(signal.SIGSTOP)
    try:
        second = run(argv, ws.d)
        assert second.code == 0, second
        with open(ws.p("out.png"), "rb") as f:
            theirs = f.read()
    finally:
        first.p.send_signal(signal.SIGCONT)
    r = first.result("the first dream", timeout=120)
    assert_one_line_error(r, 1, r"out\.png was created by someone else during this run; pass --force")
    assert listing(ws.d) == ["out.png", "pic.png"]
    with open(ws.p("out.png"), "rb") as f:
        assert f.read() == theirs
    with Image.open(ws.p("out.png")) as im:
        im.load()  # whole: it decodes to the end
        assert im.size == (40, 32)


def test_full_disk_on_the_gif_leaves_no_picture(ws):
    """`ulimit -f 64` (64 KiB): the dreamed 96 x 96 noise picture (~27 KiB) fits, its GIF of 9 frames
    (~120 KiB) does not. Main wrote out.png, then failed on the GIF and left out.png behind."""
    pic = bf.make_rgb_png(ws.d, "big_noise.png", H=96, W=96)
    before = tree(ws.d)
    argv = ws.dream("--steps", "8", "-o", ws.p("out.png"), "--gif", ws.p("out.gif"), image=pic)
    r = run(argv, ws.d, preexec_fn=_file_size_limit(64 << 10))
    assert_one_line_error(r, 1, r"cannot write .*out\.gif: the disk is full or the file is too large")
    assert ".part" not in r.stderr
    assert tree(ws.d) == before


# ---- every output of every subcommand: never an input, never an old file without --force ---------------
OUTPUT_DESTS = ("output", "gif", "frames_dir")  # the argparse dests of the options naming what is written


class Output(NamedTuple):
    """One output of one subcommand, for the class test below."""

    command: str  # the subcommand
    flag: str  # its option naming the output
    name: str  # the file written, and the name of the command's input when `reads`
    reads: bool  # the command reads a file of that kind (so an output could be spelt as its input)
    folder: bool  # the flag names the folder `name` is written in, not the file
    argv: object  # (net, input, the flag's value) -> the command line


OUTPUTS = [
    Output(
        "dream", "--output", "in.png", True, False, lambda n, i, v: ["dream", i, "--net", n, *FAST, "-o", v]
    ),
    Output(
        "dream",
        "--gif",
        "in.gif",
        True,
        False,
        lambda n, i, v: ["dream", i, "--net", n, *FAST, "-o", "new.png", "--gif", v],
    ),
    Output(
        "lecture",
        "--output",
        "in.png",
        True,
        False,
        lambda n, i, v: ["lecture", i, "--net", n, "--steps", "1", "-o", v],
    ),
    Output(
        "lecture",
        "--gif",
        "in.gif",
        True,
        False,
        lambda n, i, v: ["lecture", i, "--net", n, "--steps", "1", "-o", "new.png", "--gif", v],
    ),
    Output(
        "zoom",
        "--output",
        "in.gif",
        True,
        False,
        lambda n, i, v: [
            "zoom",
            i,
            "--net",
            n,
            *FAST,
            "--frames",
            "2",
            "-o",
            v,
            "--frames-dir",
            "new_frames",
        ],
    ),
    Output(
        "zoom",
        "--frames-dir",
        "frame_0001.png",
        True,
        True,
        lambda n, i, v: ["zoom", i, "--net", n, *FAST, "--frames", "2", "-o", "new.gif", "--frames-dir", v],
    ),
    Output("convert", "--output", "in.h5", True, False, lambda n, i, v: ["convert", i, "-o", v]),
    Output(
        "toyworld",
        "--output",
        "tw.h5",
        False,
        False,
        lambda n, i, v: ["toyworld", "train", "--steps", "1", "--no-control", "-o", v],
    ),
    Output(
        "toyworld", "--output", "lecture_demo.png", False, True, lambda n, i, v: ["toyworld", "demo", "-o", v]
    ),
    Output("replay", "--output", "in.png", True, False, lambda n, i, v: ["replay", i, "-o", v]),
    Output("survey", "--output", "in.png", True, False, lambda n, i, v: ["survey", i, "--net", n, "-o", v]),
]

# how an output can name the input NAME (the folder it is in, for a folder flag); each with --force
SPELLINGS = {
    "the same name": lambda d, name: name,
    "its absolute path": lambda d, name: os.path.join(d, name),
    "x/../NAME": lambda d, name: (os.mkdir(os.path.join(d, "x")), os.path.join("x", "..", name))[1],
    "a symlinked folder": lambda d, name: (os.symlink(".", os.path.join(d, "here")), f"here/{name}")[1],
    "a symlink": lambda d, name: _in_new_folder(d, "links", name, lambda new: os.symlink(f"../{name}", new)),
    "a hard link": lambda d, name: _in_new_folder(
        d, "hard", name, lambda new: os.link(os.path.join(d, name), new)
    ),
}
# what can stand at the output's name: (make it, --force, exit code, phrase)
OLD_NAMES = {
    "an earlier output": (
        lambda path: _write_bytes(path, b"earlier"),
        False,
        2,
        r"already exists; pass --force",
    ),
    "a dangling symlink": (
        lambda path: os.symlink("nowhere", path),
        False,
        2,
        r"already exists \(a symbolic link to nothing\); pass --force",
    ),
    "a folder": (os.mkdir, True, 2, r"is a folder; give a file name"),
    "a missing folder": (None, False, 1, r"does not exist"),
}


def _in_new_folder(d, folder, name, make):
    os.mkdir(os.path.join(d, folder))
    make(os.path.join(d, folder, name))
    return f"{folder}/{name}"


def _write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def output_flags():
    """{(subcommand, flag)} of every option naming a file or folder the command writes."""
    from scratchdream.cli import build_parser

    subs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {
        (name, action.option_strings[-1])
        for name, parser in subs.choices.items()
        for action in parser._actions
        if action.dest in OUTPUT_DESTS
    }


class WorkStarted(Exception):
    """Raised by the work that a refused command must never reach: loading a net, converting, training."""


def _no_work(monkeypatch):
    import scratchdream as sd
    from scratchdream.cli import convert, toyworld
    from scratchdream.toyworld import train

    def work(*args, **kwargs):
        raise WorkStarted("the work began before the outputs were checked")

    monkeypatch.setattr(sd, "load_net", work)
    monkeypatch.setattr(convert, "convert_file", work)
    monkeypatch.setattr(train, "train", work)
    monkeypatch.setattr(toyworld, "_load", work)


# outputs whose rules differ on purpose, each tested where it is made
OWN_RULES = {
    "video": "its outputs follow --resume's rules (the frames folder of a stopped run is continued): "
    "tests/test_video.py",
}
EXEMPT = {
    ("dream", "--output", "a folder"): "a folder given to -o is where the dreams of many pictures go "
    "(cli/batch.py, tests/test_dream_many.py)",
    ("toyworld", "--output", "a missing folder"): "toyworld demo creates its output folder (issue 17: "
    "-o DIR used to fail when DIR did not exist)",
}


def _output_cases(out):
    """(case, path the output names, --force, exit code, phrase) for one output, with its `make`rs."""
    cases = []
    if out.reads:
        for how, spell in SPELLINGS.items():
            cases.append((f"the input as {how}", spell, True, 2, r"is the input itself"))
    for what, (make, force, code, phrase) in OLD_NAMES.items():

        def at_old(d, name, make=make):
            if make is None:
                return f"no/such/{name}"
            os.mkdir(os.path.join(d, "old"))
            make(os.path.join(d, "old", name))
            return f"old/{name}"

        cases.append((what, at_old, force, code, phrase))
    return cases


def test_no_output_is_an_input_or_an_old_file(ws, tmp_path, capsys, monkeypatch):
    """The class, not the cases: every output flag of every subcommand (found in the parser), named as its
    input by every spelling (--force given), or as an earlier output, a dangling link, a folder, a missing
    folder (in-process, the same cli.main as the real command) is refused with one line and the right exit
    code before any work (the work raises here), and its folder is left exactly as it was: names, links,
    contents, inodes."""
    from scratchdream import cli

    flags = {(c, f) for c, f in output_flags() if c not in OWN_RULES}
    assert {(o.command, o.flag) for o in OUTPUTS} == flags, "an output flag the table lacks"
    _no_work(monkeypatch)
    failures, k = [], 0
    for out in OUTPUTS:
        for case, where, force, code, phrase in _output_cases(out):
            if (out.command, out.flag, case) in EXEMPT:
                continue
            k += 1
            d = str(tmp_path / f"case{k}")
            os.mkdir(d)
            monkeypatch.chdir(d)
            if out.reads and out.name.endswith(".h5"):
                _write_bytes(out.name, b"a checkpoint")
            elif out.reads:
                bf.make_rgb_png(d, out.name)
            path = where(d, out.name)
            value = (os.path.dirname(path) or ".") if out.folder else path
            argv = out.argv(ws.net, out.name if out.reads else None, value) + (["--force"] if force else [])
            before = tree(d)
            got = cli.main(argv)
            shown = Result(got, *capsys.readouterr(), 0).shown()
            said = shown[0][len(ERROR) :] if len(shown) == 1 and shown[0].startswith(ERROR) else None
            if got != code or said is None or not re.search(phrase, said) or tree(d) != before:
                changed = "" if tree(d) == before else ", the folder changed"
                failures.append(f"{out.command} {out.flag}, {case}: exit {got}, stderr {shown}{changed}")
    print(f"{k} cases over {len(OUTPUTS)} outputs")
    assert not failures, f"{len(failures)} of {k}:\n" + "\n".join(failures)


# ---- every numeric flag of every subcommand, at absurd values ------------------------------------------
ABSURD = ["1e308", "-1e308", str(10**30), str(-(10**30)), "0", "-7", "nan", "inf", "-inf", "abc", "10^11", ""]
LEGAL = {  # values of ABSURD that are fine for a flag: they must not be refused
    "--seed": {str(10**30), "0"},  # any whole number >= 0 is a seed
    "lecture --step-size": {str(10**30)},  # eta: any float32 number > 0 (what suits depends on the net)
    "--channel": {"0"},
    "--neuron": {"0"},  # 0,0,0
    "--jitter": {"0"},
    "--smooth": {"0"},
    "--tile": {"0"},
    "--tile-margin": {"0"},
    "--threads": {"0"},  # all cores
    "--layer-size": {"0"},  # no per-layer table
}


def numeric_flags():
    """[(subcommand, flag)] for every option whose argparse type reads a number, and --neuron (C,Y,X)."""
    from scratchdream.cli import build_parser

    subs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [
        (name, action.option_strings[-1])
        for name, parser in subs.choices.items()
        for action in parser._actions
        if action.option_strings and (action.type not in (None, str) or action.dest == "neuron")
    ]


def _absurd_argv(w, command, flag, value):
    value = f"{value},0,0" if flag == "--neuron" else value
    head = {
        "dream": ["dream", w.pic, "--net", w.net, *FAST, "--layer", "conv3", "-o", w.p("out.png")],
        "lecture": [
            "lecture",
            w.pic,
            "--net",
            w.net,
            "--steps",
            "1",
            "--layer",
            "conv3",
            "-o",
            w.p("out.png"),
        ],
        "zoom": ["zoom", w.pic, "--net", w.net, *FAST, "--frames", "1", "-o", w.p("out.gif")],
        "layers": ["layers", w.net],
        "bench": ["bench"],
        "toyworld": ["toyworld", "train", "-o", w.p("tw.h5")],
        "survey": ["survey", w.pic, "--net", w.net, "-o", w.p("sheet.png")],
    }[command]
    return head + [f"{flag}={value}"]  # --flag=-inf: argparse would read a lone -inf as an option


def test_numeric_flags_refuse_absurd_values(ws, capsys, monkeypatch):
    """The class, not the cases: each numeric flag of each subcommand, at huge, negative, zero, NaN, infinite
    and non-numbers (in-process, the same cli.main as the real command), is refused with exit 2 and one
    line naming the flag, before anything is written."""
    from scratchdream import cli

    flags = [(c, f) for c, f in numeric_flags() if c not in OWN_RULES]  # video: tests/test_video.py
    assert len(flags) >= 25 and ("bench", "--threads") in flags and ("zoom", "--zoom") in flags, flags
    monkeypatch.chdir(ws.d)
    before = snapshot(ws.d)
    failures = []
    for command, flag in flags:
        for value in ABSURD:
            if value in LEGAL.get(flag, ()) or value in LEGAL.get(f"{command} {flag}", ()):
                continue
            code = cli.main(_absurd_argv(ws, command, flag, value))
            shown = Result(code, *capsys.readouterr(), 0).shown()
            if code != 2 or len(shown) != 1 or not shown[0].startswith(ERROR) or flag not in shown[0]:
                failures.append(f"{command} {flag}={value}: exit {code}, stderr {shown}")
    assert not failures, "\n".join(failures)
    assert snapshot(ws.d) == before


@pytest.mark.parametrize("value", ["0", "-2", "abc", "2.5", "99999"])
def test_numba_num_threads_is_checked_before_numba_starts(ws, value):
    """NUMBA_NUM_THREADS=0 made Numba raise its own traceback, =abc an internal error: one line instead."""
    r = run(ws.dream(), ws.d, env={"NUMBA_NUM_THREADS": value})
    assert_one_line_error(
        r, 2, rf"NUMBA_NUM_THREADS='{value}' does not work: set it to a whole number from 1"
    )


# ---- downloads, through a local HTTP proxy ---------------------------------------------------------------
class _Proxy(http.server.BaseHTTPRequestHandler):
    """Answers every GET (the CLI asks for the zoo's http:// URL through http_proxy) as server.mode says:
    'wrong' a complete file with the wrong bytes, 'cut' a body that stops long before its Content-Length."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.urls.append(self.path)
        self.send_response(200)
        body = b"not the weights you are looking for " * 100
        self.send_header("Content-Length", str(len(body) if self.server.mode == "wrong" else 50 * len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True


@contextlib.contextmanager
def proxy(mode):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    srv.mode, srv.urls = mode, []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv, {"http_proxy": f"http://127.0.0.1:{srv.server_address[1]}"}
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize(
    "mode, limit, phrase",
    [
        (
            "wrong",
            None,
            r"refusing the download of http://dl\.caffe\.berkeleyvision\.org/bvlc_googlenet\.caffemodel: "
            r"its sha1 is",
        ),
        (
            "cut",
            None,
            r"cannot download http://dl\.caffe\.berkeleyvision\.org/bvlc_googlenet\.caffemodel \(.*\); "
            r"nothing was kept",
        ),
        (
            "wrong",
            1024,
            r"cannot write .*bvlc_googlenet\.caffemodel\.part \(File too large\); free space",
        ),  # disk full
    ],
)
def test_bad_download_keeps_nothing(ws, mode, limit, phrase):
    weights = ws.p("weights")
    os.mkdir(weights)
    with proxy(mode) as (srv, env):
        r = run(
            ["fetch", "googlenet", "--weights-dir", weights],
            ws.d,
            env=env,
            preexec_fn=_file_size_limit(limit) if limit else None,
        )
    assert srv.urls, "the CLI never reached the test proxy"
    assert_one_line_error(r, 1, phrase)
    assert listing(weights) == [], "a partial download was left behind"


def test_read_only_weights_folder(ws):
    with proxy("wrong") as (srv, env):
        for folder in unwritable_folders(ws.d):
            r = run(["fetch", "googlenet", "--weights-dir", folder], ws.d, env=env)
            assert_one_line_error(r, 1, r"(read-only|cannot write .*\.part|cannot create the weights folder)")
            assert ours(folder, "googlenet") == []
    assert not srv.urls, "it started downloading into a folder it cannot write"


# ---- pictures that are odd but fine: they dream ----------------------------------------------------------
def _dreams(w, pic, *extra):
    out = w.p("out.png")
    inputs = snapshot(w.d)
    r = run(w.dream("-o", out, *extra, image=pic), w.d)
    assert r.code == 0 and "Traceback" not in r.stderr, r
    after = snapshot(w.d)
    assert {k: v for k, v in after.items() if k != out} == inputs, (
        "the input changed or a stray file appeared"
    )
    return r, Image.open(out)


@pytest.mark.parametrize(
    "maker, note",
    [
        (bf.make_grey_png, "is greyscale; converted to RGB"),
        (bf.make_palette_png, "is a palette image; converted to RGB"),
        (bf.make_png16, "16-bit grey"),
        (bf.make_cmyk_jpeg, "is CMYK; converted to RGB"),
    ],
)
def test_odd_modes_dream_as_rgb_with_a_note(ws, maker, note):
    pic = maker(ws.d)
    r, out = _dreams(ws, pic)
    with Image.open(pic) as src:
        assert out.size == src.size and out.mode == "RGB"
    assert note in r.stderr, r


@pytest.mark.parametrize(
    "maker", [bf.make_rgba_png, lambda d: bf.make_palette_png(d, "clear.png", transparent=True)]
)
def test_alpha_is_kept_and_put_back(ws, maker):
    pic = maker(ws.d)
    with Image.open(pic) as src:
        alpha = np.asarray(src.convert("RGBA").getchannel("A"))
    r, out = _dreams(ws, pic)
    assert out.mode == "RGBA" and "alpha channel" in r.stderr, r
    assert np.array_equal(np.asarray(out.getchannel("A")), alpha)


def test_exif_rotated_jpeg_dreams_upright(ws):
    pic = bf.make_exif_rotated_jpeg(ws.d, H=28, W=44)
    with Image.open(pic) as src:
        assert src.size == (44, 28)  # stored landscape
    _, out = _dreams(ws, pic)
    assert out.size == (28, 44)  # dreamed (and written) upright: portrait


def test_picture_smaller_than_the_receptive_field_dreams(ws):
    """conv3's receptive field is 21 px; a 10 x 10 picture still gives conv3 an output (zero padding
    fills the rest), so it dreams at its own size; below 6 px it is refused (see the table)."""
    pic = bf.make_tiny_png(ws.d, "small.png", side=10)
    _, out = _dreams(ws, pic, "--layer", "conv3")
    assert out.size == (10, 10)


def one_conv_net_file(folder):
    """The cheapest net that still dreams: one 3x3 conv (4 channels, fused ReLU) on the tiny net's input."""
    import copy

    from nets_for_tests import TINY_INCEPTION, _conv, net_from_spec

    import scratchdream as sd

    spec = copy.deepcopy(TINY_INCEPTION)
    spec.update(
        name="one_conv",
        layers=[_conv("conv1", ["data"], 4, 3, pad=1, relu=True)],
        aliases={},
        dream_layers=["conv1"],
    )
    path = os.path.join(folder, "one_conv.h5")
    sd.save_net(net_from_spec(spec), path)
    return path


def test_large_picture_dreams_tiled_in_bounded_memory(ws, tmp_path_factory):
    """8000 x 6000 (48 Mpx), one step, tiles of 512 px, on a one-conv net (the cheapest that dreams: this
    case is about memory, and the per-pixel work of the loop, not the net, sets its time).

    One float32 copy of the picture is 3 x 48 M x 4 B = 576 MB, and the dream loop holds several (the
    preprocessed picture, the octave base, the detail, x, dL/dI, the normalised gradient). Untiled, the
    conv's im2col matrix alone would be 27 x 48 M x 4 B = 5.2 GB (9 copies) on top of those. Tiled, the
    per-tile memory is a few MB, so we require peak RSS under LARGE_COPIES copies of the picture for the
    whole process (Python, numba and Pillow included). Measured on 2 cores: 3.55 GiB (6.6 copies)."""
    net = one_conv_net_file(str(tmp_path_factory.mktemp("one_conv")))
    pic = bf.make_large_jpeg(ws.d)
    out = ws.p("large_dream.jpg")
    r = run(
        ["dream", pic, "--net", net, *FAST, "--tile", "512", "--jitter", "0", "-o", out], ws.d, timeout=900
    )
    assert r.code == 0 and "Traceback" not in r.stderr, r
    with Image.open(out) as im:
        assert im.size == (8000, 6000)
    copy_bytes = 8000 * 6000 * 3 * 4
    print(
        f"8000x6000 tiled dream: peak RSS {r.peak_rss / 2**30:.2f} GiB = "
        f"{r.peak_rss / copy_bytes:.1f} float32 "
        f"copies of the picture"
    )
    assert r.peak_rss < LARGE_COPIES * copy_bytes, f"peak RSS {r.peak_rss / 2**30:.2f} GiB"


# ---- help ------------------------------------------------------------------------------------------------
def test_every_subcommand_help_shows_an_example(capsys):
    from scratchdream.cli import COMMANDS, main

    for command in COMMANDS:
        with pytest.raises(SystemExit) as e:
            main([command, "--help"])
        assert e.value.code == 0
        text = capsys.readouterr().out
        assert re.search(rf"example:\n  scratchdream {command}\b", text), text


def test_help_from_the_real_cli(tmp_path):
    r = run(["dream", "--help"], str(tmp_path))
    assert r.code == 0 and "example:" in r.stdout and "--octave-scale" in r.stdout and r.stderr == "", r

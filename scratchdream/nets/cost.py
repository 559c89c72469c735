"""Time before the first forward: a per-layer cost model, measured once on this machine and cached.

A forward to a layer and the backward after it cost, layer by layer, about
    CPU seconds = call + rate[key] · work            (all threads together; pass_seconds: their sum)
    call        dispatch and waking the threads: per layer, whatever its kind and size
    key, work   conv: its kernel path (winograd, gemm, im2col: layers/fast/conv.py) and its multiply-adds
                Ho·Wo·K·(C/g)·kh·kw; linear: its multiply-adds; maxpool/avgpool, lrn: their own keys;
                every other kind ("elementwise": relu, concat, softmax, ...): the values it reads and
                writes. A ReLU fused into its conv (graph._fuse_relus) is part of the conv.
`calibrate()` measures each rate on one layer and the call on a chain of tiny layers (forward + backward,
the least CPU time of a few runs, after a warm-up that compiles the Numba kernels): a few seconds. CPU
time, because it does not change with what else runs on the machine; deepdream/budget.py turns it into
wall-clock time for the machine at rest (docs/performance.md). The
rates are cached as JSON in the user's cache folder ($XDG_CACHE_HOME/scratchdream, else
~/.cache/scratchdream), one file per CPU, thread count and kernel set, since those change every rate;
`model(keys)` reads the file, or on first use measures the keys a dream needs (needed_keys: its net's
layer kinds) and adds them to the file. A dream never measures before its first step: without the file its
estimate uses DEFAULT (default_model, a rough line), and `scratchdream dream` measures after the dream.
`benchmarks/estimate_vs_measured.py --check 4` (run by CI) holds the estimate of a dream within 4x of
its least measured CPU time, on toyworld and a random-weight GoogLeNet-shaped net; docs/performance.md has
the figures and why the least.
"""

import json
import os
import platform
import re
import sys
import time

import numpy as np

from ..atomic import atomic_path
from ..layers import kernels
from .graph import Net

VERSION = 1
REPEATS = 8
CHAIN = 16
WARM_UP = 1  # a run not counted: it compiles the kernels
# key -> (layer, its input (C, H, W)): one layer each, large enough that its work outweighs a call; the
# convs as wide as a zoo net's (64-128 channels), where BLAS runs nearer its peak than on a toy net's 16
BENCH = {
    "conv_winograd": (("conv", {"out": 64, "kernel": [3, 3], "pad": [1] * 4, "relu": True}), (64, 48, 48)),
    "conv_gemm": (("conv", {"out": 128, "kernel": [1, 1], "relu": True}), (128, 48, 48)),
    "conv_im2col": (("conv", {"out": 64, "kernel": [5, 5], "pad": [2] * 4, "relu": True}), (32, 48, 48)),
    "linear": (("linear", {"out": 256}), (64, 16, 16)),
    "maxpool": (("maxpool", {"kernel": [3, 3], "stride": [2, 2], "ceil": True}), (64, 128, 128)),
    "avgpool": (("avgpool", {"kernel": [3, 3], "stride": [1, 1], "pad": [1] * 4}), (64, 96, 96)),
    "lrn": (("lrn", {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0}), (64, 96, 96)),
    "elementwise": (("relu", {}), (64, 128, 128)),
}
OWN_KEYS = ("linear", "maxpool", "avgpool", "lrn")
# the rates and call of the 2-core Xeon docs/performance.md measures on (`scratchdream calibrate`,
# 2026-12-04): a first dream's estimate uses them (default_model), so that nothing is timed before its
# first step; the dream's CLI measures this machine's own afterwards
DEFAULT = {
    "rates": {
        "conv_gemm": 5.2e-11,
        "conv_im2col": 6.9e-11,
        "conv_winograd": 5.1e-11,
        "linear": 3.7e-10,
        "maxpool": 7.2e-09,
        "avgpool": 1.1e-08,
        "lrn": 7.9e-09,
        "elementwise": 1.9e-09,
    },
    "call": 4.6e-05,
}


# ---- the work of each layer ------------------------------------------------------------------------
def layer_work(layer, in_shapes, out_shape, kernel_set=None):
    """(key, units) of one graph layer (as Net.layers holds it) for these input and output shapes."""
    kind, out = layer["kind"], int(np.prod(out_shape))
    if kind == "conv":
        geo, C = layer["geo"], in_shapes[0][0]
        return _conv_key(geo, C, out_shape[0], kernel_set), out * (C // geo.groups) * geo.kh * geo.kw
    if kind == "linear":
        return "linear", out * int(np.prod(in_shapes[0]))
    if kind in OWN_KEYS:
        return kind, out + sum(int(np.prod(s)) for s in in_shapes)
    return "elementwise", out + sum(int(np.prod(s)) for s in in_shapes)


def _conv_key(geo, C, K, kernel_set):
    k = kernel_set or kernels()
    return f"conv_{k.conv.path(geo, C, K)}" if k.name == "fast" else "conv_im2col"


def pass_work(net, H, W, layers):
    """[(key, units)] of a forward to `layers` and its backward, for an H x W picture: the layers the
    graph runs (ReLUs fused into their convs left out)."""
    shapes = net.shapes(H, W)
    targets = [net.resolve(name) for name in layers]
    out = []
    for layer in net._plan(targets).layers:
        ins = [shapes[s] for s in layer["inputs"]]
        out.append(layer_work(layer, ins, shapes[layer["name"]]))
    return out


def pass_seconds(model, net, H, W, layers):
    """Estimated CPU seconds of one forward to `layers` and the backward after it, on an H x W picture."""
    rates = model["rates"]
    work = pass_work(net, H, W, layers)
    return sum(model["call"] + rates.get(key, rates["elementwise"]) * units for key, units in work)


# ---- measuring --------------------------------------------------------------------------------------
def calibrate(progress=None, keys=None):
    """{"rates": {key: seconds per unit}, "call": seconds per layer, ...} measured on this machine now.

    keys: the rates to measure (a dream's first use: needed_keys, so it compiles and times only what its
    net runs; conv_gemm always, as every other key's base); None, all of BENCH (`scratchdream calibrate`),
    after a warm-up that compiles the kinds BENCH has no layer of too.
    The call first (dispatch, the tape, small arrays: whatever a layer costs besides its work): a chain
    of CHAIN tiny layers. Then each layer behind a 1x1 conv that turns the picture's 3 channels into its C
    ("prep", the gemm path), as a pass data -> prep -> layer and back: seconds = 2 call + rate[gemm] · prep
    + rate[key] · units, gemm first (there both layers are gemm), the prep's share taken off the others."""
    if keys is None:
        _warm_up(_kinds_net())  # compile the kernels the bench layers leave out: a dream then compiles none
    wanted = set(BENCH) if keys is None else ({"conv_gemm"} | set(keys)) & set(BENCH)
    call = _least(_chain_net(), "layer") / (CHAIN + 1)
    rates = {}
    for key in sorted(wanted, key=lambda k: (k != "conv_gemm", k)):  # gemm first: every prep is a gemm
        if progress:
            progress(key)
        layer, shape = BENCH[key]
        net = _bench_net(layer, shape)
        work = pass_work(net, shape[1], shape[2], ["layer"])
        (_, prep), (_, units) = work[0], work[-1]
        seconds = _least(net, "layer") - len(work) * call
        if key == "conv_gemm":
            rates[key] = max(seconds, 1e-9) / (prep + units)
        else:  # never below a tenth of the whole pass's share: noise must not make a layer free
            rates[key] = max(seconds - rates["conv_gemm"] * prep, 0.1 * seconds, 1e-9) / units
    return {"version": VERSION, "machine": machine(), "rates": rates, "call": call}


def needed_keys(net, H, W, layers):
    """The rates a dream of `net` to `layers` on an H x W picture needs: its layers' keys and elementwise
    (budget.py prices the step around the passes by it)."""
    return {key for key, _ in pass_work(net, H, W, layers)} | {"elementwise"}


def _kinds_net():
    """data -> prep -> batchnorm and relu, concatenated -> adaptive avgpool -> flatten -> linear -> softmax:
    the kinds BENCH has no layer of, each on a tiny picture (one forward + backward compiles their
    kernels)."""
    hp = {"out": 4, "kernel": [1, 1]}
    layers = [
        {"name": "prep", "kind": "conv", "inputs": ["data"], "hp": hp},
        {"name": "norm", "kind": "batchnorm", "inputs": ["prep"], "hp": {}},
        {"name": "rect", "kind": "relu", "inputs": ["prep"], "hp": {}},
        {"name": "both", "kind": "concat", "inputs": ["norm", "rect"], "hp": {}},
        {"name": "pooled", "kind": "adaptive_avgpool", "inputs": ["both"], "hp": {"size": [2, 2]}},
        {"name": "flat", "kind": "flatten", "inputs": ["pooled"], "hp": {}},
        {"name": "scores", "kind": "linear", "inputs": ["flat"], "hp": {"out": 3}},
        {"name": "layer", "kind": "softmax", "inputs": ["scores"], "hp": {}},
    ]
    return _random_net(
        {"name": "kinds", "input": {"name": "data", "scale": 1.0, "size": [8, 8]}, "layers": layers}
    )


def _warm_up(net):
    """One forward to "layer" and its backward, not timed: Numba compiles (or loads) the kernels now."""
    H, W = net.spec["input"]["size"]
    net.backward(net.forward(np.ones((1, 3, H, W), np.float32), upto="layer"))


def _chain_net():
    """data -> prep (3 -> 4 channels) -> CHAIN max-pools of 1 px, on an 8 x 8 picture: calls, no work."""
    return _bench_net(("maxpool", {"kernel": [1, 1]}), (4, 8, 8), chain=CHAIN)


def _bench_net(layer, shape, chain=1):
    """data -> prep (1x1 conv, 3 -> C channels, its own ReLU) [-> flatten] -> `chain` copies of `layer`,
    the last one named "layer"; small random weights."""
    (kind, hp), (C, H, W) = layer, shape
    layers = [
        {"name": "prep", "kind": "conv", "inputs": ["data"], "hp": {"out": C, "kernel": [1, 1], "relu": True}}
    ]
    if kind == "linear":  # a linear layer reads a flat vector
        layers.append({"name": "flat", "kind": "flatten", "inputs": ["prep"], "hp": {}})
    for k in range(chain):
        name = "layer" if k == chain - 1 else f"copy{k}"
        layers.append({"name": name, "kind": kind, "inputs": [layers[-1]["name"]], "hp": hp})
    return _random_net(
        {"name": "calibration", "input": {"name": "data", "scale": 1.0, "size": [H, W]}, "layers": layers}
    )


def _random_net(spec):
    """Net(spec) with small random weights."""
    net = Net(spec)
    rng = np.random.default_rng(0)
    shapes = net.param_shapes
    net.set_params({n: {k: 0.1 * rng.standard_normal(s) for k, s in p.items()} for n, p in shapes.items()})
    return net


def _least(net, upto):
    """The least CPU time (every thread of this process) of a forward to `upto` and its backward, REPEATS
    runs after WARM_UP. CPU time, not wall-clock: on a busy machine a kernel waits for a core, and at load
    20-30 on 2 cores a pass that took 0.31 CPU seconds took 1.5 s of wall-clock, varying 2x from run to run,
    while its CPU time varied by 5%."""
    H, W = net.spec["input"]["size"]
    x = np.random.default_rng(1).standard_normal((1, 3, H, W)).astype(np.float32)
    times = []
    for k in range(WARM_UP + REPEATS):
        t0 = time.process_time()
        y = net.forward(x, upto=upto)
        net.backward(y)
        if k >= WARM_UP:
            times.append(time.process_time() - t0)
    return min(times)


# ---- the cache ----------------------------------------------------------------------------------------
def machine():
    """What the rates depend on: the CPU, the thread count and the kernel set."""
    import numba

    return {"cpu": _cpu_name(), "threads": int(numba.get_num_threads()), "kernels": kernels().name}


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cache_dir():
    """$XDG_CACHE_HOME/scratchdream, else ~/.cache/scratchdream."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "scratchdream")


def cache_path(m=None):
    m = m or machine()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", m["cpu"]).strip("-")[:60] or "cpu"
    return os.path.join(cache_dir(), f"cost-{slug}-{m['threads']}threads-{m['kernels']}.json")


def model(keys=None, calibrate_if_missing=True):
    """The cached cost model of this machine, with at least the rates `keys` (None: every key of BENCH);
    the missing ones measured now (calibrate(keys=...)) and cached beside the others. None when some are
    missing and calibrate_if_missing is False."""
    m = machine()
    path = cache_path(m)
    cached = _read(path, m)
    missing = (set(BENCH) if keys is None else set(keys) & set(BENCH)) - set((cached or {}).get("rates", {}))
    if not missing or not calibrate_if_missing:
        return None if missing else cached
    from ..layers.fast import cache

    unsaid = cache.uncompiled() and not cache._Announcer.said  # the compile note comes below, once
    first = " (more on a first run: see the note below)" if unsaid else ""
    print(f"scratchdream: measuring this machine's speed once (scratchdream calibrate), a few seconds{first}",
          file=sys.stderr)  # fmt: skip
    fresh = calibrate(keys=None if keys is None and cached is None else missing)  # None: all, warmed up
    if cached is not None:  # the rates measured before, and the new ones
        fresh = {**fresh, "rates": {**cached["rates"], **fresh["rates"]}}
    save(fresh, path)
    return fresh


def default_model():
    """A model with the DEFAULT rates, marked "default": a rough estimate for a machine not measured yet."""
    rates, call = dict(DEFAULT["rates"]), DEFAULT["call"]
    return {"version": VERSION, "machine": machine(), "rates": rates, "call": call, "default": True}


def save(fresh, path=None):
    """Write the model to the cache; a folder that cannot be written only costs a new calibration later."""
    path = path or cache_path(fresh["machine"])
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "w") as f:
            json.dump(fresh, f, indent=1)
    except Exception as e:  # noqa: BLE001 (OSError, or the UserError atomic_path makes of it)
        print(f"scratchdream: note: could not cache the cost model in {path} ({e})", file=sys.stderr)
    return path


def _read(path, m):
    """The cached model at `path` if it is sound and for this machine, else None."""
    try:
        with open(path) as f:
            data = json.load(f)
        rates, call = data["rates"], float(data["call"])
        known = {k: float(rates[k]) for k in BENCH if k in rates}  # a dream's calibration: a few keys
        sound = "conv_gemm" in known and all(0 < r < 1 for r in known.values()) and 0 <= call < 10
        if data.get("version") == VERSION and data.get("machine") == m and sound:
            return {**data, "rates": known, "call": call}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None

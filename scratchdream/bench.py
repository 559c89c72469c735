"""`scratchdream bench`: one dream step, scratchdream against PyTorch on this CPU, in one process run.

A dream step is slide 35 once: forward to the layer, the objective L = ½‖h‖² (so dL/dh = h), backward to the
pixels. Both sides run the real architecture (bvlc GoogLeNet to inception_4c/output, VGG16 to conv4_3) with
the same random weights; PyTorch's net is plain torch.nn built from the same spec (no torchvision), its
parameters with requires_grad=False, the same thread count. Times are warm, median of --repeat, the two
frameworks alternating step by step so that a busy machine slows both alike. Peak memory is the high-water
mark of the resident set (VmHWM, reset once the net and its weights are built) of a fresh subprocess per
configuration, minus its resident set at that moment: what two steps need (activations, caches, buffers).
torch is optional: without it the table has scratchdream's columns only. Nothing here is a unit test.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from .errors import UsageError

TARGETS = {"googlenet": "inception_4c/output", "vgg16": "conv4_3"}


# ---- the two architectures ------------------------------------------------------------------------
def _conv(name, inp, out, k, s=1, p=0, relu=True):
    return {
        "name": name,
        "kind": "conv",
        "inputs": [inp],
        "hp": {
            "out": out,
            "kernel": [k, k],
            "stride": [s, s],
            "pad": [p] * 4,
            "dilation": [1, 1],
            "groups": 1,
            "bias": True,
            "relu": relu,
        },
    }


def _local_spec(name):
    """The two benchmark nets written out here (ZOO.md §6, torchvision's VGG cfg D), used if the zoo is absent."""
    pool = lambda n, i, k, s, p=0, ceil=False: {
        "name": n,
        "kind": "maxpool",
        "inputs": [i],
        "hp": {"kernel": [k, k], "stride": [s, s], "pad": [p] * 4, "ceil": ceil},
    }
    if name == "vgg16":
        L, prev, i = [], "data", 0
        for block, (width, n) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3)], 1):
            for j in range(n):
                L.append(_conv(f"features.{i}", prev, width, 3, p=1, relu=False))
                L.append({"name": f"features.{i + 1}", "kind": "relu", "inputs": [f"features.{i}"], "hp": {}})
                prev, i = f"features.{i + 1}", i + 2
            if block < 4:
                L.append(pool(f"features.{i}", prev, 2, 2))
                prev, i = f"features.{i}", i + 1
        return {
            "name": "vgg16",
            "input": {"size": [224, 224]},
            "layers": L[:-1],
            "aliases": {"conv4_3": "features.21"},
        }
    lrn = lambda n, i: {
        "name": n,
        "kind": "lrn",
        "inputs": [i],
        "hp": {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0},
    }
    L = [
        _conv("conv1/7x7_s2", "data", 64, 7, 2, 3),
        pool("pool1/3x3_s2", "conv1/7x7_s2", 3, 2, ceil=True),
        lrn("pool1/norm1", "pool1/3x3_s2"),
        _conv("conv2/3x3_reduce", "pool1/norm1", 64, 1),
        _conv("conv2/3x3", "conv2/3x3_reduce", 192, 3, p=1),
        lrn("conv2/norm2", "conv2/3x3"),
        pool("pool2/3x3_s2", "conv2/norm2", 3, 2, ceil=True),
    ]
    prev = "pool2/3x3_s2"
    table = {
        "3a": (64, 96, 128, 16, 32, 32),
        "3b": (128, 128, 192, 32, 96, 64),
        "4a": (192, 96, 208, 16, 48, 64),
        "4b": (160, 112, 224, 24, 64, 64),
        "4c": (128, 128, 256, 24, 64, 64),
    }
    for x, (c1, c3r, c3, c5r, c5, cp) in table.items():
        m = f"inception_{x}/"
        L += [
            _conv(m + "1x1", prev, c1, 1),
            _conv(m + "3x3_reduce", prev, c3r, 1),
            _conv(m + "3x3", m + "3x3_reduce", c3, 3, p=1),
            _conv(m + "5x5_reduce", prev, c5r, 1),
            _conv(m + "5x5", m + "5x5_reduce", c5, 5, p=2),
            pool(m + "pool", prev, 3, 1, 1, ceil=True),
            _conv(m + "pool_proj", m + "pool", cp, 1),
            {
                "name": m + "output",
                "kind": "concat",
                "inputs": [m + s for s in ("1x1", "3x3", "5x5", "pool_proj")],
                "hp": {},
            },
        ]
        prev = m + "output"
        if x == "3b":
            L.append(pool("pool3/3x3_s2", prev, 3, 2, ceil=True))
            prev = "pool3/3x3_s2"
    return {"name": "googlenet", "input": {"size": [224, 224]}, "layers": L}


def bench_spec(name):
    """The net's spec cut at its benchmark layer: from the zoo if it is there, else written out above."""
    if name not in TARGETS:
        raise UsageError(f"bench knows the nets {', '.join(TARGETS)}, not {name!r}; pick from those")
    try:
        from .nets import zoo

        spec = zoo.spec_for(name)
    except Exception:  # the zoo is optional here: the bench must run without it
        spec = _local_spec(name)
    from .nets.graph import Net

    target = Net(spec).resolve(TARGETS[name])
    keep = Net(spec)._ancestors([target])
    return dict(spec, layers=[{k: v for k, v in layer.items()} for layer in keep]), target


def random_params(net, seed=0):
    """He-scaled random weights (weights do not change speed; scaled so activations stay O(1))."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shapes in net.param_shapes.items():
        if "weight" in shapes:
            w = shapes["weight"]
            params[name] = {
                "weight": (rng.standard_normal(w) * np.sqrt(2.0 / np.prod(w[1:]))).astype(np.float32)
            }
            if "bias" in shapes:
                params[name]["bias"] = (0.01 * rng.standard_normal(shapes["bias"])).astype(np.float32)
    return params


def build_sd(name):
    from .nets.graph import Net

    spec, target = bench_spec(name)
    net = Net(spec)
    net.set_params(random_params(net))
    return net, target


def sd_step(net, target, x):
    """Slide 35 once: h = forward to the layer, L = ½‖h‖², dL/dh = h, back to the pixels."""
    h = net.forward(x, upto=target)
    return net.backward(h)


# ---- the same nets in plain torch.nn ------------------------------------------------------------------
def build_torch(net, target, torch):
    """A torch.nn.Module that walks the same spec with torch's layers and our weights."""
    F = torch.nn.functional

    class SpecNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [layer for layer in net.layers]
            self.convs = torch.nn.ModuleDict()
            for layer in self.layers:
                if layer["kind"] == "conv":
                    hp, p = layer["hp"], net.params[layer["name"]]
                    w = torch.tensor(p["weight"])
                    m = torch.nn.Conv2d(
                        w.shape[1] * hp["groups"],
                        w.shape[0],
                        tuple(w.shape[2:]),
                        stride=tuple(hp["stride"]),
                        padding=0,
                        dilation=tuple(hp["dilation"]),
                        groups=hp["groups"],
                        bias="bias" in p,
                    )
                    m.weight = torch.nn.Parameter(w, requires_grad=False)
                    if "bias" in p:
                        m.bias = torch.nn.Parameter(torch.tensor(p["bias"]), requires_grad=False)
                    t, b, l, r = hp["pad"]
                    if t == b and l == r:
                        m.padding = (t, l)
                    self.convs[layer["name"].replace("/", "|").replace(".", "_")] = m

        def forward(self, x):
            acts = {"data": x}
            for layer in self.layers:
                kind, hp, ins = layer["kind"], layer["hp"], [acts[s] for s in layer["inputs"]]
                if kind == "conv":
                    m = self.convs[layer["name"].replace("/", "|").replace(".", "_")]
                    t, b, l, r = hp["pad"]
                    y = m(ins[0] if (t == b and l == r) else F.pad(ins[0], (l, r, t, b)))
                    y = torch.relu(y) if hp.get("relu") else y
                elif kind == "relu":
                    y = torch.relu(ins[0])
                elif kind == "maxpool":
                    t, b, l, r = hp["pad"]
                    y = F.max_pool2d(
                        ins[0],
                        tuple(hp["kernel"]),
                        tuple(hp["stride"]),
                        (t, l),
                        ceil_mode=hp.get("ceil", False),
                    )
                elif kind == "lrn":
                    y = F.local_response_norm(ins[0], hp["size"], hp["alpha"], hp["beta"], hp.get("k", 1.0))
                elif kind == "concat":
                    y = torch.cat(ins, 1)
                else:
                    raise UsageError(f"bench's torch twin has no layer kind {kind!r}")
                acts[layer["name"]] = y
            return acts[target]

    return SpecNet().eval()


def torch_step(model, x, torch):
    x = x.detach().requires_grad_(True)
    h = model(x)
    (dx,) = torch.autograd.grad(h, x, grad_outputs=h.detach())
    return dx


# ---- timing ----------------------------------------------------------------------------------------
def _set_threads(n):
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(n)
    threadpool_limits(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass


CLOCK = time.perf_counter  # --clock cpu: time.process_time, CPU seconds of the process (fair on a busy
# machine when --threads 1; with more threads it also counts idle spinning)


def time_steps(runs, repeat):
    """Alternate the callables `repeat` times after one warm run each; median ms of each."""
    for f in runs:
        f()
    times = [[] for _ in runs]
    for _ in range(repeat):
        for i, f in enumerate(runs):
            t = CLOCK()
            f()
            times[i].append((CLOCK() - t) * 1e3)
    return [statistics.median(t) for t in times]


def sgemm_gflops(n=2048):
    """Single-precision matrix product speed of NumPy's BLAS: the machine's practical ceiling."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    out = np.empty_like(a)
    np.matmul(a, a, out=out)
    t = min(_timed(lambda: np.matmul(a, a, out=out)) for _ in range(3))
    return 2 * n**3 / t / 1e9


def _timed(f):
    t = CLOCK()
    f()
    return CLOCK() - t


# ---- memory: a fresh process per configuration ---------------------------------------------------
def _rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _hwm_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def memory_probe(name, size, framework, threads):
    """Run in a subprocess: build the net, then two steps; print the step's peak RSS over the built net's RSS."""
    _set_threads(threads)
    net, target = build_sd(name)
    x = np.random.default_rng(1).standard_normal((1, 3, size, size)).astype(np.float32)
    if framework == "torch":
        import torch

        model = build_torch(net, target, torch)
        xt = torch.tensor(x)
        step = lambda: torch_step(model, xt, torch)
    else:
        step = lambda: sd_step(net, target, x)
    base = _rss_kb()
    with open(
        "/proc/self/clear_refs", "w"
    ) as f:  # Linux: reset the high-water mark (VmHWM) to the current RSS
        f.write("5")
    step()
    step()
    peak = _hwm_kb()
    print(json.dumps({"peak_mb": (peak - base) / 1024}))


def _peak_mb(name, size, framework, threads):
    code = f"from scratchdream.bench import memory_probe; memory_probe({name!r}, {size}, {framework!r}, {threads})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        return float("nan")
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"]


def compile_probe():
    """Run in a subprocess with an empty Numba cache: seconds of the first (compiling) step vs a warm one."""
    net, target = build_sd("googlenet")
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32)
    t0 = _timed(lambda: sd_step(net, target, x))
    t1 = _timed(lambda: sd_step(net, target, x))
    print(json.dumps({"first_s": t0, "warm_s": t1}))


def compile_seconds(cold):
    """First-step seconds in a fresh process: with an empty Numba cache (cold) or with the on-disk cache."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        if cold:
            env["NUMBA_CACHE_DIR"] = tmp
        out = subprocess.run(
            [sys.executable, "-c", "from scratchdream.bench import compile_probe; compile_probe()"],
            capture_output=True,
            text=True,
            env=env,
        )
    if out.returncode != 0:
        return float("nan")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["first_s"] - r["warm_s"]


# ---- the per-layer table ---------------------------------------------------------------------------
def conv_layer_rows(net, size, repeat, torch):
    """For every conv: forward + input gradient alone, ms each side, direct-conv GFLOP/s and its path."""
    from .layers import conv, winograd

    shapes = net.shapes(size, size)
    rows = []
    for layer in net.layers:
        if layer["kind"] != "conv":
            continue
        hp, p = layer["hp"], net.params[layer["name"]]
        C, H, W = shapes[layer["inputs"][0]]
        K, Ho, Wo = shapes[layer["name"]]
        x = np.random.default_rng(2).standard_normal((1, C, H, W)).astype(np.float32)
        y, cache = conv.conv_forward(x, p["weight"], p.get("bias"), hp)
        dy = np.random.default_rng(3).standard_normal(y.shape).astype(np.float32)

        def ours():
            _, c = conv.conv_forward(x, p["weight"], p.get("bias"), hp)
            conv.conv_backward(dy, c)

        runs = [ours]
        if torch is not None:
            F = torch.nn.functional
            xt, wt = torch.tensor(x), torch.tensor(p["weight"])
            bt = torch.tensor(p["bias"]) if "bias" in p else None
            dyt = torch.tensor(dy)
            t, b, l, r = hp["pad"]

            def theirs():
                xg = xt.detach().requires_grad_(True)
                yt = F.conv2d(
                    F.pad(xg, (l, r, t, b)),
                    wt,
                    bt,
                    tuple(hp["stride"]),
                    0,
                    tuple(hp["dilation"]),
                    hp["groups"],
                )
                yt = torch.relu(yt) if hp.get("relu") else yt
                torch.autograd.grad(yt, xg, dyt)

            runs.append(theirs)
        ms = time_steps(runs, repeat)
        geo = conv._geometry(hp)
        path = (
            "winograd"
            if conv.WINOGRAD and winograd.applies(geo, C, K)
            else "gemm"
            if conv._is_pointwise(geo)
            else "im2col"
        )
        flops = 2 * 2 * K * (C // hp["groups"]) * hp["kernel"][0] * hp["kernel"][1] * Ho * Wo  # forward + dx
        rows.append((layer["name"], f"{C}->{K} {hp['kernel'][0]}x{hp['kernel'][1]} {H}x{W}", path, ms, flops))
    return rows


# ---- the command -----------------------------------------------------------------------------------
def tiling_times(net, target, size, repeat):
    """ms of one layer-objective gradient of a size x size picture: untiled, then in tiles of size/2 with
    the default margin and with an exact one (one receptive field). Returns [(label, margin, ms), ...]."""
    from .deepdream.ascent import gradient
    from .deepdream.plan import build_objective
    from .deepdream.tiling import Tiler, default_margin, exact_margin, jump

    objective = build_objective(net, [(target, 1.0)], size, size)
    x = np.random.default_rng(1).standard_normal((1, 3, size, size)).astype(np.float32)
    tile, step = size // 2, jump(net, [target])
    margins = [("default", default_margin(net, [target], tile)), ("exact", exact_margin(net, [target]))]
    runs = [lambda: gradient(net, x, objective)]
    runs += [
        lambda m=m: Tiler(tile, m, np.random.default_rng(0), step=step).gradient(net, x, objective)
        for _, m in margins
    ]
    ms = time_steps(runs, repeat)
    return [("untiled", None, ms[0])] + [(label, m, t) for (label, m), t in zip(margins, ms[1:])]


def print_scaling(results):
    """Time over pixel count from the smallest to the largest size, per net and framework."""
    for name in dict.fromkeys(r[0] for r in results):
        rows = sorted((r for r in results if r[0] == name), key=lambda r: r[1])
        if len(rows) < 2:
            continue
        a, b = rows[0], rows[-1]
        pixels = (b[1] / a[1]) ** 2
        torch_part = f", torch x{b[3] / a[3]:.1f}" if np.isfinite(b[3]) else ""
        print(
            f"scaling {name} {a[1]} -> {b[1]} px (x{pixels:.1f} the pixels): scratchdream x{b[2] / a[2]:.1f}{torch_part}"
        )


def print_tiling(nets, size, repeat):
    """Tiling's price at equal area: the same picture untiled, then in size/2 tiles on an offset grid
    (issue 6 asks for at most 10% more)."""
    for name in nets:
        net, target = build_sd(name)
        if size // 2 < net.receptive_field(target):
            print(f"tiling {name}: {size // 2}-px tiles are smaller than the receptive field; skipped")
            continue
        rows = tiling_times(net, target, size, max(1, min(repeat, 3)))
        base = rows[0][2]
        parts = [f"untiled {base:.0f} ms"] + [
            f"margin {m} px ({label}) {t:.0f} ms ({100 * (t / base - 1):+.0f}%)" for label, m, t in rows[1:]
        ]
        print(f"tiling {name} {size} px in {size // 2}-px tiles: " + "; ".join(parts), flush=True)


def _ints(text, what):
    try:
        return [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--{what} takes comma-separated integers, e.g. 224,512; got {text!r}") from None


def cmd_bench(args):
    nets = [n.strip() for n in args.nets.split(",") if n.strip()]
    sizes = _ints(args.sizes, "sizes")
    repeat = max(1, int(args.repeat))
    threads = int(getattr(args, "threads", 0) or 0) or os.cpu_count() or 1
    memory = not getattr(args, "no_memory", False)
    layer_size = int(getattr(args, "layer_size", 0) or 0)
    global CLOCK
    CLOCK = time.process_time if getattr(args, "clock", "wall") == "cpu" else time.perf_counter
    for n in nets:
        bench_spec(n)  # unknown names fail before any timing
    _set_threads(threads)
    try:
        import torch
    except ImportError:
        torch = None
    from .layers import _blas

    print(
        f"scratchdream bench: {threads} threads (Numba, BLAS{', torch' if torch else ''}); "
        f"BLAS products {'inside Numba threads (OpenBLAS sgemm, 1 thread each)' if _blas.SGEMM else 'by NumPy'}; "
        f"load average {os.getloadavg()[0]:.1f}; clock: {'CPU time of the process' if CLOCK is time.process_time else 'wall'}"
    )
    print(f"sgemm (NumPy's BLAS, {threads} threads, 2048^3): {sgemm_gflops():.1f} GFLOP/s")
    if getattr(args, "compile", True):
        print(
            f"Numba first-step overhead: {compile_seconds(True):.1f} s compiling (empty cache), "
            f"{compile_seconds(False):.2f} s loading the on-disk cache"
        )
    if torch is None:
        print("torch is not installed: scratchdream's own times only (pip install torch==2.13.0 to compare)")
    head = f"{'net':10s} {'size':>5s} {'ms sd':>9s} {'ms torch':>9s} {'ratio':>6s} {'MB sd':>7s} {'MB torch':>8s}"
    print(head)
    print("-" * len(head))
    results = []
    for name in nets:
        net, target = build_sd(name)
        model = build_torch(net, target, torch) if torch is not None else None
        for size in sizes:
            x = np.random.default_rng(1).standard_normal((1, 3, size, size)).astype(np.float32)
            runs = [lambda: sd_step(net, target, x)]
            if model is not None:
                xt = torch.tensor(x)
                runs.append(lambda: torch_step(model, xt, torch))
            ms = time_steps(runs, repeat)
            mem = [
                _peak_mb(name, size, f, threads) if memory else float("nan")
                for f in ("sd", "torch")[: len(runs)]
            ]
            ratio = ms[0] / ms[1] if len(ms) > 1 else float("nan")
            row = (
                name,
                size,
                ms[0],
                ms[1] if len(ms) > 1 else float("nan"),
                ratio,
                mem[0],
                mem[1] if len(mem) > 1 else float("nan"),
            )
            results.append(row)
            print(
                f"{row[0]:10s} {row[1]:5d} {row[2]:9.1f} {row[3]:9.1f} {row[4]:6.2f} {row[5]:7.0f} {row[6]:8.0f}",
                flush=True,
            )
    if memory:
        print(
            "MB: peak resident set of a fresh process during two steps, over its size once the net is built (VmHWM delta)"
        )
    print_scaling(results)
    if getattr(args, "tiling", True) and max(sizes) >= 2:
        print_tiling(nets, max(sizes), repeat)
    if layer_size:
        peak = sgemm_gflops()
        for name in nets:
            net, target = build_sd(name)
            print(
                f"\n{name} conv layers at {layer_size}px, forward + input gradient (sgemm ceiling {peak:.0f} GFLOP/s):"
            )
            print(
                f"{'layer':28s} {'shape':24s} {'path':8s} {'ms sd':>8s} {'ms torch':>8s} {'ratio':>6s} {'GF/s':>6s} {'%sgemm':>6s}"
            )
            for lname, shape, path, ms, flops in conv_layer_rows(net, layer_size, repeat, torch):
                t = ms[1] if len(ms) > 1 else float("nan")
                gf = flops / ms[0] / 1e6
                print(
                    f"{lname:28s} {shape:24s} {path:8s} {ms[0]:8.2f} {t:8.2f} {ms[0] / t:6.2f} {gf:6.1f} {100 * gf / peak:5.0f}%"
                )
    return 0

"""`scratchdream bench`: the time and memory of one dream step on this CPU.

A dream step is slide 35 once: forward to the layer, the objective L = ½‖h‖² (so dL/dh = h), backward to the
pixels. The nets are the zoo's own architectures (nets/archs/: bvlc GoogLeNet to inception_4c/output, VGG16
to conv4_3), cut at that layer, with random weights. Times are warm, the median of --repeat. Peak memory is
the high-water mark of the resident set (VmHWM, reset once the net and its weights are built) of a fresh
subprocess per configuration, minus its resident set at that moment: what two steps need (activations,
caches, buffers). Nothing here is a unit test.

The same step in PyTorch, side by side, is benchmarks/torch_compare.py (`make bench`): it hands `run` a
`Rival` record, so torch is never imported here.
"""

import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from . import bench_dreams, bench_targets
from .deepdream.ascent import gradient
from .deepdream.plan import build_objective
from .deepdream.tiling import Tiler, default_margin, exact_margin, jump
from .errors import UsageError
from .layers.fast import blas as _blas
from .layers.fast import conv
from .nets import zoo
from .nets.graph import Net

TARGETS = {"googlenet": "inception_4c/output", "vgg16": "conv4_3"}
TORCH_NOTE = "the same step in PyTorch, side by side: make bench (benchmarks/torch_compare.py)"


@dataclass(frozen=True)
class Rival:
    """Another framework timed beside scratchdream, as functions (benchmarks/torch_compare.py: PyTorch).

    build(net, target)       -> its twin of the net, with the same weights
    step(twin, x)            -> a function of no arguments running one dream step on x (1, 3, H, W)
    conv(x, w, b, hp, dy)    -> a function of no arguments running one conv forward and its input gradient
                                (either function may return its own seconds as a float: see time_steps)
    peak_mb(name, size, threads) -> MB two of its steps need, measured as `peak_mb` below does
    set_threads(n)           use n threads
    """

    name: str
    build: Callable
    step: Callable
    conv: Callable
    peak_mb: Callable
    set_threads: Callable


# ---- the nets --------------------------------------------------------------------------------------
def bench_spec(name):
    """The zoo's spec of the net, cut after its benchmark layer; (spec, the layer's own name)."""
    if name not in TARGETS:
        raise UsageError(f"bench knows the nets {', '.join(TARGETS)}, not {name!r}; pick from those")
    spec = zoo.spec_for(name)
    target = Net(spec).resolve(TARGETS[name])
    names = [layer["name"] for layer in spec["layers"]]
    # every layer before the target feeds it, in both nets: the cut drops only weights never used
    layers = spec["layers"][: names.index(target) + 1]
    kept = set(names[: names.index(target) + 1])
    aliases = {a: t for a, t in (spec.get("aliases") or {}).items() if t in kept}  # none to cut layers
    return dict(spec, layers=layers, aliases=aliases, dream_layers=[target], labels=None), target


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
    spec, target = bench_spec(name)
    net = Net(spec)
    net.set_params(random_params(net))
    return net, target


def sd_step(net, target, x):
    """Slide 35 once: h = forward to the layer, L = ½‖h‖², dL/dh = h, back to the pixels."""
    h = net.forward(x, upto=target)
    return net.backward(h)


def bench_input(size, seed=1):
    """The picture every step runs on: (1, 3, size, size) float32 noise."""
    return np.random.default_rng(seed).standard_normal((1, 3, size, size)).astype(np.float32)


# ---- timing ----------------------------------------------------------------------------------------
def set_threads(n):
    numba.set_num_threads(n)
    threadpool_limits(n)


CLOCK = time.perf_counter  # --clock cpu: time.process_time, CPU seconds of the process (fair on a busy
# machine when --threads 1; with more threads it also counts idle spinning)


def time_steps(runs, repeat):
    """Alternate the callables `repeat` times after one warm run each, so that a busy machine slows all
    alike; median ms of each. A callable that returns a float timed itself, in seconds, and is taken at its
    word: a rival in a process of its own (benchmarks/torch_compare.py), timed there, not across the pipe."""
    for f in runs:
        f()
    times = [[] for _ in runs]
    for _ in range(repeat):
        for i, f in enumerate(runs):
            t = CLOCK()
            own = f()
            seconds = CLOCK() - t
            times[i].append((own if isinstance(own, float) else seconds) * 1e3)
    return [statistics.median(t) for t in times]


class CpuUse:
    """User and kernel (sys) CPU seconds of this process, summed over the calls a `counted` wrapper makes.

    A wrapper's first call is time_steps' warm run: at a new picture size the heap grows and the kernel
    zero-fills every fresh page on its first touch (VGG16 at 1024 px: 0.87 s sys in that step, about
    0.06 s in each step after it), a price paid once per size. Issue 18's target is about the steps that
    follow, whose buffers come back from the heap, so those are summed apart: `user`, `sys` over the
    timed steps, `first_user`, `first_sys` over the warm runs."""

    def __init__(self):
        self.user = self.sys = self.first_user = self.first_sys = 0.0

    def counted(self, f):
        calls = []

        def run():
            a = resource.getrusage(resource.RUSAGE_SELF)
            f()
            b = resource.getrusage(resource.RUSAGE_SELF)
            user, sys = b.ru_utime - a.ru_utime, b.ru_stime - a.ru_stime
            if calls:
                self.user, self.sys = self.user + user, self.sys + sys
            else:
                self.first_user, self.first_sys = self.first_user + user, self.first_sys + sys
            calls.append(1)

        return run

    def sys_percent(self):
        """sys over user of the timed (warm) steps, in %."""
        return 100 * self.sys / self.user if self.user > 0 else float("nan")

    def line(self):
        """The bench's sys line: the timed steps (the target's figure), then the warm runs apart."""
        first = 100 * self.first_sys / self.first_user if self.first_user > 0 else float("nan")
        return (
            f"sys time during scratchdream's steps: {self.sys:.2f} s, {self.sys_percent():.1f}% of their "
            f"user time {self.user:.1f} s (timed steps; the first step at each size, fresh pages: "
            f"{self.first_sys:.2f} s, {first:.1f}% of {self.first_user:.1f} s)"
        )


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


def print_step_peak(step):
    """In the probe process, once everything is built: print the MB two steps add to the resident set."""
    base = _rss_kb()
    with open("/proc/self/clear_refs", "w") as f:  # Linux: reset the high-water mark (VmHWM) to the RSS
        f.write("5")
    step()
    step()
    print(json.dumps({"peak_mb": (_hwm_kb() - base) / 1024}))


def memory_probe(name, size, threads):
    """Run in a subprocess: build the net, then print what two of scratchdream's steps need."""
    set_threads(threads)
    net, target = build_sd(name)
    x = bench_input(size)
    print_step_peak(lambda: sd_step(net, target, x))


def probe_peak_mb(code, env=None):
    """Run `code` (a call of a probe above) in a fresh interpreter; the MB it printed, nan if it failed."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return float("nan")
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"]


def peak_mb(name, size, threads):
    return probe_peak_mb(
        f"from scratchdream.bench import memory_probe; memory_probe({name!r}, {size}, {threads})"
    )


def compile_probe():
    """Run in a subprocess with an empty Numba cache: seconds of the first (compiling) step vs a warm one."""
    net, target = build_sd("googlenet")
    x = bench_input(64)
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
def conv_step(x, w, b, layer, dy):
    """One conv layer's forward and input gradient on the fast kernels, as a function of no arguments."""

    def step():
        _, cache = conv.conv_forward(x, w, b, layer["geo"], layer["hp"]["relu"])
        conv.conv_backward(dy, cache)

    return step


def conv_layer_rows(net, size, repeat, rival=None, step=None):
    """For every conv: forward + input gradient alone, ms each side, direct-conv flops, its path, and the ms
    of `step` (the whole dream step at this size, a function of no arguments) timed alternating with the
    layer, or None without it: the step beside each layer, so that a machine slower for a while slows
    both sides of the step-vs-convolutions ratio alike."""
    shapes = net.shapes(size, size)
    rows = []
    for layer in net.layers:
        if layer["kind"] != "conv":
            continue
        hp, p = layer["hp"], net.params[layer["name"]]
        C, H, W = shapes[layer["inputs"][0]]
        K, Ho, Wo = shapes[layer["name"]]
        x = np.random.default_rng(2).standard_normal((1, C, H, W)).astype(np.float32)
        dy = np.random.default_rng(3).standard_normal((1, K, Ho, Wo)).astype(np.float32)

        runs = [conv_step(x, p["weight"], p.get("bias"), layer, dy)]
        runs += [rival.conv(x, p["weight"], p.get("bias"), hp, dy)] if rival else []
        ms = time_steps(runs + ([step] if step else []), repeat)
        flops = 2 * 2 * K * (C // hp["groups"]) * hp["kernel"][0] * hp["kernel"][1] * Ho * Wo  # forward + dx
        shape = f"{C}->{K} {hp['kernel'][0]}x{hp['kernel'][1]} {H}x{W}"
        beside = ms.pop() if step else None
        rows.append((layer["name"], shape, conv.path(layer["geo"], C, K), ms, flops, beside))
    return rows


# ---- tiling ----------------------------------------------------------------------------------------
def tiling_times(net, target, size, repeat):
    """ms of one layer-objective gradient of a size x size picture: untiled, then in tiles of size/2 with
    the default margin and with an exact one (one receptive field). Returns [(label, margin, ms), ...]."""
    objective = build_objective(net, [(target, 1.0)], size, size)
    x = bench_input(size)
    tile, step = size // 2, jump(net, [target])
    margins = [("default", default_margin(net, [target], tile)), ("exact", exact_margin(net, [target]))]
    runs = [lambda: gradient(net, x, objective)]
    runs += [
        lambda m=m: Tiler(tile, m, np.random.default_rng(0), step=step).gradient(net, x, objective)
        for _, m in margins
    ]
    ms = time_steps(runs, repeat)
    return [("untiled", None, ms[0])] + [(label, m, t) for (label, m), t in zip(margins, ms[1:])]


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


# ---- the tables ------------------------------------------------------------------------------------
def step_columns(rival=None):
    """(title, width, format) of each column of the step table."""
    cols = [("net", 10, "s"), ("size", 5, "d"), ("ms sd", 9, ".1f")]
    if rival:
        cols += [(f"ms {rival.name}", 9, ".1f"), ("ratio", 6, ".2f")]
    return cols + [("MB sd", 8, ".0f")] + ([(f"MB {rival.name}", 8, ".0f")] if rival else [])


def step_times(net, target, size, repeat, rival=None, twin=None, cpu=None):
    """{"ms sd": .., "ms <rival>": .., "ratio": ..}: warm ms of one dream step, the two alternating; cpu (a
    CpuUse) adds up scratchdream's steps' user and sys time."""
    x = bench_input(size)
    mine = lambda: sd_step(net, target, x)  # noqa: E731
    runs = [cpu.counted(mine) if cpu else mine] + ([rival.step(twin, x)] if rival else [])
    ms = time_steps(runs, repeat)
    return {"ms sd": ms[0]} | ({f"ms {rival.name}": ms[1], "ratio": ms[0] / ms[1]} if rival else {})


def step_memory(name, size, threads, rival=None):
    """{"MB sd": .., "MB <rival>": ..}: what two steps need, each measured in a fresh process."""
    mb = {"MB sd": peak_mb(name, size, threads)}
    return mb | ({f"MB {rival.name}": rival.peak_mb(name, size, threads)} if rival else {})


def print_scaling(rows):
    """Time over pixel count from the smallest to the largest size, per net, for every framework."""
    for name in dict.fromkeys(r["net"] for r in rows):
        mine = sorted((r for r in rows if r["net"] == name), key=lambda r: r["size"])
        if len(mine) < 2:
            continue
        a, b = mine[0], mine[-1]
        parts = [
            f"{'scratchdream' if col == 'ms sd' else col[3:]} x{b[col] / a[col]:.1f}"
            for col in a
            if col.startswith("ms ") and np.isfinite(b[col])
        ]
        print(
            f"scaling {name} {a['size']} -> {b['size']} px (x{(b['size'] / a['size']) ** 2:.1f} the pixels): "
            + ", ".join(parts)
        )


def print_conv_table(name, net, layer_size, repeat, rival, peak, step=None):
    """Every conv layer of the net alone at layer_size px: ms, GFLOP/s and the share of sgemm's speed
    (peak GFLOP/s, print_machine's: NumPy's sgemm on as many threads as the layers run, measured before
    any step; until blas.one_thread_each, a step left NumPy's BLAS on one thread and a ceiling measured
    here read half).
    Returns the rows: (layer, shape, path, [ms sd, ms rival], flops, %sgemm, ms of `step` beside it)."""
    other = f" {'ms ' + rival.name:>8s} {'ratio':>6s}" if rival else ""
    title = (
        f"{name} conv layers at {layer_size}px, forward + input gradient (sgemm ceiling {peak:.0f} GFLOP/s):"
    )
    print("\n" + title)
    print(f"{'layer':28s} {'shape':24s} {'path':8s} {'ms sd':>8s}{other} {'GF/s':>6s} {'%sgemm':>6s}")
    rows = []
    for lname, shape, path, ms, flops, beside in conv_layer_rows(net, layer_size, repeat, rival, step):
        gf = flops / ms[0] / 1e6
        theirs = f" {ms[1]:8.2f} {ms[0] / ms[1]:6.2f}" if rival else ""
        print(f"{lname:28s} {shape:24s} {path:8s} {ms[0]:8.2f}{theirs} {gf:6.1f} {100 * gf / peak:5.0f}%")
        rows.append((lname, shape, path, ms, flops, 100 * gf / peak, beside))
    return rows


def conv_figures(name, conv_rows):
    """bench_targets' figures of one net's per-layer table, and the step-vs-sum-of-convolutions line.

    Each layer's ms is put over the step's ms timed beside it (the rows' last field), so the ratio is
    step / convolutions = 1 / sum(layer / step beside it); the line shows the median step and the
    convolutions summed at that scale."""
    step_ms = statistics.median(r[6] for r in conv_rows)
    share = sum(r[3][0] / r[6] for r in conv_rows)  # the convolutions' part of one step
    convs = share * step_ms
    figures = {f"step/convs {name}": 1 / share, f"first conv {name}": conv_rows[0][5]}
    five = [r[3][0] / r[3][1] for r in conv_rows if " 5x5 " in r[1] and len(r[3]) > 1]
    if five:
        figures[f"5x5 {name}"] = max(five)
    line = (
        f"whole step vs sum of its convolutions, {name}: step {step_ms:.1f} ms (median, timed beside each "
        f"layer), {len(conv_rows)} convolutions {convs:.1f} ms, x{step_ms / convs:.2f} "
        f"(the rest: {step_ms - convs:.1f} ms)"
    )
    return figures, line


def _ints(text, what):
    try:
        return [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--{what} takes comma-separated integers, e.g. 224,512; got {text!r}") from None


def print_machine(threads, rival, compile_probe):
    """The first lines: threads, how BLAS runs, the load, the clock, sgemm's speed, Numba's compile time.
    Returns sgemm's GFLOP/s (on `threads` threads, before any step)."""
    products = "inside Numba threads (OpenBLAS sgemm, 1 thread each)" if _blas.SGEMM else "by NumPy"
    clock = "CPU time of the process" if CLOCK is time.process_time else "wall"
    print(
        f"scratchdream bench: {threads} threads (Numba, BLAS{', ' + rival.name if rival else ''}); "
        f"BLAS products {products}; load average {os.getloadavg()[0]:.1f}; clock: {clock}"
    )
    peak = sgemm_gflops()
    print(f"sgemm (NumPy's BLAS, {threads} threads, 2048^3): {peak:.1f} GFLOP/s")
    if compile_probe:
        print(
            f"Numba first-step overhead: {compile_seconds(True):.1f} s compiling (empty cache), "
            f"{compile_seconds(False):.2f} s loading the on-disk cache"
        )
    return peak


def print_step_table(nets, sizes, repeat, threads, memory, rival, cpu=None):
    """One row per net and size, printed as it is measured; returns the rows."""
    cols = step_columns(rival)
    head = " ".join(f"{t:<{w}}" if t == "net" else f"{t:>{w}}" for t, w, _ in cols)
    print(head + "\n" + "-" * len(head))
    rows = []
    for name in nets:
        net, target = build_sd(name)
        twin = rival.build(net, target) if rival else None
        for size in sizes:
            row = {"net": name, "size": size} | step_times(net, target, size, repeat, rival, twin, cpu)
            rows.append(row | (step_memory(name, size, threads, rival) if memory else {}))
            print(" ".join(f"{rows[-1].get(t, np.nan):{w}{f}}" for t, w, f in cols), flush=True)
    if memory:
        print(
            "MB: peak resident set of a fresh process during two steps, "
            "over its size once the net is built (VmHWM delta)"
        )
    return rows


def run(args, rival=None):
    """The whole bench for the parsed `scratchdream bench` options; with a rival, its columns beside ours."""
    global CLOCK
    nets = [n.strip() for n in args.nets.split(",") if n.strip()]
    sizes = _ints(args.sizes, "sizes")
    repeat = max(1, int(args.repeat))
    threads = int(getattr(args, "threads", 0) or 0) or os.cpu_count() or 1
    layer_size = int(getattr(args, "layer_size", 0) or 0)
    CLOCK = time.process_time if getattr(args, "clock", "wall") == "cpu" else time.perf_counter
    for n in nets:
        bench_spec(n)  # unknown names fail before any timing
    set_threads(threads)
    if rival:
        rival.set_threads(threads)
    peak = print_machine(threads, rival, getattr(args, "compile", True))
    memory = not getattr(args, "no_memory", False)
    cpu = CpuUse()
    rows = print_step_table(nets, sizes, repeat, threads, memory, rival, cpu)
    print_scaling(rows)
    measured = step_figures(rows, rival) | {"sys/user": cpu.sys_percent()}
    print(cpu.line())
    if getattr(args, "tiling", True) and max(sizes) >= 2:
        print_tiling(nets, max(sizes), repeat)
    lines = []
    for name in nets if layer_size else []:
        net, target = build_sd(name)
        step = functools.partial(sd_step, net, target, bench_input(layer_size))
        conv_rows = print_conv_table(name, net, layer_size, repeat, rival, peak, step)
        figures, line = conv_figures(name, conv_rows)
        measured |= figures
        lines.append(line)
    print("\n" + "\n".join(lines) if lines else "")
    reasons = {}
    if getattr(args, "dreams", False):  # last: nothing else of the bench runs beside them
        figures = bench_dreams.measure(random_params)
        print(bench_dreams.line(figures))
        measured |= figures
    else:
        reasons = {key: "--no-dreams" for key in (bench_dreams.COLD, bench_dreams.BIG)}
    print(bench_targets.table(measured, torch=rival is not None, reasons=reasons))
    if not rival:
        print(TORCH_NOTE)
    return 0


def step_figures(rows, rival):
    """bench_targets' figures of the step table: time and memory against the rival, per net and size."""
    if not rival:
        return {}
    out = {}
    for r in rows:
        out[f"ratio {r['net']} {r['size']}"] = r["ratio"]
        if f"MB {rival.name}" in r:
            out[f"memory {r['net']} {r['size']}"] = r["MB sd"] / r[f"MB {rival.name}"]
    return out


def cmd_bench(args):
    """`scratchdream bench`: scratchdream's own times and memory; `make bench` adds PyTorch's."""
    return run(args)

"""Issue 18's targets as data, and the table `make bench` ends with: each met or not, beside its figure.

A target names the figure it judges by a key of the `measured` dict that bench.run fills (a figure it did
not measure, such as a size not asked for or torch's columns under plain `scratchdream bench`, leaves the
target "not measured"):
    ratio NET SIZE        whole step, scratchdream ms / torch ms
    memory NET SIZE       peak MB of two steps, scratchdream / torch
    step/convs NET SIZE   whole step ms / the sum of its convolutions' ms (the per-layer table's size)
    sys/user              kernel CPU time over user CPU time during scratchdream's timed steps
    5x5 NET               the slowest 5x5 convolution, scratchdream ms / torch ms
    first conv NET        the 3-channel first convolution's share of the sgemm rate
    cold first dream      s to the first step of a 320x240 toyworld dream on an empty Numba cache
    dream 1024x768        s of `make dream` with the defaults on a 1024x768 photo, GoogLeNet's architecture
Without torch (`scratchdream bench`) the targets against it are left out. The last two need a fresh
process each: bench_dreams.py runs them (unless --no-dreams, then "not measured (--no-dreams)").
"""

import math
import operator
from dataclasses import dataclass

NETS = ("googlenet", "vgg16")
SIZES = (224, 512, 1024)
COMPARE = {"<=": operator.le, ">=": operator.ge, "<": operator.lt}


@dataclass(frozen=True)
class Target:
    name: str  # what is held, in words
    key: str  # the measured figure it judges
    op: str  # a key of COMPARE: figure op threshold means met
    threshold: float
    unit: str = "x"  # how figure and threshold print: "x" ratio, "%", "s"
    torch: bool = False  # judged against PyTorch: only `make bench` (benchmarks/torch_compare.py) has it


def _step_vs_torch(size):
    return 0.7 if size <= 224 else 0.5


TARGETS = (
    [
        Target(
            f"whole step vs torch, {net} {size} px",
            f"ratio {net} {size}",
            "<=",
            _step_vs_torch(size),
            torch=True,
        )
        for net in NETS
        for size in SIZES
    ]
    + [Target(f"step vs its convolutions, {net}", f"step/convs {net}", "<=", 1.10) for net in NETS]
    + [Target("sys time, share of user time", "sys/user", "<=", 5.0, "%")]
    + [Target("5x5 convolutions vs torch, googlenet", "5x5 googlenet", "<=", 1.0, torch=True)]
    + [Target(f"3-channel first conv, {net}, of sgemm", f"first conv {net}", ">=", 60.0, "%") for net in NETS]
    + [
        Target(f"peak memory vs torch, {net} {size} px", f"memory {net} {size}", "<", 1.0, torch=True)
        for net in NETS
        for size in SIZES
    ]
    + [Target("cold first dream, toyworld 320x240", "cold first dream", "<=", 15.0, "s")]
    + [Target("make dream 1024x768, googlenet defaults", "dream 1024x768", "<", 15.0, "s")]
)


def _shown(value, unit):
    return {"x": f"{value:.2f}x", "%": f"{value:.1f}%", "s": f"{value:.1f} s"}[unit]


def verdict(target, measured):
    """ "met", "not met" or "not measured" (no figure, or nan: a probe that failed)."""
    value = measured.get(target.key)
    if value is None or not math.isfinite(value):
        return "not measured"
    return "met" if COMPARE[target.op](value, target.threshold) else "not met"


def rows(measured, targets=TARGETS):
    """[(target's name, "op threshold", the figure or "-", verdict)] for the measured figures {key: value}."""
    out = []
    for t in targets:
        v = verdict(t, measured)
        figure = "-" if v == "not measured" else _shown(measured[t.key], t.unit)
        out.append((t.name, f"{t.op} {_shown(t.threshold, t.unit)}", figure, v))
    return out


def table(measured, targets=TARGETS, torch=True, reasons=None):
    """The printed table, one line per target (without torch: only those not judged against it), then how
    many are met. reasons: {key: why} printed after "not measured", e.g. the option that skipped it."""
    targets = [t for t in targets if torch or not t.torch]
    why = {t.name: f" ({(reasons or {})[t.key]})" for t in targets if t.key in (reasons or {})}
    lines = [f"{'issue 18 target':44s} {'target':>9s} {'measured':>9s}  verdict", "-" * 76]
    found = rows(measured, targets)
    lines += [
        f"{name:44s} {goal:>9s} {figure:>9s}  {v}{why.get(name, '') if v == 'not measured' else ''}"
        for name, goal, figure, v in found
    ]
    counts = {v: sum(r[3] == v for r in found) for v in ("met", "not met", "not measured")}
    lines.append(", ".join(f"{n} {v}" for v, n in counts.items()))
    return "\n".join(lines)

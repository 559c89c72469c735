"""The estimate `scratchdream dream` prints before its first step, against the measured dream.

    .venv/bin/python benchmarks/estimate_vs_measured.py               # the table of docs/performance.md
    .venv/bin/python benchmarks/estimate_vs_measured.py --check 4     # CI: exit 1 unless every ratio is
                                                                      # within 4x (.ci/run)

For toyworld and random-weight nets in the zoo's GoogLeNet and VGG16 architectures (cut after their dream
layers: tests/shaped_nets.py), in one process and in this order:
    1. one small dream on each net: every kernel the dreams run is compiled (or loaded from Numba's cache)
       here, so no measured run and no calibration below counts compiling (a fresh clone compiles for
       about a minute)
    2. the cost model, calibrated now (nets/cost.py), on warm kernels
    3. each dream of 2 octaves x 3 steps: the estimate (deepdream/budget.py: CPU seconds) against the
       least CPU time of REPEATS runs, the statistic the calibration keeps for its own passes
Why the least CPU time and not one run's: while Numba's OpenMP threads waited for each other by spinning,
on a busy machine a thread that waited for a core burned CPU time: a winograd pass that takes 2 ms of CPU
at rest measured 20-250 ms in other runs of the same process (docs/performance.md). `import scratchdream`
now makes them wait passively (OMP_WAIT_POLICY=PASSIVE), and a process's dreams then vary by a few
percent; both sides taken as the least of a few runs still compare the machine at rest with itself.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

from dream_pictures import sky  # noqa: E402 (the tests' helpers, found through the path above)
from shaped_nets import zoo_shaped  # noqa: E402

import scratchdream as sd  # noqa: E402
from scratchdream.deepdream import budget, defaults  # noqa: E402
from scratchdream.deepdream.options import DreamOptions  # noqa: E402
from scratchdream.nets import cost  # noqa: E402

NETS = {
    "toyworld": lambda: sd.load_net("toyworld"),
    "googlenet-shaped (to inception_4c/output)": lambda: zoo_shaped("googlenet", "inception_4c/output"),
    "vgg16-shaped (to conv4_3)": lambda: zoo_shaped("vgg16", "conv4_3"),
}
CHECKED = ("toyworld", "googlenet-shaped (to inception_4c/output)")  # --check: the two quicker nets
SETTINGS = {"octaves": 2, "steps": 3, "seed": 0}
REPEATS = 3


def least_cpu(fn, repeats=REPEATS):
    """(least CPU seconds, least wall-clock seconds) of fn() over `repeats` runs (CPU: every thread)."""
    cpu, wall = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(cpu), min(wall)


def measure(names, sizes, repeats=REPEATS):
    """(net name, side, Budget, least CPU s, least wall-clock s) of each net and size in turn: 1-3 above."""
    nets = {name: NETS[name]() for name in names}
    t0 = time.perf_counter()
    for net in nets.values():  # 1. compile (or load) every kernel the dreams use
        sd.dream(net, sky(96, 96, seed=1), progress=False, octaves=2, steps=1)
    print(f"kernels ready in {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    model = cost.calibrate()  # 2. on warm kernels
    print(f"calibrated in {time.perf_counter() - t0:.1f} s, a call {model['call'] * 1e3:.2g} ms", flush=True)
    for name, net in nets.items():  # 3.
        for side in sizes:
            options = defaults.for_net(net, DreamOptions(**SETTINGS), SETTINGS)  # what sd.dream will run
            guess = budget.estimate(net, options, side, side, model)
            img = sky(side, side, seed=1)
            cpu, wall = least_cpu(lambda n=net, i=img: sd.dream(n, i, progress=False, **SETTINGS), repeats)
            yield name, side, guess, cpu, wall


def table(sizes=(128, 256)):
    """The Markdown table of docs/performance.md."""
    print("| net | picture | estimate | measured | CPU estimate | CPU measured | CPU measured / estimate |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, side, guess, cpu, wall in measure(list(NETS), sizes):
        c = guess.cpu_seconds
        print(
            f"| {name} | {side}x{side} | {guess.seconds:.1f} s | {wall:.1f} s | {c:.2f} s | {cpu:.2f} s "
            f"| {cpu / c:.2f} |",
            flush=True,
        )


def check(factor, sizes=(96, 160)):
    """0 when every dream's least CPU time is within `factor` of its estimate, else 1 (one line each)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"estimate against measured, within {factor:g}x (load average {load:.1f})", flush=True)
    outside = []
    for name, side, guess, cpu, _ in measure(CHECKED, sizes):
        ratio = cpu / guess.cpu_seconds
        ok = 1 / factor <= ratio <= factor
        print(f"{'ok' if ok else 'OUTSIDE'}: {name} {side}x{side}: estimate {guess.cpu_seconds:.3f} s, "
              f"measured {cpu:.3f} s of CPU, measured/estimate {ratio:.2f}", flush=True)  # fmt: skip
        if not ok:
            outside.append(f"{name} {side}x{side} ({ratio:.2f})")
    if outside:
        print(f"estimate_vs_measured: outside {factor:g}x: {', '.join(outside)}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--check",
        type=float,
        metavar="FACTOR",
        help="exit 1 unless measured/estimate is within [1/FACTOR, FACTOR] for every dream (default: none, "
        "print the table)",
    )
    args = p.parse_args(argv)
    if args.check is not None:
        if not args.check > 1:
            p.error(f"--check {args.check:g}: the factor must be above 1, e.g. --check 8")
        return check(args.check)
    table()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where does a dream step's time go? Per layer kind (conv, relu, maxpool, lrn, concat), forward and backward.

    .venv/bin/python benchmarks/profile_step.py --net googlenet --size 512 --repeat 3

Wraps every entry of scratchdream.layers.KINDS with a timer, runs warm dream steps (forward to the bench
layer, L = ½‖h‖², backward to the pixels) and prints milliseconds per kind and direction (median over steps),
plus the time spent outside the layers (the graph walk, gradient sums).
"""

import argparse
import collections
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from scratchdream import bench  # noqa: E402
from scratchdream.layers import KINDS, Kind  # noqa: E402


def _timed(kind, direction, fn, sink):
    def run(*args):
        t = bench.CLOCK()
        out = fn(*args)
        sink[(kind, direction)] += bench.CLOCK() - t
        return out

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", default="googlenet", choices=sorted(bench.TARGETS))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: CPU seconds of the process (steady on a busy machine with --threads 1)",
    )
    args = ap.parse_args()
    if args.clock == "cpu":
        bench.CLOCK = time.process_time
    if args.threads:
        bench.set_threads(args.threads)
    net, target = bench.build_sd(args.net)
    x = np.random.default_rng(1).standard_normal((1, 3, args.size, args.size)).astype(np.float32)
    bench.sd_step(net, target, x)  # warm: compile, transform weights
    sink = collections.Counter()
    saved = dict(KINDS)
    for name, k in saved.items():
        KINDS[name] = Kind(
            _timed(name, "fwd", k.forward, sink), _timed(name, "bwd", k.backward, sink), k.shape, k.params
        )
    per_step, totals = [], []
    try:
        for _ in range(args.repeat):
            sink.clear()
            t = bench.CLOCK()
            bench.sd_step(net, target, x)
            totals.append(bench.CLOCK() - t)
            per_step.append(dict(sink))
    finally:
        KINDS.update(saved)
    keys = sorted(
        {k for s in per_step for k in s}, key=lambda k: -statistics.median(s.get(k, 0) for s in per_step)
    )
    total = statistics.median(totals) * 1e3
    print(
        f"{args.net} {args.size}px: dream step {total:.1f} ms (median of {args.repeat}, {args.clock} clock)"
    )
    inside = 0.0
    for k in keys:
        ms = statistics.median(s.get(k, 0) for s in per_step) * 1e3
        inside += ms
        print(f"  {k[0]:10s} {k[1]}  {ms:9.1f} ms  {100 * ms / total:5.1f}%")
    outside = total - inside
    print(f"  {'graph':10s} --   {outside:9.1f} ms  {100 * outside / total:5.1f}%   (outside the layers)")


if __name__ == "__main__":
    main()

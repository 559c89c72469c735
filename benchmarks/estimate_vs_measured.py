"""The estimate `scratchdream dream` prints before its first step, against the measured dream.

    .venv/bin/python benchmarks/estimate_vs_measured.py     # prints the table of docs/performance.md

Calibrates the cost model once (nets/cost.py), then for toyworld and random-weight nets in the zoo's
GoogLeNet and VGG16 architectures (cut after their dream layers: tests/shaped_nets.py) dreams 2 octaves x
3 steps at two sizes and prints the estimate (deepdream/budget.py: wall-clock at rest, and CPU time), the
measured wall-clock and CPU times, as a Markdown table.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

from dream_pictures import sky  # noqa: E402 (the tests' helpers, found through the path above)
from shaped_nets import zoo_shaped  # noqa: E402

import scratchdream as sd  # noqa: E402
from scratchdream.deepdream import budget  # noqa: E402
from scratchdream.deepdream.options import DreamOptions  # noqa: E402
from scratchdream.nets import cost  # noqa: E402

NETS = {
    "toyworld": lambda: sd.load_net("toyworld"),
    "googlenet-shaped (to inception_4c/output)": lambda: zoo_shaped("googlenet", "inception_4c/output"),
    "vgg16-shaped (to conv4_3)": lambda: zoo_shaped("vgg16", "conv4_3"),
}


def main(sizes=(128, 256), settings=None):
    settings = settings or {"octaves": 2, "steps": 3}
    t0 = time.perf_counter()
    model = cost.calibrate()
    print(f"calibrated in {time.perf_counter() - t0:.1f} s, a call {model['call'] * 1e3:.2g} ms", flush=True)
    print("| net | picture | estimate | measured | CPU estimate | CPU measured | CPU measured / estimate |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, make in NETS.items():
        net = make()
        sd.dream(net, sky(96, 96, seed=1), progress=False, octaves=1, steps=1)  # compile the kernels first
        for side in sizes:
            guess = budget.estimate(net, DreamOptions(**settings), side, side, model)
            t0, c0 = time.perf_counter(), time.process_time()
            sd.dream(net, sky(side, side, seed=1), progress=False, **settings)
            took, cpu = time.perf_counter() - t0, time.process_time() - c0
            c = guess.cpu_seconds
            print(
                f"| {name} | {side}x{side} | {guess.seconds:.1f} s | {took:.1f} s | {c:.1f} s | {cpu:.1f} s "
                f"| {cpu / c:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

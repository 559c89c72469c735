"""The survey's time against one default dream, on the same net and picture (the README's figures).

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/survey_time.py [--net googlenet] [--size 480x640]

The net is the zoo's architecture with random weights (what it computes does not change its time), or
toyworld; the picture is a plain generated sky. Prints the wall and CPU time of `sd.dream` with its
defaults (4 octaves x 10 steps) and of `scratchdream survey` with its defaults (the dreams and the sheet),
their ratio, and the ratio the cost model (deepdream/survey.py `work`) predicted. One Numba thread
measures the work itself; with more threads on a busy machine, small cells pay more for waking the
threads of every layer than large pictures do.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout first

import scratchdream as sd  # noqa: E402
from scratchdream.cli.survey import survey_sheet  # noqa: E402
from scratchdream.deepdream.survey import STEPS, dream_work, survey, trunk_layers, work  # noqa: E402
from scratchdream.nets import zoo  # noqa: E402
from scratchdream.toyworld import scenes  # noqa: E402
from scratchdream.toyworld.train import init_params  # noqa: E402


def timed(fn):
    """(result, wall seconds, CPU seconds of this process)."""
    c, t = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--net", default="googlenet", help="a zoo name (random weights) or toyworld")
    p.add_argument("--size", default="480x640", help="HxW of the sky")
    args = p.parse_args(argv)
    if args.net == "toyworld":
        net = sd.load_net("toyworld")
    else:
        spec = zoo.spec_for(args.net)
        net = sd.Net(spec, init_params(spec, np.random.default_rng(0)))
    H, W = (int(v) for v in args.size.split("x"))
    img = scenes.plain_background("sky", size=H, width=W, seed=0)
    sd.dream(net, img[:64, :64], octaves=1, steps=1, progress=False)  # compile the kernels first
    _, dream_wall, dream_cpu = timed(lambda: sd.dream(net, img, progress=False))
    (small, cells), wall, cpu = timed(lambda: survey(net, img))
    _, sheet_wall, sheet_cpu = timed(lambda: survey_sheet(net, small, cells, "sky"))
    wall, cpu = wall + sheet_wall, cpu + sheet_cpu
    h, w = small.shape[:2]
    model = sum(STEPS * work(net, layer, h, w) for layer in trunk_layers(net)) / dream_work(net, H, W)
    print(
        f"{args.net} {W}x{H}: dream {dream_wall:.1f} s (CPU {dream_cpu:.1f} s); "
        f"survey of {len(cells)} cells at {w}x{h} {wall:.1f} s (CPU {cpu:.1f} s); "
        f"ratio {wall / dream_wall:.2f} (CPU {cpu / dream_cpu:.2f}), "
        f"cost model {model:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

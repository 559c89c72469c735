"""`scratchdream calibrate`: measure this machine's per-layer cost model now and cache it (nets/cost.py).

`scratchdream dream` does it by itself on first use; run it again after changing the machine's load, the
thread count (NUMBA_NUM_THREADS) or the kernel set, or to see the rates.
"""

import sys
import time

from ..nets import cost
from .common import summary
from .flags import command


def add_parser(subs):
    command(
        subs,
        "calibrate",
        "measure this machine's speed per layer kind (a few seconds) for the estimate before each dream",
        "scratchdream calibrate",
    )


def run(args):
    t0 = time.perf_counter()
    model = cost.calibrate(progress=lambda key: print(f"scratchdream: measuring {key}", file=sys.stderr))
    path = cost.save(model)
    m = model["machine"]
    print(f"{'layer kind':<14}  per unit of work")
    for key, rate in model["rates"].items():
        unit = "MAC" if key.startswith("conv") or key == "linear" else "value"
        print(f"{key:<14}  {rate * 1e9:>10.3f} ns/{unit}")
    print(f"{'every call':<14}  {model['call'] * 1e3:>10.3f} ms")
    summary(
        f"calibrated {m['cpu']}, {m['threads']} threads, {m['kernels']} kernels in "
        f"{time.perf_counter() - t0:.1f} s -> {path}"
    )
    return 0

"""`scratchdream bench`: time one dream step against PyTorch on this CPU (the work is scratchdream.bench's).

The ranges: sizes from 32 px (GoogLeNet needs 23 to reach inception_4c) to 2048 px (VGG16 there already
needs several GB), threads up to what Numba can run here, repeats up to 1000.
"""

import argparse

from .flags import command, cores, whole, wholes

MIN_SIDE, MAX_SIDE = 32, 2048


def add_parser(subs):
    p = command(
        subs, "bench", "time one dream step against PyTorch on this CPU", "scratchdream bench --sizes 224,512"
    )
    p.add_argument("--nets", default="googlenet,vgg16", help="comma-separated nets (default %(default)s)")
    p.add_argument(
        "--sizes",
        default="224,512,1024",
        type=wholes(MIN_SIDE, MAX_SIDE, "pixels a side"),
        help=f"comma-separated image sizes, {MIN_SIDE} to {MAX_SIDE} px (default %(default)s)",
    )
    p.add_argument(
        "--repeat",
        type=whole(1, 1000, "timed steps per size"),
        default=5,
        help="timed steps per size, median taken (default %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=whole(0, cores(), "threads, 0 = all cores"),
        default=0,
        help="threads for Numba, BLAS and torch (default %(default)s: all cores)",
    )
    p.add_argument(
        "--layer-size",
        type=_layer_size,
        default=224,
        help=f"image size of the per-conv-layer table, {MIN_SIDE} to {MAX_SIDE} px, 0: skip it "
        "(default %(default)s)",
    )
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument(
        "--no-compile", dest="compile", action="store_false", help="skip the Numba compile-time probe"
    )
    p.add_argument(
        "--no-dreams",
        dest="dreams",
        action="store_false",
        help="skip the two fresh-process dreams of issue 18's targets (a cold toyworld 320x240 dream on "
        "empty caches, timed to its first step, and `make dream` on a 1024x768 picture with GoogLeNet: "
        "about a minute together)",
    )
    p.add_argument(
        "--no-tiling",
        dest="tiling",
        action="store_false",
        help="skip the tiling rows (the largest size untiled vs in tiles of half that size, "
        "scratchdream only)",
    )
    p.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall time (default), or CPU time of the process: fair on a busy machine with --threads 1",
    )


def _layer_size(text):
    """argparse type for --layer-size: 0 (no table), or a side from MIN_SIDE to MAX_SIDE."""
    if text.strip() == "0":
        return 0
    try:
        return whole(MIN_SIDE, MAX_SIDE, "pixels a side")(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be 0 (no table) or a whole number from {MIN_SIDE} to {MAX_SIDE} (pixels a side), "
            f"got {text!r}"
        ) from None


def run(args):
    # imported here, not at the top: the bench loads Numba and its kernels, which every other command's
    # start-up (and the NUMBA_NUM_THREADS check in cli.main, which must come first) should not pay for
    from .. import bench

    return bench.cmd_bench(args)

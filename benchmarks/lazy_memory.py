"""Peak memory of a VGG16 dream at conv4_3, parameters read eagerly vs lazily (nets/lazy_params.py).

    python benchmarks/lazy_memory.py [--size 451x300] [--steps 2] [--octaves 4] [--tile 1024] [--only cli]

Writes a random-weight VGG16 weights file (138 M parameters, 553 MB) to a temporary folder, then dreams
on a WxH picture in fresh processes and prints each child's peak resident memory (VmHWM, read by the
child itself at its end: ru_maxrss would carry the parent's over a fork), in MiB and in MB:
    eager   sd.dream on a Net whose parameters were all read at once
    lazy    sd.dream on a Net that reads a layer's parameters when a forward first needs them
    cli     `scratchdream dream picture.png --net vgg16_random.h5 --layer conv4_3 ...`, what a user runs
            (lazy, plus the picture read and the result written)
The largest octave sets the peak, so a few steps per octave measure the same peak as the default ten.
"""

import argparse
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import sys
import numpy as np
import scratchdream as sd
from scratchdream import weights_io
from scratchdream.nets.graph import Net

path, W, H, steps, octaves, tile, lazy = sys.argv[1], *map(int, sys.argv[2:7]), sys.argv[7] == "lazy"
spec, params = weights_io.read_spec_and_params(path, lazy=lazy)
net = Net(spec, params)
img = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
sd.dream(net, img, layers="conv4_3", steps=steps, octaves=octaves, tile=tile, progress=False)
with open("/proc/self/status") as f:
    peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
print(peak * 1024)
"""


CLI_CHILD = r"""
import sys
from scratchdream.cli import main

code = main(sys.argv[1:])
with open("/proc/self/status") as f:
    peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
print(peak * 1024)
sys.exit(code)
"""


def cli_args(folder, path, W, H, steps, octaves, tile):
    """`scratchdream dream` on a random WxH picture written into `folder`, with the random VGG16 file."""
    import numpy as np
    from PIL import Image

    picture = os.path.join(folder, "picture.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)).save(picture)
    out = os.path.join(folder, "picture_dream.png")
    return ["dream", picture, "--net", path, "--layer", "conv4_3", "--steps", steps, "--octaves", octaves,
            "-o", out, "--force"] + (["--tile", tile] if tile else [])  # fmt: skip


def random_vgg16(path):
    import numpy as np

    import scratchdream as sd
    from scratchdream.nets.graph import Net
    from scratchdream.nets.zoo import spec_for

    net = Net(spec_for("vgg16"))
    rng = np.random.default_rng(0)
    params = {}
    for layer, shapes in net.param_shapes.items():
        if shapes:
            w = shapes["weight"]
            fan_in = int(np.prod(w[1:]))
            params[layer] = {
                "weight": (rng.standard_normal(w, dtype=np.float32) * np.float32((2 / fan_in) ** 0.5)),
                "bias": np.zeros(shapes["bias"], np.float32),
            }
    net.set_params(params)
    sd.save_net(net, path)


WAYS = ("eager", "lazy", "cli")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="451x300", help="picture W x H (default %(default)s)")
    ap.add_argument("--steps", type=int, default=2, help="steps per octave (default %(default)s)")
    ap.add_argument("--octaves", type=int, default=4, help="octaves (default %(default)s)")
    ap.add_argument(
        "--tile", type=int, default=1024, help="dream's tile size, 0 for none (default %(default)s)"
    )
    ap.add_argument("--only", choices=WAYS, help="measure one way only (default: all three)")
    ap.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="cli: pass --max-memory SIZE (which also gives freed pages back after big layers; default none)",
    )
    args = ap.parse_args()
    W, H = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "vgg16_random.h5")
        random_vgg16(path)
        for how in [args.only] if args.only else WAYS:
            if how == "cli":
                child = [CLI_CHILD, *cli_args(d, path, W, H, args.steps, args.octaves, args.tile)]
                child += ["--max-memory", args.max_memory] if args.max_memory else []
            else:
                child = [CHILD, path, W, H, args.steps, args.octaves, args.tile, how]
            out = subprocess.run([sys.executable, "-c", *map(str, child)], capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"lazy_memory: the {how} dream failed: {out.stderr.strip().splitlines()[-1]}")
            peak = int(out.stdout.split()[-1])
            print(
                f"VGG16 dream at conv4_3 on {W}x{H}, tile {args.tile}, {how}"
                + (f" --max-memory {args.max_memory}" if how == "cli" and args.max_memory else "")
                + ": "
                f"peak RSS {peak / 2**20:.0f} MiB ({peak / 1e6:.0f} MB)"
            )


if __name__ == "__main__":
    main()

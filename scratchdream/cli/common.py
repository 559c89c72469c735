"""What dream, lecture and zoom share: their common options, the net they load, the closing summary.

The defaults that differ between the three (steps, octaves) are arguments here, given by each command's
add_parser; every other default is written once below, and shown by its help through %(default)s.
"""

import os
import sys

import scratchdream as sd

from ..deepdream.options import RANGES, DreamOptions
from ..errors import UserError, WordedError
from ..image_io import note, output_format, save_image
from ..nets import zoo
from .flags import Given, margin


def add_net_options(p, steps, suffix):
    """Options of dream, lecture and zoom: the net, its layer and unit, steps, seed, output (`suffix`: the
    default output's, e.g. _dream.png). The lecture rewords some of them (cli/lecture.py)."""
    p.add_argument("image", help="the picture to dream on (PNG, JPEG, GIF, ...)")
    p.add_argument(
        "--net",
        default="googlenet",
        help="zoo name or weights .h5 file (default: %(default)s; toyworld works offline)",
    )
    p.add_argument(
        "--layer",
        action="append",
        metavar="NAME[:WEIGHT]",
        help="layer to amplify, repeatable with weights (default: the net's suggested layer)",
    )
    p.add_argument(
        "--channel",
        type=int,
        help="amplify one channel of the layer, the mean of its squares (default: the whole layer)",
    )
    p.add_argument(
        "--neuron",
        metavar="C,Y,X",
        help="amplify one neuron h_ij of the layer, slide 34 (default: the whole layer)",
    )
    number(p, "--steps", int, steps, "gradient-ascent steps per octave")
    p.add_argument(
        "--step-size",
        action=Given,
        type=float,
        default=1.5,
        help=f"step size: mean pixel change per step in grey levels, {span('step_size')} (default "
        "%(default)s, as the original notebook)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        action=Given,
        help="random seed >= 0: same seed, same bytes (default %(default)s)",
    )
    p.add_argument(
        "-o",
        "--output",
        help=f"output (default beside the input: INPUT{suffix}, numbered INPUT{suffix.replace('.', '-2.')} "
        "when taken)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument(
        "--weights-dir", help="folder of converted weights (default: weights/ or $SCRATCHDREAM_WEIGHTS)"
    )


def add_ascent_options(p, octaves):
    """Options of dream and zoom: octaves, jitter, normalisation, tiling."""
    number(p, "--octaves", int, octaves, "number of scales")
    number(p, "--octave-scale", float, 1.4, "ratio between scales")
    number(p, "--jitter", int, 32, "random roll in pixels each step, 0 = off")
    p.add_argument(
        "--normalize",
        action=Given,
        choices=["mean", "std", "laplacian"],
        default="mean",
        help="gradient normalisation (default %(default)s, as the original)",
    )
    number(p, "--smooth", float, 0.0, "gradient smoothing sigma in pixels, 0 = off")
    p.add_argument(
        "--belief",
        nargs="?",
        const="",
        metavar="LEAVE_OUT",
        help="dream what the net believes it sees: push each class of its classifier as hard as the net "
        "believed in it on the starting picture; LEAVE_OUT: classes not to push, e.g. nothing (default: "
        "off, unless the net's own dream settings say so)",
    )
    number(p, "--tile", int, 1024, "tile size for big images, 0 = never tile")
    p.add_argument(
        "--tile-margin",
        type=margin,
        help=f"context around each tile in pixels ({span('tile_margin')}), or 'exact' (one receptive field: "
        "exact gradients, about 3x the work); default: the widest that adds at most 10%% work",
    )


def number(p, flag, kind, default, what):
    """A numeric option whose help gives what it is, its range (from the one table) and its default."""
    name = flag[2:].replace("-", "_")
    p.add_argument(
        flag, type=kind, default=default, action=Given, help=f"{what}; {span(name)} (default %(default)s)"
    )


def span(name):
    """The range of a setting for its help, from the one table (deepdream/options.py): "from 1 to 100"."""
    return RANGES[name].bounds()


# the dream settings whose flag is named as the setting (--octave-scale sets octave_scale)
SETTINGS = ("channel", "neuron", "octaves", "octave_scale", "steps", "step_size", "jitter", "normalize",
            "smooth", "tile", "tile_margin", "seed", "belief")  # fmt: skip


def dream_options(args, **more):
    """The DreamOptions of a dream or zoom command line (every setting checked: one line for a bad one)."""
    given = vars(args)
    return DreamOptions(layers=args.layer, **{name: given[name] for name in SETTINGS}, **more)


def given_settings(args):
    """The DreamOptions fields the user set on the command line: a net's dream defaults yield to them."""
    given, typed = set(getattr(args, "given", ())), vars(args)
    given.update(
        n for n in ("channel", "neuron", "tile_margin", "guide", "belief") if typed.get(n) is not None
    )
    return given | ({"layers"} if getattr(args, "layer", None) else set())


def load_net(name, weights_dir=None):
    """sd.load_net, with the offline way out added to a failed fetch of a zoo net."""
    try:
        return sd.load_net(name, weights_dir)
    except UserError as e:
        is_file = os.path.exists(name) or str(name).endswith((".h5", ".hdf5"))
        if is_file or name in zoo.LOCAL or "toyworld" in str(e):
            raise
        raise WordedError.extend(e, "; or dream offline now with {net} toyworld") from None


def save_picture(outs, path, rgb, alpha, manifest=None):
    """save_image of the output `path` (added to the OutputSet `outs`) into its temporary name, with the
    run's manifest (scratchdream/manifest.py) in its metadata."""
    if alpha is not None and output_format(path) == "JPEG":  # said here: save_image would name the temporary
        note(f"{os.path.basename(path)}: JPEG has no alpha channel; the input's transparency is dropped")
        alpha = None
    save_image(outs.temp(path), rgb, alpha, manifest=manifest)


def summary(line):
    """The one line a command prints when it is done."""
    print(f"scratchdream: {line}", file=sys.stdout, flush=True)

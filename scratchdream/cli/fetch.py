"""`scratchdream fetch NAME [--weights-dir DIR]`: download, verify and convert one zoo network."""

from .. import fetch
from .flags import command


def add_parser(subs):
    p = command(
        subs,
        "fetch",
        "download a pretrained network, verify it and convert it to HDF5",
        "scratchdream fetch googlenet",
    )
    p.add_argument(
        "name",
        metavar="NAME",
        help="a zoo net: " + ", ".join(fetch.zoo.ZOO) + " (docs/zoo.md says what each is)",
    )
    p.add_argument(
        "--weights-dir", help="folder of converted weights (default: weights/ or $SCRATCHDREAM_WEIGHTS)"
    )


def run(args):
    path = fetch.ensure_weights(args.name, args.weights_dir)
    print(f"{args.name}: ready at {path}")
    return 0

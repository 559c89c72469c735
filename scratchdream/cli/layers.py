"""`scratchdream layers NET [--size HxW]`: a network's layers with their output shapes and parameter counts.

Works before the weights are fetched: a zoo name without its converted file lists the architecture alone.
An .onnx model is converted in memory first, so the list shows what of its graph was kept.
"""

import argparse

from ..deepdream import defaults
from ..nets import classes, zoo
from ..nets.convert import convert_onnx
from .flags import command

MAX_SIDE = 65536  # px: the shapes are arithmetic only, but no picture a net could dream on is larger


def add_parser(subs):
    p = command(
        subs,
        "layers",
        "list a network's layers with output shapes",
        "scratchdream layers googlenet --size 224",
    )
    p.add_argument("net", help="zoo name, weights .h5 file or .onnx model")
    p.add_argument(
        "--size",
        default="224",
        type=size,
        metavar="H[xW]",
        help=f"image size to compute shapes for, 1 to {MAX_SIDE} px a side (default %(default)s)",
    )
    p.add_argument(
        "--classes", action="store_true", help="also list the class names of the net's outputs (default: off)"
    )
    p.add_argument(
        "--weights-dir", help="folder of converted weights (default: weights/ or $SCRATCHDREAM_WEIGHTS)"
    )


def size(text):
    """argparse type for --size: "H" or "HxW" in pixels -> (H, W)."""
    try:
        parts = [int(v) for v in str(text).lower().replace("x", " ").split()]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or not all(1 <= v <= MAX_SIDE for v in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give the image size as H or HxW, each from 1 to {MAX_SIDE} pixels, e.g. --size 224 "
            "or --size 480x640"
        )
    return parts[0], parts[-1]


def run(args):
    H, W = args.size
    if args.net.endswith(".onnx"):
        net, header = convert_onnx(args.net), f"{args.net} (ONNX, converted in memory)"
    else:
        net, header = zoo.open_for_listing(args.net, args.weights_dir)
    rows = zoo.layer_table(net, H, W)
    dream = net.spec.get("dream_layers") or []
    print(
        f"{header}; input {H}x{W}; {len(rows)} layers; "
        f"{sum(r[4] for r in rows):,} parameters; suggested dream layers: {', '.join(dream) or '-'}"
    )
    wn = max(len(r[0]) for r in rows)
    wa = max([len(r[1]) for r in rows] + [7])
    print(f"dream defaults: {defaults.shown(net.dream_defaults)}")
    print(f"{'layer':<{wn}}  {'aliases':<{wa}}  {'kind':<16}  {'output (C, H, W)':<18}  params")
    for name, aliases, kind, shape, count in rows:
        shown = "x".join(str(v) for v in shape) if min(shape) > 0 else "too small"
        print(f"{name:<{wn}}  {aliases:<{wa}}  {kind:<16}  {shown:<18}  {count:,}")
    print_classes(net, args.classes)
    return 0


def print_classes(net, every):
    """One line on the classes (the first few names), or with --classes every index and name."""
    names = zoo.class_names(net)
    if not names:
        return
    if every:
        print(f"classes of {classes.logits_layer(net)} (dream towards one with --class NAME or INDEX):")
        for k, name in enumerate(names):
            print(f"{k:>5}  {name}")
    else:
        first = ", ".join(f"{k} {n}" for k, n in enumerate(names[:3]))
        print(f"classes: {len(names)} ({first}, ...); --classes lists them all")

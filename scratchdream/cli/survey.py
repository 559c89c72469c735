"""`scratchdream survey IMAGE`: which layer should I use? One contact sheet of brief dreams, one per layer.

The picture is shrunk to a small cell and dreamed for a few steps at every feature layer of the net's
trunk (or at --layers, or at the --top K channels of --channels LAYER that respond most to it); the
cells are made as big as keeps the whole survey at about the work of one default dream (deepdream/
survey.py says how). Each cell is labelled with its layer (and channel) and, when the net classifies
pictures, the three classes whose probability rose most, before -> after (explain.py).
"""

import time

from ..deepdream.survey import STEP_SIZE, STEPS, TOP, survey
from ..errors import UsageError
from ..explain import has_classifier, probabilities, rises, worded
from ..image_io import load_image, save_image
from ..outputs import OutputSet
from ..sheet import contact_sheet
from .common import load_net, number, summary
from .flags import command, whole
from .paths import SURVEY_SUFFIX, main_output


def add_parser(subs):
    p = command(
        subs,
        "survey",
        "dream briefly at every layer (or the top channels of one) on one contact sheet",
        "scratchdream survey sky.jpg --net toyworld --channels conv3 --top 8",
    )
    p.add_argument("image", help="the picture to survey (PNG, JPEG, GIF, ...)")
    p.add_argument(
        "--net",
        default="googlenet",
        help="zoo name or weights .h5 file (default: %(default)s; toyworld works offline)",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--layers", nargs="+", metavar="LAYER", help="the layers to survey (default: the net's trunk)"
    )
    which.add_argument(
        "--channels",
        metavar="LAYER",
        help="survey the channels of this layer that respond most to the image (default: none, the layers)",
    )
    p.add_argument(
        "--top",
        type=whole(1, None, "channels"),
        help=f"with --channels: how many channels, ranked by their mean square on the image (default {TOP})",
    )
    number(p, "--steps", int, STEPS, "ascent steps of each cell's one-octave dream")
    number(p, "--step-size", float, STEP_SIZE, "mean pixel change per step in grey levels")
    p.add_argument(
        "--seed", type=int, default=0, help="random seed >= 0: same seed, same bytes (default %(default)s)"
    )
    p.add_argument("-o", "--output", help=f"the contact sheet, a .png (default: INPUT{SURVEY_SUFFIX})")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument(
        "--weights-dir", help="folder of converted weights (default: weights/ or $SCRATCHDREAM_WEIGHTS)"
    )


def run(args):
    if args.top is not None and args.channels is None:
        raise UsageError("--top counts the channels of one layer; give --channels LAYER with it")
    with OutputSet([args.image, args.net], force=args.force) as outs:
        out = outs.add(main_output(args.image, args.output, SURVEY_SUFFIX, args.force, ext=".png"))
        net = load_net(args.net, args.weights_dir)
        img, _ = load_image(args.image)
        t0 = time.perf_counter()
        small, cells = survey(
            net, img, layers=args.layers, channels_of=args.channels, top=args.top or TOP, steps=args.steps,
            step_size=args.step_size, seed=args.seed, progress=True,
        )  # fmt: skip
        sheet, _ = survey_sheet(net, small, cells, f"{args.image} on {net.name}")
        seconds = time.perf_counter() - t0
        save_image(outs.temp(out), sheet)
    h, w = small.shape[:2]
    summary(
        f"surveyed {len(cells)} {'channels' if args.channels else 'layers'} of {net.name} on {args.image} "
        f"at {w}x{h} px, {args.steps} steps each, in {seconds:.1f} s -> {out}"
    )
    return 0


def survey_sheet(net, small, cells, what):
    """The contact sheet: the picture as surveyed, then one labelled cell per dream. Returns (sheet
    (H, W, 3) uint8, where each picture is on it: [(x, y, w, h)], the input's first)."""
    classes = has_classifier(net)
    first = [f"input {small.shape[1]}x{small.shape[0]}"]
    if classes:  # what the net sees in the picture itself: its three likeliest classes
        p = probabilities(net, small)
        first += [f"{net.labels[k]} {p[k]:.2f}" for k in p.argsort()[::-1][:3]]
    items = [(small, first)]
    for cell in cells:
        found = [worded(r) for r in rises(net, small, cell.picture)] if classes else []
        items.append((cell.picture, [cell.title] + (found or (["no class rose"] if classes else []))))
    note = "; under each: the classes that rose most" if classes else ""
    return contact_sheet(items, f"survey of {what}{note}")

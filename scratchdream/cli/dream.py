"""`scratchdream dream IMAGE`: Deep Dream on a picture (octaves, jitter, tiling, guides).

Order of work, so that a mistake costs nothing: the options (DreamOptions, one line for a bad one) ->
the outputs, checked by the output transaction (OutputSet) -> the network -> the picture -> the dream ->
the picture and the GIF, written under temporary names and renamed together when the block ends.
"""

import sys
import time
from dataclasses import replace

from ..deepdream import budget, defaults, recipes
from ..deepdream.loop import run as run_dream
from ..deepdream.plan import default_layer
from ..image_io import load_image, save_gif, shrink
from ..nets import cost
from ..outputs import OutputSet
from .common import (
    add_ascent_options,
    add_net_options,
    dream_options,
    given_settings,
    load_net,
    save_picture,
    summary,
)
from .flags import Given, command, memory_size
from .paths import DREAM_SUFFIX, output_path


def add_parser(subs):
    p = command(
        subs,
        "dream",
        "dream on an image (octaves, jitter, tiling, guides)",
        "scratchdream dream sky.jpg --net toyworld --octaves 4",
    )
    add_net_options(p, steps=10)
    add_ascent_options(p, octaves=4)
    p.add_argument(
        "--guide", metavar="IMG", help="guided dream: maximise the dot product with this image's features"
    )
    p.add_argument(
        "--from",
        dest="start",
        action=Given,
        choices=["image", "noise", "grey"],
        default="image",
        help="start from the image, noise or grey (default %(default)s)",
    )
    p.add_argument(
        "--max-memory",
        type=memory_size,
        metavar="SIZE",
        help="choose the tile size that keeps the run's peak memory under SIZE, e.g. 2G or 512M "
        "(the weights, the picture and the largest pass; Python itself comes on top)",
    )
    p.add_argument(
        "--recipe",
        metavar="NAME",
        help="a published dream's settings: google2015 (the original notebook, exactly; flags given win)",
    )
    p.add_argument(
        "--gif",
        metavar="PATH",
        nargs="?",
        const="",
        help="also write the dream's progress as an animated GIF (default: the output's name, .gif)",
    )


def run(args):
    recipe = recipes.settings(args.recipe, guided=args.guide is not None) if args.recipe else {}
    guide = load_image(args.guide)[0] if args.guide else None
    options = dream_options(args, guide=guide, start=args.start)
    inputs = [args.image, args.guide, args.net]  # --net: when it names a weights file, it is read too
    with OutputSet(inputs, force=args.force) as outs:
        out = outs.add(output_path(args.image, args.output, DREAM_SUFFIX))
        gif = None if args.gif is None else outs.add(_gif_path(out, args.gif), "--gif")
        done = _dream(args, options, recipe, outs, out, gif)
    summary(f"{done} -> {out}" + (f" and {gif}" if gif else ""))
    return 0


def _dream(args, options, recipe, outs, out, gif):
    """Load the net and the picture, dream, write the picture (and the GIF) to their temporary names;
    returns what was done, in words."""
    net = load_net(args.net, args.weights_dir)
    settings = {**net.dream_defaults, **recipe}  # the net's, then the recipe's: each unless given
    options = defaults.apply(options, settings, given_settings(args))
    img, alpha = load_image(args.image)
    if args.max_memory is not None:
        options = replace(options, tile=budget.tile_under(net, options, *img.shape[:2], args.max_memory))
    frames = []
    t0 = time.perf_counter()
    result = run_dream(
        net,
        img,
        options,
        on_frame=(lambda f: frames.append(shrink(f))) if gif else None,
        on_plan=lambda plan: _estimate(net, options, *img.shape[:2]),
    )
    seconds = time.perf_counter() - t0
    save_picture(outs, out, result, alpha)
    if gif:
        save_gif(outs.temp(gif), [shrink(img)] + frames)
    return (
        f"dreamed {args.image} ({img.shape[1]}x{img.shape[0]}) with {net.name} "
        f"{_objective(args, options, net)}, {options.octaves} octaves x {options.steps} steps "
        f"in {seconds:.1f} s"
    )


def _estimate(net, options, H, W):
    """One line before the first step: the run's estimated time and peak memory (calibrating on first use)."""
    estimate = budget.estimate(net, options, H, W, cost.model())
    print(f"scratchdream: estimate: {estimate.line(cost.machine()['threads'])}", file=sys.stderr)


def _gif_path(out, given):
    """--gif PATH, or a bare --gif (given ""): the output's name with .gif."""
    return output_path(out, given or None, ".gif", "--gif", ".gif")


def _objective(args, options, net):
    """What was dreamed, in words: the layers, and the channel, neuron, guide or start if given."""
    layers = [name if weight == 1.0 else f"{name}:{weight:g}" for name, weight in options.layers]
    return (
        (", ".join(layers) or default_layer(net))
        + (f" channel {args.channel}" if args.channel is not None else "")
        + (f" neuron {args.neuron}" if args.neuron else "")
        + (f" guided by {args.guide}" if args.guide else "")
        + (f" from {options.start}" if options.start != "image" else "")
    )

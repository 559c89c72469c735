"""`scratchdream dream IMAGE`: Deep Dream on a picture (octaves, jitter, tiling, guides).

Order of work, so that a mistake costs nothing: the options (DreamOptions, one line for a bad one) ->
the outputs, checked by the output transaction (OutputSet) -> the network -> the picture -> the dream ->
the picture and the GIF, written under temporary names and renamed together when the block ends.
"""

import os
import sys
import time

from ..deepdream import budget, defaults, recipes
from ..deepdream.loop import run as run_dream
from ..deepdream.plan import default_layer
from ..errors import UsageError
from ..image_io import load_image, save_gif, shrink, watched
from ..layers.kernel_sets import serial_first
from ..manifest import with_output
from ..nets import classes, cost, zoo
from ..outputs import OutputSet
from . import batch, explain
from .common import (
    add_ascent_options,
    add_net_options,
    dream_options,
    load_net,
    save_picture,
    summary,
)
from .flags import Given, command, memory_size, whole
from .manifests import dream_settings, for_run
from .paths import DREAM_SUFFIX, main_output, output_path
from .resume import check_checkpoint, checkpoint_of, spent
from .settle import fitted, settled, under_memory


def add_parser(subs):
    p = command(
        subs,
        "dream",
        "dream on an image (octaves, jitter, tiling, guides)",
        "scratchdream dream sky.jpg --net toyworld --octaves 4",
    )
    add_net_options(p, steps=10, suffix=DREAM_SUFFIX)
    add_ascent_options(p, octaves=4)
    p.add_argument(
        "--guide",
        metavar="IMG",
        help="guided dream: maximise the dot product with this image's features (default: none)",
    )
    p.add_argument(
        "--class",
        dest="dream_class",
        metavar="NAME|INDEX",
        help="dream towards one class of the net's classifier, by name ('golden retriever') or index "
        "(`scratchdream layers NET --classes` lists them; default: no class)",
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
        help="choose the tile size that keeps the run's peak memory under SIZE, e.g. 2G or 512M, and give "
        "freed memory back after each big layer (slower: the pages are fetched again) (the weights, the "
        "picture and the largest pass; Python itself comes on top; default: none)",
    )
    p.add_argument(
        "--recipe",
        metavar="NAME",
        help="a published dream's settings: google2015 (the original notebook, exactly; flags given win; "
        "default: none, the net's own dream settings)",
    )
    p.add_argument(
        "--max-size",
        type=whole(16, 65536, "pixels on the longest side"),
        metavar="N",
        help="shrink a bigger picture first so that its longest side is N pixels; the dream is that size "
        "(default: none, the picture's own size)",
    )
    p.add_argument(
        "--gif",
        metavar="PATH",
        nargs="?",
        const="",
        help="also write the dream's progress as an animated GIF (default: the output's name, .gif)",
    )
    p.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="save the dream's state to FILE (.npz) after each octave, for --resume; deleted when done "
        "(default: none)",
    )
    p.add_argument(
        "--resume",
        metavar="FILE",
        help="continue a stopped run from its --checkpoint FILE (same command line; default: none)",
    )

    explain.add_options(p)
    batch.add_options(p)  # dream a.jpg b.jpg ... -o outdir/ [--workers N]


def run(args):
    objective = (args.layer, args.channel is not None, args.neuron, args.guide, args.belief is not None)
    if args.dream_class is not None and any(objective):
        raise UsageError(
            "--class aims at one output of the classifier; leave out --layer, --channel, --neuron, --guide "
            "and --belief"
        )
    recipe = recipes.settings(args.recipe, guided=args.guide is not None) if args.recipe else {}
    options = options_of(args)
    if batch.wanted(args):
        return batch.run(args, options, recipe)
    # --net and --compare-net: when they name a weights file, it is read too
    inputs = [args.image, args.guide, args.net, args.compare_net]
    unmeasured = set()  # the cost model's rates the estimate lacked: measured after the dream
    with serial_first():  # a fresh install: serial kernels until the parallel ones compile (layers/fast/)
        with OutputSet(inputs, force=args.force) as outs:
            beside = (lambda name: [os.path.splitext(name)[0] + ".gif"]) if args.gif == "" else (lambda n: ())
            out = outs.add(main_output(args.image, args.output, DREAM_SUFFIX, args.force, beside))
            gif = None if args.gif is None else outs.add(_gif_path(out, args.gif), "--gif")
            why = outs.add(explain.panel_path(out), "--explain") if explain.wanted(args) else None
            check_checkpoint(args, inputs + [out, gif, why])
            done = _dream(args, options, outs, out, gif, why, recipe=recipe, unmeasured=unmeasured)
        spent(args)
        summary(f"{done} -> {out}" + (f" and {gif}" if gif else "") + (f" and {why}" if why else ""))
    if unmeasured:  # after the picture, every kernel compiled: the next estimate is this machine's own
        cost.model(unmeasured)
    return 0


def options_of(args):
    """The DreamOptions of a dream command line, the guide picture read."""
    guide = load_image(args.guide)[0] if args.guide else None
    return dream_options(args, guide=guide, start=args.start)


def _dream(args, options, outs, out, gif, why=None, stamp=None, recipe=None, unmeasured=None):
    """Load the net and the picture, dream, write the picture (and the GIF, and the --explain panel) to
    their temporary names, each with the manifest `stamp` (by default this run's own); returns what was
    done, in words. The rates the estimate lacked are added to the set `unmeasured`."""
    net = load_net(args.net, args.weights_dir)
    options = settled(args, net, options, recipe)
    judges = explain.nets(args, net) if why else None  # classifiers, checked before the dream
    img, alpha = fitted(load_image(args.image), args.image, args.max_size)
    options = under_memory(args, net, options, *img.shape[:2])
    stamp = stamp or for_run("dream", dream_settings(options, args.max_size), args, net, args.guide)
    frames = []
    on_frame = (lambda f: frames.append(shrink(f))) if gif else None
    measuring = []  # seconds the estimate took (checking every pass's memory first)

    def estimate(plan):
        t = time.perf_counter()
        _estimate(net, options, *img.shape[:2], set() if unmeasured is None else unmeasured)
        measuring.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    result = run_dream(
        net, img, options, on_frame=on_frame, checkpoint=checkpoint_of(args, stamp), on_plan=estimate
    )
    seconds = time.perf_counter() - t0 - sum(measuring)  # the dream's own time, as the estimate's
    if out:
        save_picture(outs, out, result, alpha, stamp)
    if gif:
        save_gif(outs.temp(gif), [shrink(img)] + frames, manifest=with_output(stamp, "gif"))
    rose = f" ({explain.write(outs, why, judges, img, result)})" if why else ""
    return (
        f"dreamed {args.image} ({img.shape[1]}x{img.shape[0]}) with {net.name} "
        f"{_objective(args, options, net)}, {options.octaves} octaves x {options.steps} steps "
        f"in {seconds:.1f} s{rose}"
    )


def _estimate(net, options, H, W, unmeasured):
    """One line before the first step: the run's estimated time and peak memory. Nothing is timed before
    the first step: rates this machine has not measured yet come from cost.DEFAULT (a rough line), and are
    added to `unmeasured`, for the caller to measure after the dream."""
    if not watched():  # for a person at a terminal; a pipe or a log gets only what went wrong
        return
    budget.check_memory(net, options, H, W)  # a run that cannot fit says so alone, not under an estimate
    keys = budget.rate_keys(net, options, H, W)
    model = cost.model(keys, calibrate_if_missing=False)
    if model is None:
        model = cost.default_model()
        unmeasured.update(keys)
    estimate = budget.estimate(net, options, H, W, model)
    print(f"scratchdream: estimate: {estimate.line(cost.machine()['threads'])}", file=sys.stderr)


def _gif_path(out, given):
    """--gif PATH, or a bare --gif (given ""): the output's name with .gif."""
    return output_path(out, given or None, ".gif", "--gif", ".gif")


def _objective(args, options, net):
    """What was dreamed, in words: the layers (or the class), and the channel, neuron, guide or start."""
    if args.dream_class is not None:
        k = classes.find(net, args.dream_class, zoo.class_names(net))
        names = zoo.class_names(net)
        return f"class {k}" + (f" ({names[k]})" if names else "")
    layers = [name if weight == 1.0 else f"{name}:{weight:g}" for name, weight in options.layers]
    believed = options.belief is not None
    return (
        (", ".join(layers) or (classes.logits_layer(net) if believed else default_layer(net)))
        + (" " + defaults.shown({"belief": options.belief}) if believed else "")
        + (f" channel {args.channel}" if args.channel is not None else "")
        + (f" neuron {args.neuron}" if args.neuron else "")
        + (f" guided by {args.guide}" if args.guide else "")
        + (f" from {options.start}" if options.start != "image" else "")
    )

"""`scratchdream lecture IMAGE`: the slides exactly, L = h_ij², dL/di_mn, i_mn <- i_mn + eta·dL/di_mn, repeat.

One line per step (h_ij rising), then the picture and a GIF of the steps. The settings are checked with
the same rules as dream's (deepdream/options.py) before the outputs (OutputSet, as dream's), the net and
the picture.
"""

import os
import time

from ..deepdream import field
from ..deepdream.lecture import lecture, most_active_neuron, spatial_shape
from ..deepdream.options import check, parse_layers, parse_neuron
from ..deepdream.plan import check_channel, check_neuron, check_picture_size, default_layer
from ..errors import UsageError
from ..image_io import load_image, save_gif, shrink
from ..layers.kernel_sets import note_compiling
from ..manifest import with_output
from ..outputs import OutputSet
from .common import add_net_options, load_net, save_picture, span, summary
from .flags import command, reword
from .manifests import for_run, lecture_settings
from .paths import FIELD_SUFFIX, LECTURE_SUFFIX, main_output, output_path


def add_parser(subs):
    p = command(
        subs,
        "lecture",
        "the slides exactly: L = h_ij^2, dL/di_mn by the chain rule, i_mn += eta dL/di_mn, repeat",
        "scratchdream lecture sky.jpg --net toyworld --layer conv3 --neuron 5,8,8",
    )
    add_net_options(p, steps=20, suffix=LECTURE_SUFFIX)
    p.set_defaults(step_size=None)
    reword(p, "layer", "the layer of the neuron to follow, one (default: the net's suggested layer)", "NAME")
    reword(p, "channel", "follow the most active neuron of this channel (default: of the whole layer)")
    reword(p, "neuron", "the neuron h_ij to follow, slide 34 (default: the most active one)")
    reword(p, "steps", f"ascent steps in all, {span('steps')} (default %(default)s)")
    reword(p, "step_size", "eta, the step on dL/dI, above 0 (default: chosen at the first step)", "ETA")
    reword(p, "seed", "seeds the tie-breaking noise of under a grey level, ties.py (default %(default)s)")
    p.add_argument("--gif", metavar="PATH", help="GIF of the steps (default: beside the output, .gif)")
    p.add_argument(
        "--show-field",
        action="store_true",
        help="no ascent: write dh_ij/di_mn = net.backward(one-hot) as a heat map with the receptive-field "
        f"square (default name INPUT{FIELD_SUFFIX}; neuron: the centre one of --channel or the most active)",
    )


def run(args):
    layer, neuron, steps, eta = settings_of(args)
    inputs = [args.image, args.net]  # --net: when it names a weights file, it is read too
    if args.show_field:
        return show_field(args, layer, neuron, inputs)
    with OutputSet(inputs, force=args.force) as outs:
        beside = (lambda name: ()) if args.gif else (lambda name: [os.path.splitext(name)[0] + ".gif"])
        out = outs.add(main_output(args.image, args.output, LECTURE_SUFFIX, args.force, beside))
        gif = outs.add(output_path(out, args.gif, ".gif", what="--gif", ext=".gif"), "--gif")
        done = _lecture(args, layer, neuron, steps, eta, outs, out, gif)
    summary(f"{done} -> {out} and {gif}")
    return 0


def settings_of(args):
    """The lecture's layer, neuron, steps and eta from its command line, checked."""
    steps = check("steps", args.steps)
    eta = None if args.step_size is None else check("eta", args.step_size)
    check("seed", args.seed)  # seeds the tie-breaking noise of less than a grey level (ties.py)
    layer = _one_layer(args.layer)
    neuron = None if args.neuron is None else parse_neuron(args.neuron)
    return layer, neuron, steps, eta


def _lecture(args, layer, neuron, steps, eta, outs, out, gif, stamp=None):
    """Load the net and the picture, run the slides' steps printing h_ij, write the picture and the GIF
    of the steps to their temporary names, each with the manifest `stamp` (by default this run's own);
    returns what was done, in words."""
    net = load_net(args.net, args.weights_dir)
    settings = lecture_settings(layer, args.channel, neuron, steps, eta, args.seed)
    stamp = stamp or for_run("lecture", settings, args, net)
    layer = net.resolve(layer) if layer else default_layer(net)
    img, alpha = load_image(args.image)
    H, W = img.shape[:2]
    note_compiling()  # a fresh install compiles the kernels at the first forward pass: say so then
    if neuron is None:
        neuron = _most_active(net, img, layer, args.channel)
    frames = []

    def on_step(t, h_ij, L, eta, picture):
        eta_text = "" if eta is None else f"   eta = {eta:.4g}"
        print(f"step {t:3d}   h_ij = {h_ij:12.6g}   L = h_ij^2 = {L:12.6g}{eta_text}", flush=True)
        frames.append(shrink(picture))

    t0 = time.perf_counter()
    result, history, eta = lecture(
        net, img, layer, neuron, steps=steps, eta=eta, on_step=on_step, seed=args.seed
    )
    seconds = time.perf_counter() - t0
    if out:
        save_picture(outs, out, result, alpha, stamp)
    if gif:
        save_gif(outs.temp(gif), frames, duration_ms=200, manifest=with_output(stamp, "gif"))
    return (
        f"lecture on {args.image} ({W}x{H}) with {net.name} {layer} neuron {','.join(map(str, neuron))}: "
        f"h_ij {history[0]:.4g} -> {history[-1]:.4g} in {steps} steps (eta {eta:.4g}), {seconds:.1f} s"
    )


def _one_layer(layers):
    """The one --layer the lecture follows (None: the net's suggested layer), parsed as dream parses it."""
    terms = parse_layers(layers)
    if len(terms) > 1:
        raise UsageError("lecture follows one neuron of one layer; give --layer once")
    if terms and terms[0][1] != 1.0:
        raise UsageError(
            f"lecture follows one neuron, L = h_ij^2: give --layer {terms[0][0]} without a weight"
        )
    return terms[0][0] if terms else None


def _most_active(net, img, layer, channel):
    """The neuron the lecture follows when none is given: the most active one (in `channel`, if given)."""
    H, W = img.shape[:2]
    check_picture_size(net, [layer], H, W)
    shape = spatial_shape(net, layer, H, W)
    if channel is not None:
        check_channel(layer, shape, channel)
    neuron = most_active_neuron(net, img, layer, channel)
    print(
        f"neuron h_ij: channel {neuron[0]}, i = {neuron[1]}, j = {neuron[2]} of {layer} "
        f"(the most active one; choose another with --neuron C,Y,X)"
    )
    return neuron


def show_field(args, layer, neuron, inputs):
    """--show-field: the heat map of dh_ij/di_mn for one neuron, its square, and its support in words."""
    with OutputSet(inputs, force=args.force) as outs:
        out = outs.add(output_path(args.image, args.output, FIELD_SUFFIX))
        net = load_net(args.net, args.weights_dir)
        layer = net.resolve(layer) if layer else default_layer(net)
        img, alpha = load_image(args.image)
        check_picture_size(net, [layer], *img.shape[:2])
        shape = spatial_shape(net, layer, *img.shape[:2])
        if neuron is None:
            if args.channel is not None:
                check_channel(layer, shape, args.channel)
            neuron = field.centre_neuron(net, img, layer, args.channel)
        c, i, j = check_neuron(layer, shape, neuron, img.shape[1], img.shape[0])
        dh_dI = field.field(net, img, layer, (c, i, j))
        top, left, side = field.square(net, layer, i, j)
        nonzero, above = field.support(dh_dI)
        save_picture(outs, out, field.heat_map(img, dh_dI, (top, left, side)), alpha)
    summary(
        f"dh_ij/di_mn of {net.name} {layer} neuron {c},{i},{j}: receptive field {side}x{side} px at row "
        f"{top}, column {left}; != 0 on {nonzero[0]}x{nonzero[1]} px, above {field.RELATIVE_FLOOR:g} of "
        f"the largest on {above[0]}x{above[1]} px -> {out}"
    )
    return 0
